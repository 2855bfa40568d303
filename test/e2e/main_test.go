// Package e2e holds end-to-end tests that run the real fulcrum binary.
package e2e

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
		fmt.Println("test/e2e: skipped under -short: end-to-end runs of the real binary, and haproxy for the HAProxy engine; test/run runs it")
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
