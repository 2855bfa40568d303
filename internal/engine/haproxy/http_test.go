package haproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// Cases copied from internal/engine/http_test.go and run through HAProxy.

func TestHTTPRoundRobin(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	port := freePort(t)
	e := newEngine(t, Options{})
	mustApply(t, e, oneListener(port, pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"), b.member("mb"))))
	c := newClient()
	got := map[string]int{}
	for i := 0; i < 100; i++ {
		code, body := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", port))
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		got[body]++
	}
	if got["a"] != 50 || got["b"] != 50 {
		t.Fatalf("100 requests over two equal members: %v", got)
	}
	st := e.Stats()
	if st.Version != 1 || st.Listeners[0].TotalConnections < 1 || st.Listeners[0].BytesIn == 0 || st.Listeners[0].BytesOut == 0 {
		t.Errorf("stats: %+v", st)
	}
	var total int64
	for _, m := range st.Members {
		total += m.TotalConnections
	}
	if total != 100 {
		t.Errorf("member request counts add up to %d, want 100: %+v", total, st.Members)
	}
}

func TestHTTPWeightsDrainMaintenance(t *testing.T) {
	a, b, z, d := startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "zero"), startBackend(t, "down")
	ma, mb, mz, md := a.member("ma"), b.member("mb"), z.member("mz"), d.member("md")
	ma.Weight, mb.Weight, mz.Weight = 3, 1, 0
	md.AdminStateUp = false
	port := freePort(t)
	e := newEngine(t, Options{})
	mustApply(t, e, oneListener(port, pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, ma, mb, mz, md)))
	c := newClient()
	got := map[string]int{}
	for i := 0; i < 400; i++ {
		_, body := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", port))
		got[body]++
	}
	if got["a"] != 300 || got["b"] != 100 || got["zero"] != 0 || got["down"] != 0 {
		t.Fatalf("weights 3,1,0 and one in maintenance, 400 requests: %v (want exactly 300/100/0/0)", got)
	}
	status := map[string]dataplane.MemberStatus{}
	for _, h := range e.Health().Members {
		status[h.MemberID] = h.Status
	}
	want := map[string]dataplane.MemberStatus{"ma": dataplane.StatusNoCheck, "mb": dataplane.StatusNoCheck, "mz": dataplane.StatusDrain, "md": dataplane.StatusMaint}
	for id, s := range want {
		if status[id] != s {
			t.Errorf("member %s status %s, want %s", id, status[id], s)
		}
	}
}

func TestHTTPLeastConnections(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	port := freePort(t)
	e := newEngine(t, Options{})
	mustApply(t, e, oneListener(port, pool("p1", dataplane.ProtocolHTTP, dataplane.LeastConnections, a.member("ma"), b.member("mb"))))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	c := newClient()
	got := map[string]int{}
	for i := 0; i < 100; i++ {
		_, body := get(t, c, url)
		got[body]++
	}
	if got["a"] < 40 || got["b"] < 40 {
		t.Fatalf("idle members should share sequential requests (±10%%): %v", got)
	}
	slow := make(chan string, 1)
	go func() {
		resp, err := newClient().Get(url + "slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	busy := ""
	eventually(t, 5*time.Second, "the slow request shows as active on a member", func() bool {
		for _, m := range e.Stats().Members {
			if m.ActiveConnections == 1 {
				busy = map[string]string{"ma": "a", "mb": "b"}[m.MemberID]
				return true
			}
		}
		return false
	})
	for i := 0; i < 10; i++ {
		if _, body := get(t, c, url); body == busy {
			t.Fatalf("request %d went to %s, which has a request in flight", i, busy)
		}
	}
	if body := <-slow; body != busy {
		t.Fatalf("slow request answered by %s, want %s", body, busy)
	}
}

func TestHTTPSourceIPHash(t *testing.T) {
	for _, alg := range []dataplane.Algorithm{dataplane.SourceIP, dataplane.SourceIPPort} {
		t.Run(string(alg), func(t *testing.T) {
			a, b := startBackend(t, "a"), startBackend(t, "b")
			port := freePort(t)
			e := newEngine(t, Options{})
			mustApply(t, e, oneListener(port, pool("p1", dataplane.ProtocolHTTP, alg, a.member("ma"), b.member("mb"))))
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			per := map[string]int{}
			for i := 1; i <= 40; i++ {
				src := fmt.Sprintf("127.0.%d.%d", i/200, 1+i%200)
				// One keep-alive connection per source: SOURCE_IP_PORT keeps a connection
				// on one member, SOURCE_IP every connection of the address.
				c := dialFrom(t, src, addr)
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				first := ""
				for k := 0; k < 5; k++ {
					io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
					_, body := readResponse(t, br, "GET")
					if k == 0 {
						first = body
					} else if body != first {
						t.Fatalf("client %s moved from %s to %s", src, first, body)
					}
				}
				c.Close()
				if alg == dataplane.SourceIP {
					if _, body := get(t, clientFrom(src), "http://"+addr+"/"); body != first {
						t.Fatalf("client %s: a new connection went to %s, its first to %s", src, body, first)
					}
				}
				per[first]++
			}
			if per["a"] < 8 || per["b"] < 8 {
				t.Fatalf("40 sources should spread over both members: %v", per)
			}
		})
	}
}

func TestHTTPConnectRetry(t *testing.T) {
	a := startBackend(t, "a")
	dead := startBackend(t, "dead")
	dead.stop()
	port := freePort(t)
	e := newEngine(t, Options{})
	mustApply(t, e, oneListener(port, pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"), dead.member("mdead"))))
	c := newClient()
	for i := 0; i < 20; i++ {
		code, body := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", port))
		if code != 200 || body != "a" {
			t.Fatalf("request %d: %d %q; a failed connect must be retried on another member", i, code, body)
		}
	}
	for _, m := range e.Stats().Members {
		if m.MemberID == "mdead" && m.ConnectErrors == 0 {
			t.Errorf("dead member shows no connect errors: %+v", m)
		}
	}
}

func TestHTTPCookiePersistence(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	port := freePort(t)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"), b.member("mb"))
	p.SessionPersistence = &dataplane.SessionPersistence{Type: dataplane.PersistHTTPCookie}
	e := newEngine(t, Options{})
	mustApply(t, e, oneListener(port, p))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	c := newClient()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sc := resp.Header.Get("Set-Cookie")
	wantID := map[string]string{"a": "ma", "b": "mb"}[string(body)]
	if !strings.HasPrefix(sc, "SRV="+wantID) {
		t.Fatalf("first response from %s: Set-Cookie %q, want SRV=%s", body, sc, wantID)
	}
	for i := 0; i < 10; i++ {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Cookie", "other=1; SRV="+wantID)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != string(body) {
			t.Fatalf("request %d with the cookie went to %s, want %s", i, got, body)
		}
		if resp.Header.Get("Set-Cookie") != "" {
			t.Fatalf("cookie re-inserted on a sticky request")
		}
	}
	_, x := get(t, c, url)
	_, y := get(t, c, url)
	if x == y {
		t.Fatalf("without the cookie two requests went to %s twice", x)
	}
}

func TestHTTPAppCookiePersistence(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	port := freePort(t)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"), b.member("mb"))
	p.SessionPersistence = &dataplane.SessionPersistence{Type: dataplane.PersistAppCookie, CookieName: "JSESSIONID"}
	e := newEngine(t, Options{})
	cfg := oneListener(port, p)
	mustApply(t, e, cfg)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	c := newClient()
	owners := map[string]string{}
	for i := 0; i < 4; i++ {
		sess := fmt.Sprintf("s%d", i)
		_, who := get(t, c, url+"?setcookie=JSESSIONID%3D"+sess+"%3B+Path%3D%2F")
		owners[sess] = who
	}
	if owners["s0"] == owners["s1"] {
		t.Fatalf("round robin should have spread the sessions: %v", owners)
	}
	check := func(when string) {
		t.Helper()
		for round := 0; round < 3; round++ {
			for sess, who := range owners {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Cookie", "JSESSIONID="+sess)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(got) != who {
					t.Fatalf("%s: session %s learned on %s went to %s", when, sess, who, got)
				}
			}
		}
	}
	check("before a reload")
	// The sessions survive a reload of HAProxy (another listener comes).
	cfg2 := cfg.Clone()
	cfg2.Version = 2
	cfg2.Listeners = append(cfg2.Listeners, httpListener("l2", freePort(t), "p1"))
	mustApply(t, e, cfg2)
	check("after a reload")
}

func TestConnectionLimit(t *testing.T) {
	a := startBackend(t, "a")
	port := freePort(t)
	l := httpListener("l1", port, "p1")
	l.ConnectionLimit = 2
	e := newEngine(t, Options{})
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))}})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := readResponse(t, bufio.NewReader(c), "GET"); resp.StatusCode != 200 {
			t.Fatalf("connection %d: %d", i, resp.StatusCode)
		}
		held = append(held, c)
	}
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		b, _ := io.ReadAll(c)
		c.Close()
		if strings.Contains(string(b), "200 OK") {
			t.Fatalf("third connection over a limit of 2 was served: %q", b)
		}
	}
	// The refused connection can still be counted active for a moment after its close
	// reached the client (HAProxy frees the session after that): seen once under load.
	eventually(t, 5*time.Second, "stats with the limit reached (2 active, the refusal counted)", func() bool {
		st := e.Stats().Listeners[0]
		return st.ActiveConnections == 2 && st.RequestErrors >= 1
	})
	held[0].Close()
	eventually(t, 5*time.Second, "one active connection after one closed", func() bool { return e.Stats().Listeners[0].ActiveConnections == 1 })
	// HAProxy releases the closed connection's slot a moment after its stats show it gone.
	eventually(t, 5*time.Second, "a new connection served after one closed", func() bool {
		resp, err := clientFrom("127.0.0.1").Get("http://" + addr + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func TestAllowedCIDRs(t *testing.T) {
	a := startBackend(t, "a")
	port := freePort(t)
	l := httpListener("l1", port, "p1")
	l.AllowedCIDRs = []string{"127.0.0.2/32", "10.0.0.0/8"}
	e := newEngine(t, Options{})
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))}})
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if code, body := get(t, clientFrom("127.0.0.2"), url); code != 200 || body != "a" {
		t.Fatalf("allowed source: %d %q", code, body)
	}
	if _, err := clientFrom("127.0.0.3").Get(url); err == nil {
		t.Fatalf("source 127.0.0.3 outside allowed_cidrs was served")
	}
	if a.hits.Load() != 1 {
		t.Fatalf("backend saw %d requests, want 1", a.hits.Load())
	}
	if st := e.Stats().Listeners[0]; st.RequestErrors < 1 {
		t.Fatalf("a refused source is not counted: %+v", st)
	}
}

// TestReloadUnderLoad applies 50 configuration changes (members, weights, algorithms, a
// listener that comes and goes, timeouts: each one a reload of HAProxy) while clients send
// requests without pause, and requires every request to succeed: no connection refused,
// none dropped. Two clients open a connection per request (a refused connect would fail
// them), two keep connections alive (a request cut in flight would fail them).
func TestReloadUnderLoad(t *testing.T) {
	var bs []*backend
	for i := 0; i < 4; i++ {
		bs = append(bs, startBackend(t, fmt.Sprintf("b%d", i)))
	}
	port, port2 := freePort(t), freePort(t)
	e := newEngine(t, Options{})
	cfgFor := func(v int) *dataplane.Config {
		var ms []dataplane.Member
		for i, b := range bs {
			if (v+i)%4 == 3 {
				continue // one member in four leaves in each version
			}
			m := b.member(fmt.Sprintf("m%d", i))
			m.Weight = 1 + (v+i)%3
			ms = append(ms, m)
		}
		algs := []dataplane.Algorithm{dataplane.RoundRobin, dataplane.LeastConnections, dataplane.SourceIP, dataplane.SourceIPPort}
		ls := []dataplane.Listener{httpListener("l1", port, "p1")}
		if v%2 == 0 {
			ls = append(ls, httpListener("l2", port2, "p1")) // a listener that comes and goes
		}
		ls[0].TimeoutClientData = int64(40000 + v)
		return &dataplane.Config{Version: uint64(v), Listeners: ls, Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, algs[v%4], ms...)}}
	}
	mustApply(t, e, cfgFor(1))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var ok, failed, dials atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := &net.Dialer{}
			tr := &http.Transport{DisableCompression: true, DisableKeepAlives: w < 2,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					return d.DialContext(ctx, network, addr)
				}}
			c := &http.Client{Timeout: 10 * time.Second, Transport: tr}
			defer tr.CloseIdleConnections()
			for i := 0; i < 100000 && ctx.Err() == nil; i++ { // bounded in count and time
				resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
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
	start := time.Now()
	for v := 2; v <= 51; v++ {
		mustApply(t, e, cfgFor(v))
		if err := e.Apply(context.Background(), cfgFor(v)); err != nil {
			t.Fatalf("identical config is not a no-op: %v", err)
		}
	}
	took := time.Since(start)
	cancel()
	wg.Wait()
	if failed.Load() != 0 || ok.Load() < 100 {
		t.Fatalf("50 reloads under load: %d ok, %d failed (first: %v)", ok.Load(), failed.Load(), firstErr.Load())
	}
	t.Logf("50 reloads in %v under load: %d requests on %d connections, 0 failed", took.Round(time.Millisecond), ok.Load(), dials.Load())
}

func TestApplyRefusals(t *testing.T) {
	a := startBackend(t, "a")
	port := freePort(t)
	e := newEngine(t, Options{})
	good := oneListener(port, pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")))
	good.Version = 5
	mustApply(t, e, good)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)

	bad := good.Clone()
	bad.Version = 6
	bad.Pools[0].Algorithm = "RANDOM"
	err := e.Apply(context.Background(), bad)
	if err == nil || !strings.Contains(err.Error(), `pools[0].lb_algorithm: unknown algorithm "RANDOM"`) {
		t.Fatalf("invalid config: %v", err)
	}
	stale := good.Clone()
	stale.Version = 4
	stale.Listeners[0].ConnectionLimit = 7
	if err := e.Apply(context.Background(), stale); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("older version: %v", err)
	}
	// A port that cannot be bound: the whole config is refused, the old one serves on.
	blocker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	clash := good.Clone()
	clash.Version = 7
	clash.Listeners = append(clash.Listeners, httpListener("l2", blocker.Addr().(*net.TCPAddr).Port, "p1"))
	if err := e.Apply(context.Background(), clash); err == nil || !strings.Contains(err.Error(), "listeners[1].addresses[0]") {
		t.Fatalf("bind failure: %v", err)
	}
	if code, body := get(t, newClient(), url); code != 200 || body != "a" {
		t.Fatalf("old config stopped serving after refusals: %d %q", code, body)
	}
	if e.Version() != 5 {
		t.Fatalf("version %d in force, want 5", e.Version())
	}
	// A config HAProxy itself refuses (a TLS 1.2 cipher list OpenSSL does not know): the
	// error names the field the refused line was written for.
	ca := newTestCA(t, "ca")
	cert, _ := ca.issue(t, "www.example.com", "www.example.com")
	odd := good.Clone()
	odd.Version = 8
	tl := httpsListener("l3", freePort(t), "p1", &dataplane.ListenerTLS{DefaultCertificate: &cert, Ciphers: "NOT-A-CIPHER"})
	odd.Listeners = append(odd.Listeners, tl)
	err = e.Apply(context.Background(), odd)
	if err == nil || !strings.Contains(err.Error(), "listeners[1].tls: refused by HAProxy") || !errors.Is(err, dataplane.ErrInvalid) {
		t.Fatalf("cipher list HAProxy refuses: %v", err)
	}
	if code, body := get(t, newClient(), url); code != 200 || body != "a" {
		t.Fatalf("old config stopped serving after HAProxy refused one: %d %q", code, body)
	}
	// A later good config applies.
	good2 := good.Clone()
	good2.Version = 9
	good2.Listeners[0].TimeoutClientData = 1000
	mustApply(t, e, good2)
	if e.Version() != 9 {
		t.Fatalf("version %d in force, want 9", e.Version())
	}
}

func TestRemovedListenerDrains(t *testing.T) {
	a := startBackend(t, "a")
	port := freePort(t)
	e := newEngine(t, Options{})
	mustApply(t, e, oneListener(port, pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	eventually(t, 5*time.Second, "the slow request reached the member", func() bool { return a.hits.Load() > 0 })
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idle.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	ibr := bufio.NewReader(idle)
	if resp, _ := readResponse(t, ibr, "GET"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("keep-alive request: %d close=%v", resp.StatusCode, resp.Close)
	}
	mustApply(t, e, &dataplane.Config{Version: 2})
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatalf("removed listener still accepts after Apply returned")
	}
	start := time.Now()
	if n, err := ibr.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("idle keep-alive connection of a removed listener: read %d, %v; want EOF", n, err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("idle keep-alive connection closed after %v; want at once", waited)
	}
	br := bufio.NewReader(c)
	resp, body := readResponse(t, br, "GET")
	if resp.StatusCode != 200 || body != "a" {
		t.Fatalf("in-flight request on a removed listener: %d %q", resp.StatusCode, body)
	}
	if !resp.Close {
		t.Errorf("the last response of a removed listener should close the connection")
	}
}

// TestExtraAddresses serves one listener on its VIP and an extra (IPv6) address.
func TestExtraAddresses(t *testing.T) {
	a := startBackend(t, "a")
	port := freePort(t)
	l := httpListener("l1", port, "p1")
	l.Addresses = []string{"127.0.0.1", "::1"}
	l.InsertHeaders = map[string]string{"X-Forwarded-For": "true"}
	e := newEngine(t, Options{})
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))}})
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		if code, body := get(t, newClient(), fmt.Sprintf("http://%s:%d/", host, port)); code != 200 || body != "a" {
			t.Fatalf("%s: %d %q", host, code, body)
		}
	}
	if xff := a.lastHeaders().Get("X-Forwarded-For"); xff != "::1" {
		t.Fatalf("X-Forwarded-For from an IPv6 client = %q, want ::1", xff)
	}
	if got := e.Addrs(); len(got) != 2 || got[0] != fmt.Sprintf("tcp/127.0.0.1:%d", port) || got[1] != fmt.Sprintf("tcp/[::1]:%d", port) {
		t.Fatalf("Addrs() = %v", got)
	}
}

// TestHTTPProxyProtocolPool sends a PROXY v1 header on each member connection of an HTTP
// listener, naming the client; a member connection carries the requests of that client
// only (HAProxy marks such connections private). Unlike the native engine, HAProxy may open
// a second member connection for one client under load (its reuse of a private
// connection is opportunistic), so that is not asserted.
func TestHTTPProxyProtocolPool(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	type memberConn struct {
		header  string
		clients []string // X-Client of each request it carried
	}
	var mu sync.Mutex
	var conns []*memberConn
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				mc := &memberConn{header: line}
				mu.Lock()
				conns = append(conns, mc)
				mu.Unlock()
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					mu.Lock()
					mc.clients = append(mc.clients, req.Header.Get("X-Client"))
					mu.Unlock()
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	port := freePort(t)
	p := pool("p1", dataplane.ProtocolProxy, dataplane.RoundRobin, dataplane.Member{ID: "m", Address: "127.0.0.1", ProtocolPort: ln.Addr().(*net.TCPAddr).Port, Weight: 1, AdminStateUp: true})
	e := newEngine(t, Options{})
	mustApply(t, e, oneListener(port, p))
	sports := map[string]int{}
	var clients []net.Conn
	for client := 0; client < 2; client++ {
		src := fmt.Sprintf("127.0.0.%d", 20+client)
		c := dialFrom(t, src, fmt.Sprintf("127.0.0.1:%d", port))
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		clients = append(clients, c)
		sports[src] = c.LocalAddr().(*net.TCPAddr).Port
	}
	// The two clients' requests interleave.
	brs := []*bufio.Reader{bufio.NewReader(clients[0]), bufio.NewReader(clients[1])}
	for i := 0; i < 3; i++ {
		for client, c := range clients {
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Client: 127.0.0.%d\r\n\r\n", 20+client)
			if resp, body := readResponse(t, brs[client], "GET"); resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("client %d request %d: %d %q", client, i, resp.StatusCode, body)
			}
		}
	}
	for _, c := range clients {
		c.Close()
	}
	ln.Close()
	e.Close() // ends the idle member connections
	wg.Wait()
	served := 0
	for _, mc := range conns {
		f := strings.Fields(mc.header)
		if len(f) != 6 || f[0] != "PROXY" || f[1] != "TCP4" || f[3] != "127.0.0.1" || f[5] != fmt.Sprint(port) || f[4] != fmt.Sprint(sports[f[2]]) {
			t.Fatalf("member saw PROXY header %q; clients %v", mc.header, sports)
		}
		for _, cl := range mc.clients {
			if cl != f[2] {
				t.Fatalf("a member connection opened for %s carried a request of %s", f[2], cl)
			}
			served++
		}
	}
	if served != 6 {
		t.Fatalf("member connections carried %d requests, want 6", served)
	}
}

// TestSameContentNoReload: the agent numbers each apply itself, so a retry comes with a
// new version and the same content; HAProxy is not reloaded for it (no new worker), only
// the version moves.
func TestSameContentNoReload(t *testing.T) {
	a := startBackend(t, "a")
	port := freePort(t)
	e := newEngine(t, Options{})
	cfg := oneListener(port, pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")))
	mustApply(t, e, cfg)
	before, err := e.m.showProc(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Version = 2
	mustApply(t, e, cfg)
	after, err := e.m.showProc(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after.reloads != before.reloads || fmt.Sprint(after.workers) != fmt.Sprint(before.workers) {
		t.Fatalf("same content under a new version reloaded HAProxy: %+v → %+v", before, after)
	}
	if e.Version() != 2 || e.Stats().Version != 2 || e.Health().Version != 2 {
		t.Fatalf("version %d in force, want 2", e.Version())
	}
	cfg.Version = 3
	cfg.Listeners[0].TimeoutClientData = 1234
	mustApply(t, e, cfg)
	if p, _ := e.m.showProc(context.Background()); p.reloads == before.reloads {
		t.Fatalf("a change did not reload HAProxy")
	}
}

// TestIngressFilter: a listener's security-group filter (contract 2) admits only its
// networks, together with allowed_cidrs (a client must pass both), and an empty filter
// admits nobody.
func TestIngressFilter(t *testing.T) {
	a := startBackend(t, "a")
	port := freePort(t)
	l := httpListener("l1", port, "p1")
	l.Ingress = &dataplane.Ingress{Allow: []string{"127.0.0.2/32", "127.0.0.4/31"}}
	l.AllowedCIDRs = []string{"127.0.0.0/30"}
	e := newEngine(t, Options{})
	cfg := &dataplane.Config{Version: 1, Contract: 2, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))}}
	mustApply(t, e, cfg)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if code, body := get(t, clientFrom("127.0.0.2"), url); code != 200 || body != "a" {
		t.Fatalf("source admitted by both filters: %d %q", code, body)
	}
	for _, src := range []string{"127.0.0.1", "127.0.0.3", "127.0.0.5"} {
		// 127.0.0.1 and .3: inside allowed_cidrs, outside the security groups; .5: the reverse.
		if _, err := clientFrom(src).Get(url); err == nil {
			t.Errorf("source %s served; the ingress filter or allowed_cidrs should refuse it", src)
		}
	}
	cfg.Version = 2
	cfg.Listeners[0].Ingress = &dataplane.Ingress{Allow: []string{}}
	mustApply(t, e, cfg)
	if _, err := clientFrom("127.0.0.2").Get(url); err == nil {
		t.Errorf("an empty ingress filter admitted 127.0.0.2")
	}
	if a.hits.Load() != 1 {
		t.Fatalf("backend saw %d requests, want 1", a.hits.Load())
	}
}

// TestIngressChangeCutsEstablished: when a listener's security-group filter stops
// admitting a client, its established keep-alive connection is closed (the replaced
// worker would otherwise serve it on), while an admitted client's connection lives on.
func TestIngressChangeCutsEstablished(t *testing.T) {
	a := startBackend(t, "a")
	port := freePort(t)
	// A TCP listener: HAProxy closes idle HTTP keep-alive connections of a replaced
	// worker by itself, TCP connections it serves on.
	l := tcpListener("l1", dataplane.ProtocolTCP, port, "p1")
	l.Ingress = &dataplane.Ingress{Allow: []string{"127.0.0.2/32", "127.0.0.3/32"}}
	e := newEngine(t, Options{})
	cfg := &dataplane.Config{Version: 1, Contract: 2, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolTCP, dataplane.RoundRobin, a.member("ma"))}}
	mustApply(t, e, cfg)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	request := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	removed, kept := dialFrom(t, "127.0.0.2", addr), dialFrom(t, "127.0.0.3", addr)
	for _, c := range []net.Conn{removed, kept} {
		if err := request(c); err != nil {
			t.Fatalf("admitted client: %v", err)
		}
	}
	cfg.Version = 2
	cfg.Listeners[0].Ingress = &dataplane.Ingress{Allow: []string{"127.0.0.3/32"}}
	mustApply(t, e, cfg)
	removed.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := removed.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the connection of a client the security groups no longer admit is still open (read %d, %v)", n, err)
	}
	if err := request(kept); err != nil {
		t.Fatalf("the connection of a client still admitted was cut: %v", err)
	}
}
