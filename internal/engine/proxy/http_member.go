package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/engine/balance"
	"github.com/fulcrumlb/fulcrum/internal/engine/tlsterm"
)

// The member side of an HTTP exchange: connections from the idle pool or new,
// body streaming with coalescing, the response relayed, upgrades tunnelled.

// memberConn is a keep-alive connection to a member with its own read buffer. Idle ones
// live in the member's balance.MemberState.
type memberConn struct {
	c   Conn
	tcp *net.TCPConn
	// sni is the server name a TLS member connection was opened with; such a connection
	// is reused only for requests that would send the same name.
	sni string
	// client is the pool TLS side the connection was made with (nil: clear text); an idle
	// connection of another TLS configuration is not reused.
	client *tlsterm.Client
	br     reader
	dl     deadline
	wdl    deadline
	// idleAt is when the connection last went idle (unix nanoseconds; 0: never used).
	idleAt int64
}

// staleAfter is how long a connection may have been idle and still have its request
// written before the wait for its answer starts (rawTCP.writeThenRead). A member that
// closed an idle connection resets the request written to it, which ends the wait; one
// that only shut its sending side would leave the wait to the member timeout, so
// connections idle longer than this are read the ordinary way (a read first).
const staleAfter = int64(time.Second)

// coalesce moves body bytes already buffered in src into out (for one write together with
// the head), as far as they belong to the body and out stays small. A chunked body is
// decoded and written as chunks says. It returns how many bytes of src it consumed.
func (h *httpConn) coalesce(out *[]byte, src *reader, mode bodyMode, remaining *int64, chunks chunkOut) (int64, error) {
	p := src.buf[src.r:src.w]
	room := maxCoalesce - len(*out)
	if room <= 0 || len(p) == 0 {
		return 0, nil
	}
	if len(p) > room {
		p = p[:room]
	}
	switch mode {
	case bodyLength:
		p = p[:min(int64(len(p)), *remaining)]
		*remaining -= int64(len(p))
	case bodyChunked:
		o, k, _, err := h.cs.decode(*out, p, chunks)
		if err != nil {
			return 0, err
		}
		*out = o
		src.r += k
		return int64(k), nil
	case bodyEOF:
	default:
		return 0, nil
	}
	*out = append(*out, p...)
	src.r += len(p)
	return int64(len(p)), nil
}

// stream forwards the rest of a body from src to dst (a chunked one decoded and written
// as chunks says). It returns the bytes consumed from src and written to dst; srcFailed
// tells whether the error (if any) came from the source side.
func (h *httpConn) stream(dst net.Conn, src *reader, dl *deadline, timeout time.Duration, mode bodyMode, remaining int64, chunks chunkOut) (read, written int64, err error, srcFailed bool) {
	for {
		if mode == bodyLength && remaining == 0 {
			return read, written, nil, false
		}
		if src.buffered() == 0 {
			dl.read(src.c, timeout)
			_, rerr := src.fill()
			if src.buffered() == 0 {
				if rerr == nil {
					continue
				}
				if mode == bodyEOF && errors.Is(rerr, io.EOF) {
					return read, written, nil, false
				}
				return read, written, rerr, true
			}
		}
		p := src.buf[src.r:src.w]
		done := false
		switch mode {
		case bodyLength:
			p = p[:min(int64(len(p)), remaining)]
			remaining -= int64(len(p))
		case bodyChunked:
			o, k, fin, cerr := h.cs.decode(h.cbuf[:0], p, chunks)
			h.cbuf = o
			if cerr != nil {
				return read, written, cerr, true
			}
			src.r += k
			read += int64(k)
			if len(o) > 0 {
				n, werr := dst.Write(o)
				written += int64(n)
				if werr != nil {
					return read, written, werr, false
				}
			}
			if fin {
				return read, written, nil, false
			}
			continue
		}
		n, werr := dst.Write(p)
		src.r += n
		read += int64(n)
		written += int64(n)
		if werr != nil {
			return read, written, werr, false
		}
		if done {
			return read, written, nil, false
		}
	}
}

// exchange sends the request (head already in h.out, rest of the body streamed from the
// client) and reads the response head into mc's buffer, answering interim 1xx responses.
// status 0 means success; a positive status is the error to answer; -1 means the client
// side failed (nothing to answer). retry reports a failure before any response byte, which
// a stale keep-alive connection explains.
func (h *httpConn) exchange(fe *Frontend, mc *memberConn, mode bodyMode, remaining int64, waitContinue bool, resLen *int) (status int, retry bool) {
	mc.wdl.writeAt(mc.c, fe.MemberTimeout, h.now.UnixNano())
	bodyPending := mode != bodyNone && !(mode == bodyLength && remaining == 0) && !(mode == bodyChunked && h.cs.done())
	mb := &mc.br
	first := true
	if rc, ok := mc.c.(*rawTCP); ok && readWait && (!bodyPending || waitContinue) && (mc.idleAt == 0 || h.now.UnixNano()-mc.idleAt < staleAfter) {
		// The whole request (or its head, before a 100 Continue) goes in one write, and
		// the answer is read once the member's socket is readable.
		mc.dl.readAt(mc.c, fe.MemberTimeout, h.now.UnixNano())
		if err := mb.makeRoom(); err != nil {
			return 502, false
		}
		wrote, n, err := rc.writeThenRead(h.out, mb.buf[mb.w:])
		mb.w += n
		switch {
		case err == nil:
		case wrote < len(h.out):
			return 502, true
		case isTimeout(err):
			return 504, false
		default:
			return 502, mb.buffered() == 0
		}
		first = n == 0 // 0: the request went out the ordinary way, nothing read yet
	} else if _, err := mc.c.Write(h.out); err != nil {
		return 502, true
	}
	sendBody := func() int {
		n, _, err, srcFailed := h.stream(mc.c, &h.br, &h.dl, fe.ClientTimeout, mode, remaining, chunkReframe)
		h.in += n
		if err != nil {
			switch {
			case errors.Is(err, errBodyTooLarge):
				return 413
			case errors.Is(err, errBadChunk):
				return 400
			case srcFailed && isTimeout(err):
				return 408
			case srcFailed:
				return -1
			}
			return 502
		}
		return 0
	}
	h.bodyWithheld = bodyPending && waitContinue
	if bodyPending && !waitContinue {
		if st := sendBody(); st != 0 {
			return st, false
		}
		bodyPending = false
	}
	for {
		mb.scan = 0
		n := -1
		for {
			if mb.buffered() > 0 {
				if n = headEnd(mb.buf[mb.r:mb.w], &mb.scan); n >= 0 {
					break
				}
			}
			if first {
				mc.dl.readAt(mc.c, fe.MemberTimeout, h.now.UnixNano())
			} else {
				mc.dl.read(mc.c, fe.MemberTimeout)
			}
			got, err := mb.fill()
			if err == nil || got > 0 {
				continue
			}
			switch {
			case errors.Is(err, errBufferFull):
				return 502, false
			case isTimeout(err):
				return 504, false
			}
			return 502, first && mb.buffered() == 0
		}
		first = false
		if err := h.res.parseResponse(mb.buf[mb.r : mb.r+n]); err != nil {
			return 502, false
		}
		st := h.res.status
		if st >= 200 || st == 101 {
			*resLen = n
			return 0, false
		}
		// Interim response: pass it on, rebuilt (HTTP/1.1 clients only), and keep reading.
		if !h.req.http10 {
			h.cbuf = appendInterim(h.cbuf[:0], &h.res)
			wn, err := h.c.Write(h.cbuf)
			fe.Counters.BytesOut.Add(int64(wn))
			h.rec.sent += int64(wn)
			if err != nil {
				return -1, false
			}
		}
		mb.r += n
		if st == 100 && bodyPending {
			if s := sendBody(); s != 0 {
				return s, false
			}
			bodyPending = false
			h.bodyWithheld = false
		}
	}
}

// memberConn returns an idle connection to m, a member of rt's pool, or dials one; nil
// when dialing failed.
func (h *httpConn) memberConn(fe *Frontend, rt *route, m *balance.Member) (*memberConn, bool) {
	proxied := rt.proxied
	if proxied {
		// A PROXY header names one client: such member connections are private to the
		// client connection (kept across its requests), never shared.
		if pc := h.private; pc != nil {
			h.private = nil
			if h.privateM == m {
				return pc, true
			}
			pc.Close()
		}
	}
	client := fe.poolTLS[m.PoolID]
	sni := ""
	if client != nil && h.info != nil {
		sni = h.info.ServerName // the amphora's "sni ssl_fc_sni"
	}
	if !proxied {
		if ic := m.State.GetIdle(h.now, h.opts.MemberIdleTimeout); ic != nil {
			if mc := ic.(*memberConn); mc.sni == sni && mc.client == client {
				return mc, true
			} else {
				mc.Close()
			}
		}
	}
	tcp, err := fe.dialer.DialTCP(context.Background(), "tcp", netip.AddrPort{}, m.AddrPort)
	if err != nil {
		m.State.ConnectErrors.Add(1)
		h.opts.Logger.Debug("connect to member failed", "listener", fe.ListenerID, "pool", m.PoolID, "member", m.ID, "addr", m.Addr, "err", err)
		return nil, false
	}
	if proxied {
		hdr := proxyHeader(rt.pool.Protocol, h.client, h.localAddr())
		if _, err := tcp.Write(hdr); err != nil {
			tcp.Close()
			m.State.ConnectErrors.Add(1)
			return nil, false
		}
	}
	c := newRawTCP(tcp)
	if client != nil {
		tc := tls.Client(tcp, client.Config(sni))
		tcp.SetDeadline(time.Now().Add(fe.ConnectTimeout))
		err := tc.Handshake()
		tcp.SetDeadline(time.Time{})
		if err != nil {
			tcp.Close()
			m.State.ConnectErrors.Add(1)
			h.opts.Logger.Debug("TLS handshake with member failed", "listener", fe.ListenerID, "pool", m.PoolID, "member", m.ID, "addr", m.Addr, "err", err)
			return nil, false
		}
		c = tc
	}
	return &memberConn{c: c, tcp: tcp, sni: sni, client: client, br: reader{c: c, buf: make([]byte, 16<<10), max: 64 << 10}}, false
}

// tunnel passes bytes both ways after a 101 Switching Protocols.
func (h *httpConn) tunnel(fe *Frontend, mc *memberConn, resLen int) {
	defer mc.Close()
	hd := h.res.head
	out := h.buildResponse(h.out[:0], nil, false, true, false)
	// buildResponse adds no Connection header for keep=true; an upgrade needs it back.
	out = out[:len(out)-2]
	out = append(out, "Connection: Upgrade\r\n"...)
	if h.res.upgrade >= 0 {
		out = append(out, "Upgrade: "...)
		out = append(out, h.res.fields[h.res.upgrade].value.of(hd)...)
		out = append(out, "\r\n"...)
	}
	out = append(out, "\r\n"...)
	mb := &mc.br
	mb.r += resLen
	out = append(out, mb.buf[mb.r:mb.w]...)
	mb.r = mb.w
	h.out = out
	if n, err := h.c.Write(out); err != nil {
		return
	} else {
		fe.Counters.BytesOut.Add(int64(n))
		h.rec.sent += int64(n)
	}
	if h.br.buffered() > 0 {
		n, err := mc.c.Write(h.br.buf[h.br.r:h.br.w])
		fe.Counters.BytesIn.Add(int64(n))
		h.in += int64(n)
		h.br.r = h.br.w
		if err != nil {
			return
		}
	}
	h.c.SetDeadline(time.Time{})
	mc.c.SetDeadline(time.Time{})
	up, down := Pipe(bare(h.c), bare(mc.c), fe.ClientTimeout, fe.MemberTimeout, &fe.Counters.BytesIn, &fe.Counters.BytesOut)
	h.in += up
	h.rec.sent += down
}
