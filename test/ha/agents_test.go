package ha

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
	"github.com/fulcrumlb/fulcrum/internal/vrrp/agentlab"
	"github.com/fulcrumlb/fulcrum/internal/vrrp/vrrplab"
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
	return startAgentLabWith(t, agentlab.Options{})
}

// testDeadAfter is the server's --agent-dead-after in these tests unless one sets its own.
// The binaries are built with -race, and on a busy 2-core machine (load average 20 and more)
// the server has taken over a second to answer heartbeats in bursts: with the lab's default
// 1.5 s a live agent was declared down and its member replaced in the middle of a test
// (TestAgentsAmphoraCLI). VRRP's failover does not wait for it; only the replacement of a
// lost member does.
const testDeadAfter = 4 * time.Second

// startAgentLabWith is startAgentLab with options (Binary and Stderr are filled in; DeadAfter
// testDeadAfter if unset).
func startAgentLabWith(t *testing.T, opts agentlab.Options) *agentlab.Lab {
	t.Helper()
	if opts.DeadAfter == 0 {
		opts.DeadAfter = testDeadAfter
	}
	lw := &logWriter{t: t}
	t.Cleanup(func() {
		lw.mu.Lock()
		lw.done = true
		lw.mu.Unlock()
	})
	ctx := context.Background()
	opts.Binary, opts.Stderr = fulcrumBinary(t), lw
	l, err := agentlab.Start(ctx, opts)
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
		if f == agentlab.Failover && !plannedSwitch(res.Result) {
			t.Errorf("amphora failover: %d failed requests (%v), outage %v; want at most the few in flight at the switch", res.Failed, res.Errors, res.Outage)
		}
	}
}

// plannedSwitch reports whether a planned handover moved the VIP by the handover itself:
// the client's longest run of failed new connections shorter than VRRP's detection time. A
// make-before-break switch costs the instant the client's ARP entry moves and the
// connections in flight on the member that lets go (on a busy machine up to a dozen, over
// tens of milliseconds, the client itself stalling); a VIP that moved because a member was
// lost, or was drawn by a leaving member and then dropped, costs the detection time or
// seconds. The bench measures the count on a quieter run (median 0).
func plannedSwitch(r vrrplab.Result) bool {
	return r.Outage < detectionTime
}

// until polls cond for up to d.
func until(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAgentsDegraded: a pair that loses a member with no spare agent to replace it keeps
// serving on the survivor and shows DEGRADED (the lost amphora ERROR) until an agent comes
// back. (Partitions: splitbrain_test.go.)
func TestAgentsDegraded(t *testing.T) {
	ctx := context.Background()
	l := startAgentLab(t)
	master, err := l.Steady(ctx)
	if err != nil {
		t.Fatal(err)
	}
	amps, err := l.Amphorae()
	if err != nil {
		t.Fatal(err)
	}
	var backup, spare *agentlab.Agent
	for _, a := range l.Agents {
		on := false
		for _, x := range amps {
			on = on || x.ComputeID == a.Name
		}
		switch {
		case a == master:
		case on:
			backup = a
		default:
			spare = a
		}
	}

	// Degraded: the spare and the BACKUP's agent die. Which one the server notices first is
	// a matter of their last heartbeats: the lost member may first be replaced on the spare
	// (dead too), and then that one is the member in ERROR.
	spare.Kill()
	backup.Kill()
	until(t, 30*time.Second, "DEGRADED with the lost amphora in ERROR", func() bool {
		_, oper, err := l.LoadBalancer()
		amps, aerr := l.Amphorae()
		lost, kept := false, false
		for _, x := range amps {
			lost = lost || (x.ComputeID == backup.Name || x.ComputeID == spare.Name) && x.Status == "ERROR"
			kept = kept || x.ComputeID == master.Name && x.Status == "READY"
		}
		return err == nil && aerr == nil && oper == "DEGRADED" && lost && kept && len(amps) == 2
	})
	if !master.HoldsVIP() {
		t.Errorf("the survivor %s does not hold the VIP", master.Name)
	}
	if err := spare.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := backup.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitStatus(ctx, "ACTIVE", "ONLINE"); err != nil {
		t.Fatal(err)
	}
	if _, err = l.Steady(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAgentsLoadBalancerFailover: `loadbalancer failover` of an ACTIVE_STANDBY load balancer
// replaces both members, one at a time (the BACKUP first, then the MASTER after a planned
// handover), while the VIP keeps being served: the client opening a new connection every
// 5 ms loses at most the few in flight when its ARP entry moves.
func TestAgentsLoadBalancerFailover(t *testing.T) {
	l := startAgentLab(t)
	before, err := l.Amphorae()
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Measure(context.Background(), agentlab.LBFailover)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s; errors %v", res, res.Errors)
	if res.From == res.To {
		t.Errorf("the VIP stayed on %s", res.From)
	}
	if !plannedSwitch(res.Result) {
		t.Errorf("loadbalancer failover: %d failed requests (%v), outage %v; want at most the few in flight at the switch", res.Failed, res.Errors, res.Outage)
	}
	after, err := l.Amphorae()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range after {
		for _, b := range before {
			if a.ID == b.ID {
				t.Errorf("amphora %s (%s on %s) was not replaced: before %+v, after %+v", a.ID, a.Role, a.ComputeID, before, after)
			}
		}
	}
}
