package apiserver_test

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
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/controller"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// harness runs the API on the real SQLite store, with (optionally) the real
// controller and the noop provider behind it.
type harness struct {
	t     testing.TB
	srv   *httptest.Server
	store store.Store
	ctrl  *controller.Controller
	notes *recordingNotifier
}

// recordingNotifier forwards to the controller (when there is one) and
// remembers which load balancers were enqueued.
type recordingNotifier struct {
	mu   sync.Mutex
	ids  []string
	next apiserver.Notifier
}

func (n *recordingNotifier) Enqueue(id string) {
	n.mu.Lock()
	n.ids = append(n.ids, id)
	n.mu.Unlock()
	if n.next != nil {
		n.next.Enqueue(id)
	}
}

func (n *recordingNotifier) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.ids)
}

type harnessOpts struct {
	controller bool
	// noopAmphorae has the noop provider record amphorae (as the server's
	// does); tests that write placements themselves leave it off.
	noopAmphorae bool
	clock        func() time.Time
	tweak        func(*apiserver.Options)
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(t.TempDir(), "fulcrum.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, store: st, notes: &recordingNotifier{}}
	if o.controller {
		noop := controller.Noop{}
		if o.noopAmphorae {
			noop.Store = st
		}
		h.ctrl = controller.New(controller.Options{Store: st, Providers: map[string]controller.Provider{"noop": noop}, Resync: time.Second,
			Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		h.notes.next = h.ctrl
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { h.ctrl.Run(cctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	opts := apiserver.Options{
		Store: st, Notifier: h.notes, VIPs: network.NewNoop(),
		Providers: []string{"noop", "octavia"}, DefaultProvider: "noop", Clock: o.clock,
	}
	if o.tweak != nil {
		o.tweak(&opts)
	}
	api := apiserver.New(opts)
	octavia, neutron := api.Handler(), api.NeutronHandler()
	// The network endpoint's Neutron-LBaaS v2 beside the Octavia API, as
	// cmd mounts them (without a ServeMux, which would clean the paths the
	// routing tests send as they are).
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == apiserver.NeutronPrefix || strings.HasPrefix(r.URL.Path, apiserver.NeutronPrefix+"/") {
			neutron.ServeHTTP(w, r)
			return
		}
		octavia.ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// response is an HTTP answer with its body decoded when it is JSON.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r *response) String() string { return string(r.raw) }

// do sends a request; body may be a string (sent as is) or a value encoded
// as JSON. headers are name, value pairs.
func (h *harness) do(method, path string, body any, headers ...string) *response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Project-Id", "p1")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	r := &response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			h.t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	return r
}

// must sends a request and fails the test unless the status is want.
func (h *harness) must(want int, method, path string, body any, headers ...string) *response {
	h.t.Helper()
	r := h.do(method, path, body, headers...)
	if r.status != want {
		h.t.Fatalf("%s %s %v: status %d, want %d; body %s", method, path, body, r.status, want, r.raw)
	}
	return r
}

// obj returns the object under key in a response body.
func (r *response) obj(key string) map[string]any {
	m, _ := r.body[key].(map[string]any)
	return m
}

func (r *response) list(key string) []any {
	l, _ := r.body[key].([]any)
	return l
}

func (r *response) fault() string {
	s, _ := r.body["faultstring"].(string)
	return s
}

// createLB creates a load balancer and returns its id.
func (h *harness) createLB(name string) string {
	h.t.Helper()
	r := h.must(201, "POST", "/v2.0/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": name, "vip_subnet_id": "6a0a707c-45ef-4758-b533-e55adddba8ce"}})
	return r.obj("loadbalancer")["id"].(string)
}

// waitActive polls path until obj's provisioning_status is ACTIVE.
func (h *harness) waitStatus(path, key string, want lb.ProvisioningStatus) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var last *response
	for time.Now().Before(deadline) {
		last = h.do("GET", path, nil)
		if last.status == 200 && last.obj(key)["provisioning_status"] == string(want) {
			return last.obj(key)
		}
		<-tick.C
	}
	h.t.Fatalf("GET %s: never %s; last %d %s", path, want, last.status, last.raw)
	return nil
}

// waitGone polls path until it answers 404.
func (h *harness) waitGone(path string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var last *response
	for time.Now().Before(deadline) {
		if last = h.do("GET", path, nil); last.status == 404 {
			return
		}
		<-tick.C
	}
	h.t.Fatalf("GET %s: still there; last %d %s", path, last.status, last.raw)
}

// testWriter sends log lines to the test's log (shown when it fails).
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
