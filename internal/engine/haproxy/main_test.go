package haproxy

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// TestMain runs nothing under -short: most of this package's tests run a
// real haproxy binary (test/install installs it).
func TestMain(m *testing.M) {
	flag.Parse()
	if dir := os.Getenv(agentChildEnv); dir != "" {
		agentChild(dir) // never returns
	}
	if testing.Short() {
		fmt.Println("internal/engine/haproxy: skipped under -short: needs haproxy; test/run runs it")
		os.Exit(0)
	}
	os.Exit(m.Run())
}
