// Package ha proves fulcrum's active-standby building blocks (internal/netlab,
// internal/vrrp) in network namespaces with real keepalived: a pair of hosts serving one VIP,
// a client opening a new connection every 5 ms, faults injected into the MASTER, and the
// outage and failed requests the client sees. It needs root and Debian's keepalived.
package ha

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/netlab"
	"github.com/fulcrumlb/fulcrum/internal/servertest"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
	"github.com/fulcrumlb/fulcrum/internal/vrrp/vrrplab"
)

func TestMain(m *testing.M) {
	vrrplab.MaybeRunNode()
	flag.Parse()
	if testing.Short() {
		fmt.Println("test/ha: skipped under -short: needs root, network namespaces and keepalived; test/run runs it")
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintf(os.Stderr, "test/ha needs root for network namespaces and keepalived (CI runs as root); ran as uid %d\n", os.Geteuid())
		os.Exit(1)
	}
	if err := vrrp.CheckBinary(vrrp.DefaultBinary); err != nil {
		fmt.Fprintf(os.Stderr, "test/ha: %v (.ci/run installs keepalived)\n", err)
		os.Exit(1)
	}
	if err := servertest.RaisePriority(labNice); err != nil {
		fmt.Fprintf(os.Stderr, "test/ha: raise the lab's CPU priority: %v\n", err)
		os.Exit(1)
	}
	// Labs of runs that crashed (a test binary killed by its timeout) go first.
	if removed, err := netlab.Sweep(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "sweep:", err)
	} else if len(removed) > 0 {
		fmt.Fprintln(os.Stderr, "swept labs of crashed runs:", removed)
	}
	os.Exit(m.Run())
}

// labNice is the nice value the test process, and so every process of its labs (server,
// agents, keepalived, the lab nodes and the client), runs at. These tests time failovers
// against VRRP's detection time and heartbeats against the dead window; on a machine busy
// with other work (CI runs packages side by side; at a load average of 20 an agent went 4 s
// without being scheduled enough to heartbeat) the timings measured the neighbours rather
// than fulcrum. A dedicated load-balancer node is not shared that way; the lab gets the CPU
// first instead.
const labNice = -10
