package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/keystore"
	"github.com/fulcrumlb/fulcrum/internal/secrets/barbican"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// rotateFixture is a store holding secrets sealed by a ring's keys.
type rotateFixture struct {
	st    store.Store
	ring  keystore.Ring
	plain map[string][]byte // by secret id; nil: no payload
}

func newRotateFixture(t *testing.T, sealed bool) *rotateFixture {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(dir, "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var ring keystore.Ring
	if sealed {
		mk, err := keystore.NewMasterKey(bytes.Repeat([]byte{7}, keystore.MasterKeySize))
		if err != nil {
			t.Fatal(err)
		}
		ring = keystore.Sealed(st, mk, "secrets")
	} else if ring, err = keystore.Dir(filepath.Join(dir, "keys")); err != nil {
		t.Fatal(err)
	}
	return &rotateFixture{st: st, ring: ring, plain: map[string][]byte{}}
}

// add stores n secrets sealed with kr's primary key (and one without a
// payload).
func (f *rotateFixture) add(t *testing.T, kr *KeyRing, n int) {
	t.Helper()
	ctx := context.Background()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range n + 1 {
		s := &barbican.Secret{ID: fmt.Sprintf("s-%d-%d", len(f.plain), i), ProjectID: "p1", Type: "opaque", CreatedAt: created, UpdatedAt: created}
		var plain []byte
		if i < n {
			plain = []byte(fmt.Sprintf("payload %s", s.ID))
			sealed, err := kr.Seal(plain, []byte(s.ID))
			if err != nil {
				t.Fatal(err)
			}
			s.Payload, s.ContentType = sealed, "text/plain"
		}
		if err := f.st.Update(ctx, func(tx store.Tx) error { return tx.Secrets().Create(ctx, s) }); err != nil {
			t.Fatal(err)
		}
		f.plain[s.ID] = plain
	}
}

// check opens every secret with a ring read afresh, and returns the key
// numbers the payloads are sealed with and the ring's key numbers.
func (f *rotateFixture) check(t *testing.T) (used, ring []int) {
	t.Helper()
	ctx := context.Background()
	kr, err := OpenKeyRingIn(f.ring)
	if err != nil {
		t.Fatal(err)
	}
	var all []*barbican.Secret
	if err := f.st.View(ctx, func(tx store.Tx) error {
		all, err = tx.Secrets().List(ctx, store.Query{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(all) != len(f.plain) {
		t.Fatalf("%d secrets, want %d", len(all), len(f.plain))
	}
	for _, s := range all {
		if !s.UpdatedAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Errorf("secret %s: updated_at moved to %v", s.ID, s.UpdatedAt)
		}
		if s.Payload == nil {
			if f.plain[s.ID] != nil {
				t.Errorf("secret %s lost its payload", s.ID)
			}
			continue
		}
		got, err := kr.Open(s.Payload, []byte(s.ID))
		if err != nil || !bytes.Equal(got, f.plain[s.ID]) {
			t.Errorf("secret %s: %q, %v; want %q", s.ID, got, err, f.plain[s.ID])
		}
		if !slices.Contains(used, s.Payload.KeyID) {
			used = append(used, s.Payload.KeyID)
		}
	}
	keys, err := f.ring.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		ring = append(ring, k.Num)
	}
	slices.Sort(used)
	return used, ring
}

var quick = RotateOptions{Settle: time.Millisecond, settleFloor: time.Millisecond}

func TestRotateKeysResealsEverythingAndRetiresTheOldKey(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		t.Run(fmt.Sprintf("sealed=%v", sealed), func(t *testing.T) {
			ctx := context.Background()
			f := newRotateFixture(t, sealed)
			kr, err := OpenKeyRingIn(f.ring)
			if err != nil {
				t.Fatal(err)
			}
			f.add(t, kr, 5)
			res, err := RotateKeys(ctx, f.st, f.ring, quick)
			if err != nil {
				t.Fatal(err)
			}
			if res.Key != 2 || res.Resumed || res.Resealed != 5 || !slices.Equal(res.Retired, []int{1}) {
				t.Fatalf("result %+v, want key 2, 5 resealed, key 1 retired", res)
			}
			if used, ring := f.check(t); !slices.Equal(used, []int{2}) || !slices.Equal(ring, []int{2}) {
				t.Fatalf("payloads under keys %v, ring %v; want [2] and [2]", used, ring)
			}
			// The ring a running server opened before the rotation seals
			// with the new key once its view is KeyRefresh old, and opens
			// what the rotation sealed.
			deadline := time.Now().Add(3 * KeyRefresh)
			for {
				s, err := kr.Seal([]byte("x"), []byte("id"))
				if err != nil {
					t.Fatal(err)
				}
				if s.KeyID == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a running ring still seals with key %d after %v", s.KeyID, 3*KeyRefresh)
				}
				time.Sleep(50 * time.Millisecond)
			}
			f.add(t, kr, 2)
			// Again: a second rotation adds key 3.
			res, err = RotateKeys(ctx, f.st, f.ring, quick)
			if err != nil {
				t.Fatal(err)
			}
			if res.Key != 3 || res.Resealed != 7 || !slices.Equal(res.Retired, []int{2}) {
				t.Fatalf("second rotation %+v", res)
			}
			if used, ring := f.check(t); !slices.Equal(used, []int{3}) || !slices.Equal(ring, []int{3}) {
				t.Fatalf("payloads under keys %v, ring %v; want [3] and [3]", used, ring)
			}
		})
	}
}

func TestRotateKeysInterruptedConvergesOnRerun(t *testing.T) {
	ctx := context.Background()
	f := newRotateFixture(t, false)
	kr, err := OpenKeyRingIn(f.ring)
	if err != nil {
		t.Fatal(err)
	}
	f.add(t, kr, 6)
	crash := errors.New("killed")
	for _, stopAt := range []int{0, 3} {
		n := 0
		opts := quick
		opts.beforeReseal = func(string) error {
			if n == stopAt {
				return crash
			}
			n++
			return nil
		}
		if _, err := RotateKeys(ctx, f.st, f.ring, opts); !errors.Is(err, crash) {
			t.Fatalf("stop at %d: err %v, want the injected failure", stopAt, err)
		}
		// Stopped anywhere, every payload opens and no key was removed.
		used, ring := f.check(t)
		if !slices.Equal(ring, []int{1, 2}) {
			t.Fatalf("stop at %d: ring %v, want [1 2]", stopAt, ring)
		}
		t.Logf("stopped at %d: payloads under %v", stopAt, used)
	}
	res, err := RotateKeys(ctx, f.st, f.ring, quick)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.Key != 2 || res.Resealed != 3 || !slices.Equal(res.Retired, []int{1}) {
		t.Fatalf("rerun %+v, want the rotation to key 2 resumed: 3 left to reseal, key 1 retired", res)
	}
	if used, ring := f.check(t); !slices.Equal(used, []int{2}) || !slices.Equal(ring, []int{2}) {
		t.Fatalf("payloads under keys %v, ring %v; want [2] and [2]", used, ring)
	}
}

func TestRotateKeysRefuses(t *testing.T) {
	ctx := context.Background()
	t.Run("empty ring", func(t *testing.T) {
		f := newRotateFixture(t, false)
		if _, err := RotateKeys(ctx, f.st, f.ring, quick); err == nil {
			t.Fatal("rotated a ring without keys")
		}
	})
	t.Run("settle too short", func(t *testing.T) {
		f := newRotateFixture(t, false)
		if _, err := OpenKeyRingIn(f.ring); err != nil {
			t.Fatal(err)
		}
		if _, err := RotateKeys(ctx, f.st, f.ring, RotateOptions{Settle: time.Second}); err == nil {
			t.Fatal("accepted a settle below MinSettle")
		}
	})
	t.Run("payload no key opens", func(t *testing.T) {
		f := newRotateFixture(t, false)
		kr, err := OpenKeyRingIn(f.ring)
		if err != nil {
			t.Fatal(err)
		}
		f.add(t, kr, 2)
		orphan := &barbican.Secret{ID: "orphan", ProjectID: "p1", Type: "opaque", Payload: &barbican.Sealed{KeyID: 9, Data: make([]byte, 40)}}
		if err := f.st.Update(ctx, func(tx store.Tx) error { return tx.Secrets().Create(ctx, orphan) }); err != nil {
			t.Fatal(err)
		}
		if _, err := RotateKeys(ctx, f.st, f.ring, quick); err == nil {
			t.Fatal("rotated past a payload no key opens")
		}
		keys, err := f.ring.Load(ctx)
		if err != nil || len(keys) != 2 || keys[0].Num != 1 {
			t.Fatalf("ring after the refusal: %v %v, want keys 1 and 2 kept", keys, err)
		}
	})
}
