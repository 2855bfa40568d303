package healthmgr

import (
	"context"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// TestHeartbeatsOnAnotherServerCount: the leader's liveness check counts
// heartbeats that another server sharing the store received (it watches
// the heartbeat time the store holds change, on its own clock), and marks
// the agent down once they stop for longer than the dead window.
func TestHeartbeatsOnAnotherServerCount(t *testing.T) {
	e := newEnv(t) // e.m is the leader; it receives no heartbeat
	other := New(Options{Store: e.st, Acker: nopAcker{}, Now: func() time.Time {
		// The other server's clock runs an hour ahead: only the leader's
		// own clock measures the window.
		return e.clk.now().Add(time.Hour)
	}, DeadAfter: time.Minute})
	a := e.agent("a")
	g := e.loadBalancer(a)
	beat := func() {
		t.Helper()
		if err := other.Heartbeat(context.Background(), a.ID, &dataplane.Heartbeat{Name: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want string, step int) {
		t.Helper()
		if err := e.m.CheckAgents(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := e.agentRow(a.ID).Status; got != want {
			t.Fatalf("step %d: agent %s, want %s", step, got, want)
		}
	}
	beat()
	for i := range 18 { // three minutes, a heartbeat every 20 s on the other server
		e.clk.add(10 * time.Second)
		if i%2 == 1 {
			beat()
		}
		check(lb.AgentUp, i)
	}
	// The heartbeats stop: down once a minute passed since the leader last
	// saw the stored time move (at most one check interval after it did).
	for i := range 6 {
		e.clk.add(10 * time.Second)
		check(lb.AgentUp, 100+i)
	}
	e.clk.add(11 * time.Second)
	check(lb.AgentDown, 200)
	if len(e.moved) != 1 || e.moved[0] != g.lb {
		t.Errorf("enqueued %v, want [%s]", e.moved, g.lb)
	}
}
