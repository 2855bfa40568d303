package healthmgr

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

type nopAcker struct{}

func (nopAcker) Acknowledge(context.Context, store.Tx, string, uint64, []dataplane.Refusal) ([]string, error) {
	return nil, nil
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// env is a manager on a real store, with a fake clock.
type env struct {
	t     *testing.T
	st    store.Store
	m     *Manager
	clk   *clock
	mu    sync.Mutex
	moved []string
	seq   int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, clk: &clock{t: time.Unix(1_000_000, 0)}}
	e.m = New(Options{Store: st, Acker: nopAcker{}, Now: e.clk.now, DeadAfter: time.Minute,
		Enqueue: func(id string) { e.mu.Lock(); e.moved = append(e.moved, id); e.mu.Unlock() }})
	return e
}

func (e *env) id(prefix string) string {
	e.seq++
	return fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, e.seq)
}

func (e *env) update(fn func(tx store.Tx) error) {
	e.t.Helper()
	if err := e.st.Update(context.Background(), fn); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) agent(name string) *lb.Agent {
	a := &lb.Agent{ID: e.id("a9e00000"), Name: name, CertSerial: "serial-" + name, Status: lb.AgentDown, Times: lb.Times{CreatedAt: e.clk.now()}}
	e.update(func(tx store.Tx) error { return tx.Agents().Create(context.Background(), a) })
	return a
}

// placedLB is one load balancer with one HTTP listener, pool and member,
// placed on agent.
type placedLB struct {
	lb, listener, pool, member string
}

func (e *env) loadBalancer(agent *lb.Agent) placedLB {
	ctx := context.Background()
	now := e.clk.now()
	g := placedLB{lb: e.id("aaaaaaaa"), listener: e.id("11111111"), pool: e.id("22222222"), member: e.id("33333333")}
	e.update(func(tx store.Tx) error {
		return errors.Join(
			tx.LoadBalancers().Create(ctx, &lb.LoadBalancer{ID: g.lb, ProjectID: "p", AdminStateUp: true, Provider: "fulcrum",
				VIP: lb.VIP{Address: "127.0.0.10"}, Status: lb.Status{Provisioning: lb.Active, Operating: lb.Online}, Times: lb.Times{CreatedAt: now}}),
			tx.Pools().Create(ctx, &lb.Pool{ID: g.pool, ProjectID: "p", LoadBalancerID: g.lb, AdminStateUp: true, Protocol: lb.ProtocolHTTP,
				LBAlgorithm: lb.RoundRobin, Status: lb.Status{Provisioning: lb.Active, Operating: lb.Online}, Times: lb.Times{CreatedAt: now}}),
			tx.Listeners().Create(ctx, &lb.Listener{ID: g.listener, ProjectID: "p", LoadBalancerID: g.lb, AdminStateUp: true, Protocol: lb.ProtocolHTTP,
				ProtocolPort: 80, ConnectionLimit: -1, DefaultPoolID: g.pool, Status: lb.Status{Provisioning: lb.Active, Operating: lb.Online}, Times: lb.Times{CreatedAt: now}}),
			tx.Members().Create(ctx, &lb.Member{ID: g.member, ProjectID: "p", PoolID: g.pool, LoadBalancerID: g.lb, AdminStateUp: true,
				Address: "127.0.0.1", ProtocolPort: 8080, Weight: 1, Status: lb.Status{Provisioning: lb.Active, Operating: lb.NoMonitor}, Times: lb.Times{CreatedAt: now}}),
			tx.Amphorae().Create(ctx, &lb.Amphora{ID: e.id("a3a00000"), LoadBalancerID: g.lb, AgentID: agent.ID, Role: lb.RoleStandalone,
				Status: lb.AmphoraReady, ComputeID: agent.Name, Times: lb.Times{CreatedAt: now}}),
		)
	})
	return g
}

func (e *env) beat(agent *lb.Agent, hb dataplane.Heartbeat) {
	e.t.Helper()
	hb.Name = agent.Name
	if err := e.m.Heartbeat(context.Background(), agent.ID, &hb); err != nil {
		e.t.Fatalf("heartbeat of %s: %v", agent.Name, err)
	}
}

func (e *env) view(fn func(ctx context.Context, tx store.Tx) error) {
	e.t.Helper()
	ctx := context.Background()
	if err := e.st.View(ctx, func(tx store.Tx) error { return fn(ctx, tx) }); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) memberStatus(g placedLB) lb.OperatingStatus {
	var s lb.OperatingStatus
	e.view(func(ctx context.Context, tx store.Tx) error {
		m, err := tx.Members().Get(ctx, g.member)
		if err == nil {
			s = m.Status.Operating
		}
		return err
	})
	return s
}

func (e *env) agentRow(id string) *lb.Agent {
	var a *lb.Agent
	e.view(func(ctx context.Context, tx store.Tx) error {
		var err error
		a, err = tx.Agents().Get(ctx, id)
		return err
	})
	return a
}

func TestHeartbeatSpeaksForItsOwnLoadBalancers(t *testing.T) {
	e := newEnv(t)
	a, b := e.agent("a"), e.agent("b")
	own, victim := e.loadBalancer(a), e.loadBalancer(b)
	e.beat(b, dataplane.Heartbeat{Health: dataplane.Health{Members: []dataplane.MemberHealth{{MemberID: victim.member, Status: dataplane.StatusUp}}},
		Stats: dataplane.Stats{Listeners: []dataplane.ListenerStats{{ListenerID: victim.listener, LoadBalancerID: victim.lb, TotalConnections: 3}}}})
	if s := e.memberStatus(victim); s != lb.Online {
		t.Fatalf("victim member after its own agent's report: %s", s)
	}
	const huge = 1 << 40
	for i := 0; i < 3; i++ { // the first heartbeat and changes after it
		e.beat(a, dataplane.Heartbeat{
			Health: dataplane.Health{Members: []dataplane.MemberHealth{
				{MemberID: own.member, Status: dataplane.StatusUp},
				{MemberID: victim.member, Status: dataplane.StatusDown}}},
			Stats: dataplane.Stats{Listeners: []dataplane.ListenerStats{
				{ListenerID: own.listener, LoadBalancerID: own.lb, TotalConnections: 1},
				{ListenerID: victim.listener, LoadBalancerID: victim.lb, TotalConnections: huge + int64(i)},
				{ListenerID: victim.listener, LoadBalancerID: own.lb, TotalConnections: huge + int64(i)},
				{ListenerID: own.listener, LoadBalancerID: victim.lb, TotalConnections: huge + int64(i)},
				{ListenerID: "no-such-listener", LoadBalancerID: own.lb, TotalConnections: huge + int64(i)}}}})
		if s := e.memberStatus(victim); s != lb.Online {
			t.Errorf("heartbeat %d: victim member is %s after another agent reported it DOWN", i, s)
		}
		if s := e.memberStatus(own); s != lb.Online {
			t.Errorf("heartbeat %d: own member is %s, want ONLINE", i, s)
		}
		e.view(func(ctx context.Context, tx store.Tx) error {
			for _, lbID := range []string{own.lb, victim.lb} {
				rows, err := tx.ListenerStats().List(ctx, lbID)
				if err != nil {
					return err
				}
				for _, r := range rows {
					if r.TotalConnections >= huge || (r.AgentID == a.ID && r.ListenerID != own.listener) {
						t.Errorf("heartbeat %d: stored %+v", i, r)
					}
				}
			}
			rows, err := tx.ListenerStats().List(ctx, "", victim.listener, "no-such-listener")
			for _, r := range rows {
				if r.AgentID == a.ID {
					t.Errorf("heartbeat %d: agent a stored statistics of %s: %+v", i, r.ListenerID, r)
				}
			}
			return err
		})
	}
}

func TestRevokedOrReleasedAgentGoesDownAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cut    func(a *lb.Agent)
		reason string
	}{
		{"revoked", func(a *lb.Agent) { a.Revoked = true }, "revoked"},
		{"released with --replace", func(a *lb.Agent) { a.CertSerial = "" }, "released"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			cut, kept := e.agent("cut"), e.agent("kept")
			g := e.loadBalancer(cut)
			e.beat(cut, dataplane.Heartbeat{})
			e.beat(kept, dataplane.Heartbeat{})
			if err := e.m.CheckAgents(context.Background()); err != nil {
				t.Fatal(err)
			}
			if e.agentRow(cut.ID).Status != lb.AgentUp || len(e.moved) != 0 {
				t.Fatalf("a heard-from agent went down: %+v, moved %v", e.agentRow(cut.ID), e.moved)
			}
			e.update(func(tx store.Tx) error {
				a, err := tx.Agents().Get(context.Background(), cut.ID)
				if err != nil {
					return err
				}
				tc.cut(a)
				return tx.Agents().Update(context.Background(), a)
			})
			// Well within the dead window (a minute): no time passes at all.
			if err := e.m.CheckAgents(context.Background()); err != nil {
				t.Fatal(err)
			}
			if st := e.agentRow(cut.ID).Status; st != lb.AgentDown {
				t.Errorf("%s agent is %s, want DOWN at once", tc.name, st)
			}
			if st := e.agentRow(kept.ID).Status; st != lb.AgentUp {
				t.Errorf("the other agent is %s", st)
			}
			e.view(func(ctx context.Context, tx store.Tx) error {
				amps, err := tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.F("loadbalancer_id", g.lb)}})
				if len(amps) != 1 || amps[0].Status != lb.AmphoraError {
					t.Errorf("amphorae %+v, want one in ERROR", amps)
				}
				return err
			})
			if len(e.moved) != 1 || e.moved[0] != g.lb {
				t.Errorf("enqueued %v, want [%s]", e.moved, g.lb)
			}
			// A heartbeat that passed authentication just before does not
			// bring it back.
			e.beat(cut, dataplane.Heartbeat{})
			if st := e.agentRow(cut.ID).Status; st != lb.AgentDown {
				t.Errorf("a heartbeat brought the %s agent back %s", tc.name, st)
			}
			// Nothing more to do: no second enqueue.
			if err := e.m.CheckAgents(context.Background()); err != nil || len(e.moved) != 1 {
				t.Errorf("second check: %v, enqueued %v", err, e.moved)
			}
		})
	}
}

func TestSilentAgentGoesDownAfterTheDeadWindow(t *testing.T) {
	e := newEnv(t)
	a := e.agent("a")
	g := e.loadBalancer(a)
	e.beat(a, dataplane.Heartbeat{})
	steps := []struct {
		advance time.Duration
		want    string
	}{
		{30 * time.Second, lb.AgentUp},
		{30 * time.Second, lb.AgentUp}, // exactly the window: not longer
		{time.Millisecond, lb.AgentDown},
	}
	for i, s := range steps {
		e.clk.add(s.advance)
		if err := e.m.CheckAgents(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := e.agentRow(a.ID).Status; got != s.want {
			t.Fatalf("step %d: %s, want %s", i, got, s.want)
		}
	}
	if len(e.moved) != 1 || e.moved[0] != g.lb {
		t.Errorf("enqueued %v", e.moved)
	}
	e.beat(a, dataplane.Heartbeat{})
	if got := e.agentRow(a.ID).Status; got != lb.AgentUp {
		t.Errorf("after a heartbeat: %s", got)
	}
}

// counting is a store whose read transactions count the member and
// listener lookups by id (not the reads of a load balancer's graph).
type counting struct {
	store.Store
	lookups *int
}

func (c counting) View(ctx context.Context, fn func(tx store.Tx) error) error {
	return c.Store.View(ctx, func(tx store.Tx) error { return fn(countingTx{tx, c.lookups}) })
}

type countingTx struct {
	store.Tx
	lookups *int
}

func (t countingTx) Members() store.Table[lb.Member] {
	return countingTable[lb.Member]{t.Tx.Members(), t.lookups}
}

func (t countingTx) Listeners() store.Table[lb.Listener] {
	return countingTable[lb.Listener]{t.Tx.Listeners(), t.lookups}
}

type countingTable[T any] struct {
	store.Table[T]
	lookups *int
}

func (c countingTable[T]) List(ctx context.Context, q store.Query) ([]*T, error) {
	if len(q.Filters) == 1 && q.Filters[0].Field == "id" {
		*c.lookups++
	}
	return c.Table.List(ctx, q)
}

func TestManyUnknownMembersAndListeners(t *testing.T) {
	e := newEnv(t)
	a := e.agent("a")
	g := e.loadBalancer(a)
	report := func(n int, status dataplane.MemberStatus) dataplane.Heartbeat {
		hb := dataplane.Heartbeat{Health: dataplane.Health{Members: []dataplane.MemberHealth{{MemberID: g.member, Status: status}}}}
		for i := 0; i < n; i++ {
			hb.Health.Members = append(hb.Health.Members, dataplane.MemberHealth{MemberID: "m-" + strconv.Itoa(i), Status: status})
			hb.Stats.Listeners = append(hb.Stats.Listeners, dataplane.ListenerStats{ListenerID: "l-" + strconv.Itoa(i), LoadBalancerID: g.lb, TotalConnections: int64(i)})
		}
		return hb
	}
	// More ids than one SQLite expression holds (depth 1000), changing,
	// vanishing and coming back.
	for i, hb := range []dataplane.Heartbeat{
		{}, report(2500, dataplane.StatusUp), report(2500, dataplane.StatusDown), {}, report(2500, dataplane.StatusUp),
	} {
		e.beat(a, hb)
		want := lb.NoMonitor
		if len(hb.Health.Members) > 0 {
			want = map[dataplane.MemberStatus]lb.OperatingStatus{dataplane.StatusUp: lb.Online, dataplane.StatusDown: lb.OpError}[hb.Health.Members[0].Status]
		}
		if got := e.memberStatus(g); got != want {
			t.Errorf("heartbeat %d: member %s, want %s", i, got, want)
		}
	}
	// Unknown ids are remembered as unknown: the same report again costs
	// no lookup.
	lookups := 0
	e.m.opts.Store = counting{e.st, &lookups}
	e.beat(a, report(2500, dataplane.StatusDown))
	e.beat(a, report(2500, dataplane.StatusUp))
	if lookups != 0 {
		t.Errorf("%d lookups for ids looked up before", lookups)
	}
	e.beat(a, report(2600, dataplane.StatusUp)) // 100 new members and listeners
	if lookups != 2 {
		t.Errorf("%d lookups for 100 new members and 100 new listeners, want 2", lookups)
	}
	var rows []*lb.ListenerStats
	e.view(func(ctx context.Context, tx store.Tx) error {
		var err error
		rows, err = tx.ListenerStats().List(ctx, g.lb)
		return err
	})
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.ListenerID)
	}
	sort.Strings(ids)
	if len(ids) != 0 {
		t.Errorf("statistics stored for listeners that do not exist: %v", ids)
	}
}

func TestMemberStatsStoredForOwnMembersOnly(t *testing.T) {
	e := newEnv(t)
	a, b := e.agent("a"), e.agent("b")
	own, victim := e.loadBalancer(a), e.loadBalancer(b)
	memberRows := func(lbID string) []*lb.MemberStats {
		var rows []*lb.MemberStats
		e.view(func(ctx context.Context, tx store.Tx) error {
			var err error
			rows, err = tx.MemberStats().List(ctx, lbID)
			return err
		})
		return rows
	}
	for i := int64(1); i <= 3; i++ { // the first heartbeat, a change, the same again
		total := min(i, 2) * 10
		e.beat(a, dataplane.Heartbeat{Stats: dataplane.Stats{Members: []dataplane.MemberStats{
			{PoolID: own.pool, MemberID: own.member, ActiveConnections: 1, TotalConnections: total, ConnectErrors: 2},
			{PoolID: victim.pool, MemberID: victim.member, TotalConnections: 1 << 40},
			{PoolID: own.pool, MemberID: victim.member, TotalConnections: 1 << 40},
			{PoolID: own.pool, MemberID: "no-such-member", TotalConnections: 1 << 40}}}})
		rows := memberRows(own.lb)
		if len(rows) != 1 {
			t.Fatalf("heartbeat %d: own load balancer's member stats %+v, want one row", i, rows)
		}
		if r := rows[0]; r.MemberID != own.member || r.AgentID != a.ID || r.TotalConnections != total ||
			r.ActiveConnections != 1 || r.ConnectErrors != 2 {
			t.Errorf("heartbeat %d: stored %+v", i, r)
		}
		if rows := memberRows(victim.lb); len(rows) != 0 {
			t.Errorf("heartbeat %d: agent a's report of another agent's member was stored: %+v", i, rows)
		}
	}
}
