package engine

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// The client side of plain HTTP connections is served inside one readiness wait of the
// socket (proxy.serveInline): reads happen only after the poller reported bytes. These
// tests hold the two ways that design can go wrong: a readiness report lost for bytes
// that came while a request was being served, and a socket whose Close waits for the
// request in flight.

// TestHTTPPipelinedWhileExchanging: a request that arrives while the one before it is
// with the member (a pipelining client) is answered as soon as the first is — the
// readiness report of its bytes, which came while the engine was not waiting, is not
// lost (a wait begun after the first request was read would forget it and leave the
// connection waiting until the client timeout).
func TestHTTPPipelinedWhileExchanging(t *testing.T) {
	checkGoroutines(t)
	a := startBackend(t, "a")
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	e := newEngine(t, Options{})
	mustApply(t, e, &dataplane.Config{Version: 1, Contract: 2, Listeners: []dataplane.Listener{httpListener("h", port, "p")},
		Pools: []dataplane.Pool{pool("p", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))}})

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	// The client timeout is 50 s; the answers must come long before it.
	c.SetDeadline(time.Now().Add(20 * time.Second))
	for round := 0; round < 3; round++ {
		hits := a.hits.Load()
		if _, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the member has the first request", func() bool { return a.hits.Load() == hits+1 })
		if _, err := io.WriteString(c, "GET /?second HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			a.releaseSlow()
		}
		for i := 0; i < 2; i++ {
			resp, body := readResponse(t, br, "GET")
			if resp.StatusCode != 200 || body != "a" {
				t.Fatalf("round %d, answer %d: %d %q", round, i, resp.StatusCode, body)
			}
		}
	}
	// And one ordinary request after them on the same connection.
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || body != "a" {
		t.Fatalf("after the pipelined rounds: %d %q", resp.StatusCode, body)
	}
}

// TestIngressCutDuringRequestInFlight: a change of the security-group filter that refuses
// a client whose request is with a slow member takes effect at once — the Apply returns
// and the client sees its connection end — without waiting for the member's answer.
func TestIngressCutDuringRequestInFlight(t *testing.T) {
	checkGoroutines(t)
	a := startBackend(t, "a")
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := func(v uint64, allow ...string) *dataplane.Config {
		l := httpListener("h", port, "p1")
		l.Ingress = &dataplane.Ingress{Allow: allow}
		return &dataplane.Config{Version: v, Contract: 2, Listeners: []dataplane.Listener{l},
			Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))}}
	}
	e := newEngine(t, Options{})
	mustApply(t, e, cfg(1, "127.0.0.2/32"))
	c := dialFrom(t, "127.0.0.2", addr)
	defer c.Close()
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	waitUntil(t, "the member has the request", func() bool { return a.hits.Load() == 1 })

	applied := make(chan error, 1)
	go func() { applied <- e.Apply(context.Background(), cfg(2, "127.0.0.3/32")) }()
	select {
	case err := <-applied:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		a.releaseSlow()
		t.Fatal("Apply waited for the refused client's request in flight")
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("the refused client's connection: read %d, %v; want it ended", n, err)
	}
	a.releaseSlow()
}
