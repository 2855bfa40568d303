package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2MConn is the engine's own HTTP/2 client connection to a member (docs/http2.md),
// shared by the streams of a frontend's clients to that member. It is built on
// x/net/http2's Framer and hpack only: one goroutine per connection reads the member's
// frames and files them with their streams; a stream's request is written by the
// goroutine that serves the client's stream (its body by one more goroutine while it
// lasts), and the answer is read by that same goroutine from what the reader filed. No
// goroutine per request, no channel hop per frame. Writes are gathered by an h2Writer.
type h2MConn struct {
	c  net.Conn
	w  *h2Writer
	fr *http2.Framer // ReadFrame: the reader goroutine only; writes: under wmu
	br *bufio.Reader
	// woken are the streams the reader has news for, woken when the frames read at
	// once are all filed (reader only).
	woken h2Wakes

	wmu  sync.Mutex
	enc  *hpack.Encoder
	hbuf bytes.Buffer

	maxFrame atomic.Uint32 // the member's SETTINGS_MAX_FRAME_SIZE

	mu        sync.Mutex
	streams   map[uint32]*h2MStream
	reserved  int    // streams promised by reserve, not yet opened
	nextID    uint32 // the next stream's id
	peerMax   uint32 // the member's SETTINGS_MAX_CONCURRENT_STREAMS
	initWin   int32  // the member's SETTINGS_INITIAL_WINDOW_SIZE
	sendWin   int64  // what the connection window lets us send
	recvWin   int64  // what the member may still send on the connection
	recvCred  int64  // bytes taken by the streams, not yet given back to the member
	goAway    bool
	dead      error
	lastUsed  time.Time
	tickReads uint64
	pinged    bool
	idle      time.Duration
	tick      *time.Timer

	reads atomic.Uint64 // frames read

	// The member's control frames spend a budget as a client's do (reader only),
	// credited h2MStreamCredit frames per stream opened (opened): a member may
	// answer each request with control frames of its own — grpc-go pings on the
	// data it receives to size its windows — but not do more than the engine asks.
	budget controlBudget
	opened atomic.Int64
}

// h2MStream is one stream on an h2MConn.
type h2MStream struct {
	cc    *h2MConn
	id    uint32
	rwake h2Wake        // something for the answer's reader
	swake chan struct{} // send window for the body's writer

	// Under cc.mu.
	sendWin  int64
	recvWin  int64
	unacked  int64 // bytes taken, not yet given back to the member
	gotHead  bool
	status   int
	head     []hpack.HeaderField
	data     []byte
	trailer  []hpack.HeaderField
	ended    bool  // the member ended its side
	sentEnd  bool  // our side ended
	err      error // the stream failed (the member reset it, the connection failed)
	detached bool  // out of cc.streams
}

// The member connection's windows and limits.
const (
	h2MStreamWindow = 1 << 20
	h2MConnWindow   = 4 << 20
	h2MaxStreamID   = 1<<31 - 1
	h2MTick         = 15 * time.Second
)

var (
	// errH2MLost: the connection failed (or was closed) while the stream was open.
	errH2MLost = errors.New("http2: member connection lost")
	// errH2MRefused: the member did not take the stream (GOAWAY below its id,
	// REFUSED_STREAM): it never saw the request.
	errH2MRefused = errors.New("http2: member refused the stream")
	errH2MHead    = errors.New("http2: member answer head refused")
	errH2MTimeout = errors.New("http2: member answer head timed out")
	// errH2MProto: the member broke the protocol; the connection was ended.
	errH2MProto = errors.New("http2: member protocol error")
)

// newH2MConn starts the client side of HTTP/2 on c (TLS handshaken already, or h2c by
// prior knowledge): the preface, the engine's settings and connection window.
func newH2MConn(c net.Conn, writeTimeout, idle time.Duration, maxHeaderBytes int) *h2MConn {
	cc := &h2MConn{c: c, w: newH2Writer(c, writeTimeout), streams: make(map[uint32]*h2MStream), nextID: 1,
		peerMax: 100, initWin: 65535, sendWin: 65535, recvWin: h2MConnWindow, idle: idle,
		budget: newControlBudget(), lastUsed: time.Now()}
	cc.maxFrame.Store(16384)
	cc.br = bufio.NewReaderSize(c, 32<<10)
	cc.fr = http2.NewFramer(cc.w, cc.br)
	cc.fr.SetReuseFrames()
	cc.fr.ReadMetaHeaders = hpack.NewDecoder(h2HeaderTable, nil)
	cc.fr.MaxHeaderListSize = uint32(maxHeaderBytes)
	cc.enc = hpack.NewEncoder(&cc.hbuf)
	cc.enc.SetMaxDynamicTableSizeLimit(h2HeaderTable)
	cc.wmu.Lock()
	cc.w.Write([]byte(http2.ClientPreface))
	cc.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2MStreamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: uint32(maxHeaderBytes)})
	cc.fr.WriteWindowUpdate(0, h2MConnWindow-65535)
	cc.wmu.Unlock()
	cc.tick = time.AfterFunc(min(idle, h2MTick), cc.onTick)
	go cc.readLoop()
	return cc
}

// reserve promises a stream: false when the connection cannot take one more (failed,
// going away, the member's stream limit reached, ids spent).
func (cc *h2MConn) reserve() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.dead != nil || cc.goAway || uint32(len(cc.streams)+cc.reserved) >= cc.peerMax ||
		cc.nextID+2*uint32(cc.reserved) > h2MaxStreamID {
		return false
	}
	cc.reserved++
	return true
}

// open sends a reserved stream's HEADERS (fields in order, pseudo-fields first);
// endStream when the request has no body.
func (cc *h2MConn) open(fields []hpack.HeaderField, endStream bool) (*h2MStream, error) {
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	cc.mu.Lock()
	cc.reserved--
	if cc.dead != nil || cc.goAway {
		cc.mu.Unlock()
		return nil, errH2MRefused
	}
	cc.opened.Add(1)
	s := &h2MStream{cc: cc, id: cc.nextID, rwake: h2Wake{ch: make(chan struct{}, 1)}, swake: make(chan struct{}, 1),
		sendWin: int64(cc.initWin), recvWin: h2MStreamWindow, sentEnd: endStream}
	cc.nextID += 2
	cc.streams[s.id] = s
	cc.mu.Unlock()
	cc.hbuf.Reset()
	for _, f := range fields {
		cc.enc.WriteField(f)
	}
	if err := writeBlock(cc.fr, s.id, cc.hbuf.Bytes(), endStream, int(cc.maxFrame.Load())); err != nil {
		cc.fail(err)
		return nil, errH2MLost
	}
	return s, nil
}

// sendBody writes the request body read from body as DATA frames within the member's
// windows, then the request's trailers (if any) or the end of the stream. It runs on a
// goroutine of its own (the answer may stream while the request does) and stops when the
// stream ends another way.
func (s *h2MStream) sendBody(body io.Reader, trailer func() []hpack.HeaderField) {
	cc := s.cc
	bp := h2Bufs.Get().(*[]byte)
	defer h2Bufs.Put(bp)
	buf := *bp
	for {
		n, err := body.Read(buf)
		last := err == io.EOF
		if err != nil && !last {
			cc.reset(s, http2.ErrCodeCancel, errH2MLost)
			return
		}
		var tr []hpack.HeaderField
		if last && trailer != nil {
			tr = trailer()
		}
		data := buf[:n]
		for len(data) > 0 {
			k, ok := s.window(len(data))
			if !ok {
				return
			}
			cc.wmu.Lock()
			werr := cc.fr.WriteData(s.id, last && k == len(data) && len(tr) == 0, data[:k])
			cc.wmu.Unlock()
			if werr != nil {
				cc.fail(werr)
				return
			}
			data = data[k:]
		}
		if !last {
			continue
		}
		if len(tr) > 0 || n == 0 {
			if _, ok := s.window(0); !ok {
				return
			}
			cc.wmu.Lock()
			var werr error
			if len(tr) > 0 {
				cc.hbuf.Reset()
				for _, f := range tr {
					cc.enc.WriteField(f)
				}
				werr = writeBlock(cc.fr, s.id, cc.hbuf.Bytes(), true, int(cc.maxFrame.Load()))
			} else {
				werr = cc.fr.WriteData(s.id, true, nil)
			}
			cc.wmu.Unlock()
			if werr != nil {
				cc.fail(werr)
				return
			}
		}
		cc.endSent(s)
		return
	}
}

// window waits until n bytes (0: an empty frame) may be sent, and takes what may: at
// most n, the windows and the member's frame size. false when the stream has ended.
func (s *h2MStream) window(n int) (int, bool) {
	cc := s.cc
	for {
		cc.mu.Lock()
		if s.err != nil || s.detached {
			cc.mu.Unlock()
			return 0, false
		}
		if n == 0 {
			cc.mu.Unlock()
			return 0, true
		}
		if k := min(int64(n), s.sendWin, cc.sendWin, int64(cc.maxFrame.Load())); k > 0 {
			s.sendWin -= k
			cc.sendWin -= k
			cc.mu.Unlock()
			return int(k), true
		}
		cc.mu.Unlock()
		<-s.swake
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// endSent notes that our side of s ended; a stream ended both ways leaves the connection.
func (cc *h2MConn) endSent(s *h2MStream) {
	cc.mu.Lock()
	s.sentEnd = true
	if s.ended {
		cc.detach(s)
	}
	cc.mu.Unlock()
}

// detach takes s out of the connection's streams (under mu).
func (cc *h2MConn) detach(s *h2MStream) {
	if s.detached {
		return
	}
	s.detached = true
	delete(cc.streams, s.id)
	if len(cc.streams) == 0 {
		cc.lastUsed = time.Now()
		if cc.goAway && cc.reserved == 0 && cc.dead == nil {
			// The member said it would take no more, and the last stream is done.
			go cc.fail(errH2MLost)
		}
	}
}

// retire takes no new streams on the connection and ends it once its last stream is done.
func (cc *h2MConn) retire() {
	cc.mu.Lock()
	cc.goAway = true
	idle := len(cc.streams) == 0 && cc.reserved == 0 && cc.dead == nil
	cc.mu.Unlock()
	if idle {
		cc.fail(errH2MLost)
	}
}

// reset ends s with RST_STREAM code (the client went away, the body failed) unless it
// ended already; err is what its reader sees.
func (cc *h2MConn) reset(s *h2MStream, code http2.ErrCode, err error) {
	cc.mu.Lock()
	if s.detached || cc.dead != nil {
		cc.mu.Unlock()
		return
	}
	if s.err == nil {
		s.err = err
	}
	cc.detach(s)
	cc.mu.Unlock()
	wake(s.rwake.ch)
	wake(s.swake)
	cc.wmu.Lock()
	werr := cc.fr.WriteRSTStream(s.id, code)
	cc.wmu.Unlock()
	if werr != nil {
		cc.fail(werr)
	}
}

// done ends the exchange's use of s: a stream not ended both ways is reset (CANCEL).
func (s *h2MStream) done() {
	s.cc.reset(s, http2.ErrCodeCancel, errH2MLost)
}

// awaitHead waits for the answer's head; timeout (0: none) bounds the wait and ends in
// timedOut (the stream is reset on the member). A client that resets its stream resets
// this one (h2Stream.abort), which ends the wait too.
func (s *h2MStream) awaitHead(timeout time.Duration) (timedOut bool, err error) {
	cc := s.cc
	var t *time.Timer
	for {
		cc.mu.Lock()
		got, serr := s.gotHead, s.err
		cc.mu.Unlock()
		if got {
			break
		}
		if serr != nil {
			err = serr
			break
		}
		if t == nil && timeout > 0 {
			t = time.AfterFunc(timeout, func() { cc.reset(s, http2.ErrCodeCancel, errH2MTimeout) })
		}
		<-s.rwake.ch
	}
	if t != nil {
		t.Stop()
	}
	return err == errH2MTimeout, err
}

// take returns the answer's body bytes that came (appended to buf), whether the answer
// ended, and its failure; the bytes taken are given back to the member's windows.
func (s *h2MStream) take(buf []byte) ([]byte, bool, error) {
	cc := s.cc
	cc.mu.Lock()
	buf = append(buf, s.data...)
	n := int64(len(s.data))
	s.data = s.data[:0]
	ended, err := s.ended, s.err
	var sinc, cinc uint32
	if n > 0 {
		if !ended && !s.detached {
			s.unacked += n
			if s.unacked >= h2MStreamWindow/4 {
				sinc = uint32(s.unacked)
				s.recvWin += s.unacked
				s.unacked = 0
			}
		}
		cc.recvCred += n
		if cc.recvCred >= h2MConnWindow/4 {
			cinc = uint32(cc.recvCred)
			cc.recvWin += cc.recvCred
			cc.recvCred = 0
		}
	}
	dead := cc.dead != nil
	cc.mu.Unlock()
	if (sinc > 0 || cinc > 0) && !dead {
		cc.wmu.Lock()
		var werr error
		if sinc > 0 {
			werr = cc.fr.WriteWindowUpdate(s.id, sinc)
		}
		if cinc > 0 && werr == nil {
			werr = cc.fr.WriteWindowUpdate(0, cinc)
		}
		cc.wmu.Unlock()
		if werr != nil {
			cc.fail(werr)
		}
	}
	if ended {
		err = nil
	}
	return buf, ended, err
}

// wait waits for more of the answer (or its failure: take says which).
func (s *h2MStream) wait() { <-s.rwake.ch }

// fail ends the connection: its streams fail with errH2MLost, or errH2MProto when the
// member broke the protocol (a ConnectionError or errH2MFlood).
func (cc *h2MConn) fail(err error) {
	cc.mu.Lock()
	if cc.dead != nil {
		cc.mu.Unlock()
		return
	}
	if err == nil {
		err = errH2MLost
	}
	cc.dead = err
	serr := errH2MLost
	var ce http2.ConnectionError
	if errors.As(err, &ce) || err == errH2MFlood {
		serr = errH2MProto
	}
	streams := cc.streams
	cc.streams = map[uint32]*h2MStream{}
	for _, s := range streams {
		s.detached = true
		if s.err == nil && !(s.ended && s.sentEnd) {
			s.err = serr
		}
	}
	cc.mu.Unlock()
	cc.tick.Stop()
	for _, s := range streams {
		wake(s.rwake.ch)
		wake(s.swake)
	}
	cc.w.fail(net.ErrClosed)
	cc.c.Close()
}

// onTick closes the connection after idle unused, and pings a member that sent nothing
// for a tick while streams wait on it: one more silent tick ends the connection.
func (cc *h2MConn) onTick() {
	cc.mu.Lock()
	if cc.dead != nil {
		cc.mu.Unlock()
		return
	}
	if len(cc.streams) == 0 && cc.reserved == 0 && time.Since(cc.lastUsed) >= cc.idle {
		cc.mu.Unlock()
		cc.fail(errH2MLost)
		return
	}
	n := cc.reads.Load()
	ping, dead := false, false
	if len(cc.streams) > 0 && n == cc.tickReads {
		if cc.pinged {
			dead = true
		} else {
			ping, cc.pinged = true, true
		}
	} else {
		cc.pinged = false
	}
	cc.tickReads = n
	cc.mu.Unlock()
	if dead {
		cc.fail(errH2MLost)
		return
	}
	if ping {
		cc.wmu.Lock()
		cc.fr.WritePing(false, [8]byte{'f', 'u', 'l', 'c', 'r', 'u', 'm'})
		cc.wmu.Unlock()
	}
	cc.tick.Reset(min(cc.idle, h2MTick))
}

// readLoop reads the member's frames until the connection fails.
func (cc *h2MConn) readLoop() {
	for {
		f, err := cc.fr.ReadFrame()
		if err != nil {
			cc.woken.wakeAll()
			var se http2.StreamError
			if errors.As(err, &se) {
				// A malformed answer head: that stream is reset, the connection goes on.
				cc.mu.Lock()
				s := cc.streams[se.StreamID]
				cc.mu.Unlock()
				if s != nil {
					cc.reset(s, se.Code, errH2MHead)
				}
				continue
			}
			cc.fail(err)
			return
		}
		cc.reads.Add(1)
		err = cc.handle(f)
		if err != nil || !frameBuffered(cc.br) {
			cc.woken.wakeAll()
		}
		if err != nil {
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				cc.wmu.Lock()
				cc.fr.WriteGoAway(0, http2.ErrCode(ce), nil)
				cc.wmu.Unlock()
				cc.w.flush(time.Second)
			}
			cc.fail(err)
			return
		}
	}
}

// h2MStreamCredit is how many control frames each stream opened on a member
// connection adds to its member's budget.
const h2MStreamCredit = 2

// spend takes one of the member's control frames from its budget, credited
// for the streams opened since the last call.
func (cc *h2MConn) spend() bool {
	if n := cc.opened.Swap(0); n > 0 {
		cc.budget.credit(float64(n * h2MStreamCredit))
	}
	return cc.budget.spend()
}

var errH2MFlood = errors.New("http2: member control frame flood")

// handle files one frame of the member's.
func (cc *h2MConn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return cc.onHeaders(f)
	case *http2.DataFrame:
		return cc.onData(f)
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		if !cc.spend() {
			return errH2MFlood
		}
		cc.mu.Lock()
		err := f.ForeachSetting(func(st http2.Setting) error {
			if err := st.Valid(); err != nil {
				return err
			}
			switch st.ID {
			case http2.SettingMaxConcurrentStreams:
				cc.peerMax = st.Val
			case http2.SettingInitialWindowSize:
				delta := int64(st.Val) - int64(cc.initWin)
				cc.initWin = int32(st.Val)
				for _, s := range cc.streams {
					s.sendWin += delta
					if s.sendWin > h2MaxStreamID {
						return http2.ConnectionError(http2.ErrCodeFlowControl)
					}
					wake(s.swake)
				}
			case http2.SettingMaxFrameSize:
				cc.maxFrame.Store(st.Val)
			}
			return nil
		})
		cc.mu.Unlock()
		if err != nil {
			return err
		}
		cc.wmu.Lock()
		f.ForeachSetting(func(st http2.Setting) error {
			if st.ID == http2.SettingHeaderTableSize {
				cc.enc.SetMaxDynamicTableSize(min(st.Val, h2HeaderTable))
			}
			return nil
		})
		err = cc.fr.WriteSettingsAck()
		cc.wmu.Unlock()
		return err
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		if !cc.spend() {
			return errH2MFlood
		}
		cc.wmu.Lock()
		err := cc.fr.WritePing(true, f.Data)
		cc.wmu.Unlock()
		return err
	case *http2.WindowUpdateFrame:
		cc.mu.Lock()
		defer cc.mu.Unlock()
		if f.StreamID == 0 {
			cc.sendWin += int64(f.Increment)
			if cc.sendWin > h2MaxStreamID {
				return http2.ConnectionError(http2.ErrCodeFlowControl)
			}
			for _, s := range cc.streams {
				wake(s.swake)
			}
			return nil
		}
		if s := cc.streams[f.StreamID]; s != nil {
			s.sendWin += int64(f.Increment)
			wake(s.swake)
		}
		return nil
	case *http2.RSTStreamFrame:
		if !cc.spend() {
			return errH2MFlood
		}
		cc.mu.Lock()
		s := cc.streams[f.StreamID]
		if s != nil {
			if f.ErrCode == http2.ErrCodeRefusedStream && !s.gotHead {
				s.err = errH2MRefused
			} else if !(s.ended && f.ErrCode == http2.ErrCodeNo) {
				s.err = http2.StreamError{StreamID: f.StreamID, Code: f.ErrCode}
			}
			cc.detach(s)
		}
		cc.mu.Unlock()
		if s != nil {
			wake(s.rwake.ch)
			wake(s.swake)
		}
		return nil
	case *http2.GoAwayFrame:
		cc.mu.Lock()
		cc.goAway = true
		var gone []*h2MStream
		for id, s := range cc.streams {
			if id > f.LastStreamID {
				if s.err == nil {
					s.err = errH2MRefused
				}
				gone = append(gone, s)
			}
		}
		for _, s := range gone {
			cc.detach(s)
		}
		cc.mu.Unlock()
		for _, s := range gone {
			wake(s.rwake.ch)
			wake(s.swake)
		}
		return nil
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol) // push is off
	case *http2.PriorityFrame:
		if !cc.spend() {
			return errH2MFlood
		}
	}
	return nil
}

func (cc *h2MConn) onHeaders(f *http2.MetaHeadersFrame) error {
	cc.mu.Lock()
	s := cc.streams[f.StreamID]
	if s == nil {
		cc.mu.Unlock()
		return nil // a stream reset already: its block was decoded, nothing to do
	}
	bad := f.Truncated
	if !s.gotHead {
		st := f.PseudoValue("status")
		code := 0
		if len(st) == 3 {
			for _, c := range []byte(st) {
				code = code*10 + int(c-'0')
			}
		}
		switch {
		case bad || code < 100 || code > 999:
			bad = true
		case code < 200:
			// An interim answer is not relayed.
			cc.mu.Unlock()
			if f.StreamEnded() {
				cc.reset(s, http2.ErrCodeProtocol, errH2MHead)
			}
			return nil
		default:
			s.gotHead, s.status, s.head = true, code, f.RegularFields()
		}
	} else if !f.StreamEnded() || len(f.PseudoFields()) > 0 {
		bad = true // trailers end the stream and carry no pseudo-fields
	} else {
		s.trailer = f.RegularFields()
	}
	if bad {
		cc.mu.Unlock()
		cc.reset(s, http2.ErrCodeProtocol, errH2MHead)
		return nil
	}
	if f.StreamEnded() {
		s.ended = true
		if s.sentEnd {
			cc.detach(s)
		}
	}
	cc.mu.Unlock()
	cc.woken.notify(&s.rwake)
	return nil
}

func (cc *h2MConn) onData(f *http2.DataFrame) error {
	n := int64(f.Header().Length)
	data := f.Data()
	cc.mu.Lock()
	cc.recvWin -= n
	if cc.recvWin < 0 {
		cc.mu.Unlock()
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	s := cc.streams[f.StreamID]
	// Padding, and data of a stream gone, go back to the connection window at once.
	back := n - int64(len(data))
	bad := false
	switch {
	case s == nil || s.ended:
		back = n
		s = nil
	case !s.gotHead:
		bad = true
		back = n
	default:
		s.recvWin -= n
		if s.recvWin < 0 {
			bad = true
			back = n
		} else {
			s.data = append(s.data, data...)
			if f.StreamEnded() {
				s.ended = true
				if s.sentEnd {
					cc.detach(s)
				}
			}
		}
	}
	var inc uint32
	if back > 0 {
		cc.recvCred += back
		if cc.recvCred >= h2MConnWindow/4 {
			inc = uint32(cc.recvCred)
			cc.recvWin += cc.recvCred
			cc.recvCred = 0
		}
	}
	cc.mu.Unlock()
	if inc > 0 {
		cc.wmu.Lock()
		err := cc.fr.WriteWindowUpdate(0, inc)
		cc.wmu.Unlock()
		if err != nil {
			return err
		}
	}
	if bad {
		cc.reset(s, http2.ErrCodeFlowControl, errH2MHead)
		return nil
	}
	if s != nil {
		cc.woken.notify(&s.rwake)
	}
	return nil
}
