package proxy

import (
	"io"
	"os"
	"syscall"
)

// The client side of a plain HTTP connection, read only after readiness.
//
// A net.Conn read tries read(2) first and parks on the poller when it returns EAGAIN. On
// a keep-alive connection that first try fails once per request: the next request cannot
// be there yet when the response has just been written. The poller cannot simply be
// asked to wait without the try, because a wait (syscall.RawConn.Read) forgets readiness
// reported before it began: bytes that arrived between the last read and the wait (a
// pipelining client's next request) would leave the connection waiting for a readiness
// report that already came.
//
// serveInline therefore serves the connection's ordinary requests inside one wait that
// begins before its first read: the callback reads once per readiness report, serves
// every complete request the bytes hold (the member exchange and the response included)
// and returns to the wait when nothing is left buffered. A report that comes while a
// request is being served is kept for the wait that follows, so nothing is lost, and the
// only read that finds nothing is one after a report whose bytes an earlier read already
// took. Anything out of the ordinary — a head still incomplete, a request body not yet
// all here, a chunked body, an Upgrade, an HTTP/2 preface, a head that does not parse —
// leaves the wait with the bytes buffered, and the ordinary path (readHead, handle) serves
// that one request; the next wait begins after it. Nothing inside the callback reads the
// client socket any other way (it would deadlock on the poller's read lock); closeGently,
// which does, is put off until the wait has ended.
//
// The wait holds the socket's read lock while a request is served, so Close of the client
// socket from another goroutine (a listener going away) unblocks every wait at once as
// before but returns, and the descriptor is released, only when the request in flight has
// ended (its next write to the client fails at once).

// serveInline serves requests inside one readiness wait of the client socket. It reports
// whether the connection is over; false means that the buffered bytes start a request
// the ordinary path must serve.
func (h *httpConn) serveInline(rc *rawTCP, current func() *Frontend) (over bool) {
	fe := current()
	if fe == nil {
		return true
	}
	b := &h.br
	var rerr error
	eof := false
	wait := func() bool {
		// Nothing buffered: the keep-alive wait starts now. Drain may end it.
		h.dl.read(h.c, fe.ClientTimeout)
		h.idle.Store(true)
		if h.drain.Load() {
			h.idle.Store(false)
			rerr = errDraining
			return true
		}
		return false
	}
	// The wait fails at once on a deadline already past (one the ordinary path set for a
	// head that has since come): the keep-alive one is set before it begins.
	h.dl.read(h.c, fe.ClientTimeout)
	rc.inline = true
	err := rc.rc.Read(func(fd uintptr) bool {
		h.idle.Store(false)
		if b.makeRoom() != nil {
			return true // the ordinary path reports the full buffer
		}
		n, errno := rawRead(fd, b.buf[b.w:])
		switch {
		case errno == syscall.EAGAIN:
			if b.buffered() == 0 {
				return wait()
			}
			// Bytes left from a request the ordinary path served: serve them now.
		case errno != 0:
			rerr = rc.opError("read", os.NewSyscallError("read", errno))
			return true
		case n == 0:
			if b.buffered() == 0 {
				rerr = io.EOF
				return true
			}
			// The client ended its side after requests still buffered (a pipelined
			// request behind one the ordinary path served): they are served first.
			eof = true
		default:
			b.w += n
		}
		for {
			// The config may have changed while the connection waited: the request is
			// served by the frontend in force now (the listener's last one when it went
			// away meanwhile; the answer then closes).
			if now := current(); now != nil {
				fe = now
			}
			b.scan = 0
			skip, hn, ferr := findRequestHead(b.buf[b.r:b.w], &b.scan)
			if ferr != nil || hn < 0 || hn > h.opts.MaxHeaderBytes {
				return true
			}
			b.r += skip
			if !h.inlineable(hn) {
				return true
			}
			h.parsed = true
			keep := h.handle(fe, hn)
			if fe.log != nil {
				h.logHTTP(fe, h.now)
			}
			if !keep {
				over = true
				return true
			}
			if fe = current(); fe == nil {
				over = true
				return true
			}
			if b.buffered() == 0 {
				if eof {
					rerr = io.EOF
					return true
				}
				return wait()
			}
		}
	})
	rc.inline = false
	h.idle.Store(false)
	if h.closeLater {
		h.closeLater = false
		h.closeGently()
	}
	if err != nil {
		rerr = rc.opError("read", err)
	}
	if over {
		return true
	}
	if rerr != nil {
		h.readFailed(fe, rerr)
		if fe.log != nil && h.rec.status != 0 {
			h.logHTTP(fe, h.now)
		}
		return true
	}
	return false
}

// inlineable parses the request head of n buffered bytes into h.req and reports whether
// serveInline may serve it: the whole request is buffered and small enough to go to the
// member in one write, and nothing about it needs more reads from the client.
func (h *httpConn) inlineable(n int) bool {
	b := &h.br
	if n == len(h2cPreface) && string(b.buf[b.r:b.r+n]) == h2cPreface {
		return false
	}
	req := &h.req
	if req.parseRequest(b.buf[b.r:b.r+n], h.opts.MaxHeaders) != nil {
		return false // handle's own parse answers it on the ordinary path
	}
	if req.chunked || (req.connUpgrade && req.upgrade >= 0) {
		return false
	}
	if cl := req.contentLength; cl > 0 && (cl > int64(b.buffered()-n) || int64(n)+cl > maxCoalesce/2) {
		return false
	}
	return true
}
