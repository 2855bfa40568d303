//lint:file-ignore SA1019 x/net/http2's Transport and ClientConn are deprecated in favour of net/http's; the engine runs each member connection it dialed (and handshook, for TLS pools) as one ClientConn of its own, shared by the streams to that member, which x/net/http2 offers directly.

package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/balance"
	"golang.org/x/net/http2"
)

// HTTP/2 to members (docs/http2.md): a stream of an HTTP/2 client whose pool speaks
// HTTP/2 (a re-encrypting pool whose ALPN list names h2, or an h2c pool) is not written
// to its member in HTTP/1.1. The stream's HTTP/1.1 forwarder still reads its head and
// decides what the HTTP/1.1 path decides (L7 policies, inserted headers, persistence,
// the member), then hands the exchange to h2Forward, which sends the request as an
// HTTP/2 stream on a connection shared by the frontend's streams to that member and
// relays the answer, its body as it streams and its trailers, straight onto the client's
// stream.

// h2Members are a frontend's HTTP/2 member connections, one per member (and SNI).
type h2Members struct {
	once  sync.Once
	tr    *http2.Transport
	mu    sync.Mutex
	slots map[h2Key]*h2Slot
}

type h2Key struct {
	m   *balance.Member
	sni string
}

type h2Slot struct {
	mu sync.Mutex
	cc *http2.ClientConn
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

func (fe *Frontend) h2Transport() *http2.Transport {
	hm := &fe.h2m
	hm.once.Do(func() {
		o := fe.Opts.WithDefaults()
		hm.tr = &http2.Transport{
			AllowHTTP:                  true,
			MaxHeaderListSize:          uint32(o.MaxHeaderBytes),
			MaxDecoderHeaderTableSize:  h2HeaderTable,
			MaxEncoderHeaderTableSize:  h2HeaderTable,
			IdleConnTimeout:            o.MemberIdleTimeout,
			ReadIdleTimeout:            30 * time.Second,
			PingTimeout:                15 * time.Second,
			StrictMaxConcurrentStreams: false,
		}
		hm.slots = make(map[h2Key]*h2Slot)
	})
	return hm.tr
}

// h2Conn returns a connection to m able to take a new stream, dialing one when needed;
// nil when the dial (or the TLS handshake) failed. h1 is true when m chose HTTP/1.x by
// ALPN (this config version then asks it no more).
func (h *httpConn) h2Conn(fe *Frontend, m *balance.Member) (_ *http2.ClientConn, h1 bool) {
	tr := fe.h2Transport()
	client := fe.poolTLS[m.PoolID]
	key := h2Key{m: m}
	if client != nil && h.info != nil {
		key.sni = h.info.ServerName
	}
	hm := &fe.h2m
	hm.mu.Lock()
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
	if s.cc != nil && s.cc.CanTakeNewRequest() {
		return s.cc, false
	}
	tcp, err := fe.dialer.DialTCP(context.Background(), "tcp", netip.AddrPort{}, m.AddrPort)
	if err != nil {
		m.State.ConnectErrors.Add(1)
		h.opts.Logger.Debug("connect to member failed", "listener", fe.ListenerID, "pool", m.PoolID, "member", m.ID, "addr", m.Addr, "err", err)
		return nil, false
	}
	var c net.Conn = tcp
	if client != nil {
		tc := tls.Client(tcp, client.H2Config(key.sni))
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
			s.h1 = true
			return nil, true
		}
		c = tc
	}
	wc := &h2WConn{Conn: c, w: newH2Writer(c, fe.MemberTimeout)}
	cc, err := tr.NewClientConn(wc)
	if err != nil {
		wc.Close()
		m.State.ConnectErrors.Add(1)
		return nil, false
	}
	s.cc = cc
	return cc, false
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
	r := s.r
	// The head the HTTP/1.1 path built is parsed again (the client's head is gone from
	// the read buffer's view: h.res, unused on this path, holds it) into the member's
	// request: its fields but the hop-by-hop and framing ones, TE: trailers kept.
	in := &h.res
	if err := in.parseRequest(h.out, h.opts.MaxHeaders+8); err != nil {
		h.fail(fe, 400)
		return nil, true
	}
	text := string(h.out)
	hdr := make(http.Header, len(in.fields))
	vals := make([]string, len(in.fields))
	for i := range in.fields {
		f := &in.fields[i]
		if f.drop {
			continue
		}
		k := http.CanonicalHeaderKey(text[f.name[0]:f.name[1]])
		switch k {
		case "Proxy-Connection", "Keep-Alive", "Connection", "Upgrade", "Transfer-Encoding", "Content-Length", "Host", "Te":
			continue
		}
		vals[i] = text[f.value[0]:f.value[1]]
		if vv, ok := hdr[k]; ok {
			hdr[k] = append(vv, vals[i])
		} else {
			hdr[k] = vals[i : i+1 : i+1]
		}
	}
	// TE is hop-by-hop: the HTTP/1.1 head has none. The client's, which x/net/http2
	// allows only as "trailers" (gRPC needs it), goes on.
	for _, v := range r.Header["Te"] {
		if strings.EqualFold(strings.TrimSpace(v), "trailers") {
			hdr["Te"] = []string{"trailers"}
		}
	}
	method := text[in.first[0][0]:in.first[0][1]]
	target := text[in.first[1][0]:in.first[1][1]]
	host := ""
	if in.hasHost {
		host = text[in.hostValue[0]:in.hostValue[1]]
	}
	var u *url.URL
	if len(target) > 1 && target[0] == '/' && target[1] != '/' || target == "/" {
		// The usual origin-form target: sent as is.
		u = &url.URL{Opaque: target}
		if i := strings.IndexByte(target, '?'); i >= 0 {
			u.Opaque, u.RawQuery = target[:i], target[i+1:]
			u.ForceQuery = u.RawQuery == ""
		}
	} else {
		var err error
		u, err = url.ParseRequestURI(target)
		if err != nil || u.Host != "" {
			h.fail(fe, 400)
			return nil, true
		}
	}
	u.Scheme = "https"
	if fe.poolTLS[rt.pool.ID] == nil {
		u.Scheme = "http"
	}
	body := &h2Counted{rc: r.Body}
	hasBody := r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
	pool := rt.pool

	// The member's answer head is awaited for timeout_member_data at most.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var resp *http.Response
	var err error
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
		u.Host = m.AddrPort.String()
		out := &http.Request{Method: method, URL: u, Proto: "HTTP/2.0", ProtoMajor: 2, Header: hdr, Host: host,
			ContentLength: r.ContentLength, Trailer: r.Trailer}
		if hasBody {
			out.Body = body
		}
		out = out.WithContext(ctx)
		s.takeBody() // from now on the body is read here, not by the HTTP/1.1 path
		taken = true
		if fe.log != nil {
			h.rec.conn, h.rec.member = time.Now(), m
		}
		m.State.Active.Add(1)
		m.State.Total.Add(1)
		var timedOut atomic.Bool
		var t *time.Timer
		if fe.MemberTimeout > 0 {
			t = time.AfterFunc(fe.MemberTimeout, func() { timedOut.Store(true); cancel() })
		}
		resp, err = cc.RoundTrip(out)
		if t != nil {
			t.Stop()
		}
		if err == nil {
			break
		}
		m.State.Active.Add(-1)
		if r.Context().Err() != nil {
			return nil, true // the client reset the stream: nobody to answer
		}
		if timedOut.Load() {
			h.fail(fe, 504)
			return nil, true
		}
		if !body.started.Load() && len(tried)+1 < h.opts.ConnectAttempts && http2CanRetry(err) {
			tried = append(tried, m)
			continue
		}
		h.fail(fe, 502)
		return nil, true
	}
	defer m.State.Active.Add(-1)
	defer resp.Body.Close()
	if !s.direct() {
		return nil, true // the client reset the stream meanwhile
	}
	if fe.log != nil {
		h.rec.response, h.rec.status = time.Now(), resp.StatusCode
	}
	if rt.cookieMode == dataplane.PersistAppCookie && pool.CookieSessions != nil {
		for _, c := range resp.Cookies() {
			if c.Name == rt.cookieName && c.Value != "" {
				pool.CookieSessions.Put(c.Value, m.ID)
				break
			}
		}
	}
	w := s.w
	wh := w.Header()
	for k, vv := range resp.Header {
		if !h2Hop[k] {
			wh[k] = vv
		}
	}
	if fe.hsts != nil {
		v := strings.TrimSuffix(strings.TrimPrefix(string(fe.hsts), "Strict-Transport-Security: "), "\r\n")
		wh["Strict-Transport-Security"] = []string{v}
	}
	if insertCookie {
		wh.Add("Set-Cookie", HTTPCookieName+"="+m.ID+"; path=/")
	}
	bp := h2Bufs.Get().(*[]byte)
	defer h2Bufs.Put(bp)
	buf := *bp
	var sent int64
	defer func() {
		h.in += body.n.Load()
		fe.Counters.BytesIn.Add(h.in)
		fe.Counters.BytesOut.Add(sent)
		h.rec.sent += sent
	}()
	w.WriteHeader(resp.StatusCode)
	if resp.ContentLength == 0 {
		// An answer without a body (the member ended the stream with its HEADERS, as
		// gRPC's trailers-only answers do) is relayed so: one HEADERS with END_STREAM.
		return nil, true
	}
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush() // a stream's head goes out at once (gRPC streams answer in pieces)
	}
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				s.fail()
				return nil, true
			}
			sent += int64(n)
			if fl != nil {
				fl.Flush()
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			s.fail() // a truncated answer must not look complete: the stream is reset
			return nil, true
		}
	}
	for k, vv := range resp.Trailer {
		wh[http.TrailerPrefix+k] = vv
	}
	return nil, true
}

// http2CanRetry: the member connection failed before the stream was sent on it.
func http2CanRetry(err error) bool {
	return errors.Is(err, http2.ErrNoCachedConn) || strings.Contains(err.Error(), "client conn is closed") ||
		strings.Contains(err.Error(), "client connection lost")
}

// h2Counted is a request body that counts what was read from it.
type h2Counted struct {
	rc      io.ReadCloser
	n       atomic.Int64
	started atomic.Bool
}

func (b *h2Counted) Read(p []byte) (int, error) {
	b.started.Store(true)
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *h2Counted) Close() error { return b.rc.Close() }
