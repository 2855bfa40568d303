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

// Bitmasks (below and above 64) of the target bytes parseTarget passes without a second
// look (visible ASCII but '#', '\\', '?' and '%'), and of the bytes of a host name
// (letters, digits, '-', '.', '_').
const (
	plainTargetLo uint64 = 0x7fffffd600000000
	plainTargetHi uint64 = 0x7fffffffefffffff
	hostNameLo    uint64 = 0x3ff600000000000
	hostNameHi    uint64 = 0x7fffffe87fffffe
)

func inMask(c byte, lo, hi uint64) bool {
	if c < 64 {
		return lo&(1<<c) != 0
	}
	return c < 128 && hi&(1<<(c-64)) != 0
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

// parseTarget validates the request target (first[1]) and records its parts. Accepted:
// origin-form ("/p?q"), absolute-form with an http or https scheme and no user info
// ("http://host:port/p?q"), and "*" for OPTIONS. Every byte must be a visible ASCII
// character other than '#' (a fragment is never sent) and '\' (which some servers read as
// '/'); in the path, '%' must start a %XX escape other than %00.
func (m *message) parseTarget(options bool) bool {
	t0, t1 := int(m.first[1][0]), int(m.first[1][1])
	t := m.head[t0:t1]
	// One pass: the characters, the %-escapes of the path, and where the query starts
	// (an absolute-form authority holds no '%' or '?': validHost refuses them).
	q := len(t)
	for i := 0; i < len(t); i++ {
		c := t[i]
		if inMask(c, plainTargetLo, plainTargetHi) {
			continue
		}
		switch {
		case c <= 0x20 || c >= 0x7f || c == '#' || c == '\\':
			return false
		case c == '?' && q == len(t):
			q = i
		case c == '%' && i < q:
			if i+2 >= len(t) || !isHex(t[i+1]) || !isHex(t[i+2]) || (t[i+1] == '0' && t[i+2] == '0') {
				return false
			}
			i += 2
		}
	}
	switch {
	case t[0] == '/':
		m.pathQuery = span{int32(t0), int32(t1)}
	case len(t) == 1 && t[0] == '*':
		if !options {
			return false
		}
		m.asterisk = true
	default:
		n := schemeLen(t)
		if n == 0 {
			return false
		}
		a0 := t0 + n + 3
		a1 := a0
		for a1 < t1 && m.head[a1] != '/' && m.head[a1] != '?' {
			a1++
		}
		if a1 == a0 || !validHost(m.head[a0:a1], false) {
			return false
		}
		m.absolute = true
		m.hostValue = span{int32(a0), int32(a1)}
		m.pathQuery = span{int32(a1), int32(t1)}
	}
	if m.asterisk {
		m.pathQuery = span{int32(t0), int32(t1)}
	}
	m.path = span{m.pathQuery[0], int32(t0 + q)}
	return true
}

// schemeLen returns the length of an "http" or "https" scheme (any case) that starts t
// and is followed by "://", or 0.
func schemeLen(t []byte) int {
	switch {
	case len(t) > 7 && eq(t[:4], "http") && string(t[4:7]) == "://":
		return 4
	case len(t) > 8 && eq(t[:5], "https") && string(t[5:8]) == "://":
		return 5
	}
	return 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// validHost reports whether h is a host with an optional port (RFC 9110): an IP
// literal in brackets, or a name of letters, digits, '-', '.' and '_' (an IPv4 address
// or a DNS name). The other characters RFC 3986 allows in a reg-name (%-escapes, "!$&'()
// *+,;=~") name no real host and let two readers see different hosts ("a,b" is a list to
// some), so they are refused, as is user info. An empty Host value is allowed where
// emptyOK.
func validHost(h []byte, emptyOK bool) bool {
	if len(h) == 0 {
		return emptyOK
	}
	i := 0
	if h[0] == '[' {
		j := bytes.IndexByte(h, ']')
		if j < 2 {
			return false
		}
		for _, c := range h[1:j] {
			if !(isHex(c) || c == ':' || c == '.' || c == 'v' || c == 'V') {
				return false
			}
		}
		i = j + 1
	} else {
		for i < len(h) && h[i] != ':' {
			if !inMask(h[i], hostNameLo, hostNameHi) {
				return false
			}
			i++
		}
		if i == 0 {
			return false
		}
	}
	if i == len(h) {
		return true
	}
	if h[i] != ':' || len(h)-i-1 > 5 {
		return false
	}
	for _, c := range h[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
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

// parseFields parses the field lines from i to the empty line. A request's lines must end
// with CRLF.
func (m *message) parseFields(i, maxFields int, request bool) error {
	h := m.head
	for i < len(h) {
		s, e, next, crlf := nextLine(h, i)
		i = next
		if request && !crlf {
			return errBadRequest
		}
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
		if m.contentLength >= 0 {
			if request {
				return errBadRequest // both framings: refuse rather than guess (smuggling)
			}
			m.conflict = true // chunked wins (RFC 9112); the member connection is not reused
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
	if m.h2c {
		// An upgrade to cleartext HTTP/2 would hand the client a connection to the member
		// on which the engine sees no more requests (rules, headers): it is not forwarded.
		m.upgrade = -1
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

// classify records what the forwarder needs from a field and marks the fields it does not
// forward as they are: hop-by-hop fields, and the framing fields and Host, which it writes
// itself from what it parsed.
func (m *message) classify(f *field, idx int, request bool) error {
	name, value := f.name.of(m.head), f.value.of(m.head)
	switch len(name) {
	case 2:
		if eq(name, "te") {
			f.drop = true
		}
	case 4:
		if request && eq(name, "host") {
			m.hosts++
			m.host = idx
			f.drop = true
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
			if request && hasToken(value, "h2c") {
				m.h2c = true
			}
		} else if eq(name, "trailer") {
			f.drop = true // trailer fields are not forwarded, so none are announced
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
			f.drop = true
		} else if eq(name, "http2-settings") {
			f.drop = true
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
			f.drop = true
		}
	}
	return nil
}

// hasToken reports whether the comma-separated list v holds tok (case-insensitive).
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var el []byte
		if k := bytes.IndexByte(v, ','); k >= 0 {
			el, v = v[:k], v[k+1:]
		} else {
			el, v = v, nil
		}
		el = trimOWS(el)
		if k := bytes.IndexByte(el, '/'); k >= 0 {
			el = el[:k] // protocol/version
		}
		if eq(el, tok) {
			return true
		}
	}
	return false
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

// markInserted marks the client's copies of the headers the frontend inserts (names, lower
// case) as neither forwarded nor seen by L7 rules: the member sees the engine's value
// alone. A name matches whatever its case and with '_' for '-', because CGI-style members
// (WSGI, Rack, PHP) fold both spellings into one variable. With xff, X-Forwarded-For
// stays a list the engine appends to, but its '_' spellings are dropped for the same
// reason.
func (m *message) markInserted(names []string, xff bool) {
	h := m.head
	for i := range m.fields {
		f := &m.fields[i]
		name := f.name.of(h)
		if len(name) < 3 || name[0]|0x20 != 'x' || (name[1] != '-' && name[1] != '_') {
			continue
		}
		for _, n := range names {
			if headerNameIs(name, n) {
				f.drop, f.inserted = true, true
				break
			}
		}
		if xff && !f.inserted && headerNameIs(name, "x-forwarded-for") && bytes.IndexByte(name, '_') >= 0 {
			f.drop, f.inserted = true, true
		}
	}
}

// headerNameIs reports whether name spells lower (a lower-case header name), ignoring case
// and reading '_' as '-'.
func headerNameIs(name []byte, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '_':
			c = '-'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
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

// chunkOut says what chunkDecoder.decode writes for the body it reads.
type chunkOut uint8

const (
	chunkDiscard chunkOut = iota // nothing (a body the engine drops)
	chunkReframe                 // the body in chunked coding of the engine's own making
	chunkRaw                     // the data alone (for an HTTP/1.0 client)
)

// chunkDecoder reads a chunked body strictly (RFC 9112) from a byte stream: chunk
// sizes in hex, extensions, data, and the trailer section, every line ended by CRLF. It
// never passes on the bytes it read: decode writes the data in chunks of its own (one
// per contiguous piece of data it saw), drops extensions and checks and drops trailer
// fields. The zero value is not ready: call reset.
type chunkDecoder struct {
	state   uint8
	size    int64 // data bytes left in the current chunk; the size being read in csSize
	digits  int
	lineLen int
	trailer int
	// limits: a chunk-size line or extension beyond maxLine bytes and a trailer section
	// beyond maxTrailer bytes are malformed; data beyond maxBody bytes in total (0: no
	// limit) is errBodyTooLarge.
	maxLine, maxTrailer int
	maxBody, total      int64
}

const (
	csSize uint8 = iota
	csSizeWS
	csExt
	csSizeLF
	csData
	csDataCR
	csDataLF
	csTrailerStart
	csTrailerName
	csTrailerValue
	csTrailerLF
	csEndLF
	csDone
)

// maxChunkSize bounds one chunk's size (15 hex digits), far beyond any real body and
// below where int64 arithmetic could overflow.
const maxChunkSize = 1<<60 - 1

func (c *chunkDecoder) reset(maxTrailer int, maxBody int64) {
	*c = chunkDecoder{maxLine: 4096, maxTrailer: maxTrailer, maxBody: maxBody}
}

// done reports whether the whole body has been read.
func (c *chunkDecoder) done() bool { return c.state == csDone }

// decode consumes a prefix of p that belongs to the body and appends what out asks for to
// dst. It returns dst, how many bytes of p it consumed and whether the body is complete.
// Bytes after the body are left alone. On error the body is broken (errBadChunk) or too
// large (errBodyTooLarge) and the connection cannot continue.
func (c *chunkDecoder) decode(dst, p []byte, out chunkOut) ([]byte, int, bool, error) {
	if c.state == csDone {
		return dst, 0, true, nil
	}
	i := 0
	for i < len(p) {
		b := p[i]
		switch c.state {
		case csSize:
			switch {
			case isHex(b):
				if c.digits >= 16 || c.size > maxChunkSize>>4 {
					return dst, i, false, errBadChunk
				}
				c.digits++
				c.size = c.size<<4 | int64(unhex(b))
			case c.digits == 0:
				return dst, i, false, errBadChunk
			case b == ' ' || b == '\t':
				c.state = csSizeWS
			case b == ';':
				c.state = csExt
			case b == '\r':
				c.state = csSizeLF
			default:
				return dst, i, false, errBadChunk
			}
		case csSizeWS:
			// Whitespace after the size may only come before an extension.
			switch b {
			case ' ', '\t':
			case ';':
				c.state = csExt
			default:
				return dst, i, false, errBadChunk
			}
		case csExt:
			c.lineLen++
			switch {
			case c.lineLen > c.maxLine:
				return dst, i, false, errBadChunk
			case b == '\r':
				c.state = csSizeLF
			case (b < 0x20 && b != '\t') || b == 0x7f:
				return dst, i, false, errBadChunk
			}
		case csSizeLF:
			if b != '\n' {
				return dst, i, false, errBadChunk
			}
			if err := c.endSizeLine(); err != nil {
				return dst, i, false, err
			}
		case csData:
			n := min(int64(len(p)-i), c.size)
			switch out {
			case chunkReframe:
				dst = appendChunk(dst, p[i:i+int(n)])
			case chunkRaw:
				dst = append(dst, p[i:i+int(n)]...)
			}
			c.size -= n
			i += int(n)
			if c.size == 0 {
				c.state = csDataCR
			}
			continue
		case csDataCR:
			if b != '\r' {
				return dst, i, false, errBadChunk
			}
			c.state = csDataLF
		case csDataLF:
			if b != '\n' {
				return dst, i, false, errBadChunk
			}
			c.state = csSize
		case csTrailerStart:
			switch {
			case b == '\r':
				c.state = csEndLF
			case tokenChar(b):
				c.state = csTrailerName
			default:
				return dst, i, false, errBadChunk // obs-fold, a bare LF, or not a field
			}
		case csTrailerName:
			switch {
			case b == ':':
				c.state = csTrailerValue
			case !tokenChar(b):
				return dst, i, false, errBadChunk
			}
		case csTrailerValue:
			switch {
			case b == '\r':
				c.state = csTrailerLF
			case (b < 0x20 && b != '\t') || b == 0x7f:
				return dst, i, false, errBadChunk
			}
		case csTrailerLF:
			if b != '\n' {
				return dst, i, false, errBadChunk
			}
			c.state = csTrailerStart
		case csEndLF:
			if b != '\n' {
				return dst, i, false, errBadChunk
			}
			c.state = csDone
			if out == chunkReframe {
				dst = append(dst, "0\r\n\r\n"...)
			}
			return dst, i + 1, true, nil
		}
		if c.state >= csTrailerName && c.state <= csTrailerLF {
			if c.trailer++; c.trailer > c.maxTrailer {
				return dst, i, false, errBadChunk
			}
		}
		i++
	}
	return dst, i, false, nil
}

func (c *chunkDecoder) endSizeLine() error {
	c.lineLen, c.digits = 0, 0
	if c.size == 0 {
		c.state = csTrailerStart
		return nil
	}
	c.total += c.size
	if c.maxBody > 0 && c.total > c.maxBody {
		return errBodyTooLarge
	}
	c.state = csData
	return nil
}

// appendChunk appends data as one chunk: its size in hex, CRLF, the data, CRLF.
func appendChunk(dst, data []byte) []byte {
	const digits = "0123456789abcdef"
	n := len(data)
	var hex [16]byte
	k := len(hex)
	for {
		k--
		hex[k] = digits[n&15]
		n >>= 4
		if n == 0 {
			break
		}
	}
	dst = append(dst, hex[k:]...)
	dst = append(dst, '\r', '\n')
	dst = append(dst, data...)
	return append(dst, '\r', '\n')
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
