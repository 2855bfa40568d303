package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// testUpdatesInOneTransaction: a row read, then written several times in
// one transaction ends as last written, each time with every field; a row
// changed underneath by a cascade is written whole again (a backend that
// writes only the columns it sees change must not trust what it read
// before the cascade).
func testUpdatesInOneTransaction(t *testing.T, s store.Store) {
	ctx := context.Background()
	l, lis, pool, _, _, _, _ := createGraph(t, s)

	// Read, change, write; change back, write again; change two fields.
	mustUpdate(t, s, func(tx store.Tx) error {
		got, err := tx.LoadBalancers().Lock(ctx, l.ID)
		if err != nil {
			return err
		}
		name := got.Name
		got.Name = "renamed"
		if err := tx.LoadBalancers().Update(ctx, got); err != nil {
			return err
		}
		got.Name = name
		if err := tx.LoadBalancers().Update(ctx, got); err != nil {
			return err
		}
		got.Description, got.Status.Provisioning = "second", lb.PendingUpdate
		if err := tx.LoadBalancers().Update(ctx, got); err != nil {
			return err
		}
		// Written with nothing changed: still an update of an existing row.
		return tx.LoadBalancers().Update(ctx, got)
	})
	want := *l
	want.Description, want.Status.Provisioning = "second", lb.PendingUpdate
	var got *lb.LoadBalancer
	mustView(t, s, func(tx store.Tx) (err error) { got, err = tx.LoadBalancers().Get(ctx, l.ID); return err })
	check(t, "load balancer written three times", got, &want)

	// A listener read before its default pool is deleted (the store sets
	// its default_pool_id to NULL) and written back unchanged names a pool
	// that no longer exists: refused, as a write of every column is.
	err := s.Update(ctx, func(tx store.Tx) error {
		x, err := tx.Listeners().Get(ctx, lis.ID)
		if err != nil {
			return err
		}
		if x.DefaultPoolID != pool.ID {
			t.Fatalf("listener's default pool %q, want %q", x.DefaultPoolID, pool.ID)
		}
		if _, err := tx.Members().DeleteWhere(ctx, store.F("pool_id", pool.ID)); err != nil {
			return err
		}
		if _, err := tx.HealthMonitors().DeleteWhere(ctx, store.F("pool_id", pool.ID)); err != nil {
			return err
		}
		if _, err := tx.L7Policies().DeleteWhere(ctx, store.F("redirect_pool_id", pool.ID)); err != nil {
			return err
		}
		if err := tx.Pools().Delete(ctx, pool.ID); err != nil {
			return err
		}
		return tx.Listeners().Update(ctx, x)
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("listener written back with its deleted default pool: %v, want ErrConflict", err)
	}

	// A row deleted in the transaction is not found by Update.
	err = s.Update(ctx, func(tx store.Tx) error {
		x, err := tx.Pools().Get(ctx, pool.ID)
		if err != nil {
			return err
		}
		if _, err := tx.Members().DeleteWhere(ctx, store.F("pool_id", pool.ID)); err != nil {
			return err
		}
		if _, err := tx.HealthMonitors().DeleteWhere(ctx, store.F("pool_id", pool.ID)); err != nil {
			return err
		}
		if _, err := tx.L7Policies().DeleteWhere(ctx, store.F("redirect_pool_id", pool.ID)); err != nil {
			return err
		}
		if err := tx.Pools().Delete(ctx, pool.ID); err != nil {
			return err
		}
		x.Name = "gone"
		return tx.Pools().Update(ctx, x)
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a pool deleted in the transaction: %v, want ErrNotFound", err)
	}
}

func mustView(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}
