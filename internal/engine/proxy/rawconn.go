package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawTCP is a plain TCP connection whose Read and Write make their read(2) and
// write(2) with syscall.RawSyscall inside the runtime's poller callbacks
// (syscall.RawConn) instead of going through net.Conn's Syscall. On a non-blocking
// socket neither call can block, so the runtime's enter/exit-syscall bookkeeping is
// pure cost there: it wakes the system monitor thread and hands the processor to
// another thread now and then, about a third of what a keep-alive request costs
// beyond the proxy's own work on a small VM (see docs/dataplane.md, "HTTP path:
// syscalls"). Readiness waits, deadlines and Close behave exactly as net.Conn's: the
// poller's RawRead/RawWrite honour them.
//
// Only the HTTP forwarder's plain connections use it (client side of HTTP listeners,
// member side of HTTP pools); TLS runs over the bare *net.TCPConn, whose reads crypto/tls
// makes, and the TCP proxy keeps net.Conn for splice.
type rawTCP struct {
	*net.TCPConn
	rc syscall.RawConn
	// inline is set while the client connection's requests are served inside one
	// readiness wait of its socket (httpConn.serveInline): Read must not be called then.
	inline bool
}

// errInlineRead is what Read returns when called from inside the socket's own readiness
// callback (it would deadlock on the poller's read lock). The inline path is built so
// that it never happens; this is the safety net.
var errInlineRead = errors.New("proxy: read inside the readiness callback")

// rawSyscalls is on unless the benchmark knob FULCRUM_BENCH_NO_RAW_SYSCALLS is set
// (bench/run dataplane measures what the raw syscalls buy against an engine without
// them, in the same runs).
var rawSyscalls = os.Getenv("FULCRUM_BENCH_NO_RAW_SYSCALLS") == ""

// readWait is on unless the benchmark knob FULCRUM_BENCH_NO_READ_WAIT is set (or the raw
// syscalls are off): reads on the HTTP path's plain sockets are then made only when a
// byte can be there — after the poller reported readiness — instead of trying first and
// parking on EAGAIN (docs/dataplane.md, "HTTP path: reads only after readiness").
var readWait = rawSyscalls && os.Getenv("FULCRUM_BENCH_NO_READ_WAIT") == ""

// newRawTCP wraps c, or returns c itself when its descriptor cannot be reached (or
// the knob above is set).
func newRawTCP(c *net.TCPConn) Conn {
	if !rawSyscalls {
		return c
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return c
	}
	return &rawTCP{TCPConn: c, rc: rc}
}

func (c *rawTCP) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Read reads once, waiting for readiness (or the read deadline) when the socket is
// empty, as net.Conn's Read does; 0 bytes with no error is io.EOF.
func (c *rawTCP) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.inline {
		return 0, c.opError("read", errInlineRead)
	}
	var n uintptr
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, _, errno = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch errno {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait for readiness
			}
			return true
		}
	})
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return int(n), nil
}

// Write writes all of p, waiting for room (or the write deadline) when the socket's
// buffer is full, as net.Conn's Write does.
func (c *rawTCP) Write(p []byte) (int, error) {
	var done int
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for done < len(p) {
			n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[done])), uintptr(len(p)-done))
			switch e {
			case 0:
				done += int(n)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // wait for room
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return done, c.opError("write", err)
	case errno != 0:
		return done, c.opError("write", os.NewSyscallError("write", errno))
	}
	return done, nil
}

// bare is the connection under a rawTCP (c itself otherwise): a tunnel copies between
// bare sockets, which the kernel can splice.
func bare(c Conn) Conn {
	if r, ok := c.(*rawTCP); ok {
		return r.TCPConn
	}
	return c
}

// rawRead is one read(2) on fd; EINTR is retried.
func rawRead(fd uintptr, p []byte) (int, syscall.Errno) {
	for {
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if errno != syscall.EINTR {
			return int(n), errno
		}
	}
}

// writeThenRead writes w and then reads the answer into r, making no read before the
// poller reports the socket readable. The poller forgets readiness reported before a
// wait starts (RawConn.Read resets it), so the wait is entered first and w written from
// inside it: the answer to w can only arrive after w, hence after the wait began, and
// its readiness is never lost. Whatever arrived before w (a member's close of an idle
// connection) makes the peer answer w with a reset, which the poller reports too.
//
// wrote is how much of w went out; n is how many bytes were read into r. When the socket
// cannot take all of w at once, the rest is written the ordinary way (waiting for room)
// and n is 0: the caller then reads the ordinary way.
func (c *rawTCP) writeThenRead(w, r []byte) (wrote, n int, err error) {
	var errno syscall.Errno
	writing, partial := true, false
	rerr := c.rc.Read(func(fd uintptr) bool {
		if writing {
			for wrote < len(w) {
				k, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&w[wrote])), uintptr(len(w)-wrote))
				switch e {
				case 0:
					wrote += int(k)
				case syscall.EINTR:
				case syscall.EAGAIN:
					partial = true
					return true // no room: finish outside the read wait
				default:
					errno = e
					return true
				}
			}
			writing = false
			return false // wait for the answer
		}
		k, e := rawRead(fd, r)
		if e == syscall.EAGAIN {
			return false
		}
		n, errno = k, e
		return true
	})
	switch {
	case errno != 0 && writing:
		return wrote, 0, c.opError("write", os.NewSyscallError("write", errno))
	case rerr != nil && writing:
		return wrote, 0, c.opError("write", rerr)
	case partial:
		k, err := c.Write(w[wrote:])
		return wrote + k, 0, err
	case rerr != nil:
		return wrote, 0, c.opError("read", rerr)
	case errno != 0:
		return wrote, 0, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return wrote, 0, io.EOF
	}
	return wrote, n, nil
}
