package security

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/pgtest"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// opsRotateStore stores n secrets through the Barbican API and returns
// their payloads by href.
func opsRotateStore(t *testing.T, s *session, prefix string, n int) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i := range n {
		payload := fmt.Sprintf("%s secret %d %s", prefix, i, rand.Text())
		r := s.must(t, "POST", "/key-manager/v1/secrets", map[string]any{"name": fmt.Sprintf("%s-%d", prefix, i),
			"payload": payload, "payload_content_type": "text/plain"}, 201)
		out[str(r.body, "secret_ref")] = payload
	}
	return out
}

// opsRotateRead reads every payload back through the Barbican API.
func opsRotateRead(t *testing.T, when string, s *session, want map[string]string) {
	t.Helper()
	for ref, payload := range want {
		u, err := url.Parse(ref)
		if err != nil {
			t.Fatal(err)
		}
		r := s.do(t, "GET", u.Path+"/payload", nil, http.Header{"Accept": {"text/plain"}})
		if r.code != 200 || string(r.raw) != payload {
			t.Fatalf("%s: secret %s: %d %.120q, want its payload", when, ref, r.code, r.raw)
		}
	}
}

// opsRotateKeyFile writes a new master key file (mode 0600) and returns
// its path.
func opsRotateKeyFile(t *testing.T, name string) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(b)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// opsRotateWaitLog waits until the process's output holds want.
func opsRotateWaitLog(t *testing.T, p *servertest.Process, want string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(p.Logs(), want); time.Sleep(50 * time.Millisecond) {
		select {
		case <-p.Done():
			t.Fatalf("exited before %q: %v\n%s", want, p.ExitErr(), p.Logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in 60s:\n%s", want, p.Logs())
		}
	}
}

// TestOpsRotateSecretKeyOnline: on the single-server data directory,
// `fulcrum rotate-secret-key` runs beside the server. Killed after it added
// the new key, it leaves both keys and every payload readable; run again it
// resumes (no third key), seals every payload under the new key and removes
// the old key's file. The running server reads every secret throughout, and
// after a restart.
func TestOpsRotateSecretKeyOnline(t *testing.T) {
	c := newCloud(t)
	dd := c.s.DataDir
	alice := c.user(t, "opsrotate", "opsrotate-alice", "member")
	want := opsRotateStore(t, alice, "before", 4)
	keyDir := filepath.Join(dd, "keys", "secrets")
	files := func() []string {
		entries, err := os.ReadDir(keyDir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	if got := files(); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("key files before: %v, want [1]", got)
	}

	p := servertest.StartProcess(t, bin, "rotate-secret-key", "--data-dir", dd, "--settle", "30s")
	opsRotateWaitLog(t, p, "key 2 added")
	p.Kill()
	if got := files(); !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("key files after the interrupted rotation: %v, want [1 2]", got)
	}
	opsRotateRead(t, "after an interrupted rotation", alice, want)
	for ref, v := range opsRotateStore(t, alice, "during", 2) {
		want[ref] = v
	}

	out, err := servertest.Run(bin, "rotate-secret-key", "--data-dir", dd, "--settle", "5s")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "resuming an unfinished rotation to key 2") || !strings.Contains(out, "key 2 seals every payload") {
		t.Fatalf("rerun output:\n%s", out)
	}
	if got := files(); !slices.Equal(got, []string{"2"}) {
		t.Fatalf("key files after the rotation: %v, want [2] (key 1 removed)", got)
	}
	opsRotateRead(t, "after the rotation, same server", alice, want)

	c.s.Restart()
	alice.base = c.s.URL
	opsRotateRead(t, "after a restart", alice, want)
	for ref, v := range opsRotateStore(t, alice, "after", 1) {
		want[ref] = v
	}
	opsRotateRead(t, "a secret stored after the restart", alice, want)
}

// opsRotateSealedNums returns the key numbers of ring in the database.
func opsRotateSealedNums(t *testing.T, dsn, ring string) []int {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.Options{Driver: "postgres", DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var nums []int
	if err := st.View(ctx, func(tx store.Tx) error {
		rows, err := tx.SealedKeys().List(ctx, ring)
		for _, r := range rows {
			nums = append(nums, r.Num)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return nums
}

// TestOpsRotateKeysPostgres: with the keys sealed in PostgreSQL,
// rotate-secret-key replaces the secrets ring's row; rotate-master-key
// seals every row again under a new master key while a server given the new
// key and the old one as previous keeps serving; afterwards a server given
// only the new key reads every secret and one given the old key does not
// start.
func TestOpsRotateKeysPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabaseURL(t)
	oldKey, newKey := opsRotateKeyFile(t, "old.key"), opsRotateKeyFile(t, "new.key")
	c := newCloud(t, "--database", dsn, "--master-key-file", oldKey)
	dd := c.s.DataDir
	alice := c.user(t, "opsrotate-pg", "opsrotate-bob", "member")
	want := opsRotateStore(t, alice, "pg", 3)
	if got := opsRotateSealedNums(t, dsn, "secrets"); !slices.Equal(got, []int{1}) {
		t.Fatalf("secret keys before: %v", got)
	}

	out, err := servertest.Run(bin, "rotate-secret-key", "--data-dir", dd, "--database", dsn, "--master-key-file", oldKey, "--settle", "5s")
	if err != nil || !strings.Contains(out, "key 2 seals every payload (3 sealed again)") {
		t.Fatalf("rotate-secret-key: %v\n%s", err, out)
	}
	if got := opsRotateSealedNums(t, dsn, "secrets"); !slices.Equal(got, []int{2}) {
		t.Fatalf("secret keys after: %v, want [2]", got)
	}
	opsRotateRead(t, "after rotate-secret-key", alice, want)

	// The roll: the server restarted with the new key, the old one as previous.
	c.s.Kill()
	s := servertest.Start(t, bin, dd, "--database", dsn, "--master-key-file", newKey, "--previous-master-key-file", oldKey)
	alice.base = s.URL
	opsRotateRead(t, "new key with the old as previous, before the move", alice, want)
	out, err = servertest.Run(bin, "rotate-master-key", "--data-dir", dd, "--database", dsn, "--master-key-file", oldKey, "--new-master-key-file", newKey)
	if err != nil || !strings.Contains(out, "master key rotated") {
		t.Fatalf("rotate-master-key: %v\n%s", err, out)
	}
	out, err = servertest.Run(bin, "rotate-master-key", "--data-dir", dd, "--database", dsn, "--master-key-file", oldKey, "--new-master-key-file", newKey)
	if err != nil || !strings.Contains(out, "nothing to do") {
		t.Fatalf("rotate-master-key again: %v\n%s", err, out)
	}
	for ref, v := range opsRotateStore(t, alice, "pg-roll", 1) {
		want[ref] = v
	}
	opsRotateRead(t, "new key with the old as previous, after the move", alice, want)
	s.Kill()

	s = servertest.Start(t, bin, dd, "--database", dsn, "--master-key-file", newKey)
	alice.base = s.URL
	opsRotateRead(t, "the new key alone", alice, want)
	s.Kill()

	p := servertest.StartProcess(t, bin, "server", "--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0", "--data-dir", dd,
		"--database", dsn, "--master-key-file", oldKey, "--metrics-listen", "")
	select {
	case <-p.Done():
	case <-time.After(60 * time.Second):
		t.Fatalf("a server given the old master key is still running:\n%s", p.Logs())
	}
	if !strings.Contains(p.Logs(), "master key does not open") {
		t.Fatalf("a server given the old master key: %v\n%s", p.ExitErr(), p.Logs())
	}
}

// TestOpsRotateRefusesBadKeyFiles: the rotation commands name what is wrong
// with their key files, as the server does, and change nothing.
func TestOpsRotateRefusesBadKeyFiles(t *testing.T) {
	dir := t.TempDir()
	good := opsRotateKeyFile(t, "good.key")
	loose := opsRotateKeyFile(t, "loose.key")
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(t.TempDir(), "short.key")
	if err := os.WriteFile(short, []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := "postgres://nobody@127.0.0.1:1/none"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"master key readable by others", []string{"rotate-master-key", "--database", db, "--master-key-file", good, "--new-master-key-file", loose}, "chmod 600"},
		{"old master key readable by others", []string{"rotate-master-key", "--database", db, "--master-key-file", loose, "--new-master-key-file", good}, "chmod 600"},
		{"new master key missing", []string{"rotate-master-key", "--database", db, "--master-key-file", good, "--new-master-key-file", filepath.Join(dir, "absent")}, "no such file"},
		{"new master key not 32 bytes", []string{"rotate-master-key", "--database", db, "--master-key-file", good, "--new-master-key-file", short}, "want 32 random bytes"},
		{"no new master key", []string{"rotate-master-key", "--database", db, "--master-key-file", good}, "needs --master-key-file"},
		{"the same key twice", []string{"rotate-master-key", "--database", db, "--master-key-file", good, "--new-master-key-file", good}, "another key"},
		{"postgres without a master key", []string{"rotate-secret-key", "--database", db, "--data-dir", dir}, "needs --master-key-file"},
		{"secret rotation with a loose master key", []string{"rotate-secret-key", "--database", db, "--data-dir", dir, "--master-key-file", loose, "--settle", "5s"}, "chmod 600"},
		{"settle too short", []string{"rotate-secret-key", "--data-dir", dir, "--settle", "1s"}, "at least 5s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := servertest.Run(bin, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v: %v\n%s; want an error saying %q", tc.args, err, out, tc.want)
			}
		})
	}
	// A secret key file readable by others is refused before anything
	// changes.
	c := newCloud(t)
	key := filepath.Join(c.s.DataDir, "keys", "secrets", "1")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := servertest.Run(bin, "rotate-secret-key", "--data-dir", c.s.DataDir, "--settle", "5s"); err == nil || !strings.Contains(err.Error(), "want 0600") {
		t.Fatalf("a loose secret key file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.s.DataDir, "keys", "secrets", "2")); !os.IsNotExist(err) {
		t.Fatalf("a key was added despite the refusal: %v", err)
	}
}
