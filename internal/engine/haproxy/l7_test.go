package haproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// Cases copied from internal/engine/l7_test.go (not ported: TestL7AnswerBodies, which
// pins the native engine's own body-draining bounds) and the native engine's rules on
// normalised paths and inserted headers (docs/dataplane.md), run through HAProxy.

// countingClient is a keep-alive client that counts the connections it opens.
func countingClient(dials *atomic.Int64) *http.Client {
	d := &net.Dialer{}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		}}}
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
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &l7conn{t: t, c: c, br: bufio.NewReader(c)}
}

func (lc *l7conn) send(raw string) {
	lc.t.Helper()
	if _, err := io.WriteString(lc.c, raw); err != nil {
		lc.t.Fatalf("write: %v", err)
	}
}

func (lc *l7conn) read(method string) (*http.Response, string) {
	lc.t.Helper()
	return readResponse(lc.t, lc.br, method)
}

func TestL7PathRouting(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	port := freePort(t)
	e := newEngine(t, Options{})
	l := httpListener("l1", port, "pa")
	l.L7Policies = []dataplane.L7Policy{toPool("api", 1, "pb", l7rule(dataplane.RulePath, dataplane.CompareStartsWith, "", "/api"))}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{
		pool("pa", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")),
		pool("pb", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("mb")),
	}})
	var dials atomic.Int64
	c := countingClient(&dials)
	defer c.CloseIdleConnections()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; i < 3; i++ {
		for _, tc := range []struct{ path, want string }{
			{"/api/users", "b"}, {"/", "a"}, {"/api", "b"}, {"/apix?q=1", "b"}, {"/v1/api", "a"}, {"/API/users", "a"}, {"/x?p=/api", "a"},
		} {
			if code, body := get(t, c, base+tc.path); code != 200 || body != tc.want {
				t.Fatalf("GET %s: %d %q, want 200 %q", tc.path, code, body, tc.want)
			}
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("21 sequential keep-alive requests opened %d connections, want 1", n)
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

func TestL7HeaderCookieHostRouting(t *testing.T) {
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
		toPool("quoted", 5, "pc", l7rule(dataplane.RuleHeader, dataplane.CompareEqualTo, "X-Q", `"a b"`)),
		toPool("no-such-header-name", 6, "pd", l7rule(dataplane.RuleHeader, dataplane.CompareContains, "X-A,X-B", "x")),
		toPool("contains", 7, "pb", l7rule(dataplane.RuleHeader, dataplane.CompareContains, "X-Feature", "beta")),
		toPool("starts-not", 8, "pc", dataplane.L7Rule{ID: "inv", Type: dataplane.RuleCookie, CompareType: dataplane.CompareStartsWith, Key: "tier", Value: "gold", Invert: true},
			l7rule(dataplane.RuleHeader, dataplane.CompareEqualTo, "X-Tier-Check", "1")),
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
		{"header list element", "Host: www.example\r\nX-Canary: 3, 1\r\n", "b"},
		{"cookie", "Host: www.example\r\nCookie: a=1; env=staging\r\n", "c"},
		{"cookie other name", "Host: www.example\r\nCookie: ENV=beta\r\n", "a"},
		{"header and cookie", "Host: www.example\r\nCookie: env=beta\r\nX-Canary: 1\r\n", "d"},
		{"host with port and case", "Host: API.Internal.Example:8080\r\n", "d"},
		{"host with a trailing dot", "Host: api.internal.example.\r\n", "d"},
		{"host suffix only", "Host: internal.example.com\r\n", "a"},
		{"quoted value", "Host: www.example\r\nX-Q: a b\r\n", "c"},
		{"a header name no request carries", "Host: www.example\r\nX-A: x\r\n", "a"},
		{"contains", "Host: www.example\r\nX-Feature: xbetay\r\n", "b"},
		{"inverted rule, cookie absent", "Host: www.example\r\nX-Tier-Check: 1\r\n", "c"},
		{"inverted rule, cookie matching", "Host: www.example\r\nX-Tier-Check: 1\r\nCookie: tier=golden\r\n", "a"},
		{"inverted rule, other cookie value", "Host: www.example\r\nX-Tier-Check: 1\r\nCookie: tier=silver\r\n", "c"},
	} {
		lc.send("GET /x HTTP/1.1\r\n" + tc.head + "\r\n")
		resp, body := lc.read("GET")
		if resp.StatusCode != 200 || body != tc.want {
			t.Fatalf("%s: %d %q, want 200 %q", tc.name, resp.StatusCode, body, tc.want)
		}
	}
}

func TestL7RedirectsAndReject(t *testing.T) {
	a := startBackend(t, "a")
	port := freePort(t)
	e := newEngine(t, Options{})
	l := httpListener("l1", port, "pa")
	path := func(cmp, v string) []dataplane.L7Rule {
		return []dataplane.L7Rule{l7rule(dataplane.RulePath, cmp, "", v)}
	}
	l.L7Policies = []dataplane.L7Policy{
		{ID: "moved", Position: 1, Action: dataplane.ActionRedirectToURL, RedirectURL: "https://www.example.com/new?from=old&pct=%41", RedirectHTTPCode: 301,
			Rules: path(dataplane.CompareEqualTo, "/moved")},
		{ID: "temp", Position: 2, Action: dataplane.ActionRedirectToURL, RedirectURL: "http://other.example/", Rules: path(dataplane.CompareEqualTo, "/temp")},
		{ID: "prefix", Position: 3, Action: dataplane.ActionRedirectPrefix, RedirectPrefix: "https://new.example", RedirectHTTPCode: 308,
			Rules: path(dataplane.CompareStartsWith, "/old/")},
		{ID: "see-other", Position: 4, Action: dataplane.ActionRedirectToURL, RedirectURL: "https://x.example/'q'", RedirectHTTPCode: 303,
			Rules: path(dataplane.CompareEqualTo, "/see")},
		{ID: "deny", Position: 5, Action: dataplane.ActionReject, Rules: path(dataplane.CompareStartsWith, "/admin")},
	}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{
		pool("pa", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))}})

	lc := dialL7(t, port)
	for _, tc := range []struct {
		name, req, method string
		code              int
		location, body    string
	}{
		{"301, a % in the URL", "GET /moved HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 301, "https://www.example.com/new?from=old&pct=%41", ""},
		{"302 default", "GET /temp?a=b HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 302, "http://other.example/", ""},
		{"303, a quote in the URL", "GET /see HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 303, "https://x.example/'q'", ""},
		{"prefix keeps path and query", "GET /old/a/b.html?x=1&y=%20 HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 308, "https://new.example/old/a/b.html?x=1&y=%20", ""},
		{"forwarded between", "GET /fine HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 200, "", "a"},
		{"reject", "GET /admin/x HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 403, "", "403 Forbidden\n"},
		{"reject HEAD has no body", "HEAD /admin HTTP/1.1\r\nHost: h\r\n\r\n", "HEAD", 403, "", ""},
		{"forwarded after", "GET /fine HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 200, "", "a"},
	} {
		lc.send(tc.req)
		resp, body := lc.read(tc.method)
		if resp.StatusCode != tc.code || resp.Header.Get("Location") != tc.location || body != tc.body {
			t.Fatalf("%s: %d Location=%q body=%q, want %d %q %q", tc.name, resp.StatusCode, resp.Header.Get("Location"), body, tc.code, tc.location, tc.body)
		}
		if resp.Close {
			t.Fatalf("%s: the connection was closed after the answer", tc.name)
		}
	}
	if a.hits.Load() != 2 {
		t.Fatalf("backend saw %d requests, want the 2 forwarded ones", a.hits.Load())
	}
	st := e.Stats().Listeners[0]
	if st.RequestErrors != 2 || st.TotalConnections != 1 || st.BytesIn == 0 || st.BytesOut == 0 {
		t.Fatalf("listener stats %+v: want 2 request errors (the rejections), 1 connection", st)
	}
}

// TestL7PipelinedAndOrder sends pipelined requests that each go their own way, with
// policies listed out of position order, and a policy ahead that shadows a later one
// (HAProxy runs its http-request rules before use_backend: the engine keeps Octavia's
// order anyway).
func TestL7PipelinedAndOrder(t *testing.T) {
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
	lc.send(all.String())
	for _, w := range want {
		resp, body := lc.read("GET")
		if resp.StatusCode != w.code || body != w.body {
			t.Fatalf("pipelined %s: %d %q, want %d %q", w.path, resp.StatusCode, body, w.code, w.body)
		}
	}
}

// TestL7NormalisedPath: PATH and FILE_TYPE rules read the normalised path (the native
// engine's rule, done by the Lua helper), the member gets the target as written.
func TestL7NormalisedPath(t *testing.T) {
	a := startBackend(t, "a")
	port := freePort(t)
	e := newEngine(t, Options{})
	l := httpListener("l1", port, "pa")
	l.L7Policies = []dataplane.L7Policy{
		{ID: "admin", Position: 1, Action: dataplane.ActionReject, Rules: []dataplane.L7Rule{l7rule(dataplane.RulePath, dataplane.CompareStartsWith, "", "/admin")}},
		{ID: "jsp", Position: 2, Action: dataplane.ActionReject, Rules: []dataplane.L7Rule{l7rule(dataplane.RuleFileType, dataplane.CompareEqualTo, "", "jsp")}},
		{ID: "not-public", Position: 3, Action: dataplane.ActionReject, Rules: []dataplane.L7Rule{
			{ID: "inv", Type: dataplane.RulePath, CompareType: dataplane.CompareStartsWith, Value: "/public", Invert: true},
			l7rule(dataplane.RulePath, dataplane.CompareStartsWith, "", "/p"),
		}},
	}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{
		pool("pa", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))}})
	lc := dialL7(t, port)
	for _, tc := range []struct {
		target string
		code   int
	}{
		{"/admin", 403}, {"/%61dmin", 403}, {"//admin", 403}, {"/x/../admin", 403}, {"/./admin/", 403},
		{"/admin;jsessionid=1", 403}, {"/x/..;/admin", 403}, {"/%2e%2e/admin", 403}, {"/a%2fb/../../admin", 403},
		{"/index.jsp", 403}, {"/x.jsp;a=b", 403}, {"/x.JSP", 200}, {"/a.jsp/b", 200},
		{"/public/x", 200}, {"/private/x", 403}, {"/other", 200}, {"/adminx", 403}, {"/Admin", 200},
	} {
		lc.send("GET " + tc.target + " HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, _ := lc.read("GET"); resp.StatusCode != tc.code {
			t.Fatalf("GET %s: %d, want %d", tc.target, resp.StatusCode, tc.code)
		}
		if tc.code == 200 {
			if got := a.lastHeaders().Get("X-Test-URI"); got != tc.target {
				t.Fatalf("member got target %q, want %q as the client wrote it", got, tc.target)
			}
		}
	}
}

// TestL7RulesSeeWhatTheMemberGets: an inserted header replaces the client's copies (any
// case, '_' for '-'), HEADER rules see the engine's value, X-Forwarded-For ends with the
// client address, and X-Original-URL is dropped on a listener whose rules read the path.
func TestL7RulesSeeWhatTheMemberGets(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	port := freePort(t)
	e := newEngine(t, Options{})
	l := httpListener("l1", port, "pa")
	l.InsertHeaders = map[string]string{"X-Forwarded-For": "true", "X-Forwarded-Port": "TRUE", "X-Forwarded-Proto": "true",
		"X-Real-IP": "true", "X-Client-IP": "true", "X-Forwarded-IP": "true"}
	l.L7Policies = []dataplane.L7Policy{
		toPool("real-ip", 1, "pb", l7rule(dataplane.RuleHeader, dataplane.CompareEqualTo, "X-Real-IP", "10.0.0.1")),
		toPool("xff-last", 2, "pb", l7rule(dataplane.RuleHeader, dataplane.CompareEqualTo, "X-Forwarded-For", "127.0.0.9")),
		toPool("path", 3, "pb", l7rule(dataplane.RulePath, dataplane.CompareEqualTo, "", "/b")),
	}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{
		pool("pa", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")),
		pool("pb", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("mb"))}})
	c := dialFrom(t, "127.0.0.9", fmt.Sprintf("127.0.0.1:%d", port))
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /a HTTP/1.1\r\nHost: h\r\nX-Real-IP: 10.0.0.1\r\nx_real_ip: 10.0.0.1\r\nX-Forwarded-For: 10.9.9.9\r\n"+
		"X_Forwarded_For: 10.8.8.8\r\nX-Forwarded-Port: 1\r\nx-forwarded-proto: https\r\nX-CLIENT-IP: 10.0.0.2\r\nX-Original-URL: /b\r\n\r\n")
	resp, body := readResponse(t, br, "GET")
	// xff-last matches: the engine's element is the last one.
	if resp.StatusCode != 200 || body != "b" {
		t.Fatalf("%d %q: want the X-Forwarded-For rule (the client's X-Real-IP must not be seen) to send it to b", resp.StatusCode, body)
	}
	b.mu.Lock()
	got := b.reqs[len(b.reqs)-1]
	b.mu.Unlock()
	want := map[string][]string{
		"X-Real-Ip": {"127.0.0.9"}, "X-Client-Ip": {"127.0.0.9"}, "X-Forwarded-Ip": {"127.0.0.9"},
		"X-Forwarded-Port": {fmt.Sprint(port)}, "X-Forwarded-Proto": {"http"}, "X-Forwarded-For": {"10.9.9.9", "127.0.0.9"},
	}
	for k, v := range want {
		if strings.Join(got[k], "|") != strings.Join(v, "|") {
			t.Errorf("member saw %s = %q, want %q", k, got[k], v)
		}
	}
	for _, k := range []string{"X_real_ip", "X_forwarded_for", "X-Original-Url"} {
		if _, ok := got[k]; ok {
			t.Errorf("member saw %s: %q", k, got[k])
		}
	}
}

func TestL7NoDefaultPool(t *testing.T) {
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

// TestL7ReloadUnderLoad changes the policies 40 times while clients send requests without
// pause: no request fails, and each answer is one that a config in force allows.
func TestL7ReloadUnderLoad(t *testing.T) {
	a, b, c := startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c")
	port := freePort(t)
	e := newEngine(t, Options{})
	pools := []dataplane.Pool{
		pool("pa", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")),
		pool("pb", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("mb")),
		pool("pc", dataplane.ProtocolHTTP, dataplane.LeastConnections, c.member("mc")),
	}
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
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var ok, failed, dials atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	accept := map[string]map[string]bool{
		"/api/x": {"200 b": true, "200 c": true},
		"/x":     {"200 a": true},
		"/old":   {"200 a": true, "302 http://new.example/": true},
	}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := countingClient(&dials)
			cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			defer cl.CloseIdleConnections()
			paths := []string{"/api/x", "/x", "/old"}
			for i := 0; i < 100000 && ctx.Err() == nil; i++ { // bounded in count and time
				path := paths[i%3]
				resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
				if err == nil {
					var body []byte
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					got := fmt.Sprintf("%d %s", resp.StatusCode, body)
					if resp.StatusCode == 302 {
						got = fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("Location"))
					}
					if err == nil && !accept[path][got] {
						err = fmt.Errorf("GET %s: %s", path, got)
					}
				}
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	waitOK := func(n int64) {
		deadline := time.Now().Add(10 * time.Second)
		for ok.Load()+failed.Load() < n && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	for v := 2; v <= 41; v++ {
		waitOK(ok.Load() + failed.Load() + 20) // some traffic on each version
		mustApply(t, e, cfgFor(v))
	}
	waitOK(ok.Load() + failed.Load() + 20)
	cancel()
	wg.Wait()
	if failed.Load() != 0 || ok.Load() < 800 {
		t.Fatalf("40 policy changes under load: %d ok, %d failed (first: %v)", ok.Load(), failed.Load(), firstErr.Load())
	}
	cl := newClient()
	defer cl.CloseIdleConnections()
	for path, want := range map[string]string{"/api/x": "b", "/old": "a"} {
		if code, body := get(t, cl, fmt.Sprintf("http://127.0.0.1:%d%s", port, path)); code != 200 || body != want {
			t.Fatalf("after the reloads GET %s: %d %q, want 200 %q", path, code, body, want)
		}
	}
	t.Logf("40 policy changes under load: %d requests, %d connections (a replaced worker closes idle keep-alive connections; clients reconnect), 0 failed", ok.Load(), dials.Load())
}
