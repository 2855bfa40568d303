//lint:file-ignore SA1019 x/net/http2's Server is deprecated in favour of net/http's, which cannot serve a connection it did not accept; the engine hands it one already handshaken (and wrapped by h2Guard).

package proxy

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// HTTP/2 to clients of TERMINATED_HTTPS listeners whose ALPN list offers h2
// (docs/http2.md). x/net/http2 speaks the protocol (framing, HPACK, flow
// control, stream limits); each stream's handler then runs the engine's own
// HTTP/1.1 path for its request, on an httpConn of its own over a streamConn
// (h2stream.go), so that the L7 policies, inserted headers, persistence, member
// choice, retries, counters and access log are the ones HTTP/1.1 clients get,
// request by request.

// The HTTP/2 limits of a client connection.
const (
	// H2MaxConcurrentStreams is SETTINGS_MAX_CONCURRENT_STREAMS: streams a client may
	// have open at once. x/net/http2 also runs at most this many handlers per connection
	// and ends a connection whose reset streams queue more than four times as many
	// (rapid reset).
	H2MaxConcurrentStreams = 100
	// h2HeaderTable is SETTINGS_HEADER_TABLE_SIZE (HPACK dynamic table) both ways.
	h2HeaderTable = 4096
	// h2StreamWindow and h2ConnWindow are the receive windows for request bodies.
	h2StreamWindow = 256 << 10
	h2ConnWindow   = 1 << 20
	// H2ControlBurst and H2ControlRate bound the control frames a client sends that
	// cost the server work and carry no request: SETTINGS and PING (not their
	// acknowledgements), RST_STREAM and PRIORITY. A connection that sends more than
	// the burst plus the rate per second is closed.
	H2ControlBurst = 1000
	H2ControlRate  = 200
)

// h2Stream is the state of an httpConn that serves one HTTP/2 stream.
type h2Stream struct {
	// local is the address the client connection reached (for PROXY headers).
	local netip.AddrPort
	mu    sync.Mutex
	mc    *memberConn // the member connection the stream's exchange holds
	ms    *h2MStream  // the HTTP/2 member stream the exchange holds
	done  bool        // the stream ended: a member connection held now is closed

	// The client's stream, for an exchange with an HTTP/2 member (h2member.go).
	r *http.Request
	w http.ResponseWriter
	// taken is set when h2Forward reads the body itself: the HTTP/1.1 path no longer
	// reads it.
	taken atomic.Bool
	// writing: h2Forward answers on w itself; failed: its answer broke off.
	writing, failed bool
}

// takeBody tells the stream connection that the request body goes to an HTTP/2 member
// directly.
func (s *h2Stream) takeBody() { s.taken.Store(true) }

// direct makes h2Forward the writer of the client's answer; false when the stream has
// ended already.
func (s *h2Stream) direct() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return false
	}
	s.writing = true
	return true
}

func (s *h2Stream) fail() {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
}

func (s *h2Stream) answered() (writing, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writing, s.failed
}

// holdMember tells an HTTP/2 stream's abort which member connection its exchange uses
// (nil when it was released to an idle pool). false when the stream has ended already:
// mc is then closed and the exchange must stop. Always true for HTTP/1 clients.
func (h *httpConn) holdMember(mc *memberConn) bool {
	s := h.h2
	if s == nil {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		if mc != nil {
			mc.c.Close()
		}
		s.mc = nil
		return false
	}
	s.mc = mc
	return true
}

// holdStream tells the stream's abort which HTTP/2 member stream its exchange uses;
// false when the stream has ended already (ms is then reset).
func (s *h2Stream) holdStream(ms *h2MStream) bool {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		ms.done()
		return false
	}
	s.ms = ms
	s.mu.Unlock()
	return true
}

// abort ends the stream's member exchange, if any: the client reset the stream (or went
// away), so nobody reads the answer. An HTTP/2 member's stream is reset (CANCEL).
func (s *h2Stream) abort() {
	s.mu.Lock()
	s.done = true
	if s.mc != nil {
		s.mc.c.Close()
		s.mc = nil
	}
	ms := s.ms
	s.ms = nil
	s.mu.Unlock()
	if ms != nil {
		ms.done()
	}
}

// localAddr is the local address of the client connection.
func (h *httpConn) localAddr() netip.AddrPort {
	if h.h2 != nil {
		return h.h2.local
	}
	return h.tcp.LocalAddr().(*net.TCPAddr).AddrPort()
}

// h2State is what the client connection keeps while it speaks HTTP/2.
type h2State struct {
	hs       *http.Server
	shutdown atomic.Bool
	// x/net/http2 lets handlers run on after ServeConn returns: the connection waits
	// for them (they read its fields) before it is released.
	mu       sync.Mutex
	cond     sync.Cond
	handlers int
	ended    bool
}

// enter registers a handler; false once the connection has ended.
func (st *h2State) enter() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ended {
		return false
	}
	st.handlers++
	return true
}

func (st *h2State) leave() {
	st.mu.Lock()
	st.handlers--
	if st.handlers == 0 && st.ended {
		st.cond.Broadcast()
	}
	st.mu.Unlock()
}

// end refuses new handlers and waits for the running ones.
func (st *h2State) end() {
	st.mu.Lock()
	st.ended = true
	for st.handlers > 0 {
		st.cond.Wait()
	}
	st.mu.Unlock()
}

// goAway starts a graceful end (GOAWAY; streams in flight finish) once.
func (st *h2State) goAway() {
	if st.shutdown.CompareAndSwap(false, true) {
		// No listener or connection is registered with hs: Shutdown only runs the
		// HTTP/2 graceful-shutdown hook ConfigureServer installed.
		st.hs.Shutdown(context.Background())
	}
}

var h2ErrorLog = log.New(io.Discard, "", 0)

// h2Proto is the protocol the access log names for HTTP/2 requests.
var h2Proto = []byte("HTTP/2.0")

// h2cPreface is the head the HTTP/1.1 reader finds at the start of a client preface
// (RFC 9113 §3.4): an HTTP listener's client speaking h2c by prior knowledge.
const h2cPreface = "PRI * HTTP/2.0\r\n\r\n"

// h2cConn is a cleartext client connection whose first bytes were read already.
type h2cConn struct {
	*net.TCPConn
	pre []byte
}

func (c *h2cConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.TCPConn.Read(p)
}

// serveH2 serves a client connection whose TLS handshake negotiated h2, or a cleartext
// one that began with the HTTP/2 client preface (h2c by prior knowledge).
func (h *httpConn) serveH2(fe *Frontend) {
	hs := &http.Server{MaxHeaderBytes: h.opts.MaxHeaderBytes, IdleTimeout: fe.ClientTimeout, ErrorLog: h2ErrorLog}
	srv := &http2.Server{
		MaxConcurrentStreams:         H2MaxConcurrentStreams,
		MaxDecoderHeaderTableSize:    h2HeaderTable,
		MaxEncoderHeaderTableSize:    h2HeaderTable,
		MaxUploadBufferPerStream:     h2StreamWindow,
		MaxUploadBufferPerConnection: h2ConnWindow,
		IdleTimeout:                  fe.ClientTimeout,
	}
	if err := http2.ConfigureServer(hs, srv); err != nil {
		fe.Counters.Errors.Add(1)
		return
	}
	st := &h2State{hs: hs}
	st.cond.L = &st.mu
	h.h2srv.Store(st)
	var c net.Conn = h.tls
	if h.tls == nil {
		// h2c by prior knowledge: the preface's first bytes are in the read buffer.
		c = &h2cConn{TCPConn: h.tcp, pre: h.br.buf[h.br.r:h.br.w]}
		h.tcp.SetDeadline(time.Time{}) // the head's read deadline; x/net/http2 keeps its own
	}
	g := &h2Guard{Conn: c, tcp: h.tcp, preface: len(http2.ClientPreface), budget: newControlBudget(), h: h, st: st,
		w: newH2Writer(c, fe.ClientTimeout)}
	srv.ServeConn(g, &http2.ServeConnOpts{BaseConfig: hs, Handler: h2Handler{h, st}})
	g.w.fail(net.ErrClosed) // x/net/http2 closed g already; its writer ends in any case
	// The connection is gone: its streams' contexts are cancelled, which ends their
	// exchanges; wait for their handlers.
	st.end()
}

// h2Guard is the client connection as x/net/http2 reads it: it follows the frame headers
// going by and closes the connection when the client floods control frames (SETTINGS,
// PING, RST_STREAM, PRIORITY) beyond H2ControlBurst + H2ControlRate per second. It also
// starts the graceful end when the connection was drained before x/net/http2 could see
// it. Its writes are gathered by an h2Writer, which bounds a write the client does not
// take by timeout_client_data.
type h2Guard struct {
	net.Conn // the *tls.Conn, or the cleartext connection (h2cConn)
	w        *h2Writer
	tcp      *net.TCPConn
	h        *httpConn
	st       *h2State
	preface  int // bytes of the client preface still to pass
	hdr      [9]byte
	hn       int    // bytes of hdr filled
	skip     uint32 // payload bytes of the current frame still to pass
	budget   controlBudget
	flooded  bool
}

var errH2Flood = errors.New("http2: control frame flood")

func (g *h2Guard) Write(p []byte) (int, error) { return g.w.Write(p) }

// SetWriteDeadline is the h2Writer's business.
func (g *h2Guard) SetWriteDeadline(time.Time) error { return nil }

func (g *h2Guard) SetDeadline(t time.Time) error { return g.Conn.SetReadDeadline(t) }

// Close writes what waits (a GOAWAY, the last answers), for a second at most, then
// closes.
func (g *h2Guard) Close() error {
	g.w.flush(time.Second)
	g.w.fail(net.ErrClosed)
	return g.Conn.Close()
}

func (g *h2Guard) Read(p []byte) (int, error) {
	if g.h.drain.Load() {
		g.st.goAway()
	}
	if g.flooded {
		return 0, errH2Flood
	}
	n, err := g.Conn.Read(p)
	if !g.scan(p[:n]) {
		g.flooded = true
		g.h.opts.Logger.Debug("HTTP/2 control frame flood: connection closed", "client", g.h.client.String())
		g.tcp.SetLinger(0)
		g.tcp.Close()
		return 0, errH2Flood
	}
	return n, err
}

// scan follows the frames in p; false when the control frame budget is spent.
func (g *h2Guard) scan(p []byte) bool {
	for len(p) > 0 {
		switch {
		case g.preface > 0:
			k := min(g.preface, len(p))
			g.preface -= k
			p = p[k:]
		case g.skip > 0:
			k := min(int(g.skip), len(p))
			g.skip -= uint32(k)
			p = p[k:]
		default:
			k := copy(g.hdr[g.hn:], p)
			g.hn += k
			p = p[k:]
			if g.hn < len(g.hdr) {
				return true
			}
			g.hn = 0
			g.skip = uint32(g.hdr[0])<<16 | uint32(g.hdr[1])<<8 | uint32(g.hdr[2])
			typ, ack := http2.FrameType(g.hdr[3]), g.hdr[4]&1 != 0
			switch {
			case typ == http2.FrameSettings && !ack, typ == http2.FramePing && !ack,
				typ == http2.FrameRSTStream, typ == http2.FramePriority:
				if !g.budget.spend() {
					return false
				}
			}
		}
	}
	return true
}

// controlBudget is a token bucket of control frames (H2ControlBurst, refilled
// at H2ControlRate per second): a client's, and a member's (h2client.go).
type controlBudget struct {
	tokens float64
	last   time.Time
}

func newControlBudget() controlBudget {
	return controlBudget{tokens: H2ControlBurst, last: time.Now()}
}

// credit adds n frames to the budget, up to the burst.
func (b *controlBudget) credit(n float64) {
	b.tokens = min(H2ControlBurst, b.tokens+n)
}

// spend takes one control frame from the budget; false when it is spent.
func (b *controlBudget) spend() bool {
	now := time.Now()
	b.tokens = min(H2ControlBurst, b.tokens+now.Sub(b.last).Seconds()*H2ControlRate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// h2Handler serves the streams of one client connection.
type h2Handler struct {
	h  *httpConn
	st *h2State
}

// h2Hop are the response fields that belong to the HTTP/1.1 hop and are not sent in
// HTTP/2.
var h2Hop = map[string]bool{"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Transfer-Encoding": true, "Upgrade": true}

func (hh h2Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !hh.st.enter() {
		panic(http.ErrAbortHandler) // the connection has ended
	}
	defer hh.st.leave()
	parent := hh.h
	if parent.drain.Load() {
		hh.st.goAway()
	}
	if fe := parent.current(); fe == nil {
		hh.st.goAway()
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(503)
		io.WriteString(w, "503 Service Unavailable\n")
		return
	}
	hp := h2Heads.Get().(*[]byte)
	head, ok := h2RequestHead((*hp)[:0], r)
	if !ok {
		h2Heads.Put(hp)
		if fe := parent.current(); fe != nil {
			fe.Counters.Errors.Add(1)
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(400)
		io.WriteString(w, "400 Bad Request\n")
		return
	}

	// The stream's own httpConn, run on this goroutine: its connection (streamConn)
	// reads the request head from the read buffer, where it is put below, and the body
	// from the stream; what it writes is the HTTP/1.1 answer, relayed onto the stream.
	stream := &h2Stream{local: parent.localAddr(), r: r, w: w}
	sc := &streamConn{s: stream, body: r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody,
		isHead: r.Method == "HEAD"}
	sc.chunked = sc.body && r.ContentLength < 0
	hc := newHTTPConn(sc, parent.tcp, nil, parent.current, parent.opts)
	sh := hc.h
	sh.tcp, sh.info, sh.h2 = nil, parent.info, stream
	if len(head) > len(sh.br.buf) {
		// Beyond the maximum head size the forwarder answers 431, as to HTTP/1.1 clients.
		sh.br.buf = make([]byte, len(head))
	}
	sh.br.w = copy(sh.br.buf, head)
	if cap(head) <= 16<<10 {
		*hp = head[:0]
	}
	h2Heads.Put(hp)
	// The client resetting the stream (or the connection ending) ends the exchange: the
	// member connection it holds is closed, which ends the forwarder's wait.
	stop := context.AfterFunc(r.Context(), stream.abort)
	hc.Serve()
	hc.Release()
	stop()
	if writing, failed := stream.answered(); writing {
		if failed {
			panic(http.ErrAbortHandler)
		}
		return
	}
	if !sc.complete() {
		// A truncated answer must not look complete: the stream is reset.
		stream.abort()
		panic(http.ErrAbortHandler)
	}
}

// h2Heads are the buffers h2RequestHead writes in.
var h2Heads = sync.Pool{New: func() any { b := make([]byte, 0, 2<<10); return &b }}

// h2Bufs are the body buffers of streams.
var h2Bufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// h2RequestHead writes the HTTP/1.1 head of an HTTP/2 request: the request line, Host
// from :authority, the client's fields (framing, Host and Expect aside: x/net/http2
// answers 100-continue itself), the framing of the body, and Connection: close (one
// request per stream connection). false when the method, path or authority holds a
// byte an HTTP/1.1 head cannot carry.
func h2RequestHead(out []byte, r *http.Request) ([]byte, bool) {
	if r.Method == "" || r.RequestURI == "" {
		return nil, false
	}
	for i := 0; i < len(r.Method); i++ {
		if !tokenChar(r.Method[i]) {
			return nil, false
		}
	}
	if !h2Visible(r.RequestURI) || !h2Visible(r.Host) {
		return nil, false
	}
	out = append(out, r.Method...)
	out = append(out, ' ')
	out = append(out, r.RequestURI...)
	out = append(out, " HTTP/1.1\r\n"...)
	if r.Host != "" {
		out = append(out, "Host: "...)
		out = append(out, r.Host...)
		out = append(out, "\r\n"...)
	}
	for k, vv := range r.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Expect":
			continue
		}
		for _, v := range vv {
			out = append(out, k...)
			out = append(out, ": "...)
			out = append(out, v...)
			out = append(out, "\r\n"...)
		}
	}
	switch {
	case r.ContentLength > 0:
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, r.ContentLength, 10)
		out = append(out, "\r\n"...)
	case r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody:
		out = append(out, "Transfer-Encoding: chunked\r\n"...)
	}
	return append(out, "Connection: close\r\n\r\n"...), true
}

// h2Visible: s holds no control character, space or DEL (x/net/http2 checks header
// values, not the pseudo-header fields that make the request line).
func h2Visible(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
