package multiserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
	"github.com/fulcrumlb/fulcrum/internal/store/pgtest"
)

var passwordRE = regexp.MustCompile(`password: "([^"]*)"`)

// adminToken logs in as the bootstrap admin (password from clouds.yaml)
// through the server at base.
func adminToken(t *testing.T, base, dataDir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, "clouds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := passwordRE.FindSubmatch(data)
	if m == nil {
		t.Fatalf("no password in clouds.yaml:\n%s", data)
	}
	body := fmt.Sprintf(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": %q}}},
		"scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}`, m[1])
	resp, err := http.Post(base+"/identity/v3/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 201 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("login: %d %s", resp.StatusCode, b)
	}
	return resp.Header.Get("X-Subject-Token")
}

// authed sends a request with a Keystone token and returns the status and body.
func authed(t *testing.T, token, method, url string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestNewServerJoinsWithTheDatabaseAndTheMasterKey: a server started with
// nothing but the database URL and the master key shares the others'
// keys: a token issued by one is valid on the other, a secret stored
// through one reads back through the other, join tokens pin the same CA;
// a server given another master key refuses to start, and so does one
// whose master key file others may read (naming the fix).
func TestNewServerJoinsWithTheDatabaseAndTheMasterKey(t *testing.T) {
	db := pgtest.Start(t).NewDatabaseURL(t)
	key := writeMasterKey(t)
	args := []string{"--database", db, "--master-key-file", key}
	first := servertest.Start(t, bin, "", args...)
	second := servertest.Start(t, bin, "", args...)
	tok := adminToken(t, first.URL, first.DataDir)
	if code, body := authed(t, tok, "GET", second.URL+"/v2/lbaas/loadbalancers", nil); code != 200 {
		t.Fatalf("a token of the first server on the second: %d %s", code, body)
	}
	code, body := authed(t, tok, "POST", first.URL+"/key-manager/v1/secrets", map[string]any{"name": "s", "payload": "shared secret",
		"payload_content_type": "text/plain"})
	if code != 201 {
		t.Fatalf("store a secret: %d %s", code, body)
	}
	var ref struct {
		SecretRef string `json:"secret_ref"`
	}
	json.Unmarshal(body, &ref)
	id := ref.SecretRef[strings.LastIndex(ref.SecretRef, "/")+1:]
	if code, body := authed(t, tok, "GET", second.URL+"/key-manager/v1/secrets/"+id+"/payload", nil); code != 200 || string(body) != "shared secret" {
		t.Fatalf("the secret through the second server: %d %q", code, body)
	}
	fingerprint := func(dir string) string {
		out, err := servertest.Run(bin, "agent-token", "--database", db, "--master-key-file", key, "--data-dir", dir)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(strings.TrimSpace(out), ".")
		return parts[len(parts)-1]
	}
	if a, b := fingerprint(first.DataDir), fingerprint(t.TempDir()); a != b {
		t.Errorf("join tokens pin different CAs: %s, %s", a, b)
	}

	other := writeMasterKey(t)
	if _, err := refusedStart(t, "server", "--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--database", db, "--master-key-file", other); err == nil || !strings.Contains(err.Error(), "master key does not open") {
		t.Errorf("a server with another master key: %v", err)
	}
	os.Chmod(key, 0o644)
	if _, err := refusedStart(t, "server", "--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--database", db, "--master-key-file", key); err == nil || !strings.Contains(err.Error(), "chmod 600 "+key) {
		t.Errorf("a master key others may read: %v", err)
	}
	if _, err := refusedStart(t, "server", "--data-dir", t.TempDir(), "--database", db); err == nil || !strings.Contains(err.Error(), "--master-key-file") {
		t.Errorf("postgres without a master key: %v", err)
	}
}

// TestSQLiteDataDirectoryMovesToAMasterKey: an existing SQLite server
// started with a master key keeps its tokens, secrets and CA (copied into
// the database, sealed), and refuses to start without the key afterwards.
func TestSQLiteDataDirectoryMovesToAMasterKey(t *testing.T) {
	srv := servertest.Start(t, bin, "")
	dir := srv.DataDir
	tok := adminToken(t, srv.URL, dir)
	code, body := authed(t, tok, "POST", srv.URL+"/key-manager/v1/secrets", map[string]any{"name": "s", "payload": "kept",
		"payload_content_type": "text/plain"})
	if code != 201 {
		t.Fatalf("store a secret: %d %s", code, body)
	}
	var ref struct {
		SecretRef string `json:"secret_ref"`
	}
	json.Unmarshal(body, &ref)
	id := ref.SecretRef[strings.LastIndex(ref.SecretRef, "/")+1:]
	before, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Kill()

	key := writeMasterKey(t)
	moved := servertest.Start(t, bin, dir, "--master-key-file", key)
	if code, body := authed(t, tok, "GET", moved.URL+"/v2/lbaas/loadbalancers", nil); code != 200 {
		t.Errorf("a token issued before the move: %d %s", code, body)
	}
	if code, body := authed(t, tok, "GET", moved.URL+"/key-manager/v1/secrets/"+id+"/payload", nil); code != 200 || string(body) != "kept" {
		t.Errorf("a secret stored before the move: %d %q", code, body)
	}
	out, err := servertest.Run(bin, "agent-token", "--data-dir", dir, "--master-key-file", key)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSpace(out), ".")
	if fp := parts[len(parts)-1]; !strings.Contains(string(before), "BEGIN CERTIFICATE") || fp != caFingerprint(t, before) {
		t.Errorf("the CA changed in the move: join tokens pin %s", fp)
	}
	moved.Kill()
	if _, err := refusedStart(t, "server", "--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0", "--data-dir", dir); err == nil ||
		!strings.Contains(err.Error(), "--master-key-file") {
		t.Errorf("a start without the master key after the move: %v", err)
	}
}

// caFingerprint is the hex SHA-256 of a PEM certificate's DER.
func caFingerprint(t *testing.T, pemData []byte) string {
	t.Helper()
	block, _ := pem.Decode(pemData)
	if block == nil {
		t.Fatal("no PEM block")
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:])
}

// refusedStart runs bin with args, which must exit (within a minute: a
// server that starts instead is killed) with an error, and returns it.
func refusedStart(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%v: %s", err, errb.String())
	}
	return out.String(), nil
}

// TestTokenKeyRotationAcrossServers: two servers sharing the sealed token
// key ring on PostgreSQL rotate it once per period between them (the first
// to find the key old rotates it for both), and tokens issued with the key
// before and after the rotation, through either server, are valid on both.
func TestTokenKeyRotationAcrossServers(t *testing.T) {
	db := pgtest.Start(t).NewDatabaseURL(t)
	key := writeMasterKey(t)
	args := []string{"--database", db, "--master-key-file", key, "--token-expiry", "60s", "--token-key-rotation", "30s"}
	a := servertest.Start(t, bin, "", args...)
	b := servertest.Start(t, bin, "", args...)
	valid := func(tok string, s *servertest.Server) bool {
		code, _ := authed(t, tok, "GET", s.URL+"/v2/lbaas/loadbalancers", nil)
		return code == 200
	}
	before := adminToken(t, a.URL, a.DataDir)
	if !valid(before, b) {
		t.Fatal("a token of the first server is refused by the second")
	}
	rotations := func() int {
		return strings.Count(a.Logs(), "token key rotated") + strings.Count(b.Logs(), "token key rotated")
	}
	deadline := time.Now().Add(90 * time.Second)
	for rotations() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no rotation within 90 s with --token-key-rotation 30s:\n%s\n%s", a.Logs(), b.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	rotated := time.Now()
	afterA, afterB := adminToken(t, a.URL, a.DataDir), adminToken(t, b.URL, a.DataDir)
	for name, tok := range map[string]string{"issued before the rotation": before, "issued by the first after it": afterA, "issued by the second after it": afterB} {
		for _, s := range []*servertest.Server{a, b} {
			if !valid(tok, s) {
				t.Errorf("a token %s is refused by %s", name, s.URL)
			}
		}
	}
	// The other server saw the key old too by now (it checks every 3 s):
	// it took the rotation made for both instead of making its own.
	for time.Since(rotated) < 6*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	if n := rotations(); n != 1 && time.Since(rotated) < 25*time.Second {
		t.Errorf("%d rotations within one period by two servers, want 1:\n%s\n%s", n, a.Logs(), b.Logs())
	}
}
