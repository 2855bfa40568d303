package engine

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/proxy"
)

// h2Client is an HTTP/2-only client for serverName verifying against roots: all its
// requests share one connection.
func h2Client(t *testing.T, ca *testCA, serverName string) *http.Client {
	var protos http.Protocols
	protos.SetHTTP2(true)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool(), ServerName: serverName}, Protocols: &protos}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: ioWait}
}

// h2Do sends one request and returns the response with its body read.
func h2Do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", req.Method, req.URL, err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("%s %s: answered in %s, want HTTP/2", req.Method, req.URL, resp.Proto)
	}
	return resp, string(body)
}

func h2Listener(port int, pool string, cert *dataplane.Certificate, alpn []string) dataplane.Listener {
	return httpsListener("l1", port, pool, &dataplane.ListenerTLS{DefaultCertificate: cert, ALPNProtocols: alpn})
}

// TestH2RoundRobinPerRequest: an HTTP/2 client on one connection to a TERMINATED_HTTPS
// listener whose ALPN list names h2 has its requests balanced one by one over two
// HTTP/1.1 members, with the inserted headers replacing the client's forged copies,
// bodies (sized and unsized) relayed, and the stats counting one connection and a
// request per stream.
func TestH2RoundRobinPerRequest(t *testing.T) {
	checkGoroutines(t)
	ca := newTestCA(t, "h2 CA")
	cert, _ := ca.issue(t, "h2.example.test", "h2.example.test")
	b1, b2 := startBackend(t, "b1"), startBackend(t, "b2")
	e := newEngine(t, Options{})
	port := freePort(t)
	l := h2Listener(port, "p1", &cert, []string{"h2", "http/1.1", "http/1.0"})
	l.InsertHeaders = map[string]string{"X-Forwarded-For": "true", "X-Forwarded-Port": "true", "X-Forwarded-Proto": "true", "X-SSL-Client-Has-Cert": "true"}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l},
		Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, b1.member("m1"), b2.member("m2"))}})
	c := h2Client(t, ca, "h2.example.test")
	base := fmt.Sprintf("https://127.0.0.1:%d", port)

	var seen []string
	for i := 0; i < 6; i++ {
		req, _ := http.NewRequest("GET", base+"/", nil)
		req.Header.Set("X-Forwarded-Proto", "http")
		req.Header.Set("X-Forwarded-Port", "1")
		req.Header.Set("X-SSL-Client-Has-Cert", "1")
		resp, body := h2Do(t, c, req)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %d: %d %q", i, resp.StatusCode, body)
		}
		seen = append(seen, body)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] == seen[i-1] {
			t.Fatalf("not round robin per request: %v", seen)
		}
	}
	b1.mu.Lock()
	h := b1.last
	b1.mu.Unlock()
	if got := h.Values("X-Forwarded-Proto"); len(got) != 1 || got[0] != "https" {
		t.Errorf("member saw X-Forwarded-Proto %q, want [https]", got)
	}
	if got := h.Values("X-Forwarded-Port"); len(got) != 1 || got[0] != fmt.Sprint(port) {
		t.Errorf("member saw X-Forwarded-Port %q, want [%d]", got, port)
	}
	if got := h.Values("X-Ssl-Client-Has-Cert"); len(got) != 1 || got[0] != "0" {
		t.Errorf("member saw X-SSL-Client-Has-Cert %q, want [0]", got)
	}
	if got := h.Values("X-Forwarded-For"); len(got) == 0 || got[len(got)-1] != "127.0.0.1" {
		t.Errorf("member saw X-Forwarded-For %q", got)
	}

	// Bodies: one with its length, one without (the member gets it chunked).
	for _, sized := range []bool{true, false} {
		payload := strings.Repeat("0123456789", 10000)
		var rd io.Reader = strings.NewReader(payload)
		if !sized {
			rd = io.MultiReader(rd) // hides the length
		}
		req, _ := http.NewRequest("POST", base+"/echo", rd)
		resp, body := h2Do(t, c, req)
		if resp.StatusCode != 200 || body != payload {
			t.Fatalf("POST sized=%v: %d, %d bytes back of %d", sized, resp.StatusCode, len(body), len(payload))
		}
	}

	st := e.Stats()
	if len(st.Listeners) != 1 || st.Listeners[0].TotalConnections != 1 {
		t.Errorf("listener stats %+v: want one client connection", st.Listeners)
	}
	var reqs int64
	for _, m := range st.Members {
		if m.TotalConnections < 3 {
			t.Errorf("member %s counted %d requests, want ≥ 3", m.MemberID, m.TotalConnections)
		}
		reqs += m.TotalConnections
	}
	if reqs != 8 {
		t.Errorf("members counted %d requests, want 8", reqs)
	}
}

// TestH2L7Policies: L7 policies apply per HTTP/2 request, the host being :authority.
func TestH2L7Policies(t *testing.T) {
	checkGoroutines(t)
	ca := newTestCA(t, "h2 CA")
	cert, _ := ca.issue(t, "h2.example.test", "h2.example.test", "*.example.test")
	def, api := startBackend(t, "default"), startBackend(t, "api")
	e := newEngine(t, Options{})
	port := freePort(t)
	l := h2Listener(port, "p-def", &cert, []string{"h2", "http/1.1"})
	l.L7Policies = []dataplane.L7Policy{
		{ID: "redirect", Position: 1, Action: dataplane.ActionRedirectToURL, RedirectURL: "https://elsewhere.example.test/", RedirectHTTPCode: 301,
			Rules: []dataplane.L7Rule{l7rule(dataplane.RuleHostName, dataplane.CompareEqualTo, "", "old.example.test")}},
		{ID: "reject", Position: 2, Action: dataplane.ActionReject,
			Rules: []dataplane.L7Rule{l7rule(dataplane.RulePath, dataplane.CompareStartsWith, "", "/private")}},
		toPool("api", 3, "p-api", l7rule(dataplane.RuleHostName, dataplane.CompareEqualTo, "", "api.example.test"),
			l7rule(dataplane.RulePath, dataplane.CompareStartsWith, "", "/v1")),
	}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{
		pool("p-def", dataplane.ProtocolHTTP, dataplane.RoundRobin, def.member("m1")),
		pool("p-api", dataplane.ProtocolHTTP, dataplane.RoundRobin, api.member("m2")),
	}})
	c := h2Client(t, ca, "h2.example.test")
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	tests := []struct {
		name, host, path string
		code             int
		body, location   string
	}{
		{"default pool", "www.example.test", "/v1/x", 200, "default", ""},
		{"pool by host and path", "api.example.test", "/v1/x", 200, "api", ""},
		{"host alone is not enough", "api.example.test", "/v2", 200, "default", ""},
		{"redirect by host", "old.example.test", "/a", 301, "", "https://elsewhere.example.test/"},
		{"reject by path", "api.example.test", "/private/x", 403, "", ""},
	}
	for _, tc := range tests { // one connection, request after request
		req, _ := http.NewRequest("GET", base+tc.path, nil)
		req.Host = tc.host
		resp, body := h2Do(t, c, req)
		if resp.StatusCode != tc.code || (tc.body != "" && body != tc.body) || resp.Header.Get("Location") != tc.location {
			t.Errorf("%s: %d %q Location %q, want %d %q %q", tc.name, resp.StatusCode, body, resp.Header.Get("Location"), tc.code, tc.body, tc.location)
		}
	}
	if n := e.Stats().Listeners[0].TotalConnections; n != 1 {
		t.Errorf("%d client connections, want 1", n)
	}
}

// TestH2OnlyWhenListed: h2 is negotiated only where the listener's ALPN list names it;
// elsewhere a client offering h2 and http/1.1 gets HTTP/1.1, as before.
func TestH2OnlyWhenListed(t *testing.T) {
	checkGoroutines(t)
	ca := newTestCA(t, "h2 CA")
	cert, _ := ca.issue(t, "h2.example.test", "h2.example.test")
	b := startBackend(t, "b1")
	e := newEngine(t, Options{})
	ports := []int{freePort(t), freePort(t), freePort(t)}
	lists := [][]string{{"h2", "http/1.1"}, nil, {"http/1.1", "http/1.0"}}
	var ls []dataplane.Listener
	for i, p := range ports {
		l := h2Listener(p, "p1", &cert, lists[i])
		l.ID = fmt.Sprintf("l%d", i)
		ls = append(ls, l)
	}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: ls, Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}})
	for i, p := range ports {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool(), ServerName: "h2.example.test"}, ForceAttemptHTTP2: true}
		c := &http.Client{Transport: tr, Timeout: ioWait}
		resp, err := c.Get(fmt.Sprintf("https://127.0.0.1:%d/", p))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		want := "HTTP/1.1"
		if i == 0 {
			want = "HTTP/2.0"
		}
		if resp.StatusCode != 200 || string(body) != "b1" || resp.Proto != want {
			t.Errorf("ALPN list %q: %d %q over %s, want 200 b1 over %s", lists[i], resp.StatusCode, body, resp.Proto, want)
		}
	}
}

// TestH2PersistenceAndAccessLog: HTTP_COOKIE persistence holds per request on an HTTP/2
// connection (the cookie the engine sets keeps later requests on its member, round robin
// notwithstanding), and the access log writes one line per stream naming HTTP/2.0.
func TestH2PersistenceAndAccessLog(t *testing.T) {
	checkGoroutines(t)
	al, path := openLog(t)
	ca := newTestCA(t, "h2 CA")
	cert, _ := ca.issue(t, "h2.example.test", "h2.example.test")
	b1, b2 := startBackend(t, "b1"), startBackend(t, "b2")
	e := newEngine(t, Options{Proxy: proxy.Options{AccessLog: al}})
	port := freePort(t)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, b1.member("m1"), b2.member("m2"))
	p.SessionPersistence = &dataplane.SessionPersistence{Type: dataplane.PersistHTTPCookie}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{h2Listener(port, "p1", &cert, []string{"h2"})}, Pools: []dataplane.Pool{p}})
	c := h2Client(t, ca, "h2.example.test")
	url := fmt.Sprintf("https://127.0.0.1:%d/", port)
	req, _ := http.NewRequest("GET", url, nil)
	resp, first := h2Do(t, c, req)
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == proxy.HTTPCookieName {
			cookie = ck
		}
	}
	if cookie == nil {
		t.Fatalf("no persistence cookie in %v", resp.Header)
	}
	for i := 0; i < 4; i++ {
		req, _ := http.NewRequest("GET", url, nil)
		req.AddCookie(&http.Cookie{Name: "other", Value: "x"})
		req.AddCookie(cookie)
		if _, body := h2Do(t, c, req); body != first {
			t.Fatalf("request %d with the cookie went to %q, not %q", i, body, first)
		}
	}
	lines := logLines(t, al, path, 5)
	for _, l := range lines {
		if l["kind"] != "http" || l["version"] != "HTTP/2.0" || l["method"] != "GET" || l["host"] != fmt.Sprintf("127.0.0.1:%d", port) {
			t.Errorf("access-log line %v", l)
		}
	}
}
