package healthmgr

import (
	"context"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

func (e *env) delta(agent *lb.Agent, hb dataplane.Heartbeat) (resync bool) {
	e.t.Helper()
	hb.Name = agent.Name
	resync, err := e.m.HeartbeatDelta(context.Background(), agent.ID, &hb)
	if err != nil {
		e.t.Fatalf("heartbeat of %s: %v", agent.Name, err)
	}
	return resync
}

func (e *env) listenerConnections(g placedLB) []int64 {
	var out []int64
	e.view(func(ctx context.Context, tx store.Tx) error {
		rows, err := tx.ListenerStats().List(ctx, g.lb)
		for _, r := range rows {
			out = append(out, r.TotalConnections)
		}
		return err
	})
	return out
}

// A delta heartbeat (Heartbeat.Base) of the last one processed is that
// one's report with the delta's entries put over it: what it leaves out is
// unchanged, what it lists changes, and what it says is gone is gone.
func TestDeltaHeartbeatAppliesOverItsBase(t *testing.T) {
	e := newEnv(t)
	a := e.agent("a")
	g1, g2 := e.loadBalancer(a), e.loadBalancer(a)
	up := func(g placedLB, s dataplane.MemberStatus) dataplane.MemberHealth {
		return dataplane.MemberHealth{MemberID: g.member, PoolID: g.pool, Status: s}
	}
	ls := func(g placedLB, n int64) dataplane.ListenerStats {
		return dataplane.ListenerStats{ListenerID: g.listener, LoadBalancerID: g.lb, TotalConnections: n}
	}
	if e.delta(a, dataplane.Heartbeat{Seq: 10,
		Health: dataplane.Health{Members: []dataplane.MemberHealth{up(g1, dataplane.StatusUp), up(g2, dataplane.StatusUp)}},
		Stats:  dataplane.Stats{Listeners: []dataplane.ListenerStats{ls(g1, 1), ls(g2, 2)}}}) {
		t.Fatal("a full heartbeat got a resync")
	}
	if s1, s2 := e.memberStatus(g1), e.memberStatus(g2); s1 != lb.Online || s2 != lb.Online {
		t.Fatalf("members after the full heartbeat: %s %s, want ONLINE ONLINE", s1, s2)
	}
	// g2's member goes down, g1's listener counts on; nothing else said.
	e.clk.add(time.Second)
	if e.delta(a, dataplane.Heartbeat{Seq: 11, Base: 10,
		Health: dataplane.Health{Members: []dataplane.MemberHealth{up(g2, dataplane.StatusDown)}},
		Stats:  dataplane.Stats{Listeners: []dataplane.ListenerStats{ls(g1, 7)}}}) {
		t.Fatal("a delta of the last heartbeat got a resync")
	}
	if s1, s2 := e.memberStatus(g1), e.memberStatus(g2); s1 != lb.Online || s2 != lb.OpError {
		t.Errorf("members after a delta saying g2's is DOWN: %s %s, want ONLINE (unchanged) ERROR", s1, s2)
	}
	if c1, c2 := e.listenerConnections(g1), e.listenerConnections(g2); len(c1) != 1 || c1[0] != 7 || len(c2) != 1 || c2[0] != 2 {
		t.Errorf("listener statistics after the delta: %v %v, want [7] [2]", c1, c2)
	}
	// g1's member health is gone (no longer reported): no health, so its
	// status is the one without a report; g2's stays DOWN.
	e.clk.add(time.Second)
	if e.delta(a, dataplane.Heartbeat{Seq: 12, Base: 11, Gone: &dataplane.Gone{MemberHealths: []string{g1.member}}}) {
		t.Fatal("a delta of the last heartbeat got a resync")
	}
	if s1, s2 := e.memberStatus(g1), e.memberStatus(g2); s1 == lb.Online || s2 != lb.OpError {
		t.Errorf("members after a delta saying g1's health is gone: %s %s, want not ONLINE, ERROR", s1, s2)
	}
}

// A delta whose base is not the last heartbeat this manager processed (it
// restarted, another server answered the base, or a heartbeat in between
// failed) is not applied: it counts as an acknowledgement (the agent is
// heard from, its applied version recorded), statuses stay, and the answer
// asks for a full heartbeat. The full one then decides.
func TestDeltaOfAnotherBaseAsksForAResync(t *testing.T) {
	e := newEnv(t)
	a := e.agent("a")
	g := e.loadBalancer(a)
	health := func(s dataplane.MemberStatus) dataplane.Health {
		return dataplane.Health{Members: []dataplane.MemberHealth{{MemberID: g.member, PoolID: g.pool, Status: s}}}
	}
	// Never a full one on this manager: a delta is a resync.
	if !e.delta(a, dataplane.Heartbeat{Seq: 5, Base: 4, AppliedVersion: 3, Health: health(dataplane.StatusDown)}) {
		t.Fatal("a delta to a manager without the agent's report: no resync asked")
	}
	if s := e.memberStatus(g); s != lb.NoMonitor {
		t.Errorf("member after a delta without its base: %s, want NO_MONITOR as stored", s)
	}
	if row := e.agentRow(a.ID); row.Status != lb.AgentUp || row.AppliedVersion != 3 {
		t.Errorf("agent after a resynced delta: %s, applied %d; want UP, 3", row.Status, row.AppliedVersion)
	}
	if e.delta(a, dataplane.Heartbeat{Seq: 6, Health: health(dataplane.StatusUp)}) {
		t.Fatal("a full heartbeat got a resync")
	}
	if s := e.memberStatus(g); s != lb.Online {
		t.Fatalf("member after the full heartbeat: %s, want ONLINE", s)
	}
	// A delta of an older heartbeat than the last: resync, nothing applied.
	if !e.delta(a, dataplane.Heartbeat{Seq: 7, Base: 5, Health: health(dataplane.StatusDown)}) {
		t.Error("a delta of an older heartbeat than the last: no resync asked")
	}
	if s := e.memberStatus(g); s != lb.Online {
		t.Errorf("member after a delta of another base: %s, want ONLINE (not applied)", s)
	}
	// After a resync the manager holds no base: even a delta of the last
	// full heartbeat waits for the next full one.
	if !e.delta(a, dataplane.Heartbeat{Seq: 8, Base: 6, Health: health(dataplane.StatusDown)}) {
		t.Error("a delta after a resync: no resync asked")
	}
	// A full heartbeat of an agent that does not number them (an older
	// agent) leaves no base either.
	e.delta(a, dataplane.Heartbeat{Health: health(dataplane.StatusUp)})
	if !e.delta(a, dataplane.Heartbeat{Seq: 9, Base: 0 + 1, Health: health(dataplane.StatusDown)}) {
		t.Error("a delta after an unnumbered full heartbeat: no resync asked")
	}
	if s := e.memberStatus(g); s != lb.Online {
		t.Errorf("member after deltas without a base: %s, want ONLINE", s)
	}
}

// A delta that would make the agent's report larger than a full heartbeat
// can be is refused with a resync, not kept.
func TestDeltaBeyondTheReportBoundAsksForAResync(t *testing.T) {
	e := newEnv(t)
	a := e.agent("a")
	e.delta(a, dataplane.Heartbeat{Seq: 1})
	members := make([]dataplane.MemberHealth, maxReportEntries+1)
	for i := range members {
		members[i] = dataplane.MemberHealth{MemberID: e.id("44444444"), Status: dataplane.StatusUp}
	}
	if !e.delta(a, dataplane.Heartbeat{Seq: 2, Base: 1, Health: dataplane.Health{Members: members}}) {
		t.Error("a delta beyond the bound: no resync asked")
	}
}
