package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

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
	// read, an answer that streams): most streams need neither.
	rdl, wdl               time.Time
	rdlApplied, wdlApplied time.Time

	// The answer.
	state  uint8 // rsHead, rsBody, rsDone, rsBad
	head   []byte
	scan   int
	res    message
	mode   bodyMode
	remain int64
	cs     chunkDecoder
	dbuf   []byte
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
	if !c.rdl.Equal(c.rdlApplied) {
		c.rdlApplied = c.rdl
		if d, ok := c.s.w.(interface{ SetReadDeadline(time.Time) error }); ok {
			d.SetReadDeadline(c.rdl)
		}
	}
	if !c.chunked {
		return c.s.r.Body.Read(p)
	}
	for len(c.pend) == 0 {
		if c.eof {
			return 0, io.EOF
		}
		if c.cbuf == nil {
			c.cbuf = make([]byte, 0, 16<<10+32)
		}
		buf := c.cbuf[:16<<10]
		n, err := c.s.r.Body.Read(buf[20:])
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
	w := c.s.w
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
				if _, err := w.Write(p[:k]); err != nil {
					c.state = rsBad
					return 0, err
				}
				c.remain -= int64(k)
				if c.remain == 0 {
					c.state = rsDone
				}
				p = p[k:]
			case bodyChunked:
				var k int
				var done bool
				var err error
				c.dbuf, k, done, err = c.cs.decode(c.dbuf[:0], p, chunkRaw)
				if err != nil {
					c.state = rsBad
					return 0, err
				}
				if len(c.dbuf) > 0 {
					if _, err := w.Write(c.dbuf); err != nil {
						c.state = rsBad
						return 0, err
					}
				}
				if done {
					c.state = rsDone
				}
				p = p[k:]
				if cap(c.dbuf) > 64<<10 {
					c.dbuf = nil
				}
			default:
				if _, err := w.Write(p); err != nil {
					c.state = rsBad
					return 0, err
				}
				p = nil
			}
		default:
			p = nil // bytes past the answer's end: nothing a client may see
		}
	}
	if c.state == rsBody {
		// The answer streams: what came goes out now, and a client that does not take it
		// meets the write deadline.
		if !c.wdl.Equal(c.wdlApplied) {
			c.wdlApplied = c.wdl
			if d, ok := w.(interface{ SetWriteDeadline(time.Time) error }); ok {
				d.SetWriteDeadline(c.wdl)
			}
		}
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
	}
	// A complete answer goes out when the handler returns: HEADERS and DATA together,
	// END_STREAM on the last frame.
	return total, nil
}

// writeHead sets the answer's status and fields on the stream (not sent yet) and the
// framing of its body.
func (c *streamConn) writeHead(hd []byte) {
	res := &c.res
	w := c.s.w
	wh := w.Header()
	// One string for the whole head: field names and values are slices of it.
	text := string(hd)
	vals := make([]string, len(res.fields))
	for i := range res.fields {
		f := &res.fields[i]
		if f.drop {
			if res.contentLength >= 0 && !res.chunked && eq(f.name.of(hd), "content-length") {
				// Framing is the stream's, but x/net/http2 declares the length given.
				vals[i] = text[f.value[0]:f.value[1]]
				wh["Content-Length"] = vals[i : i+1 : i+1]
			}
			continue
		}
		k := http.CanonicalHeaderKey(text[f.name[0]:f.name[1]])
		vals[i] = text[f.value[0]:f.value[1]]
		if vv, ok := wh[k]; ok {
			wh[k] = append(vv, vals[i])
		} else {
			wh[k] = vals[i : i+1 : i+1]
		}
	}
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
	w.WriteHeader(res.status)
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
