package secrets_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/secrets"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// TestHrefsIgnoreForwardingHeaders: hrefs come from the request's own
// scheme and Host. A client's X-Forwarded-Proto used to become the scheme of
// every href it was handed (and of the hrefs a container must reference).
func TestHrefsIgnoreForwardingHeaders(t *testing.T) {
	e := newEnv(t)
	r := e.do(alice, "POST", "/key-manager/v1/secrets", map[string]any{"payload": "x", "payload_content_type": "text/plain"},
		"X-Forwarded-Proto", "gopher", "X-Forwarded-Host", "evil.example")
	href, _ := r.body["secret_ref"].(string)
	if r.code != http.StatusCreated || !strings.HasPrefix(href, e.srv.URL+"/key-manager/v1/secrets/") {
		t.Fatalf("store with forwarding headers: %d %s, want an href under %s", r.code, r.raw, e.srv.URL)
	}
}

// TestExternalURLSetsHrefs: with --external-url, hrefs and the hrefs a
// container may reference are under it, whatever the request's Host.
func TestExternalURLSetsHrefs(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(dir, "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := secrets.OpenKeyRing(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	const external = "https://lb.example:9876"
	svc, err := secrets.New(secrets.Options{Store: st, Keys: keys, ExternalURL: external + "/"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		svc.ServeHTTP(w, r.WithContext(policy.WithCaller(r.Context(), policy.Caller{ProjectID: "p1", UserID: "alice", Roles: []string{"member"}})))
	}))
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv}
	r := e.do(alice, "POST", "/key-manager/v1/secrets", map[string]any{"payload": "x", "payload_content_type": "text/plain"})
	href, _ := r.body["secret_ref"].(string)
	if r.code != http.StatusCreated || !strings.HasPrefix(href, external+"/key-manager/v1/secrets/") {
		t.Fatalf("store: %d %s, want an href under %s", r.code, r.raw, external)
	}
	r = e.do(alice, "POST", "/key-manager/v1/containers", map[string]any{"type": "generic",
		"secret_refs": []any{map[string]any{"name": "a", "secret_ref": href}}})
	if ref, _ := r.body["container_ref"].(string); r.code != http.StatusCreated || !strings.HasPrefix(ref, external+"/key-manager/v1/containers/") {
		t.Errorf("container referencing %s: %d %s", href, r.code, r.raw)
	}
}

// TestQueryStringIsStrict: a query string that cannot be parsed whole is a
// 400 in Barbican's error format. Parsed leniently, 10,001 parameters drop
// every filter: the name filter below would list every secret.
func TestQueryStringIsStrict(t *testing.T) {
	e := newEnv(t)
	e.store(alice, map[string]any{"name": "kept", "payload": "x", "payload_content_type": "text/plain"})
	if r := e.do(alice, "GET", "/key-manager/v1/secrets?name=nomatch", nil); r.code != 200 || r.body["total"] != float64(0) {
		t.Fatalf("filtered list: %d %s", r.code, r.raw)
	}
	for name, query := range map[string]string{
		"10,001 parameters": "name=nomatch&" + strings.Repeat("x=1&", 10000),
		"bad escape":        "name=nomatch&alg=%zz",
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do(alice, "GET", "/key-manager/v1/secrets?"+query, nil)
			if len(r.raw) > 300 {
				r.raw = append(r.raw[:300], "…"...)
			}
			desc, _ := r.body["description"].(string)
			if r.code != http.StatusBadRequest || r.body["code"] != float64(400) || r.body["title"] != "Bad Request" ||
				!strings.HasPrefix(desc, "URI provided invalid query string parameters") {
				t.Errorf("got %d %s, want Barbican's 400", r.code, r.raw)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json; charset=UTF-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

// TestRoutingMisses: unknown paths and ids are Barbican's 404s; a known
// path asked with another method is its 405 with an Allow header; a
// trailing slash is ignored.
func TestRoutingMisses(t *testing.T) {
	e := newEnv(t)
	href := e.store(alice, map[string]any{"payload": "x", "payload_content_type": "text/plain"})
	wantError(t, "unknown path", e.do(alice, "GET", "/key-manager/v1/nothing", nil), 404, "The resource could not be found.")
	wantError(t, "unknown version", e.do(alice, "GET", "/key-manager/v2/secrets", nil), 404, "The resource could not be found.")
	wantError(t, "bad id", e.do(alice, "GET", "/key-manager/v1/secrets/not-a-uuid", nil), 404, "Not Found. Provided secret id is invalid.")
	wantError(t, "bad container id", e.do(alice, "GET", "/key-manager/v1/containers/x/acl", nil), 404, "Not Found. Provided container id is invalid.")
	r := e.do(alice, "POST", e.path(href)+"/payload", nil)
	wantError(t, "method", r, 405, "The method is not allowed for this resource.")
	if r.header.Get("Allow") != "GET" {
		t.Errorf("Allow %q, want GET", r.header.Get("Allow"))
	}
	if r := e.do(alice, "GET", e.path(href)+"/payload/", nil); r.code != 200 || string(r.raw) != "x" {
		t.Errorf("trailing slash: %d %s", r.code, r.raw)
	}
	if r := e.do(alice, "HEAD", "/key-manager/", nil); r.code != http.StatusMultipleChoices {
		t.Errorf("HEAD /key-manager/: %d", r.code)
	}
}
