package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/balance"
	"github.com/fulcrumlb/fulcrum/internal/engine/tlsterm"
)

// maxCoalesce bounds how many body bytes ride along with a head in one write.
const maxCoalesce = 64 << 10

// Conn is a connection the HTTP forwarder reads from and writes to: a *net.TCPConn, or a
// *tls.Conn over one (TERMINATED_HTTPS clients, re-encrypted members).
type Conn interface {
	net.Conn
	CloseWrite() error
}

// resetOnClose makes closing c send a reset (SO_LINGER 0): an aborted exchange must not
// look complete to the other side.
func resetOnClose(tcp *net.TCPConn) {
	if tcp != nil {
		tcp.SetLinger(0)
	}
}

// Close closes the connection.
func (mc *memberConn) Close() error { return mc.c.Close() }

// httpConn is the state of one client connection, reused for each of its requests.
type httpConn struct {
	opts *Options
	c    Conn
	tcp  *net.TCPConn
	// tls is the client's TLS connection on a TERMINATED_HTTPS listener (c is then tls),
	// handshaken at the start of Serve; info is what the handshake told.
	tls      *tls.Conn
	info     *tlsterm.ConnInfo
	sslFor   *Frontend // the frontend sslBlock was built for
	sslBlock []byte    // the X-SSL-* header lines of this connection for sslFor
	br       reader
	dl       deadline
	wdl      deadline
	out      []byte
	req      message
	res      message
	cs       chunkDecoder
	// cbuf holds what the chunk decoder wrote for one streamed piece of a chunked body,
	// and interim response heads.
	cbuf    []byte
	client  netip.AddrPort
	ipText  []byte
	tried   [8]*balance.Member
	in      int64 // bytes read from the client for the current request
	current func() *Frontend
	// private is the member connection of a PROXY-protocol pool kept for this client.
	private  *memberConn
	privateM *balance.Member
	drain    atomic.Bool // Drain was called
	idle     atomic.Bool // waiting for a request with nothing buffered
	// now is the time the current request's head was complete: one clock read serves
	// the request's deadlines and idle-pool bookkeeping.
	now time.Time
	// bodyWithheld is set when an Expect: 100-continue body was never asked for.
	bodyWithheld bool
	// parsed is set when h.req already holds the parsed head handle is given
	// (serveInline parsed it to decide); closeLater when closeGently was asked for inside
	// the client socket's readiness callback, where it cannot read (done once it returns).
	parsed, closeLater bool
	// view is what L7 rules read from the current request.
	view l7view
	// rec is the access-log record of the current request (filled only while its
	// listener logs).
	rec httpRecord
	// h2srv is set while the client connection speaks HTTP/2 (h2.go); h2 is set on
	// the httpConn of one HTTP/2 stream.
	h2srv atomic.Pointer[h2State]
	h2    *h2Stream
}

type bodyMode uint8

const (
	bodyNone bodyMode = iota
	bodyLength
	bodyChunked
	bodyEOF
)

// HTTPConn is one client connection served by the HTTP/1.1 forwarder.
type HTTPConn struct {
	h *httpConn
}

// NewHTTPConn prepares to serve the admitted client connection c. current is called before
// each request, so a keep-alive connection moves to a new config version at the next
// request boundary (a request in flight finishes on the frontend it started with); when it
// returns nil (the listener went away or is no longer HTTP) the connection ends.
func NewHTTPConn(c *net.TCPConn, current func() *Frontend, opts *Options) *HTTPConn {
	return newHTTPConn(newRawTCP(c), c, nil, current, opts)
}

// NewHTTPSConn is NewHTTPConn for a TERMINATED_HTTPS listener: Serve first completes the
// TLS handshake with cfg (within Options.HeaderTimeout), then serves requests over it.
func NewHTTPSConn(c *net.TCPConn, cfg *tls.Config, current func() *Frontend, opts *Options) *HTTPConn {
	tc := tls.Server(c, cfg)
	return newHTTPConn(tc, c, tc, current, opts)
}

func newHTTPConn(c Conn, tcp *net.TCPConn, tc *tls.Conn, current func() *Frontend, opts *Options) *HTTPConn {
	h, _ := opts.connPool.Get().(*httpConn)
	if h == nil {
		h = &httpConn{
			br:   reader{buf: make([]byte, 4<<10)},
			out:  make([]byte, 0, 4<<10),
			cbuf: make([]byte, 0, 4<<10),
		}
	}
	h.opts = opts
	h.c, h.tcp, h.tls = c, tcp, tc
	h.info, h.sslFor, h.sslBlock = nil, nil, h.sslBlock[:0]
	h.br.c = c
	h.br.max = opts.MaxHeaderBytes
	h.br.r, h.br.w = 0, 0
	h.dl, h.wdl = deadline{}, deadline{}
	h.client = clientAddr(tcp)
	h.ipText = h.client.Addr().Unmap().AppendTo(h.ipText[:0])
	h.current = current
	h.drain.Store(false)
	h.idle.Store(false)
	h.h2srv.Store(nil)
	h.h2 = nil
	return &HTTPConn{h: h}
}

// Serve serves requests until the client closes, an error ends the connection, the
// listener goes away or Drain is called; it closes the connection.
func (hc *HTTPConn) Serve() {
	h := hc.h
	h.serve(h.current)
	h.c.Close()
	if h.private != nil {
		h.private.Close()
		h.private, h.privateM = nil, nil
	}
}

// Drain asks the connection to end: at once if it is waiting for a request, else after the
// response in flight (which says Connection: close). Safe to call from any goroutine
// until Release.
func (hc *HTTPConn) Drain() {
	h := hc.h
	h.drain.Store(true)
	if st := h.h2srv.Load(); st != nil {
		st.goAway()
	}
	if h.idle.Load() {
		h.c.SetReadDeadline(time.Unix(1, 0))
	}
}

// Release recycles the connection's buffers; call it once, after Serve returned and no
// Drain can come any more.
func (hc *HTTPConn) Release() {
	h := hc.h
	hc.h = nil
	h.c, h.tcp, h.tls, h.info, h.sslFor, h.br.c, h.current = nil, nil, nil, nil, nil, nil, nil
	h.h2srv.Store(nil)
	h.h2 = nil
	if cap(h.out) > 64<<10 {
		h.out = make([]byte, 0, 4<<10)
	}
	if cap(h.cbuf) > 64<<10 {
		h.cbuf = make([]byte, 0, 4<<10)
	}
	if len(h.br.buf) > 4<<10 {
		h.br.buf = make([]byte, 4<<10)
	}
	if cap(h.view.buf) > 4<<10 {
		h.view.buf = nil
	}
	h.view.m, h.view.tls, h.view.fe, h.view.conn = nil, nil, nil, nil
	h.rec.reset()
	clear(h.tried[:])
	h.opts.connPool.Put(h)
}

func (h *httpConn) serve(current func() *Frontend) {
	if h.tls != nil {
		if !h.handshake(current) {
			return
		}
		if h.tls.ConnectionState().NegotiatedProtocol == "h2" {
			if fe := current(); fe != nil {
				h.serveH2(fe)
			}
			return
		}
	}
	rc, _ := h.c.(*rawTCP)
	if !readWait || h.tls != nil {
		rc = nil
	}
	for {
		if rc != nil && h.serveInline(rc, current) {
			return
		}
		fe := current()
		if fe == nil {
			return
		}
		n, err := h.readHead(fe)
		if err != nil {
			h.readFailed(fe, err)
			if fe.log != nil && h.rec.status != 0 {
				h.logHTTP(fe, time.Time{})
			}
			return
		}
		// The config may have changed while the connection waited for this request: the
		// request is served by the frontend in force now that its head is here (the
		// listener's last one when it went away meanwhile; the answer then closes).
		if now := current(); now != nil {
			fe = now
		}
		if n == len(h2cPreface) && h.tls == nil && string(h.br.buf[h.br.r:h.br.r+n]) == h2cPreface {
			h.serveH2(fe) // h2c by prior knowledge (docs/http2.md)
			return
		}
		keep := h.handle(fe, n)
		if fe.log != nil {
			h.logHTTP(fe, h.now)
		}
		if !keep {
			return
		}
	}
}

// handshake completes the TLS handshake of a TERMINATED_HTTPS client within
// HeaderTimeout. A failed handshake counts as a request error.
func (h *httpConn) handshake(current func() *Frontend) bool {
	fe := current()
	if fe == nil {
		return false
	}
	h.tcp.SetDeadline(time.Now().Add(h.opts.HeaderTimeout))
	err := h.tls.Handshake()
	h.tcp.SetDeadline(time.Time{})
	if err != nil {
		fe.Counters.Errors.Add(1)
		h.opts.Logger.Debug("TLS handshake failed", "listener", fe.ListenerID, "client", h.client.String(), "err", err)
		return false
	}
	cs := h.tls.ConnectionState()
	h.info = tlsterm.Info(&cs)
	return true
}

// readHead waits for a complete request head and returns its length.
func (h *httpConn) readHead(fe *Frontend) (int, error) {
	b := &h.br
	b.scan = 0
	started := false
	for {
		if b.buffered() > 0 {
			skip, n, err := findRequestHead(b.buf[b.r:b.w], &b.scan)
			b.r += skip
			if err != nil {
				return 0, err
			}
			if n >= 0 {
				if n > h.opts.MaxHeaderBytes {
					return 0, errHeadTooLarge
				}
				return n, nil
			}
			if b.buffered() >= h.opts.MaxHeaderBytes {
				return 0, errHeadTooLarge
			}
			if !started {
				// The rest of the head must arrive within HeaderTimeout (slowloris).
				started = true
				h.dl.exact(h.c, time.Now().Add(h.opts.HeaderTimeout))
			}
		} else {
			// Waiting for a request with nothing buffered: Drain may end the wait.
			h.idle.Store(true)
			if h.drain.Load() {
				h.idle.Store(false)
				return 0, errDraining
			}
			h.dl.read(h.c, fe.ClientTimeout) // the keep-alive wait starts now
		}
		got, err := b.fill()
		h.idle.Store(false)
		if err != nil {
			if errors.Is(err, errBufferFull) {
				return 0, errHeadTooLarge
			}
			if got > 0 {
				continue // look at what arrived; the error repeats on the next read
			}
			return 0, err
		}
	}
}

// findRequestHead looks for a complete request head in p, scanning from *scan. Empty
// lines before the request line are skipped (a client may send a CRLF after a body): skip is how many bytes of p
// they took, and n the length of the head after them (-1 when more bytes are needed).
// A line end other than CRLF is errBadRequest.
func findRequestHead(p []byte, scan *int) (skip, n int, err error) {
	for len(p)-skip >= 2 && p[skip] == '\r' && p[skip+1] == '\n' {
		skip += 2
	}
	if skip > 0 {
		*scan = 0
	}
	p = p[skip:]
	if len(p) > 0 && p[0] == '\n' {
		return skip, -1, errBadRequest
	}
	switch n = requestHeadEnd(p, scan); n {
	case headBareLF:
		return skip, -1, errBadRequest
	}
	return skip, n, nil
}

func (h *httpConn) readFailed(fe *Frontend, err error) {
	switch {
	case h.drain.Load() && h.br.buffered() == 0:
		// Drained while idle: close quietly.
	case errors.Is(err, errBadRequest):
		h.fail(fe, 400)
	case errors.Is(err, errHeadTooLarge):
		if bytes.IndexByte(h.br.buf[h.br.r:h.br.w], '\n') < 0 {
			h.fail(fe, 414) // the request line alone is too long
		} else {
			h.fail(fe, 431)
		}
	case isTimeout(err) && h.br.buffered() > 0:
		h.fail(fe, 408)
	case h.br.buffered() > 0 && errors.Is(err, io.EOF):
		fe.Counters.Errors.Add(1) // truncated request: nobody left to answer
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// fail answers with an error status and closes the write side, letting the client read
// the answer before the connection goes.
func (h *httpConn) fail(fe *Frontend, code int) {
	fe.Counters.Errors.Add(1)
	fe.Counters.Response(code)
	resp := ErrorResponse(code)
	h.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	n, err := h.c.Write(resp)
	if err == nil {
		fe.Counters.BytesOut.Add(int64(n))
	}
	if fe.log != nil {
		if !h.rec.have {
			h.captureBad()
		}
		h.rec.status, h.rec.engine, h.rec.sent = code, true, h.rec.sent+int64(n)
	}
	h.closeGently()
}

// closeGently ends the write side after the last answer and drains what the client still
// sends, so that closing does not reset the connection before the answer is read.
// Bounded in bytes and time.
func (h *httpConn) closeGently() {
	if rc, ok := h.c.(*rawTCP); ok && rc.inline {
		h.closeLater = true
		return
	}
	h.c.CloseWrite()
	h.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	io.CopyN(io.Discard, h.c, 256<<10)
}

// answer replies to a request whose head is the first n buffered bytes with the answer of
// policy p (a redirect or a rejection) instead of forwarding it, and reports whether the
// connection may carry another request. The request body, if any, is read and dropped
// after the answer (up to maxDiscard bytes; a longer one, or one the client waits for a
// 100 Continue to send, closes the connection instead).
func (h *httpConn) answer(fe *Frontend, p *policy, n int) bool {
	req := &h.req
	b := &h.br
	keep := req.keepAlive() && !h.drain.Load() && h.current() != nil
	out := append(h.out[:0], p.head...)
	if p.action == actRedirectPrefix {
		pq := req.pathQuery.of(req.head)
		if len(pq) == 0 || pq[0] != '/' {
			out = append(out, '/')
		}
		out = append(out, pq...)
		out = append(out, "\r\n"...)
	}
	isHead := string(req.first[0].of(req.head)) == "HEAD"
	client10 := req.http10

	// The body: drop what is already here, then decide whether the rest can be read.
	b.r += n
	h.in = int64(n)
	mode, remaining := bodyNone, int64(0)
	switch {
	case req.chunked:
		mode = bodyChunked
		h.cs.reset(h.opts.MaxHeaderBytes, 0)
	case req.contentLength > 0:
		mode, remaining = bodyLength, req.contentLength
	}
	pending, badBody := false, false
	switch mode {
	case bodyLength:
		k := min(int64(b.buffered()), remaining)
		b.r += int(k)
		h.in += k
		remaining -= k
		pending = remaining > 0
		if remaining > maxDiscard {
			keep = false
		}
	case bodyChunked:
		_, k, done, err := h.cs.decode(nil, b.buf[b.r:b.w], chunkDiscard)
		b.r += k
		h.in += int64(k)
		pending, badBody = !done && err == nil, err != nil
		if badBody {
			keep = false
		}
	}
	if pending && req.expect100 {
		keep = false // the client waits for a 100 Continue that will not come
	}

	switch {
	case !keep:
		out = append(out, "Connection: close\r\n"...)
	case client10:
		out = append(out, "Connection: keep-alive\r\n"...)
	}
	out = append(out, "\r\n"...)
	if !isHead {
		out = append(out, p.body...)
	}
	h.out = out
	if p.action == actReject {
		fe.Counters.Errors.Add(1)
	}
	h.wdl.writeAt(h.c, fe.ClientTimeout, h.now.UnixNano())
	wn, err := h.c.Write(out)
	fe.Counters.BytesOut.Add(int64(wn))
	status := policyStatus(p.head)
	fe.Counters.Response(status)
	if fe.log != nil {
		h.rec.status, h.rec.engine, h.rec.sent = status, true, int64(wn)
	}
	if err != nil {
		fe.Counters.BytesIn.Add(h.in)
		return false
	}
	if !keep {
		fe.Counters.BytesIn.Add(h.in)
		if pending || badBody {
			h.closeGently()
		}
		return false
	}
	if pending {
		err := h.discardBody(fe, mode, remaining, maxDiscard)
		fe.Counters.BytesIn.Add(h.in)
		return err == nil
	}
	fe.Counters.BytesIn.Add(h.in)
	return true
}

// discardBody reads and drops the rest of a request body (remaining bytes of a
// Content-Length body, or up to the end of a chunked one), at most limit bytes.
func (h *httpConn) discardBody(fe *Frontend, mode bodyMode, remaining, limit int64) error {
	b := &h.br
	var total int64
	for {
		if mode == bodyLength && remaining == 0 {
			return nil
		}
		if b.buffered() == 0 {
			h.dl.read(h.c, fe.ClientTimeout)
			_, err := b.fill()
			if b.buffered() == 0 {
				if err == nil {
					continue
				}
				return err
			}
		}
		p := b.buf[b.r:b.w]
		var k int
		done := false
		switch mode {
		case bodyLength:
			k = int(min(int64(len(p)), remaining))
			remaining -= int64(k)
		case bodyChunked:
			var err error
			_, k, done, err = h.cs.decode(nil, p, chunkDiscard)
			if err != nil {
				return err
			}
		}
		b.r += k
		h.in += int64(k)
		total += int64(k)
		if total > limit {
			return errBodyTooLarge
		}
		if done {
			return nil
		}
	}
}

// handle forwards one request whose head is the first n buffered bytes. It reports
// whether the client connection may carry another request.
func (h *httpConn) handle(fe *Frontend, n int) bool {
	h.now = time.Now()
	fe.Counters.Requests.Add(1)
	b := &h.br
	req := &h.req
	var err error
	if !h.parsed {
		err = req.parseRequest(b.buf[b.r:b.r+n], h.opts.MaxHeaders)
	}
	h.parsed = false
	switch {
	case errors.Is(err, errTooManyFields):
		h.fail(fe, 431)
		return false
	case err != nil:
		h.fail(fe, 400)
		return false
	}
	if fe.log != nil {
		h.captureRequest()
	}
	method := req.first[0].of(req.head)
	if string(method) == "CONNECT" {
		h.fail(fe, 405)
		return false
	}
	if h.opts.MaxBodyBytes > 0 && req.contentLength > h.opts.MaxBodyBytes {
		h.fail(fe, 413)
		return false
	}
	if len(fe.dropped) > 0 || fe.xff {
		req.markInserted(fe.dropped, fe.xff)
	}
	if fe.anySSL && h.info != nil && h.sslFor != fe {
		// Once per connection (and per config version it meets).
		h.sslBlock = h.info.AppendHeaders(h.sslBlock[:0], &fe.sslHeaders)
		h.sslFor = fe
	}
	rt := &fe.def
	if len(fe.policies) > 0 {
		h.view.reset(req)
		h.view.tls, h.view.fe, h.view.conn = h.info, fe, h
		if p := matchPolicies(fe.policies, &h.view); p != nil {
			if p.action != actPool {
				return h.answer(fe, p, n)
			}
			rt = &p.route
		}
	}
	pool := rt.pool
	if pool == nil {
		h.fail(fe, 503)
		return false
	}
	isHead := string(method) == "HEAD"
	clientKeep := req.keepAlive()
	upgrade := req.connUpgrade && req.upgrade >= 0
	client10 := req.http10

	// Persistence: a cookie naming a member (HTTP_COOKIE) or a learned application cookie.
	var m *balance.Member
	cookieHit := false
	switch rt.cookieMode {
	case dataplane.PersistHTTPCookie:
		if v := req.cookie(HTTPCookieName); v != nil {
			if x := pool.Member(string(v)); x != nil && x.Sticky() {
				m, cookieHit = x, true
			}
		}
	case dataplane.PersistAppCookie:
		if v := req.cookie(rt.cookieName); v != nil && pool.CookieSessions != nil {
			if id, ok := pool.CookieSessions.Get(string(v)); ok {
				if x := pool.Member(id); x != nil && x.Sticky() {
					m = x
				}
			}
		}
	}

	// The forwarded head, plus the body bytes already here when they fit.
	h.out = h.buildRequest(fe, h.out[:0])
	if h.h2 != nil && fe.speaksH2(rt) {
		var done bool
		if m, done = h.h2Forward(fe, rt, m, rt.cookieMode == dataplane.PersistHTTPCookie && !cookieHit); done {
			return false
		}
	}
	b.r += n
	h.in = int64(n)
	mode, remaining := bodyNone, int64(0)
	switch {
	case req.chunked:
		mode = bodyChunked
		h.cs.reset(h.opts.MaxHeaderBytes, h.opts.MaxBodyBytes)
	case req.contentLength > 0:
		mode, remaining = bodyLength, req.contentLength
	}
	sent, err := h.coalesce(&h.out, b, mode, &remaining, chunkReframe)
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			h.fail(fe, 413)
		} else {
			h.fail(fe, 400)
		}
		return false
	}
	h.in += sent
	replayable := mode == bodyNone || (mode == bodyLength && remaining == 0) || (mode == bodyChunked && h.cs.done())
	waitContinue := req.expect100 && !replayable && !client10

	// Connect (with retries on other members), send, and read the response head.
	tried := h.tried[:0]
	var mc *memberConn
	var resLen int
	for attempt := 0; ; attempt++ {
		if m == nil || contains(tried, m) {
			m = pool.Choose(h.client, tried)
		}
		if m == nil {
			h.fail(fe, 503)
			return false
		}
		var reused bool
		mc, reused = h.memberConn(fe, rt, m)
		if !h.holdMember(mc) {
			return false // an HTTP/2 stream the client reset meanwhile
		}
		if mc == nil {
			tried = append(tried, m)
			if len(tried) >= h.opts.ConnectAttempts || len(tried) == cap(h.tried) {
				h.fail(fe, 503)
				return false
			}
			continue
		}
		if fe.log != nil {
			h.rec.conn, h.rec.member = time.Now(), m
		}
		m.State.Active.Add(1)
		m.State.Total.Add(1)
		status, retry := h.exchange(fe, mc, mode, remaining, waitContinue, &resLen)
		if status == 0 {
			break
		}
		m.State.Active.Add(-1)
		resetOnClose(mc.tcp)
		mc.Close()
		if retry && reused && replayable && attempt < 2 {
			continue // a stale keep-alive connection: the same member, a fresh one
		}
		if status > 0 {
			h.fail(fe, status)
		}
		return false
	}
	defer m.State.Active.Add(-1)
	fe.Counters.BytesIn.Add(h.in)

	res := &h.res
	fe.Counters.Response(res.status)
	if fe.log != nil {
		h.rec.response, h.rec.status = time.Now(), res.status
	}
	if res.status == 101 {
		if !upgrade {
			mc.Close()
			h.fail(fe, 502)
			return false
		}
		h.tunnel(fe, mc, resLen)
		return false
	}
	if h.drain.Load() || h.current() == nil {
		clientKeep = false // the listener went away: this is its last response
	}
	if h.bodyWithheld {
		clientKeep = false // the body was never requested; we cannot tell what follows
	}

	// Response framing. A chunked body is decoded and written in chunks of the engine's
	// own making (as its data alone for an HTTP/1.0 client, which cannot read chunks; the
	// end of the connection then ends the body).
	rmode, rremain := bodyEOF, int64(0)
	switch {
	case isHead || res.status == 204 || res.status == 304:
		rmode = bodyNone
	case res.chunked:
		rmode = bodyChunked
		h.cs.reset(64<<10, 0)
	case res.contentLength >= 0:
		rmode, rremain = bodyLength, res.contentLength
		if rremain == 0 {
			rmode = bodyNone
		}
	}
	memberKeep := res.keepAlive() && rmode != bodyEOF && !h.bodyWithheld && !res.conflict
	if rmode == bodyNone && (res.chunked || res.contentLength > 0) {
		// A response that announces a body it must not send (to HEAD, 204, 304): if the
		// member sends it anyway, the next request on that connection would read it as
		// its response. The connection is not kept.
		memberKeep = false
	}
	dechunk := client10 && rmode == bodyChunked
	if rmode == bodyEOF || dechunk {
		clientKeep = false
	}
	if rt.cookieMode == dataplane.PersistAppCookie && pool.CookieSessions != nil {
		if v := res.setCookie(rt.cookieName); len(v) > 0 {
			pool.CookieSessions.Put(string(v), m.ID)
		}
	}

	if fe.hsts != nil {
		// Ours replaces the member's, as the amphora's http-response set-header does.
		for i := range res.fields {
			if f := &res.fields[i]; eq(f.name.of(res.head), "strict-transport-security") {
				f.drop = true
			}
		}
	}
	h.out = h.buildResponse(h.out[:0], m, rt.cookieMode == dataplane.PersistHTTPCookie && !cookieHit, clientKeep, client10)
	if fe.hsts != nil {
		h.out = append(h.out[:len(h.out)-2], fe.hsts...)
		h.out = append(h.out, "\r\n"...)
	}
	mb := &mc.br
	mb.r += resLen
	chunks := chunkReframe
	if dechunk {
		chunks = chunkRaw
	}
	if _, err := h.coalesce(&h.out, mb, rmode, &rremain, chunks); err != nil {
		mc.Close()
		h.fail(fe, 502)
		return false
	}
	done := rmode == bodyNone || (rmode == bodyLength && rremain == 0) || (rmode == bodyChunked && h.cs.done())
	h.wdl.writeAt(h.c, fe.ClientTimeout, h.now.UnixNano())
	wn, err := h.c.Write(h.out)
	fe.Counters.BytesOut.Add(int64(wn))
	h.rec.sent += int64(wn)
	if err != nil {
		mc.Close()
		return false
	}
	if !done {
		_, sn, err, srcFailed := h.stream(h.c, mb, &mc.dl, fe.MemberTimeout, rmode, rremain, chunks)
		fe.Counters.BytesOut.Add(sn)
		h.rec.sent += sn
		if err != nil {
			resetOnClose(mc.tcp)
			mc.Close()
			if srcFailed {
				resetOnClose(h.tcp) // a truncated response must not look complete
			}
			return false
		}
	}
	if memberKeep && mb.buffered() == 0 && h.holdMember(nil) {
		mc.idleAt = h.now.UnixNano()
		if rt.proxied {
			if h.private != nil {
				h.private.Close() // kept for another PROXY pool this client used before
			}
			h.private, h.privateM = mc, m
		} else if !m.State.PutIdle(mc, h.now, h.opts.MaxIdlePerMember) {
			mc.Close()
		}
	} else {
		mc.Close()
	}
	return clientKeep
}
