package proxy

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Stream is one stream of an HTTP/2 client connection (h2.go): the request the reader
// decoded, its body as it comes, the answer its handler writes, and the state of the
// member exchange that serves it.
type h2Stream struct {
	st *h2State
	id uint32
	// local is the address the client connection reached (for PROXY headers).
	local netip.AddrPort

	// The request, set by the reader before the handler starts.
	method, path, authority, scheme string
	fields                          []hpack.HeaderField // the regular fields, as decoded
	clen                            int64               // content-length; -1: not given
	hasBody                         bool                // the HEADERS did not end the stream
	expect                          bool                // Expect: 100-continue, with a body
	tooLarge                        bool                // the header list is over the limit: 431

	rwake h2Wake        // request data, its end, or the stream's end
	swake chan struct{} // send window, or the stream's end

	// Under st.mu.
	in       []byte // request body bytes not read yet: in[inOff:]
	inOff    int
	inEnd    bool // the client ended its side
	rcvd     int64
	recvWin  int64
	unacked  int64 // body bytes read, not yet given back to the client's stream window
	sendWin  int64
	trailer  []hpack.HeaderField
	sentEnd  bool  // the answer ended (END_STREAM written)
	err      error // the stream was reset, or the connection ended
	detached bool  // out of st.streams
	counted  bool  // counts in st.active
	ended    bool  // the handler ended: body data is dropped

	// The answer, the handler's only.
	status   int
	head     []hpack.HeaderField
	headSent bool
	out      []byte // answer body bytes not sent yet
	wdl      time.Time

	// The member exchange.
	mu   sync.Mutex
	mc   *memberConn // the member connection the stream's exchange holds
	ms   *h2MStream  // the HTTP/2 member stream the exchange holds
	done bool        // the stream ended: a member connection held now is closed
	// taken is set when h2Forward reads the body itself: the HTTP/1.1 path no longer
	// reads it.
	taken atomic.Bool
	// writing: h2Forward answers on the stream itself; failed: its answer broke off.
	writing, failed bool
}

// close ends s as a stream (reset, or the connection gone) (under st.mu).
func (s *h2Stream) close(err error) {
	if s.err == nil {
		s.err = err
	}
	s.st.detach(s)
}

// request takes the request's pseudo-fields and checks its fields (RFC 9113 §8.2,
// §8.3.1); false when the request is malformed (a stream error).
func (s *h2Stream) request(f *http2.MetaHeadersFrame) bool {
	for _, p := range f.PseudoFields() {
		switch p.Name {
		case ":method":
			s.method = p.Value
		case ":path":
			s.path = p.Value
		case ":scheme":
			s.scheme = p.Value
		case ":authority":
			s.authority = p.Value
		default:
			return false // :protocol (extended CONNECT is not offered), :status
		}
	}
	if s.method == "CONNECT" {
		if s.path != "" || s.scheme != "" || s.authority == "" {
			return false
		}
	} else if s.method == "" || s.path == "" || s.scheme == "" {
		return false
	}
	s.fields = f.RegularFields()
	host := ""
	for _, x := range s.fields {
		switch x.Name {
		case "te":
			if x.Value != "trailers" {
				return false
			}
		case "content-length":
			n, err := strconv.ParseInt(x.Value, 10, 64)
			if err != nil || n < 0 || x.Value[0] == '+' || s.clen >= 0 && s.clen != n {
				return false
			}
			s.clen = n
		case "expect":
			s.expect = strings.EqualFold(x.Value, "100-continue")
		case "host":
			host = x.Value
		default:
			if h2ConnFields[x.Name] {
				return false
			}
		}
	}
	if s.authority == "" {
		s.authority = host
	}
	s.hasBody = !f.StreamEnded()
	if !s.hasBody && s.clen > 0 {
		return false // a length the stream's end belies
	}
	s.expect = s.expect && s.hasBody
	return true
}

// field is the value of the request's field name (lower case), or "".
func (s *h2Stream) field(name string) string {
	for _, f := range s.fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// te: the client sent TE: trailers (which gRPC needs).
func (s *h2Stream) te() bool { return s.field("te") == "trailers" }

// body: the request has a body to read.
func (s *h2Stream) body() bool { return s.hasBody && s.clen != 0 }

// read reads request body bytes; dl (zero: none) bounds the wait. The bytes read are
// given back to the client's windows, by increments of a quarter of them.
func (s *h2Stream) read(p []byte, dl time.Time) (int, error) {
	st := s.st
	if s.expect {
		s.expect = false
		s.interim100()
	}
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		st.mu.Lock()
		if s.inOff < len(s.in) {
			n := copy(p, s.in[s.inOff:])
			s.inOff += n
			if s.inOff == len(s.in) {
				s.in, s.inOff = s.in[:0], 0
			}
			var sinc uint32
			s.unacked += int64(n)
			if !s.inEnd && s.err == nil && s.unacked >= h2StreamWindow/4 {
				sinc = uint32(s.unacked)
				s.recvWin += s.unacked
				s.unacked = 0
			}
			cinc := st.credit(int64(n))
			st.mu.Unlock()
			if sinc > 0 || cinc > 0 {
				st.windowUpdates(s.id, sinc, cinc)
			}
			return n, nil
		}
		if s.inEnd {
			st.mu.Unlock()
			return 0, io.EOF
		}
		if s.err != nil {
			err := s.err
			st.mu.Unlock()
			return 0, err
		}
		st.mu.Unlock()
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, errH2Deadline
			}
			if t == nil {
				t = time.AfterFunc(d, func() { wake(s.rwake.ch) })
			} else {
				t.Reset(d)
			}
		}
		<-s.rwake.ch
	}
}

// interim100 answers Expect: 100-continue, when the body is first read.
func (s *h2Stream) interim100() {
	st := s.st
	st.mu.Lock()
	gone := s.err != nil || s.headSent
	st.mu.Unlock()
	if gone {
		return
	}
	st.wmu.Lock()
	st.hbuf.Reset()
	st.enc.WriteField(hpack.HeaderField{Name: ":status", Value: "100"})
	writeBlock(st.fr, s.id, st.hbuf.Bytes(), false, h2Frame)
	st.flushOut()
	st.wmu.Unlock()
}

// setHead sets the answer's status and fields (lower-case names, no connection-specific
// ones); they leave with the first flush.
func (s *h2Stream) setHead(status int, fields []hpack.HeaderField) {
	s.status, s.head = status, fields
}

// flush sends the answer's head and the body bytes waiting, within the client's windows.
func (s *h2Stream) flush() error { return s.send(false, nil) }

// finish ends the answer: what waits, then the trailers (if any) or END_STREAM.
func (s *h2Stream) finish(trailer []hpack.HeaderField) error { return s.send(true, trailer) }

// h2Statuses are the :status values of the usual answers.
var h2Statuses = map[int]string{200: "200", 204: "204", 206: "206", 301: "301", 302: "302", 304: "304",
	400: "400", 403: "403", 404: "404", 408: "408", 413: "413", 431: "431", 500: "500", 502: "502", 503: "503", 504: "504"}

func h2Status(code int) string {
	if v, ok := h2Statuses[code]; ok {
		return v
	}
	return strconv.Itoa(code)
}

// send writes the head (if not sent yet) and the waiting body bytes as the windows
// allow, waiting for the client to open them until the write deadline (the stream is
// then reset); end ends the stream. One append to the connection's writer carries what
// may be sent at once: a whole small answer is one.
func (s *h2Stream) send(end bool, trailer []hpack.HeaderField) error {
	st := s.st
	var t *time.Timer
	var own time.Time
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		st.mu.Lock()
		if s.err != nil {
			err := s.err
			st.mu.Unlock()
			return err
		}
		if s.sentEnd {
			st.mu.Unlock()
			return nil
		}
		k := int(max(0, min(int64(len(s.out)), s.sendWin, st.sendWin)))
		all := k == len(s.out)
		if all && !end && k == 0 && s.headSent {
			st.mu.Unlock()
			return nil // nothing to send
		}
		if k == 0 && !all && s.headSent {
			st.mu.Unlock()
			dl := s.wdl
			if dl.IsZero() && st.idleTimeout > 0 {
				// No deadline asked for (an HTTP/2 member's answer): each wait for the
				// client's window lasts timeout_client_data at most, counted from the last
				// bytes this send let through (one send may carry a long stream's backlog).
				if own.IsZero() {
					own = time.Now().Add(st.idleTimeout)
				}
				dl = own
			}
			if !dl.IsZero() {
				d := time.Until(dl)
				if d <= 0 {
					s.resetStream(http2.ErrCodeInternal)
					return errH2Deadline
				}
				if t == nil {
					t = time.AfterFunc(d, func() { wake(s.swake) })
				} else {
					t.Reset(d)
				}
			}
			<-s.swake
			continue
		}
		s.sendWin -= int64(k)
		st.sendWin -= int64(k)
		if k > 0 {
			own = time.Time{}
		}
		last := end && all
		if last {
			s.sentEnd = true
			st.uncount(s)
			if s.inEnd {
				st.detach(s)
			}
		}
		st.mu.Unlock()
		st.wmu.Lock()
		// A stream reset meanwhile gets its RST_STREAM alone: no frame of ours may follow it.
		st.mu.Lock()
		err := s.err
		if err != nil {
			st.sendWin += int64(k)
		}
		st.mu.Unlock()
		if err != nil {
			st.wmu.Unlock()
			return err
		}
		headNow := !s.headSent
		if headNow {
			s.headSent = true
			st.hbuf.Reset()
			st.enc.WriteField(hpack.HeaderField{Name: ":status", Value: h2Status(s.status)})
			for _, f := range s.head {
				st.enc.WriteField(f)
			}
			writeBlock(st.fr, s.id, st.hbuf.Bytes(), last && k == 0 && len(trailer) == 0, h2Frame)
		}
		for data := s.out[:k]; len(data) > 0; {
			c := min(len(data), h2Frame)
			st.fr.WriteData(s.id, last && c == len(data) && len(trailer) == 0, data[:c])
			data = data[c:]
		}
		if last {
			if len(trailer) > 0 {
				st.hbuf.Reset()
				for _, f := range trailer {
					st.enc.WriteField(f)
				}
				writeBlock(st.fr, s.id, st.hbuf.Bytes(), true, h2Frame)
			} else if k == 0 && !headNow {
				st.fr.WriteData(s.id, true, nil)
			}
		}
		st.flushOut()
		st.wmu.Unlock()
		s.out = s.out[:copy(s.out, s.out[k:])]
		if all {
			return nil
		}
	}
}

// resetStream resets s from the handler's side (a truncated answer, a client that does
// not take it) unless it ended already.
func (s *h2Stream) resetStream(code http2.ErrCode) {
	st := s.st
	st.mu.Lock()
	if s.err != nil || s.sentEnd {
		st.mu.Unlock()
		return
	}
	s.close(errH2Reset)
	st.mu.Unlock()
	wake(s.rwake.ch)
	st.wmu.Lock()
	st.fr.WriteRSTStream(s.id, code)
	st.flushOut()
	st.wmu.Unlock()
}

// answer ends the stream with a short text answer of the engine's own.
func (s *h2Stream) answer(status int, text string) {
	s.setHead(status, []hpack.HeaderField{{Name: "content-type", Value: "text/plain"}})
	s.out = append(s.out[:0], text...)
	s.finish(nil)
}

// Read reads the request body without a deadline (an HTTP/2 member's exchange: a gRPC
// stream may be long).
func (s *h2Stream) Read(p []byte) (int, error) { return s.read(p, time.Time{}) }

// trailers are the request's trailers, once the body was read to its end.
func (s *h2Stream) trailers() []hpack.HeaderField {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.trailer
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

// gone: the client reset the stream, or its connection ended.
func (s *h2Stream) gone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
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

// serveStream is a stream's handler, on a goroutine of its own: the stream's own
// httpConn runs on it, its connection (streamConn) reading the request head from the
// read buffer, where it is put here, and the body from the stream; what it writes is the
// HTTP/1.1 answer, relayed onto the stream.
func (st *h2State) serveStream(s *h2Stream, sc *streamConn) {
	defer st.streamDone(s)
	parent := st.h
	if parent.drain.Load() {
		st.goAway()
	}
	fe := parent.current()
	if fe == nil {
		st.goAway()
		s.answer(503, "503 Service Unavailable\n")
		return
	}
	if s.tooLarge {
		s.answer(431, "431 Request Header Fields Too Large\n")
		return
	}
	hp := h2Heads.Get().(*[]byte)
	head, ok := s.requestHead((*hp)[:0])
	if !ok {
		h2Heads.Put(hp)
		fe.Counters.Errors.Add(1)
		s.answer(400, "400 Bad Request\n")
		return
	}
	*sc = streamConn{s: s, body: s.body(), isHead: s.method == "HEAD", cbuf: sc.cbuf, head: sc.head[:0], res: sc.res,
		fields: sc.fields[:0]}
	sc.chunked = sc.body && s.clen < 0
	hc := newHTTPConn(sc, parent.tcp, nil, parent.current, parent.opts)
	sh := hc.h
	sh.tcp, sh.info, sh.h2 = nil, parent.info, s
	if len(head) > len(sh.br.buf) {
		// Beyond the maximum head size the forwarder answers 431, as to HTTP/1.1 clients.
		sh.br.buf = make([]byte, len(head))
	}
	sh.br.w = copy(sh.br.buf, head)
	if cap(head) <= 16<<10 {
		*hp = head[:0]
	}
	h2Heads.Put(hp)
	hc.Serve()
	hc.Release()
	if writing, failed := s.answered(); writing {
		if failed {
			s.resetStream(http2.ErrCodeInternal)
		}
		return // h2Forward ended the answer
	}
	if !sc.complete() {
		// A truncated answer must not look complete: the stream is reset.
		s.abort()
		s.resetStream(http2.ErrCodeInternal)
		return
	}
	s.finish(nil)
}

// streamDone ends a handler: an answer left unended is reset; a stream whose request the
// client had not finished sending is reset with NO_ERROR after a complete answer (RFC
// 9113 §8.1); its unread body goes back to the connection window.
func (st *h2State) streamDone(s *h2Stream) {
	st.mu.Lock()
	s.ended = true
	inc := st.credit(int64(len(s.in) - s.inOff))
	s.in, s.inOff = nil, 0
	code := http2.ErrCode(0)
	rst := false
	switch {
	case s.err != nil:
	case !s.sentEnd:
		rst, code = true, http2.ErrCodeInternal
		s.close(errH2Reset)
	case !s.inEnd:
		rst, code = true, http2.ErrCodeNo
		s.close(errH2Reset)
	}
	st.uncount(s)
	st.handlers--
	if st.handlers == 0 {
		st.cond.Broadcast()
	}
	st.mu.Unlock()
	if rst {
		wake(s.rwake.ch) // a body reader (h2Forward's) ends
	}
	if rst || inc > 0 {
		st.wmu.Lock()
		if rst {
			st.fr.WriteRSTStream(s.id, code)
		}
		if inc > 0 {
			st.fr.WriteWindowUpdate(0, inc)
		}
		st.flushOut()
		st.wmu.Unlock()
	}
	if code == http2.ErrCodeInternal {
		s.abort()
	}
	st.closeIfDone()
}

// h2Heads are the buffers requestHead writes in.
var h2Heads = sync.Pool{New: func() any { b := make([]byte, 0, 2<<10); return &b }}

// h2Bufs are the body buffers of streams.
var h2Bufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// requestHead writes the HTTP/1.1 head of the stream's request: the request line, Host
// from :authority, the client's fields (framing, Host and Expect aside: the stream
// answers 100-continue itself; cookie fields joined into one), the framing of the body,
// and Connection: close (one request per stream connection). false when the method,
// target or authority holds a byte an HTTP/1.1 head cannot carry.
func (s *h2Stream) requestHead(out []byte) ([]byte, bool) {
	target := s.path
	if s.method == "CONNECT" {
		target = s.authority
	}
	for i := 0; i < len(s.method); i++ {
		if !tokenChar(s.method[i]) {
			return nil, false
		}
	}
	if !h2Visible(target) || !h2Visible(s.authority) {
		return nil, false
	}
	out = append(out, s.method...)
	out = append(out, ' ')
	out = append(out, target...)
	out = append(out, " HTTP/1.1\r\n"...)
	if s.authority != "" {
		out = append(out, "Host: "...)
		out = append(out, s.authority...)
		out = append(out, "\r\n"...)
	}
	cookies := 0
	for _, f := range s.fields {
		switch f.Name {
		case "host", "content-length", "expect":
			continue
		case "cookie":
			cookies++
			continue
		}
		out = append(out, f.Name...)
		out = append(out, ": "...)
		out = append(out, f.Value...)
		out = append(out, "\r\n"...)
	}
	if cookies > 0 {
		// RFC 9113 §8.2.3: the cookie fields are one in HTTP/1.1.
		out = append(out, "cookie: "...)
		n := 0
		for _, f := range s.fields {
			if f.Name == "cookie" {
				if n > 0 {
					out = append(out, "; "...)
				}
				out = append(out, f.Value...)
				n++
			}
		}
		out = append(out, "\r\n"...)
	}
	switch {
	case s.clen > 0:
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, s.clen, 10)
		out = append(out, "\r\n"...)
	case s.clen < 0 && s.hasBody:
		out = append(out, "Transfer-Encoding: chunked\r\n"...)
	}
	return append(out, "Connection: close\r\n\r\n"...), true
}

// h2Visible: s holds no control character, space or DEL (the Framer checks field values
// for what HTTP forbids, not for what a request line cannot carry).
func h2Visible(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// streamConn is the connection the HTTP/1.1 forwarder of one HTTP/2 stream serves
// (docs/http2.md). There is no in-memory connection and no goroutine of its own: the
// forwarder runs on the stream's handler goroutine, finds the request head already in
// its read buffer, reads the request body here straight from the stream (in chunks of
// its own making when the client did not say its length), and what it writes, an
// HTTP/1.1 answer, is parsed as it comes and relayed onto the stream: the status and
// fields as the HTTP/2 head, the body (de-chunked) as DATA.
type streamConn struct {
	s       *h2Stream
	body    bool // the request has a body
	chunked bool // ... of unknown length: it is read in chunked coding
	isHead  bool // a HEAD request: the answer has no body
	closed  bool

	// The request body in chunks: pend holds framing and data not yet read, eof that
	// the last chunk was made.
	pend []byte
	cbuf []byte
	eof  bool

	// Deadlines the forwarder asked for, applied to the stream when they matter (a body
	// read, an answer that waits for the client's window).
	rdl, wdl time.Time

	// The answer.
	state  uint8 // rsHead, rsBody, rsDone, rsBad
	head   []byte
	scan   int
	res    message
	mode   bodyMode
	remain int64
	cs     chunkDecoder
	fields []hpack.HeaderField // the answer's head for the stream
}

const (
	rsHead uint8 = iota
	rsBody
	rsDone
	rsBad
)

var errStreamAnswer = errors.New("http2: the forwarder's answer cannot be relayed")

// complete reports whether a whole answer was relayed.
func (c *streamConn) complete() bool {
	return c.state == rsDone || (c.state == rsBody && c.mode == bodyEOF && c.closed)
}

// Read reads the request body.
func (c *streamConn) Read(p []byte) (int, error) {
	if !c.body || c.s.taken.Load() || c.state >= rsDone || c.closed {
		// No body, or none to read any more: the answer is complete, or an HTTP/2 member
		// took the body.
		return 0, io.EOF
	}
	if !c.chunked {
		return c.s.read(p, c.rdl)
	}
	for len(c.pend) == 0 {
		if c.eof {
			return 0, io.EOF
		}
		if c.cbuf == nil {
			c.cbuf = make([]byte, 0, 16<<10+32)
		}
		buf := c.cbuf[:16<<10]
		n, err := c.s.read(buf[20:], c.rdl)
		out := c.cbuf[:0]
		if n > 0 {
			out = strconv.AppendInt(out, int64(n), 16)
			out = append(out, "\r\n"...)
			out = append(out, buf[20:20+n]...) // the size line is shorter than 20 bytes
			out = append(out, "\r\n"...)
		}
		switch {
		case err == io.EOF:
			out = append(out, "0\r\n\r\n"...)
			c.eof = true
		case err != nil:
			if len(out) == 0 {
				return 0, err
			}
			c.eof = true // the body ends in an error: what came is passed on, then EOF
		}
		c.pend = out
	}
	n := copy(p, c.pend)
	c.pend = c.pend[n:]
	return n, nil
}

// Write relays the forwarder's answer onto the stream.
func (c *streamConn) Write(p []byte) (int, error) {
	if c.closed || c.state == rsBad {
		return 0, net.ErrClosed
	}
	s := c.s
	total := len(p)
	for len(p) > 0 {
		switch c.state {
		case rsHead:
			var hd []byte
			e := -1
			if len(c.head) == 0 {
				// The usual case: the whole head is in this write.
				if e = headEnd(p, &c.scan); e >= 0 {
					hd, p = p[:e], p[e:]
				}
			}
			if e < 0 {
				c.head = append(c.head, p...)
				if e = headEnd(c.head, &c.scan); e < 0 {
					if len(c.head) > 1<<20 {
						c.state = rsBad
						return 0, errStreamAnswer
					}
					return total, nil
				}
				// What follows the head in c.head came in this write.
				p = p[len(p)-(len(c.head)-e):]
				hd = c.head[:e]
			}
			c.scan = 0
			if err := c.res.parseResponse(hd); err != nil {
				c.state = rsBad
				return 0, errStreamAnswer
			}
			c.head = c.head[:0]
			switch st := c.res.status; {
			case st == 101:
				c.state = rsBad
				return 0, errStreamAnswer // never asked for: the request carries no Upgrade
			case st < 200:
				continue // interim answers are not relayed
			}
			c.writeHead(hd)
		case rsBody:
			switch c.mode {
			case bodyLength:
				k := int(min(int64(len(p)), c.remain))
				s.out = append(s.out, p[:k]...)
				c.remain -= int64(k)
				if c.remain == 0 {
					c.state = rsDone
				}
				p = p[k:]
			case bodyChunked:
				var k int
				var done bool
				var err error
				s.out, k, done, err = c.cs.decode(s.out, p, chunkRaw)
				if err != nil {
					c.state = rsBad
					return 0, err
				}
				if done {
					c.state = rsDone
				}
				p = p[k:]
			default:
				s.out = append(s.out, p...)
				p = nil
			}
		default:
			p = nil // bytes past the answer's end: nothing a client may see
		}
	}
	s.wdl = c.wdl
	switch c.state {
	case rsBody:
		// The answer streams: what came goes out now, and a client that does not take it
		// meets the write deadline.
		if err := s.flush(); err != nil {
			c.state = rsBad
			return 0, err
		}
	case rsDone:
		// A complete answer goes out at once: HEADERS and DATA together, END_STREAM on
		// the last frame.
		if err := s.finish(nil); err != nil {
			c.state = rsBad
			return 0, err
		}
	}
	return total, nil
}

// writeHead sets the answer's status and fields on the stream (not sent yet) and the
// framing of its body.
func (c *streamConn) writeHead(hd []byte) {
	res := &c.res
	// One string for the whole head: field names and values are slices of it.
	text := string(hd)
	fields := c.fields[:0]
	for i := range res.fields {
		f := &res.fields[i]
		name := text[f.name[0]:f.name[1]]
		if f.drop {
			if res.contentLength >= 0 && !res.chunked && eq(f.name.of(hd), "content-length") {
				// Framing is the stream's, but the length given is declared.
				fields = append(fields, hpack.HeaderField{Name: "content-length", Value: text[f.value[0]:f.value[1]], Sensitive: true})
			}
			continue
		}
		name = strings.ToLower(name)
		if h2ConnFields[name] {
			continue
		}
		fields = append(fields, hpack.HeaderField{Name: name, Value: text[f.value[0]:f.value[1]]})
	}
	c.s.setHead(res.status, fields)
	c.fields = fields
	switch {
	case c.isHead || res.status == 204 || res.status == 304:
		c.mode = bodyNone
	case res.chunked:
		c.mode = bodyChunked
		c.cs.reset(64<<10, 0)
	case res.contentLength >= 0:
		c.mode, c.remain = bodyLength, res.contentLength
		if c.remain == 0 {
			c.mode = bodyNone
		}
	default:
		c.mode = bodyEOF
	}
	c.state = rsBody
	if c.mode == bodyNone {
		c.state = rsDone
	}
}

// Close ends the forwarder's use of the stream.
func (c *streamConn) Close() error {
	c.closed = true
	return nil
}

// CloseWrite is a no-op: the end of the answer is known by its framing.
func (*streamConn) CloseWrite() error { return nil }

func (c *streamConn) SetDeadline(t time.Time) error {
	c.rdl, c.wdl = t, t
	return nil
}

func (c *streamConn) SetReadDeadline(t time.Time) error {
	c.rdl = t
	return nil
}

func (c *streamConn) SetWriteDeadline(t time.Time) error {
	c.wdl = t
	return nil
}

func (c *streamConn) LocalAddr() net.Addr  { return net.TCPAddrFromAddrPort(c.s.local) }
func (c *streamConn) RemoteAddr() net.Addr { return nil }
