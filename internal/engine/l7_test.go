package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/clock"
)

func l7rule(typ, cmp, key, value string) dataplane.L7Rule {
	return dataplane.L7Rule{ID: typ + "-" + value, Type: typ, CompareType: cmp, Key: key, Value: value}
}

func toPool(id string, pos int, pool string, rules ...dataplane.L7Rule) dataplane.L7Policy {
	return dataplane.L7Policy{ID: id, Position: pos, Action: dataplane.ActionRedirectToPool, RedirectPoolID: pool, Rules: rules}
}

// l7conn is a raw keep-alive client connection for exact answers.
type l7conn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialL7(t *testing.T, port int) *l7conn {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &l7conn{t: t, c: c, br: bufio.NewReader(c)}
}

// send writes a request; the exchange (send, then read) has ioWait.
func (lc *l7conn) send(raw string) {
	lc.t.Helper()
	lc.c.SetDeadline(time.Now().Add(ioWait))
	if _, err := io.WriteString(lc.c, raw); err != nil {
		lc.t.Fatalf("write: %v", err)
	}
}

func (lc *l7conn) read(method string) (*http.Response, string) {
	lc.t.Helper()
	return readResponse(lc.t, lc.br, method)
}

// closed reports whether the server closed the connection: no further byte, and an end
// of stream or a reset (closing with unread input resets) rather than a timeout.
func (lc *l7conn) closed() bool {
	lc.c.SetReadDeadline(time.Now().Add(ioWait))
	_, err := lc.br.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestL7PathRouting sends /api requests to a second pool and the rest to the default
// pool, on one keep-alive connection that switches pools between requests.
func TestL7PathRouting(t *testing.T) {
	checkGoroutines(t)
	a, b := startBackend(t, "a"), startBackend(t, "b")
	port := freePort(t)
	e := newEngine(t, Options{})
	l := httpListener("l1", port, "pa")
	l.L7Policies = []dataplane.L7Policy{toPool("api", 1, "pb", l7rule(dataplane.RulePath, dataplane.CompareStartsWith, "", "/api"))}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{
		pool("pa", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")),
		pool("pb", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("mb")),
	}})
	kc, err := dialKeepAlive(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	for i := 0; i < 3; i++ {
		for _, tc := range []struct{ path, want string }{
			{"/api/users", "b"}, {"/", "a"}, {"/api", "b"}, {"/apix?q=1", "b"}, {"/v1/api", "a"}, {"/API/users", "a"}, {"/x?p=/api", "a"},
		} {
			resp, body, err := kc.get(tc.path)
			if err != nil {
				t.Fatalf("request %d on one keep-alive connection: %v", i, err)
			}
			if resp.StatusCode != 200 || body != tc.want {
				t.Fatalf("GET %s: %d %q, want 200 %q", tc.path, resp.StatusCode, body, tc.want)
			}
		}
	}
	if a.hits.Load() != 12 || b.hits.Load() != 9 {
		t.Fatalf("hits a=%d b=%d, want 12 and 9", a.hits.Load(), b.hits.Load())
	}
	var pa, pb int64
	for _, m := range e.Stats().Members {
		switch m.PoolID {
		case "pa":
			pa += m.TotalConnections
		case "pb":
			pb += m.TotalConnections
		}
	}
	if pa != 12 || pb != 9 {
		t.Fatalf("member stats: pa %d, pb %d requests, want 12 and 9", pa, pb)
	}
}

// TestL7HeaderCookieHostRouting routes by header, cookie and host, ANDs rules within a
// policy, and leaves requests no policy claims on the default pool.
func TestL7HeaderCookieHostRouting(t *testing.T) {
	checkGoroutines(t)
	a, b, c, d := startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c"), startBackend(t, "d")
	port := freePort(t)
	e := newEngine(t, Options{})
	l := httpListener("l1", port, "pa")
	l.L7Policies = []dataplane.L7Policy{
		toPool("canary-beta", 1, "pd", l7rule(dataplane.RuleHeader, dataplane.CompareEqualTo, "X-Canary", "1"),
			l7rule(dataplane.RuleCookie, dataplane.CompareEqualTo, "env", "beta")),
		toPool("canary", 2, "pb", l7rule(dataplane.RuleHeader, dataplane.CompareEqualTo, "X-Canary", "1")),
		toPool("beta", 3, "pc", l7rule(dataplane.RuleCookie, dataplane.CompareRegex, "env", "^(beta|staging)$")),
		toPool("host", 4, "pd", l7rule(dataplane.RuleHostName, dataplane.CompareEndsWith, "", ".internal.example")),
	}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{
		pool("pa", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")),
		pool("pb", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("mb")),
		pool("pc", dataplane.ProtocolHTTP, dataplane.RoundRobin, c.member("mc")),
		pool("pd", dataplane.ProtocolHTTP, dataplane.RoundRobin, d.member("md")),
	}})
	lc := dialL7(t, port)
	for _, tc := range []struct{ name, head, want string }{
		{"nothing", "Host: www.example\r\n", "a"},
		{"header", "Host: www.example\r\nX-Canary: 1\r\n", "b"},
		{"header other value", "Host: www.example\r\nX-Canary: 2\r\n", "a"},
		{"header name case", "Host: www.example\r\nx-canary: 1\r\n", "b"},
		{"cookie", "Host: www.example\r\nCookie: a=1; env=staging\r\n", "c"},
		{"cookie other name", "Host: www.example\r\nCookie: ENV=beta\r\n", "a"},
		{"header and cookie", "Host: www.example\r\nCookie: env=beta\r\nX-Canary: 1\r\n", "d"},
		{"host with port and case", "Host: API.Internal.Example:8080\r\n", "d"},
		{"host suffix only", "Host: internal.example.com\r\n", "a"},
	} {
		lc.send("GET /x HTTP/1.1\r\n" + tc.head + "\r\n")
		resp, body := lc.read("GET")
		if resp.StatusCode != 200 || body != tc.want {
			t.Fatalf("%s: %d %q, want 200 %q", tc.name, resp.StatusCode, body, tc.want)
		}
	}
}

// TestL7RedirectsAndReject checks the answers the engine gives itself: exact status,
// Location and body, keep-alive kept, request_errors counting rejections only.
func TestL7RedirectsAndReject(t *testing.T) {
	checkGoroutines(t)
	a := startBackend(t, "a")
	port := freePort(t)
	e := newEngine(t, Options{})
	l := httpListener("l1", port, "pa")
	path := func(cmp, v string) []dataplane.L7Rule {
		return []dataplane.L7Rule{l7rule(dataplane.RulePath, cmp, "", v)}
	}
	l.L7Policies = []dataplane.L7Policy{
		{ID: "moved", Position: 1, Action: dataplane.ActionRedirectToURL, RedirectURL: "https://www.example.com/new?from=old", RedirectHTTPCode: 301,
			Rules: path(dataplane.CompareEqualTo, "/moved")},
		{ID: "temp", Position: 2, Action: dataplane.ActionRedirectToURL, RedirectURL: "http://other.example/", Rules: path(dataplane.CompareEqualTo, "/temp")},
		{ID: "prefix", Position: 3, Action: dataplane.ActionRedirectPrefix, RedirectPrefix: "https://new.example", RedirectHTTPCode: 308,
			Rules: path(dataplane.CompareStartsWith, "/old/")},
		{ID: "deny", Position: 4, Action: dataplane.ActionReject, Rules: path(dataplane.CompareStartsWith, "/admin")},
	}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{
		pool("pa", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))}})

	lc := dialL7(t, port)
	for _, tc := range []struct {
		name, req, method string
		code              int
		location, body    string
		cacheControl      string
	}{
		{"301", "GET /moved HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 301, "https://www.example.com/new?from=old", "", ""},
		{"302 default", "GET /temp?a=b HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 302, "http://other.example/", "", "no-cache"},
		{"prefix keeps path and query", "GET /old/a/b.html?x=1&y=%20 HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 308, "https://new.example/old/a/b.html?x=1&y=%20", "", ""},
		{"prefix of absolute-form", "GET http://h/old/z?q HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 308, "https://new.example/old/z?q", "", ""},
		{"forwarded between", "GET /fine HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 200, "", "a", ""},
		{"reject", "GET /admin/x HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 403, "", "403 Forbidden\n", "no-cache"},
		{"reject HEAD has no body", "HEAD /admin HTTP/1.1\r\nHost: h\r\n\r\n", "HEAD", 403, "", "", "no-cache"},
		{"reject with a body", "POST /admin HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world", "POST", 403, "", "403 Forbidden\n", "no-cache"},
		{"redirect with a chunked body", "POST /temp HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "POST", 302, "http://other.example/", "", "no-cache"},
		{"forwarded after", "GET /fine HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 200, "", "a", ""},
	} {
		lc.send(tc.req)
		resp, body := lc.read(tc.method)
		if resp.StatusCode != tc.code || resp.Header.Get("Location") != tc.location || body != tc.body || resp.Close {
			t.Fatalf("%s: %d Location=%q body=%q close=%v, want %d %q %q keep-alive", tc.name, resp.StatusCode, resp.Header.Get("Location"), body, resp.Close, tc.code, tc.location, tc.body)
		}
		if tc.code != 200 {
			wantCL := fmt.Sprint(len(tc.body))
			if tc.method == "HEAD" {
				wantCL = "14"
			}
			if cl := resp.Header.Get("Content-Length"); cl != wantCL || resp.Header.Get("Cache-Control") != tc.cacheControl {
				t.Fatalf("%s: Content-Length %q Cache-Control %q, want %q %q", tc.name, cl, resp.Header.Get("Cache-Control"), wantCL, tc.cacheControl)
			}
		}
	}
	if a.hits.Load() != 2 {
		t.Fatalf("backend saw %d requests, want the 2 forwarded ones", a.hits.Load())
	}
	st := e.Stats().Listeners[0]
	if st.RequestErrors != 3 || st.TotalConnections != 1 || st.BytesIn == 0 || st.BytesOut == 0 {
		t.Fatalf("listener stats %+v: want 3 request errors (the rejections), 1 connection", st)
	}

	// HTTP/1.0 keep-alive is answered as such; HTTP/1.0 without it closes.
	lc10 := dialL7(t, port)
	lc10.send("GET /moved HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	if resp, _ := lc10.read("GET"); resp.StatusCode != 301 || resp.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("HTTP/1.0 keep-alive redirect: %d Connection %q", resp.StatusCode, resp.Header.Get("Connection"))
	}
	lc10.send("GET /moved HTTP/1.0\r\n\r\n")
	if resp, _ := lc10.read("GET"); resp.StatusCode != 301 || !resp.Close || !lc10.closed() {
		t.Fatalf("HTTP/1.0 redirect without keep-alive: %d close=%v", resp.StatusCode, resp.Close)
	}
	// Connection: close is honoured.
	lcc := dialL7(t, port)
	lcc.send("GET /admin HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	if resp, _ := lcc.read("GET"); resp.StatusCode != 403 || !resp.Close || !lcc.closed() {
		t.Fatalf("reject with Connection: close: %d close=%v", resp.StatusCode, resp.Close)
	}
}

// TestL7AnswerBodies checks what happens to request bodies of requests the engine answers
// itself: read and dropped when small, the connection closed when the client waits for a
// 100 Continue or the body is too long to drop.
func TestL7AnswerBodies(t *testing.T) {
	checkGoroutines(t)
	a := startBackend(t, "a")
	port := freePort(t)
	e := newEngine(t, Options{})
	l := httpListener("l1", port, "pa")
	l.L7Policies = []dataplane.L7Policy{{ID: "deny", Position: 1, Action: dataplane.ActionReject,
		Rules: []dataplane.L7Rule{l7rule(dataplane.RulePath, dataplane.CompareEqualTo, "", "/deny")}}}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{
		pool("pa", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))}})

	// A body sent after the answer arrived is still dropped, and the next request on the
	// connection is forwarded.
	lc := dialL7(t, port)
	lc.send("PUT /deny HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n")
	if resp, _ := lc.read("PUT"); resp.StatusCode != 403 || resp.Close {
		t.Fatalf("reject before the body: %d close=%v", resp.StatusCode, resp.Close)
	}
	lc.send(strings.Repeat("x", 100000) + "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, body := lc.read("GET"); resp.StatusCode != 200 || body != "a" {
		t.Fatalf("request after a dropped body: %d %q", resp.StatusCode, body)
	}
	// Chunked, in pieces.
	lc.send("POST /deny HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab")
	if resp, _ := lc.read("POST"); resp.StatusCode != 403 || resp.Close {
		t.Fatalf("reject of a chunked body: %d close=%v", resp.StatusCode, resp.Close)
	}
	lc.send("cd\r\n0\r\n\r\nGET /ok HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, body := lc.read("GET"); resp.StatusCode != 200 || body != "a" {
		t.Fatalf("request after a dropped chunked body: %d %q", resp.StatusCode, body)
	}

	for _, tc := range []struct{ name, req string }{
		{"expect 100-continue", "PUT /deny HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n"},
		{"body too long to drop", "PUT /deny HTTP/1.1\r\nHost: h\r\nContent-Length: 10000000\r\n\r\nabc"},
		{"broken chunks", "POST /deny HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lc := dialL7(t, port)
			lc.send(tc.req)
			resp, body := lc.read("PUT")
			if resp.StatusCode != 403 || !resp.Close || body != "403 Forbidden\n" || !lc.closed() {
				t.Fatalf("%d close=%v body=%q: want 403 and the connection closed", resp.StatusCode, resp.Close, body)
			}
		})
	}
	// A chunked body that goes on beyond the bound closes the connection after the answer.
	lc2 := dialL7(t, port)
	lc2.send("POST /deny HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
	if resp, _ := lc2.read("POST"); resp.StatusCode != 403 {
		t.Fatalf("reject of a long chunked body: %d", resp.StatusCode)
	}
	chunk := "10000\r\n" + strings.Repeat("y", 0x10000) + "\r\n"
	var werr error
	for i := 0; i < 8 && werr == nil; i++ { // 512 KiB > the 256 KiB bound
		_, werr = io.WriteString(lc2.c, chunk)
	}
	if !lc2.closed() {
		t.Fatal("connection still open after 512 KiB of a dropped body")
	}
	if a.hits.Load() != 2 {
		t.Fatalf("backend saw %d requests, want 2", a.hits.Load())
	}
}

// TestL7PipelinedAndOrder sends pipelined requests that each go their own way, with
// policies listed out of position order, and a policy ahead that shadows a later one.
func TestL7PipelinedAndOrder(t *testing.T) {
	checkGoroutines(t)
	a, b, c := startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c")
	port := freePort(t)
	e := newEngine(t, Options{})
	l := httpListener("l1", port, "pa")
	l.L7Policies = []dataplane.L7Policy{
		toPool("all-api", 3, "pc", l7rule(dataplane.RulePath, dataplane.CompareStartsWith, "", "/api")),
		{ID: "json", Position: 2, Action: dataplane.ActionReject, Rules: []dataplane.L7Rule{l7rule(dataplane.RuleFileType, dataplane.CompareEqualTo, "", "json")}},
		toPool("api-v2", 1, "pb", l7rule(dataplane.RulePath, dataplane.CompareRegex, "", `^/api/v2(/|$)`)),
	}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{
		pool("pa", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")),
		pool("pb", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("mb")),
		pool("pc", dataplane.ProtocolHTTP, dataplane.RoundRobin, c.member("mc")),
	}})
	want := []struct {
		path string
		code int
		body string
	}{
		{"/api/v2/x.json", 200, "b"}, // position 1 wins over the rejection at 2
		{"/api/v1/x.json", 403, "403 Forbidden\n"},
		{"/api/v1/x", 200, "c"},
		{"/api/v2", 200, "b"},
		{"/x.json", 403, "403 Forbidden\n"},
		{"/", 200, "a"},
	}
	lc := dialL7(t, port)
	var all strings.Builder
	for _, w := range want {
		fmt.Fprintf(&all, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", w.path)
	}
	lc.send(all.String()) // one write: the requests arrive pipelined
	for _, w := range want {
		resp, body := lc.read("GET")
		if resp.StatusCode != w.code || body != w.body {
			t.Fatalf("pipelined %s: %d %q, want %d %q", w.path, resp.StatusCode, body, w.code, w.body)
		}
	}
}

// TestL7PoolPersistenceAndHealth shows that a redirect pool brings its own algorithm,
// session persistence and member health.
func TestL7PoolPersistenceAndHealth(t *testing.T) {
	checkGoroutines(t)
	a, b1, b2, b3 := startBackend(t, "a"), startBackend(t, "b1"), startBackend(t, "b2"), startBackend(t, "b3")
	port := freePort(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e := newEngine(t, Options{Clock: clk})
	l := httpListener("l1", port, "pa")
	l.L7Policies = []dataplane.L7Policy{toPool("api", 1, "pb", l7rule(dataplane.RulePath, dataplane.CompareStartsWith, "", "/api"))}
	pb := pool("pb", dataplane.ProtocolHTTP, dataplane.RoundRobin, b1.member("mb1"), b2.member("mb2"), b3.member("mb3"))
	pb.SessionPersistence = &dataplane.SessionPersistence{Type: dataplane.PersistHTTPCookie}
	pb.HealthMonitor = &dataplane.HealthMonitor{Type: dataplane.MonitorTCP, Delay: 5, Timeout: 30, MaxRetries: 1, MaxRetriesDown: 1, AdminStateUp: true}
	pb.Members[2].MonitorPort = freePort(t) // nothing listens there: mb3 goes DOWN, though it would answer
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{
		pool("pa", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")), pb}})
	s := &stepper{t: t, e: e, clk: clk, delay: 5 * time.Second, checkers: 3}
	if h := s.waitProbe("mb3"); h.Status != dataplane.StatusDown {
		t.Fatalf("mb3 health %+v, want DOWN", h)
	}
	c := newClient()
	defer c.CloseIdleConnections()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	got := map[string]int{}
	cookies := map[string]string{}
	for i := 0; i < 10; i++ {
		resp, err := c.Get(base + "/api/x")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got[string(body)]++
		cookies[string(body)] = resp.Header.Get("Set-Cookie")
	}
	if got["b1"] != 5 || got["b2"] != 5 {
		t.Fatalf("round robin over the healthy members of the redirect pool: %v, want b1 5, b2 5", got)
	}
	if cookies["b1"] != "SRV=mb1; path=/" || cookies["b2"] != "SRV=mb2; path=/" {
		t.Fatalf("HTTP_COOKIE persistence of the redirect pool: %v", cookies)
	}
	for i := 0; i < 4; i++ {
		req, _ := http.NewRequest("GET", base+"/api/y", nil)
		req.Header.Set("Cookie", "SRV=mb2")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "b2" || resp.Header.Get("Set-Cookie") != "" {
			t.Fatalf("request with SRV=mb2: %q Set-Cookie %q", body, resp.Header.Get("Set-Cookie"))
		}
	}
	resp, err := c.Get(base + "/other")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "a" || resp.Header.Get("Set-Cookie") != "" {
		t.Fatalf("default pool (no persistence): %q Set-Cookie %q", body, resp.Header.Get("Set-Cookie"))
	}
	if b3.hits.Load() != 0 {
		t.Fatalf("the DOWN member got %d requests", b3.hits.Load())
	}
}

// TestL7NoDefaultPool answers 503 for requests no policy claims when the listener has no
// default pool.
func TestL7NoDefaultPool(t *testing.T) {
	checkGoroutines(t)
	b := startBackend(t, "b")
	port := freePort(t)
	e := newEngine(t, Options{})
	l := httpListener("l1", port, "")
	l.L7Policies = []dataplane.L7Policy{toPool("api", 1, "pb", l7rule(dataplane.RuleHostName, dataplane.CompareEqualTo, "", "api.example"))}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{
		pool("pb", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("mb"))}})
	lc := dialL7(t, port)
	lc.send("GET / HTTP/1.1\r\nHost: api.example\r\n\r\n")
	if resp, body := lc.read("GET"); resp.StatusCode != 200 || body != "b" {
		t.Fatalf("claimed request: %d %q", resp.StatusCode, body)
	}
	lc.send("GET / HTTP/1.1\r\nHost: www.example\r\n\r\n")
	if resp, _ := lc.read("GET"); resp.StatusCode != 503 {
		t.Fatalf("unclaimed request without a default pool: %d, want 503", resp.StatusCode)
	}
}

// TestL7ReloadUnderLoad changes the policies 40 times while keep-alive clients send
// requests without pause: no request fails, no connection drops, and each answer is one
// that the config in force when it was sent allows.
func TestL7ReloadUnderLoad(t *testing.T) {
	checkGoroutines(t)
	a, b, c := startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c")
	port := freePort(t)
	e := newEngine(t, Options{})
	pools := []dataplane.Pool{
		pool("pa", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")),
		pool("pb", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("mb")),
		pool("pc", dataplane.ProtocolHTTP, dataplane.LeastConnections, c.member("mc")),
	}
	// Version v sends /api to pb (odd) or pc (even); every third version adds a
	// redirect of /old, which other versions forward to the default pool.
	cfgFor := func(v int) *dataplane.Config {
		l := httpListener("l1", port, "pa")
		target := "pb"
		if v%2 == 0 {
			target = "pc"
		}
		l.L7Policies = []dataplane.L7Policy{toPool("api", 1, target, l7rule(dataplane.RulePath, dataplane.CompareStartsWith, "", "/api"))}
		if v%3 == 0 {
			l.L7Policies = append(l.L7Policies, dataplane.L7Policy{ID: "old", Position: 2, Action: dataplane.ActionRedirectToURL,
				RedirectURL: "http://new.example/", Rules: []dataplane.L7Rule{l7rule(dataplane.RulePath, dataplane.CompareEqualTo, "", "/old")}})
		}
		return &dataplane.Config{Version: uint64(v), Listeners: []dataplane.Listener{l}, Pools: pools}
	}
	mustApply(t, e, cfgFor(1))
	accept := map[string]map[string]bool{
		"/api/x": {"200 b": true, "200 c": true},
		"/x":     {"200 a": true},
		"/old":   {"200 a": true, "302 http://new.example/": true},
	}
	paths := []string{"/api/x", "/x", "/old"}
	load := startKeepAliveLoad(t, fmt.Sprintf("127.0.0.1:%d", port), 4, func(i int) string { return paths[i%3] },
		func(path string, resp *http.Response, body string) error {
			got := fmt.Sprintf("%d %s", resp.StatusCode, body)
			if resp.StatusCode == 302 {
				got = fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			if !accept[path][got] {
				return fmt.Errorf("GET %s: %s", path, got)
			}
			return nil
		})
	load.advance(t, 3)
	for v := 2; v <= 41; v++ {
		mustApply(t, e, cfgFor(v))
		load.advance(t, 4) // each path at least once after this version took over
	}
	n := load.stop(t)
	if st := e.Stats().Listeners[0]; st.TotalConnections != 4 {
		t.Fatalf("the listener accepted %d connections, want the 4 kept alive", st.TotalConnections)
	}
	// The last version (41: odd, not a multiple of 3) is in force for new requests.
	cl := newClient()
	defer cl.CloseIdleConnections()
	for path, want := range map[string]string{"/api/x": "b", "/old": "a"} {
		if code, body := get(t, cl, fmt.Sprintf("http://127.0.0.1:%d%s", port, path)); code != 200 || body != want {
			t.Fatalf("after the reloads GET %s: %d %q, want 200 %q", path, code, body, want)
		}
	}
	t.Logf("40 policy changes under load: %d requests on 4 keep-alive connections, 0 failed", n)
}

// TestL7Refusals checks that Apply refuses invalid policies with the field path and keeps
// the old config serving.
func TestL7Refusals(t *testing.T) {
	checkGoroutines(t)
	a := startBackend(t, "a")
	port, tcpPort := freePort(t), freePort(t)
	e := newEngine(t, Options{})
	good := &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{httpListener("l1", port, "pa")}, Pools: []dataplane.Pool{
		pool("pa", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")),
		pool("pu", dataplane.ProtocolUDP, dataplane.RoundRobin),
	}}
	mustApply(t, e, good)
	for _, tc := range []struct {
		name   string
		mutate func(c *dataplane.Config)
		want   string
	}{
		{"bad regex", func(c *dataplane.Config) {
			c.Listeners[0].L7Policies = []dataplane.L7Policy{toPool("p", 1, "pa", l7rule(dataplane.RulePath, dataplane.CompareRegex, "", "^/(a"))}
		}, "listeners[0].l7policies[0].rules[0].value: invalid regular expression"},
		{"missing pool", func(c *dataplane.Config) {
			c.Listeners[0].L7Policies = []dataplane.L7Policy{toPool("p", 1, "nope", l7rule(dataplane.RulePath, dataplane.CompareEqualTo, "", "/"))}
		}, `listeners[0].l7policies[0].redirect_pool_id: pool "nope" not found`},
		{"udp pool", func(c *dataplane.Config) {
			c.Listeners[0].L7Policies = []dataplane.L7Policy{toPool("p", 1, "pu", l7rule(dataplane.RulePath, dataplane.CompareEqualTo, "", "/"))}
		}, "listeners[0].l7policies[0].redirect_pool_id: pool protocol UDP (pools[1]) is invalid for a HTTP listener"},
		{"tcp listener", func(c *dataplane.Config) {
			l := tcpListener("l2", dataplane.ProtocolTCP, tcpPort, "pa")
			l.L7Policies = []dataplane.L7Policy{toPool("p", 1, "pa", l7rule(dataplane.RulePath, dataplane.CompareEqualTo, "", "/"))}
			c.Listeners = append(c.Listeners, l)
		}, "listeners[1].l7policies: L7 policies are only supported on HTTP and TERMINATED_HTTPS listeners, not on a TCP listener"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := good.Clone()
			bad.Version = 2
			tc.mutate(bad)
			err := e.Apply(context.Background(), bad)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("apply: %v, want an error containing %q", err, tc.want)
			}
			if code, body := get(t, newClient(), fmt.Sprintf("http://127.0.0.1:%d/", port)); code != 200 || body != "a" || e.Version() != 1 {
				t.Fatalf("old config no longer serving: %d %q version %d", code, body, e.Version())
			}
		})
	}
}

// TestL7IdleKeepAliveTakesNewPolicies changes the policies while a keep-alive connection
// waits between requests: its next request is matched against the new policies.
func TestL7IdleKeepAliveTakesNewPolicies(t *testing.T) {
	checkGoroutines(t)
	a, b := startBackend(t, "a"), startBackend(t, "b")
	port := freePort(t)
	e := newEngine(t, Options{})
	pools := []dataplane.Pool{
		pool("pa", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")),
		pool("pb", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("mb")),
	}
	l := httpListener("l1", port, "pa")
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: pools})
	lc := dialL7(t, port)
	steps := []struct {
		policies []dataplane.L7Policy
		want     string
	}{
		{nil, "a"},
		{[]dataplane.L7Policy{toPool("api", 1, "pb", l7rule(dataplane.RulePath, dataplane.CompareStartsWith, "", "/api"))}, "b"},
		{[]dataplane.L7Policy{{ID: "deny", Position: 1, Action: dataplane.ActionReject,
			Rules: []dataplane.L7Rule{l7rule(dataplane.RulePath, dataplane.CompareStartsWith, "", "/api")}}}, "403 Forbidden\n"},
		{nil, "a"},
	}
	for i, s := range steps {
		if i > 0 {
			l.L7Policies = s.policies
			mustApply(t, e, &dataplane.Config{Version: uint64(i + 1), Listeners: []dataplane.Listener{l}, Pools: pools})
		}
		lc.send("GET /api/x HTTP/1.1\r\nHost: h\r\n\r\n")
		if _, body := lc.read("GET"); body != s.want {
			t.Fatalf("step %d: request on the idle keep-alive connection answered %q, want %q", i, body, s.want)
		}
	}
	if st := e.Stats().Listeners[0]; st.TotalConnections != 1 {
		t.Fatalf("%d connections, want the one keep-alive connection", st.TotalConnections)
	}
}
