package lbaasv1_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/controller"
	"github.com/fulcrumlb/fulcrum/internal/lbaasv1"
	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// harness runs the v1 API and the Octavia API on one real SQLite store,
// with the Neutron subset's IPAM (VIPs in private-subnet, 127.10.0.0/16),
// the real controller and the noop provider. Callers are given by the
// X-Project-Id and X-Roles headers (admin by default).
type harness struct {
	t      *testing.T
	srv    *httptest.Server
	store  store.Store
	subnet string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(t.TempDir(), "fulcrum.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	subnet, err := network.Bootstrap(ctx, st, "admin-project", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctrl := controller.New(controller.Options{Store: st, Providers: map[string]controller.Provider{"noop": controller.Noop{}},
		Resync: time.Second, Logger: slog.New(slog.DiscardHandler)})
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { ctrl.Run(cctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	enf, err := policy.New(policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vips := network.NewVIPs(st, nil)
	api := apiserver.New(apiserver.Options{Store: st, Notifier: ctrl, VIPs: vips, Subnets: vips, Authorizer: enf,
		Auth: headerAuth{}, Providers: []string{"noop"}, DefaultProvider: "noop", ProviderAliases: map[string]string{"amphora": "noop"}})
	v1 := lbaasv1.New(lbaasv1.Options{Store: st, Writer: api.Writer(), Authorizer: enf, Stats: api.Stats(),
		Providers: []string{"noop"}, DefaultProvider: "noop", ProviderAliases: map[string]string{"amphora": "noop"}})
	octavia := api.Handler()
	h := &harness{t: t, store: st, subnet: subnet}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/networking/v2.0/lb/") || strings.HasPrefix(r.URL.Path, "/v2.0/lb/") {
			c, _ := headerAuth{}.Authenticate(r)
			v1.ServeHTTP(w, r.WithContext(policy.WithCaller(r.Context(), c)))
			return
		}
		octavia.ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// headerAuth takes the caller from X-Project-Id and X-Roles.
type headerAuth struct{}

func (headerAuth) Authenticate(r *http.Request) (policy.Caller, error) {
	roles := strings.Split(r.Header.Get("X-Roles"), ",")
	return policy.Caller{ProjectID: r.Header.Get("X-Project-Id"), Roles: roles, IsAdmin: r.Header.Get("X-Roles") == "admin"}, nil
}

type response struct {
	status int
	raw    []byte
	body   map[string]any
}

func (r *response) obj(key string) map[string]any { m, _ := r.body[key].(map[string]any); return m }
func (r *response) list(key string) []any         { l, _ := r.body[key].([]any); return l }

// neutronError returns the type and message of a Neutron fault.
func (r *response) neutronError() (string, string) {
	e, _ := r.body["NeutronError"].(map[string]any)
	t, _ := e["type"].(string)
	m, _ := e["message"].(string)
	return t, m
}

// as sends a request as project (admin when roles is "admin").
func (h *harness) as(project, roles, method, path string, body any) *response {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Project-Id", project)
	req.Header.Set("X-Roles", roles)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := &response{status: res.StatusCode, raw: raw}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &r.body)
	}
	return r
}

func (h *harness) do(method, path string, body any) *response {
	h.t.Helper()
	return h.as("p1", "member", method, path, body)
}

func (h *harness) must(code int, method, path string, body any) *response {
	h.t.Helper()
	r := h.do(method, path, body)
	if r.status != code {
		h.t.Fatalf("%s %s %v: %d %s, want %d", method, path, body, r.status, r.raw, code)
	}
	return r
}

// wait polls path until the object under key has status want (v1's
// status, or provisioning_status for the Octavia API).
func (h *harness) wait(path, key, field, want string) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last *response
	for time.Now().Before(deadline) {
		last = h.do("GET", path, nil)
		if last.status == 200 && last.obj(key)[field] == want {
			return last.obj(key)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatalf("GET %s: %s never %s; last %d %s", path, field, want, last.status, last.raw)
	return nil
}

// gone polls path until it answers 404.
func (h *harness) gone(path string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last *response
	for time.Now().Before(deadline) {
		if last = h.do("GET", path, nil); last.status == 404 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatalf("GET %s: still there; last %d %s", path, last.status, last.raw)
}

// until polls cond until it holds.
func (h *harness) until(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
