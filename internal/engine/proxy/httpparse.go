package proxy

import (
	"bytes"
	"errors"
	"net"
)

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
			return 0, errBufferFull
		}
	}
	n, err := b.c.Read(b.buf[b.w:])
	b.w += n
	return n, err
}

// headEnd finds the end of a message head in p (after the empty line), scanning from
// *from, and returns its length or -1. *from is advanced so that rescans are linear.
// Bare LF line ends are accepted.
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

// span is a byte range [0]:[1] within a head.
type span [2]int32

func (s span) of(b []byte) []byte { return b[s[0]:s[1]] }

// field is one header line of a head.
type field struct {
	line  span // whole line without its terminator
	name  span
	value span
	drop  bool // not forwarded (hop-by-hop)
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
	expect100     bool
	hosts         int
	host          int   // index of the (last) Host field, -1 when absent
	cookies       []int // indexes of Cookie (request) or Set-Cookie (response) fields
	connTokens    []span
}

func (m *message) reset(head []byte) {
	m.head = head
	m.status = 0
	m.http10 = false
	m.fields = m.fields[:0]
	m.contentLength = -1
	m.chunked, m.connClose, m.connKeepAlive, m.connUpgrade, m.expect100 = false, false, false, false, false
	m.upgrade = -1
	m.hosts = 0
	m.host = -1
	m.cookies = m.cookies[:0]
	m.connTokens = m.connTokens[:0]
}

// tcharLo and tcharHi are bitmasks of the RFC 9110 token characters below and above 64.
const (
	tcharLo uint64 = 0x3ff6cfa00000000
	tcharHi uint64 = 0x57ffffffc7fffffe
)

// tokenChar reports whether c may appear in an HTTP token (RFC 9110 tchar).
func tokenChar(c byte) bool {
	if c < 64 {
		return tcharLo&(1<<c) != 0
	}
	return c < 128 && tcharHi&(1<<(c-64)) != 0
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChar(c) {
			return false
		}
	}
	return true
}

// nextLine returns the line starting at i (without CR LF) and the index after it.
func nextLine(h []byte, i int) (start, end, next int) {
	j := bytes.IndexByte(h[i:], '\n')
	if j < 0 {
		return i, len(h), len(h)
	}
	end = i + j
	next = end + 1
	if end > i && h[end-1] == '\r' {
		end--
	}
	return i, end, next
}

// parseRequest parses a request head (ending with its empty line).
func (m *message) parseRequest(head []byte, maxFields int) error {
	m.reset(head)
	i := 0
	// RFC 9112 §2.2: ignore empty lines before the request line.
	for i < len(head) && (head[i] == '\r' || head[i] == '\n') {
		i++
	}
	s, e, next := nextLine(head, i)
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
	method, target, version := line[:sp1], rest[:sp2], rest[sp2+1:]
	if !isToken(method) {
		return errBadRequest
	}
	for _, c := range target {
		if c <= 0x20 || c == 0x7f {
			return errBadRequest
		}
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
	if err := m.parseFields(next, maxFields, true); err != nil {
		return err
	}
	if m.hosts > 1 || (m.hosts == 0 && !m.http10) {
		return errBadRequest
	}
	return nil
}

// parseResponse parses a response head.
func (m *message) parseResponse(head []byte) error {
	m.reset(head)
	s, e, next := nextLine(head, 0)
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
	m.status = code
	m.first[0] = span{0, 8}
	m.first[1] = span{9, 12}
	m.first[2] = span{int32(min(13, e)), int32(e)}
	return m.parseFields(next, 1<<30, false)
}

func (m *message) parseFields(i, maxFields int, request bool) error {
	h := m.head
	for i < len(h) {
		s, e, next := nextLine(h, i)
		i = next
		if s == e {
			break // the empty line
		}
		line := h[s:e]
		if line[0] == ' ' || line[0] == '\t' {
			return errBadRequest // obsolete line folding
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return errBadRequest
		}
		vs, ve := colon+1, len(line)
		for vs < ve && (line[vs] == ' ' || line[vs] == '\t') {
			vs++
		}
		for ve > vs && (line[ve-1] == ' ' || line[ve-1] == '\t') {
			ve--
		}
		for _, c := range line[vs:ve] {
			if (c < 0x20 && c != '\t') || c == 0x7f {
				return errBadRequest
			}
		}
		if len(m.fields) >= maxFields {
			return errTooManyFields
		}
		f := field{line: span{int32(s), int32(e)}, name: span{int32(s), int32(s + colon)}, value: span{int32(s + vs), int32(s + ve)}}
		if err := m.classify(&f, len(m.fields), request); err != nil {
			return err
		}
		m.fields = append(m.fields, f)
	}
	if m.chunked {
		if request && m.contentLength >= 0 {
			return errBadRequest // both framings: refuse rather than guess (smuggling)
		}
		m.contentLength = -1
	}
	if len(m.connTokens) > 0 {
		for k := range m.fields {
			name := m.fields[k].name.of(h)
			for _, t := range m.connTokens {
				if bytes.EqualFold(name, t.of(h)) {
					m.fields[k].drop = true
				}
			}
		}
	}
	return nil
}

func eq(a []byte, lower string) bool {
	if len(a) != len(lower) {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// classify records what the forwarder needs from a field and marks hop-by-hop fields.
func (m *message) classify(f *field, idx int, request bool) error {
	name, value := f.name.of(m.head), f.value.of(m.head)
	switch len(name) {
	case 2:
		if eq(name, "te") {
			f.drop = true
		}
	case 4:
		if eq(name, "host") {
			m.hosts++
			m.host = idx
		}
	case 6:
		if request && eq(name, "cookie") {
			m.cookies = append(m.cookies, idx)
		} else if request && eq(name, "expect") && eq(value, "100-continue") {
			m.expect100 = true
		}
	case 7:
		if eq(name, "upgrade") {
			m.upgrade = idx
			f.drop = true
		}
	case 10:
		if eq(name, "connection") {
			f.drop = true
			m.connectionTokens(f.value)
		} else if eq(name, "keep-alive") {
			f.drop = true
		} else if !request && eq(name, "set-cookie") {
			m.cookies = append(m.cookies, idx)
		}
	case 14:
		if eq(name, "content-length") {
			n, ok := parseLength(value)
			if !ok || (m.contentLength >= 0 && m.contentLength != n) {
				return errBadRequest
			}
			m.contentLength = n
		}
	case 16:
		if eq(name, "proxy-connection") {
			f.drop = true
		}
	case 17:
		if eq(name, "transfer-encoding") {
			// Only "chunked" alone is accepted: anything else could desynchronise the
			// framing between us and the member (request smuggling).
			if m.chunked || !eq(value, "chunked") {
				return errBadRequest
			}
			m.chunked = true
		}
	}
	return nil
}

func (m *message) connectionTokens(v span) {
	h := m.head
	i := int(v[0])
	for i < int(v[1]) {
		j := i
		for j < int(v[1]) && h[j] != ',' {
			j++
		}
		s, e := i, j
		for s < e && (h[s] == ' ' || h[s] == '\t') {
			s++
		}
		for e > s && (h[e-1] == ' ' || h[e-1] == '\t') {
			e--
		}
		tok := h[s:e]
		switch {
		case eq(tok, "close"):
			m.connClose = true
		case eq(tok, "keep-alive"):
			m.connKeepAlive = true
		case eq(tok, "upgrade"):
			m.connUpgrade = true
		case len(tok) > 0 && len(m.connTokens) < 16:
			m.connTokens = append(m.connTokens, span{int32(s), int32(e)})
		}
		i = j + 1
	}
}

func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// keepAlive reports whether the sender of m wants the connection kept open after it.
func (m *message) keepAlive() bool {
	if m.connClose {
		return false
	}
	return !m.http10 || m.connKeepAlive
}

// cookie returns the value of cookie name in the request's Cookie fields, or nil.
func (m *message) cookie(name string) []byte {
	for _, idx := range m.cookies {
		v := m.fields[idx].value.of(m.head)
		for len(v) > 0 {
			var pair []byte
			if k := bytes.IndexByte(v, ';'); k >= 0 {
				pair, v = v[:k], v[k+1:]
			} else {
				pair, v = v, nil
			}
			pair = bytes.TrimLeft(pair, " \t")
			if len(pair) > len(name) && pair[len(name)] == '=' && string(pair[:len(name)]) == name {
				return bytes.Trim(pair[len(name)+1:], " \t\"")
			}
		}
	}
	return nil
}

// setCookie returns the value the response sets for cookie name, or nil.
func (m *message) setCookie(name string) []byte {
	for _, idx := range m.cookies {
		v := m.fields[idx].value.of(m.head)
		if k := bytes.IndexByte(v, ';'); k >= 0 {
			v = v[:k]
		}
		v = bytes.TrimSpace(v)
		if len(v) > len(name) && v[len(name)] == '=' && string(v[:len(name)]) == name {
			return bytes.Trim(v[len(name)+1:], " \t\"")
		}
	}
	return nil
}

// chunkScanner follows chunked framing over a byte stream that is forwarded unchanged,
// to find where the body ends.
type chunkScanner struct {
	state     uint8
	size      int64
	digits    int
	lineLen   int
	trailer   int
	maxLine   int
	maxTrails int
}

const (
	csSize uint8 = iota
	csExt
	csSizeLF
	csData
	csDataCR
	csDataLF
	csTrailerStart
	csTrailer
	csEndLF
	csDone
)

func (c *chunkScanner) reset(maxTrailer int) {
	*c = chunkScanner{maxLine: 4096, maxTrails: maxTrailer}
}

// scan consumes a prefix of p that belongs to the body. It returns how many bytes that is
// and whether the body is complete.
func (c *chunkScanner) scan(p []byte) (int, bool, error) {
	if c.state == csDone {
		return 0, true, nil
	}
	i := 0
	for i < len(p) {
		b := p[i]
		switch c.state {
		case csSize:
			switch {
			case b >= '0' && b <= '9', b >= 'a' && b <= 'f', b >= 'A' && b <= 'F':
				if c.digits >= 15 {
					return i, false, errBadChunk
				}
				c.digits++
				c.size = c.size<<4 | int64(unhex(b))
			case c.digits == 0:
				return i, false, errBadChunk
			case b == ';' || b == ' ' || b == '\t':
				c.state = csExt
			case b == '\r':
				c.state = csSizeLF
			case b == '\n':
				c.endSizeLine()
			default:
				return i, false, errBadChunk
			}
		case csExt:
			c.lineLen++
			if c.lineLen > c.maxLine {
				return i, false, errBadChunk
			}
			if b == '\n' {
				c.endSizeLine()
			} else if b < 0x20 && b != '\t' && b != '\r' {
				return i, false, errBadChunk
			}
		case csSizeLF:
			if b != '\n' {
				return i, false, errBadChunk
			}
			c.endSizeLine()
		case csData:
			n := int64(len(p) - i)
			if n > c.size {
				n = c.size
			}
			c.size -= n
			i += int(n)
			if c.size == 0 {
				c.state = csDataCR
			}
			continue
		case csDataCR:
			switch b {
			case '\r':
				c.state = csDataLF
			case '\n':
				c.state = csSize
			default:
				return i, false, errBadChunk
			}
		case csDataLF:
			if b != '\n' {
				return i, false, errBadChunk
			}
			c.state = csSize
		case csTrailerStart:
			switch b {
			case '\r':
				c.state = csEndLF
			case '\n':
				c.state = csDone
				return i + 1, true, nil
			default:
				c.state = csTrailer
			}
		case csTrailer:
			c.trailer++
			if c.trailer > c.maxTrails {
				return i, false, errBadChunk
			}
			if b == '\n' {
				c.state = csTrailerStart
			}
		case csEndLF:
			if b != '\n' {
				return i, false, errBadChunk
			}
			c.state = csDone
			return i + 1, true, nil
		}
		i++
	}
	return i, false, nil
}

func (c *chunkScanner) endSizeLine() {
	c.lineLen, c.digits = 0, 0
	if c.size == 0 {
		c.state = csTrailerStart
	} else {
		c.state = csData
	}
}

func unhex(b byte) byte {
	switch {
	case b >= '0' && b <= '9':
		return b - '0'
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10
	}
	return b - 'A' + 10
}
