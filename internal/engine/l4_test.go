package engine

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/clock"
)

// startEcho runs a TCP server that reads until EOF, then writes back everything it read
// (prefixed with its name) and closes: a half-close test.
func startEcho(t *testing.T, name string) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				sc := stallConn{c}
				b, err := io.ReadAll(sc)
				if err != nil {
					return
				}
				sc.Write([]byte(name + ":"))
				sc.Write(b)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().(*net.TCPAddr).Port
}

func tcpListener(id string, proto dataplane.Protocol, port int, pool string) dataplane.Listener {
	l := httpListener(id, port, pool)
	l.Protocol = proto
	return l
}

func TestTCPByteExactHalfClose(t *testing.T) {
	checkGoroutines(t)
	echo := startEcho(t, "e1")
	port, tlsPort := freePort(t), freePort(t)
	e := newEngine(t, Options{})
	m := dataplane.Member{ID: "m", Address: "127.0.0.1", ProtocolPort: echo, Weight: 1, AdminStateUp: true}
	mustApply(t, e, &dataplane.Config{Version: 1,
		Listeners: []dataplane.Listener{tcpListener("tcp", dataplane.ProtocolTCP, port, "p"), tcpListener("https", dataplane.ProtocolHTTPS, tlsPort, "p")},
		Pools:     []dataplane.Pool{pool("p", dataplane.ProtocolTCP, dataplane.RoundRobin, m)}})
	for _, p := range []int{port, tlsPort} {
		payload := make([]byte, 8<<20+123)
		rand.Read(payload)
		// 16 MiB through the engine under -race on a loaded machine: no deadline on the
		// whole, but a stall fails it.
		c := dialStall(t, fmt.Sprintf("127.0.0.1:%d", p))
		errc := make(chan error, 1)
		go func() {
			_, err := c.Write(payload)
			if err == nil {
				err = c.CloseWrite() // half-close: the echo answers only after EOF
			}
			errc <- err
		}()
		got, err := io.ReadAll(c)
		c.Close()
		if werr := <-errc; werr != nil || err != nil {
			t.Fatalf("port %d: write %v, read %v", p, werr, err)
		}
		if !bytes.Equal(got, append([]byte("e1:"), payload...)) {
			t.Fatalf("port %d: got %d bytes back, want the %d sent (prefixed), byte-exact", p, len(got), len(payload))
		}
	}
	st := e.Stats()
	if st.Listeners[0].BytesIn != 8<<20+123 || st.Listeners[0].BytesOut != 8<<20+126 {
		t.Errorf("TCP byte counters: %+v", st.Listeners[0])
	}
}

func TestTCPSourceIPPersistence(t *testing.T) {
	checkGoroutines(t)
	e1, e2 := startEcho(t, "one"), startEcho(t, "two")
	port := freePort(t)
	p := pool("p", dataplane.ProtocolTCP, dataplane.RoundRobin,
		dataplane.Member{ID: "m1", Address: "127.0.0.1", ProtocolPort: e1, Weight: 1, AdminStateUp: true},
		dataplane.Member{ID: "m2", Address: "127.0.0.1", ProtocolPort: e2, Weight: 1, AdminStateUp: true})
	p.SessionPersistence = &dataplane.SessionPersistence{Type: dataplane.PersistSourceIP, PersistenceTimeout: 60}
	e := newEngine(t, Options{})
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{tcpListener("l", dataplane.ProtocolTCP, port, "p")}, Pools: []dataplane.Pool{p}})
	who := func(src string) string {
		c := dialFrom(t, src, fmt.Sprintf("127.0.0.1:%d", port))
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioWait))
		c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		return string(b)
	}
	seen := map[string]bool{}
	for i := 1; i <= 6; i++ {
		src := fmt.Sprintf("127.0.0.%d", 10+i)
		first := who(src)
		seen[first] = true
		for k := 0; k < 4; k++ {
			if got := who(src); got != first {
				t.Fatalf("client %s moved from %q to %q despite SOURCE_IP persistence", src, first, got)
			}
		}
	}
	if len(seen) != 2 {
		t.Fatalf("new clients should still be balanced, saw only %v", seen)
	}
}

func startUDPEcho(t *testing.T, name string) int {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte(name+":"), buf[:n]...), addr)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().(*net.UDPAddr).Port
}

func TestUDPRoundTripsAndExpiry(t *testing.T) {
	checkGoroutines(t)
	u1, u2 := startUDPEcho(t, "u1"), startUDPEcho(t, "u2")
	port := freePort(t)
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	l := tcpListener("udp", dataplane.ProtocolUDP, port, "p")
	l.TimeoutClientData = 2000
	p := pool("p", dataplane.ProtocolUDP, dataplane.RoundRobin,
		dataplane.Member{ID: "m1", Address: "127.0.0.1", ProtocolPort: u1, Weight: 1, AdminStateUp: true},
		dataplane.Member{ID: "m2", Address: "127.0.0.1", ProtocolPort: u2, Weight: 1, AdminStateUp: true})
	e := newEngine(t, Options{Clock: clk})
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{p}})
	roundTrip := func(c net.Conn, msg string) string {
		c.SetDeadline(time.Now().Add(ioWait))
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2048)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("UDP round trip %q: %v", msg, err)
		}
		return string(buf[:n])
	}
	var conns []net.Conn
	owners := map[string]int{}
	for i := 0; i < 4; i++ {
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
		first := roundTrip(c, fmt.Sprintf("hello %d", i))
		owner := first[:2]
		owners[owner]++
		for k := 0; k < 10; k++ {
			msg := fmt.Sprintf("msg %d/%d", i, k)
			if got := roundTrip(c, msg); got != owner+":"+msg {
				t.Fatalf("flow %d: got %q, want %q (flows stick to one member)", i, got, owner+":"+msg)
			}
		}
	}
	if owners["u1"] != 2 || owners["u2"] != 2 {
		t.Fatalf("4 flows over 2 members (round robin): %v", owners)
	}
	if st := e.Stats().Listeners[0]; st.ActiveConnections != 4 || st.TotalConnections != 4 {
		t.Fatalf("UDP flow stats: %+v", st)
	}
	// Idle flows expire after timeout_client_data of the (fake) clock.
	clk.Advance(3 * time.Second)
	clk.Advance(time.Second)
	waitUntil(t, "idle UDP flows expire", func() bool { return e.Stats().Listeners[0].ActiveConnections == 0 })
	// A new datagram makes a new flow.
	if got := roundTrip(conns[0], "again"); got != "u1:again" && got != "u2:again" {
		t.Fatalf("after expiry: %q", got)
	}
	if st := e.Stats().Listeners[0]; st.TotalConnections != 5 {
		t.Fatalf("after expiry a new flow should be counted: %+v", st)
	}
}

func TestTCPProxyProtocol(t *testing.T) {
	checkGoroutines(t)
	echo := startEcho(t, "e")
	v1, v2 := freePort(t), freePort(t)
	m := dataplane.Member{ID: "m", Address: "127.0.0.1", ProtocolPort: echo, Weight: 1, AdminStateUp: true}
	p1 := pool("p1", dataplane.ProtocolProxy, dataplane.RoundRobin, m)
	p2 := pool("p2", dataplane.ProtocolProxyV2, dataplane.RoundRobin, m)
	e := newEngine(t, Options{})
	mustApply(t, e, &dataplane.Config{Version: 1,
		Listeners: []dataplane.Listener{tcpListener("l1", dataplane.ProtocolTCP, v1, "p1"), tcpListener("l2", dataplane.ProtocolHTTPS, v2, "p2")},
		Pools:     []dataplane.Pool{p1, p2}})
	send := func(port int) (string, int) {
		c := dialFrom(t, "127.0.0.9", fmt.Sprintf("127.0.0.1:%d", port))
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioWait))
		c.Write([]byte("payload"))
		c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		return string(b), c.LocalAddr().(*net.TCPAddr).Port
	}
	got, sport := send(v1)
	if want := fmt.Sprintf("e:PROXY TCP4 127.0.0.9 127.0.0.1 %d %d\r\npayload", sport, v1); got != want {
		t.Fatalf("PROXY v1: got %q, want %q", got, want)
	}
	got, sport = send(v2)
	want := "e:\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x7f\x00\x00\x09\x7f\x00\x00\x01" +
		string([]byte{byte(sport >> 8), byte(sport), byte(v2 >> 8), byte(v2)}) + "payload"
	if got != want {
		t.Fatalf("PROXY v2: got %q, want %q", got, want)
	}
}
