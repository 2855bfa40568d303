package compat_test

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/store/pgtest"
)

// startPostgresServer is startServer on a private PostgreSQL, with the
// keys the servers share sealed there by a master key.
func startPostgresServer(t *testing.T, extra ...string) *server {
	t.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	key := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(key, []byte(base64.StdEncoding.EncodeToString(raw)), 0o600); err != nil {
		t.Fatal(err)
	}
	db := pgtest.Start(t).NewDatabaseURL(t)
	return startServer(t, append([]string{"--database", db, "--master-key-file", key}, extra...)...)
}

// TestGophercloudAcceptancePostgres is TestGophercloudAcceptance against a
// server whose store is PostgreSQL.
func TestGophercloudAcceptancePostgres(t *testing.T) {
	gophercloudRun(t, startPostgresServer(t, "--auth", "keystone", "--network", "noop"), "", gophercloudExpected)
}

// TestOpenstackCLIPasswordModePostgres is TestOpenstackCLIPasswordMode
// against a server whose store is PostgreSQL.
func TestOpenstackCLIPasswordModePostgres(t *testing.T) {
	openstackCLIPasswordMode(t, startPostgresServer(t, append([]string{"--auth", "keystone"}, loopbackMembers...)...))
}
