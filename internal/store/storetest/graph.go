package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// testGraph checks Tx.Graph against LoadGraphByTables (one List per
// table): the same objects in the same order, children inserted out of
// their creation order and with creation times shared (the id decides),
// L7 policies of two listeners by listener, then position; another load
// balancer's children left out; ErrNotFound for a load balancer that does
// not exist; and a graph read in a write transaction written back.
func testGraph(t *testing.T, s store.Store) {
	ctx := context.Background()
	l, lis, pool, m, _, pol, rule := createGraph(t, s)
	other := newLB(2, "p1")
	// Creation times: later, earlier and equal to the fixture's (base),
	// inserted in an order that is none of them.
	at := []time.Duration{time.Second, -time.Second, 0, 2 * time.Second, 0}
	mustUpdate(t, s, func(tx store.Tx) error {
		errs := []error{tx.LoadBalancers().Create(ctx, other)}
		for i, d := range at {
			n := 10 - i // ids descend as they are inserted
			p := *pool
			p.ID, p.Times = id("00000002", n), lb.Times{CreatedAt: base.Add(d)}
			errs = append(errs, tx.Pools().Create(ctx, &p))
			li := *lis
			li.ID, li.ProtocolPort, li.DefaultPoolID, li.Times = id("00000001", n), 1000+n, "", lb.Times{CreatedAt: base.Add(d)}
			errs = append(errs, tx.Listeners().Create(ctx, &li))
			for j := range 3 {
				mm := *m
				mm.ID, mm.ProtocolPort, mm.Times = id("00000003", n*10+j), 2000+n*10+j, lb.Times{CreatedAt: base.Add(d)}
				errs = append(errs, tx.Members().Create(ctx, &mm))
			}
			pp := *pol
			pp.ID, pp.Position, pp.Times = id("00000005", n), 1+i%3, lb.Times{CreatedAt: base.Add(-d)}
			if i%2 == 0 {
				pp.ListenerID = li.ID
			}
			errs = append(errs, tx.L7Policies().Create(ctx, &pp))
			rr := *rule
			rr.ID, rr.Times = id("00000006", n), lb.Times{CreatedAt: base.Add(d)}
			errs = append(errs, tx.L7Rules().Create(ctx, &rr))
		}
		// The other load balancer's children.
		op := *pool
		op.ID, op.LoadBalancerID = id("00000002", 99), other.ID
		om := *m
		om.ID, om.PoolID, om.LoadBalancerID = id("00000003", 999), op.ID, other.ID
		errs = append(errs, tx.Pools().Create(ctx, &op), tx.Members().Create(ctx, &om))
		return errors.Join(errs...)
	})

	var got, want *lb.Graph
	mustView(t, s, func(tx store.Tx) (err error) {
		if got, err = tx.Graph(ctx, l.ID); err != nil {
			return err
		}
		want, err = store.LoadGraphByTables(ctx, tx, l.ID)
		return err
	})
	if n := len(got.Members); n != 1+3*len(at) {
		t.Fatalf("graph has %d members, want %d", n, 1+3*len(at))
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"load balancer", got.LoadBalancer, want.LoadBalancer},
		{"listeners", graphIDs(got.Listeners), graphIDs(want.Listeners)},
		{"pools", graphIDs(got.Pools), graphIDs(want.Pools)},
		{"members", graphIDs(got.Members), graphIDs(want.Members)},
		{"health monitors", graphIDs(got.HealthMonitors), graphIDs(want.HealthMonitors)},
		{"L7 policies", graphIDs(got.L7Policies), graphIDs(want.L7Policies)},
		{"L7 rules", graphIDs(got.L7Rules), graphIDs(want.L7Rules)},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("Graph's %s:\n got  %v\n want %v (one List per table)", c.what, c.got, c.want)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Graph differs from one List per table:\n got  %+v\n want %+v", got, want)
	}

	// Read and written back in one write transaction.
	mustUpdate(t, s, func(tx store.Tx) error {
		g, err := tx.Graph(ctx, l.ID)
		if err != nil {
			return err
		}
		for _, x := range g.Members {
			x.Weight = 7
			if err := tx.Members().Update(ctx, x); err != nil {
				return err
			}
		}
		g.LoadBalancer.Name = "renamed"
		return tx.LoadBalancers().Update(ctx, g.LoadBalancer)
	})
	mustView(t, s, func(tx store.Tx) error {
		g, err := tx.Graph(ctx, l.ID)
		if err != nil {
			return err
		}
		if g.LoadBalancer.Name != "renamed" {
			t.Errorf("load balancer written back: name %q", g.LoadBalancer.Name)
		}
		for _, x := range g.Members {
			if x.Weight != 7 {
				t.Errorf("member %s written back: weight %d, want 7", x.ID, x.Weight)
			}
		}
		og, err := tx.Graph(ctx, other.ID)
		if err != nil {
			return err
		}
		if len(og.Pools) != 1 || len(og.Members) != 1 || len(og.Listeners) != 0 || og.Members[0].Weight == 7 {
			t.Errorf("the other load balancer's graph: %d pools, %d members, %d listeners", len(og.Pools), len(og.Members), len(og.Listeners))
		}
		return nil
	})

	err := s.View(ctx, func(tx store.Tx) error {
		_, err := tx.Graph(ctx, id("aaaaaaaa", 3))
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Graph of a missing load balancer: %v, want ErrNotFound", err)
	}
}

// graphIDs lists the ids of objects (each with a string field ID).
func graphIDs[T any](list []*T) []string {
	out := make([]string, len(list))
	for i, x := range list {
		out[i] = fmt.Sprint(reflect.ValueOf(x).Elem().FieldByName("ID").Interface())
	}
	return out
}
