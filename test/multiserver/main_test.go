// Package multiserver runs several `fulcrum server` processes on one
// PostgreSQL (a private one, internal/store/pgtest) with `fulcrum agent`
// processes, and kills servers under load: the real binaries, on loopback.
package multiserver

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
)

// bin is the fulcrum binary built for this test run.
var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("test/multiserver: skipped under -short: needs PostgreSQL; test/run runs it")
		os.Exit(0)
	}
	dir, cleanup, err := servertest.TempDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, err = servertest.Binary(dir)
	if err != nil {
		cleanup()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}
