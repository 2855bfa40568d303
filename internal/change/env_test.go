package change_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// env is a Writer on a real SQLite store in a temporary directory, with a
// notifier that records what it is told and what the store shows then.
type env struct {
	t     *testing.T
	ctx   context.Context
	st    store.Store
	w     *change.Writer
	notes *notes
	quota *recordingQuota
}

// notes records each Enqueue with the generation of the load balancer a
// fresh read transaction sees at that moment: a notification sent before
// the write committed would see the old generation.
type notes struct {
	st   store.Store
	mu   sync.Mutex
	ids  []string
	gens []int64
}

func (n *notes) Enqueue(id string) {
	var gen int64 = -1
	_ = n.st.View(context.Background(), func(tx store.Tx) error {
		if l, err := tx.LoadBalancers().Get(context.Background(), id); err == nil {
			gen = l.Generation
		}
		return nil
	})
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ids = append(n.ids, id)
	n.gens = append(n.gens, gen)
}

func (n *notes) take() (ids []string, gens []int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ids, gens, n.ids, n.gens = n.ids, n.gens, nil, nil
	return ids, gens
}

// recordingQuota records every reservation and refuses those over limit
// (per resource, counting the store as quota.Enforcer does).
type recordingQuota struct {
	mu     sync.Mutex
	wants  []map[lb.QuotaResource]int
	limits map[lb.QuotaResource]int
}

func (q *recordingQuota) Reserve(ctx context.Context, tx store.Tx, project string, want map[lb.QuotaResource]int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.wants = append(q.wants, want)
	for r, n := range want {
		limit, ok := q.limits[r]
		if !ok || n <= 0 {
			continue
		}
		inUse, err := usage(ctx, tx, project, r)
		if err != nil {
			return err
		}
		if err := lb.CheckQuota(r, limit, inUse, n); err != nil {
			return err
		}
	}
	return nil
}

func (q *recordingQuota) take() []map[lb.QuotaResource]int {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.wants
	q.wants = nil
	return w
}

func usage(ctx context.Context, tx store.Tx, project string, r lb.QuotaResource) (int, error) {
	f := store.F("project_id", project)
	switch r {
	case lb.QuotaMember:
		return tx.Members().Count(ctx, f)
	case lb.QuotaL7Rule:
		return tx.L7Rules().Count(ctx, f)
	case lb.QuotaListener:
		return tx.Listeners().Count(ctx, f)
	}
	return 0, nil
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(t.TempDir(), "fulcrum.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, ctx: ctx, st: st, notes: &notes{st: st}, quota: &recordingQuota{limits: map[lb.QuotaResource]int{}}}
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	e.w = change.New(change.Options{Store: st, Notifier: e.notes, Quotas: e.quota, VIPs: network.NewNoop(),
		Clock: func() time.Time { mu.Lock(); defer mu.Unlock(); clock = clock.Add(time.Second); return clock }})
	return e
}

// fixture is one load balancer, settled (everything ACTIVE):
//
//	listener l1 (HTTP :80) ── default pool p1 ── member m, health monitor hm
//	listener l2 (HTTP :81) ── policy pol (REDIRECT_TO_POOL p1) ── rule r
//	pool p2 (no listener)
type fixture struct {
	lb, l1, l2, p1, p2, m, hm, pol, r string
}

const project = "p1"

func (e *env) fixture() fixture {
	e.t.Helper()
	f := fixture{lb: "lb", l1: "l1", l2: "l2", p1: "p1", p2: "p2", m: "m", hm: "hm", pol: "pol", r: "r"}
	if err := e.w.CreateLoadBalancer(e.ctx, fixtureCreate(f)); err != nil {
		e.t.Fatalf("fixture: %v", err)
	}
	e.settle()
	e.notes.take()
	e.quota.take()
	return f
}

// fixtureCreate is the fully populated create of the fixture.
func fixtureCreate(f fixture) change.LoadBalancerCreate {
	l := &lb.LoadBalancer{ID: f.lb, ProjectID: project, AdminStateUp: true, Provider: lb.ProviderNoop}
	pool := func(id string) *lb.Pool {
		return &lb.Pool{ID: id, ProjectID: project, LoadBalancerID: f.lb, AdminStateUp: true,
			Protocol: lb.ProtocolHTTP, LBAlgorithm: lb.RoundRobin}
	}
	listener := func(id string, port int, pool string) *lb.Listener {
		return &lb.Listener{ID: id, ProjectID: project, LoadBalancerID: f.lb, AdminStateUp: true,
			Protocol: lb.ProtocolHTTP, ProtocolPort: port, ConnectionLimit: -1, DefaultPoolID: pool}
	}
	g := &lb.Graph{LoadBalancer: l,
		Pools:     []*lb.Pool{pool(f.p1), pool(f.p2)},
		Listeners: []*lb.Listener{listener(f.l1, 80, f.p1), listener(f.l2, 81, "")},
		Members: []*lb.Member{{ID: f.m, ProjectID: project, LoadBalancerID: f.lb, PoolID: f.p1, AdminStateUp: true,
			Address: "192.0.2.10", ProtocolPort: 8080, Weight: 1}},
		HealthMonitors: []*lb.HealthMonitor{{ID: f.hm, ProjectID: project, LoadBalancerID: f.lb, PoolID: f.p1,
			AdminStateUp: true, Type: lb.MonitorTCP, Delay: 5, Timeout: 3, MaxRetries: 3, MaxRetriesDown: 3}},
		L7Policies: []*lb.L7Policy{{ID: f.pol, ProjectID: project, LoadBalancerID: f.lb, ListenerID: f.l2,
			AdminStateUp: true, Action: lb.ActionRedirectToPool, RedirectPoolID: f.p1, Position: 1}},
		L7Rules: []*lb.L7Rule{{ID: f.r, ProjectID: project, LoadBalancerID: f.lb, L7PolicyID: f.pol,
			AdminStateUp: true, Type: lb.RulePath, CompareType: lb.CompareStartsWith, Value: "/api"}},
	}
	return change.LoadBalancerCreate{Graph: g, VIP: lb.VIPRequest{ProjectID: project, SubnetID: "6a0a707c-45ef-4758-b533-e55adddba8ce"}}
}

// settle does what the controller does once a provider has applied the
// newest generation: every pending object ACTIVE (deleted ones removed).
func (e *env) settle() {
	e.t.Helper()
	err := e.st.Update(e.ctx, func(tx store.Tx) error {
		ls, err := tx.LoadBalancers().List(e.ctx, store.Query{})
		if err != nil {
			return err
		}
		for _, l := range ls {
			l.Status.Provisioning, l.AppliedGeneration = lb.Active, l.Generation
			if err := tx.LoadBalancers().Update(e.ctx, l); err != nil {
				return err
			}
		}
		return e.eachChild(tx, func(st *lb.Status) { st.Provisioning = lb.Active })
	})
	if err != nil {
		e.t.Fatalf("settle: %v", err)
	}
}

// eachChild applies f to the status of every child object and writes it.
func (e *env) eachChild(tx store.Tx, f func(*lb.Status)) error {
	return errors.Join(
		updateAll(e.ctx, tx.Listeners(), func(x *lb.Listener) *lb.Status { return &x.Status }, f),
		updateAll(e.ctx, tx.Pools(), func(x *lb.Pool) *lb.Status { return &x.Status }, f),
		updateAll(e.ctx, tx.Members(), func(x *lb.Member) *lb.Status { return &x.Status }, f),
		updateAll(e.ctx, tx.HealthMonitors(), func(x *lb.HealthMonitor) *lb.Status { return &x.Status }, f),
		updateAll(e.ctx, tx.L7Policies(), func(x *lb.L7Policy) *lb.Status { return &x.Status }, f),
		updateAll(e.ctx, tx.L7Rules(), func(x *lb.L7Rule) *lb.Status { return &x.Status }, f),
	)
}

func updateAll[T any](ctx context.Context, tbl store.Table[T], status func(*T) *lb.Status, f func(*lb.Status)) error {
	all, err := tbl.List(ctx, store.Query{})
	if err != nil {
		return err
	}
	for _, x := range all {
		f(status(x))
		if err := tbl.Update(ctx, x); err != nil {
			return err
		}
	}
	return nil
}

// statuses returns every object's status by id (the load balancer's under
// its id too).
func (e *env) statuses() map[string]lb.Status {
	e.t.Helper()
	out := map[string]lb.Status{}
	err := e.st.View(e.ctx, func(tx store.Tx) error {
		ls, err := tx.LoadBalancers().List(e.ctx, store.Query{})
		if err != nil {
			return err
		}
		for _, l := range ls {
			out[l.ID] = l.Status
		}
		return errors.Join(
			collect(e.ctx, tx.Listeners(), func(x *lb.Listener) (string, lb.Status) { return x.ID, x.Status }, out),
			collect(e.ctx, tx.Pools(), func(x *lb.Pool) (string, lb.Status) { return x.ID, x.Status }, out),
			collect(e.ctx, tx.Members(), func(x *lb.Member) (string, lb.Status) { return x.ID, x.Status }, out),
			collect(e.ctx, tx.HealthMonitors(), func(x *lb.HealthMonitor) (string, lb.Status) { return x.ID, x.Status }, out),
			collect(e.ctx, tx.L7Policies(), func(x *lb.L7Policy) (string, lb.Status) { return x.ID, x.Status }, out),
			collect(e.ctx, tx.L7Rules(), func(x *lb.L7Rule) (string, lb.Status) { return x.ID, x.Status }, out),
		)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func collect[T any](ctx context.Context, tbl store.Table[T], f func(*T) (string, lb.Status), out map[string]lb.Status) error {
	all, err := tbl.List(ctx, store.Query{})
	for _, x := range all {
		id, st := f(x)
		out[id] = st
	}
	return err
}

// generation returns the load balancer's generation.
func (e *env) generation(id string) int64 {
	e.t.Helper()
	var gen int64
	err := e.st.View(e.ctx, func(tx store.Tx) error {
		l, err := tx.LoadBalancers().Get(e.ctx, id)
		if err == nil {
			gen = l.Generation
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return gen
}

// setStatus sets one object's provisioning status directly in the store.
func (e *env) setStatus(id string, p lb.ProvisioningStatus) {
	e.t.Helper()
	err := e.st.Update(e.ctx, func(tx store.Tx) error {
		set := func(st *lb.Status) { st.Provisioning = p }
		for _, try := range []func() (bool, error){
			func() (bool, error) {
				return setIn(e.ctx, tx.LoadBalancers(), id, func(x *lb.LoadBalancer) *lb.Status { return &x.Status }, set)
			},
			func() (bool, error) {
				return setIn(e.ctx, tx.Listeners(), id, func(x *lb.Listener) *lb.Status { return &x.Status }, set)
			},
			func() (bool, error) {
				return setIn(e.ctx, tx.Pools(), id, func(x *lb.Pool) *lb.Status { return &x.Status }, set)
			},
			func() (bool, error) {
				return setIn(e.ctx, tx.Members(), id, func(x *lb.Member) *lb.Status { return &x.Status }, set)
			},
			func() (bool, error) {
				return setIn(e.ctx, tx.HealthMonitors(), id, func(x *lb.HealthMonitor) *lb.Status { return &x.Status }, set)
			},
			func() (bool, error) {
				return setIn(e.ctx, tx.L7Policies(), id, func(x *lb.L7Policy) *lb.Status { return &x.Status }, set)
			},
			func() (bool, error) {
				return setIn(e.ctx, tx.L7Rules(), id, func(x *lb.L7Rule) *lb.Status { return &x.Status }, set)
			},
		} {
			if ok, err := try(); ok || err != nil {
				return err
			}
		}
		return errors.New("no object " + id)
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func setIn[T any](ctx context.Context, tbl store.Table[T], id string, status func(*T) *lb.Status, f func(*lb.Status)) (bool, error) {
	x, err := tbl.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	f(status(x))
	return true, tbl.Update(ctx, x)
}
