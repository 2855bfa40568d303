package haproxy

// The helpers and several case tables of this package's tests are copied from the native
// engine's tests (internal/engine/helpers_test.go, http_test.go, tls_test.go,
// l7_test.go) and adapted, so that both engines answer the same cases; the native
// engine's files are not shared because they are package engine's internals.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// backend is a real HTTP server on loopback that names itself in every response.
type backend struct {
	id   string
	addr netip.AddrPort
	hits atomic.Int64
	srv  *http.Server
	ln   net.Listener
	mu   sync.Mutex
	last http.Header // headers of the last request
	reqs []http.Header
}

func startBackend(t *testing.T, id string) *backend {
	t.Helper()
	return startBackendOn(t, id, "127.0.0.1:0")
}

func startBackendOn(t *testing.T, id, addr string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{id: id, ln: ln, addr: ln.Addr().(*net.TCPAddr).AddrPort()}
	b.serve(t)
	return b
}

// restart listens again on the same address after stop.
func (b *backend) restart(t *testing.T) {
	t.Helper()
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.ln, err = net.Listen("tcp", b.addr.String())
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("relisten %s: %v", b.addr, err)
	}
	b.serve(t)
}

func (b *backend) serve(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		b.mu.Lock()
		b.last = r.Header.Clone()
		b.last.Set("X-Test-Host", r.Host)
		b.last.Set("X-Test-URI", r.RequestURI)
		if len(b.reqs) < 1000 {
			b.reqs = append(b.reqs, b.last)
		}
		b.mu.Unlock()
		if v := r.URL.Query().Get("hsts"); v != "" {
			w.Header().Set("Strict-Transport-Security", v)
		}
		if c := r.URL.Query().Get("setcookie"); c != "" {
			w.Header().Add("Set-Cookie", c)
		}
		if r.URL.Query().Get("status") != "" {
			var code int
			fmt.Sscan(r.URL.Query().Get("status"), &code)
			w.WriteHeader(code)
		}
		fmt.Fprint(w, b.id)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
		fmt.Fprint(w, b.id)
	})
	b.srv = &http.Server{Handler: mux}
	ln := b.ln
	go b.srv.Serve(ln)
	t.Cleanup(func() { b.srv.Close() })
}

func (b *backend) stop() { b.srv.Close() }

func (b *backend) lastHeaders() http.Header {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last.Clone()
}

func (b *backend) member(id string) dataplane.Member {
	return dataplane.Member{ID: id, Address: b.addr.Addr().String(), ProtocolPort: int(b.addr.Port()), Weight: 1, AdminStateUp: true}
}

// freePort returns a loopback TCP port that is free now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// testDir is a short private directory (UNIX socket names are limited to 108 bytes).
func testDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "fhx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func newEngine(t *testing.T, opts Options) *Engine {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = testDir(t)
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 100 * time.Millisecond
	}
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(e.dir, configFile)); err == nil {
				t.Logf("haproxy.cfg:\n%s", b)
			}
		}
	})
	return e
}

func mustApply(t *testing.T, e *Engine, cfg *dataplane.Config) {
	t.Helper()
	if err := e.Apply(context.Background(), cfg); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

func httpListener(id string, port int, pool string) dataplane.Listener {
	return dataplane.Listener{ID: id, LoadBalancerID: "lb", Protocol: dataplane.ProtocolHTTP, Addresses: []string{"127.0.0.1"},
		ProtocolPort: port, DefaultPoolID: pool, ConnectionLimit: -1,
		TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000}
}

func tcpListener(id string, proto dataplane.Protocol, port int, pool string) dataplane.Listener {
	l := httpListener(id, port, pool)
	l.Protocol = proto
	return l
}

func pool(id string, proto dataplane.Protocol, alg dataplane.Algorithm, ms ...dataplane.Member) dataplane.Pool {
	return dataplane.Pool{ID: id, Protocol: proto, Algorithm: alg, Members: ms}
}

func oneListener(port int, p dataplane.Pool) *dataplane.Config {
	return &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{httpListener("l1", port, p.ID)}, Pools: []dataplane.Pool{p}}
}

// newClient is a keep-alive HTTP client that never reuses connections across tests.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func readResponse(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

// rawExchange writes req on a fresh connection and returns everything read until the
// server closes or the deadline passes.
func rawExchange(t *testing.T, addr string, req string, wait time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	io.WriteString(c, req)
	b, _ := io.ReadAll(c)
	return string(b)
}

func statusOf(resp string) string {
	line, _, _ := strings.Cut(resp, "\r\n")
	return line
}

// dialFrom connects to addr from the loopback source address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	return c
}

// clientFrom is an HTTP client whose connections come from source address src.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: 10 * time.Second}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func memberHealth(e *Engine, id string) dataplane.MemberHealth {
	for _, h := range e.Health().Members {
		if h.MemberID == id {
			return h
		}
	}
	return dataplane.MemberHealth{}
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

func l7rule(typ, cmp, key, value string) dataplane.L7Rule {
	return dataplane.L7Rule{ID: typ + "-" + value, Type: typ, CompareType: cmp, Key: key, Value: value}
}

func toPool(id string, pos int, pool string, rules ...dataplane.L7Rule) dataplane.L7Policy {
	return dataplane.L7Policy{ID: id, Position: pos, Action: dataplane.ActionRedirectToPool, RedirectPoolID: pool, Rules: rules}
}
