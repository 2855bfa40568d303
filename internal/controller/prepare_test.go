package controller_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/controller"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// readCounting counts a store's read transactions.
type readCounting struct {
	store.Store
	reads atomic.Int64
}

func (r *readCounting) View(ctx context.Context, fn func(tx store.Tx) error) error {
	r.reads.Add(1)
	return r.Store.View(ctx, fn)
}

// preparing is a provider that reads the store to apply (as the native
// provider does): on its own in Apply, or in the controller's transaction
// through Prepare (controller.Preparer).
type preparing struct {
	store    store.Store
	mu       sync.Mutex
	prepared map[*lb.Graph]bool
	recorded atomic.Int64 // Records run, each with the generation done
}

func (p *preparing) read(ctx context.Context, tx store.Tx, g *lb.Graph) error {
	_, err := tx.LoadBalancers().Get(ctx, g.LoadBalancer.ID)
	return err
}

func (p *preparing) Apply(ctx context.Context, g *lb.Graph) (controller.Outcome, error) {
	if err := p.store.View(ctx, func(tx store.Tx) error { return p.read(ctx, tx, g) }); err != nil {
		return controller.Outcome{}, err
	}
	return controller.Noop{}.Apply(ctx, g)
}

func (p *preparing) Prepare(ctx context.Context, tx store.Tx, g *lb.Graph) (any, error) {
	p.mu.Lock()
	p.prepared[g] = true
	p.mu.Unlock()
	return g.LoadBalancer.ID, p.read(ctx, tx, g)
}

func (p *preparing) ApplyPrepared(ctx context.Context, g *lb.Graph, prepared any) (controller.Outcome, error) {
	p.mu.Lock()
	ok := p.prepared[g] && prepared == g.LoadBalancer.ID
	delete(p.prepared, g)
	p.mu.Unlock()
	if !ok {
		return controller.Outcome{}, &controller.RefusedError{Reason: "ApplyPrepared without its Prepare"}
	}
	out, err := controller.Noop{}.Apply(ctx, g)
	id, gen := g.LoadBalancer.ID, g.LoadBalancer.Generation
	out.Record = func(ctx context.Context, tx store.Tx) error {
		// The load balancer is locked, not yet recorded done.
		l, err := tx.LoadBalancers().Get(ctx, id)
		if err == nil && l.AppliedGeneration < gen {
			p.recorded.Add(1)
		}
		return err
	}
	return out, err
}

func (p *preparing) Remove(context.Context, *lb.LoadBalancer) (controller.Outcome, error) {
	return controller.Outcome{Done: true}, nil
}

// A provider that can prepare in the controller's read transaction is
// given it: each reconcile reads the store in one transaction, not one
// for the graph and another for the provider. What the provider records
// when a generation is done (Outcome.Record) is written in the
// controller's transaction that records it.
func TestReconcileReadsInOneTransaction(t *testing.T) {
	base := openStore(t, filepath.Join(t.TempDir(), "db"))
	rc := &readCounting{Store: base}
	var reconciles atomic.Int64
	prov := &preparing{store: rc, prepared: map[*lb.Graph]bool{}}
	c := controller.New(controller.Options{
		Store: rc, Providers: map[string]controller.Provider{"prep": prov},
		Resync: time.Hour, MaxBackoff: 50 * time.Millisecond,
		OnReconcile: func(time.Duration, string) { reconciles.Add(1) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
	<-c.Synced()
	rc.reads.Store(0)
	e := &env{t: t, s: base, c: c}
	id := e.createLB("prep")
	e.eventually("load balancer ACTIVE", func() bool { return e.lbStatus(id) == lb.Active })
	e.write(id, func(tx store.Tx, l *lb.LoadBalancer, gen int64) error {
		p := &lb.Pool{ID: newID("00000012"), ProjectID: "p", LoadBalancerID: id, AdminStateUp: true, Protocol: "HTTP", LBAlgorithm: lb.RoundRobin, Times: lb.Times{CreatedAt: time.Now()}}
		p.Status.Change(lb.PendingCreate, gen)
		return tx.Pools().Create(context.Background(), p)
	})
	e.eventually("the pool's generation applied", func() bool {
		g, err := e.get(id)
		return err == nil && g.LoadBalancer.AppliedGeneration == 2 && g.LoadBalancer.Status.Provisioning == lb.Active
	})
	e.eventually("the reconciles counted", func() bool { return reconciles.Load() >= 2 })
	n, reads := reconciles.Load(), rc.reads.Load()
	if reads != n {
		t.Errorf("%d reconciles took %d read transactions, want one each", n, reads)
	}
	// The provider's Record ran in the transaction that recorded each
	// generation done.
	if got := prov.recorded.Load(); got != 2 {
		t.Errorf("the provider's record ran %d times with a generation not yet done, want 2", got)
	}
}
