package proxy

import (
	"bytes"
	"errors"
	"net"
)

// HTTP/1.x heads: the read buffer, where a head ends, the parsed message and its start
// line. The target, the header fields, byte classes and chunked bodies have files of
// their own (httptarget.go, httpfields.go, httpchars.go, httpchunked.go).

// Parse errors, mapped to client statuses by the forwarder.
var (
	errBadRequest    = errors.New("malformed HTTP message")
	errHeadTooLarge  = errors.New("header section too large")
	errTooManyFields = errors.New("too many header fields")
	errBadChunk      = errors.New("malformed chunked body")
	errBufferFull    = errors.New("read buffer full")
	errBodyTooLarge  = errors.New("request body too large")
	errDraining      = errors.New("connection draining")
)

// reader is a growable read buffer over a connection. buf[r:w] holds unread bytes.
type reader struct {
	c    net.Conn
	buf  []byte
	r, w int
	max  int // buf never grows beyond max bytes
	scan int // head scanning resumes here (offset from r)
}

func (b *reader) buffered() int { return b.w - b.r }

// fill reads more bytes, compacting or growing the buffer when it is full.
func (b *reader) fill() (int, error) {
	if err := b.makeRoom(); err != nil {
		return 0, err
	}
	n, err := b.c.Read(b.buf[b.w:])
	b.w += n
	return n, err
}

// makeRoom prepares buf[w:] for a read: it compacts or grows the buffer when it is full
// (errBufferFull when it may not grow).
func (b *reader) makeRoom() error {
	if b.r == b.w {
		b.r, b.w = 0, 0
	}
	if b.w == len(b.buf) {
		switch {
		case b.r > 0:
			copy(b.buf, b.buf[b.r:b.w])
			b.w -= b.r
			b.r = 0
		case len(b.buf) < b.max:
			nb := make([]byte, min(2*len(b.buf), b.max))
			copy(nb, b.buf[:b.w])
			b.buf = nb
		default:
			return errBufferFull
		}
	}
	return nil
}

// headEnd finds the end of a response head in p (after the empty line), scanning from
// *from, and returns its length or -1. *from is advanced so that rescans are linear.
// Bare LF line ends are accepted: a member's head is rebuilt line by line before a client
// sees it.
func headEnd(p []byte, from *int) int {
	i := *from
	for {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			*from = max(i, 0)
			return -1
		}
		k := i + j + 1
		if k < len(p) && p[k] == '\n' {
			return k + 1
		}
		if k+1 < len(p) && p[k] == '\r' && p[k+1] == '\n' {
			return k + 2
		}
		if k >= len(p) || (k+1 >= len(p) && p[k] == '\r') {
			*from = i + j // re-examine this line end when more bytes arrive
			return -1
		}
		i = k
	}
}

// headBareLF is what requestHeadEnd returns for a head with a line end that is not CRLF.
const headBareLF = -2

// requestHeadEnd finds the end of a request head in p (the first CRLF CRLF), scanning from
// *from, and returns its length, -1 when more bytes are needed, or headBareLF when a line
// ends with a lone LF. Only CRLF ends a line of a request head: a client whose lines
// another hop could split differently is refused rather than guessed at. p must not start
// with an empty line (the caller skips those).
func requestHeadEnd(p []byte, from *int) int {
	i := *from
	for {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			*from = i
			return -1
		}
		k := i + j // the LF
		if k == 0 || p[k-1] != '\r' {
			return headBareLF
		}
		if k >= 3 && p[k-2] == '\n' && p[k-3] == '\r' {
			return k + 1
		}
		i = k + 1
	}
}

// span is a byte range [0]:[1] within a head.
type span [2]int32

func (s span) of(b []byte) []byte { return b[s[0]:s[1]] }

func (s span) empty() bool { return s[0] == s[1] }

// field is one header line of a head.
type field struct {
	line span // whole line without its terminator
	name span
	// value is the field value without surrounding whitespace.
	value span
	// drop: not forwarded (hop-by-hop, framing or Host the forwarder writes itself, or a
	// header the frontend inserts).
	drop bool
	// inserted: a client copy of a header the frontend inserts (or otherwise drops, see
	// Frontend.dropped); invisible to L7 rules too.
	inserted bool
}

// message is a parsed HTTP/1.x request or response head. Its spans index head.
type message struct {
	head   []byte
	first  [3]span // method/target/version, or version/status/reason
	status int
	http10 bool
	fields []field

	contentLength int64 // -1 when absent
	chunked       bool
	connClose     bool
	connKeepAlive bool
	connUpgrade   bool
	upgrade       int // index of the Upgrade field, -1 when absent
	h2c           bool
	expect100     bool
	conflict      bool // a response with both Content-Length and chunked framing
	hosts         int
	host          int   // index of the (last) Host field, -1 when absent
	cookies       []int // indexes of Cookie (request) or Set-Cookie (response) fields
	connTokens    []span

	// Request target (requests only). pathQuery is the target's path and query as sent
	// (empty for an absolute-form target without a path); path is its path part.
	// absolute: an absolute-form target, whose authority is the request's host.
	absolute  bool
	asterisk  bool
	pathQuery span
	path      span
	// hostValue is the request's host (the absolute-form authority, else the Host value);
	// hasHost false when the request has none (HTTP/1.0 without Host).
	hostValue span
	hasHost   bool
}

func (m *message) reset(head []byte) {
	m.head = head
	m.status = 0
	m.http10 = false
	m.fields = m.fields[:0]
	m.contentLength = -1
	m.chunked, m.connClose, m.connKeepAlive, m.connUpgrade, m.expect100, m.h2c, m.conflict = false, false, false, false, false, false, false
	m.upgrade = -1
	m.hosts = 0
	m.host = -1
	m.cookies = m.cookies[:0]
	m.connTokens = m.connTokens[:0]
	m.absolute, m.asterisk, m.hasHost = false, false, false
	m.pathQuery, m.path, m.hostValue = span{}, span{}, span{}
}

// nextLine returns the line starting at i (without its line end), the index after it, and
// whether it ended with CR LF.
func nextLine(h []byte, i int) (start, end, next int, crlf bool) {
	j := bytes.IndexByte(h[i:], '\n')
	if j < 0 {
		return i, len(h), len(h), false
	}
	end = i + j
	next = end + 1
	if end > i && h[end-1] == '\r' {
		end--
		crlf = true
	}
	return i, end, next, crlf
}

// parseRequest parses a request head (ending with its empty line). It refuses what RFC
// 9112 lets a server refuse and everything two parsers could read differently: line ends
// other than CRLF, control characters, obs-fold, a space before a colon, several or
// malformed Content-Length values, Transfer-Encoding other than a single "chunked" (or
// on HTTP/1.0), both framings at once, a missing (HTTP/1.1) or repeated Host, a Host or
// request target that is not a valid URI part, and authority-form targets.
func (m *message) parseRequest(head []byte, maxFields int) error {
	m.reset(head)
	i := 0
	// Empty lines before the request line are skipped (a stray CRLF after a body).
	for i+1 < len(head) && head[i] == '\r' && head[i+1] == '\n' {
		i += 2
	}
	s, e, next, crlf := nextLine(head, i)
	if !crlf {
		return errBadRequest
	}
	line := head[s:e]
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return errBadRequest
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return errBadRequest
	}
	method, version := line[:sp1], rest[sp2+1:]
	if !isToken(method) {
		return errBadRequest
	}
	switch string(version) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		m.http10 = true
	default:
		return errBadRequest
	}
	m.first[0] = span{int32(s), int32(s + sp1)}
	m.first[1] = span{int32(s + sp1 + 1), int32(s + sp1 + 1 + sp2)}
	m.first[2] = span{int32(s + sp1 + 2 + sp2), int32(e)}
	if string(method) == "CONNECT" {
		// Authority-form: refused by the forwarder (405) once the head is known to be whole.
		if !validHost(m.first[1].of(head), false) {
			return errBadRequest
		}
	} else if !m.parseTarget(string(method) == "OPTIONS") {
		return errBadRequest
	}
	if err := m.parseFields(next, maxFields, true); err != nil {
		return err
	}
	if m.hosts > 1 || (m.hosts == 0 && !m.http10) {
		return errBadRequest
	}
	if m.chunked && m.http10 {
		// HTTP/1.0 has no chunked coding: such a message's framing cannot be trusted.
		return errBadRequest
	}
	if m.host >= 0 {
		hv := m.fields[m.host].value
		if !validHost(hv.of(head), true) {
			return errBadRequest
		}
		if !m.absolute {
			m.hostValue, m.hasHost = hv, true
		}
	}
	if m.absolute {
		m.hasHost = true // the authority, whatever Host says
	}
	return nil
}

// parseResponse parses a response head.
func (m *message) parseResponse(head []byte) error {
	m.reset(head)
	s, e, next, _ := nextLine(head, 0)
	line := head[s:e]
	if len(line) < 12 || line[8] != ' ' {
		return errBadRequest
	}
	switch string(line[:8]) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		m.http10 = true
	default:
		return errBadRequest
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return errBadRequest
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 || (len(line) > 12 && line[12] != ' ') {
		return errBadRequest
	}
	for _, c := range line[12:] {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return errBadRequest // the reason phrase is forwarded: no CR or other controls
		}
	}
	m.status = code
	m.first[0] = span{0, 8}
	m.first[1] = span{9, 12}
	m.first[2] = span{int32(min(13, e)), int32(e)}
	return m.parseFields(next, 1<<30, false)
}
