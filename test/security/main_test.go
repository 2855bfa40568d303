// Package security is fulcrum's attack suite: each test tries to cross one
// trust boundary — tenant ↔ tenant, client ↔ member, agent ↔ server,
// reader ↔ writer — against the real binary over real sockets, and names
// the boundary it tries. The server runs with the built-in Keystone subset
// (real tokens, real roles) unless a test says otherwise. Traffic goes to
// loopback only.
package security

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
		fmt.Println("test/security: skipped under -short: the attack suite, run against the real binary; test/run runs it")
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
