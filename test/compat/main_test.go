package compat_test

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// TestMain runs nothing under -short: this package drives third-party
// clients (the openstack CLI with its octavia and barbican plugins,
// gophercloud's acceptance tests) and PostgreSQL, which test/install
// installs.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("test/compat: skipped under -short: needs the openstack CLI (octavia and barbican plugins) and PostgreSQL; test/run runs it")
		os.Exit(0)
	}
	os.Exit(m.Run())
}
