package provider

import (
	"context"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/snapshot"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// writeCounting is a store that counts its write and read transactions.
type writeCounting struct {
	store.Store
	writes, reads int
}

func (w *writeCounting) View(ctx context.Context, fn func(tx store.Tx) error) error {
	w.reads++
	return w.Store.View(ctx, fn)
}

func (w *writeCounting) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	w.writes++
	return w.Store.Update(ctx, fn)
}

// Applying a load balancer again that stays on its agent and whose fragment
// is published as it is (the reconcile after the agent's acknowledgement,
// or a periodic resync) takes no write transaction: the store's one writer
// is left to the writes that change something. Where it stands is told
// the same: pending until the agent acknowledges, then applied.
func TestApplyingAgainUnchangedWritesNothing(t *testing.T) {
	e := newEnv(t)
	st := e.st.(*sqlstore.Store)
	shared := snapshot.NewShared(snapshot.SharedOptions{Store: st, Broadcaster: st, ConfigChannel: "c", LoadBalancerChannel: "l"})
	wc := &writeCounting{Store: st}
	e.n = NewNative(Options{Store: wc, Cache: shared})
	e.cache = nil // published reads the shared publications
	ctx := context.Background()
	a := e.agent("a", "", "")
	l := e.loadBalancer("", "")
	g := &lb.Graph{LoadBalancer: l}
	out, err := e.n.Apply(ctx, g)
	if err != nil || out.Done {
		t.Fatalf("first apply: %+v %v, want pending", out, err)
	}
	if wc.writes == 0 {
		t.Fatal("the first apply placed and published nothing")
	}
	wc.writes = 0
	if out, err = e.n.Apply(ctx, g); err != nil || out.Done {
		t.Fatalf("second apply: %+v %v, want still pending", out, err)
	}
	if wc.writes != 0 {
		t.Errorf("applying the same graph again took %d write transactions, want 0", wc.writes)
	}
	// The agent acknowledges what it was given.
	var v uint64
	e.update(func(tx store.Tx) error {
		head, err := tx.Publications().Head(ctx, a.ID)
		if err != nil {
			return err
		}
		v = head.Version
		_, err = shared.Acknowledge(ctx, tx, a.ID, v, nil)
		return err
	})
	wc.writes = 0
	if out, err = e.n.Apply(ctx, g); err != nil || !out.Done {
		t.Fatalf("apply after the acknowledgement of version %d: %+v %v, want done", v, out, err)
	}
	// The placement turns ready in the controller's transaction that
	// records the generation done (Outcome.Record), not in one of its own.
	if wc.writes != 0 || out.Record == nil {
		t.Fatalf("applying an acknowledged graph took %d write transactions and recorded nothing (%v), want 0 and a record", wc.writes, out.Record == nil)
	}
	e.update(func(tx store.Tx) error { return out.Record(ctx, tx) })
	var amps []*lb.Amphora
	e.update(func(tx store.Tx) (err error) {
		amps, err = tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.F("loadbalancer_id", l.ID)}})
		return err
	})
	if len(amps) != 1 || amps[0].Status != lb.AmphoraReady {
		t.Fatalf("placements after the record: %+v, want one %s", amps, lb.AmphoraReady)
	}
	wc.writes = 0
	if out, err = e.n.Apply(ctx, g); err != nil || !out.Done || out.Record != nil {
		t.Fatalf("apply again: %+v %v, want done with nothing to record", out, err)
	}
	if wc.writes != 0 {
		t.Errorf("applying an acknowledged graph again took %d write transactions, want 0", wc.writes)
	}
	// A change is published, in a write transaction.

	g.Listeners = append(g.Listeners, &lb.Listener{ID: e.id("11111111"), ProjectID: "p", LoadBalancerID: l.ID, AdminStateUp: true,
		Protocol: lb.ProtocolTCP, ProtocolPort: 9000, ConnectionLimit: -1, Status: lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline}})
	wc.writes = 0
	if out, err = e.n.Apply(ctx, g); err != nil || out.Done {
		t.Fatalf("apply of a changed graph: %+v %v, want pending", out, err)
	}
	if wc.writes != 1 {
		t.Errorf("publishing a change took %d write transactions, want 1", wc.writes)
	}
}

// A reconcile of a load balancer that stays on its agent reads everything
// Apply needs (flavor, placement, addresses, where its fragment stands) in
// one read transaction, and writes at most once: to publish a change. Each
// transaction is a round on the store's connections and, on SQLite, a
// share of the server's CPU for every graph created.
func TestApplyTakesOneReadTransaction(t *testing.T) {
	e := newEnv(t)
	st := e.st.(*sqlstore.Store)
	shared := snapshot.NewShared(snapshot.SharedOptions{Store: st, Broadcaster: st, ConfigChannel: "c", LoadBalancerChannel: "l"})
	wc := &writeCounting{Store: st}
	e.n = NewNative(Options{Store: wc, Cache: shared})
	e.cache = nil // published reads the shared publications
	ctx := context.Background()
	a := e.agent("a", "", "")
	l := e.loadBalancer("", "")
	g := &lb.Graph{LoadBalancer: l}
	// A new load balancer is placed and published in one write.
	if _, err := e.n.Apply(ctx, g); err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if wc.reads != 1 || wc.writes != 1 {
		t.Errorf("placing and publishing a new load balancer took %d read and %d write transactions, want 1 and 1", wc.reads, wc.writes)
	}
	if got := e.published(a.ID); len(got) != 1 {
		t.Errorf("published on the agent: %v, want the load balancer", got)
	}
	apply := func(what string, wantWrites int) {
		t.Helper()
		wc.reads, wc.writes = 0, 0
		if _, err := e.n.Apply(ctx, g); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if wc.reads != 1 || wc.writes != wantWrites {
			t.Errorf("%s took %d read and %d write transactions, want 1 and %d", what, wc.reads, wc.writes, wantWrites)
		}
	}
	apply("applying an unchanged graph", 0)
	g.Listeners = append(g.Listeners, &lb.Listener{ID: e.id("22222222"), ProjectID: "p", LoadBalancerID: l.ID, AdminStateUp: true,
		Protocol: lb.ProtocolTCP, ProtocolPort: 9001, ConnectionLimit: -1, Status: lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline}})
	apply("publishing a change", 1)
	apply("applying the change again", 0)
}
