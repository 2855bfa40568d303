package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// TestBackupKeepsASecretKeyRotatedAwayDuringIt: a secret key that
// rotate-secret-key removes after the database was copied (which may still
// need it) is in the backup, and a restore gives it back.
func TestBackupKeepsASecretKeyRotatedAwayDuringIt(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dataDir, "fulcrum.db")})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	keys := filepath.Join(dataDir, "keys", "secrets")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"1": "b2xkLWtleQ==\n", "2": "bmV3LWtleQ==\n"} {
		if err := os.WriteFile(filepath.Join(keys, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	to := filepath.Join(t.TempDir(), "b.backup")
	if _, err := writeBackupThen(ctx, dataDir, to, func() {
		if err := os.Remove(filepath.Join(keys, "1")); err != nil {
			t.Fatal(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if _, err := restoreBackup(ctx, to, restored); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"1": "b2xkLWtleQ==\n", "2": "bmV3LWtleQ==\n"} {
		got, err := os.ReadFile(filepath.Join(restored, "keys", "secrets", name))
		if err != nil || string(got) != want {
			t.Errorf("restored keys/secrets/%s: %q %v, want %q", name, got, err, want)
		}
		if fi, err := os.Stat(filepath.Join(restored, "keys", "secrets", name)); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("restored keys/secrets/%s has mode %v", name, fi.Mode().Perm())
		}
	}
}
