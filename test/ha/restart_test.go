package ha

import (
	"context"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/vrrp/vrrplab"
)

// TestAgentsServerRestart: the data plane never depends on the control plane.
//
// A server killed and started again while a client uses an ACTIVE_STANDBY load balancer:
// no request fails, the VIP never moves, and the pair is steady again without waiting for
// anything (what agents said about their segments is in the store).
//
// Then the peer-dead-and-server-down case of the split-brain table: with the server down,
// the MASTER's agent dies; the BACKUP, the lone survivor, takes the VIP within VRRP's
// detection time and keeps serving for as long as the server stays away (nothing may make
// it give the VIP up); once the server is back, the lost member is replaced.
func TestAgentsServerRestart(t *testing.T) {
	ctx := context.Background()
	l := startAgentLab(t)
	master, backup := pairAgents(t, l)
	h := l.WatchHolders()
	defer h.Stop()
	p := l.StartProbe()
	until(t, 30*time.Second, "the client served", func() bool { return p.ServedRun("", time.Time{}) >= 20 })
	l.KillServer()
	time.Sleep(2 * time.Second)
	if err := l.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitStatus(ctx, "ACTIVE", "ONLINE"); err != nil {
		t.Fatal(err)
	}
	now, err := l.Steady(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := vrrplab.Analyze(p.Stop())
	t.Logf("server restart: %d requests, %d failed; VIP on %s", res.Requests, res.Failed, now.Name)
	if res.Failed > 0 || now != master || len(h.Spans()) > 0 {
		t.Errorf("server restart: %d failed requests (%v), MASTER %s (was %s), both held the VIP %v; want no change at all",
			res.Failed, res.Errors, now.Name, master.Name, h.Spans())
	}

	p = l.StartProbe()
	until(t, 30*time.Second, "the client served", func() bool { return p.ServedRun("", time.Time{}) >= 20 })
	l.KillServer()
	killed := time.Now()
	master.Kill()
	until(t, 30*time.Second, "the survivor serving", func() bool { return p.ServedRun(backup.Name, killed) >= 40 })
	// Longer than any hold lease: the lone survivor keeps the VIP while the server is away.
	time.Sleep(5 * time.Second)
	if !backup.HoldsVIP() || p.ServedRun(backup.Name, killed) < 200 {
		t.Errorf("the lone survivor %s: holds the VIP %v, served %d in a row; want it serving throughout", backup.Name, backup.HoldsVIP(), p.ServedRun(backup.Name, killed))
	}
	if err := l.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	until(t, 60*time.Second, "the dead member replaced", func() bool {
		amps, err := l.Amphorae()
		_, on := amphoraOn(t, l, master)
		return err == nil && len(amps) == 2 && !on
	})
	if err := master.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitStatus(ctx, "ACTIVE", "ONLINE"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Steady(ctx); err != nil {
		t.Fatal(err)
	}
	res = vrrplab.Analyze(p.Stop())
	t.Logf("peer dead, server down: %d requests, %d failed, outage %v", res.Requests, res.Failed, res.Outage)
	if res.Outage > 3*time.Second {
		t.Errorf("outage %v, want within VRRP's detection time (3 s allowed)", res.Outage)
	}
}
