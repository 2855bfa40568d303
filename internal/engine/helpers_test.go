package engine

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
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
}

func startBackend(t *testing.T, id string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{id: id, ln: ln, addr: ln.Addr().(*net.TCPAddr).AddrPort()}
	b.serve(t)
	return b
}

// restartBackend listens again on the same address after stop.
func (b *backend) restart(t *testing.T) {
	t.Helper()
	var err error
	for i := 0; i < 50; i++ {
		b.ln, err = net.Listen("tcp", b.addr.String())
		if err == nil {
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
		b.mu.Unlock()
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
		deadline := time.Now().Add(5 * time.Second)
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

// client is a keep-alive HTTP client that never reuses connections across tests.
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

var _ = context.Background
var _ = bufio.NewReader
