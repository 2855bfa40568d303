package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// backupCall is one noauth API call of the backup tests.
func backupCall(t *testing.T, method, url string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Project-Id", "backup-project")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, out
}

func backupJSON(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return m
}

// backupWaitActive polls the load balancer until it is ACTIVE.
func backupWaitActive(t *testing.T, base, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, raw := backupCall(t, "GET", base+"/v2/lbaas/loadbalancers/"+id, nil)
		if code == 200 {
			lb := backupJSON(t, raw)["loadbalancer"].(map[string]any)
			if lb["provisioning_status"] == "ACTIVE" {
				return lb
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("load balancer %s not ACTIVE in 90s: %d %s", id, code, raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// backupFreePort returns a TCP port free on addr now.
func backupFreePort(t *testing.T, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// backupStoreSecret stores a secret and returns its id.
func backupStoreSecret(t *testing.T, base, name, payload string) (string, bool) {
	code, raw := backupCall(t, "POST", base+"/key-manager/v1/secrets", map[string]any{"name": name, "payload": payload, "payload_content_type": "text/plain"})
	if code != http.StatusCreated {
		return string(raw), false
	}
	ref, _ := backupJSON(t, raw)["secret_ref"].(string)
	return ref[strings.LastIndex(ref, "/")+1:], true
}

// TestBackupRestoreOfARunningServer: a backup taken with the real binary
// while the server runs and secrets are being stored restores into a
// fresh data dir, where a new server serves the same load balancer (its
// embedded agent back, with the restored CA and identity) and decrypts
// every secret the backup holds, the ones stored while it ran included.
func TestBackupRestoreOfARunningServer(t *testing.T) {
	bin, err := servertest.Binary(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, bin, "", "--auth", "noauth")
	base := srv.URL

	code, raw := backupCall(t, "GET", base+"/networking/v2.0/subnets?name=private-subnet", nil)
	subnets, _ := backupJSON(t, raw)["subnets"].([]any)
	if code != 200 || len(subnets) != 1 {
		t.Fatalf("private-subnet: %d %s", code, raw)
	}
	subnet := subnets[0].(map[string]any)["id"].(string)
	code, raw = backupCall(t, "POST", base+"/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": "web", "vip_subnet_id": subnet}})
	if code != http.StatusCreated {
		t.Fatalf("create load balancer: %d %s", code, raw)
	}
	lbID := backupJSON(t, raw)["loadbalancer"].(map[string]any)["id"].(string)
	vip := backupWaitActive(t, base, lbID)["vip_address"]
	secretID, ok := backupStoreSecret(t, base, "tls-key", "the-one-secret")
	if !ok {
		t.Fatalf("store secret: %s", secretID)
	}

	// Writers store secrets while the backup runs.
	var mu sync.Mutex
	stored := map[string]string{} // id → payload, acknowledged
	stop := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			payload := fmt.Sprintf("payload-%d", i)
			id, ok := backupStoreSecret(t, base, fmt.Sprintf("w-%d", i), payload)
			if !ok {
				continue
			}
			mu.Lock()
			stored[id] = payload
			n := len(stored)
			mu.Unlock()
			if n == 5 {
				close(started)
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(60 * time.Second):
		t.Fatal("no secret stored in 60s")
	}
	mu.Lock()
	before := map[string]string{}
	for id, p := range stored {
		before[id] = p
	}
	mu.Unlock()
	file := filepath.Join(t.TempDir(), "fulcrum.backup")
	out, err := servertest.Run(bin, "backup", "--data-dir", srv.DataDir, "--to", file)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "written to "+file) {
		t.Errorf("backup printed %q", out)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, mode %v; want 0600", err, fi.Mode())
	}
	// A second backup never overwrites the first.
	if _, err := servertest.Run(bin, "backup", "--data-dir", srv.DataDir, "--to", file); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("backup onto an existing file: %v", err)
	}

	// The original is gone: its process and its data dir.
	srv.Stop(30 * time.Second)
	if err := os.RemoveAll(srv.DataDir); err != nil {
		t.Fatal(err)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := servertest.Run(bin, "restore", "--from", file, "--data-dir", restored); err != nil || !strings.Contains(out, "restored") {
		t.Fatalf("restore: %v %s", err, out)
	}
	for _, p := range []string{"fulcrum.db", "keys/secrets/1", "pki/ca.key", "agent/agent.key"} {
		fi, err := os.Stat(filepath.Join(restored, p))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("restored %s: %v (mode %v), want mode 0600", p, err, fi.Mode())
		}
	}
	// Restoring over a data dir that holds anything is refused.
	if _, err := servertest.Run(bin, "restore", "--from", file, "--data-dir", restored); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("restore into a used data dir: %v", err)
	}

	srv2 := servertest.Start(t, bin, restored, "--auth", "noauth")
	lb := backupWaitActive(t, srv2.URL, lbID)
	if lb["name"] != "web" || lb["vip_address"] != vip {
		t.Errorf("restored load balancer: %v", lb)
	}
	// A change after the restore reaches the data plane: the embedded agent
	// is back with its restored identity, trusted by the restored CA.
	port := backupFreePort(t, vip.(string))
	code, raw = backupCall(t, "POST", srv2.URL+"/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": lbID, "protocol": "TCP", "protocol_port": port}})
	if code != http.StatusCreated {
		t.Fatalf("create listener after the restore: %d %s", code, raw)
	}
	backupWaitActive(t, srv2.URL, lbID)
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(vip.(string), fmt.Sprint(port)), 10*time.Second)
	if err != nil {
		t.Errorf("the restored server's listener on %s:%d does not accept: %v", vip, port, err)
	} else {
		conn.Close()
	}
	code, raw = backupCall(t, "GET", srv2.URL+"/key-manager/v1/secrets/"+secretID+"/payload", nil)
	if code != 200 || string(raw) != "the-one-secret" {
		t.Errorf("restored secret: %d %q", code, raw)
	}
	for id, payload := range before {
		code, raw := backupCall(t, "GET", srv2.URL+"/key-manager/v1/secrets/"+id+"/payload", nil)
		if code != 200 || string(raw) != payload {
			t.Errorf("secret %s stored before the backup: %d %q, want %q", id, code, raw, payload)
		}
	}
	// Every secret the backup holds decrypts, those stored during it too.
	var list []any
	for offset := 0; offset <= 10000; offset += 100 {
		code, raw = backupCall(t, "GET", fmt.Sprintf("%s/key-manager/v1/secrets?limit=100&offset=%d", srv2.URL, offset), nil)
		if code != 200 {
			t.Fatalf("list secrets: %d %s", code, raw)
		}
		page, _ := backupJSON(t, raw)["secrets"].([]any)
		if len(page) == 0 {
			break
		}
		list = append(list, page...)
	}
	if len(list) < len(before)+1 {
		t.Errorf("restored server lists %d secrets, want at least %d", len(list), len(before)+1)
	}
	for _, s := range list {
		ref := s.(map[string]any)["secret_ref"].(string)
		id := ref[strings.LastIndex(ref, "/")+1:]
		code, raw := backupCall(t, "GET", srv2.URL+"/key-manager/v1/secrets/"+id+"/payload", nil)
		if code != 200 || (id != secretID && stored[id] != string(raw)) {
			t.Errorf("secret %s: %d %q, want %q", id, code, raw, stored[id])
		}
	}
	t.Logf("%d secrets stored while the backup ran (%d acknowledged before it began); the restored server holds %d", len(stored), len(before), len(list))
}

// backupArchive writes a backup-shaped archive from entries (name, body)
// with the given manifest.
func backupArchive(t *testing.T, manifest any, entries ...[2]string) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	m, err := json.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range append([][2]string{{backupManifestName, string(m)}}, entries...) {
		if err := tw.WriteHeader(&tar.Header{Name: e[0], Mode: 0o600, Size: int64(len(e[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e[1])
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(t.TempDir(), "b")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRestoreRefusesBadBackups: a restore checks the archive against its
// manifest and creates nothing unless all of it checks out.
func TestRestoreRefusesBadBackups(t *testing.T) {
	ctx := context.Background()
	sum := "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" // sha256("hello")
	good := func(name string) backupFile { return backupFile{Name: name, Size: 5, Mode: 0o600, SHA256: sum} }
	man := func(files ...backupFile) backupManifest { return backupManifest{Format: 1, Files: files} }
	// A real backup, damaged.
	dataDir := t.TempDir()
	os.MkdirAll(filepath.Join(dataDir, "keys", "secrets"), 0o700)
	os.WriteFile(filepath.Join(dataDir, "keys", "secrets", "1"), []byte("key material"), 0o600)
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dataDir, "fulcrum.db")})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	real := filepath.Join(t.TempDir(), "real")
	if _, err := writeBackup(ctx, dataDir, real); err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile(real)
	truncated := filepath.Join(t.TempDir(), "truncated")
	os.WriteFile(truncated, body[:len(body)/2], 0o600)
	flipped := filepath.Join(t.TempDir(), "flipped")
	damaged := bytes.Clone(body)
	damaged[len(damaged)/2] ^= 0xff
	os.WriteFile(flipped, damaged, 0o600)
	noManifest := func() string {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		tw.WriteHeader(&tar.Header{Name: "keys/1", Mode: 0o600, Size: 1, Typeflag: tar.TypeReg})
		io.WriteString(tw, "x")
		tw.Close()
		gz.Close()
		p := filepath.Join(t.TempDir(), "nm")
		os.WriteFile(p, buf.Bytes(), 0o600)
		return p
	}()
	garbage := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(garbage, []byte("not a backup"), 0o600)

	// A database a newer binary migrated.
	newerDir := t.TempDir()
	newerPath := filepath.Join(newerDir, "fulcrum.db")
	st, err = sqlstore.Open(ctx, sqlstore.Options{Path: newerPath})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := openSQLiteFile(newerPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (99999, '99999_next.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	newerDB, _ := os.ReadFile(newerPath)
	newerSum := sha256.Sum256(newerDB)

	cases := []struct {
		name string
		file string
		want string
	}{
		{"not gzip", garbage, "not a fulcrum backup"},
		{"a database of a newer schema", backupArchive(t, man(backupFile{Name: "fulcrum.db", Size: int64(len(newerDB)), Mode: 0o600, SHA256: hex.EncodeToString(newerSum[:])}),
			[2]string{"fulcrum.db", string(newerDB)}), "schema is version 99999 (99999_next.sql)"},
		{"truncated", truncated, ""},
		{"a flipped byte", flipped, ""},
		{"no manifest first", noManifest, "no fulcrum-backup.json first"},
		{"format from the future", backupArchive(t, backupManifest{Format: 2}), "format 2"},
		{"unknown manifest field", backupArchive(t, map[string]any{"format": 1, "files": []any{}, "extra": 1}), "unknown field"},
		{"dot-dot name", backupArchive(t, man(good("../escape")), [2]string{"../escape", "hello"}), "bad file name"},
		{"absolute name", backupArchive(t, man(good("/etc/x")), [2]string{"/etc/x", "hello"}), "bad file name"},
		{"unclean name", backupArchive(t, man(good("keys//1")), [2]string{"keys//1", "hello"}), "bad file name"},
		{"listed twice", backupArchive(t, man(good("a"), good("a")), [2]string{"a", "hello"}), "listed twice"},
		{"not in the manifest", backupArchive(t, man(good("a")), [2]string{"a", "hello"}, [2]string{"b", "hello"}), "not in the manifest"},
		{"twice in the archive", backupArchive(t, man(good("a")), [2]string{"a", "hello"}, [2]string{"a", "hello"}), "appears twice"},
		{"missing file", backupArchive(t, man(good("a"), good("b")), [2]string{"a", "hello"}), "b is missing"},
		{"wrong checksum", backupArchive(t, man(good("a")), [2]string{"a", "HELLO"}), "checksum"},
		{"wrong size", backupArchive(t, man(good("a")), [2]string{"a", "hello!"}), "manifest's size"},
		{"bad mode", backupArchive(t, man(backupFile{Name: "a", Size: 5, Mode: 0o4755, SHA256: sum}), [2]string{"a", "hello"}), "bad mode"},
		{"a database that is not one", backupArchive(t, man(good("fulcrum.db")), [2]string{"fulcrum.db", "hello"}), "database"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "data")
			_, err := restoreBackup(ctx, tc.file, target)
			if err == nil {
				t.Fatal("restored")
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if _, serr := os.Stat(target); !os.IsNotExist(serr) {
				t.Errorf("the refused restore left %s behind (%v)", target, serr)
			}
			entries, _ := os.ReadDir(filepath.Dir(target))
			if len(entries) != 0 {
				t.Errorf("the refused restore left %d entries (staging) beside the target", len(entries))
			}
		})
	}
	// The undamaged one restores, keys with their mode.
	target := filepath.Join(t.TempDir(), "data")
	if _, err := restoreBackup(ctx, real, target); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(target, "keys", "secrets", "1")); err != nil || string(b) != "key material" {
		t.Errorf("restored key: %q %v", b, err)
	}
}

// TestBackupRefusals: a backup never overwrites a file, never writes into
// the data dir it copies, and says what to do without a SQLite database.
func TestBackupRefusals(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dataDir, "fulcrum.db")})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	exists := filepath.Join(t.TempDir(), "exists")
	os.WriteFile(exists, []byte("keep me"), 0o600)
	empty := t.TempDir()
	for _, tc := range []struct{ dataDir, to, want string }{
		{dataDir, exists, "exists"},
		{dataDir, filepath.Join(dataDir, "b.backup"), "inside the data dir"},
		{dataDir, filepath.Join(dataDir, "keys", "b.backup"), "inside the data dir"},
		{empty, filepath.Join(t.TempDir(), "b"), "PostgreSQL"},
		{filepath.Join(empty, "nope"), filepath.Join(t.TempDir(), "b"), "no such file"},
	} {
		if _, err := writeBackup(ctx, tc.dataDir, tc.to); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("backup of %s to %s: %v, want %q", tc.dataDir, tc.to, err, tc.want)
		}
	}
	if b, _ := os.ReadFile(exists); string(b) != "keep me" {
		t.Errorf("existing file overwritten: %q", b)
	}
	entries, _ := os.ReadDir(dataDir)
	if len(entries) != 1 { // fulcrum.db, its -wal and -shm gone at close
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("data dir holds %q after refused backups", names)
	}
}

// FuzzRestore: no archive panics a restore, and a refused one leaves
// nothing at the target or beside it.
func FuzzRestore(f *testing.F) {
	ctx := context.Background()
	dataDir := f.TempDir()
	os.MkdirAll(filepath.Join(dataDir, "keys"), 0o700)
	os.WriteFile(filepath.Join(dataDir, "keys", "1"), []byte("k"), 0o600)
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dataDir, "fulcrum.db")})
	if err != nil {
		f.Fatal(err)
	}
	st.Close()
	real := filepath.Join(f.TempDir(), "real")
	if _, err := writeBackup(ctx, dataDir, real); err != nil {
		f.Fatal(err)
	}
	body, _ := os.ReadFile(real)
	f.Add(body)
	f.Add([]byte{})
	f.Add(body[:100])
	f.Fuzz(func(t *testing.T, archive []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "in")
		os.WriteFile(file, archive, 0o600)
		out := filepath.Join(dir, "out", "data")
		if _, err := restoreBackup(ctx, file, out); err != nil {
			if _, serr := os.Stat(out); !os.IsNotExist(serr) {
				t.Errorf("refused restore (%v) left %s", err, out)
			}
			if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
				t.Errorf("refused restore (%v) left %d entries beside the target", err, len(entries))
			}
		}
	})
}
