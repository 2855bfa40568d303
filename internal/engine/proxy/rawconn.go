package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawTCP is a plain TCP connection whose Read and Write make their recv(2) and
// send(2) with syscall.RawSyscall inside the runtime's poller callbacks
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
	// The operations' operands and their callbacks (see rawOp); tw and tr are
	// writeThenRead's write and read, writing and partial its state.
	rd, wr, tw, tr         rawOp
	writing, partial       bool
	readFn, writeFn, wtrFn func(uintptr) bool
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
	r := &rawTCP{TCPConn: c, rc: rc}
	r.readFn, r.writeFn, r.wtrFn = r.doRead, r.doWrite, r.doWriteThenRead
	return r
}

func (c *rawTCP) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// rawOp is the operand and outcome of one operation on a rawTCP, kept in the connection
// with a callback made once (newRawTCP), so that an operation allocates nothing: a
// closure handed to the poller's interface would be allocated on every call.
type rawOp struct {
	p     []byte
	n     int
	errno syscall.Errno
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
	c.rd = rawOp{p: p}
	err := c.rc.Read(c.readFn)
	n, errno := c.rd.n, c.rd.errno
	c.rd.p = nil
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *rawTCP) doRead(fd uintptr) bool {
	n, errno := rawRead(fd, c.rd.p)
	if errno == syscall.EAGAIN {
		return false // wait for readiness
	}
	c.rd.n, c.rd.errno = n, errno
	return true
}

// Write writes all of p, waiting for room (or the write deadline) when the socket's
// buffer is full, as net.Conn's Write does.
func (c *rawTCP) Write(p []byte) (int, error) {
	c.wr = rawOp{p: p}
	err := c.rc.Write(c.writeFn)
	done, errno := c.wr.n, c.wr.errno
	c.wr.p = nil
	switch {
	case err != nil:
		return done, c.opError("write", err)
	case errno != 0:
		return done, c.opError("write", os.NewSyscallError("write", errno))
	}
	return done, nil
}

// doWrite writes what is left of op.p; it reports false when the socket has no room.
func doWrite(fd uintptr, op *rawOp) bool {
	for op.n < len(op.p) {
		k, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&op.p[op.n])), uintptr(len(op.p)-op.n), syscall.MSG_NOSIGNAL, 0, 0)
		switch e {
		case 0:
			op.n += int(k)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			op.errno = e
			return true
		}
	}
	return true
}

func (c *rawTCP) doWrite(fd uintptr) bool { return doWrite(fd, &c.wr) }

// bare is the connection under a rawTCP (c itself otherwise): a tunnel copies between
// bare sockets, which the kernel can splice.
func bare(c Conn) Conn {
	if r, ok := c.(*rawTCP); ok {
		return r.TCPConn
	}
	return c
}

// rawRead is one recv(2) on fd; EINTR is retried.
//
// recv and send (doWrite) rather than read and write: on a socket they mean the same, but
// read and write first pass the file layer (fdget_pos, vfs_read/vfs_write), about a
// twentieth of the engine's CPU per keep-alive request on the bench VM; the socket calls
// go to the socket at once. send is given MSG_NOSIGNAL: a peer gone is EPIPE, no signal.
func rawRead(fd uintptr, p []byte) (int, syscall.Errno) {
	for {
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0, 0, 0)
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
	c.tw, c.tr = rawOp{p: w}, rawOp{p: r}
	c.writing, c.partial = true, false
	rerr := c.rc.Read(c.wtrFn)
	wrote, n = c.tw.n, c.tr.n
	werrno, rerrno, writing := c.tw.errno, c.tr.errno, c.writing
	c.tw.p, c.tr.p = nil, nil
	switch {
	case werrno != 0:
		return wrote, 0, c.opError("write", os.NewSyscallError("write", werrno))
	case rerr != nil && writing:
		return wrote, 0, c.opError("write", rerr)
	case c.partial:
		k, err := c.Write(w[wrote:])
		return wrote + k, 0, err
	case rerr != nil:
		return wrote, 0, c.opError("read", rerr)
	case rerrno != 0:
		return wrote, 0, c.opError("read", os.NewSyscallError("read", rerrno))
	case n == 0:
		return wrote, 0, io.EOF
	}
	return wrote, n, nil
}

func (c *rawTCP) doWriteThenRead(fd uintptr) bool {
	if c.writing {
		if !doWrite(fd, &c.tw) {
			c.partial = true
			return true // no room: finish outside the read wait
		}
		if c.tw.errno != 0 {
			return true
		}
		c.writing = false
		return false // wait for the answer
	}
	n, errno := rawRead(fd, c.tr.p)
	if errno == syscall.EAGAIN {
		return false
	}
	c.tr.n, c.tr.errno = n, errno
	return true
}
