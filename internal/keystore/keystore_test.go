package keystore_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/keystore"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "fulcrum.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func master(t *testing.T, b byte) *keystore.MasterKey {
	t.Helper()
	m, err := keystore.NewMasterKey(bytes.Repeat([]byte{b}, keystore.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRings: both kinds of ring add, refuse a taken number, load by
// number and remove.
func TestRings(t *testing.T) {
	ctx := context.Background()
	dir, err := keystore.Dir(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	for name, ring := range map[string]keystore.Ring{"dir": dir, "sealed": keystore.Sealed(openStore(t), master(t, 1), "token")} {
		t.Run(name, func(t *testing.T) {
			for _, n := range []int{2, 1, 10} {
				if err := ring.Add(ctx, keystore.Key{Num: n, Material: []byte{byte(n), 0, 255}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := ring.Add(ctx, keystore.Key{Num: 2, Material: []byte("other")}); !errors.Is(err, keystore.ErrExists) {
				t.Fatalf("second key 2: %v, want ErrExists", err)
			}
			keys, err := ring.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var nums []int
			for _, k := range keys {
				nums = append(nums, k.Num)
				if !bytes.Equal(k.Material, []byte{byte(k.Num), 0, 255}) || k.Created.IsZero() {
					t.Errorf("key %d: %v created %v", k.Num, k.Material, k.Created)
				}
			}
			if len(nums) != 3 || nums[0] != 1 || nums[1] != 2 || nums[2] != 10 {
				t.Fatalf("numbers %v, want 1 2 10", nums)
			}
			if err := ring.Remove(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if err := ring.Remove(ctx, 1); err != nil {
				t.Fatalf("removing a removed key: %v", err)
			}
			if keys, _ := ring.Load(ctx); len(keys) != 2 {
				t.Fatalf("%d keys after a removal, want 2", len(keys))
			}
		})
	}
}

func TestDirRingRefusesKeysOthersMayRead(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys")
	ring, _ := keystore.Dir(path)
	if err := ring.Add(ctx, keystore.Key{Num: 1, Material: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(path, "1")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want mode 0600", fi, err)
	}
	os.Chmod(filepath.Join(path, "1"), 0o640)
	if _, err := ring.Load(ctx); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a key group may read: %v", err)
	}
}

// TestSealedRingNeedsTheMasterKey: rows are sealed (the material is not
// in the database), open only with the same master key, and only as the
// ring and number they were sealed for.
func TestSealedRingNeedsTheMasterKey(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	secret := []byte("the token key material 123456789")
	if err := keystore.Sealed(st, master(t, 1), "token").Add(ctx, keystore.Key{Num: 1, Material: secret}); err != nil {
		t.Fatal(err)
	}
	var rows []*store.SealedKey
	_ = st.View(ctx, func(tx store.Tx) error {
		var err error
		rows, err = tx.SealedKeys().List(ctx, "")
		return err
	})
	if len(rows) != 1 || bytes.Contains(rows[0].Sealed, secret) {
		t.Fatalf("rows %+v: want one sealed row without the material", rows)
	}
	if _, err := keystore.Sealed(st, master(t, 2), "token").Load(ctx); !errors.Is(err, keystore.ErrWrongMasterKey) {
		t.Fatalf("another master key: %v, want ErrWrongMasterKey", err)
	}
	// The same row passed off as another ring's key does not open.
	if err := st.Update(ctx, func(tx store.Tx) error {
		return tx.SealedKeys().Create(ctx, &store.SealedKey{Ring: "secrets", Num: 1, Sealed: rows[0].Sealed, CreatedAt: rows[0].CreatedAt})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := keystore.Sealed(st, master(t, 1), "secrets").Load(ctx); !errors.Is(err, keystore.ErrWrongMasterKey) {
		t.Fatalf("a key moved to another ring: %v, want ErrWrongMasterKey", err)
	}
	keys, err := keystore.Sealed(st, master(t, 1), "token").Load(ctx)
	if err != nil || len(keys) != 1 || !bytes.Equal(keys[0].Material, secret) {
		t.Fatalf("the right master key: %v %v", keys, err)
	}
}

func TestLoadMasterKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) + "\n"
	if _, err := keystore.LoadMasterKey(write("ok", good, 0o600)); err != nil {
		t.Fatalf("a good key: %v", err)
	}
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"readable", good, 0o644, "chmod 600"},
		{"group", good, 0o660, "chmod 600"},
		{"short", base64.StdEncoding.EncodeToString([]byte("short")), 0o600, "openssl rand -base64 32"},
		{"not base64", "not base64 at all!", 0o600, "openssl rand -base64 32"},
	} {
		if _, err := keystore.LoadMasterKey(write(tc.name, tc.content, tc.mode)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	if _, err := keystore.LoadMasterKey(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file loaded")
	}
}

// TestOneAgreesUnderConcurrentCreators: servers starting at once on an
// empty ring end up with the same key 1.
func TestOneAgreesUnderConcurrentCreators(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := keystore.One(ctx, keystore.Sealed(st, master(t, 1), "ca"), func() ([]byte, error) { return []byte{byte(i)}, nil })
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = k.Material
		}()
	}
	wg.Wait()
	for i := range got {
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("servers disagree about the key: %v", got)
		}
	}
}

func TestImportCopiesOnlyIntoAnEmptyRing(t *testing.T) {
	ctx := context.Background()
	dir, _ := keystore.Dir(filepath.Join(t.TempDir(), "keys"))
	for n := 1; n <= 3; n++ {
		dir.Add(ctx, keystore.Key{Num: n, Material: []byte{byte(n)}})
	}
	to := keystore.Sealed(openStore(t), master(t, 1), "token")
	if n, err := keystore.Import(ctx, dir, to); err != nil || n != 3 {
		t.Fatalf("import: %d %v, want 3", n, err)
	}
	dir.Add(ctx, keystore.Key{Num: 4, Material: []byte{4}})
	if n, err := keystore.Import(ctx, dir, to); err != nil || n != 0 {
		t.Fatalf("second import: %d %v, want nothing copied", n, err)
	}
	if keys, _ := to.Load(ctx); len(keys) != 3 || keys[2].Material[0] != 3 {
		t.Fatalf("imported: %+v", keys)
	}
}
