package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/proxy"
	"golang.org/x/net/http2"
)

// h2cMember is a net/http server speaking cleartext HTTP/2 (prior knowledge) and HTTP/1.1. It
// answers with its id and the protocol it was spoken to in, echoes a request body and
// sends a trailer; /wait waits for the request's context and reports its end on ended.
type h2cMember struct {
	id      string
	port    int
	headers chan http.Header
	uris    chan string // the request targets as received
	started chan string // the protocol of /wait requests as they start
	ended   chan error
	conns   atomic.Int64 // connections accepted
}

func startH2CMember(t *testing.T, id string) *h2cMember {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &h2cMember{id: id, port: ln.Addr().(*net.TCPAddr).Port, headers: make(chan http.Header, 64), uris: make(chan string, 64),
		started: make(chan string, 8), ended: make(chan error, 8)}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	protos.SetHTTP1(true)
	srv := &http.Server{Protocols: &protos, ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			m.conns.Add(1)
		}
	}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case m.headers <- r.Header.Clone():
		default:
		}
		select {
		case m.uris <- r.RequestURI:
		default:
		}
		if r.URL.Path == "/wait" {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			m.started <- r.Proto
			<-r.Context().Done()
			m.ended <- r.Context().Err()
			return
		}
		if r.URL.Path == "/big" {
			w.Header().Set("X-Big", strings.Repeat("b", 100<<10))
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Sum")
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s %s", m.id, r.Proto, body)
		w.Header().Set("X-Sum", fmt.Sprint(len(body)))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return m
}

func (m *h2cMember) member(id string) dataplane.Member {
	return dataplane.Member{ID: id, Address: "127.0.0.1", ProtocolPort: m.port, Weight: 1, AdminStateUp: true}
}

// TestH2MemberPersistenceLogStats: an HTTP/2 client's requests to an h2c pool reach the
// members in HTTP/2 with the inserted headers, bodies both ways and trailers; HTTP_COOKIE
// persistence pins the client, the access log writes a line per stream naming the
// member, the members count their requests; an HTTP/1.1 client of the same listener
// keeps the HTTP/1.1 path.
func TestH2MemberPersistenceLogStats(t *testing.T) {
	checkGoroutines(t)
	al, path := openLog(t)
	ca := newTestCA(t, "h2 CA")
	cert, _ := ca.issue(t, "h2.example.test", "h2.example.test")
	m1, m2 := startH2CMember(t, "b1"), startH2CMember(t, "b2")
	e := newEngine(t, Options{Proxy: proxy.Options{AccessLog: al}})
	port := freePort(t)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, m1.member("m1"), m2.member("m2"))
	p.H2C = true
	p.SessionPersistence = &dataplane.SessionPersistence{Type: dataplane.PersistHTTPCookie}
	l := h2Listener(port, "p1", &cert, []string{"h2", "http/1.1"})
	l.InsertHeaders = map[string]string{"X-Forwarded-For": "true", "X-Forwarded-Proto": "true"}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{p}})
	c := h2Client(t, ca, "h2.example.test")
	url := fmt.Sprintf("https://127.0.0.1:%d/", port)

	req, _ := http.NewRequest("POST", url, io.MultiReader(strings.NewReader("hello"))) // unsized
	req.Header.Set("X-Forwarded-Proto", "forged")
	resp, first := h2Do(t, c, req)
	if !strings.HasSuffix(first, " HTTP/2.0 hello") || resp.Trailer.Get("X-Sum") != "5" {
		t.Fatalf("first answer %q, trailer %v", first, resp.Trailer)
	}
	var h http.Header
	select {
	case h = <-m1.headers:
	case h = <-m2.headers:
	}
	if got := h.Values("X-Forwarded-Proto"); len(got) != 1 || got[0] != "https" {
		t.Errorf("member saw X-Forwarded-Proto %q", got)
	}
	if got := h.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("member saw X-Forwarded-For %q", got)
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == proxy.HTTPCookieName {
			cookie = ck
		}
	}
	if cookie == nil {
		t.Fatalf("no persistence cookie in %v", resp.Header)
	}
	big := strings.Repeat("x", 300<<10) // beyond the stream windows both ways
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("POST", url, strings.NewReader(big))
		req.AddCookie(cookie)
		resp, body := h2Do(t, c, req)
		if !strings.HasPrefix(body, first[:3]) || len(body) != len(first)-5+len(big) || resp.Trailer.Get("X-Sum") != fmt.Sprint(len(big)) {
			t.Fatalf("request %d with the cookie: %d bytes from %q, trailer %v", i, len(body), body[:3], resp.Trailer)
		}
	}
	lines := logLines(t, al, path, 4)
	for _, l := range lines {
		if l["version"] != "HTTP/2.0" || l["method"] != "POST" || fmt.Sprint(l["status"]) != "200" || l["member_id"] == nil || fmt.Sprint(l["bytes_in"]) == "0" {
			t.Errorf("access-log line %v", l)
		}
	}
	var reqs int64
	for _, m := range e.Stats().Members {
		reqs += m.TotalConnections
	}
	if reqs != 4 {
		t.Errorf("members counted %d requests, want 4", reqs)
	}

	// HTTP/1.1 clients keep the HTTP/1.1 path.
	c1 := &http.Client{Timeout: ioWait, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: ca.pool(), ServerName: "h2.example.test", NextProtos: []string{"http/1.1"}}}}
	if code, body := get(t, c1, url); code != 200 || !strings.HasSuffix(body, " HTTP/1.1 ") {
		t.Errorf("HTTP/1.1 client: %d %q, want the member spoken to in HTTP/1.1", code, body)
	}
}

// TestH2MemberReset: a client resetting its stream resets the member's HTTP/2 stream: the
// member's handler sees its context canceled, and the member connection stays open for
// the next stream.
func TestH2MemberReset(t *testing.T) {
	checkGoroutines(t)
	ca := newTestCA(t, "h2 CA")
	cert, _ := ca.issue(t, "h2.example.test", "h2.example.test")
	m1 := startH2CMember(t, "b1")
	e := newEngine(t, Options{})
	port := freePort(t)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, m1.member("m1"))
	p.H2C = true
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{h2Listener(port, "p1", &cert, []string{"h2"})}, Pools: []dataplane.Pool{p}})
	c := h2Client(t, ca, "h2.example.test")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("https://127.0.0.1:%d/wait", port), nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	select {
	case proto := <-m1.started:
		if proto != "HTTP/2.0" {
			t.Fatalf("the member was spoken to in %s", proto)
		}
	case <-time.After(ioWait):
		t.Fatal("the member never got the request")
	}
	cancel()
	select {
	case err := <-m1.ended:
		if err != context.Canceled {
			t.Fatalf("the member's request ended with %v", err)
		}
	case <-time.After(ioWait):
		t.Fatal("the client's reset never reached the member")
	}
	req, _ = http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/", port), nil)
	if _, body := h2Do(t, c, req); !strings.HasPrefix(body, "b1 HTTP/2.0") {
		t.Fatalf("after the reset: %q", body)
	}
	if n := m1.conns.Load(); n != 1 {
		t.Errorf("the member accepted %d connections, want 1 (a reset stream keeps its connection)", n)
	}
}

// TestH2MemberOversizedHeaders: a member answering with a header list beyond the engine's
// maximum head size gets its answer refused (502); the engine's connection to it stays
// usable for the next stream.
func TestH2MemberOversizedHeaders(t *testing.T) {
	checkGoroutines(t)
	ca := newTestCA(t, "h2 CA")
	cert, _ := ca.issue(t, "h2.example.test", "h2.example.test")
	m1 := startH2CMember(t, "b1")
	e := newEngine(t, Options{})
	port := freePort(t)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, m1.member("m1"))
	p.H2C = true
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{h2Listener(port, "p1", &cert, []string{"h2"})}, Pools: []dataplane.Pool{p}})
	c := h2Client(t, ca, "h2.example.test")
	req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/big", port), nil)
	if resp, body := h2Do(t, c, req); resp.StatusCode != 502 || resp.Header.Get("X-Big") != "" {
		t.Fatalf("oversized member header list: %d %q", resp.StatusCode, body)
	}
	req, _ = http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/", port), nil)
	if _, body := h2Do(t, c, req); !strings.HasPrefix(body, "b1 HTTP/2.0") {
		t.Fatalf("next request: %q", body)
	}
}

// TestH2CPriorKnowledgeFlood: the client-side limits hold on an HTTP listener's h2c
// connections too: a client flooding PINGs is disconnected, another is served.
func TestH2CPriorKnowledgeFlood(t *testing.T) {
	checkGoroutines(t)
	b := startBackend(t, "b1")
	e := newEngine(t, Options{})
	port := freePort(t)
	l := httpListener("l1", port, "p1")
	l.TimeoutClientData = int64(5 * patience / time.Millisecond)
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l},
		Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}})
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	c, err := net.DialTimeout("tcp", addr, ioWait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(patience))
	fr := http2.NewFramer(c, c)
	go func() {
		if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
			return
		}
		fr.WriteSettings()
		for i := 0; i < 50000; i++ {
			if fr.WritePing(false, [8]byte{byte(i)}) != nil {
				return
			}
		}
	}()
	settings := false
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the engine kept a flooding h2c connection for %v", patience)
			}
			break
		}
		if _, ok := f.(*http2.SettingsFrame); ok {
			settings = true
		}
	}
	if !settings {
		t.Fatal("the engine never spoke HTTP/2 on the h2c connection")
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	hc := &http.Client{Timeout: ioWait, Transport: &http.Transport{Protocols: &protos}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "b1" || resp.ProtoMajor != 2 {
		t.Fatalf("h2c client: %s %d %q", resp.Proto, resp.StatusCode, body)
	}
}

// TestH2TLSPoolFallsBackToHTTP1: a re-encrypting pool with the API's default ALPN list
// (h2, http/1.1, http/1.0) over a member that speaks HTTP/2 and one that speaks only
// HTTP/1.1: an HTTP/2 client's requests reach the first in HTTP/2 and the second, which
// chose http/1.1 by ALPN, in HTTP/1.1, both served.
func TestH2TLSPoolFallsBackToHTTP1(t *testing.T) {
	checkGoroutines(t)
	ca := newTestCA(t, "h2 CA")
	cert, _ := ca.issue(t, "h2.example.test", "h2.example.test")
	memberCA := newTestCA(t, "member CA")
	mcert, _ := memberCA.issue(t, "member", "member.example.test")
	var members []dataplane.Member
	for i, h2 := range []bool{true, false} {
		id := fmt.Sprintf("t%d", i+1)
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s", id, r.Proto)
		}))
		srv.EnableHTTP2 = h2
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{keyPair(mcert)}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		members = append(members, dataplane.Member{ID: id, Address: "127.0.0.1", ProtocolPort: srv.Listener.Addr().(*net.TCPAddr).Port, Weight: 1, AdminStateUp: true})
	}
	e := newEngine(t, Options{})
	port := freePort(t)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, members...)
	p.TLS = &dataplane.PoolTLS{CA: memberCA.pem(), ALPNProtocols: []string{"h2", "http/1.1", "http/1.0"}}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{h2Listener(port, "p1", &cert, []string{"h2"})}, Pools: []dataplane.Pool{p}})
	c := h2Client(t, ca, "h2.example.test")
	seen := map[string]int{}
	for i := 0; i < 6; i++ {
		req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/", port), nil)
		resp, body := h2Do(t, c, req)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		seen[body]++
	}
	if seen["t1 HTTP/2.0"] == 0 || seen["t2 HTTP/1.1"] == 0 || len(seen) != 2 {
		t.Fatalf("answers %v: want t1 in HTTP/2 and t2 in HTTP/1.1", seen)
	}
}

// TestH2MemberTargetAndFields: the request an HTTP/2 member gets carries the client's
// target as sent (path, empty and escaped queries, an escaped slash), every value of a
// repeated field in order, TE: trailers, and not the client's hop-by-hop fields.
func TestH2MemberTargetAndFields(t *testing.T) {
	checkGoroutines(t)
	ca := newTestCA(t, "h2 CA")
	cert, _ := ca.issue(t, "h2.example.test", "h2.example.test")
	m1 := startH2CMember(t, "b1")
	e := newEngine(t, Options{})
	port := freePort(t)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, m1.member("m1"))
	p.H2C = true
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{h2Listener(port, "p1", &cert, []string{"h2"})}, Pools: []dataplane.Pool{p}})
	c := h2Client(t, ca, "h2.example.test")
	for _, target := range []string{"/", "/a/b?x=1&y=%20z", "/p?", "/%2F/x;y?q"} {
		req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d%s", port, target), nil)
		req.Header.Add("X-Multi", "one")
		req.Header.Add("X-Multi", "two")
		req.Header.Set("Te", "trailers")
		resp, _ := h2Do(t, c, req)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", target, resp.StatusCode)
		}
		if got := <-m1.uris; got != target {
			t.Errorf("member saw target %q, client sent %q", got, target)
		}
		h := <-m1.headers
		if got := h.Values("X-Multi"); len(got) != 2 || got[0] != "one" || got[1] != "two" {
			t.Errorf("%s: member saw X-Multi %q", target, got)
		}
		if got := h.Values("Te"); len(got) != 1 || got[0] != "trailers" {
			t.Errorf("%s: member saw TE %q", target, got)
		}
		for _, k := range []string{"Connection", "Keep-Alive", "Transfer-Encoding"} {
			if h.Get(k) != "" {
				t.Errorf("%s: member saw %s", target, k)
			}
		}
	}
}
