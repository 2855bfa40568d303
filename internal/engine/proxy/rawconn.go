package proxy

import (
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
}

// rawSyscalls is on unless the benchmark knob FULCRUM_BENCH_NO_RAW_SYSCALLS is set
// (bench/run dataplane measures what the raw syscalls buy against an engine without
// them, in the same runs).
var rawSyscalls = os.Getenv("FULCRUM_BENCH_NO_RAW_SYSCALLS") == ""

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
