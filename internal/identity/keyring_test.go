package identity_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/identity"
	"github.com/fulcrumlb/fulcrum/internal/keystore"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// TestKeyRingSharedThroughTheStore: two servers whose token keys are the
// same sealed ring in the store open each other's tokens; a rotation on
// one is used by the other without a restart (at its next rotation check,
// or when it meets a token of the new key), and both rotating at once
// adds one key.
func TestKeyRingSharedThroughTheStore(t *testing.T) {
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "fulcrum.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mk, _ := keystore.NewMasterKey(bytes.Repeat([]byte{9}, keystore.MasterKeySize))
	c := &clock{t: time.Now().UTC()}
	open := func() *identity.KeyRing {
		k, err := identity.OpenKeyRingIn(keystore.Sealed(st, mk, "token"), 3, c.Now)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a, b := open(), open()
	if a.Primary() != 1 || b.Primary() != 1 {
		t.Fatalf("primaries %d %d: two servers opening an empty ring must agree on one key", a.Primary(), b.Primary())
	}
	tok := &identity.Token{UserID: "u", Methods: []string{"password"}, IssuedAt: c.Now().UnixMicro(), ExpiresAt: c.Now().Add(time.Hour).UnixMicro()}
	sealedA, err := a.Seal(tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(sealedA, c.Now()); err != nil {
		t.Fatalf("b opens a's token: %v", err)
	}
	if err := a.Rotate(); err != nil {
		t.Fatal(err)
	}
	newer, _ := a.Seal(tok)
	c.Add(2 * time.Second) // b re-reads the ring at most once a second
	if _, err := b.Open(newer, c.Now()); err != nil {
		t.Fatalf("b opens a token of the key a rotated in: %v", err)
	}
	c.Add(25 * time.Hour)
	if rotated, err := b.RotateIfOlder(24 * time.Hour); err != nil || !rotated {
		t.Fatalf("b's scheduled rotation: %v %v", rotated, err)
	}
	if rotated, err := a.RotateIfOlder(24 * time.Hour); err != nil || rotated || a.Primary() != b.Primary() {
		t.Fatalf("a right after b rotated: rotated %v, primaries %d %d, %v", rotated, a.Primary(), b.Primary(), err)
	}
	if _, err := a.Open(sealedA, tok.Issued()); err != nil {
		t.Fatalf("the first key is still in the ring of three: %v", err)
	}
}
