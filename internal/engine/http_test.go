package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/proxy"
)

func oneListener(port int, p dataplane.Pool) *dataplane.Config {
	return &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{httpListener("l1", port, p.ID)}, Pools: []dataplane.Pool{p}}
}

func TestHTTPRoundRobin(t *testing.T) {
	checkGoroutines(t)
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
	// Smooth weighted round robin is exact for one sequential client.
	if got["a"] != 50 || got["b"] != 50 {
		t.Fatalf("100 requests over two equal members: %v", got)
	}
	st := e.Stats()
	if st.Listeners[0].TotalConnections < 1 || st.Listeners[0].BytesIn == 0 || st.Listeners[0].BytesOut == 0 {
		t.Errorf("stats: %+v", st.Listeners[0])
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
	checkGoroutines(t)
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
	checkGoroutines(t)
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
	// Hold a slow request on whichever member gets it (until released); the next requests
	// avoid it.
	type answer struct {
		body string
		err  error
	}
	slow := make(chan answer, 1)
	go func() {
		resp, err := newClient().Get(url + "slow")
		if err != nil {
			slow <- answer{err: err}
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- answer{string(body), err}
	}()
	waitUntil(t, "the slow request reaches a member", func() bool { return a.hits.Load()+b.hits.Load() == 101 })
	busy := ""
	for _, m := range e.Stats().Members {
		if m.ActiveConnections == 1 {
			busy = map[string]string{"ma": "a", "mb": "b"}[m.MemberID]
		}
	}
	if busy == "" {
		t.Fatalf("no member shows the slow request as active: %+v", e.Stats().Members)
	}
	for i := 0; i < 10; i++ {
		if _, body := get(t, c, url); body == busy {
			t.Fatalf("request %d went to %s, which has a request in flight", i, busy)
		}
	}
	a.releaseSlow()
	b.releaseSlow()
	if got := <-slow; got.err != nil || got.body != busy {
		t.Fatalf("slow request answered by %q (%v), want %s", got.body, got.err, busy)
	}
}

func TestHTTPSourceIPHash(t *testing.T) {
	checkGoroutines(t)
	a, b := startBackend(t, "a"), startBackend(t, "b")
	port := freePort(t)
	e := newEngine(t, Options{})
	mustApply(t, e, oneListener(port, pool("p1", dataplane.ProtocolHTTP, dataplane.SourceIP, a.member("ma"), b.member("mb"))))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	per := map[string]int{}
	for i := 1; i <= 40; i++ {
		src := fmt.Sprintf("127.0.%d.%d", i/200, 1+i%200)
		c := clientFrom(src)
		_, first := get(t, c, url)
		for k := 0; k < 5; k++ {
			if _, body := get(t, c, url); body != first {
				t.Fatalf("client %s moved from %s to %s", src, first, body)
			}
		}
		per[first]++
	}
	if per["a"] < 8 || per["b"] < 8 {
		t.Fatalf("40 source addresses should spread over both members: %v", per)
	}
}

func TestHTTPConnectRetry(t *testing.T) {
	checkGoroutines(t)
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
	checkGoroutines(t)
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
	if !strings.HasPrefix(sc, proxy.HTTPCookieName+"="+wantID) {
		t.Fatalf("first response from %s: Set-Cookie %q, want %s=%s", body, sc, proxy.HTTPCookieName, wantID)
	}
	for i := 0; i < 10; i++ {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Cookie", "other=1; "+proxy.HTTPCookieName+"="+wantID)
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
	// Without the cookie, round robin alternates.
	_, x := get(t, c, url)
	_, y := get(t, c, url)
	if x == y {
		t.Fatalf("without the cookie two requests went to %s twice", x)
	}
}

func TestHTTPAppCookiePersistence(t *testing.T) {
	checkGoroutines(t)
	a, b := startBackend(t, "a"), startBackend(t, "b")
	port := freePort(t)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"), b.member("mb"))
	p.SessionPersistence = &dataplane.SessionPersistence{Type: dataplane.PersistAppCookie, CookieName: "JSESSIONID"}
	e := newEngine(t, Options{})
	mustApply(t, e, oneListener(port, p))
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
	for round := 0; round < 5; round++ {
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
				t.Fatalf("session %s learned on %s went to %s", sess, who, got)
			}
		}
	}
}

func TestHTTPProtocolFeatures(t *testing.T) {
	checkGoroutines(t)
	a := startBackend(t, "a")
	port := freePort(t)
	l := httpListener("l1", port, "p1")
	l.InsertHeaders = map[string]string{"X-Forwarded-For": "true", "X-Forwarded-Port": "true", "X-Forwarded-Proto": "TRUE", "X-Real-IP": "false"}
	e := newEngine(t, Options{})
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))}})
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	t.Run("forwarded headers and hop-by-hop", func(t *testing.T) {
		resp := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.9\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\nX-Keep: yes\r\n\r\n")
		if statusOf(resp) != "HTTP/1.1 200 OK" {
			t.Fatalf("got %q", resp)
		}
		a.mu.Lock()
		h := a.last
		a.mu.Unlock()
		if got := h.Values("X-Forwarded-For"); len(got) != 2 || got[0] != "192.0.2.9" || got[1] != "127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q, want the client's value then 127.0.0.1", got)
		}
		if h.Get("X-Forwarded-Port") != fmt.Sprint(port) || h.Get("X-Forwarded-Proto") != "http" || h.Get("X-Real-Ip") != "" {
			t.Errorf("inserted headers: %v", h)
		}
		if h.Get("X-Hop") != "" || h.Get("Keep-Alive") != "" || h.Get("X-Keep") != "yes" {
			t.Errorf("hop-by-hop handling: member saw %v", h)
		}
		if !strings.Contains(resp, "Connection: close") {
			t.Errorf("client asked to close; response lacks Connection: close: %q", resp)
		}
	})

	t.Run("chunked request and response", func(t *testing.T) {
		resp := rawExchange(t, addr, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
		if !strings.HasSuffix(resp, "hello world") || statusOf(resp) != "HTTP/1.1 200 OK" {
			t.Fatalf("chunked echo: %q", resp)
		}
		code, body := get(t, newClient(), "http://"+addr+"/chunked")
		if code != 200 || body != "part0;part1;part2;part3;part4;" {
			t.Fatalf("chunked response: %d %q", code, body)
		}
	})

	t.Run("large bodies both ways", func(t *testing.T) {
		// 3 MiB each way under -race on a loaded machine takes seconds, through the engine
		// or not: the exchange has no deadline, but a stall of stallWait fails it.
		payload := make([]byte, 3<<20+17)
		rand.Read(payload)
		c := stallClient()
		defer c.CloseIdleConnections()
		resp, err := c.Post("http://"+addr+"/echo", "application/octet-stream", bytes.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("echoed %d bytes (%v), want %d identical", len(got), err, len(payload))
		}
	})

	t.Run("expect 100-continue", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioWait))
		io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
		br := bufio.NewReader(c)
		line, _ := br.ReadString('\n')
		if line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("want 100 Continue before sending the body, got %q", line)
		}
		br.ReadString('\n')
		io.WriteString(c, "ping")
		resp, body := readResponse(t, br, "POST")
		if resp.StatusCode != 200 || body != "ping" {
			t.Fatalf("after 100-continue: %d %q", resp.StatusCode, body)
		}
	})

	t.Run("pipelined requests", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioWait))
		io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nonePOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwoGET / HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		for _, want := range []string{"one", "two", "a"} {
			m := "POST"
			if want == "a" {
				m = "GET"
			}
			resp, body := readResponse(t, br, m)
			if resp.StatusCode != 200 || body != want {
				t.Fatalf("pipelined: got %d %q, want %q", resp.StatusCode, body, want)
			}
		}
	})

	t.Run("HEAD and HTTP/1.0", func(t *testing.T) {
		resp := rawExchange(t, addr, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if statusOf(resp) != "HTTP/1.1 200 OK" || !strings.HasSuffix(resp, "\r\n\r\n") {
			t.Fatalf("HEAD: %q", resp)
		}
		resp = rawExchange(t, addr, "GET / HTTP/1.0\r\n\r\n")
		if statusOf(resp) != "HTTP/1.1 200 OK" || !strings.HasSuffix(resp, "a") {
			t.Fatalf("HTTP/1.0: %q", resp)
		}
	})

	t.Run("upgrade pass-through", func(t *testing.T) {
		ws := startUpgradeBackend(t)
		mustApply(t, e, &dataplane.Config{Version: 2, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, dataplane.Member{ID: "ws", Address: "127.0.0.1", ProtocolPort: ws, Weight: 1, AdminStateUp: true})}})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioWait))
		io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "websocket" {
			t.Fatalf("upgrade: %v %+v", err, resp)
		}
		for _, msg := range []string{"hello", "world"} {
			io.WriteString(c, msg)
			buf := make([]byte, len(msg))
			if _, err := io.ReadFull(br, buf); err != nil || string(buf) != msg {
				t.Fatalf("tunnel echo %q: %q %v", msg, buf, err)
			}
		}
	})
}

func startUpgradeBackend(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(upgradeHandler)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func TestHTTPMalformed(t *testing.T) {
	checkGoroutines(t)
	a := startBackend(t, "a")
	junk := startJunkBackend(t)
	port, noPool, junkPort, slowPort := freePort(t), freePort(t), freePort(t), freePort(t)
	slowL := httpListener("slow", slowPort, "p1")
	slowL.TimeoutMemberData = 300
	e := newEngine(t, Options{Proxy: proxy.Options{HeaderTimeout: 300 * time.Millisecond, MaxBodyBytes: 1000, MaxHeaders: 20, MaxHeaderBytes: 4096}})
	mustApply(t, e, &dataplane.Config{Version: 1,
		Listeners: []dataplane.Listener{httpListener("l1", port, "p1"), httpListener("nopool", noPool, ""), httpListener("junk", junkPort, "pj"), slowL},
		Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")),
			pool("pj", dataplane.ProtocolHTTP, dataplane.RoundRobin, dataplane.Member{ID: "junk", Address: "127.0.0.1", ProtocolPort: junk, Weight: 1, AdminStateUp: true})}})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for _, tc := range []struct {
		name, addr, req, want string
	}{
		{"bad request line", addr, "GARBAGE\r\n\r\n", "400"},
		{"bad version", addr, "GET / HTTP/2.0\r\nHost: x\r\n\r\n", "400"},
		{"no host on 1.1", addr, "GET / HTTP/1.1\r\n\r\n", "400"},
		{"two hosts", addr, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"},
		{"space before colon", addr, "GET / HTTP/1.1\r\nHost : x\r\n\r\n", "400"},
		{"obs-fold", addr, "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n  b\r\n\r\n", "400"},
		{"CL and TE", addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
		{"conflicting CL", addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "400"},
		{"bad CL", addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\n", "400"},
		{"unknown TE", addr, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "400"},
		{"bad chunk", addr, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "400"},
		{"NUL in header", addr, "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", "400"},
		{"CONNECT", addr, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", "405"},
		{"body too large", addr, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", "413"},
		{"chunked body too large", addr, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + strings.Repeat("x", 2048) + "\r\n0\r\n\r\n", "413"},
		{"headers too large", addr, "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n", "431"},
		{"too many headers", addr, "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", 30) + "\r\n", "431"},
		{"slowloris", addr, "GET / HTTP/1.1\r\nHost: x\r\n", "408"},
		{"no pool", fmt.Sprintf("127.0.0.1:%d", noPool), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "503"},
		{"member speaks garbage", fmt.Sprintf("127.0.0.1:%d", junkPort), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "502"},
		{"member too slow", fmt.Sprintf("127.0.0.1:%d", slowPort), "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", "504"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawExchange(t, tc.addr, tc.req)
			if got := statusOf(resp); !strings.HasPrefix(got, "HTTP/1.1 "+tc.want+" ") {
				t.Fatalf("request %q: got %q, want status %s", tc.req, resp, tc.want)
			}
		})
	}
	// The engine still serves after all that.
	if code, body := get(t, newClient(), "http://"+addr+"/"); code != 200 || body != "a" {
		t.Fatalf("after malformed requests: %d %q", code, body)
	}
	if errs := e.Stats().Listeners[0].RequestErrors; errs < 15 {
		t.Errorf("request_errors = %d, want at least 15", errs)
	}
	// A member with no pool members: 503.
	mustApply(t, e, &dataplane.Config{Version: 2, Listeners: []dataplane.Listener{httpListener("l1", port, "p1")},
		Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin)}})
	if got := statusOf(rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")); !strings.Contains(got, " 503 ") {
		t.Fatalf("empty pool: %q", got)
	}
}

// startJunkBackend answers every connection with bytes that are not HTTP.
func startJunkBackend(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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
				c.SetDeadline(time.Now().Add(ioWait))
				c.Read(make([]byte, 4096))
				io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\nnot http at all\r\n\r\n")
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().(*net.TCPAddr).Port
}

func TestConnectionLimit(t *testing.T) {
	checkGoroutines(t)
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
		c.SetDeadline(time.Now().Add(ioWait))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := readResponse(t, bufio.NewReader(c), "GET"); resp.StatusCode != 200 {
			t.Fatalf("connection %d: %d", i, resp.StatusCode)
		}
		held = append(held, c)
	}
	// The third concurrent connection is refused.
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.SetDeadline(time.Now().Add(ioWait))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		b, _ := io.ReadAll(c)
		c.Close()
		if strings.Contains(string(b), "200 OK") {
			t.Fatalf("third connection over a limit of 2 was served: %q", b)
		}
	}
	if st := e.Stats().Listeners[0]; st.ActiveConnections != 2 || st.RequestErrors < 1 {
		t.Fatalf("stats with the limit reached: %+v", st)
	}
	held[0].Close()
	waitUntil(t, "the engine sees one of the two connections closed", func() bool { return e.Stats().Listeners[0].ActiveConnections == 1 })
	if code, _ := get(t, newClient(), "http://"+addr+"/"); code != 200 {
		t.Fatalf("after one closed, a new connection got %d", code)
	}
}

func TestAllowedCIDRs(t *testing.T) {
	checkGoroutines(t)
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
}

// TestReloadUnderLoad applies 50 config changes while 4 keep-alive clients send requests
// without pause, and requires every request to succeed and every connection to carry
// requests across every reload (the listener survives each one).
func TestReloadUnderLoad(t *testing.T) {
	checkGoroutines(t)
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
	// Raw keep-alive connections, not an http.Transport: a Transport opens another
	// connection now and then on its own (it gives up on reusing one whose request
	// write it has not seen finish within 50 ms, which a loaded machine allows), and
	// it silently retries a GET on a fresh one, which would hide a dropped connection.
	load := startKeepAliveLoad(t, fmt.Sprintf("127.0.0.1:%d", port), 4, func(int) string { return "/" },
		func(_ string, resp *http.Response, body string) error {
			if resp.StatusCode != 200 || !strings.HasPrefix(body, "b") {
				return fmt.Errorf("answer %d %q", resp.StatusCode, body)
			}
			return nil
		})
	load.advance(t, 1)
	for v := 2; v <= 51; v++ {
		mustApply(t, e, cfgFor(v))
		if err := e.Apply(context.Background(), cfgFor(v)); err != nil {
			t.Fatalf("identical config is not a no-op: %v", err)
		}
		// Two answers per connection: at least one request sent after this version
		// took over.
		load.advance(t, 2)
	}
	n := load.stop(t)
	if st := e.Stats().Listeners[0]; st.TotalConnections != 4 {
		t.Fatalf("the listener accepted %d connections, want the 4 kept alive", st.TotalConnections)
	}
	t.Logf("50 reloads under load: %d requests on 4 keep-alive connections, 0 failed", n)
}

func TestApplyRefusals(t *testing.T) {
	checkGoroutines(t)
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
	extra := httpListener("l2", blocker.Addr().(*net.TCPAddr).Port, "p1")
	clash.Listeners = append(clash.Listeners, extra)
	if err := e.Apply(context.Background(), clash); err == nil || !strings.Contains(err.Error(), "listeners[1].addresses[0]") {
		t.Fatalf("bind failure: %v", err)
	}
	if code, body := get(t, newClient(), url); code != 200 || body != "a" {
		t.Fatalf("old config stopped serving after refusals: %d %q", code, body)
	}
	if e.Version() != 5 {
		t.Fatalf("version %d in force, want 5", e.Version())
	}
}

func TestRemovedListenerDrains(t *testing.T) {
	checkGoroutines(t)
	a := startBackend(t, "a")
	port := freePort(t)
	e := newEngine(t, Options{})
	// A keep-alive wait of 24 days: an idle connection that ends within the test's
	// patience was drained, not timed out.
	l := httpListener("l1", port, "p1")
	l.TimeoutClientData = dataplane.MaxTimeout
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))}})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(patience))
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n") // held by the member until released
	waitUntil(t, "the slow request reaches the member", func() bool { return a.hits.Load() == 1 })
	// An idle keep-alive connection, too.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idle.SetDeadline(time.Now().Add(patience))
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	ibr := bufio.NewReader(idle)
	if resp, _ := readResponse(t, ibr, "GET"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("keep-alive request: %d close=%v", resp.StatusCode, resp.Close)
	}
	mustApply(t, e, &dataplane.Config{Version: 2})
	if n, err := ibr.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("idle keep-alive connection of a removed listener: read %d, %v; want EOF at once", n, err)
	}
	if _, err := net.DialTimeout("tcp", addr, ioWait); err == nil {
		t.Fatalf("removed listener still accepts")
	}
	a.releaseSlow()
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
	checkGoroutines(t)
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
	a.mu.Lock()
	xff := a.last.Get("X-Forwarded-For")
	a.mu.Unlock()
	if xff != "::1" {
		t.Fatalf("X-Forwarded-For from an IPv6 client = %q, want ::1", xff)
	}
	if got := e.Addrs(); len(got) != 2 || got[0] != fmt.Sprintf("tcp/127.0.0.1:%d", port) || got[1] != fmt.Sprintf("tcp/[::1]:%d", port) {
		t.Fatalf("Addrs() = %v", got)
	}
}

// TestHTTPProxyProtocolPool sends a PROXY v1 header on each member connection of an HTTP
// listener; the member connection stays private to its client connection.
func TestHTTPProxyProtocolPool(t *testing.T) {
	checkGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	headers := make(chan string, 4)
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
				c.SetDeadline(time.Now().Add(ioWait))
				br := bufio.NewReader(c)
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				headers <- line
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	defer func() { ln.Close(); wg.Wait() }()
	port := freePort(t)
	p := pool("p1", dataplane.ProtocolProxy, dataplane.RoundRobin, dataplane.Member{ID: "m", Address: "127.0.0.1", ProtocolPort: ln.Addr().(*net.TCPAddr).Port, Weight: 1, AdminStateUp: true})
	e := newEngine(t, Options{})
	mustApply(t, e, oneListener(port, p))
	for client := 0; client < 2; client++ {
		c := dialFrom(t, fmt.Sprintf("127.0.0.%d", 20+client), fmt.Sprintf("127.0.0.1:%d", port))
		c.SetDeadline(time.Now().Add(ioWait))
		br := bufio.NewReader(c)
		for i := 0; i < 3; i++ {
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("client %d request %d: %d %q", client, i, resp.StatusCode, body)
			}
		}
		sport := c.LocalAddr().(*net.TCPAddr).Port
		c.Close()
		want := fmt.Sprintf("PROXY TCP4 127.0.0.%d 127.0.0.1 %d %d\r\n", 20+client, sport, port)
		if got := <-headers; got != want {
			t.Fatalf("client %d: member saw %q, want %q", client, got, want)
		}
	}
	select {
	case h := <-headers:
		t.Fatalf("a third member connection was opened (%q): three requests of one client share one", h)
	default:
	}
}
