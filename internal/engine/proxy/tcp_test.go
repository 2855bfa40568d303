package proxy

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// tcpLoopPair is two ends of one loopback TCP connection.
func tcpLoopPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *net.TCPConn, 1)
	go func() {
		c, _ := ln.AcceptTCP()
		accepted <- c
	}()
	c, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c, peer
}

type pipeResult struct{ in, out int64 }

// startPipe runs Pipe between a client pair and a member pair, closing the proxy's ends
// when it returns as ServeTCP does; it returns the client's and the member's ends and
// Pipe's outcome.
func startPipe(t *testing.T, clientTimeout, memberTimeout time.Duration) (client, member *net.TCPConn, done <-chan pipeResult) {
	client, a := tcpLoopPair(t)
	b, member := tcpLoopPair(t)
	ch := make(chan pipeResult, 1)
	go func() {
		var in, out atomic.Int64
		i, o := Pipe(a, b, clientTimeout, memberTimeout, &in, &out)
		a.Close()
		b.Close()
		ch <- pipeResult{i, o}
	}()
	return client, member, ch
}

// TestPipeSlowOneWayStreamIsNotIdle: a member that streams a few bytes at a time while the
// client stays silent keeps the connection open beyond the client timeout; a splice round
// that records its bytes only once it has moved copyChunk would leave the client's
// direction seeing no traffic, and abort a connection whose bytes flow.
func TestPipeSlowOneWayStreamIsNotIdle(t *testing.T) {
	// A timeout ten times the writes' interval, so that a busy machine delaying a write
	// or the copier now and then does not make the stream idle.
	const clientTimeout = time.Second
	client, member, done := startPipe(t, clientTimeout, 10*time.Second)
	const n = 30 // one byte every 100 ms: 3 s, three client timeouts
	go func() {
		for i := 0; i < n; i++ {
			if _, err := member.Write([]byte{'a' + byte(i%26)}); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		member.CloseWrite()
	}()
	client.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(client)
	if err != nil || len(got) != n {
		t.Fatalf("client read %d of %d bytes, err %v: the stream was cut as idle", len(got), n, err)
	}
	client.CloseWrite()
	select {
	case r := <-done:
		if r.out != n || r.in != 0 {
			t.Fatalf("Pipe counted in %d out %d, want 0 and %d", r.in, r.out, n)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Pipe did not return after both sides ended")
	}
	member.SetReadDeadline(time.Now().Add(20 * time.Second))
	if rest, err := io.ReadAll(member); err != nil || len(rest) != 0 {
		t.Fatalf("member saw %q, %v after the client's end; want a clean EOF", rest, err)
	}
}

// TestPipeIdleAborts: with nothing moving either way, Pipe still ends, and no sooner than
// the shorter timeout.
func TestPipeIdleAborts(t *testing.T) {
	const clientTimeout = 300 * time.Millisecond
	start := time.Now()
	_, _, done := startPipe(t, clientTimeout, 5*time.Second)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("an idle Pipe did not end")
	}
	if el := time.Since(start); el < clientTimeout {
		t.Fatalf("an idle Pipe ended after %v, before the %v timeout", el, clientTimeout)
	}
}
