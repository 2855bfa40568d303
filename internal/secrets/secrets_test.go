package secrets_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/secrets"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
	"github.com/fulcrumlb/fulcrum/internal/testpki"
)

type env struct {
	t       *testing.T
	st      store.Store
	svc     *secrets.Service
	keys    *secrets.KeyRing
	srv     *httptest.Server
	logs    *bytes.Buffer
	mu      sync.Mutex
	changed []string
}

// newEnv serves the key manager with a caller taken from test headers:
// X-Project-Id, X-User-Id and X-Roles (comma-separated).
func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(dir, "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := secrets.OpenKeyRing(filepath.Join(dir, "keys", "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, keys: keys, logs: &bytes.Buffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.svc, err = secrets.New(secrets.Options{Store: st, Keys: keys, Logger: log, Changed: func(_ context.Context, ids []string) {
		e.mu.Lock()
		e.changed = append(e.changed, ids...)
		e.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := policy.Caller{ProjectID: r.Header.Get("X-Project-Id"), UserID: r.Header.Get("X-User-Id")}
		if roles := r.Header.Get("X-Roles"); roles != "" {
			c.Roles = strings.Split(roles, ",")
		}
		e.svc.ServeHTTP(w, r.WithContext(policy.WithCaller(r.Context(), c)))
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// who is a caller: project, user and roles.
type who struct{ project, user, roles string }

var (
	alice  = who{"p1", "alice", "member"} // creates things in p1
	bob    = who{"p1", "bob", "member"}   // another member of p1
	rita   = who{"p1", "rita", "reader"}
	mallet = who{"p2", "mallet", "member"} // another project
	root   = who{"p9", "root", "admin"}
)

type resp struct {
	code   int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (e *env) do(w who, method, path string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	req.Header.Set("X-Project-Id", w.project)
	req.Header.Set("X-User-Id", w.user)
	req.Header.Set("X-Roles", w.roles)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{code: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// path turns an href into a request path.
func (e *env) path(href string) string { return strings.TrimPrefix(href, e.srv.URL) }

func (e *env) store(w who, body map[string]any) string {
	e.t.Helper()
	r := e.do(w, "POST", "/key-manager/v1/secrets/", body)
	if r.code != http.StatusCreated {
		e.t.Fatalf("store secret %v: %d %s", body, r.code, r.raw)
	}
	href, _ := r.body["secret_ref"].(string)
	if r.header.Get("Location") != href {
		e.t.Errorf("Location %q, secret_ref %q", r.header.Get("Location"), href)
	}
	return href
}

func wantError(t *testing.T, what string, r resp, code int, description string) {
	t.Helper()
	if r.code != code || r.body["code"] != float64(code) || r.body["title"] != http.StatusText(code) || r.body["description"] != description {
		t.Errorf("%s: got %d %s\nwant %d {code %d, title %q, description %q}", what, r.code, r.raw, code, code, http.StatusText(code), description)
	}
}

func TestVersionDiscovery(t *testing.T) {
	e := newEnv(t)
	r := e.do(alice, "GET", "/key-manager", nil)
	if r.code != http.StatusMultipleChoices {
		t.Fatalf("GET /key-manager: %d %s", r.code, r.raw)
	}
	vals := r.body["versions"].(map[string]any)["values"].([]any)
	v := vals[0].(map[string]any)
	if v["id"] != "v1" || v["status"] != "stable" || v["links"].([]any)[0].(map[string]any)["href"] != e.srv.URL+"/key-manager/v1/" {
		t.Errorf("versions: %s", r.raw)
	}
	if r := e.do(alice, "GET", "/key-manager/v1/", nil); r.code != 200 || r.body["version"].(map[string]any)["id"] != "v1" {
		t.Errorf("GET /key-manager/v1/: %d %s", r.code, r.raw)
	}
}

func TestSecretLifecycleOneStep(t *testing.T) {
	e := newEnv(t)
	href := e.store(alice, map[string]any{"name": "  db-pass  ", "payload": "s3cr3t-payload", "payload_content_type": "text/plain",
		"secret_type": "passphrase", "algorithm": "aes", "bit_length": 256, "mode": "cbc", "expiration": "2999-01-02T03:04:05Z"})
	if !strings.HasPrefix(href, e.srv.URL+"/key-manager/v1/secrets/") {
		t.Fatalf("href %q", href)
	}
	r := e.do(alice, "GET", e.path(href), nil, "Accept", "application/json")
	want := map[string]any{"secret_ref": href, "name": "db-pass", "status": "ACTIVE", "secret_type": "passphrase", "algorithm": "aes",
		"bit_length": float64(256), "mode": "cbc", "creator_id": "alice", "expiration": "2999-01-02T03:04:05",
		"content_types": map[string]any{"default": "text/plain"}}
	for k, v := range want {
		if fmt.Sprint(r.body[k]) != fmt.Sprint(v) {
			t.Errorf("metadata %s = %v, want %v (%s)", k, r.body[k], v, r.raw)
		}
	}
	if _, ok := r.body["consumers"]; ok {
		t.Errorf("microversion 1.0 metadata has consumers: %s", r.raw)
	}
	if r := e.do(alice, "GET", e.path(href), nil, "OpenStack-API-Version", "key-manager 1.1"); r.body["consumers"] == nil {
		t.Errorf("microversion 1.1 metadata lacks consumers: %s", r.raw)
	}
	// Payload in the stored type, by default and by Accept.
	for _, accept := range []string{"", "*/*", "text/plain"} {
		r := e.do(alice, "GET", e.path(href)+"/payload", nil, "Accept", accept)
		if r.code != 200 || string(r.raw) != "s3cr3t-payload" {
			t.Errorf("payload with Accept %q: %d %q", accept, r.code, r.raw)
		}
	}
	// The deprecated path: GET the secret with a non-JSON Accept.
	if r := e.do(alice, "GET", e.path(href), nil, "Accept", "application/octet-stream"); r.code != 200 || string(r.raw) != "s3cr3t-payload" || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("payload through GET with Accept octet-stream: %d %q %v", r.code, r.raw, r.header)
	}
	wantError(t, "unsupported Accept", e.do(alice, "GET", e.path(href)+"/payload", nil, "Accept", "application/json"), 406,
		"Secret payload retrieval issue seen - Wrong payload content-type.")
	// Never in logs, never in the store in clear.
	if strings.Contains(e.logs.String(), "s3cr3t") {
		t.Errorf("payload in the logs:\n%s", e.logs)
	}
	if r := e.do(alice, "DELETE", e.path(href), nil); r.code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.code, r.raw)
	}
	wantError(t, "deleted", e.do(alice, "GET", e.path(href), nil), 404, "Secret not found.")
	wantError(t, "invalid id", e.do(alice, "GET", "/key-manager/v1/secrets/nope", nil), 404, "Not Found. Provided secret id is invalid.")
}

func TestSecretTwoStepAndBinary(t *testing.T) {
	e := newEnv(t)
	href := e.store(alice, map[string]any{"name": "later"})
	r := e.do(alice, "GET", e.path(href), nil)
	if _, ok := r.body["content_types"]; ok {
		t.Errorf("a secret without payload has content_types: %s", r.raw)
	}
	wantError(t, "payload before PUT", e.do(alice, "GET", e.path(href)+"/payload", nil), 404, "Not Found. Sorry but your secret has no payload.")
	wantError(t, "PUT json", e.do(alice, "PUT", e.path(href), map[string]any{"x": 1}), 415,
		"Unexpected content type. Expected content types are: ['application/octet-stream', 'text/plain']")
	bin := []byte{0, 1, 2, 0xff, 0xfe, 'x'}
	if r := e.do(alice, "PUT", e.path(href), base64.StdEncoding.EncodeToString(bin), "Content-Type", "application/octet-stream", "Content-Encoding", "base64"); r.code != http.StatusNoContent {
		t.Fatalf("PUT payload: %d %s", r.code, r.raw)
	}
	if r := e.do(alice, "GET", e.path(href)+"/payload", nil); r.code != 200 || !bytes.Equal(r.raw, bin) || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("binary payload: %d %v %v", r.code, r.raw, r.header)
	}
	wantError(t, "binary as text", e.do(alice, "GET", e.path(href)+"/payload", nil, "Accept", "text/plain"), 406,
		"Secret payload retrieval issue seen - Wrong payload content-type.")
	wantError(t, "second PUT", e.do(alice, "PUT", e.path(href), "again", "Content-Type", "text/plain"), 409, "Secret already has data, cannot modify it.")
	e.mu.Lock()
	changed := fmt.Sprint(e.changed)
	e.mu.Unlock()
	if !strings.Contains(changed, href[strings.LastIndex(href, "/")+1:]) {
		t.Errorf("Changed not told about the payload: %v", changed)
	}
	// One-step binary with base64 encoding.
	h2 := e.store(alice, map[string]any{"payload": base64.StdEncoding.EncodeToString(bin), "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"})
	if r := e.do(alice, "GET", e.path(h2)+"/payload", nil); !bytes.Equal(r.raw, bin) {
		t.Errorf("one-step binary payload: %v", r.raw)
	}
}

func TestSecretValidation(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		body any
		code int
		desc string
	}{
		{"payload without content type", map[string]any{"payload": "x"}, 400,
			"Provided object does not match schema 'Secret': If 'payload' is supplied, 'payload_content_type' must also be supplied.. Invalid property: 'payload_content_type'"},
		{"unsupported content type", map[string]any{"payload": "x", "payload_content_type": "image/png"}, 400,
			"Provided object does not match schema 'Secret': payload_content_type is not one of ['text/plain', 'text/plain;charset=utf-8', 'text/plain; charset=utf-8', 'application/octet-stream', 'application/pkcs8']. Invalid property: 'payload_content_type'"},
		{"binary without encoding", map[string]any{"payload": "x", "payload_content_type": "application/octet-stream"}, 400,
			"Provided object does not match schema 'Secret': payload_content_encoding is not one of ['base64', 'binary']. Invalid property: 'payload_content_encoding'"},
		{"text with encoding", map[string]any{"payload": "eA==", "payload_content_type": "text/plain", "payload_content_encoding": "base64"}, 400,
			"Provided object does not match schema 'Secret': payload_content_encoding is not one of None. Invalid property: 'payload_content_encoding'"},
		{"empty payload", map[string]any{"payload": "  ", "payload_content_type": "text/plain"}, 400,
			"Provided object does not match schema 'Secret': If 'payload' specified, must be non empty. Invalid property: 'payload'"},
		{"bad base64", map[string]any{"payload": "abc", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}, 400,
			"Provided object does not match schema 'Secret': Invalid payload for payload_content_encoding. Invalid property: 'payload'"},
		{"content type without payload", map[string]any{"payload_content_type": "text/plain"}, 400,
			"Provided object does not match schema 'Secret': payload must be provided when payload_content_type is specified. Invalid property: 'payload'"},
		{"unknown secret type", map[string]any{"secret_type": "banana"}, 400,
			"Provided object does not match schema 'Secret': 'banana' is not one of ['symmetric', 'passphrase', 'private', 'public', 'certificate', 'opaque']. Invalid property: 'secret_type'"},
		{"bit_length not an integer", map[string]any{"bit_length": "256"}, 400,
			"Provided object does not match schema 'Secret': '256' is not of type 'integer'. Invalid property: 'bit_length'"},
		{"bit_length zero", map[string]any{"bit_length": 0}, 400,
			"Provided object does not match schema 'Secret': 0 is less than the minimum of 1. Invalid property: 'bit_length'"},
		{"expired", map[string]any{"expiration": "2001-01-01T00:00:00Z"}, 400,
			"Provided object does not match schema 'Secret': 'expiration' is before current time. Invalid property: 'expiration'"},
		{"bad expiration", map[string]any{"expiration": "tomorrow"}, 400,
			"Provided object does not match schema 'Secret': Invalid date for 'expiration'. Invalid property: 'expiration'"},
		{"too big", map[string]any{"payload": strings.Repeat("x", 20001), "payload_content_type": "text/plain"}, 413,
			"Provided information too large to process"},
		{"malformed JSON", "{", 400, "Malformed JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r resp
			if s, ok := tc.body.(string); ok {
				r = e.do(alice, "POST", "/key-manager/v1/secrets", s, "Content-Type", "application/json")
			} else {
				r = e.do(alice, "POST", "/key-manager/v1/secrets", tc.body)
			}
			wantError(t, tc.name, r, tc.code, tc.desc)
		})
	}
	wantError(t, "not JSON", e.do(alice, "POST", "/key-manager/v1/secrets", "x", "Content-Type", "text/plain"), 415,
		"Unexpected content type. Expected content types are: ['application/json']")
	wantError(t, "method", e.do(alice, "PATCH", "/key-manager/v1/secrets", nil), 405, "The method is not allowed for this resource.")
}

func TestSecretListPaging(t *testing.T) {
	e := newEnv(t)
	var hrefs []string
	for i := range 25 {
		hrefs = append(hrefs, e.store(alice, map[string]any{"name": fmt.Sprintf("s%02d", i), "payload": "x", "payload_content_type": "text/plain"}))
	}
	e.store(mallet, map[string]any{"name": "s00"})
	r := e.do(alice, "GET", "/key-manager/v1/secrets", nil)
	if r.body["total"] != float64(25) || len(r.body["secrets"].([]any)) != 10 || r.body["next"] != e.srv.URL+"/key-manager/v1/secrets?limit=10&offset=10" || r.body["previous"] != nil {
		t.Errorf("first page: total %v, %d items, next %v, previous %v", r.body["total"], len(r.body["secrets"].([]any)), r.body["next"], r.body["previous"])
	}
	r = e.do(alice, "GET", "/key-manager/v1/secrets?limit=10&offset=20", nil)
	items := r.body["secrets"].([]any)
	if len(items) != 5 || items[0].(map[string]any)["secret_ref"] != hrefs[20] || r.body["next"] != nil ||
		r.body["previous"] != e.srv.URL+"/key-manager/v1/secrets?limit=10&offset=10" {
		t.Errorf("last page: %d items, first %v, next %v, previous %v", len(items), items[0], r.body["next"], r.body["previous"])
	}
	r = e.do(alice, "GET", "/key-manager/v1/secrets?name=s07", nil)
	if r.body["total"] != float64(1) || r.body["secrets"].([]any)[0].(map[string]any)["secret_ref"] != hrefs[7] {
		t.Errorf("name filter: %s", r.raw)
	}
	r = e.do(alice, "GET", "/key-manager/v1/secrets?name=s1%25&limit=3", nil)
	if r.body["total"] != float64(10) || r.body["next"] != e.srv.URL+"/key-manager/v1/secrets?limit=3&offset=3&name=s1%25" {
		t.Errorf("LIKE name filter: total %v next %v", r.body["total"], r.body["next"])
	}
	if r := e.do(alice, "GET", "/key-manager/v1/secrets?name=nothing", nil); string(bytes.TrimSpace(r.raw)) != `{"secrets":[],"total":0}` {
		t.Errorf("empty list: %s", r.raw)
	}
	wantError(t, "bad sort", e.do(alice, "GET", "/key-manager/v1/secrets?sort=color", nil), 400, "URI provided invalid query string parameters.")
	r = e.do(alice, "GET", "/key-manager/v1/secrets?sort=name:desc&limit=1", nil)
	if r.body["secrets"].([]any)[0].(map[string]any)["name"] != "s24" {
		t.Errorf("sort name:desc: %s", r.raw)
	}
}

func TestContainers(t *testing.T) {
	e := newEnv(t)
	cert := e.store(alice, map[string]any{"name": "c", "payload": "CERT", "payload_content_type": "text/plain"})
	key := e.store(alice, map[string]any{"name": "k", "payload": "KEY", "payload_content_type": "text/plain"})
	other := e.store(mallet, map[string]any{"name": "m", "payload": "M", "payload_content_type": "text/plain"})
	tests := []struct {
		name string
		body map[string]any
		code int
		desc string
	}{
		{"type missing", map[string]any{"name": "x"}, 400, "Provided object does not match schema 'Container': 'type' is a required property. Invalid property: 'type'"},
		{"bad type", map[string]any{"type": "box"}, 400, "Provided object does not match schema 'Container': 'box' is not one of ['generic', 'rsa', 'certificate']. Invalid property: 'type'"},
		{"no certificate", map[string]any{"type": "certificate", "secret_refs": []any{map[string]any{"name": "private_key", "secret_ref": key}}}, 400,
			"Provided object does not match schema 'Container': The minimum required reference name is 'certificate' for Certificate type. Invalid property: 'secret_refs'"},
		{"foreign name", map[string]any{"type": "certificate", "secret_refs": []any{map[string]any{"name": "certificate", "secret_ref": cert}, map[string]any{"name": "bogus", "secret_ref": key}}}, 400,
			"Provided object does not match schema 'Container': only 'private_key', 'certificate' , 'private_key_passphrase',  or 'intermediates' reference names are allowed for Certificate type. Invalid property: 'secret_refs'"},
		{"duplicate names", map[string]any{"type": "generic", "secret_refs": []any{map[string]any{"name": "a", "secret_ref": cert}, map[string]any{"name": "a", "secret_ref": key}}}, 400,
			"Provided object does not match schema 'Container': Duplicate reference names are not allowed. Invalid property: 'secret_refs'"},
		{"other host", map[string]any{"type": "generic", "secret_refs": []any{map[string]any{"name": "a", "secret_ref": "http://elsewhere/key-manager/v1/secrets/" + cert[len(cert)-36:]}}}, 400,
			"Provided field value is not supported"},
		{"secret of another project", map[string]any{"type": "generic", "secret_refs": []any{map[string]any{"name": "a", "secret_ref": other}}}, 404,
			"Secret provided for 'a' doesn't exist."},
	}
	for _, tc := range tests {
		wantError(t, tc.name, e.do(alice, "POST", "/key-manager/v1/containers", tc.body), tc.code, tc.desc)
	}
	r := e.do(alice, "POST", "/key-manager/v1/containers/", map[string]any{"name": "tls", "type": "certificate",
		"secret_refs": []any{map[string]any{"name": "certificate", "secret_ref": cert}, map[string]any{"name": "private_key", "secret_ref": key}}})
	if r.code != 201 {
		t.Fatalf("create container: %d %s", r.code, r.raw)
	}
	ct := r.body["container_ref"].(string)
	r = e.do(alice, "GET", e.path(ct), nil)
	refs := r.body["secret_refs"].([]any)
	if r.body["type"] != "certificate" || r.body["name"] != "tls" || r.body["status"] != "ACTIVE" || len(refs) != 2 ||
		refs[0].(map[string]any)["secret_ref"] != cert || refs[0].(map[string]any)["name"] != "certificate" || r.body["creator_id"] != "alice" {
		t.Errorf("get container: %s", r.raw)
	}
	if r := e.do(alice, "GET", "/key-manager/v1/containers?type=certificate", nil); r.body["total"] != float64(1) {
		t.Errorf("list containers: %s", r.raw)
	}
	wantError(t, "modify a certificate container", e.do(alice, "POST", e.path(ct)+"/secrets", map[string]any{"name": "intermediates", "secret_ref": key}), 400,
		"Only 'generic' containers can be modified.")
	// Generic containers gain and lose secrets.
	r = e.do(alice, "POST", "/key-manager/v1/containers", map[string]any{"type": "generic"})
	g := r.body["container_ref"].(string)
	if r := e.do(alice, "POST", e.path(g)+"/secrets", map[string]any{"name": "x", "secret_ref": cert}); r.code != 201 || r.body["container_ref"] != g {
		t.Errorf("add secret: %d %s", r.code, r.raw)
	}
	wantError(t, "add twice", e.do(alice, "POST", e.path(g)+"/secrets", map[string]any{"name": "x", "secret_ref": cert}), 409,
		"Conflict. A secret with that name and ID is already stored in this container. The same secret can exist in a container as long as the name is unique.")
	if r := e.do(alice, "DELETE", e.path(g)+"/secrets", map[string]any{"name": "x", "secret_ref": cert}); r.code != 204 {
		t.Errorf("remove secret: %d %s", r.code, r.raw)
	}
	wantError(t, "remove again", e.do(alice, "DELETE", e.path(g)+"/secrets", map[string]any{"name": "x", "secret_ref": cert}), 404, "Secret provided is not in the container")
	// Deleting a secret drops it from its containers.
	e.do(alice, "DELETE", e.path(key), nil)
	if r := e.do(alice, "GET", e.path(ct), nil); len(r.body["secret_refs"].([]any)) != 1 {
		t.Errorf("container after its key was deleted: %s", r.raw)
	}
	if r := e.do(alice, "DELETE", e.path(ct), nil); r.code != 204 {
		t.Errorf("delete container: %d %s", r.code, r.raw)
	}
	wantError(t, "deleted container", e.do(alice, "GET", e.path(ct), nil), 404, "Secrets container not found.")
	wantError(t, "invalid container id", e.do(alice, "GET", "/key-manager/v1/containers/x", nil), 404, "Not Found. Provided container id is invalid.")
}

func TestAccessRules(t *testing.T) {
	e := newEnv(t)
	open := e.store(alice, map[string]any{"payload": "o", "payload_content_type": "text/plain"})
	private := e.store(alice, map[string]any{"payload": "p", "payload_content_type": "text/plain"})
	if r := e.do(alice, "PUT", e.path(private)+"/acl", map[string]any{"read": map[string]any{"project-access": false, "users": []any{"mallet"}}}); r.code != 200 || r.body["acl_ref"] != private+"/acl" {
		t.Fatalf("make private: %d %s", r.code, r.raw)
	}
	type cell struct {
		who       who
		read      bool
		write     bool
		readACL   bool
		secretRef string
	}
	cells := []cell{
		{alice, true, true, true, open}, {alice, true, true, true, private},
		{bob, true, true, true, open}, {bob, false, false, false, private},
		{rita, true, false, true, open}, {rita, false, false, false, private},
		{mallet, false, false, false, open}, {mallet, true, false, false, private},
		{root, true, true, true, open}, {root, true, true, true, private},
		{who{"p1", "nobody", ""}, false, false, false, open},
	}
	for _, c := range cells {
		name := c.who.user + " on " + map[bool]string{true: "open", false: "private"}[c.secretRef == open]
		ok := func(r resp) bool { return r.code < 400 }
		if got := ok(e.do(c.who, "GET", e.path(c.secretRef), nil)); got != c.read {
			t.Errorf("%s: metadata allowed %v, want %v", name, got, c.read)
		}
		if got := ok(e.do(c.who, "GET", e.path(c.secretRef)+"/payload", nil)); got != c.read {
			t.Errorf("%s: payload allowed %v, want %v", name, got, c.read)
		}
		if got := ok(e.do(c.who, "GET", e.path(c.secretRef)+"/acl", nil)); got != c.readACL {
			t.Errorf("%s: acl read allowed %v, want %v", name, got, c.readACL)
		}
		if got := ok(e.do(c.who, "PATCH", e.path(c.secretRef)+"/acl", map[string]any{})); got != c.write {
			t.Errorf("%s: acl change allowed %v, want %v", name, got, c.write)
		}
	}
	wantError(t, "refused read", e.do(bob, "GET", e.path(private), nil), 403,
		"Secret retrieval attempt not allowed - please review your user/project privileges")
	wantError(t, "refused delete", e.do(mallet, "DELETE", e.path(private), nil), 403,
		"Secret deletion attempt not allowed - please review your user/project privileges")
	wantError(t, "reader creates", e.do(rita, "POST", "/key-manager/v1/secrets", map[string]any{}), 403,
		"Secret creation attempt not allowed - please review your user/project privileges")
	// The ACL body shapes.
	r := e.do(alice, "GET", e.path(open)+"/acl", nil)
	if string(bytes.TrimSpace(r.raw)) != `{"read":{"project-access":true}}` {
		t.Errorf("default ACL: %s", r.raw)
	}
	r = e.do(alice, "GET", e.path(private)+"/acl", nil)
	read := r.body["read"].(map[string]any)
	if read["project-access"] != false || fmt.Sprint(read["users"]) != "[mallet]" || read["created"] == nil || read["updated"] == nil {
		t.Errorf("explicit ACL: %s", r.raw)
	}
	e.do(alice, "PATCH", e.path(private)+"/acl", map[string]any{"read": map[string]any{"users": []any{"bob"}}})
	r = e.do(alice, "GET", e.path(private)+"/acl", nil)
	if read := r.body["read"].(map[string]any); read["project-access"] != false || fmt.Sprint(read["users"]) != "[bob]" {
		t.Errorf("PATCH keeps project-access and replaces users: %s", r.raw)
	}
	wantError(t, "ACL write op", e.do(alice, "PUT", e.path(private)+"/acl", map[string]any{"write": map[string]any{}}), 400,
		"Provided object does not match schema 'ACL': Additional properties are not allowed ('write' was unexpected). Invalid property: 'additionalProperties'")
	if r := e.do(alice, "DELETE", e.path(private)+"/acl", nil); r.code != 204 {
		t.Errorf("delete ACL: %d %s", r.code, r.raw)
	}
	if r := e.do(bob, "GET", e.path(private), nil); r.code != 200 {
		t.Errorf("after the ACL is deleted the project reads again: %d", r.code)
	}
	// Containers follow the same rules.
	r = e.do(alice, "POST", "/key-manager/v1/containers", map[string]any{"type": "generic"})
	ct := e.path(r.body["container_ref"].(string))
	if r := e.do(mallet, "GET", ct, nil); r.code != 403 {
		t.Errorf("other project reads a container: %d", r.code)
	}
	e.do(alice, "PUT", ct+"/acl", map[string]any{"read": map[string]any{"users": []any{"mallet"}}})
	if r := e.do(mallet, "GET", ct, nil); r.code != 200 {
		t.Errorf("ACL user reads a container: %d %s", r.code, r.raw)
	}
}

func TestKeyRing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	k, err := secrets.OpenKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, "1"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want mode 0600", info, err)
	}
	s1, err := k.Seal([]byte("plain"), []byte("id-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(s1.Data, []byte("plain")) {
		t.Error("sealed data contains the plaintext")
	}
	if err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	s2, _ := k.Seal([]byte("plain"), []byte("id-1"))
	if s1.KeyID != 1 || s2.KeyID != 2 {
		t.Errorf("key ids %d, %d; want 1, 2", s1.KeyID, s2.KeyID)
	}
	// A second ring on the same directory (another replica) opens both.
	k2, err := secrets.OpenKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []any{s1, s2} {
		_ = s
	}
	if p, err := k2.Open(s1, []byte("id-1")); err != nil || string(p) != "plain" {
		t.Errorf("open with the old key: %q %v", p, err)
	}
	if _, err := k2.Open(s1, []byte("id-2")); err == nil {
		t.Error("a payload moved to another secret opened")
	}
	tampered := *s2
	tampered.Data = append([]byte(nil), s2.Data...)
	tampered.Data[len(tampered.Data)-1] ^= 1
	if _, err := k2.Open(&tampered, []byte("id-1")); err == nil {
		t.Error("tampered payload opened")
	}
	os.Chmod(filepath.Join(dir, "2"), 0o644)
	if _, err := secrets.OpenKeyRing(dir); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("world-readable key accepted: %v", err)
	}
}

// certPKI makes a CA and a leaf for name signed by it (see testpki).
func certPKI(t testing.TB, name string) (ca *x509.Certificate, caKey *ecdsa.PrivateKey, leaf *x509.Certificate, key *ecdsa.PrivateKey) {
	t.Helper()
	c := testpki.NewCA(t, "test CA")
	l := c.Leaf(t, name)
	return c.Cert, c.Key, l.Cert, l.Key
}

func pemCert(c *x509.Certificate) []byte { return testpki.CertPEM(c) }

func pemKey(k any) []byte { return testpki.KeyPEM(k) }
