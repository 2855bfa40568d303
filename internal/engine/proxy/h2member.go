package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/balance"
	"github.com/fulcrumlb/fulcrum/internal/engine/tlsterm"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// HTTP/2 to members (docs/http2.md): a stream of an HTTP/2 client whose pool speaks
// HTTP/2 (a re-encrypting pool whose ALPN list names h2, or an h2c pool) is not written
// to its member in HTTP/1.1. The stream's HTTP/1.1 forwarder still reads its head and
// decides what the HTTP/1.1 path decides (L7 policies, inserted headers, persistence,
// the member), then hands the exchange to h2Forward, which sends the request as an
// HTTP/2 stream on a connection shared by the frontend's streams to that member and
// relays the answer, its body as it streams and its trailers, straight onto the client's
// stream. The member connections are the engine's own (h2client.go).

// h2Members are a frontend's HTTP/2 member connections, one per member (and SNI).
type h2Members struct {
	mu    sync.Mutex
	slots map[h2Key]*h2Slot
}

type h2Key struct {
	m   *balance.Member
	sni string
}

type h2Slot struct {
	mu sync.Mutex
	cc *h2MConn
	h1 bool // the member chose HTTP/1.x by ALPN: its streams take the HTTP/1.1 path
}

// speaksH2 reports whether rt's members get HTTP/2 for HTTP/2 clients' streams.
func (fe *Frontend) speaksH2(rt *route) bool {
	if rt.proxied {
		return false
	}
	if c := fe.poolTLS[rt.pool.ID]; c != nil {
		return c.H2() // a pool with TLS speaks h2 by ALPN, never in the clear
	}
	return rt.pool.H2C
}

// h2MaxSlots bounds a frontend's member connection slots (one per member and SNI: the SNI
// is the client's choice).
const h2MaxSlots = 1024

// RetireMembers ends the frontend's HTTP/2 member connections as their last streams end:
// the frontend was replaced by a new configuration or removed, and the streams that start
// from now on choose their members through the new one (they would otherwise stay open,
// unused, until MemberIdleTimeout).
func (f *Frontend) RetireMembers() {
	hm := &f.h2m
	hm.mu.Lock()
	slots := hm.slots
	hm.slots = nil
	hm.mu.Unlock()
	for _, s := range slots {
		s.mu.Lock()
		cc := s.cc
		s.mu.Unlock()
		if cc != nil {
			cc.retire()
		}
	}
}

// h2Conn returns a connection to m with a stream reserved on it, dialing one when
// needed; nil when the dial (or the TLS handshake) failed. h1 is true when m chose
// HTTP/1.x by ALPN (this config version then asks it no more).
func (h *httpConn) h2Conn(fe *Frontend, m *balance.Member) (_ *h2MConn, h1 bool) {
	client := fe.poolTLS[m.PoolID]
	key := h2Key{m: m}
	if client != nil && h.info != nil {
		key.sni = h.info.ServerName
	}
	hm := &fe.h2m
	hm.mu.Lock()
	if hm.slots == nil {
		hm.slots = make(map[h2Key]*h2Slot)
	}
	s := hm.slots[key]
	if s == nil {
		if len(hm.slots) >= h2MaxSlots {
			// Forgotten connections serve their streams and close when idle.
			clear(hm.slots)
		}
		s = &h2Slot{}
		hm.slots[key] = s
	}
	hm.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h1 {
		return nil, true
	}
	if s.cc != nil && s.cc.reserve() {
		return s.cc, false
	}
	c, h1 := h.h2Dial(fe, m, client, key.sni)
	if c == nil {
		s.h1 = h1
		return nil, h1
	}
	o := fe.Opts.WithDefaults()
	cc := newH2MConn(c, fe.MemberTimeout, o.MemberIdleTimeout, o.MaxHeaderBytes)
	cc.reserve()
	s.cc = cc
	return cc, false
}

// h2Dial connects to m (TLS pools: handshakes, offering the pool's ALPN list); nil when
// that failed, and h1 when m chose HTTP/1.x. Apart from h2Conn, whose stack frame stays
// small for the streams that find a connection.
func (h *httpConn) h2Dial(fe *Frontend, m *balance.Member, client *tlsterm.Client, sni string) (_ net.Conn, h1 bool) {
	tcp, err := fe.dialer.DialTCP(context.Background(), "tcp", netip.AddrPort{}, m.AddrPort)
	if err != nil {
		m.State.ConnectErrors.Add(1)
		h.opts.Logger.Debug("connect to member failed", "listener", fe.ListenerID, "pool", m.PoolID, "member", m.ID, "addr", m.Addr, "err", err)
		return nil, false
	}
	var c net.Conn = tcp
	if client != nil {
		tc := tls.Client(tcp, client.H2Config(sni))
		tcp.SetDeadline(time.Now().Add(fe.ConnectTimeout))
		err := tc.Handshake()
		tcp.SetDeadline(time.Time{})
		if err != nil {
			tcp.Close()
			m.State.ConnectErrors.Add(1)
			h.opts.Logger.Debug("TLS handshake with member failed", "listener", fe.ListenerID, "pool", m.PoolID, "member", m.ID, "addr", m.Addr, "err", err)
			return nil, false
		}
		if tc.ConnectionState().NegotiatedProtocol != "h2" {
			tc.Close()
			return nil, true
		}
		c = tc
	}
	return c, false
}

// h2Forward serves an HTTP/2 client's stream on an HTTP/2 member of rt's pool: m is the
// member persistence named (nil: the pool's algorithm chooses), insertCookie adds the
// HTTP_COOKIE persistence cookie. h.out holds the request head the HTTP/1.1 path built
// (inserted headers in, dropped ones out). Failures before the member's answer are the
// engine's own answers (h.fail); after it, a failure resets the client's stream. false
// when nothing was done and the stream must take the HTTP/1.1 path to the member
// returned, which chose HTTP/1.x by ALPN.
func (h *httpConn) h2Forward(fe *Frontend, rt *route, m *balance.Member, insertCookie bool) (*balance.Member, bool) {
	s := h.h2
	// The head the HTTP/1.1 path built is parsed again (the client's head is gone from
	// the read buffer's view: h.res, unused on this path, holds it) into the member's
	// request: its fields but the hop-by-hop and framing ones, TE: trailers kept.
	in := &h.res
	if err := in.parseRequest(h.out, h.opts.MaxHeaders+8); err != nil {
		h.fail(fe, 400)
		return nil, true
	}
	text := string(h.out)
	method := text[in.first[0][0]:in.first[0][1]]
	target := text[in.first[1][0]:in.first[1][1]]
	// The target is origin-form, or * for OPTIONS.
	if !(len(target) > 0 && target[0] == '/' && !strings.HasPrefix(target, "//") || target == "*" && method == "OPTIONS") {
		h.fail(fe, 400)
		return nil, true
	}
	scheme := "https"
	if fe.poolTLS[rt.pool.ID] == nil {
		scheme = "http"
	}
	fields := make([]hpack.HeaderField, 4, len(in.fields)+6)
	fields[0] = hpack.HeaderField{Name: ":authority"} // the member's address when the client sent no Host
	if in.hasHost {
		fields[0].Value = text[in.hostValue[0]:in.hostValue[1]]
	}
	fields[1] = hpack.HeaderField{Name: ":method", Value: method}
	fields[2] = hpack.HeaderField{Name: ":path", Value: target}
	fields[3] = hpack.HeaderField{Name: ":scheme", Value: scheme}
	for i := range in.fields {
		f := &in.fields[i]
		if f.drop {
			continue
		}
		name := strings.ToLower(text[f.name[0]:f.name[1]])
		switch name {
		case "proxy-connection", "keep-alive", "connection", "upgrade", "transfer-encoding", "content-length", "host", "te":
			continue
		}
		// A value that changes from call to call is not put in the HPACK table (it would
		// only push out the ones that repeat).
		fields = append(fields, hpack.HeaderField{Name: name, Value: text[f.value[0]:f.value[1]], Sensitive: name == "grpc-timeout"})
	}
	// TE is hop-by-hop: the HTTP/1.1 head has none. The client's, which the stream
	// allows only as "trailers" (gRPC needs it), goes on.
	if s.te() {
		fields = append(fields, hpack.HeaderField{Name: "te", Value: "trailers"})
	}
	hasBody := s.body()
	switch {
	case s.clen > 0 && hasBody:
		fields = append(fields, hpack.HeaderField{Name: "content-length", Value: strconv.FormatInt(s.clen, 10), Sensitive: true})
	case s.clen <= 0 && !hasBody && (method == "POST" || method == "PUT" || method == "PATCH"):
		fields = append(fields, hpack.HeaderField{Name: "content-length", Value: "0"})
	}
	body := &h2Counted{rc: s}
	pool := rt.pool

	start := time.Now()
	var ms *h2MStream
	tried := h.tried[:0]
	taken := false
	for {
		if m == nil || contains(tried, m) {
			m = pool.Choose(h.client, tried)
		}
		if m == nil {
			h.fail(fe, 503)
			return nil, true
		}
		cc, h1 := h.h2Conn(fe, m)
		if h1 {
			if taken {
				h.fail(fe, 502) // a retry met an HTTP/1.x member: the body went to another
				return nil, true
			}
			return m, false
		}
		if cc == nil {
			tried = append(tried, m)
			if len(tried) >= h.opts.ConnectAttempts || len(tried) == cap(h.tried) {
				h.fail(fe, 503)
				return nil, true
			}
			continue
		}
		if !in.hasHost {
			fields[0].Value = m.AddrPort.String()
		}
		s.takeBody() // from now on the body is read here, not by the HTTP/1.1 path
		taken = true
		var rd io.Reader
		if hasBody {
			if rd = body.attempt(); rd == nil {
				h.fail(fe, 502) // a retry, but the body read went beyond what is kept
				return nil, true
			}
		}
		if fe.log != nil {
			h.rec.conn, h.rec.member = time.Now(), m
		}
		m.State.Active.Add(1)
		m.State.Total.Add(1)
		var err error
		ms, err = cc.open(fields, !hasBody)
		var timedOut bool
		if err == nil && !s.holdStream(ms) {
			return nil, true // the client reset the stream: nobody to answer
		}
		if err == nil {
			if hasBody {
				go ms.sendBody(rd, s.trailers)
			}
			// The member's answer head is awaited for timeout_member_data at most.
			timedOut, err = ms.awaitHead(fe.MemberTimeout)
		}
		if err == nil {
			break
		}
		m.State.Active.Add(-1)
		if ms != nil {
			ms.done()
		}
		if s.gone() {
			return nil, true // the client reset the stream: nobody to answer
		}
		if timedOut {
			h.fail(fe, 504)
			return nil, true
		}
		// A stream the member refused was never processed (RFC 9113 §8.7): it goes to
		// another member, with what was kept of its body. One lost with its connection
		// may have been: only while no body was read (a request without one).
		if len(tried)+1 < h.opts.ConnectAttempts && (err == errH2MRefused && body.replayable() || err == errH2MLost && !body.started.Load()) {
			tried = append(tried, m)
			ms = nil
			continue
		}
		if st, ok := grpcCanceled(s, err, start); ok && h.grpcStatus(fe, st) {
			return nil, true
		}
		h.fail(fe, 502)
		return nil, true
	}
	defer m.State.Active.Add(-1)
	defer ms.done()
	if !s.direct() {
		return nil, true // the client reset the stream meanwhile
	}
	fe.Counters.Response(ms.status)
	if fe.log != nil {
		h.rec.response, h.rec.status = time.Now(), ms.status
	}
	fields = fields[:0]
	for _, f := range ms.head {
		if h2ConnFields[f.Name] {
			continue
		}
		fields = append(fields, f)
		if f.Name == "set-cookie" && rt.cookieMode == dataplane.PersistAppCookie && pool.CookieSessions != nil {
			if c, err := http.ParseSetCookie(f.Value); err == nil && c.Name == rt.cookieName && c.Value != "" {
				pool.CookieSessions.Put(c.Value, m.ID)
			}
		}
	}
	if fe.hsts != nil {
		v := strings.TrimSuffix(strings.TrimPrefix(string(fe.hsts), "Strict-Transport-Security: "), "\r\n")
		fields = append(fields, hpack.HeaderField{Name: "strict-transport-security", Value: v})
	}
	if insertCookie {
		fields = append(fields, hpack.HeaderField{Name: "set-cookie", Value: HTTPCookieName + "=" + m.ID + "; path=/"})
	}
	var sent int64
	defer func() {
		h.in += body.n.Load()
		fe.Counters.BytesIn.Add(h.in)
		fe.Counters.BytesOut.Add(sent)
		h.rec.sent += sent
	}()
	s.setHead(ms.status, fields)
	for {
		n := len(s.out)
		var ended bool
		var err error
		s.out, ended, err = ms.take(s.out)
		sent += int64(len(s.out) - n)
		if err != nil {
			s.fail() // a truncated answer must not look complete: the stream is reset
			return nil, true
		}
		if ended {
			break
		}
		// What came goes out now (gRPC streams answer in pieces); a whole answer leaves
		// at its end, its head, data and trailers together.
		if s.flush() != nil {
			s.fail()
			return nil, true
		}
		ms.wait()
	}
	var tr []hpack.HeaderField
	for _, f := range ms.trailer {
		if !h2ConnFields[f.Name] {
			tr = append(tr, f)
		}
	}
	if s.finish(tr) != nil {
		s.fail()
	}
	return nil, true
}

// h2ReplayMax is how much of a request body is kept so that a stream the member refused
// (it never processed it) can go to another member with its body.
const h2ReplayMax = 64 << 10

// errH2Retired: the attempt reading a request body was given up for another.
var errH2Retired = errors.New("http2: request body taken by another attempt")

// h2Counted is a request body that counts what was read from it and keeps its first
// h2ReplayMax bytes: each attempt to send the request reads it through its own
// h2Attempt, the first from the client, a later one first what was kept.
type h2Counted struct {
	rc      io.Reader
	n       atomic.Int64
	started atomic.Bool
	rmu     sync.Mutex // held across rc.Read: one reader of the client's body at a time
	mu      sync.Mutex
	kept    []byte
	over    bool  // more than h2ReplayMax was read: what was read cannot be sent again
	broken  bool  // a retired attempt read past h2ReplayMax: the current one lost bytes
	end     error // what rc's last read returned (io.EOF at the end of the body)
	gen     int   // the attempt whose reads go on; older ones get errH2Retired
}

// attempt retires the body's previous reader and gives the next attempt its own, which
// reads from the start of the body; nil when what was read was not kept.
func (b *h2Counted) attempt() io.Reader {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.over {
		return nil
	}
	b.gen++
	return &h2Attempt{b: b, gen: b.gen}
}

// replayable says whether another attempt can send the body from its start.
func (b *h2Counted) replayable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.over
}

// h2Attempt is one attempt's reader of a request body.
type h2Attempt struct {
	b   *h2Counted
	gen int
	off int // bytes of the body this attempt has read
}

func (a *h2Attempt) Read(p []byte) (int, error) {
	b := a.b
	b.started.Store(true)
	if n, err, ok := a.fromKept(p); ok {
		return n, err
	}
	b.rmu.Lock()
	defer b.rmu.Unlock()
	// Another attempt may have read (and kept) more meanwhile.
	if n, err, ok := a.fromKept(p); ok {
		return n, err
	}
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.over && len(b.kept)+n <= h2ReplayMax {
		b.kept = append(b.kept, p[:n]...)
	} else if !b.over {
		b.over, b.kept = true, nil
		// The current attempt reads the client's body itself once it has read all that
		// was kept; a retired one dropping what it read leaves the current one a gap.
		b.broken = b.broken || a.gen != b.gen
	}
	if err != nil {
		b.end = err
	}
	if a.gen != b.gen {
		return 0, errH2Retired
	}
	a.off += n
	return n, err
}

// fromKept serves a read from what was kept, or the end or failure already met; ok false
// when the read must go to the client's body.
func (a *h2Attempt) fromKept(p []byte) (n int, err error, ok bool) {
	b := a.b
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case a.gen != b.gen || b.broken:
		return 0, errH2Retired, true
	case b.over:
		return 0, nil, false // this attempt has read all there was (see broken)
	case a.off < len(b.kept):
		n = copy(p, b.kept[a.off:])
		a.off += n
		return n, nil, true
	case b.end != nil:
		return 0, b.end, true
	}
	return 0, nil, false
}

// grpcCanceled says what a gRPC client is told when the member reset its call's stream
// with CANCEL before answering: a gRPC server does that when the call's deadline (its
// grpc-timeout field) passes or the call is cancelled on its side. The engine answers
// what grpc-go's client makes of such a reset (a reset passed on would read as an error
// of the engine's): status 4
// (DEADLINE_EXCEEDED) when the call's grpc-timeout has passed since the stream reached
// the engine, status 1 (CANCELLED) otherwise. false for anything else (the client gets
// 502 as for any member failure).
func grpcCanceled(s *h2Stream, err error, start time.Time) (string, bool) {
	var se http2.StreamError
	if !errors.As(err, &se) || se.Code != http2.ErrCodeCancel || !strings.HasPrefix(s.field("content-type"), "application/grpc") {
		return "", false
	}
	if d, ok := grpcTimeout(s.field("grpc-timeout")); ok && time.Since(start) >= d {
		return "4", true
	}
	return "1", true
}

// grpcTimeout parses a grpc-timeout value: at most 8 digits and a unit (H, M, S, m, u, n).
func grpcTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	var n int64
	for _, c := range v[:len(v)-1] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	unit := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second, 'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}[v[len(v)-1]]
	if unit == 0 {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// grpcStatus ends the client's stream with a gRPC trailers-only answer (one HEADERS
// frame: 200, content-type, grpc-status) of the engine's own; false when the stream can
// no longer be answered here.
func (h *httpConn) grpcStatus(fe *Frontend, status string) bool {
	s := h.h2
	if !s.direct() {
		return false
	}
	fe.Counters.Errors.Add(1)
	fe.Counters.Response(200)
	s.setHead(200, []hpack.HeaderField{{Name: "content-type", Value: "application/grpc"}, {Name: "grpc-status", Value: status},
		{Name: "grpc-message", Value: "the member reset the call's stream"}})
	s.finish(nil)
	if fe.log != nil {
		h.rec.status, h.rec.engine = 200, true
	}
	return true
}
