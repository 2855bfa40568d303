package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// The tests run on a busy 2-core CI machine with -race, where a goroutine can wait
// seconds for a CPU. Nothing here is timed to the second: a test waits for a condition
// and gives up only after a bound far beyond any healthy pause, so that reaching it means
// the engine is stuck, not slow.
const (
	// patience bounds a wait for a condition (a probe done, a counter reached).
	patience = 60 * time.Second
	// ioWait bounds one small exchange (a request and its response) on a test connection.
	ioWait = 30 * time.Second
	// stallWait is how long a transfer may go without moving a byte before a test calls
	// it stalled; the engine's own timeouts in these tests are 40 s and more.
	stallWait = 30 * time.Second
)

// waitUntil polls cond until it holds, failing the test (naming what) after patience.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, patience)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// backend is a real HTTP server on loopback that names itself in every response.
type backend struct {
	id   string
	addr netip.AddrPort
	hits atomic.Int64
	srv  *http.Server
	ln   net.Listener
	mu   sync.Mutex
	last http.Header // headers of the last request
	// hold keeps /slow requests waiting until releaseSlow (or their client goes).
	hold     chan struct{}
	holdOnce sync.Once
}

func startBackend(t *testing.T, id string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{id: id, ln: ln, addr: ln.Addr().(*net.TCPAddr).AddrPort(), hold: make(chan struct{})}
	b.serve(t)
	t.Cleanup(b.releaseSlow)
	return b
}

// releaseSlow lets every /slow request, held or to come, answer.
func (b *backend) releaseSlow() { b.holdOnce.Do(func() { close(b.hold) }) }

// restartBackend listens again on the same address after stop.
func (b *backend) restart(t *testing.T) {
	t.Helper()
	var err error
	waitUntil(t, "listen again on "+b.addr.String(), func() bool {
		b.ln, err = net.Listen("tcp", b.addr.String())
		return err == nil
	})
	b.serve(t)
}

func (b *backend) serve(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		b.mu.Lock()
		b.last = r.Header.Clone()
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
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Backend", b.id)
		w.Write(body)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		for i := 0; i < 5; i++ {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		select {
		case <-b.hold:
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

func (b *backend) member(id string) dataplane.Member {
	return dataplane.Member{ID: id, Address: b.addr.Addr().String(), ProtocolPort: int(b.addr.Port()), Weight: 1, AdminStateUp: true}
}

// freePort returns a loopback TCP+UDP port that is free now.
func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// checkGoroutines fails the test if goroutines started during it are still running after
// cleanup (given a moment to finish).
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(patience)
		for {
			http.DefaultTransport.(*http.Transport).CloseIdleConnections()
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func newEngine(t *testing.T, opts Options) *Engine {
	t.Helper()
	e := New(opts)
	t.Cleanup(func() { e.Close() })
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

func pool(id string, proto dataplane.Protocol, alg dataplane.Algorithm, ms ...dataplane.Member) dataplane.Pool {
	return dataplane.Pool{ID: id, Protocol: proto, Algorithm: alg, Members: ms}
}

// newClient is a keep-alive HTTP client that never reuses connections across tests, for
// small exchanges.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}, Timeout: ioWait}
}

// stallConn fails a read or write that moves no byte for stallWait: a transfer of any
// size may take as long as it needs, as long as it moves.
type stallConn struct{ net.Conn }

func (c stallConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(stallWait))
	return c.Conn.Read(p)
}

func (c stallConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(stallWait))
	return c.Conn.Write(p)
}

// CloseWrite half-closes the underlying TCP connection.
func (c stallConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }

// dialStall connects to addr with stallConn's rule.
func dialStall(t *testing.T, addr string) stallConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioWait)
	if err != nil {
		t.Fatal(err)
	}
	return stallConn{c}
}

// stallClient is an HTTP client for large transfers: no bound on the whole exchange, but
// its connections fail when stalled (stallConn).
func stallClient() *http.Client {
	d := &net.Dialer{Timeout: ioWait}
	return &http.Client{Transport: &http.Transport{DisableCompression: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return stallConn{c}, nil
		}}}
}

// keepAliveConn is one client connection carrying request after request. Unlike an
// http.Transport it never opens another connection or retries on one: if the engine
// closes the connection, the next request says so.
type keepAliveConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialKeepAlive(addr string) (*keepAliveConn, error) {
	c, err := net.DialTimeout("tcp", addr, ioWait)
	if err != nil {
		return nil, err
	}
	return newKeepAliveConn(c), nil
}

// newKeepAliveConn sends requests on c (e.g. a *tls.Conn).
func newKeepAliveConn(c net.Conn) *keepAliveConn {
	return &keepAliveConn{c: c, br: bufio.NewReader(c)}
}

// get sends GET path and returns the response and its body. A response that closes the
// connection is an error: the connection is meant to carry the next request too.
func (k *keepAliveConn) get(path string) (*http.Response, string, error) {
	k.c.SetDeadline(time.Now().Add(ioWait))
	if _, err := io.WriteString(k.c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return nil, "", fmt.Errorf("GET %s: write: %w", path, err)
	}
	resp, err := http.ReadResponse(k.br, &http.Request{Method: "GET"})
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: read response: %w", path, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: read body: %w", path, err)
	}
	if resp.Close {
		return nil, "", fmt.Errorf("GET %s: %d response closes the keep-alive connection", path, resp.StatusCode)
	}
	return resp, string(b), nil
}

func (k *keepAliveConn) Close() error { return k.c.Close() }

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

// rawExchange writes req on a fresh connection and returns everything read until the
// server closes the connection (a reset after the answer counts as closing). A server
// that keeps the connection open for ioWait fails the test.
func rawExchange(t *testing.T, addr string, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioWait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioWait))
	io.WriteString(c, req)
	b, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("request %q: the server neither answered and closed within %v; read %q", req, ioWait, b)
	}
	return string(b)
}

func statusOf(resp string) string {
	line, _, _ := strings.Cut(resp, "\r\n")
	return line
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

// upgradeHandler answers an Upgrade request with 101 and then echoes bytes.
func upgradeHandler(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "websocket" {
		http.Error(w, "want upgrade", 400)
		return
	}
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	brw.Flush()
	buf := make([]byte, 1024)
	for {
		n, err := brw.Read(buf)
		if n > 0 {
			c.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// dialFrom connects to addr from the loopback source address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: ioWait}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	return c
}

// clientFrom is an HTTP client whose connections come from source address src.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: ioWait}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: ioWait}
}

var _ = context.Background
var _ = bufio.NewReader

// keepAliveLoad is a set of keep-alive connections, each sending requests one after
// another (keepAliveConn: a connection the engine closes is an error, never silently
// replaced) until stop.
type keepAliveLoad struct {
	answered []atomic.Int64 // per connection
	failed   atomic.Int64
	firstErr atomic.Value
	running  atomic.Int64
	stopc    chan struct{}
	wg       sync.WaitGroup
}

// maxLoadRequests and maxLoadTime bound the requests of one keepAliveLoad connection;
// a test that needs more fails (advance) rather than waits.
const (
	maxLoadRequests = 100000
	maxLoadTime     = 5 * patience
)

// startKeepAliveLoad opens n connections to addr. The i-th request of a connection asks
// for path(i); check judges each answer (nil: as expected). A connection stops at its
// first error, at maxLoadRequests, after maxLoadTime or at stop.
func startKeepAliveLoad(t *testing.T, addr string, n int, path func(i int) string, check func(path string, resp *http.Response, body string) error) *keepAliveLoad {
	t.Helper()
	l := &keepAliveLoad{answered: make([]atomic.Int64, n), stopc: make(chan struct{})}
	var conns []*keepAliveConn
	for w := 0; w < n; w++ {
		kc, err := dialKeepAlive(addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, kc)
	}
	end := time.Now().Add(maxLoadTime)
	for w, kc := range conns {
		l.wg.Add(1)
		l.running.Add(1)
		go func() {
			defer l.wg.Done()
			defer l.running.Add(-1)
			defer kc.Close()
			for i := 0; i < maxLoadRequests && time.Now().Before(end); i++ {
				select {
				case <-l.stopc:
					return
				default:
				}
				p := path(i)
				resp, body, err := kc.get(p)
				if err == nil {
					err = check(p, resp, body)
				}
				if err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, fmt.Sprintf("connection %d, request %d: %v", w, i, err))
					return
				}
				l.answered[w].Add(1)
			}
		}()
	}
	t.Cleanup(l.halt)
	return l
}

func (l *keepAliveLoad) halt() {
	select {
	case <-l.stopc:
	default:
		close(l.stopc)
	}
	l.wg.Wait()
}

// advance waits until every connection has had per more answers than when it was
// called, so that each carries requests across whatever the caller did before. It fails
// the test at the first failed request, or when a connection stopped or made no progress.
func (l *keepAliveLoad) advance(t *testing.T, per int64) {
	t.Helper()
	base := make([]int64, len(l.answered))
	for i := range l.answered {
		base[i] = l.answered[i].Load()
	}
	waitUntil(t, fmt.Sprintf("each keep-alive connection answers %d more requests", per), func() bool {
		if l.failed.Load() > 0 {
			t.Fatalf("a request failed: %v", l.firstErr.Load())
		}
		if l.running.Load() < int64(len(l.answered)) {
			t.Fatalf("a keep-alive connection reached its bound (%d requests or %v) before the test was done", maxLoadRequests, maxLoadTime)
		}
		for i := range l.answered {
			if l.answered[i].Load() < base[i]+per {
				return false
			}
		}
		return true
	})
}

// stop ends the load and returns how many requests were answered; a failed one fails
// the test.
func (l *keepAliveLoad) stop(t *testing.T) int64 {
	t.Helper()
	l.halt()
	if l.failed.Load() > 0 {
		t.Fatalf("a request failed: %v", l.firstErr.Load())
	}
	var n int64
	for i := range l.answered {
		n += l.answered[i].Load()
	}
	return n
}
