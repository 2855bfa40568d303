package keystore_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/keystore"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/pgtest"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// TestReseal: every ring's keys move to the new master key in one
// transaction; the old one then opens nothing, a rerun changes nothing, and
// a third key that opens none of them changes nothing either.
func TestReseal(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			st := openStore(t)
			if backend == "postgres" {
				pg := pgtest.Start(t)
				var err error
				if st, err = sqlstore.Open(ctx, sqlstore.Options{Driver: "postgres", DSN: pg.NewDatabase(t)}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.(*sqlstore.Store).Close() })
			}
			old, next, other := master(t, 1), master(t, 2), master(t, 3)
			want := map[string][]byte{}
			for _, ring := range []string{"token", "secrets", "agent-ca"} {
				for num := 1; num <= 2; num++ {
					material := bytes.Repeat([]byte(ring[:1]), 10+num)
					if err := keystore.Sealed(st, old, ring).Add(ctx, keystore.Key{Num: num, Material: material}); err != nil {
						t.Fatal(err)
					}
					want[ring+string(rune('0'+num))] = material
				}
			}
			// A server given the new key with the old one as previous opens
			// the keys before the move, and after it.
			both := next.WithPrevious(old)
			if keys, err := keystore.Sealed(st, both, "token").Load(ctx); err != nil || len(keys) != 2 {
				t.Fatalf("before the move, new+previous: %v %v", keys, err)
			}
			if _, _, err := keystore.Reseal(ctx, st, old, both); err != nil {
				t.Fatalf("reseal to new+previous: %v", err)
			}
			if _, err := keystore.Sealed(st, old, "token").Load(ctx); !errors.Is(err, keystore.ErrWrongMasterKey) {
				t.Fatalf("the old key still opens after a move to new+previous: %v", err)
			}
			if _, _, err := keystore.Reseal(ctx, st, next, old); err != nil {
				t.Fatalf("move back: %v", err)
			}
			if _, _, err := keystore.Reseal(ctx, st, other, next); !errors.Is(err, keystore.ErrWrongMasterKey) {
				t.Fatalf("reseal with a key that opens nothing: %v, want ErrWrongMasterKey", err)
			}
			n, already, err := keystore.Reseal(ctx, st, old, next)
			if err != nil || n != 6 || already != 0 {
				t.Fatalf("reseal: %d resealed, %d already, %v; want 6, 0", n, already, err)
			}
			for _, ring := range []string{"token", "secrets", "agent-ca"} {
				keys, err := keystore.Sealed(st, next, ring).Load(ctx)
				if err != nil || len(keys) != 2 {
					t.Fatalf("ring %s under the new key: %v %v", ring, keys, err)
				}
				for _, k := range keys {
					if !bytes.Equal(k.Material, want[ring+string(rune('0'+k.Num))]) {
						t.Errorf("ring %s key %d: %q", ring, k.Num, k.Material)
					}
				}
				if _, err := keystore.Sealed(st, old, ring).Load(ctx); !errors.Is(err, keystore.ErrWrongMasterKey) {
					t.Errorf("ring %s still opens with the old key: %v", ring, err)
				}
			}
			n, already, err = keystore.Reseal(ctx, st, old, next)
			if err != nil || n != 0 || already != 6 {
				t.Fatalf("rerun: %d resealed, %d already, %v; want 0, 6", n, already, err)
			}
			var rows []*store.SealedKey
			if err := st.View(ctx, func(tx store.Tx) error {
				rows, err = tx.SealedKeys().List(ctx, "")
				return err
			}); err != nil || len(rows) != 6 {
				t.Fatalf("rows after the rerun: %d %v", len(rows), err)
			}
		})
	}
}
