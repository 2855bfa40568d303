package proxy

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"
)

// copyChunk is how much one splice round moves before activity is recorded.
const copyChunk = 1 << 20

// ServeTCP proxies one admitted client connection to a member of the default pool with
// byte-exact, half-close-correct copying on the kernel splice path. It returns when both
// directions are done and closes c.
func (f *Frontend) ServeTCP(c *net.TCPConn) {
	defer c.Close()
	client := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	var start time.Time
	if f.log != nil {
		start = time.Now()
	}
	m, mc := f.dialTCP(client, nil)
	if mc == nil {
		f.Counters.Errors.Add(1)
		if f.log != nil {
			f.log.logFlow("tcp", f, client, nil, start, time.Time{}, 0, 0, "no_member")
		}
		return
	}
	defer mc.Close()
	if hdr := proxyHeader(f.Pool.Protocol, client, c.LocalAddr().(*net.TCPAddr).AddrPort()); hdr != nil {
		if _, err := mc.Write(hdr); err != nil {
			f.Counters.Errors.Add(1)
			if f.log != nil {
				f.log.logFlow("tcp", f, client, m, start, time.Time{}, 0, 0, "member_error")
			}
			return
		}
	}
	var connected time.Time
	if f.log != nil {
		connected = time.Now()
	}
	m.State.Active.Add(1)
	m.State.Total.Add(1)
	defer m.State.Active.Add(-1)
	in, out := Pipe(c, mc, f.ClientTimeout, f.MemberTimeout, &f.Counters.BytesIn, &f.Counters.BytesOut)
	if f.log != nil {
		f.log.logFlow("tcp", f, client, m, start, connected, in, out, "closed")
	}
}

// Pipe copies a→b and b→a until both directions end: EOF on one side is passed on as a
// half-close (CloseWrite) to the other; an error, or no traffic in either direction for
// the direction's timeout (aTimeout when waiting on a, bTimeout on b; 0 = none), aborts both.
// Bytes read from a are added to in, bytes read from b to out as they move, and their
// totals returned. It does not close a or b.
//
// A splice round returns only when it has moved copyChunk bytes, so a direction that moves
// less than that within a timeout would show no traffic to the other, idle one, which would
// then abort a connection whose bytes flow. Each direction's reads therefore end at least
// every quarter of the shorter timeout (tick), and what they moved is recorded then.
func Pipe(a, b Conn, aTimeout, bTimeout time.Duration, in, out *atomic.Int64) (inN, outN int64) {
	tick := shorter(aTimeout, bTimeout) / 4
	if tick == 0 {
		tick = shorter(aTimeout, bTimeout)
	}
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	abort := func() {
		// A past deadline wakes both copiers, blocked reading or writing; the owner
		// closes the sockets.
		a.SetDeadline(time.Unix(1, 0))
		b.SetDeadline(time.Unix(1, 0))
		resetOnClose(tcpOf(a))
		resetOnClose(tcpOf(b))
	}
	var aborted atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		outN = copyDir(a, b, bTimeout, tick, out, &last, &aborted, abort)
	}()
	inN = copyDir(b, a, aTimeout, tick, in, &last, &aborted, abort)
	<-done
	return inN, outN
}

// shorter is the shorter of two timeouts, one of them 0 (none) being the other.
func shorter(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

// copyDir copies src to dst for Pipe. Its reads end at least every tick (none when 0), and
// the direction aborts when nothing moved either way for timeout (never when 0).
func copyDir(dst, src Conn, timeout, tick time.Duration, count *atomic.Int64, last *atomic.Int64, aborted *atomic.Bool, abort func()) (total int64) {
	var dl deadline
	for {
		if aborted.Load() {
			return
		}
		dl.read(src, tick)
		if aborted.Load() { // abort may have run before the deadline above was set
			return
		}
		n, err := io.CopyN(dst, src, copyChunk)
		total += n
		if n > 0 {
			count.Add(n)
			last.Store(time.Now().UnixNano())
		}
		switch {
		case err == nil:
			continue
		case err == io.EOF:
			dst.CloseWrite()
			return
		case errors.Is(err, os.ErrDeadlineExceeded) && !aborted.Load():
			idle := time.Duration(time.Now().UnixNano() - last.Load())
			if timeout <= 0 || idle < timeout {
				dl.at = 0 // expired: force a new deadline
				continue
			}
		}
		if aborted.CompareAndSwap(false, true) {
			abort()
		}
		return
	}
}

// tcpOf returns the TCP connection under c.
func tcpOf(c Conn) *net.TCPConn {
	switch x := c.(type) {
	case *net.TCPConn:
		return x
	case *rawTCP:
		return x.TCPConn
	case *tls.Conn:
		t, _ := x.NetConn().(*net.TCPConn)
		return t
	}
	return nil
}

// clientAddr returns the remote address of c as an AddrPort.
func clientAddr(c net.Conn) netip.AddrPort {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	return ap
}
