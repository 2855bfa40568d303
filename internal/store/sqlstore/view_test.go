package sqlstore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/store"
)

// watchedCtx counts how often its Done channel is asked for: database/sql
// and the driver ask for it to watch a cancellable context, with a
// goroutine, at every statement.
type watchedCtx struct {
	context.Context
	dones atomic.Int64
}

func (c *watchedCtx) Done() <-chan struct{} {
	c.dones.Add(1)
	return c.Context.Done()
}

// TestViewStatementsDetached: the statements of a SQLite read transaction
// do not watch their caller's context (a goroutine per statement for
// reads of microseconds), whatever their number; a caller whose context
// ends still fails at its next statement, and a View begun with an ended
// context fails.
func TestViewStatementsDetached(t *testing.T) {
	s := groupOpen(t, "")
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Update(base, func(tx store.Tx) error { return tx.LoadBalancers().Create(base, groupLB("lb-1")) }); err != nil {
		t.Fatal(err)
	}
	const statements = 50
	ctx := &watchedCtx{Context: base}
	if err := s.View(ctx, func(tx store.Tx) error {
		for range statements {
			if _, err := tx.LoadBalancers().Get(ctx, "lb-1"); err != nil {
				return err
			}
			if _, err := tx.LoadBalancers().List(ctx, store.Query{}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := ctx.dones.Load(); n > 5 {
		t.Errorf("a read transaction of %d statements watched its context %d times, want a few at most (not one per statement)", 2*statements, n)
	}

	err := s.View(base, func(tx store.Tx) error {
		if _, err := tx.LoadBalancers().Get(base, "lb-1"); err != nil {
			return err
		}
		cancel()
		_, err := tx.LoadBalancers().Get(base, "lb-1")
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("a statement after its caller's context ended: %v, want context.Canceled", err)
	}
	if err := s.View(base, func(store.Tx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("a View begun with an ended context: %v, want context.Canceled", err)
	}
}
