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
	// Servers, agents and PostgreSQL get the CPU before other work on the machine (CI runs
	// packages side by side): under a load average of 20, agents went over 3 s without a
	// heartbeat and live load balancers were moved. Only root may raise priority; without
	// it the tests run as they are.
	if os.Geteuid() == 0 {
		if err := servertest.RaisePriority(-10); err != nil {
			fmt.Fprintln(os.Stderr, "test/multiserver:", err)
			os.Exit(1)
		}
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
