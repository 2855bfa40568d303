package healthmgr

import (
	"context"
	"sync/atomic"
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

// placementLists is a store counting the reads of an agent's every
// placement (amphorae by agent_id), in read and write transactions.
type placementLists struct {
	store.Store
	n *atomic.Int64
}

func (p placementLists) View(ctx context.Context, fn func(tx store.Tx) error) error {
	return p.Store.View(ctx, func(tx store.Tx) error { return fn(placementTx{tx, p.n}) })
}

func (p placementLists) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	return p.Store.Update(ctx, func(tx store.Tx) error { return fn(placementTx{tx, p.n}) })
}

type placementTx struct {
	store.Tx
	n *atomic.Int64
}

func (t placementTx) Amphorae() store.Table[lb.Amphora] { return placementTable{t.Tx.Amphorae(), t.n} }

type placementTable struct {
	store.Table[lb.Amphora]
	n *atomic.Int64
}

func (p placementTable) List(ctx context.Context, q store.Query) ([]*lb.Amphora, error) {
	for _, f := range q.Filters {
		if f.Field == "agent_id" {
			p.n.Add(1)
		}
	}
	return p.Table.List(ctx, q)
}

// A delta that changes nothing the statuses are computed from (no entry,
// nothing gone, no VRRP report, the same capabilities and segments) is
// handled as an acknowledgement: the agent is heard from and its applied
// version stored, without reading every placement of the agent; the next
// delta still applies over the same report.
func TestQuietDeltaDoesNotReadTheAgentsPlacements(t *testing.T) {
	e := newEnv(t)
	var lists atomic.Int64
	e.m = New(Options{Store: placementLists{e.st, &lists}, Acker: nopAcker{}, Now: e.clk.now, DeadAfter: time.Minute, Enqueue: func(string) {}})
	a := e.agent("a")
	g := e.loadBalancer(a)
	health := func(s dataplane.MemberStatus) dataplane.Health {
		return dataplane.Health{Members: []dataplane.MemberHealth{{MemberID: g.member, PoolID: g.pool, Status: s}}}
	}
	e.delta(a, dataplane.Heartbeat{Seq: 1, Capabilities: []string{"engine-native"}, Health: health(dataplane.StatusUp)})
	if s := e.memberStatus(g); s != lb.Online {
		t.Fatalf("member after a full heartbeat: %s, want ONLINE", s)
	}
	before := lists.Load()
	e.clk.add(time.Second)
	if e.delta(a, dataplane.Heartbeat{Seq: 2, Base: 1, AppliedVersion: 0, Address: "127.0.0.9", Capabilities: []string{"engine-native"}}) {
		t.Fatal("a quiet delta got a resync")
	}
	if n := lists.Load() - before; n != 0 {
		t.Errorf("a quiet delta read the agent's placements %d times, want 0", n)
	}
	if row := e.agentRow(a.ID); row.Address != "127.0.0.9" || row.LastHeartbeat == nil || !row.LastHeartbeat.Equal(e.clk.now().UTC()) {
		t.Errorf("agent after a quiet delta: address %q, last heartbeat %v; want 127.0.0.9, %v", row.Address, row.LastHeartbeat, e.clk.now().UTC())
	}
	// Other capabilities are not quiet: the full path stores them.
	before = lists.Load()
	e.delta(a, dataplane.Heartbeat{Seq: 3, Base: 2, Capabilities: []string{"engine-native", "vrrp"}})
	if lists.Load() == before {
		t.Error("a delta with other capabilities was taken as quiet")
	}
	if row := e.agentRow(a.ID); len(row.Capabilities) != 2 {
		t.Errorf("capabilities after a delta changing them: %v", row.Capabilities)
	}
	// The base moved on with each: a delta of the last applies.
	if e.delta(a, dataplane.Heartbeat{Seq: 4, Base: 3, Capabilities: []string{"engine-native", "vrrp"}, Health: health(dataplane.StatusDown)}) {
		t.Fatal("a delta of the last heartbeat got a resync")
	}
	if s := e.memberStatus(g); s != lb.OpError {
		t.Errorf("member after a delta saying DOWN: %s, want ERROR", s)
	}
}
