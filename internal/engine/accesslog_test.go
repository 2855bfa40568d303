package engine

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/clock"
	"github.com/fulcrumlb/fulcrum/internal/engine/proxy"
)

// openLog opens a file access log in the test's directory.
func openLog(t *testing.T) (*proxy.AccessLog, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "access.log")
	al, err := proxy.OpenAccessLog("file:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	return al, path
}

// logLines waits until the access log holds want lines (the proxies log after they have
// answered, so the client may be ahead) and returns them decoded. Every line must be
// printable ASCII and one JSON object.
func logLines(t *testing.T, al *proxy.AccessLog, path string, want int) []map[string]any {
	t.Helper()
	var raw []byte
	waitUntil(t, fmt.Sprintf("%d access-log lines", want), func() bool {
		al.Sync()
		var err error
		raw, err = os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Count(raw, []byte("\n")) >= want
	})
	var out []map[string]any
	for _, line := range strings.SplitAfter(string(raw), "\n") {
		if line == "" {
			continue
		}
		for _, c := range []byte(strings.TrimSuffix(line, "\n")) {
			if c < 0x20 || c >= 0x7f {
				t.Fatalf("access-log line carries byte %#x: %q", c, line)
			}
		}
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("access-log line is not one JSON object: %v: %q", err, line)
		}
		if dec.More() {
			t.Fatalf("access-log line holds more than one object: %q", line)
		}
		out = append(out, m)
	}
	if len(out) != want {
		t.Fatalf("%d access-log lines, want %d:\n%s", len(out), want, raw)
	}
	return out
}

func num(t *testing.T, m map[string]any, k string) int64 {
	t.Helper()
	n, ok := m[k].(json.Number)
	if !ok {
		t.Fatalf("field %s = %#v in %v", k, m[k], m)
	}
	v, err := n.Int64()
	if err != nil {
		t.Fatalf("field %s = %v: %v", k, n, err)
	}
	return v
}

func TestAccessLogHTTPPipelinedAndPerListenerSwitch(t *testing.T) {
	checkGoroutines(t)
	b := startBackend(t, "b1")
	al, path := openLog(t)
	port, quiet := freePort(t), freePort(t)
	off := false
	lq := httpListener("quiet", quiet, "p")
	lq.ConnectionLogging = &off
	e := newEngine(t, Options{Proxy: proxy.Options{AccessLog: al}})
	mustApply(t, e, &dataplane.Config{Contract: 3, Version: 1,
		Listeners: []dataplane.Listener{httpListener("web", port, "p"), lq},
		Pools:     []dataplane.Pool{pool("p", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}})

	// Three pipelined requests on one connection, the last closing it; then one on the
	// listener whose connection_logging is false.
	resp := rawExchange(t, fmt.Sprintf("127.0.0.1:%d", port),
		"GET /a HTTP/1.1\r\nHost: one.example\r\n\r\n"+
			"GET /b?q=1 HTTP/1.1\r\nHost: two.example\r\n\r\n"+
			"HEAD /c?status=404 HTTP/1.1\r\nHost: three.example\r\nConnection: close\r\n\r\n")
	if n := strings.Count(resp, "HTTP/1.1 "); n != 3 {
		t.Fatalf("%d responses to 3 pipelined requests:\n%s", n, resp)
	}
	if got := rawExchange(t, fmt.Sprintf("127.0.0.1:%d", quiet), "GET /quiet HTTP/1.1\r\nHost: q\r\nConnection: close\r\n\r\n"); statusOf(got) != "HTTP/1.1 200 OK" {
		t.Fatalf("quiet listener: %q", got)
	}
	// The quiet listener's request was answered before this one: had it been logged,
	// its line would be there by the time this one's is.
	rawExchange(t, fmt.Sprintf("127.0.0.1:%d", port), "GET /last HTTP/1.1\r\nHost: four.example\r\nConnection: close\r\n\r\n")
	lines := logLines(t, al, path, 4)
	want := []struct{ method, host, target string }{
		{"GET", "one.example", "/a"}, {"GET", "two.example", "/b?q=1"}, {"HEAD", "three.example", "/c?status=404"}, {"GET", "four.example", "/last"},
	}
	for i, l := range lines {
		w := want[i]
		if l["kind"] != "http" || l["listener_id"] != "web" || l["loadbalancer_id"] != "lb" || l["method"] != w.method ||
			l["host"] != w.host || l["target"] != w.target || l["version"] != "HTTP/1.1" || l["member_id"] != "m1" ||
			l["pool_id"] != "p" || l["member"] != b.addr.String() || l["answered_by"] != "member" {
			t.Errorf("line %d = %v, want %+v from member m1 of pool p", i, l, w)
		}
		if !strings.HasPrefix(l["client"].(string), "127.0.0.1:") {
			t.Errorf("line %d client = %v", i, l["client"])
		}
		if _, err := time.Parse(time.RFC3339Nano, l["time"].(string)); err != nil {
			t.Errorf("line %d time: %v", i, err)
		}
		wantStatus := int64(200)
		if i == 2 {
			wantStatus = 404
		}
		if s := num(t, l, "status"); s != wantStatus {
			t.Errorf("line %d status %d, want %d", i, s, wantStatus)
		}
		if num(t, l, "bytes_in") <= 0 || num(t, l, "bytes_out") <= 0 {
			t.Errorf("line %d bytes: %v", i, l)
		}
		c, r, total := num(t, l, "t_connect_us"), num(t, l, "t_response_us"), num(t, l, "t_total_us")
		if c < 0 || r < c || total < r {
			t.Errorf("line %d timings out of order: connect %d, response %d, total %d", i, c, r, total)
		}
	}
	// bytes_out is what the client got: the four lines' sum is the bytes of the
	// responses of the first connection and of the last.
	first := num(t, lines[0], "bytes_out") + num(t, lines[1], "bytes_out") + num(t, lines[2], "bytes_out")
	if first != int64(len(resp)) {
		t.Errorf("bytes_out of the pipelined requests = %d, the client read %d", first, len(resp))
	}
}

func TestAccessLogTLSPipelined(t *testing.T) {
	ca := newTestCA(t, "test CA")
	def, _ := ca.issue(t, "www.example.test", "www.example.test")
	b := startBackend(t, "b1")
	al, path := openLog(t)
	port := freePort(t)
	e := newEngine(t, Options{Proxy: proxy.Options{AccessLog: al}})
	mustApply(t, e, &dataplane.Config{Version: 1,
		Listeners: []dataplane.Listener{httpsListener("tls", port, "p", &dataplane.ListenerTLS{DefaultCertificate: &def})},
		Pools:     []dataplane.Pool{pool("p", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}})
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: ioWait}, "tcp", fmt.Sprintf("127.0.0.1:%d", port),
		&tls.Config{RootCAs: ca.pool(), ServerName: "www.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioWait))
	const n = 5
	var reqs strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&reqs, "GET /t%d HTTP/1.1\r\nHost: www.example.test\r\n", i)
		if i == n-1 {
			reqs.WriteString("Connection: close\r\n")
		}
		reqs.WriteString("\r\n")
	}
	io.WriteString(c, reqs.String())
	resp, err := io.ReadAll(c)
	if err != nil || strings.Count(string(resp), "HTTP/1.1 200 OK") != n {
		t.Fatalf("%v: %q", err, resp)
	}
	lines := logLines(t, al, path, n)
	var out int64
	for i, l := range lines {
		if l["target"] != fmt.Sprintf("/t%d", i) || l["tls_sni"] != "www.example.test" || num(t, l, "status") != 200 || l["listener_id"] != "tls" {
			t.Errorf("line %d = %v", i, l)
		}
		out += num(t, l, "bytes_out")
	}
	if out != int64(len(resp)) {
		t.Errorf("bytes_out sums to %d, the client read %d", out, len(resp))
	}
}

func TestAccessLogEngineAnswersAndNoPool(t *testing.T) {
	al, path := openLog(t)
	port := freePort(t)
	e := newEngine(t, Options{Proxy: proxy.Options{AccessLog: al}})
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{httpListener("web", port, "")}})
	got := rawExchange(t, fmt.Sprintf("127.0.0.1:%d", port), "GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
	if statusOf(got) != "HTTP/1.1 503 Service Unavailable" {
		t.Fatalf("no pool: %q", got)
	}
	l := logLines(t, al, path, 1)[0]
	if num(t, l, "status") != 503 || l["answered_by"] != "engine" || l["member_id"] != "" || num(t, l, "t_connect_us") != -1 ||
		num(t, l, "bytes_out") != int64(len(got)) {
		t.Fatalf("line %v for an engine's 503 of %d bytes", l, len(got))
	}
}

// TestAccessLogCannotBeInjected: a client's CR, LF, quotes, backslashes, control and
// non-ASCII bytes in the request line and in Host never split, end or forge a line:
// each request, served or refused, is exactly one line whose fields hold the client's
// bytes escaped.
func TestAccessLogCannotBeInjected(t *testing.T) {
	b := startBackend(t, "b1")
	al, path := openLog(t)
	port := freePort(t)
	e := newEngine(t, Options{Proxy: proxy.Options{AccessLog: al}})
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{httpListener("web", port, "p")},
		Pools: []dataplane.Pool{pool("p", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}})
	forged := `","status":200,"kind":"forged`
	reqs := []string{
		// Quotes and a JSON fragment in the target.
		"GET /q\"" + forged + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
		// The same in Host, after a legal request line.
		"GET /host HTTP/1.1\r\nHost: a\"" + forged + "\r\nConnection: close\r\n\r\n",
		// A bare CR and a bare LF inside the request line.
		"GET /cr\rX-Forged: 1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
		"GET /lf\n{\"kind\":\"forged\"} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
		// Control and non-ASCII bytes and a backslash.
		"GET /\x01\x7f\xc3\xa9\xff\\x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
		// A legal target with encoded CR LF and quotes: logged as sent.
		"GET /p%0d%0a%22?x=%22 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	}
	// One at a time: a refused request's line may come after its connection closed.
	var lines []map[string]any
	for i, r := range reqs {
		rawExchange(t, fmt.Sprintf("127.0.0.1:%d", port), r)
		lines = logLines(t, al, path, i+1)
	}
	for i, l := range lines {
		if l["kind"] != "http" || l["listener_id"] != "web" {
			t.Errorf("line %d forged: %v", i, l)
		}
	}
	// The target with quotes is legal enough to forward: logged as sent.
	if l := lines[0]; l["target"] != `/q"`+forged || num(t, l, "status") != 200 {
		t.Errorf("line 0 = %v, want target %q", l, `/q"`+forged)
	}
	for i, want := range []string{"", "", "GET /cr", "GET /lf"} {
		if want != "" && (lines[i]["bad_request"] != want || num(t, lines[i], "status") != 400) {
			t.Errorf("line %d = %v, want a 400 with bad_request %q", i, lines[i], want)
		}
	}
	// Host is refused or forwarded; either way the line holds what the client sent.
	if l := lines[1]; l["bad_request"] != "GET /host HTTP/1.1" && l["host"] != `a"`+forged {
		t.Errorf("line 1 = %v", l)
	}
	// A byte ≥ 0x80 or a control byte is one \u00XX escape per byte.
	raw, _ := os.ReadFile(path)
	if !bytes.Contains(raw, []byte(`"bad_request":"GET /\u0001\u007f\u00c3\u00a9\u00ff\\x HTTP/1.1"`)) {
		t.Errorf("control and non-ASCII bytes not escaped byte by byte:\n%s", raw)
	}
	if l := lines[5]; l["target"] != "/p%0d%0a%22?x=%22" || num(t, l, "status") != 200 {
		t.Errorf("encoded target: %v", l)
	}
}

func TestAccessLogTCPAndUDPFlows(t *testing.T) {
	checkGoroutines(t)
	echo := startEcho(t, "e1")
	u1 := startUDPEcho(t, "u1")
	al, path := openLog(t)
	tport, uport := freePort(t), freePort(t)
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	lu := tcpListener("udp", dataplane.ProtocolUDP, uport, "pu")
	lu.TimeoutClientData = 2000
	e := newEngine(t, Options{Clock: clk, Proxy: proxy.Options{AccessLog: al}})
	mustApply(t, e, &dataplane.Config{Version: 1,
		Listeners: []dataplane.Listener{tcpListener("tcp", dataplane.ProtocolTCP, tport, "pt"), lu},
		Pools: []dataplane.Pool{
			pool("pt", dataplane.ProtocolTCP, dataplane.RoundRobin, dataplane.Member{ID: "mt", Address: "127.0.0.1", ProtocolPort: echo, Weight: 1, AdminStateUp: true}),
			pool("pu", dataplane.ProtocolUDP, dataplane.RoundRobin, dataplane.Member{ID: "mu", Address: "127.0.0.1", ProtocolPort: u1, Weight: 1, AdminStateUp: true}),
		}})

	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", tport), ioWait)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(ioWait))
	payload := strings.Repeat("x", 1000)
	io.WriteString(c, payload)
	c.(*net.TCPConn).CloseWrite()
	back, err := io.ReadAll(bufio.NewReader(c))
	c.Close()
	if err != nil || string(back) != "e1:"+payload {
		t.Fatalf("TCP echo: %v %q", err, back)
	}
	l := logLines(t, al, path, 1)[0]
	if l["kind"] != "tcp" || l["listener_id"] != "tcp" || l["member_id"] != "mt" || num(t, l, "bytes_in") != 1000 ||
		num(t, l, "bytes_out") != int64(len(back)) || l["termination"] != "closed" || num(t, l, "t_total_us") < num(t, l, "t_connect_us") {
		t.Fatalf("TCP flow line: %v", l)
	}

	uc, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", uport))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	buf := make([]byte, 2048)
	for i := 0; i < 3; i++ {
		uc.SetDeadline(time.Now().Add(ioWait))
		uc.Write([]byte("ping"))
		if _, err := uc.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	// The flow's line comes when it ends: idle for timeout_client_data of the clock.
	clk.Advance(3 * time.Second)
	clk.Advance(time.Second)
	l = logLines(t, al, path, 2)[1]
	if l["kind"] != "udp" || l["member_id"] != "mu" || num(t, l, "bytes_in") != 12 || num(t, l, "bytes_out") != 3*int64(len("u1:ping")) ||
		l["termination"] != "idle_timeout" {
		t.Fatalf("UDP flow line: %v", l)
	}
}

func TestAccessLogSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	al, err := proxy.OpenAccessLog("syslog://"+pc.LocalAddr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	b := startBackend(t, "b1")
	port := freePort(t)
	e := newEngine(t, Options{Proxy: proxy.Options{AccessLog: al}})
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{httpListener("web", port, "p")},
		Pools: []dataplane.Pool{pool("p", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}})
	rawExchange(t, fmt.Sprintf("127.0.0.1:%d", port), "GET /s HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	pc.SetReadDeadline(time.Now().Add(patience))
	buf := make([]byte, 64<<10)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no syslog datagram: %v", err)
	}
	msg := string(buf[:n])
	// RFC 5424: <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG.
	parts := strings.SplitN(msg, " ", 8)
	if len(parts) != 8 || parts[0] != "<134>1" || parts[3] != "fulcrum" || parts[4] != fmt.Sprint(os.Getpid()) || parts[5] != "http" || parts[6] != "-" {
		t.Fatalf("not an RFC 5424 message: %q", msg)
	}
	if _, err := time.Parse(time.RFC3339Nano, parts[1]); err != nil {
		t.Fatalf("timestamp %q: %v", parts[1], err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(parts[7]), &m); err != nil || m["target"] != "/s" {
		t.Fatalf("message body %q: %v", parts[7], err)
	}
}

func TestOpenAccessLogRefusesBadSpecs(t *testing.T) {
	for _, spec := range []string{"", "stdout", "syslog://", "syslog://host", "syslog+unix://x/y", "syslog://h:1/path", "http://h:1", "syslog://u@h:1"} {
		if al, err := proxy.OpenAccessLog(spec, nil); err == nil {
			al.Close()
			t.Errorf("OpenAccessLog(%q) accepted", spec)
		}
	}
}

// BenchmarkHTTPForwardAccessLog is BenchmarkHTTPForward with every request logged to a
// file: the cost of the access log on the request path (compare with
// BenchmarkHTTPForward).
func BenchmarkHTTPForwardAccessLog(b *testing.B) {
	al, err := proxy.OpenAccessLog("file:"+filepath.Join(b.TempDir(), "access.log"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer al.Close()
	benchForwardWith(b, Options{Proxy: proxy.Options{AccessLog: al}}, nil, "HTTP/1.1 200 OK\r\n")
	if al.Dropped() != 0 {
		b.Logf("%d lines dropped", al.Dropped())
	}
}

// TestAccessLogWarnsWhenTheSinkFails: a syslog+tcp sink nobody listens on fails every
// batch; traffic is served all the same and the operator's log says lines are lost.
func TestAccessLogWarnsWhenTheSinkFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	var mu sync.Mutex
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	al, err := proxy.OpenAccessLog("syslog+tcp://"+dead, log)
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	b := startBackend(t, "b1")
	port := freePort(t)
	e := newEngine(t, Options{Proxy: proxy.Options{AccessLog: al}})
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{httpListener("web", port, "p")},
		Pools: []dataplane.Pool{pool("p", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}})
	if got := rawExchange(t, fmt.Sprintf("127.0.0.1:%d", port), "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"); statusOf(got) != "HTTP/1.1 200 OK" {
		t.Fatalf("served %q", got)
	}
	waitUntil(t, "a warning about lost lines", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(logs.String(), "access log is losing lines") && al.Failed() > 0
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
