package proxy

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

func parseHead(t testing.TB, raw string) (*message, int, error) {
	var m message
	from := 0
	n := headEnd([]byte(raw), &from)
	if n < 0 {
		return nil, -1, nil
	}
	return &m, n, m.parseRequest([]byte(raw[:n]), 100)
}

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		wantErr   error
		check     func(*message) bool
	}{
		{"simple", "GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n", nil, func(m *message) bool {
			return string(m.first[1].of(m.head)) == "/a?b" && m.contentLength == -1 && m.keepAlive()
		}},
		{"leading CRLF", "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", nil, func(m *message) bool { return string(m.first[0].of(m.head)) == "GET" }},
		{"bare LF", "GET / HTTP/1.1\nHost: x\n\n", nil, func(m *message) bool { return m.hosts == 1 }},
		{"1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", nil, func(m *message) bool { return m.http10 && m.keepAlive() }},
		{"1.0 close", "GET / HTTP/1.0\r\n\r\n", nil, func(m *message) bool { return !m.keepAlive() }},
		{"close", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", nil, func(m *message) bool { return !m.keepAlive() }},
		{"CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\n\r\n", nil, func(m *message) bool { return m.contentLength == 42 }},
		{"same CL twice", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\ncontent-length: 4\r\n\r\n", nil, func(m *message) bool { return m.contentLength == 4 }},
		{"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n", nil, func(m *message) bool { return m.chunked }},
		{"connection tokens drop", "GET / HTTP/1.1\r\nHost: x\r\nConnection: x-a, Upgrade\r\nX-A: 1\r\nUpgrade: websocket\r\nX-B: 2\r\n\r\n", nil, func(m *message) bool {
			return m.connUpgrade && m.upgrade == 3 && m.fields[2].drop && !m.fields[4].drop
		}},
		{"expect", "PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", nil, func(m *message) bool { return m.expect100 }},
		{"cookie", "GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1; SRV=m-2 ;c=3\r\n\r\n", nil, func(m *message) bool {
			return string(m.cookie("SRV")) == "m-2" && string(m.cookie("c")) == "3" && m.cookie("S") == nil
		}},
		{"bad method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"missing target", "GET  HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"CTL in target", "GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequest, nil},
		{"CL+TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", errBadRequest, nil},
		{"TE twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", errBadRequest, nil},
		{"huge CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", errBadRequest, nil},
		{"empty name", "GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", errBadRequest, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, n, err := parseHead(t, tc.raw)
			if n < 0 {
				t.Fatalf("head end not found in %q", tc.raw)
			}
			if err != tc.wantErr {
				t.Fatalf("parse %q: err %v, want %v", tc.raw, err, tc.wantErr)
			}
			if tc.check != nil && !tc.check(m) {
				t.Fatalf("parse %q: unexpected result %+v", tc.raw, m)
			}
		})
	}
}

func TestHeadEndIncremental(t *testing.T) {
	raw := "GET / HTTP/1.1\r\nHost: x\r\n\r\nNEXT"
	for cut := 0; cut <= len(raw); cut++ {
		from := 0
		got := headEnd([]byte(raw[:cut]), &from)
		got2 := headEnd([]byte(raw), &from) // resuming from where the short scan stopped
		want := len(raw) - 4
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

func TestChunkScanner(t *testing.T) {
	body := "5\r\nhello\r\n6;name=val\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
	for split := 0; split <= len(body); split++ {
		var c chunkScanner
		c.reset(1024)
		n1, done1, err := c.scan([]byte(body[:split]))
		if err != nil || n1 != split || (done1 && split != len(body)) {
			t.Fatalf("split %d first part: n=%d done=%v err=%v", split, n1, done1, err)
		}
		n2, done2, err := c.scan([]byte(body[split:] + "EXTRA"))
		if err != nil || !done2 || n1+n2 != len(body) {
			t.Fatalf("split %d: consumed %d+%d done=%v err=%v, want %d", split, n1, n2, done2, err, len(body))
		}
	}
	for _, bad := range []string{"x\r\n", "5\r\nhelloXX", "\r\n", "fffffffffffffffff\r\n", "5 \x01\r\n"} {
		var c chunkScanner
		c.reset(1024)
		if _, _, err := c.scan([]byte(bad)); err == nil {
			t.Errorf("scan(%q) accepted", bad)
		}
	}
}

func testFrontend() *Frontend {
	l := &dataplane.Listener{ID: "l", Protocol: dataplane.ProtocolHTTP, ProtocolPort: 80,
		InsertHeaders: map[string]string{"X-Forwarded-For": "true", "X-Forwarded-Port": "true", "X-Forwarded-Proto": "true"}}
	fe, err := NewFrontend(l, nil, &Counters{}, (&Options{}).WithDefaults())
	if err != nil {
		panic(err)
	}
	return fe
}

// FuzzParseRequest feeds arbitrary bytes to the request parser. Whatever it accepts must
// forward as a head that parses again to the same request line and framing, and carries
// none of the hop-by-hop fields.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: keep-alive, X-Y\r\nX-Y: 1\r\n\r\nabc",
		"PUT /u HTTP/1.0\r\nTransfer-Encoding: chunked\r\nCookie: SRV=a; b=c\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nTE: trailers\r\nKeep-Alive: 1\r\n\r\n",
		"\r\n\nGET / HTTP/1.1\nHost: y\n\n",
	} {
		f.Add([]byte(s))
	}
	fe := testFrontend()
	f.Fuzz(func(t *testing.T, data []byte) {
		from := 0
		n := headEnd(data, &from)
		if n < 0 {
			return
		}
		h := &httpConn{ipText: []byte("192.0.2.1")}
		if err := h.req.parseRequest(data[:n], 100); err != nil {
			return
		}
		req := h.req
		out := h.buildRequest(fe, nil)
		var again message
		from = 0
		m := headEnd(out, &from)
		if m != len(out) {
			t.Fatalf("forwarded head %q: end at %d of %d", out, m, len(out))
		}
		if err := again.parseRequest(out, 1000); err != nil {
			t.Fatalf("forwarded head %q does not parse: %v (from %q)", out, err, data[:n])
		}
		for i := 0; i < 3; i++ {
			if !bytes.Equal(again.first[i].of(again.head), req.first[i].of(req.head)) {
				t.Fatalf("request line changed: %q → %q", data[:n], out)
			}
		}
		if again.contentLength != req.contentLength || again.chunked != req.chunked {
			t.Fatalf("framing changed: %q → %q", data[:n], out)
		}
		for _, fl := range again.fields {
			name := strings.ToLower(string(fl.name.of(again.head)))
			switch name {
			case "keep-alive", "proxy-connection", "te":
				t.Fatalf("hop-by-hop field %q forwarded: %q", name, out)
			}
		}
	})
}

// FuzzChunkScanner checks that the scanner finds the same end however the input is split.
func FuzzChunkScanner(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), 3)
	f.Add([]byte("a;x=y\r\n0123456789\r\n0\r\nT: v\r\n\r\n"), 9)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		var whole chunkScanner
		whole.reset(4096)
		n, done, err := whole.scan(data)
		if split < 0 || split > len(data) {
			return
		}
		var parts chunkScanner
		parts.reset(4096)
		n1, done1, err1 := parts.scan(data[:split])
		if err1 != nil || done1 {
			if (err1 != nil) != (err != nil && n <= split) && !done1 {
				return
			}
			return
		}
		n2, done2, err2 := parts.scan(data[split:])
		if (err == nil) != (err2 == nil) || done != done2 || (err == nil && n != n1+n2) {
			t.Fatalf("%q split at %d: whole (%d,%v,%v) vs parts (%d+%d,%v,%v)", data, split, n, done, err, n1, n2, done2, err2)
		}
	})
}

func BenchmarkParseRequest(b *testing.B) {
	raw := []byte("GET /index.html?user=42 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\nCookie: session=abc; SRV=m1\r\nConnection: keep-alive\r\n\r\n")
	var m message
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		from := 0
		n := headEnd(raw, &from)
		if err := m.parseRequest(raw[:n], 100); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildForwardHead(b *testing.B) {
	raw := []byte("GET /index.html?user=42 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\nCookie: session=abc; SRV=m1\r\nConnection: keep-alive\r\n\r\n")
	fe := testFrontend()
	h := &httpConn{ipText: []byte("192.0.2.1")}
	out := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		from := 0
		n := headEnd(raw, &from)
		if err := h.req.parseRequest(raw[:n], 100); err != nil {
			b.Fatal(err)
		}
		out = h.buildRequest(fe, out[:0])
	}
}
