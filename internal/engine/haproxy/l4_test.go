package haproxy

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
)

// Cases copied from internal/engine/l4_test.go (UDP is refused by this engine: see
// refuse_test.go).

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
				c.SetDeadline(time.Now().Add(20 * time.Second))
				b, err := io.ReadAll(c)
				if err != nil {
					return
				}
				c.Write([]byte(name + ":"))
				c.Write(b)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().(*net.TCPAddr).Port
}

func TestTCPByteExactHalfClose(t *testing.T) {
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
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		errc := make(chan error, 1)
		go func() {
			_, err := c.Write(payload)
			if err == nil {
				err = c.(*net.TCPConn).CloseWrite() // half-close: the echo answers only after EOF
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
	if st.Listeners[0].BytesIn != 8<<20+123 || st.Listeners[0].BytesOut != 8<<20+126 || st.Listeners[0].TotalConnections != 1 {
		t.Errorf("TCP byte counters: %+v", st.Listeners[0])
	}
}

func TestTCPSourceIPPersistence(t *testing.T) {
	e1, e2 := startEcho(t, "one"), startEcho(t, "two")
	port := freePort(t)
	p := pool("p", dataplane.ProtocolTCP, dataplane.RoundRobin,
		dataplane.Member{ID: "m1", Address: "127.0.0.1", ProtocolPort: e1, Weight: 1, AdminStateUp: true},
		dataplane.Member{ID: "m2", Address: "127.0.0.1", ProtocolPort: e2, Weight: 1, AdminStateUp: true})
	p.SessionPersistence = &dataplane.SessionPersistence{Type: dataplane.PersistSourceIP, PersistenceTimeout: 60, PersistenceGranularity: "255.255.255.255"}
	e := newEngine(t, Options{})
	cfg := &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{tcpListener("l", dataplane.ProtocolTCP, port, "p")}, Pools: []dataplane.Pool{p}}
	mustApply(t, e, cfg)
	who := func(src string) string {
		c := dialFrom(t, src, fmt.Sprintf("127.0.0.1:%d", port))
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		// A byte before the half-close: HAProxy may close a client that half-closes before
		// sending anything without waiting for the member's answer.
		c.Write([]byte("x"))
		c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		return string(b)
	}
	seen := map[string]bool{}
	first := map[string]string{}
	for i := 1; i <= 6; i++ {
		src := fmt.Sprintf("127.0.0.%d", 10+i)
		first[src] = who(src)
		seen[first[src]] = true
		for k := 0; k < 4; k++ {
			if got := who(src); got != first[src] {
				t.Fatalf("client %s moved from %q to %q despite SOURCE_IP persistence", src, first[src], got)
			}
		}
	}
	if len(seen) != 2 {
		t.Fatalf("new clients should still be balanced, saw only %v", seen)
	}
	// The table survives a reload of HAProxy, as the native engine's tables survive a
	// reconfiguration.
	cfg2 := cfg.Clone()
	cfg2.Version = 2
	cfg2.Listeners[0].TimeoutClientData = 30000
	mustApply(t, e, cfg2)
	for src, want := range first {
		if got := who(src); got != want {
			t.Fatalf("after a reload client %s moved from %q to %q", src, want, got)
		}
	}
}

func TestTCPProxyProtocol(t *testing.T) {
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
		c.SetDeadline(time.Now().Add(5 * time.Second))
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
