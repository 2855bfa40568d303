package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// HTTP/2 to clients of TERMINATED_HTTPS listeners whose ALPN list offers h2, and to
// HTTP listeners' clients speaking h2c by prior knowledge (docs/http2.md). The engine's
// own server, on x/net/http2's Framer and hpack only: the goroutine that accepted the
// connection reads its frames, answers the connection's control frames itself and starts
// each new stream's handler goroutine directly; request DATA is filed with its stream and
// the handler woken once per batch of frames. Each handler runs the engine's own
// HTTP/1.1 path for its request, on an httpConn of its own over a streamConn
// (h2stream.go), so that the L7 policies, inserted headers, persistence, member choice,
// retries, counters and access log are the ones HTTP/1.1 clients get, request by
// request; its answer is written as frames straight into the connection's gathered
// writer (h2write.go).

// The HTTP/2 limits of a client connection.
const (
	// H2MaxConcurrentStreams is SETTINGS_MAX_CONCURRENT_STREAMS: streams a client may
	// have open at once. Handlers running count too: a stream the client reset counts
	// until its handler has ended, so at most this many run per connection (rapid reset).
	H2MaxConcurrentStreams = 100
	// h2HeaderTable is SETTINGS_HEADER_TABLE_SIZE (HPACK dynamic table) both ways.
	h2HeaderTable = 4096
	// h2StreamWindow and h2ConnWindow are the receive windows for request bodies.
	h2StreamWindow = 256 << 10
	h2ConnWindow   = 1 << 20
	// H2ControlBurst and H2ControlRate bound the control frames a client sends that
	// cost the server work and carry no request: SETTINGS and PING (not their
	// acknowledgements), RST_STREAM and PRIORITY, and streams refused for being over
	// the limit. A connection that sends more than the burst plus the rate per second
	// is closed.
	H2ControlBurst = 1000
	H2ControlRate  = 200
	// h2Frame is the largest frame either way (SETTINGS_MAX_FRAME_SIZE's default: the
	// engine announces no other, and every peer takes frames this large).
	h2Frame = 16384
)

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

var (
	errH2Flood = errors.New("http2: control frame flood")
	// errH2Reset: the client reset the stream; errH2Gone: the connection ended.
	errH2Reset = errors.New("http2: stream reset")
	errH2Gone  = errors.New("http2: client connection gone")
	// errH2Deadline: the client did not take the answer (or send the body) in time.
	errH2Deadline = errors.New("http2: stream deadline passed")
)

// h2State is a client connection while it speaks HTTP/2: its frame reader runs on the
// connection's own goroutine (serveH2); handlers write under wmu.
type h2State struct {
	h     *httpConn
	c     net.Conn       // the *tls.Conn, or the cleartext connection (h2cConn)
	local netip.AddrPort // the address the client connection reached
	w     *h2Writer
	br    *bufio.Reader
	fr    *http2.Framer // ReadFrame: the reader only; writes: under wmu, into obuf
	dec   *hpack.Decoder

	idleTimeout time.Duration
	budget      controlBudget // reader only
	// work hands a new stream to a handler goroutine of the connection that finished its
	// last one and waits (its stack grown already); quit ends those at the connection's end.
	work    chan *h2Stream
	quit    chan struct{}
	waiting atomic.Int32 // handler goroutines waiting on work
	woken   h2Wakes      // reader only

	wmu  sync.Mutex
	obuf bytes.Buffer // frames written under wmu, handed to w at once
	enc  *hpack.Encoder
	hbuf bytes.Buffer

	mu        sync.Mutex
	cond      sync.Cond // handlers reaching 0
	streams   map[uint32]*h2Stream
	maxID     uint32 // the highest stream id the client used
	active    int    // streams whose handler has not ended its answer
	handlers  int    // handler goroutines running
	sendWin   int64  // the connection's send window
	initWin   int64  // the client's SETTINGS_INITIAL_WINDOW_SIZE
	recvWin   int64  // what the client may still send on the connection
	recvCred  int64  // bytes taken (or dropped), not yet given back to the client
	goingAway bool   // a GOAWAY was sent: no new streams
	closing   bool
	dead      bool
	idleSince time.Time
	idleT     *time.Timer
}

// h2Wakes are streams with news from the reader, woken together once the frames read at
// once are filed: an answer's head, data and trailers that came together wake its
// reader once. Used by both sides (h2client.go).
type h2Wakes []*h2Wake

type h2Wake struct {
	ch    chan struct{}
	woken bool // in the list (reader only)
}

func (ws *h2Wakes) notify(w *h2Wake) {
	if !w.woken {
		w.woken = true
		*ws = append(*ws, w)
	}
}

func (ws *h2Wakes) wakeAll() {
	for i, w := range *ws {
		w.woken = false
		wake(w.ch)
		(*ws)[i] = nil
	}
	*ws = (*ws)[:0]
}

// frameBuffered: a whole frame waits in br (ReadFrame will not block).
func frameBuffered(br *bufio.Reader) bool {
	n := br.Buffered()
	if n < 9 {
		return false
	}
	h, _ := br.Peek(9)
	return n >= 9+int(h[0])<<16|int(h[1])<<8|int(h[2])
}

// h2CipherOK: the TLS connection is one HTTP/2 allows (RFC 9113 §9.2): TLS 1.3, or TLS
// 1.2 with an ephemeral key exchange and an AEAD cipher.
func h2CipherOK(cs tls.ConnectionState) bool {
	if cs.Version >= tls.VersionTLS13 {
		return true
	}
	if cs.Version < tls.VersionTLS12 {
		return false
	}
	switch cs.CipherSuite {
	case tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256:
		return true
	}
	return false
}

// serveH2 serves a client connection whose TLS handshake negotiated h2, or a cleartext
// one that began with the HTTP/2 client preface (h2c by prior knowledge).
func (h *httpConn) serveH2(fe *Frontend) {
	var c net.Conn = h.tls
	if h.tls == nil {
		// h2c by prior knowledge: the preface's first bytes are in the read buffer.
		c = &h2cConn{TCPConn: h.tcp, pre: h.br.buf[h.br.r:h.br.w]}
	}
	h.tcp.SetDeadline(time.Time{})
	st := &h2State{h: h, c: c, w: newH2Writer(c, fe.ClientTimeout), idleTimeout: fe.ClientTimeout,
		budget: newControlBudget(), streams: make(map[uint32]*h2Stream), sendWin: 65535, initWin: 65535,
		recvWin: h2ConnWindow, idleSince: time.Now(), work: make(chan *h2Stream), quit: make(chan struct{})}
	st.cond.L = &st.mu
	st.local = h.localAddr()
	st.br = bufio.NewReaderSize(c, 16<<10)
	st.fr = http2.NewFramer(&st.obuf, st.br)
	st.fr.SetReuseFrames()
	st.fr.SetMaxReadFrameSize(h2Frame)
	st.dec = hpack.NewDecoder(h2HeaderTable, nil)
	st.fr.ReadMetaHeaders = st.dec
	st.fr.MaxHeaderListSize = uint32(h.opts.MaxHeaderBytes)
	st.enc = hpack.NewEncoder(&st.hbuf)
	st.enc.SetMaxDynamicTableSizeLimit(h2HeaderTable)
	defer st.end()

	if h.tls != nil && !h2CipherOK(h.tls.ConnectionState()) {
		st.connError(http2.ErrCodeInadequateSecurity)
		return
	}
	// The preface and the client's first SETTINGS, within the head timeout.
	c.SetReadDeadline(time.Now().Add(h.opts.HeaderTimeout))
	var pre [len(http2.ClientPreface)]byte
	if _, err := st.readFull(pre[:]); err != nil || string(pre[:]) != http2.ClientPreface {
		return
	}
	st.wmu.Lock()
	st.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: H2MaxConcurrentStreams},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: uint32(h.opts.MaxHeaderBytes)})
	st.fr.WriteWindowUpdate(0, h2ConnWindow-65535)
	// Written at once, before any other frame (the writer has none yet): a client cut off
	// for flooding has had the server's preface.
	c.SetWriteDeadline(time.Now().Add(h.opts.HeaderTimeout))
	_, err := c.Write(st.obuf.Bytes())
	c.SetWriteDeadline(time.Time{})
	st.obuf.Reset()
	st.wmu.Unlock()
	if err != nil {
		return
	}
	// Drain may send a GOAWAY from now on (after the SETTINGS, as the preface must be).
	h.h2srv.Store(st)
	f, err := st.fr.ReadFrame()
	if err != nil {
		st.fail(err)
		return
	}
	if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
		st.connError(http2.ErrCodeProtocol)
		return
	}
	c.SetReadDeadline(time.Time{})
	if fe.ClientTimeout > 0 {
		st.idleT = time.AfterFunc(fe.ClientTimeout, st.onIdle)
	}
	if h.drain.Load() {
		st.goAway()
	}
	st.readLoop(f)
}

func (st *h2State) readFull(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k, err := st.br.Read(p[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// readLoop handles f and the frames after it until the connection ends.
func (st *h2State) readLoop(f http2.Frame) {
	for {
		err := st.handle(f)
		if err == nil && !frameBuffered(st.br) {
			st.woken.wakeAll()
		}
		if err != nil {
			st.woken.wakeAll()
			st.fail(err)
			return
		}
		f, err = st.fr.ReadFrame()
		for err != nil {
			var se http2.StreamError
			if !errors.As(err, &se) {
				st.woken.wakeAll()
				st.fail(err)
				return
			}
			// A malformed header block (decoded whole: the HPACK state holds) or a frame
			// of a stream that breaks its rules: that stream is reset, the connection goes on.
			st.mu.Lock()
			if se.StreamID%2 == 1 && se.StreamID > st.maxID {
				st.maxID = se.StreamID
			}
			st.mu.Unlock()
			st.resetID(se.StreamID, se.Code)
			f, err = st.fr.ReadFrame()
		}
	}
}

// fail ends the connection on err: a GOAWAY first when the client broke the protocol; a
// control-frame flood ends it with a TCP reset.
func (st *h2State) fail(err error) {
	var ce http2.ConnectionError
	switch {
	case err == errH2Flood:
		st.h.opts.Logger.Debug("HTTP/2 control frame flood: connection closed", "client", st.h.client.String())
		st.w.fail(net.ErrClosed)
		st.h.tcp.SetLinger(0)
		st.h.tcp.Close()
	case errors.As(err, &ce):
		st.connError(http2.ErrCode(ce))
		st.linger()
	case errors.Is(err, http2.ErrFrameTooLarge):
		st.connError(http2.ErrCodeFrameSize)
		st.linger()
	}
}

// linger reads (and drops) what the client still sends after a GOAWAY for a second at
// most, so that closing does not reset the connection before the client reads it.
func (st *h2State) linger() {
	st.c.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, st.br)
}

// connError sends GOAWAY code; the connection then ends (st.end).
func (st *h2State) connError(code http2.ErrCode) {
	st.mu.Lock()
	st.goingAway = true
	last := st.maxID
	st.mu.Unlock()
	st.wmu.Lock()
	st.fr.WriteGoAway(last, code, nil)
	st.flushOut()
	st.wmu.Unlock()
}

// end ends the connection: its streams' exchanges are cut, their handlers awaited, what
// waits written (a GOAWAY, the last answers) for a second at most, and the connection
// closed.
func (st *h2State) end() {
	st.mu.Lock()
	st.dead = true
	var gone []*h2Stream
	for _, s := range st.streams {
		gone = append(gone, s)
		s.close(errH2Gone)
	}
	st.mu.Unlock()
	for _, s := range gone {
		wake(s.rwake.ch)
		wake(s.swake)
		s.abort()
	}
	if st.idleT != nil {
		st.idleT.Stop()
	}
	close(st.quit)
	st.mu.Lock()
	for st.handlers > 0 {
		st.cond.Wait()
	}
	st.mu.Unlock()
	st.w.flush(time.Second)
	st.w.fail(net.ErrClosed)
	st.c.Close()
}

// flushOut hands the frames written into obuf to the writer (under wmu).
func (st *h2State) flushOut() {
	if st.obuf.Len() > 0 {
		if _, err := st.w.Write(st.obuf.Bytes()); err != nil {
			st.c.Close() // the client does not take what it is sent: the reader ends too
		}
		st.obuf.Reset()
	}
}

// goAway starts a graceful end once: a GOAWAY naming the last stream taken; streams in
// flight finish, then the connection is closed. Any goroutine.
func (st *h2State) goAway() {
	st.mu.Lock()
	if st.goingAway {
		st.mu.Unlock()
		return
	}
	st.goingAway = true
	last := st.maxID
	st.mu.Unlock()
	st.wmu.Lock()
	st.fr.WriteGoAway(last, http2.ErrCodeNo, nil)
	st.flushOut()
	st.wmu.Unlock()
	st.closeIfDone()
}

// closeIfDone closes a connection going away once its last stream is done.
func (st *h2State) closeIfDone() {
	st.mu.Lock()
	done := st.goingAway && !st.closing && len(st.streams) == 0 && st.active == 0
	if done {
		st.closing = true
	}
	st.mu.Unlock()
	if done {
		st.w.flush(time.Second)
		// The reader goes on for a second at most (answering PINGs, refusing streams)
		// and then ends, and with it the connection (end): closing now, with the
		// client's last frames unread, would reset the connection before the client
		// read the GOAWAY and the last answers.
		st.c.SetReadDeadline(time.Now().Add(time.Second))
	}
}

// onIdle sends GOAWAY when no stream was open for the idle timeout.
func (st *h2State) onIdle() {
	st.mu.Lock()
	if st.dead {
		st.mu.Unlock()
		return
	}
	next := st.idleTimeout
	idle := len(st.streams) == 0 && st.active == 0
	if idle {
		next -= time.Since(st.idleSince)
	}
	st.mu.Unlock()
	if idle && next <= 0 {
		st.goAway()
		return
	}
	st.idleT.Reset(max(next, time.Millisecond))
}

// resetID resets stream id with code (a stream error): its exchange is cut.
func (st *h2State) resetID(id uint32, code http2.ErrCode) {
	st.mu.Lock()
	s := st.streams[id]
	if s != nil {
		s.close(errH2Reset)
	}
	st.mu.Unlock()
	if s != nil {
		wake(s.rwake.ch)
		wake(s.swake)
		s.abort()
	}
	st.wmu.Lock()
	st.fr.WriteRSTStream(id, code)
	st.flushOut()
	st.wmu.Unlock()
}

// idle: id names a stream the client never opened (RFC 9113 §5.1) (under mu).
func (st *h2State) idle(id uint32) bool { return id%2 == 0 || id > st.maxID }

// windowUpdates sends what is due (stream id's and the connection's increments).
func (st *h2State) windowUpdates(id, sinc uint32, cinc uint32) {
	st.wmu.Lock()
	if sinc > 0 {
		st.fr.WriteWindowUpdate(id, sinc)
	}
	if cinc > 0 {
		st.fr.WriteWindowUpdate(0, cinc)
	}
	st.flushOut()
	st.wmu.Unlock()
}

// credit gives n bytes of the connection window back (under mu): the increment to send
// when enough came together.
func (st *h2State) credit(n int64) uint32 {
	st.recvCred += n
	if st.recvCred < h2ConnWindow/4 || st.dead {
		return 0
	}
	inc := st.recvCred
	st.recvWin += inc
	st.recvCred = 0
	return uint32(inc)
}

// handle handles one frame of the client's (reader only).
func (st *h2State) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return st.onHeaders(f)
	case *http2.DataFrame:
		return st.onData(f)
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		if !st.budget.spend() {
			return errH2Flood
		}
		st.mu.Lock()
		err := f.ForeachSetting(func(s http2.Setting) error {
			if err := s.Valid(); err != nil {
				return err
			}
			if s.ID == http2.SettingInitialWindowSize {
				delta := int64(s.Val) - st.initWin
				st.initWin = int64(s.Val)
				for _, x := range st.streams {
					x.sendWin += delta
					if x.sendWin > h2MaxStreamID {
						return http2.ConnectionError(http2.ErrCodeFlowControl)
					}
					wake(x.swake)
				}
			}
			return nil
		})
		st.mu.Unlock()
		if err != nil {
			return err
		}
		st.wmu.Lock()
		f.ForeachSetting(func(s http2.Setting) error {
			if s.ID == http2.SettingHeaderTableSize {
				st.enc.SetMaxDynamicTableSize(min(s.Val, h2HeaderTable))
			}
			return nil
		})
		st.fr.WriteSettingsAck()
		st.flushOut()
		st.wmu.Unlock()
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		if !st.budget.spend() {
			return errH2Flood
		}
		st.wmu.Lock()
		st.fr.WritePing(true, f.Data)
		st.flushOut()
		st.wmu.Unlock()
	case *http2.WindowUpdateFrame:
		st.mu.Lock()
		if f.StreamID == 0 {
			st.sendWin += int64(f.Increment)
			if st.sendWin > h2MaxStreamID {
				st.mu.Unlock()
				return http2.ConnectionError(http2.ErrCodeFlowControl)
			}
			for _, s := range st.streams {
				wake(s.swake)
			}
			st.mu.Unlock()
			return nil
		}
		if st.idle(f.StreamID) {
			st.mu.Unlock()
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		s := st.streams[f.StreamID]
		over := false
		if s != nil {
			s.sendWin += int64(f.Increment)
			over = s.sendWin > h2MaxStreamID
			wake(s.swake)
		}
		st.mu.Unlock()
		if over {
			st.resetID(f.StreamID, http2.ErrCodeFlowControl)
		}
	case *http2.RSTStreamFrame:
		if !st.budget.spend() {
			return errH2Flood
		}
		st.mu.Lock()
		if st.idle(f.StreamID) {
			st.mu.Unlock()
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		s := st.streams[f.StreamID]
		if s != nil {
			s.close(errH2Reset)
		}
		st.mu.Unlock()
		if s != nil {
			wake(s.rwake.ch)
			wake(s.swake)
			s.abort() // nobody reads the answer: the member exchange is cut at once
		}
	case *http2.PriorityFrame:
		if !st.budget.spend() {
			return errH2Flood
		}
		if f.StreamDep == f.StreamID {
			st.resetID(f.StreamID, http2.ErrCodeProtocol)
		}
	case *http2.GoAwayFrame:
		st.goAway() // the client opens no more streams
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	return nil
}

// h2ConnFields are the connection-specific fields HTTP/2 does not carry (RFC 9113
// §8.2.2), either way.
var h2ConnFields = map[string]bool{"connection": true, "proxy-connection": true, "keep-alive": true,
	"transfer-encoding": true, "upgrade": true}

// onHeaders opens a stream (or ends one with its trailers).
func (st *h2State) onHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	st.mu.Lock()
	if s := st.streams[id]; s != nil {
		// Trailers: they end the stream and carry no pseudo-fields.
		switch {
		case s.inEnd:
			st.mu.Unlock()
			st.resetID(id, http2.ErrCodeStreamClosed)
			return nil
		case !f.StreamEnded() || len(f.PseudoFields()) > 0 || f.Truncated || s.clen >= 0 && s.rcvd != s.clen:
			st.mu.Unlock()
			st.resetID(id, http2.ErrCodeProtocol)
			return nil
		}
		s.trailer = f.RegularFields()
		s.inEnd = true
		if s.sentEnd {
			st.detach(s)
		}
		st.mu.Unlock()
		st.woken.notify(&s.rwake)
		return nil
	}
	if st.idle(id) {
		if id%2 == 0 {
			st.mu.Unlock()
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
	} else {
		// A stream that was open and closed, or an id below one used already.
		st.mu.Unlock()
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	st.maxID = id
	refused := st.goingAway || len(st.streams) >= H2MaxConcurrentStreams || st.active >= H2MaxConcurrentStreams
	st.mu.Unlock()
	if f.HasPriority() && f.Priority.StreamDep == id {
		st.resetID(id, http2.ErrCodeProtocol)
		return nil
	}
	if refused {
		// Over the limit (or going away): not processed, the client may retry it. A
		// client that keeps doing this is flooding.
		if !st.budget.spend() {
			return errH2Flood
		}
		st.resetID(id, http2.ErrCodeRefusedStream)
		return nil
	}
	s := &h2Stream{st: st, id: id, local: st.local, clen: -1, rwake: h2Wake{ch: make(chan struct{}, 1)},
		swake: make(chan struct{}, 1), recvWin: h2StreamWindow, inEnd: f.StreamEnded()}
	if f.Truncated {
		s.tooLarge = true
	} else if !s.request(f) {
		st.resetID(id, http2.ErrCodeProtocol)
		return nil
	}
	st.mu.Lock()
	s.sendWin = st.initWin
	st.streams[id] = s
	st.active++
	st.handlers++
	s.counted = true
	st.mu.Unlock()
	select {
	case st.work <- s: // a handler goroutine waiting for one
	default:
		go st.handler(s)
	}
	return nil
}

// h2Waiting bounds the handler goroutines a connection keeps waiting for its next streams.
const h2Waiting = 16

// handler serves s, then the connection's next streams that find it waiting, until the
// connection ends.
func (st *h2State) handler(s *h2Stream) {
	sc := new(streamConn) // reused from stream to stream, with its buffers
	for {
		st.serveStream(s, sc)
		if st.waiting.Add(1) > h2Waiting {
			st.waiting.Add(-1)
			return
		}
		select {
		case s = <-st.work:
			st.waiting.Add(-1)
		case <-st.quit:
			st.waiting.Add(-1)
			return
		}
	}
}

// onData files request body bytes with their stream.
func (st *h2State) onData(f *http2.DataFrame) error {
	id := f.StreamID
	n := int64(f.Header().Length)
	data := f.Data()
	st.mu.Lock()
	st.recvWin -= n
	if st.recvWin < 0 {
		st.mu.Unlock()
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	s := st.streams[id]
	var code http2.ErrCode
	back := n - int64(len(data)) // padding goes back at once
	switch {
	case s == nil && st.idle(id):
		st.mu.Unlock()
		return http2.ConnectionError(http2.ErrCodeProtocol)
	case s == nil || s.inEnd:
		code, back = http2.ErrCodeStreamClosed, n
	default:
		s.recvWin -= n
		s.rcvd += int64(len(data))
		switch {
		case s.recvWin < 0:
			code, back = http2.ErrCodeFlowControl, n
		case s.clen >= 0 && (s.rcvd > s.clen || f.StreamEnded() && s.rcvd != s.clen):
			code, back = http2.ErrCodeProtocol, n
		default:
			if s.done {
				back = n // the handler reads no more
			} else {
				s.unacked += back
				s.in = append(s.in, data...)
			}
			if f.StreamEnded() {
				s.inEnd = true
				if s.sentEnd {
					st.detach(s)
				}
			}
		}
	}
	inc := uint32(0)
	if back > 0 {
		inc = st.credit(back)
	}
	st.mu.Unlock()
	if inc > 0 {
		st.windowUpdates(0, 0, inc)
	}
	if code != 0 {
		st.resetID(id, code)
		return nil
	}
	st.woken.notify(&s.rwake)
	return nil
}

// detach takes s out of the connection's streams (under mu).
func (st *h2State) detach(s *h2Stream) {
	if s.detached {
		return
	}
	s.detached = true
	delete(st.streams, s.id)
	if len(st.streams) == 0 && st.active == 0 {
		st.idleSince = time.Now()
	}
}

// uncount ends s's share of the handler limit (under mu): its answer is complete.
func (st *h2State) uncount(s *h2Stream) {
	if s.counted {
		s.counted = false
		st.active--
		if len(st.streams) == 0 && st.active == 0 {
			st.idleSince = time.Now()
		}
	}
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

// writeBlock writes a header block as HEADERS and CONTINUATION frames of size at most
// (under the connection's write lock). Both sides.
func writeBlock(fr *http2.Framer, id uint32, block []byte, endStream bool, size int) error {
	first := block[:min(len(block), size)]
	block = block[len(first):]
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: endStream, EndHeaders: len(block) == 0}); err != nil {
		return err
	}
	for len(block) > 0 {
		k := min(len(block), size)
		if err := fr.WriteContinuation(id, k == len(block), block[:k]); err != nil {
			return err
		}
		block = block[k:]
	}
	return nil
}

// localAddr is the local address of the client connection.
func (h *httpConn) localAddr() netip.AddrPort {
	if h.h2 != nil {
		return h.h2.local
	}
	return h.tcp.LocalAddr().(*net.TCPAddr).AddrPort()
}
