package engine

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// waitFor polls cond until it holds or five seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// refused reports whether a connection from src to addr is closed by the engine without a
// byte of HTTP (the accept-time filter).
func refused(t *testing.T, src, addr string) bool {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout()) // reset at once
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false // neither answered nor closed
	}
	return len(b) == 0
}

// TestIngressFilter: a listener's security-group filter admits only the
// clients it lists, on HTTP and TCP listeners, on top of allowed_cidrs
// (both must pass); an empty list admits nobody.
func TestIngressFilter(t *testing.T) {
	checkGoroutines(t)
	a := startBackend(t, "a")
	echo := startEcho(t, "e")
	hp, tp, both, none := freePort(t), freePort(t), freePort(t), freePort(t)
	httpL := httpListener("h", hp, "p1")
	httpL.Ingress = &dataplane.Ingress{Allow: []string{"127.0.0.2/32", "10.0.0.0/8"}}
	tcpL := tcpListener("t", dataplane.ProtocolTCP, tp, "p2")
	tcpL.Ingress = &dataplane.Ingress{Allow: []string{"127.0.0.2/32"}}
	bothL := httpListener("b", both, "p1")
	bothL.Ingress = &dataplane.Ingress{Allow: []string{"127.0.0.0/8"}}
	bothL.AllowedCIDRs = []string{"127.0.0.2/32"}
	noneL := httpListener("n", none, "p1")
	noneL.Ingress = &dataplane.Ingress{Allow: []string{}}
	e := newEngine(t, Options{})
	mustApply(t, e, &dataplane.Config{Version: 1, Contract: 2, Listeners: []dataplane.Listener{httpL, tcpL, bothL, noneL},
		Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")),
			pool("p2", dataplane.ProtocolTCP, dataplane.RoundRobin, dataplane.Member{ID: "me", Address: "127.0.0.1", ProtocolPort: echo, Weight: 1, AdminStateUp: true})}})

	url := func(port int) string { return fmt.Sprintf("http://127.0.0.1:%d/", port) }
	if code, body := get(t, clientFrom("127.0.0.2"), url(hp)); code != 200 || body != "a" {
		t.Fatalf("HTTP from an admitted client: %d %q", code, body)
	}
	if !refused(t, "127.0.0.3", fmt.Sprintf("127.0.0.1:%d", hp)) {
		t.Fatal("HTTP from 127.0.0.3, which no rule admits, was answered")
	}
	c := dialFrom(t, "127.0.0.2", fmt.Sprintf("127.0.0.1:%d", tp))
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "ping")
	c.(*net.TCPConn).CloseWrite()
	if b, _ := io.ReadAll(c); string(b) != "e:ping" {
		t.Fatalf("TCP from an admitted client: %q", b)
	}
	c.Close()
	if !refused(t, "127.0.0.3", fmt.Sprintf("127.0.0.1:%d", tp)) {
		t.Fatal("TCP from a client no rule admits was carried")
	}
	if code, _ := get(t, clientFrom("127.0.0.2"), url(both)); code != 200 {
		t.Fatalf("client passing both filters: %d", code)
	}
	if !refused(t, "127.0.0.3", fmt.Sprintf("127.0.0.1:%d", both)) {
		t.Fatal("a client the group admits but allowed_cidrs does not was served")
	}
	for _, src := range []string{"127.0.0.1", "127.0.0.2"} {
		if !refused(t, src, fmt.Sprintf("127.0.0.1:%d", none)) {
			t.Fatalf("a filter admitting nobody served %s", src)
		}
	}
	if a.hits.Load() != 2 {
		t.Fatalf("backend saw %d requests, want 2", a.hits.Load())
	}
	for _, st := range e.Stats().Listeners {
		if st.RequestErrors == 0 {
			t.Errorf("listener %s counted no refused connection", st.ListenerID)
		}
	}
}

// TestIngressChangeCutsRefusedConnections: when the filter changes, the
// established keep-alive connection of a client it no longer admits is
// closed, a newly admitted client is served, and admitted clients keep
// their connections.
func TestIngressChangeCutsRefusedConnections(t *testing.T) {
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
	mustApply(t, e, cfg(1, "127.0.0.2/32", "127.0.0.4/32"))

	keepAlive := func(src string) (net.Conn, *bufio.Reader) {
		c := dialFrom(t, src, addr)
		t.Cleanup(func() { c.Close() })
		br := bufio.NewReader(c)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || body != "a" {
			t.Fatalf("first request from %s: %d %q", src, resp.StatusCode, body)
		}
		return c, br
	}
	dropped, _ := keepAlive("127.0.0.2")
	kept, keptBR := keepAlive("127.0.0.4")

	mustApply(t, e, cfg(2, "127.0.0.3/32", "127.0.0.4/32"))
	dropped.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := dropped.Read(make([]byte, 1)); n != 0 || err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("the connection of a client the new filter refuses: read %d, %v; want it closed", n, err)
	}
	if !refused(t, "127.0.0.2", addr) {
		t.Fatal("a client the new filter refuses was served")
	}
	if code, _ := get(t, clientFrom("127.0.0.3"), "http://"+addr+"/"); code != 200 {
		t.Fatalf("newly admitted client: %d", code)
	}
	kept.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(kept, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := readResponse(t, keptBR, "GET"); resp.StatusCode != 200 {
		t.Fatalf("a client admitted before and after lost its connection: %d", resp.StatusCode)
	}
}

// TestIngressFilterUDP: datagrams of clients the filter does not admit are
// dropped (never reach a member); a change ends the flows of clients no
// longer admitted.
func TestIngressFilterUDP(t *testing.T) {
	checkGoroutines(t)
	u := startUDPEcho(t, "u")
	port := freePort(t)
	cfg := func(v uint64, allow ...string) *dataplane.Config {
		l := tcpListener("udp", dataplane.ProtocolUDP, port, "p")
		l.Ingress = &dataplane.Ingress{Allow: allow}
		return &dataplane.Config{Version: v, Contract: 2, Listeners: []dataplane.Listener{l},
			Pools: []dataplane.Pool{pool("p", dataplane.ProtocolUDP, dataplane.RoundRobin,
				dataplane.Member{ID: "m", Address: "127.0.0.1", ProtocolPort: u, Weight: 1, AdminStateUp: true})}}
	}
	e := newEngine(t, Options{})
	mustApply(t, e, cfg(1, "127.0.0.2/32"))
	dial := func(src string) net.Conn {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	errorsNow := func() int64 { return e.Stats().Listeners[0].RequestErrors }

	ok := dial("127.0.0.2")
	ok.SetDeadline(time.Now().Add(5 * time.Second))
	ok.Write([]byte("hi"))
	buf := make([]byte, 100)
	if n, err := ok.Read(buf); err != nil || string(buf[:n]) != "u:hi" {
		t.Fatalf("admitted client: %q %v", buf[:n], err)
	}

	bad := dial("127.0.0.3")
	before := errorsNow()
	bad.Write([]byte("let me in"))
	waitFor(t, "the engine to drop the datagram of 127.0.0.3", func() bool { return errorsNow() > before })
	bad.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := bad.Read(buf); err == nil {
		t.Fatalf("a client no rule admits got a reply: %q", buf[:n])
	}
	if st := e.Stats().Listeners[0]; st.TotalConnections != 1 {
		t.Fatalf("flows created: %d, want only the admitted client's", st.TotalConnections)
	}

	mustApply(t, e, cfg(2, "127.0.0.3/32"))
	waitFor(t, "the refused client's flow to end", func() bool { return e.Stats().Listeners[0].ActiveConnections == 0 })
	before = errorsNow()
	ok.Write([]byte("again"))
	waitFor(t, "the engine to drop the no longer admitted client's datagram", func() bool { return errorsNow() > before })
	bad.SetDeadline(time.Now().Add(5 * time.Second))
	bad.Write([]byte("now"))
	if n, err := bad.Read(buf); err != nil || string(buf[:n]) != "u:now" {
		t.Fatalf("newly admitted client: %q %v", buf[:n], err)
	}
}
