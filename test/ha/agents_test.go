package ha

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
	"github.com/fulcrumlb/fulcrum/internal/vrrp/agentlab"
)

// fulcrumBinary builds the fulcrum binary once per test binary run.
func fulcrumBinary(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "fulcrum-ha-bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := servertest.Binary(dir)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// startAgentLab starts a server, three agents, a backend and a client in a lab, and an
// ACTIVE_STANDBY load balancer through the API; the lab goes when the test ends, failed or
// not.
func startAgentLab(t *testing.T) *agentlab.Lab {
	t.Helper()
	lw := &logWriter{t: t}
	t.Cleanup(func() {
		lw.mu.Lock()
		lw.done = true
		lw.mu.Unlock()
	})
	ctx := context.Background()
	l, err := agentlab.Start(ctx, agentlab.Options{Binary: fulcrumBinary(t), Stderr: lw})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	if err := l.CreateLoadBalancer(ctx); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestAgentsActiveStandby is ACTIVE_STANDBY end to end: a real server, three real agents
// with their keepalived, an ACTIVE_STANDBY load balancer created through the API (two
// amphorae on two agents, MASTER and BACKUP, with Octavia's VRRP fields), and a client
// opening a new connection every 5 ms while each fault hits the MASTER. Each fault must move
// the VIP to the other member within VRRP's detection time (3 s allowed on a loaded
// machine), the pair must be whole again (a lost member replaced on the spare agent), and a
// planned `amphora failover` of the MASTER may drop only the few connections in flight at
// the instant the client's ARP entry moves.
func TestAgentsActiveStandby(t *testing.T) {
	l := startAgentLab(t)
	amps, err := l.Amphorae()
	if err != nil {
		t.Fatal(err)
	}
	if len(amps) != 2 || amps[0].ComputeID == amps[1].ComputeID {
		t.Fatalf("amphorae %+v: want two on two agents", amps)
	}
	for _, a := range amps {
		if a.VRRPIP == "" || a.HAIP != l.VIP.String() || a.VRRPInterface != "eth0" || a.VRRPID == nil || *a.VRRPID != *amps[0].VRRPID || a.VRRPPriority == nil {
			t.Errorf("amphora %+v: want vrrp_ip, ha_ip %s, vrrp_interface eth0, one vrrp_id, a vrrp_priority", a, l.VIP)
		}
	}
	for _, f := range agentlab.Faults {
		res, err := l.Measure(context.Background(), f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		t.Logf("%s; errors %v", res, res.Errors)
		if f != agentlab.KillKeepalived && res.From == res.To {
			t.Errorf("%s: the VIP stayed on %s", f, res.From)
		}
		if res.Outage > 3*time.Second {
			t.Errorf("%s: outage %v, want within VRRP's detection time (3 s allowed)", f, res.Outage)
		}
		if f == agentlab.Failover && res.Failed > 3 {
			t.Errorf("amphora failover: %d failed requests (%v), want at most the few in flight at the switch", res.Failed, res.Errors)
		}
	}
}
