package controller_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/controller"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// scripted is a provider whose answers a test controls.
type scripted struct {
	mu      sync.Mutex
	hold    bool             // answer Done=false
	refuse  string           // refuse with this reason
	applied map[string]int64 // last generation seen per LB
	removed map[string]bool
	calls   int
}

func newScripted() *scripted {
	return &scripted{applied: map[string]int64{}, removed: map[string]bool{}}
}

func (s *scripted) Apply(_ context.Context, g *lb.Graph) (controller.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.refuse != "" {
		return controller.Outcome{}, &controller.RefusedError{Reason: s.refuse}
	}
	if s.hold {
		return controller.Outcome{}, nil
	}
	s.applied[g.LoadBalancer.ID] = g.LoadBalancer.Generation
	return controller.Noop{}.Apply(context.Background(), g)
}

func (s *scripted) Remove(_ context.Context, l *lb.LoadBalancer) (controller.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold {
		return controller.Outcome{}, nil
	}
	s.removed[l.ID] = true
	return controller.Outcome{Done: true}, nil
}

func (s *scripted) set(f func(*scripted)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

type hooks struct {
	mu      sync.Mutex
	deleted []string
}

func (h *hooks) LoadBalancerDeleted(_ context.Context, _ store.Tx, l *lb.LoadBalancer) error {
	h.mu.Lock()
	h.deleted = append(h.deleted, l.ID)
	h.mu.Unlock()
	return nil
}

type env struct {
	t    *testing.T
	s    store.Store
	c    *controller.Controller
	p    *scripted
	h    *hooks
	stop func()
}

func openStore(t *testing.T, path string) store.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func start(t *testing.T, s store.Store, p *scripted) *env {
	t.Helper()
	h := &hooks{}
	c := controller.New(controller.Options{
		Store: s, Providers: map[string]controller.Provider{"test": p, "noop": controller.Noop{}},
		Hooks: h, Resync: 50 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx)
		close(done)
	}()
	e := &env{t: t, s: s, c: c, p: p, h: h, stop: func() { cancel(); <-done }}
	t.Cleanup(e.stop)
	return e
}

var seq int

func newID(prefix string) string {
	seq++
	return fmt.Sprintf("%s-0000-0000-0000-%012d", prefix, seq)
}

// write runs one API-style mutation: lock the LB, bump its generation, apply fn.
func (e *env) write(lbID string, fn func(tx store.Tx, l *lb.LoadBalancer, gen int64) error) {
	e.t.Helper()
	ctx := context.Background()
	err := e.s.Update(ctx, func(tx store.Tx) error {
		l, err := tx.LoadBalancers().Lock(ctx, lbID)
		if err != nil {
			return err
		}
		gen := l.NextGeneration()
		if err := fn(tx, l, gen); err != nil {
			return err
		}
		return tx.LoadBalancers().Update(ctx, l)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.c.Enqueue(lbID)
}

func (e *env) createLB(provider string) string {
	e.t.Helper()
	ctx := context.Background()
	l := &lb.LoadBalancer{ID: newID("aaaaaaaa"), ProjectID: "p", AdminStateUp: true, Provider: provider, Generation: 1,
		Status: lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline, Gen: 1}, Times: lb.Times{CreatedAt: time.Now()}}
	if err := e.s.Update(ctx, func(tx store.Tx) error { return tx.LoadBalancers().Create(ctx, l) }); err != nil {
		e.t.Fatal(err)
	}
	e.c.Enqueue(l.ID)
	return l.ID
}

func (e *env) get(id string) (g *lb.Graph, err error) {
	ctx := context.Background()
	err = e.s.View(ctx, func(tx store.Tx) error {
		g, err = store.LoadGraph(ctx, tx, id)
		return err
	})
	return g, err
}

// eventually polls cond until it holds or 30 s pass (generous: a loaded
// machine running the race detector is slow, and a condition that holds
// returns at once).
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) lbStatus(id string) lb.ProvisioningStatus {
	g, err := e.get(id)
	if err != nil {
		return "GONE"
	}
	return g.LoadBalancer.Status.Provisioning
}

func TestCreateBecomesActiveWithNoopStatuses(t *testing.T) {
	e := start(t, openStore(t, filepath.Join(t.TempDir(), "db")), newScripted())
	id := e.createLB("noop")
	poolID, memberID, hmID := newID("00000002"), newID("00000003"), newID("00000004")
	e.write(id, func(tx store.Tx, l *lb.LoadBalancer, gen int64) error {
		ctx := context.Background()
		p := &lb.Pool{ID: poolID, ProjectID: "p", LoadBalancerID: id, AdminStateUp: true, Protocol: "HTTP", LBAlgorithm: lb.RoundRobin, Times: lb.Times{CreatedAt: time.Now()}}
		p.Status.Change(lb.PendingCreate, gen)
		m := &lb.Member{ID: memberID, ProjectID: "p", PoolID: poolID, LoadBalancerID: id, AdminStateUp: true, Address: "127.0.0.2", ProtocolPort: 80, Weight: 1, Times: lb.Times{CreatedAt: time.Now()}}
		m.Status.Change(lb.PendingCreate, gen)
		h := &lb.HealthMonitor{ID: hmID, ProjectID: "p", PoolID: poolID, LoadBalancerID: id, AdminStateUp: false, Type: "TCP", Delay: 1, Timeout: 1, MaxRetries: 1, MaxRetriesDown: 1, Times: lb.Times{CreatedAt: time.Now()}}
		h.Status.Change(lb.PendingCreate, gen)
		return errors.Join(tx.Pools().Create(ctx, p), tx.Members().Create(ctx, m), tx.HealthMonitors().Create(ctx, h))
	})
	e.eventually("load balancer ACTIVE", func() bool { return e.lbStatus(id) == lb.Active })
	g, _ := e.get(id)
	if g.LoadBalancer.AppliedGeneration != 2 || g.LoadBalancer.Status.Operating != lb.Offline {
		t.Errorf("load balancer after apply: %+v", g.LoadBalancer)
	}
	if g.LoadBalancer.UpdatedAt == nil {
		t.Error("updated_at not set on completion")
	}
	want := map[string]lb.Status{
		poolID:   {Provisioning: lb.Active, Operating: lb.Offline, Gen: 2},
		memberID: {Provisioning: lb.Active, Operating: lb.Offline, Gen: 2}, // pool has a monitor
		hmID:     {Provisioning: lb.Active, Operating: lb.Offline, Gen: 2}, // admin down
	}
	got := map[string]lb.Status{poolID: g.Pools[0].Status, memberID: g.Members[0].Status, hmID: g.HealthMonitors[0].Status}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: status %+v, want %+v", k, got[k], w)
		}
	}
}

func TestWritesDuringApplyStayPendingUntilTheirGeneration(t *testing.T) {
	p := newScripted()
	e := start(t, openStore(t, filepath.Join(t.TempDir(), "db")), p)
	id := e.createLB("test")
	e.eventually("ACTIVE", func() bool { return e.lbStatus(id) == lb.Active })
	p.set(func(s *scripted) { s.hold = true })
	lisID := newID("00000001")
	e.write(id, func(tx store.Tx, l *lb.LoadBalancer, gen int64) error {
		lis := &lb.Listener{ID: lisID, ProjectID: "p", LoadBalancerID: id, AdminStateUp: true, Protocol: "TCP", ProtocolPort: 80, Times: lb.Times{CreatedAt: time.Now()}}
		lis.Status.Change(lb.PendingCreate, gen)
		return tx.Listeners().Create(context.Background(), lis)
	})
	// A second write to the same LB is accepted while the first is pending: no immutable 409.
	e.write(id, func(tx store.Tx, l *lb.LoadBalancer, gen int64) error {
		l.Name = "renamed"
		return nil
	})
	g, _ := e.get(id)
	if g.LoadBalancer.Status.Provisioning != lb.PendingUpdate || g.Listeners[0].Status.Provisioning != lb.PendingCreate {
		t.Fatalf("while held: lb %s listener %s", g.LoadBalancer.Status.Provisioning, g.Listeners[0].Status.Provisioning)
	}
	p.set(func(s *scripted) { s.hold = false })
	e.c.Enqueue(id)
	e.eventually("ACTIVE after release", func() bool { return e.lbStatus(id) == lb.Active })
	g, _ = e.get(id)
	if g.Listeners[0].Status.Provisioning != lb.Active || g.LoadBalancer.AppliedGeneration != 3 {
		t.Errorf("after release: listener %s applied %d", g.Listeners[0].Status.Provisioning, g.LoadBalancer.AppliedGeneration)
	}
}

func TestRefusedGenerationIsErrorAndALaterFixConverges(t *testing.T) {
	p := newScripted()
	e := start(t, openStore(t, filepath.Join(t.TempDir(), "db")), p)
	p.set(func(s *scripted) { s.refuse = "address 127.0.0.5:80 in use" })
	id := e.createLB("test")
	e.eventually("ERROR", func() bool { return e.lbStatus(id) == lb.Error })
	g, _ := e.get(id)
	if g.LoadBalancer.LastError != "address 127.0.0.5:80 in use" {
		t.Errorf("last error = %q", g.LoadBalancer.LastError)
	}
	// The controller keeps retrying with backoff; once the cause is gone it converges.
	p.set(func(s *scripted) { s.refuse = "" })
	e.eventually("ACTIVE after the fix", func() bool { return e.lbStatus(id) == lb.Active })
	g, _ = e.get(id)
	if g.LoadBalancer.LastError != "" {
		t.Errorf("last error kept after success: %q", g.LoadBalancer.LastError)
	}
}

func TestChildDeleteRemovesRowsOnlyWhenTheirGenerationApplies(t *testing.T) {
	p := newScripted()
	e := start(t, openStore(t, filepath.Join(t.TempDir(), "db")), p)
	id := e.createLB("test")
	poolID := newID("00000002")
	e.write(id, func(tx store.Tx, l *lb.LoadBalancer, gen int64) error {
		pool := &lb.Pool{ID: poolID, ProjectID: "p", LoadBalancerID: id, AdminStateUp: true, Protocol: "TCP", LBAlgorithm: lb.RoundRobin, Times: lb.Times{CreatedAt: time.Now()}}
		pool.Status.Change(lb.PendingCreate, gen)
		return tx.Pools().Create(context.Background(), pool)
	})
	e.eventually("ACTIVE", func() bool { return e.lbStatus(id) == lb.Active })
	p.set(func(s *scripted) { s.hold = true })
	e.write(id, func(tx store.Tx, l *lb.LoadBalancer, gen int64) error {
		pool, err := tx.Pools().Get(context.Background(), poolID)
		if err != nil {
			return err
		}
		pool.Status.Change(lb.PendingDelete, gen)
		return tx.Pools().Update(context.Background(), pool)
	})
	g, _ := e.get(id)
	if len(g.Pools) != 1 || g.Pools[0].Status.Provisioning != lb.PendingDelete {
		t.Fatalf("pool while delete is held: %+v", g.Pools)
	}
	p.set(func(s *scripted) { s.hold = false })
	e.c.Enqueue(id)
	e.eventually("pool row removed", func() bool { g, _ := e.get(id); return len(g.Pools) == 0 })
}

func TestLoadBalancerDeleteRunsHookAndRemovesEverything(t *testing.T) {
	p := newScripted()
	e := start(t, openStore(t, filepath.Join(t.TempDir(), "db")), p)
	id := e.createLB("test")
	e.eventually("ACTIVE", func() bool { return e.lbStatus(id) == lb.Active })
	e.write(id, func(tx store.Tx, l *lb.LoadBalancer, gen int64) error {
		pool := &lb.Pool{ID: newID("00000002"), ProjectID: "p", LoadBalancerID: id, AdminStateUp: true, Protocol: "TCP", LBAlgorithm: lb.RoundRobin, Times: lb.Times{CreatedAt: time.Now()}}
		pool.Status.Change(lb.PendingCreate, gen)
		l.Status.Change(lb.PendingDelete, gen)
		return tx.Pools().Create(context.Background(), pool)
	})
	e.eventually("load balancer gone", func() bool { return e.lbStatus(id) == "GONE" })
	e.h.mu.Lock()
	defer e.h.mu.Unlock()
	if len(e.h.deleted) != 1 || e.h.deleted[0] != id {
		t.Errorf("hook calls: %v", e.h.deleted)
	}
	if !p.removed[id] {
		t.Error("provider Remove not called")
	}
}

func TestUnknownProviderIsError(t *testing.T) {
	e := start(t, openStore(t, filepath.Join(t.TempDir(), "db")), newScripted())
	id := e.createLB("vanished")
	e.eventually("ERROR", func() bool { return e.lbStatus(id) == lb.Error })
}

func TestRestartConvergesPendingState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := openStore(t, path)
	// State as a crash would leave it: committed writes, nothing reconciled.
	ctx := context.Background()
	var lbIDs []string
	for i := 0; i < 5; i++ {
		id := newID("aaaaaaaa")
		lbIDs = append(lbIDs, id)
		err := s.Update(ctx, func(tx store.Tx) error {
			l := &lb.LoadBalancer{ID: id, ProjectID: "p", AdminStateUp: true, Provider: "noop", Generation: 3, AppliedGeneration: 1,
				Status: lb.Status{Provisioning: lb.PendingUpdate, Operating: lb.Offline, Gen: 3}, Times: lb.Times{CreatedAt: time.Now()}}
			lis := &lb.Listener{ID: newID("00000001"), ProjectID: "p", LoadBalancerID: id, AdminStateUp: true, Protocol: "TCP", ProtocolPort: 80,
				Status: lb.Status{Provisioning: lb.PendingDelete, Gen: 3}, Times: lb.Times{CreatedAt: time.Now()}}
			return errors.Join(tx.LoadBalancers().Create(ctx, l), tx.Listeners().Create(ctx, lis))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	e := start(t, s, newScripted()) // no Enqueue: the start-up resync must find them
	for _, id := range lbIDs {
		e.eventually("converged after restart", func() bool {
			g, err := e.get(id)
			return err == nil && g.LoadBalancer.Status.Provisioning == lb.Active && len(g.Listeners) == 0
		})
	}
}
