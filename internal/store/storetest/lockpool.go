package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// testLockPool checks Tx.LockPool: the pool and its load balancer as
// stored, whether a health monitor watches the pool, ErrNotFound for a
// pool that does not exist; and that both can be written back changed in
// the same transaction.
func testLockPool(t *testing.T, s store.Store) {
	ctx := context.Background()
	l, _, watched, _, _, _, _ := createGraph(t, s) // its health monitor watches the pool
	bare := *watched
	bare.ID = id("00000002", 2)
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Pools().Create(ctx, &bare) })

	for _, tc := range []struct {
		pool      *lb.Pool
		monitored bool
	}{{watched, true}, {&bare, false}} {
		mustUpdate(t, s, func(tx store.Tx) error {
			p, parent, monitored, err := tx.LockPool(ctx, tc.pool.ID)
			if err != nil {
				return err
			}
			check(t, "pool", p, tc.pool)
			check(t, "load balancer", parent, l)
			if monitored != tc.monitored {
				t.Errorf("pool %s: monitored %v, want %v", tc.pool.ID, monitored, tc.monitored)
			}
			p.Name, parent.Name = p.Name+"-x", parent.Name+"-x"
			if err := tx.Pools().Update(ctx, p); err != nil {
				return err
			}
			return tx.LoadBalancers().Update(ctx, parent)
		})
		var p *lb.Pool
		var parent *lb.LoadBalancer
		mustView(t, s, func(tx store.Tx) (err error) {
			if p, err = tx.Pools().Get(ctx, tc.pool.ID); err != nil {
				return err
			}
			parent, err = tx.LoadBalancers().Get(ctx, l.ID)
			return err
		})
		wantPool := *tc.pool
		wantPool.Name += "-x"
		check(t, "pool written back", p, &wantPool)
		l.Name += "-x"
		check(t, "load balancer written back", parent, l)
	}

	err := s.View(ctx, func(tx store.Tx) error {
		_, _, _, err := tx.LockPool(ctx, id("00000002", 3))
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LockPool of a missing pool: %v, want ErrNotFound", err)
	}
}
