package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// testPoolListeners checks Tx.PoolListeners: the listeners with the pool
// as default pool, in creation order, then those owning an enabled policy
// with a rule that redirects to it, in creation order, each once; not a
// disabled policy's, not a rule-less policy's, not another pool's.
func testPoolListeners(t *testing.T, s store.Store) {
	ctx := context.Background()
	l, _, poolA, _, _, _, _ := fullGraph()
	poolB := *poolA
	poolB.ID = id("00000002", 2)
	at := func(n int) lb.Times { return lb.Times{CreatedAt: base.Add(time.Duration(n) * time.Minute)} }
	lis := func(n int, defaultPool string) *lb.Listener {
		return &lb.Listener{
			ID: id("00000001", n), ProjectID: "p1", LoadBalancerID: l.ID, AdminStateUp: true,
			Status: lb.Status{Provisioning: lb.Active, Operating: lb.Online}, Protocol: lb.ProtocolHTTP, ProtocolPort: 8000 + n,
			ConnectionLimit: -1, DefaultPoolID: defaultPool, Tags: []string{}, Times: at(10 - n),
		}
	}
	// Created in the order 6, 5, ..., 1 (Times), so that creation order
	// and id order differ.
	ls := []*lb.Listener{
		lis(1, ""),       // enabled policy with a rule to A: listed, after the default-pool ones
		lis(2, poolA.ID), // default pool A
		lis(3, poolB.ID), // another pool
		lis(4, ""),       // policy to A without rules
		lis(5, ""),       // disabled policy to A with a rule
		lis(6, poolA.ID), // default pool A, and an enabled policy to A: listed once
		lis(7, ""),       // enabled policy to B with a rule
	}
	pol := func(n int, listener *lb.Listener, pool string, up bool) *lb.L7Policy {
		return &lb.L7Policy{
			ID: id("00000005", n), ProjectID: "p1", ListenerID: listener.ID, LoadBalancerID: l.ID, AdminStateUp: up,
			Status: lb.Status{Provisioning: lb.Active, Operating: lb.Online}, Action: lb.ActionRedirectToPool, Position: 1,
			RedirectPoolID: pool, Tags: []string{}, Times: at(n),
		}
	}
	pols := []*lb.L7Policy{pol(1, ls[0], poolA.ID, true), pol(4, ls[3], poolA.ID, true), pol(5, ls[4], poolA.ID, false),
		pol(6, ls[5], poolA.ID, true), pol(7, ls[6], poolB.ID, true)}
	rule := func(n int, p *lb.L7Policy) *lb.L7Rule {
		return &lb.L7Rule{
			ID: id("00000006", n), ProjectID: "p1", L7PolicyID: p.ID, LoadBalancerID: l.ID, AdminStateUp: true,
			Status: lb.Status{Provisioning: lb.Active, Operating: lb.Online}, Type: lb.RulePath, CompareType: lb.CompareStartsWith,
			Value: "/", Tags: []string{}, Times: at(n),
		}
	}
	mustUpdate(t, s, func(tx store.Tx) error {
		errs := []error{tx.LoadBalancers().Create(ctx, l), tx.Pools().Create(ctx, poolA), tx.Pools().Create(ctx, &poolB)}
		for _, x := range ls {
			errs = append(errs, tx.Listeners().Create(ctx, x))
		}
		for _, p := range pols {
			errs = append(errs, tx.L7Policies().Create(ctx, p))
		}
		for i, p := range pols {
			if p.ListenerID != ls[3].ID {
				errs = append(errs, tx.L7Rules().Create(ctx, rule(i+1, p)))
			}
		}
		return errors.Join(errs...)
	})
	for _, tc := range []struct {
		pool string
		want []string
	}{
		{poolA.ID, []string{ls[5].ID, ls[1].ID, ls[0].ID}},
		{poolB.ID, []string{ls[2].ID, ls[6].ID}},
		{id("00000002", 3), nil},
	} {
		var got []*lb.Listener
		if err := s.View(ctx, func(tx store.Tx) error {
			var err error
			got, err = tx.PoolListeners(ctx, tc.pool)
			return err
		}); err != nil {
			t.Fatalf("PoolListeners(%s): %v", tc.pool, err)
		}
		var gotIDs []string
		for _, x := range got {
			gotIDs = append(gotIDs, x.ID)
			if i := slices.IndexFunc(ls, func(y *lb.Listener) bool { return y.ID == x.ID }); i >= 0 {
				check(t, "listener "+x.ID, x, ls[i])
			}
		}
		if !slices.Equal(gotIDs, tc.want) {
			t.Errorf("PoolListeners(%s) = %v, want %v", tc.pool, gotIDs, tc.want)
		}
	}
}
