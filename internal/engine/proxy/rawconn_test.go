package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// rawPair is a rawTCP and the plain TCP connection at its other end, on loopback.
func rawPair(t *testing.T) (*rawTCP, *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *net.TCPConn, 1)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			close(accepted)
			return
		}
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
	r, ok := newRawTCP(c).(*rawTCP)
	if !ok {
		t.Fatal("newRawTCP did not wrap a TCP connection")
	}
	t.Cleanup(func() { r.Close(); peer.Close() })
	return r, peer
}

// TestRawTCPBehavesAsNetConn: the raw-syscall connection keeps net.Conn's contract —
// reads wait for data, a peer's close is io.EOF, deadlines give os.ErrDeadlineExceeded,
// a write larger than the socket buffers completes as the peer reads, a closed
// connection is net.ErrClosed, and tcpOf/bare reach the socket under it.
func TestRawTCPBehavesAsNetConn(t *testing.T) {
	r, peer := rawPair(t)
	if tcpOf(r) != r.TCPConn || bare(r) != Conn(r.TCPConn) {
		t.Fatal("tcpOf/bare do not reach the TCP connection under a rawTCP")
	}

	// A read waits until the peer writes.
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 64)
		n, err := r.Read(buf)
		if err != nil {
			t.Errorf("read: %v", err)
		}
		got <- buf[:n]
	}()
	time.Sleep(20 * time.Millisecond) // let the read park on an empty socket
	if _, err := peer.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if string(b) != "hello" {
			t.Fatalf("read %q, want hello", b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a read waiting on an empty socket never saw the peer's bytes")
	}

	// A deadline ends a waiting read with os.ErrDeadlineExceeded.
	r.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := r.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	r.SetReadDeadline(time.Time{})

	// A write of 8 MiB completes while the peer reads it; the bytes arrive intact.
	big := bytes.Repeat([]byte("0123456789abcdef"), 512<<10)
	recv := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(peer, int64(len(big))))
		recv <- b
	}()
	if n, err := r.Write(big); err != nil || n != len(big) {
		t.Fatalf("write of %d bytes: %d, %v", len(big), n, err)
	}
	select {
	case b := <-recv:
		if !bytes.Equal(b, big) {
			t.Fatalf("peer received %d bytes, not the %d written", len(b), len(big))
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the peer did not receive the large write")
	}

	// The peer's close is io.EOF; writing after the peer is gone fails.
	peer.Close()
	if n, err := r.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("read after the peer closed: %d, %v; want 0, io.EOF", n, err)
	}
	var werr error
	for i := 0; i < 100 && werr == nil; i++ { // the first writes may still be accepted by the kernel
		_, werr = r.Write([]byte("x"))
		time.Sleep(time.Millisecond)
	}
	if werr == nil {
		t.Fatal("writes to a closed peer never failed")
	}

	// Our own close: net.ErrClosed.
	r.Close()
	if _, err := r.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close: %v, want net.ErrClosed", err)
	}
	if _, err := r.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v, want net.ErrClosed", err)
	}
}
