package engine

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// scriptedMember answers each connection with script, which reads the request itself and
// writes raw bytes. It records the requests it read per connection.
type scriptedMember struct {
	port int
	mu   sync.Mutex
	// events is what the script reported, in order ("conn 1: GET /x", "conn 1: EOF").
	events []string
}

func (m *scriptedMember) event(format string, args ...any) {
	m.mu.Lock()
	m.events = append(m.events, fmt.Sprintf(format, args...))
	m.mu.Unlock()
}

func (m *scriptedMember) log() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.events...)
}

// readHead reads a request head (no body) and returns its request line, or "" at EOF.
func readHead(br *bufio.Reader) string {
	first := ""
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return ""
		}
		if first == "" {
			first = strings.TrimRight(line, "\r\n")
			continue
		}
		if line == "\r\n" {
			return first
		}
	}
}

func startScriptedMember(t *testing.T, script func(m *scriptedMember, conn int, c net.Conn, br *bufio.Reader)) *scriptedMember {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &scriptedMember{port: ln.Addr().(*net.TCPAddr).Port}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(ioWait))
				script(m, n, c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return m
}

func scriptedListener(t *testing.T, e *Engine, m *scriptedMember) string {
	t.Helper()
	port := freePort(t)
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{httpListener("l1", port, "p1")},
		Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin,
			dataplane.Member{ID: "m", Address: "127.0.0.1", ProtocolPort: m.port, Weight: 1, AdminStateUp: true})}})
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// TestHTTPResponseFraming: what a member sends is re-framed before a client reads it. A
// chunked body reaches the client in the engine's own chunks (no extensions, no trailers),
// an HTTP/1.0 client gets the data alone and the end of the connection, a response with
// both Content-Length and chunked framing is forwarded as chunked, and interim responses
// are rebuilt with CRLF line ends. Malformed chunk framing from a member is 502.
func TestHTTPResponseFraming(t *testing.T) {
	checkGoroutines(t)
	m := startScriptedMember(t, func(m *scriptedMember, conn int, c net.Conn, br *bufio.Reader) {
		for {
			line := readHead(br)
			if line == "" {
				return
			}
			m.event("conn %d: %s", conn, line)
			switch {
			case strings.Contains(line, "/chunked"):
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=\"x\"\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n")
			case strings.Contains(line, "/both"):
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
			case strings.Contains(line, "/interim"):
				io.WriteString(c, "HTTP/1.1 103 Early Hints\nLink: </a.css>\n\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			case strings.Contains(line, "/badchunk"):
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n")
				return
			case strings.Contains(line, "/badreason"):
				io.WriteString(c, "HTTP/1.1 200 O\rK\r\nContent-Length: 2\r\n\r\nok")
				return
			}
		}
	})
	e := newEngine(t, Options{})
	addr := scriptedListener(t, e, m)

	for _, tc := range []struct{ name, req, want string }{
		{"chunked re-framed", "GET /chunked HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"},
		{"chunked to HTTP/1.0", "GET /chunked HTTP/1.0\r\n\r\n",
			"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabcde"},
		{"both framings", "GET /both HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
		{"interim rebuilt", "GET /interim HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rawExchange(t, addr, tc.req); got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	for _, path := range []string{"/badchunk", "/badreason"} {
		if got := statusOf(rawExchange(t, addr, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n")); got != "HTTP/1.1 502 Bad Gateway" {
			t.Errorf("GET %s: %q, want 502", path, got)
		}
	}
	// The response with both framings does not leave its connection for reuse.
	ev := m.log()
	for i, e := range ev {
		if !strings.Contains(e, "/both") {
			continue
		}
		conn, _, _ := strings.Cut(e, ":")
		for _, later := range ev[i+1:] {
			if strings.HasPrefix(later, conn+":") {
				t.Errorf("the connection of the response with both framings was reused: %q", ev)
			}
		}
	}
}

// TestHTTPNoBodyResponseNotReused: a response to HEAD, or a 204 or 304, that announces a
// body may be followed by body bytes nobody reads on its member connection; the engine
// must not hand that connection to the next request, which would read them as its
// response.
func TestHTTPNoBodyResponseNotReused(t *testing.T) {
	checkGoroutines(t)
	for _, tc := range []struct{ name, req, resp string }{
		{"204", "GET /first HTTP/1.1", "HTTP/1.1 204 No Content\r\nContent-Length: 40\r\n\r\n"},
		{"304", "GET /first HTTP/1.1", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"HEAD", "HEAD /first HTTP/1.1", "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := startScriptedMember(t, func(m *scriptedMember, conn int, c net.Conn, br *bufio.Reader) {
				for {
					line := readHead(br)
					if line == "" {
						return
					}
					m.event("conn %d: %s", conn, line)
					if strings.Contains(line, "/first") {
						io.WriteString(c, tc.resp)
						continue
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal")
				}
			})
			e := newEngine(t, Options{})
			addr := scriptedListener(t, e, m)
			rawExchange(t, addr, tc.req+"\r\nHost: a\r\nConnection: close\r\n\r\n")
			resp := rawExchange(t, addr, "GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
			if !strings.HasSuffix(resp, "real") {
				t.Fatalf("next request: %q", resp)
			}
			ev := m.log()
			if len(ev) != 2 || ev[0] != "conn 1: "+tc.req || ev[1] != "conn 2: GET /next HTTP/1.1" {
				t.Fatalf("member events %q: the first response's connection must not carry the next request", ev)
			}
		})
	}
}

// TestHTTPRequestLineTooLong: a request line longer than the head limit is 414; a head
// too large with a normal request line stays 431.
func TestHTTPRequestLineTooLong(t *testing.T) {
	checkGoroutines(t)
	a := startBackend(t, "a")
	port := freePort(t)
	e := newEngine(t, Options{})
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{httpListener("l1", port, "p1")},
		Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))}})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if got := statusOf(rawExchange(t, addr, "GET /"+strings.Repeat("a", 20<<10)+" HTTP/1.1\r\nHost: a\r\n\r\n")); got != "HTTP/1.1 414 URI Too Long" {
		t.Errorf("long request line: %q", got)
	}
	if got := statusOf(rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nX: "+strings.Repeat("a", 20<<10)+"\r\n\r\n")); got != "HTTP/1.1 431 Request Header Fields Too Large" {
		t.Errorf("long field: %q", got)
	}
}

// TestL7RulesSeeWhatTheMemberGets: HEADER rules on a header the engine inserts read the
// engine's value, not a client's copy, and a HEADER rule on Host reads the request's one
// host (the absolute-form authority).
func TestL7RulesSeeWhatTheMemberGets(t *testing.T) {
	checkGoroutines(t)
	a := startBackend(t, "a")
	port := freePort(t)
	l := httpListener("l1", port, "p1")
	l.InsertHeaders = map[string]string{"X-Forwarded-Proto": "true", "X-Forwarded-For": "true"}
	reject := func(id string, pos int, rules ...dataplane.L7Rule) dataplane.L7Policy {
		return dataplane.L7Policy{ID: id, Position: pos, Action: dataplane.ActionReject, Rules: rules}
	}
	l.L7Policies = []dataplane.L7Policy{
		reject("claims-https", 1, l7rule(dataplane.RuleHeader, dataplane.CompareEqualTo, "X-Forwarded-Proto", "https")),
		reject("admin-host", 2, l7rule(dataplane.RuleHeader, dataplane.CompareEqualTo, "Host", "admin.example")),
	}
	e := newEngine(t, Options{})
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l},
		Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))}})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for _, tc := range []struct{ name, req, want string }{
		{"the engine's X-Forwarded-Proto, not the client's", "GET / HTTP/1.1\r\nHost: app.example\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n", "200"},
		{"Host", "GET / HTTP/1.1\r\nHost: admin.example\r\nConnection: close\r\n\r\n", "403"},
		{"host of an absolute-form target", "GET http://admin.example/ HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n", "403"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusOf(rawExchange(t, addr, tc.req)); !strings.Contains(got, " "+tc.want+" ") {
				t.Fatalf("%q: %q, want %s", tc.req, got, tc.want)
			}
		})
	}
}
