package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// This file holds the differential test of the HTTP/1.1 request path: an independent
// reader of RFC 9112, written for the test in plain string code, reads both what a
// client sends and what the engine forwards, and must agree with what the engine decided
// it parsed. net/http's server reader reads the forwarded bytes too.

// strictRequest is one request as strictRead sees it.
type strictRequest struct {
	method, target, version string
	fields                  [][2]string // lower-case name, value without surrounding OWS
	body                    []byte
}

var (
	errIncomplete = errors.New("incomplete")
	errInvalid    = errors.New("invalid")
)

func strictToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func strictFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// strictLine returns the line at the start of p up to CRLF. A CR or LF inside it is
// invalid.
func strictLine(p []byte) (string, int, error) {
	i := bytes.Index(p, []byte("\r\n"))
	if i < 0 {
		if bytes.IndexByte(p, '\n') >= 0 || bytes.IndexByte(bytes.TrimSuffix(p, []byte("\r")), '\r') >= 0 {
			return "", 0, errInvalid
		}
		return "", 0, errIncomplete
	}
	line := string(p[:i])
	if strings.ContainsAny(line, "\r\n") {
		return "", 0, errInvalid
	}
	return line, i + 2, nil
}

// strictRead reads the request at the start of p and returns it and its length.
func strictRead(p []byte) (strictRequest, int, error) {
	var r strictRequest
	pos := 0
	for bytes.HasPrefix(p[pos:], []byte("\r\n")) {
		pos += 2
	}
	line, n, err := strictLine(p[pos:])
	if err != nil {
		return r, 0, err
	}
	pos += n
	parts := strings.Split(line, " ")
	if len(parts) != 3 || !strictToken(parts[0]) || parts[1] == "" || (parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0") {
		return r, 0, errInvalid
	}
	for _, c := range []byte(parts[1]) {
		if c <= 0x20 || c >= 0x7f {
			return r, 0, errInvalid
		}
	}
	r.method, r.target, r.version = parts[0], parts[1], parts[2]
	var te, cl []string
	hosts := 0
	for {
		line, n, err := strictLine(p[pos:])
		if err != nil {
			return r, 0, err
		}
		pos += n
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return r, 0, errInvalid
		}
		name, value, ok := strings.Cut(line, ":")
		value = strings.Trim(value, " \t")
		if !ok || !strictToken(name) || !strictFieldValue(value) {
			return r, 0, errInvalid
		}
		name = strings.ToLower(name)
		r.fields = append(r.fields, [2]string{name, value})
		switch name {
		case "transfer-encoding":
			te = append(te, value)
		case "content-length":
			cl = append(cl, value)
		case "host":
			hosts++
		}
	}
	if hosts > 1 || (hosts == 0 && r.version == "HTTP/1.1") {
		return r, 0, errInvalid
	}
	switch {
	case len(te) > 0:
		if r.version == "HTTP/1.0" || len(te) != 1 || !strings.EqualFold(te[0], "chunked") || len(cl) > 0 {
			return r, 0, errInvalid
		}
		body, n, err := strictChunked(p[pos:])
		if err != nil {
			return r, 0, err
		}
		r.body, pos = body, pos+n
	case len(cl) > 0:
		for _, v := range cl {
			if v != cl[0] || v == "" || strings.Trim(v, "0123456789") != "" || len(v) > 18 {
				return r, 0, errInvalid
			}
		}
		size, _ := strconv.ParseInt(cl[0], 10, 64)
		if int64(len(p)-pos) < size {
			return r, 0, errIncomplete
		}
		r.body, pos = p[pos:pos+int(size)], pos+int(size)
	}
	return r, pos, nil
}

// strictChunked reads a chunked body and returns its data and length.
func strictChunked(p []byte) ([]byte, int, error) {
	var data []byte
	pos := 0
	for {
		line, n, err := strictLine(p[pos:])
		if err != nil {
			return nil, 0, err
		}
		pos += n
		digits := len(line) - len(strings.TrimLeft(line, "0123456789abcdefABCDEF"))
		if digits == 0 || digits > 16 {
			return nil, 0, errInvalid
		}
		size, err := strconv.ParseInt(line[:digits], 16, 64)
		if err != nil || size >= 1<<60 {
			return nil, 0, errInvalid
		}
		ext := strings.TrimLeft(line[digits:], " \t")
		switch {
		case ext == "" && len(line) > digits:
			return nil, 0, errInvalid // whitespace without an extension
		case ext != "" && (ext[0] != ';' || !strictFieldValue(ext)):
			return nil, 0, errInvalid
		}
		if size == 0 {
			break
		}
		if int64(len(p)-pos) < size {
			return nil, 0, errIncomplete
		}
		data = append(data, p[pos:pos+int(size)]...)
		pos += int(size)
		if end := p[pos:min(len(p), pos+2)]; string(end) != "\r\n" {
			if bytes.HasPrefix([]byte("\r\n"), end) {
				return nil, 0, errIncomplete
			}
			return nil, 0, errInvalid
		}
		pos += 2
	}
	for {
		line, n, err := strictLine(p[pos:])
		if err != nil {
			return nil, 0, err
		}
		pos += n
		if line == "" {
			return data, pos, nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !strictToken(name) || !strictFieldValue(value) {
			return nil, 0, errInvalid
		}
	}
}

// engineRequest is what the engine decided one request is, and where it ended in the
// client's bytes.
type engineRequest struct {
	m      message
	body   []byte
	end    int
	fields [][2]string // the fields the member must see, in order
}

// engineRun feeds a client's bytes through the engine's request path (head detection,
// parsing, inserted-header marking, the forwarded head, body decoding and re-framing) as
// handle does, and returns what it decided and what it would forward. It stops where the
// engine would stop reading: an error, an incomplete request, a request after which the
// connection ends (close, upgrade, CONNECT).
func engineRun(fe *Frontend, data []byte) ([]engineRequest, []byte) {
	var out []byte
	var reqs []engineRequest
	pos := 0
	h := &httpConn{ipText: []byte("192.0.2.1")}
	for pos < len(data) {
		scan := 0
		skip, n, err := findRequestHead(data[pos:], &scan)
		if err != nil || n < 0 {
			break
		}
		head := data[pos+skip : pos+skip+n]
		if h.req.parseRequest(head, 100) != nil || string(h.req.first[0].of(head)) == "CONNECT" {
			break
		}
		h.req.markInserted(fe.dropped, fe.xff)
		er := engineRequest{end: pos + skip + n}
		fwd := h.buildRequest(fe, nil)
		rest := data[er.end:]
		switch {
		case h.req.chunked:
			var c chunkDecoder
			c.reset(4096, 0)
			framed, k, done, err := c.decode(nil, rest, chunkReframe)
			if err != nil || !done {
				return reqs, out
			}
			var d chunkDecoder
			d.reset(4096, 0)
			er.body, _, _, _ = d.decode(nil, rest[:k], chunkRaw)
			fwd = append(fwd, framed...)
			er.end += k
		case h.req.contentLength > 0:
			if int64(len(rest)) < h.req.contentLength {
				return reqs, out
			}
			er.body = rest[:h.req.contentLength]
			fwd = append(fwd, er.body...)
			er.end += int(h.req.contentLength)
		}
		er.m = h.req
		er.m.fields = append([]field(nil), h.req.fields...)
		er.fields = decidedFields(fe, &er.m, h.ipText)
		reqs = append(reqs, er)
		out = append(out, fwd...)
		pos = er.end
		if !h.req.keepAlive() || (h.req.connUpgrade && h.req.upgrade >= 0) {
			break
		}
	}
	return reqs, out
}

// decidedFields lists the fields the engine means the member to see for m.
func decidedFields(fe *Frontend, m *message, ip []byte) [][2]string {
	var fs [][2]string
	add := func(n, v string) { fs = append(fs, [2]string{n, v}) }
	if m.hasHost {
		add("host", string(m.hostValue.of(m.head)))
	}
	for _, f := range m.fields {
		if !f.drop {
			add(strings.ToLower(string(f.name.of(m.head))), string(f.value.of(m.head)))
		}
	}
	switch {
	case m.chunked:
		add("transfer-encoding", "chunked")
	case m.contentLength >= 0:
		add("content-length", strconv.FormatInt(m.contentLength, 10))
	}
	switch {
	case m.connUpgrade && m.upgrade >= 0:
		add("connection", "Upgrade")
		add("upgrade", string(m.fields[m.upgrade].value.of(m.head)))
	case m.http10:
		add("connection", "keep-alive")
	}
	if fe.xff {
		add("x-forwarded-for", string(ip))
	}
	if fe.xfPort {
		add("x-forwarded-port", strconv.Itoa(fe.Port))
	}
	if fe.xfProto {
		add("x-forwarded-proto", "http")
	}
	if fe.realIP {
		add("x-real-ip", string(ip))
	}
	if fe.clientIP {
		add("x-client-ip", string(ip))
	}
	return fs
}

// differential checks one client byte stream; it returns a description of the first
// disagreement, or "".
func differential(fe *Frontend, data []byte) string {
	reqs, out := engineRun(fe, data)

	// 1. What the engine forwards, read strictly, is what it decided: the same requests,
	// nothing more, nothing left over.
	pos := 0
	for i, er := range reqs {
		sr, n, err := strictRead(out[pos:])
		if err != nil {
			return fmt.Sprintf("forwarded request %d does not read back: %v\nforwarded %q", i, err, out)
		}
		pos += n
		m := &er.m
		target := string(m.first[1].of(m.head))
		if m.absolute {
			target = string(m.pathQuery.of(m.head))
			if !strings.HasPrefix(target, "/") {
				target = "/" + target
			}
		}
		if sr.method != string(m.first[0].of(m.head)) || sr.target != target || sr.version != string(m.first[2].of(m.head)) {
			return fmt.Sprintf("forwarded request %d reads as %s %s %s, engine decided %s %s", i, sr.method, sr.target, sr.version, m.first[0].of(m.head), target)
		}
		if fmt.Sprint(sr.fields) != fmt.Sprint(er.fields) {
			return fmt.Sprintf("forwarded request %d fields %q, engine decided %q", i, sr.fields, er.fields)
		}
		if !bytes.Equal(sr.body, er.body) {
			return fmt.Sprintf("forwarded request %d body %q, engine decided %q", i, sr.body, er.body)
		}
		for _, f := range sr.fields {
			if name := f[0]; name != "x-forwarded-for" && listHas(fe.inserted, name) && f[1] != insertedFor(fe, name) {
				return fmt.Sprintf("forwarded request %d carries a client's %s: %q", i, name, f[1])
			}
		}
	}
	if pos != len(out) {
		return fmt.Sprintf("forwarded bytes left after %d requests: %q", len(reqs), out[pos:])
	}

	// 2. net/http's server reader agrees on the forwarded bytes.
	br := bufio.NewReader(bytes.NewReader(out))
	for i, er := range reqs {
		r, err := http.ReadRequest(br)
		if err != nil {
			return fmt.Sprintf("net/http cannot read forwarded request %d: %v\nforwarded %q", i, err, out)
		}
		body, err := io.ReadAll(r.Body)
		if err != nil || !bytes.Equal(body, er.body) {
			return fmt.Sprintf("net/http reads forwarded request %d body %q (%v), engine decided %q", i, body, err, er.body)
		}
		if want := string(er.m.hostValue.of(er.m.head)); r.Host != want {
			return fmt.Sprintf("net/http reads forwarded request %d host %q, engine decided %q", i, r.Host, want)
		}
	}
	if rest, _ := io.ReadAll(br); len(rest) > 0 {
		return fmt.Sprintf("net/http leaves %q after %d requests", rest, len(reqs))
	}

	// 3. Reading the client's bytes strictly gives the same requests up to where the
	// engine stopped, with the same boundaries: the engine may refuse more, never read
	// differently.
	pos = 0
	for i, er := range reqs {
		sr, n, err := strictRead(data[pos:])
		if err != nil {
			return fmt.Sprintf("the engine accepted request %d that a strict reader refuses (%v): %q", i, err, data[pos:er.end])
		}
		pos += n
		if pos != er.end {
			return fmt.Sprintf("request %d ends at %d for the engine, %d for a strict reader: %q", i, er.end, pos, data)
		}
		m := &er.m
		if sr.method != string(m.first[0].of(m.head)) || sr.target != string(m.first[1].of(m.head)) || !bytes.Equal(sr.body, er.body) {
			return fmt.Sprintf("request %d: strict reader %s %s %q, engine %s %s %q", i, sr.method, sr.target, sr.body, m.first[0].of(m.head), m.first[1].of(m.head), er.body)
		}
		if len(sr.fields) != len(m.fields) {
			return fmt.Sprintf("request %d: %d fields for a strict reader, %d for the engine", i, len(sr.fields), len(m.fields))
		}
		for k, f := range m.fields {
			if sr.fields[k][0] != strings.ToLower(string(f.name.of(m.head))) || sr.fields[k][1] != string(f.value.of(m.head)) {
				return fmt.Sprintf("request %d field %d: strict reader %q, engine %q", i, k, sr.fields[k], f.line.of(m.head))
			}
		}
	}
	return ""
}

func insertedFor(fe *Frontend, name string) string {
	switch name {
	case "x-forwarded-port":
		return strconv.Itoa(fe.Port)
	case "x-forwarded-proto":
		return "http"
	}
	return "192.0.2.1"
}

func listHas[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// smugglingCorpus are request streams that desynchronise HTTP/1.1 parsers that disagree
// on framing; each is a seed of FuzzHTTPDifferential and a case of TestHTTPDifferential.
var smugglingCorpus = []string{
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: keep-alive, X-Y\r\nX-Y: 1\r\n\r\nabcGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nT: v\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcdGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  +5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n foo\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nX: y\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nX: y\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\n\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\nGET /smuggled HTTP/1.1\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff1\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000005\r\nhello\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
	"GET / HTTP/1.1\nHost: a\n\nGET /two HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET http://admin.example/x HTTP/1.1\r\nHost: other.example\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\nX_Forwarded_Proto: https\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
	"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nPRI * HTTP/2.0\r\n\r\n",
}

func differentialFrontend(bits uint8) *Frontend {
	var on []string
	for i, h := range []string{"X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Real-IP", "X-Client-IP"} {
		if bits&(1<<i) != 0 {
			on = append(on, h)
		}
	}
	return testFrontend(on...)
}

func TestHTTPDifferential(t *testing.T) {
	for i, s := range smugglingCorpus {
		for _, bits := range []uint8{0, 31} {
			if d := differential(differentialFrontend(bits), []byte(s)); d != "" {
				t.Errorf("corpus %d (%q), headers %05b: %s", i, s, bits, d)
			}
		}
	}
}

// FuzzHTTPDifferential: whatever bytes a client sends, the requests the engine forwards,
// read back strictly (and by net/http), are exactly the requests it decided it parsed, with
// the same method, target, fields, body and count and nothing left over; and a strict
// reading of the client's bytes agrees with the engine on every request it accepted.
func FuzzHTTPDifferential(f *testing.F) {
	for _, s := range smugglingCorpus {
		f.Add([]byte(s), uint8(31))
	}
	f.Fuzz(func(t *testing.T, data []byte, bits uint8) {
		if d := differential(differentialFrontend(bits), data); d != "" {
			t.Fatal(d)
		}
	})
}
