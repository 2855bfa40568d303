package storetest

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/store"
)

func lease(t *testing.T, s store.Store, fn func(store.LeaseTable) (store.Lease, error)) store.Lease {
	t.Helper()
	var out store.Lease
	mustUpdate(t, s, func(tx store.Tx) error {
		var err error
		out, err = fn(tx.Leases())
		return err
	})
	return out
}

// waitExpired polls lease name until its term has ended (a bounded wait
// on the store's own clock).
func waitExpired(t *testing.T, s store.Store, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var l store.Lease
		if err := s.View(context.Background(), func(tx store.Tx) error {
			var err error
			l, err = tx.Leases().Get(context.Background(), name)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if l.Left <= 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease %s still has %s left after 10 s", name, l.Left)
		}
	}
}

func testLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	acquire := func(holder string, ttl time.Duration) store.Lease {
		return lease(t, s, func(l store.LeaseTable) (store.Lease, error) { return l.Acquire(ctx, "control", holder, ttl) })
	}
	check := func(holder string, epoch int64) error {
		return s.Update(ctx, func(tx store.Tx) error { return tx.Leases().Check(ctx, "control", holder, epoch) })
	}
	if l := lease(t, s, func(l store.LeaseTable) (store.Lease, error) { return l.Get(ctx, "control") }); l.Holder != "" || l.Epoch != 0 || l.Held("a") {
		t.Fatalf("a lease never taken: %+v", l)
	}
	a := acquire("a", time.Minute)
	if !a.Held("a") || a.Epoch != 1 || a.Left != time.Minute {
		t.Fatalf("first acquire: %+v", a)
	}
	if b := acquire("b", time.Minute); b.Held("b") || b.Holder != "a" || b.Epoch != 1 || b.Left <= 0 {
		t.Fatalf("acquire of a lease another holds: %+v, want a's term", b)
	}
	if again := acquire("a", time.Minute); !again.Held("a") || again.Epoch != 1 {
		t.Fatalf("renewal: %+v, want the same epoch", again)
	}
	if err := check("a", 1); err != nil {
		t.Fatalf("check of the holder: %v", err)
	}
	for _, c := range []struct {
		holder string
		epoch  int64
	}{{"b", 1}, {"a", 2}, {"a", 0}} {
		if err := check(c.holder, c.epoch); !errors.Is(err, store.ErrLeaseLost) {
			t.Errorf("check %s at epoch %d: %v, want ErrLeaseLost", c.holder, c.epoch, err)
		}
	}
	// Released: another holder takes it at once, in a new term.
	lease(t, s, func(l store.LeaseTable) (store.Lease, error) { return store.Lease{}, l.Release(ctx, "control", "b") })
	if err := check("a", 1); err != nil {
		t.Fatalf("a release by a non-holder changed the lease: %v", err)
	}
	lease(t, s, func(l store.LeaseTable) (store.Lease, error) { return store.Lease{}, l.Release(ctx, "control", "a") })
	b := acquire("b", 50*time.Millisecond)
	if !b.Held("b") || b.Epoch != 2 {
		t.Fatalf("acquire after release: %+v, want b at epoch 2", b)
	}
	if err := check("a", 1); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("the former holder's check: %v, want ErrLeaseLost", err)
	}
	// Expired: another takes it in a new term; the holder whose term
	// ended gets a new epoch too if it takes it back.
	waitExpired(t, s, "control")
	if err := check("b", 2); err != nil {
		t.Fatalf("an expired lease nobody took: the holder's check: %v", err)
	}
	if c := acquire("c", time.Minute); !c.Held("c") || c.Epoch != 3 {
		t.Fatalf("acquire of an expired lease: %+v, want c at epoch 3", c)
	}
	lease(t, s, func(l store.LeaseTable) (store.Lease, error) { return store.Lease{}, l.Release(ctx, "control", "c") })
	c := acquire("c", 50*time.Millisecond)
	waitExpired(t, s, "control")
	if c2 := acquire("c", time.Minute); c2.Epoch != c.Epoch+1 {
		t.Fatalf("re-acquire after the holder's own term expired: epoch %d, want %d", c2.Epoch, c.Epoch+1)
	}
	if l := lease(t, s, func(l store.LeaseTable) (store.Lease, error) { return l.Acquire(ctx, "other", "a", time.Minute) }); l.Epoch != 1 {
		t.Fatalf("leases are independent by name: %+v", l)
	}
}

// testLeaseFence: a transaction that checked the lease commits before
// another holder's term begins; its later checks fail.
func testLeaseFence(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := lease(t, s, func(l store.LeaseTable) (store.Lease, error) {
		return l.Acquire(ctx, "control", "a", 100*time.Millisecond)
	})
	waitExpired(t, s, "control")
	var committed atomic.Bool
	checked := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx store.Tx) error {
			if err := tx.Leases().Check(ctx, "control", "a", a.Epoch); err != nil {
				return err
			}
			close(checked)
			// Hold the transaction open: a takeover must wait for it.
			time.Sleep(200 * time.Millisecond)
			committed.Store(true)
			return nil
		})
	}()
	<-checked
	b := lease(t, s, func(l store.LeaseTable) (store.Lease, error) { return l.Acquire(ctx, "control", "b", time.Minute) })
	if !committed.Load() {
		t.Error("another holder's term began while a transaction of the former holder that checked the lease was open")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !b.Held("b") || b.Epoch != a.Epoch+1 {
		t.Fatalf("takeover: %+v", b)
	}
	err := s.Update(ctx, func(tx store.Tx) error { return tx.Leases().Check(ctx, "control", "a", a.Epoch) })
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("the deposed holder's check: %v, want ErrLeaseLost", err)
	}
}

func testPublications(t *testing.T, s store.Store) {
	ctx := context.Background()
	view := func(fn func(p store.PublicationTable) error) {
		t.Helper()
		if err := s.View(ctx, func(tx store.Tx) error { return fn(tx.Publications()) }); err != nil {
			t.Fatal(err)
		}
	}
	view(func(p store.PublicationTable) error {
		if _, err := p.Head(ctx, "agent-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("head of an agent never published: %v", err)
		}
		if done, err := p.Complete(ctx); err != nil || done {
			t.Errorf("complete before MarkComplete: %v %v", done, err)
		}
		return nil
	})
	mustUpdate(t, s, func(tx store.Tx) error {
		p := tx.Publications()
		h, err := p.LockHead(ctx, "agent-1")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(h, &store.AgentConfig{AgentID: "agent-1"}) {
			t.Errorf("new head: %+v", h)
		}
		for i, lbID := range []string{"lb-b", "lb-a", "lb-c"} {
			if err := p.PutFragment(ctx, &store.Fragment{AgentID: "agent-1", LoadBalancerID: lbID, Generation: int64(i + 1),
				Version: uint64(10 + i), Config: []byte(`{"n":` + string(rune('0'+i)) + `}`)}); err != nil {
				return err
			}
		}
		// A withdrawal, and another agent's fragment.
		if err := p.PutFragment(ctx, &store.Fragment{AgentID: "agent-1", LoadBalancerID: "lb-c", Generation: 3, Version: 13}); err != nil {
			return err
		}
		if err := p.PutFragment(ctx, &store.Fragment{AgentID: "agent-2", LoadBalancerID: "lb-a", Generation: 1, Version: 5, Config: []byte("{}")}); err != nil {
			return err
		}
		h.Version, h.Applied = 13, 12
		h.Refused = []store.Refusal{{LoadBalancerID: "lb-a", Version: 12, Reason: "port in use"}}
		h.Contract = 2
		if err := p.PutHead(ctx, h); err != nil {
			return err
		}
		return p.MarkComplete(ctx, base)
	})
	view(func(p store.PublicationTable) error {
		h, err := p.Head(ctx, "agent-1")
		if err != nil {
			return err
		}
		want := &store.AgentConfig{AgentID: "agent-1", Version: 13, Applied: 12, Refused: []store.Refusal{{LoadBalancerID: "lb-a", Version: 12, Reason: "port in use"}},
			Contract: 2}
		if !reflect.DeepEqual(h, want) {
			t.Errorf("head:\n got  %+v\n want %+v", h, want)
		}
		fs, err := p.Fragments(ctx, "agent-1", 10)
		if err != nil {
			return err
		}
		got := map[string]uint64{}
		var order []string
		for _, f := range fs {
			got[f.LoadBalancerID] = f.Version
			order = append(order, f.LoadBalancerID)
			if f.LoadBalancerID == "lb-c" && f.Config != nil {
				t.Errorf("a withdrawal read back with a config: %q", f.Config)
			}
		}
		if !reflect.DeepEqual(order, []string{"lb-a", "lb-c"}) || got["lb-a"] != 11 || got["lb-c"] != 13 {
			t.Errorf("fragments after version 10: %v %v, want lb-a@11, lb-c@13 (withdrawn)", order, got)
		}
		f, err := p.Fragment(ctx, "agent-1", "lb-b")
		if err != nil {
			return err
		}
		if want := (&store.Fragment{AgentID: "agent-1", LoadBalancerID: "lb-b", Generation: 1, Version: 10, Config: []byte(`{"n":0}`)}); !reflect.DeepEqual(f, want) {
			t.Errorf("fragment: %+v, want %+v", f, want)
		}
		if _, err := p.Fragment(ctx, "agent-2", "lb-b"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing fragment: %v", err)
		}
		if done, err := p.Complete(ctx); err != nil || !done {
			t.Errorf("complete after MarkComplete: %v %v", done, err)
		}
		hs, err := p.Heads(ctx)
		if err != nil || len(hs) != 1 || hs[0].AgentID != "agent-1" {
			t.Errorf("heads: %+v %v", hs, err)
		}
		return nil
	})
	mustUpdate(t, s, func(tx store.Tx) error {
		p := tx.Publications()
		if err := p.RaiseSent(ctx, "agent-1", 12); err != nil {
			return err
		}
		if err := p.RaiseSent(ctx, "agent-1", 11); err != nil {
			return err
		}
		if err := p.RaiseSent(ctx, "agent-9", 11); err != nil {
			return err
		}
		if top, err := p.PruneWithdrawals(ctx, "agent-1", 12); err != nil || top != 0 {
			t.Errorf("prune below the withdrawal: %d %v", top, err)
		}
		if top, err := p.PruneWithdrawals(ctx, "agent-1", 13); err != nil || top != 13 {
			t.Errorf("prune: %d %v, want 13", top, err)
		}
		return nil
	})
	view(func(p store.PublicationTable) error {
		h, err := p.Head(ctx, "agent-1")
		if err != nil {
			return err
		}
		if h.Sent != 12 {
			t.Errorf("sent %d, want 12 (raised to 12, then not lowered)", h.Sent)
		}
		if _, err := p.Head(ctx, "agent-9"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RaiseSent made a head: %v", err)
		}
		if _, err := p.Fragment(ctx, "agent-1", "lb-c"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("pruned withdrawal: %v", err)
		}
		if fs, _ := p.Fragments(ctx, "agent-1", 0); len(fs) != 2 {
			t.Errorf("pruning removed live fragments: %d left, want 2", len(fs))
		}
		return nil
	})
}

func testSealedKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	k1 := &store.SealedKey{Ring: "token", Num: 1, Sealed: []byte{0, 1, 2, 255}, CreatedAt: base}
	k2 := &store.SealedKey{Ring: "token", Num: 2, Sealed: []byte("two"), CreatedAt: base.Add(time.Hour)}
	other := &store.SealedKey{Ring: "ca", Num: 1, Sealed: []byte("ca"), CreatedAt: base}
	mustUpdate(t, s, func(tx store.Tx) error {
		return errors.Join(tx.SealedKeys().Create(ctx, k2), tx.SealedKeys().Create(ctx, k1), tx.SealedKeys().Create(ctx, other))
	})
	err := s.Update(ctx, func(tx store.Tx) error {
		return tx.SealedKeys().Create(ctx, &store.SealedKey{Ring: "token", Num: 2, Sealed: []byte("x"), CreatedAt: base})
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a second key 2: %v, want ErrConflict", err)
	}
	_ = s.View(ctx, func(tx store.Tx) error {
		got, err := tx.SealedKeys().List(ctx, "token")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, []*store.SealedKey{k1, k2}) {
			t.Errorf("ring: %+v", got)
		}
		all, err := tx.SealedKeys().List(ctx, "")
		if err != nil || len(all) != 3 {
			t.Errorf("every ring: %d keys, %v", len(all), err)
		}
		return nil
	})
	mustUpdate(t, s, func(tx store.Tx) error {
		return errors.Join(tx.SealedKeys().Delete(ctx, "token", 1), tx.SealedKeys().Delete(ctx, "token", 7))
	})
	_ = s.View(ctx, func(tx store.Tx) error {
		if got, _ := tx.SealedKeys().List(ctx, "token"); len(got) != 1 || got[0].Num != 2 {
			t.Errorf("after delete: %+v", got)
		}
		return nil
	})
}

// testNotifications: a transaction's notifications reach listeners when
// it commits and never when it rolls back; Notify sends at once.
func testNotifications(t *testing.T, s store.Store) {
	b, ok := s.(store.Broadcaster)
	if !ok {
		t.Fatal("the store is no store.Broadcaster")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := b.Listen(ctx, "alpha", "beta")
	if err != nil {
		t.Fatal(err)
	}
	next := func() store.Notification {
		t.Helper()
		select {
		case n := <-ch:
			return n
		case <-time.After(10 * time.Second):
			t.Fatal("no notification within 10 s")
		}
		return store.Notification{}
	}
	boom := errors.New("boom")
	if err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Notify(ctx, "alpha", "rolled back"); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	mustUpdate(t, s, func(tx store.Tx) error {
		return errors.Join(tx.Notify(ctx, "gamma", "not listened to"), tx.Notify(ctx, "alpha", "one"), tx.Notify(ctx, "beta", "two"))
	})
	if err := b.Notify(ctx, "alpha", "three", "four"); err != nil {
		t.Fatal(err)
	}
	var got []store.Notification
	for range 4 {
		got = append(got, next())
	}
	want := []store.Notification{{Channel: "alpha", Payload: "one"}, {Channel: "beta", Payload: "two"}, {Channel: "alpha", Payload: "three"}, {Channel: "alpha", Payload: "four"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("notifications:\n got  %+v\n want %+v", got, want)
	}
	cancel()
	for range ch {
	}
}
