package proxy

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// parseHead finds and parses the first request head of raw as the forwarder does. n is
// the head's end (skipped empty lines included), -1 when raw holds no complete head.
func parseHead(t testing.TB, raw string) (*message, int, error) {
	var m message
	scan := 0
	skip, n, err := findRequestHead([]byte(raw), &scan)
	if err != nil {
		return &m, skip, err
	}
	if n < 0 {
		return nil, -1, nil
	}
	return &m, skip + n, m.parseRequest([]byte(raw[skip:skip+n]), 100)
}

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		wantErr   error
		check     func(*message) bool
	}{
		{"simple", "GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n", nil, func(m *message) bool {
			return string(m.first[1].of(m.head)) == "/a?b" && string(m.path.of(m.head)) == "/a" && m.contentLength == -1 && m.keepAlive()
		}},
		{"leading CRLF", "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", nil, func(m *message) bool { return string(m.first[0].of(m.head)) == "GET" }},
		{"1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", nil, func(m *message) bool { return m.http10 && m.keepAlive() && !m.hasHost }},
		{"1.0 close", "GET / HTTP/1.0\r\n\r\n", nil, func(m *message) bool { return !m.keepAlive() }},
		{"close", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", nil, func(m *message) bool { return !m.keepAlive() }},
		{"CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\n\r\n", nil, func(m *message) bool { return m.contentLength == 42 }},
		{"same CL twice", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\ncontent-length: 4\r\n\r\n", nil, func(m *message) bool { return m.contentLength == 4 }},
		{"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n", nil, func(m *message) bool { return m.chunked }},
		{"chunked OWS", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \t chunked \r\n\r\n", nil, func(m *message) bool { return m.chunked }},
		{"connection tokens drop", "GET / HTTP/1.1\r\nHost: x\r\nConnection: x-a, Upgrade\r\nX-A: 1\r\nUpgrade: websocket\r\nX-B: 2\r\n\r\n", nil, func(m *message) bool {
			return m.connUpgrade && m.upgrade == 3 && m.fields[2].drop && !m.fields[4].drop
		}},
		{"h2c upgrade not forwarded", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: H2C\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n", nil, func(m *message) bool {
			return m.h2c && m.upgrade == -1 && m.fields[3].drop
		}},
		{"expect", "PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", nil, func(m *message) bool { return m.expect100 }},
		{"cookie", "GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1; SRV=m-2 ;c=3\r\n\r\n", nil, func(m *message) bool {
			return string(m.cookie("SRV")) == "m-2" && string(m.cookie("c")) == "3" && m.cookie("S") == nil
		}},
		{"absolute-form", "GET http://Admin.Example:8080/x?y HTTP/1.1\r\nHost: other.example\r\n\r\n", nil, func(m *message) bool {
			return m.absolute && m.hasHost && string(m.hostValue.of(m.head)) == "Admin.Example:8080" && string(m.pathQuery.of(m.head)) == "/x?y" && string(m.path.of(m.head)) == "/x"
		}},
		{"absolute-form without path", "GET HTTPS://a.example?q HTTP/1.1\r\nHost: a.example\r\n\r\n", nil, func(m *message) bool {
			return m.absolute && string(m.pathQuery.of(m.head)) == "?q" && m.path.empty()
		}},
		{"absolute-form 1.0 without Host", "GET http://a.example/ HTTP/1.0\r\n\r\n", nil, func(m *message) bool {
			return m.hasHost && string(m.hostValue.of(m.head)) == "a.example"
		}},
		{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", nil, func(m *message) bool { return m.asterisk }},
		{"IPv6 host", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", nil, func(m *message) bool { return m.hasHost }},
		{"empty host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", nil, func(m *message) bool { return m.hasHost && m.hostValue.empty() }},
		{"escapes", "GET /%61%2F%C3%a9?%zz HTTP/1.1\r\nHost: x\r\n\r\n", nil, nil},

		{"bad method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"missing target", "GET  HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"two spaces", "GET /  HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"tab separator", "GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"lower-case version", "GET / http/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"CTL in target", "GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"DEL in target", "GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"non-ASCII target", "GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"fragment", "GET /admin#x HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"backslash", "GET /x\\..\\admin HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"relative target", "GET admin HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"authority-form", "GET a.example:443 HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"asterisk for GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"other scheme", "GET ftp://a.example/ HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"user info", "GET http://user@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", errBadRequest, nil},
		{"empty authority", "GET http:///x HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"bad escape", "GET /%6 HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"bad escape hex", "GET /%g1 HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"encoded NUL", "GET /a%00.png HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"no host on 1.1", "GET / HTTP/1.1\r\n\r\n", errBadRequest, nil},
		{"no host on 1.1 absolute-form", "GET http://a.example/ HTTP/1.1\r\n\r\n", errBadRequest, nil},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", errBadRequest, nil},
		{"host with path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", errBadRequest, nil},
		{"host with user", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", errBadRequest, nil},
		{"host list", "GET / HTTP/1.1\r\nHost: a.example, b.example\r\n\r\n", errBadRequest, nil},
		{"host escape", "GET / HTTP/1.1\r\nHost: %61.example\r\n\r\n", errBadRequest, nil},
		{"host bad port", "GET / HTTP/1.1\r\nHost: a.example:8o\r\n\r\n", errBadRequest, nil},
		{"CL+TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", errBadRequest, nil},
		{"TE+CL", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", errBadRequest, nil},
		{"TE twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", errBadRequest, nil},
		{"TE list", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n", errBadRequest, nil},
		{"TE gzip chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", errBadRequest, nil},
		{"TE xchunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", errBadRequest, nil},
		{"TE identity", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", errBadRequest, nil},
		{"TE empty", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n", errBadRequest, nil},
		{"TE quoted", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", errBadRequest, nil},
		{"TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", errBadRequest, nil},
		{"TE with space before colon", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n", errBadRequest, nil},
		{"huge CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", errBadRequest, nil},
		{"CL list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 4\r\n\r\n", errBadRequest, nil},
		{"CL plus", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\n", errBadRequest, nil},
		{"CL hex", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x4\r\n\r\n", errBadRequest, nil},
		{"CL empty", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", errBadRequest, nil},
		{"CL conflicting", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n", errBadRequest, nil},
		{"empty name", "GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", errBadRequest, nil},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", errBadRequest, nil},
		{"fold first line", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", errBadRequest, nil},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", errBadRequest, nil},
		{"NUL in name", "GET / HTTP/1.1\r\nHost: x\r\nX\x00: a\r\n\r\n", errBadRequest, nil},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\rTransfer-Encoding: chunked\r\n\r\n", errBadRequest, nil},
		{"bare CR in request line", "GET / HTTP/1.1\r\rHost: x\r\n\r\n", errBadRequest, nil},
		{"bare LF ends a field", "GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", errBadRequest, nil},
		{"bare LF ends the request line", "GET / HTTP/1.1\nHost: x\r\n\r\n", errBadRequest, nil},
		{"bare LF ends the head", "GET / HTTP/1.1\r\nHost: x\r\n\n", errBadRequest, nil},
		{"bare LF head", "GET / HTTP/1.1\nHost: x\n\n", errBadRequest, nil},
		{"bare LF before request", "\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, n, err := parseHead(t, tc.raw)
			if n < 0 && err == nil {
				t.Fatalf("head end not found in %q", tc.raw)
			}
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("parse %q: err %v, want %v", tc.raw, err, tc.wantErr)
			}
			if tc.check != nil && !tc.check(m) {
				t.Fatalf("parse %q: unexpected result %+v", tc.raw, m)
			}
		})
	}
}

func TestRequestHeadEndIncremental(t *testing.T) {
	raw := "GET / HTTP/1.1\r\nHost: x\r\n\r\nNEXT"
	want := len(raw) - 4
	for cut := 0; cut <= len(raw); cut++ {
		from := 0
		got := requestHeadEnd([]byte(raw[:cut]), &from)
		got2 := requestHeadEnd([]byte(raw), &from) // resuming from where the short scan stopped
		if cut >= want && got != want {
			t.Fatalf("cut %d: %d, want %d", cut, got, want)
		}
		if cut < want && got != -1 {
			t.Fatalf("cut %d: found end %d early", cut, got)
		}
		if got2 != want {
			t.Fatalf("cut %d: resumed scan found %d, want %d", cut, got2, want)
		}
	}
}

// decodeAll runs a chunked body through a decoder in pieces of size step and returns what
// it wrote and consumed.
func decodeAll(body string, step int, out chunkOut, maxBody int64) (string, int, bool, error) {
	var c chunkDecoder
	c.reset(1024, maxBody)
	var dst []byte
	used := 0
	for used < len(body) {
		end := min(len(body), used+step)
		o, k, done, err := c.decode(dst, []byte(body[used:end]), out)
		dst = o
		used += k
		if err != nil || done {
			return string(dst), used, done, err
		}
	}
	return string(dst), used, false, nil
}

func TestChunkDecoder(t *testing.T) {
	body := "5\r\nhello\r\n6;name=val;q=\"a b\"\r\n world\r\n00A \t;x\r\n0123456789\r\n0\r\nTrailer: x\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n"
	for step := 1; step <= len(body); step++ {
		got, used, done, err := decodeAll(body+"EXTRA", step, chunkRaw, 0)
		if err != nil || !done || used != len(body) || got != "hello world0123456789" {
			t.Fatalf("step %d: %q used %d done %v err %v", step, got, used, done, err)
		}
		re, _, _, err := decodeAll(body, step, chunkReframe, 0)
		if err != nil {
			t.Fatal(err)
		}
		// Re-framed: chunks of the engine's own sizes, no extension, no trailer.
		data, used2, done2, err := decodeAll(re, 1, chunkRaw, 0)
		if err != nil || !done2 || used2 != len(re) || data != "hello world0123456789" || strings.Contains(re, ";") || strings.Contains(re, "Trailer") {
			t.Fatalf("step %d: re-framed %q decodes to %q (%v %v)", step, re, data, done2, err)
		}
	}
	if got, _, _, _ := decodeAll(body, len(body), chunkReframe, 0); got != "5\r\nhello\r\n6\r\n world\r\na\r\n0123456789\r\n0\r\n\r\n" {
		t.Errorf("re-framed in one piece: %q", got)
	}
	for _, tc := range []struct {
		name, body string
		err        error
	}{
		{"not hex", "x\r\n", errBadChunk},
		{"no size", "\r\n", errBadChunk},
		{"data too long", "5\r\nhelloXX", errBadChunk},
		{"17 digits", "00000000000000005\r\n", errBadChunk},
		{"oversize", "1000000000000000\r\n", errBadChunk},
		{"negative", "-5\r\n", errBadChunk},
		{"0x prefix", "0x5\r\n", errBadChunk},
		{"size then junk", "5 x\r\n", errBadChunk},
		{"size then space", "5 \r\n", errBadChunk},
		{"control in extension", "5;\x01\r\n", errBadChunk},
		{"bare LF after size", "5\nhello\r\n0\r\n\r\n", errBadChunk},
		{"bare LF after extension", "5;a=b\nhello\r\n0\r\n\r\n", errBadChunk},
		{"bare CR after size", "5\rhello\r\n0\r\n\r\n", errBadChunk},
		{"bare LF after data", "5\r\nhello\n0\r\n\r\n", errBadChunk},
		{"bare CR after data", "5\r\nhello\r0\r\n\r\n", errBadChunk},
		{"bare LF after last chunk", "0\n\r\n", errBadChunk},
		{"bare LF ends the body", "0\r\n\n", errBadChunk},
		{"bare LF in trailer", "0\r\nX: y\n\r\n", errBadChunk},
		{"bare CR in trailer", "0\r\nX: y\rZ: w\r\n\r\n", errBadChunk},
		{"trailer fold", "0\r\nX: y\r\n z\r\n\r\n", errBadChunk},
		{"trailer without colon", "0\r\nX\r\n\r\n", errBadChunk},
		{"trailer space before colon", "0\r\nX : y\r\n\r\n", errBadChunk},
		{"NUL in trailer", "0\r\nX: \x00\r\n\r\n", errBadChunk},
		{"trailer too large", "0\r\nX: " + strings.Repeat("a", 2000) + "\r\n\r\n", errBadChunk},
		{"body too large", "401\r\n", errBodyTooLarge},
		{"body too large in total", "200\r\n" + strings.Repeat("a", 512) + "\r\n201\r\n", errBodyTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := decodeAll(tc.body, len(tc.body), chunkReframe, 1024)
			if !errors.Is(err, tc.err) {
				t.Fatalf("decode(%q): %v, want %v", tc.body, err, tc.err)
			}
		})
	}
}

func testFrontend(headers ...string) *Frontend {
	ins := map[string]string{}
	for _, h := range headers {
		ins[h] = "true"
	}
	l := &dataplane.Listener{ID: "l", Protocol: dataplane.ProtocolHTTP, ProtocolPort: 80, InsertHeaders: ins}
	fe, err := NewFrontend(l, nil, &Counters{}, (&Options{}).WithDefaults())
	if err != nil {
		panic(err)
	}
	return fe
}

// pathRuleFrontend is an HTTP frontend with a REJECT policy on a path prefix.
func pathRuleFrontend() *Frontend {
	l := &dataplane.Listener{ID: "l", Protocol: dataplane.ProtocolHTTP, ProtocolPort: 80, L7Policies: []dataplane.L7Policy{{
		ID: "p", Action: dataplane.ActionReject, Rules: []dataplane.L7Rule{{ID: "r", Type: dataplane.RulePath, CompareType: dataplane.CompareStartsWith, Value: "/admin"}}}}}
	fe, err := NewFrontend(l, nil, &Counters{}, (&Options{}).WithDefaults())
	if err != nil {
		panic(err)
	}
	return fe
}

// forwardHead parses raw as the forwarder does and returns the head it sends the member.
func forwardHead(t *testing.T, fe *Frontend, raw string) string {
	t.Helper()
	h := &httpConn{ipText: []byte("192.0.2.1")}
	scan := 0
	skip, n, err := findRequestHead([]byte(raw), &scan)
	if err != nil || n < 0 {
		t.Fatalf("head of %q: %d %v", raw, n, err)
	}
	if err := h.req.parseRequest([]byte(raw[skip:skip+n]), 100); err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	h.req.markInserted(fe.dropped, fe.xff)
	return string(h.buildRequest(fe, nil))
}

func TestBuildRequest(t *testing.T) {
	all := testFrontend("X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Real-IP", "X-Client-IP", "X-Forwarded-IP")
	for _, tc := range []struct {
		name string
		fe   *Frontend
		raw  string
		want string
	}{
		{"inserted headers replace the client's copies", all,
			"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\nx-forwarded-port: 443\r\nX_Forwarded_Proto: https\r\nX-REAL-IP: 10.0.0.1\r\nX-Client_IP: 10.0.0.2\r\nx-forwarded-ip: 10.0.0.9\r\nX-Forwarded-For: 10.0.0.3\r\nX_Forwarded_For: 10.0.0.4\r\nX-Other: kept\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.3\r\nX-Other: kept\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Port: 80\r\nX-Forwarded-Proto: http\r\nX-Real-IP: 192.0.2.1\r\nX-Client-IP: 192.0.2.1\r\nX-Forwarded-IP: 192.0.2.1\r\n\r\n"},
		{"headers not inserted pass", testFrontend(),
			"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n\r\n"},
		{"Connection cannot strip an inserted header", testFrontend("X-Forwarded-For"),
			"GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Forwarded-For, Host, Content-Length\r\nContent-Length: 0\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n"},
		{"absolute-form becomes origin-form with its authority as Host", testFrontend(),
			"GET http://admin.example:8080/x?y HTTP/1.1\r\nHost: other.example\r\n\r\n",
			"GET /x?y HTTP/1.1\r\nHost: admin.example:8080\r\n\r\n"},
		{"absolute-form without path", testFrontend(),
			"GET http://admin.example?q HTTP/1.1\r\nHost: other.example\r\n\r\n",
			"GET /?q HTTP/1.1\r\nHost: admin.example\r\n\r\n"},
		{"framing written from what was parsed", testFrontend(),
			"POST / HTTP/1.1\r\nContent-Length: 004\r\nHost: a\r\ncontent-length: 4\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n"},
		{"chunked", testFrontend(),
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\nTE: trailers\r\nTrailer: X-A\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"h2c upgrade dropped", testFrontend(),
			"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"websocket upgrade kept", testFrontend(),
			"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"},
		{"path override headers dropped where rules read the path", pathRuleFrontend(),
			"GET /public HTTP/1.1\r\nHost: a\r\nX-Original-URL: /admin\r\nx_rewrite_url: /admin\r\nX-Original-Host: b\r\n\r\n",
			"GET /public HTTP/1.1\r\nHost: a\r\nX-Original-Host: b\r\n\r\n"},
		{"path override headers pass elsewhere", testFrontend(),
			"GET /public HTTP/1.1\r\nHost: a\r\nX-Original-URL: /admin\r\n\r\n",
			"GET /public HTTP/1.1\r\nHost: a\r\nX-Original-URL: /admin\r\n\r\n"},
		{"HTTP/1.0 without Host", testFrontend(),
			"GET / HTTP/1.0\r\n\r\n",
			"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := forwardHead(t, tc.fe, tc.raw); got != tc.want {
				t.Fatalf("forwarded head of %q:\n got %q\nwant %q", tc.raw, got, tc.want)
			}
		})
	}
}

func TestNormalizePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/", "/"},
		{"/admin", "/admin"},
		{"/admin/", "/admin/"},
		{"/%61dmin", "/admin"},
		{"/%61DMIN", "/aDMIN"},
		{"/%2e/admin", "/admin"},
		{"/%2E%2E/admin", "/admin"},
		{"//admin", "/admin"},
		{"///admin//x", "/admin/x"},
		{"/./admin", "/admin"},
		{"/admin/../admin", "/admin"},
		{"/x/../../admin", "/admin"},
		{"/..", "/"},
		{"/a/..", "/"},
		{"/a/.", "/a/"},
		{"/a/b/..", "/a/"},
		{"/a/..b", "/a/..b"},
		{"/a/.b/c", "/a/.b/c"},
		{"/%2Fadmin", "/admin"},
		{"/x%2f..%2fadmin", "/admin"},
		{"/admin;jsessionid=1", "/admin"},
		{"/x/..;/admin", "/admin"},
		{"/admin;x/secret;y", "/admin/secret"},
		{"/a%20b", "/a%20b"},
		{"/caf%c3%a9", "/caf%C3%A9"},
		{"/a%3bb", "/a%3Bb"},
		{"/%7euser", "/~user"},
		{"/a%25b", "/a%25b"},
		{"/a.tar.gz", "/a.tar.gz"},
	} {
		got := string(normalizePath(nil, []byte(tc.in)))
		if got != tc.want {
			t.Errorf("normalizePath(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// Idempotent, and in place after a prefix.
		if again := string(normalizePath([]byte("pre"), []byte(got))); again != "pre"+got {
			t.Errorf("normalizePath(%q) again = %q", got, again)
		}
	}
}

// FuzzChunkDecoder checks that the decoder reads the same body however the input is split,
// and that what it writes decodes again to the same data.
func FuzzChunkDecoder(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), 3)
	f.Add([]byte("a;x=y\r\n0123456789\r\n0\r\nT: v\r\n\r\n"), 9)
	f.Add([]byte("5\nhello\r\n0\r\n\r\n"), 1)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		if split < 0 || split > len(data) {
			return
		}
		var whole chunkDecoder
		whole.reset(4096, 0)
		out, n, done, err := whole.decode(nil, data, chunkRaw)
		var parts chunkDecoder
		parts.reset(4096, 0)
		out1, n1, done1, err1 := parts.decode(nil, data[:split], chunkRaw)
		if err1 != nil || done1 {
			if (err1 != nil) != (err != nil) || done1 != done || n1 != n || !bytes.Equal(out1, out) {
				t.Fatalf("%q split at %d: whole (%d,%v,%v) vs first part (%d,%v,%v)", data, split, n, done, err, n1, done1, err1)
			}
			return
		}
		out2, n2, done2, err2 := parts.decode(out1, data[split:], chunkRaw)
		if (err == nil) != (err2 == nil) || done != done2 || (err == nil && n != n1+n2) || !bytes.Equal(out, out2) {
			t.Fatalf("%q split at %d: whole (%d,%v,%v,%q) vs parts (%d+%d,%v,%v,%q)", data, split, n, done, err, out, n1, n2, done2, err2, out2)
		}
		if !done {
			return
		}
		var re chunkDecoder
		re.reset(4096, 0)
		framed, _, _, _ := re.decode(nil, data, chunkReframe)
		var back chunkDecoder
		back.reset(4096, 0)
		data2, m, done3, err3 := back.decode(nil, framed, chunkRaw)
		if err3 != nil || !done3 || m != len(framed) || !bytes.Equal(data2, out) {
			t.Fatalf("%q re-framed as %q reads back as %q (%v %v), want %q", data, framed, data2, done3, err3, out)
		}
	})
}

func BenchmarkParseRequest(b *testing.B) {
	raw := []byte("GET /index.html?user=42 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\nCookie: session=abc; SRV=m1\r\nConnection: keep-alive\r\n\r\n")
	var m message
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		scan := 0
		_, n, _ := findRequestHead(raw, &scan)
		if err := m.parseRequest(raw[:n], 100); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildForwardHead(b *testing.B) {
	raw := []byte("GET /index.html?user=42 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\nCookie: session=abc; SRV=m1\r\nConnection: keep-alive\r\n\r\n")
	fe := testFrontend("X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto")
	h := &httpConn{ipText: []byte("192.0.2.1")}
	out := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		scan := 0
		_, n, _ := findRequestHead(raw, &scan)
		if err := h.req.parseRequest(raw[:n], 100); err != nil {
			b.Fatal(err)
		}
		h.req.markInserted(fe.dropped, fe.xff)
		out = h.buildRequest(fe, out[:0])
	}
}

// TestCharMasks checks the bitmask tables against the character classes they encode.
func TestCharMasks(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		plain := b > 0x20 && b < 0x7f && !strings.ContainsRune("#\\?%", rune(b))
		host := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_'
		if got := inMask(b, plainTargetLo, plainTargetHi); got != plain {
			t.Errorf("plain target byte %q: %v, want %v", b, got, plain)
		}
		if got := inMask(b, hostNameLo, hostNameHi); got != host {
			t.Errorf("host name byte %q: %v, want %v", b, got, host)
		}
	}
}
