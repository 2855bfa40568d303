package engine

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// promListener is a PROMETHEUS listener of load balancer lb.
func promListener(id, lb string, port int) dataplane.Listener {
	return dataplane.Listener{ID: id, LoadBalancerID: lb, Protocol: dataplane.ProtocolPrometheus, Addresses: []string{"127.0.0.1"},
		ProtocolPort: port, ConnectionLimit: -1, TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000}
}

// exposition is a scrape parsed strictly: every sample line is name{labels} value, and
// every family has HELP and TYPE lines before its first sample.
type scrape map[string]float64 // `name{labels}` → value

var sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)?\})? (-?[0-9.e+]+)$`)

func parseScrape(t *testing.T, body string) scrape {
	t.Helper()
	out := scrape{}
	help, typ := map[string]bool{}, map[string]bool{}
	if !strings.HasSuffix(body, "\n") {
		t.Fatalf("exposition does not end with a newline")
	}
	for i, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
			f := strings.Fields(line)
			if len(f) < 4 || help[f[2]] {
				t.Fatalf("line %d: bad or repeated HELP: %q", i+1, line)
			}
			help[f[2]] = true
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if len(f) != 4 || (f[3] != "gauge" && f[3] != "counter") || typ[f[2]] || !help[f[2]] {
				t.Fatalf("line %d: bad TYPE (or before HELP): %q", i+1, line)
			}
			typ[f[2]] = true
		default:
			m := sampleRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("line %d: not a sample: %q", i+1, line)
			}
			if !typ[m[1]] {
				t.Fatalf("line %d: sample of %s before its HELP/TYPE", i+1, m[1])
			}
			v, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				t.Fatalf("line %d: value: %v", i+1, err)
			}
			key := m[1] + m[2]
			if _, dup := out[key]; dup {
				t.Fatalf("line %d: duplicate series %s", i+1, key)
			}
			out[key] = v
		}
	}
	return out
}

func (s scrape) has(prefix string) bool {
	for k := range s {
		if strings.Contains(k, prefix) {
			return true
		}
	}
	return false
}

// TestPrometheusListener: a PROMETHEUS listener serves its own load balancer's metrics,
// counted from real traffic, in valid exposition format; other paths are 404, other
// methods 405, allowed_cidrs applies, another load balancer's objects never show.
func TestPrometheusListener(t *testing.T) {
	checkGoroutines(t)
	b1, b2 := startBackend(t, "b1"), startBackend(t, "b2")
	defer b1.stop()
	defer b2.stop()
	e := newEngine(t, Options{})
	web, prom, other := freePort(t), freePort(t), freePort(t)
	cidrProm := freePort(t)
	lisOther := httpListener("l-other", other, "p-other")
	lisOther.LoadBalancerID = "lb-other"
	restricted := promListener("l-prom-restricted", "lb", cidrProm)
	restricted.AllowedCIDRs = []string{"127.0.0.2/32"}
	cfg := &dataplane.Config{Version: 1,
		Listeners: []dataplane.Listener{httpListener("l-web", web, "p-web"), promListener("l-prom", "lb", prom), lisOther, restricted},
		Pools: []dataplane.Pool{
			pool("p-web", dataplane.ProtocolHTTP, dataplane.RoundRobin, b1.member("m1"), b2.member("m2")),
			pool("p-other", dataplane.ProtocolHTTP, dataplane.RoundRobin, b1.member("m-other")),
		}}
	mustApply(t, e, cfg)

	c := newClient()
	defer c.CloseIdleConnections()
	const n = 10
	for i := 0; i < n; i++ {
		if code, _ := get(t, clientFrom("127.0.0.1"), fmt.Sprintf("http://127.0.0.1:%d/", web)); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", prom)
	// Scrape on one keep-alive connection (a raw one: an http.Transport may open another
	// on its own, which would count) until the proxied connections have all been
	// released (the client closing is seen by the proxy a moment later).
	kc, err := dialKeepAlive(fmt.Sprintf("127.0.0.1:%d", prom))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	var body string
	var s scrape
	for deadline := time.Now().Add(patience); ; {
		resp, b, err := kc.get("/metrics")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
		}
		if ct := resp.Header.Get("Content-Type"); ct != MetricsContentType {
			t.Errorf("Content-Type %q", ct)
		}
		body = b
		s = parseScrape(t, body)
		// The load balancer's count is read before the listeners' in one scrape: a
		// connection released in between shows in one and not in the other.
		if s[`octavia_listener_current_sessions{listener="l-web"}`] == 0 && s[`octavia_loadbalancer_current_connections`] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxied connections still open after %v:\n%s", patience, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := map[string]float64{
		`octavia_loadbalancer_listeners`:                                       3,
		`octavia_loadbalancer_connections_total`:                               n + 1, // + this keep-alive scrape
		`octavia_loadbalancer_current_connections`:                             1,
		`octavia_listener_status{listener="l-web"}`:                            1,
		`octavia_listener_sessions_total{listener="l-web"}`:                    n,
		`octavia_listener_current_sessions{listener="l-web"}`:                  0,
		`octavia_listener_request_errors_total{listener="l-web"}`:              0,
		`octavia_loadbalancer_requests_total`:                                  n,
		`octavia_listener_http_requests_total{listener="l-web"}`:               n,
		`octavia_listener_http_responses_total{listener="l-web",code="2xx"}`:   n,
		`octavia_listener_http_responses_total{listener="l-web",code="5xx"}`:   0,
		`octavia_listener_http_responses_total{listener="l-web",code="other"}`: 0,
		`octavia_listener_limit_sessions{listener="l-web"}`:                    0,
		`octavia_listener_sessions_total{listener="l-prom"}`:                   1,
		`octavia_listener_current_sessions{listener="l-prom"}`:                 1,
		`octavia_listener_sessions_total{listener="l-prom-restricted"}`:        0,
		`octavia_pool_status{pool="p-web"}`:                                    1,
		`octavia_pool_active_members{pool="p-web"}`:                            2,
		`octavia_pool_backup_members{pool="p-web"}`:                            0,
		`octavia_pool_sessions_total{pool="p-web"}`:                            n,
		`octavia_pool_current_sessions{pool="p-web"}`:                          0,
		`octavia_pool_connection_errors_total{pool="p-web"}`:                   0,
		`octavia_member_sessions_total{pool="p-web",member="m1"}`:              n / 2,
		`octavia_member_sessions_total{pool="p-web",member="m2"}`:              n / 2,
		`octavia_member_current_sessions{pool="p-web",member="m1"}`:            0,
		`octavia_member_connection_errors_total{pool="p-web",member="m2"}`:     0,
		`octavia_member_status{pool="p-web",member="m1",state="NO_CHECK"}`:     1,
		`octavia_member_status{pool="p-web",member="m1",state="UP"}`:           0,
		`octavia_member_status{pool="p-web",member="m2",state="DOWN"}`:         0,
	}
	for k, v := range want {
		got, ok := s[k]
		if !ok {
			t.Errorf("missing %s", k)
		} else if got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	for _, k := range []string{`octavia_listener_bytes_in_total{listener="l-web"}`, `octavia_listener_bytes_out_total{listener="l-web"}`} {
		if s[k] <= 0 {
			t.Errorf("%s = %v, want > 0 after %d requests", k, s[k], n)
		}
	}
	// 4 LB, 3 listener series × 7 listener families, the HTTP listener's requests and 6
	// response classes, 1 pool × 6, 2 members × (5 states + 3).
	if len(s) != 4+3*7+7+6+2*8 {
		t.Errorf("%d series, want %d:\n%s", len(s), 4+3*7+7+6+2*8, body)
	}
	if s.has("l-prom\",code") || s.has(`octavia_listener_http_requests_total{listener="l-prom`) {
		t.Errorf("HTTP families of a PROMETHEUS listener:\n%s", body)
	}
	if s.has("lb-other") || s.has("l-other") || s.has("p-other") || s.has("m-other") {
		t.Errorf("another load balancer's objects in the scrape:\n%s", body)
	}

	// HEAD announces the length, sends no body; other paths 404; other methods 405.
	req, _ := http.NewRequest("HEAD", url, nil)
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 200 || resp.ContentLength <= 0 {
		t.Errorf("HEAD /metrics: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if code, _ := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", prom)); code != 404 {
		t.Errorf("GET /: %d, want 404", code)
	}
	if resp, err := c.Post(url, "text/plain", strings.NewReader("x")); err != nil || resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /metrics: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// Pipelined requests on one connection are answered in order.
	raw := rawExchange(t, fmt.Sprintf("127.0.0.1:%d", prom),
		"GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(strings.NewReader(raw))
	if r1, _ := readResponse(t, br, "GET"); r1.StatusCode != 404 {
		t.Errorf("pipelined 1: %d", r1.StatusCode)
	}
	if r2, b2 := readResponse(t, br, "GET"); r2.StatusCode != 200 || !strings.Contains(b2, "octavia_listener_sessions_total") {
		t.Errorf("pipelined 2: %d", r2.StatusCode)
	}
	// Malformed request: 400 and close.
	if got := statusOf(rawExchange(t, fmt.Sprintf("127.0.0.1:%d", prom), "BLAH\r\n\r\n")); got != "HTTP/1.1 400 Bad Request" {
		t.Errorf("malformed request: %q", got)
	}

	// allowed_cidrs: 127.0.0.1 is refused, 127.0.0.2 served.
	rurl := fmt.Sprintf("http://127.0.0.1:%d/metrics", cidrProm)
	if _, err := clientFrom("127.0.0.1").Get(rurl); err == nil {
		t.Errorf("scrape from 127.0.0.1 passed allowed_cidrs 127.0.0.2/32")
	}
	if code, _ := get(t, clientFrom("127.0.0.2"), rurl); code != 200 {
		t.Errorf("scrape from 127.0.0.2: %d", code)
	}

	// A member going into maintenance shows at the next scrape.
	cfg.Version = 2
	cfg.Pools[0].Members[1].AdminStateUp = false
	mustApply(t, e, cfg)
	_, body = get(t, c, url)
	s = parseScrape(t, body)
	if s[`octavia_member_status{pool="p-web",member="m2",state="MAINT"}`] != 1 || s[`octavia_pool_active_members{pool="p-web"}`] != 1 {
		t.Errorf("after disabling m2:\n%s", body)
	}
}

// TestPrometheusListenerValidation: a PROMETHEUS listener takes no pool, L7 policies or
// TLS; SCTP stays refused.
func TestPrometheusListenerValidation(t *testing.T) {
	base := func() *dataplane.Config {
		return &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{promListener("l", "lb", 9100)},
			Pools: []dataplane.Pool{pool("p", dataplane.ProtocolHTTP, dataplane.RoundRobin)}}
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("plain PROMETHEUS listener refused: %v", err)
	}
	withPool := base()
	withPool.Listeners[0].DefaultPoolID = "p"
	if err := withPool.Validate(); err == nil || !strings.Contains(err.Error(), "listeners[0].default_pool_id") {
		t.Errorf("PROMETHEUS listener with a pool: %v", err)
	}
	withL7 := base()
	withL7.Listeners[0].L7Policies = []dataplane.L7Policy{{ID: "x", Action: dataplane.ActionReject, Rules: []dataplane.L7Rule{{ID: "r", Type: dataplane.RulePath, CompareType: dataplane.CompareStartsWith, Value: "/"}}}}
	if err := withL7.Validate(); err == nil || !strings.Contains(err.Error(), "listeners[0].l7policies") {
		t.Errorf("PROMETHEUS listener with L7 policies: %v", err)
	}
	withTLS := base()
	withTLS.Listeners[0].TLS = &dataplane.ListenerTLS{}
	if err := withTLS.Validate(); err == nil || !strings.Contains(err.Error(), "listeners[0].tls") {
		t.Errorf("PROMETHEUS listener with TLS: %v", err)
	}
	sctp := base()
	sctp.Listeners[0].Protocol = dataplane.ProtocolSCTP
	if err := sctp.Validate(); err == nil || !strings.Contains(err.Error(), "not supported by this engine yet") {
		t.Errorf("SCTP listener: %v", err)
	}
}

// TestPrometheusHTTPRequestsAndResponses: a PROMETHEUS listener counts each HTTP listener's
// requests (an HTTP/2 stream is one) and its answers by status class — the member's, and
// the engine's own (a malformed request's 400, a pool without members' 503).
func TestPrometheusHTTPRequestsAndResponses(t *testing.T) {
	checkGoroutines(t)
	b1 := startBackend(t, "b1")
	defer b1.stop()
	e := newEngine(t, Options{})
	web, none, prom := freePort(t), freePort(t), freePort(t)
	mustApply(t, e, &dataplane.Config{Version: 1,
		Listeners: []dataplane.Listener{httpListener("l-web", web, "p-web"), httpListener("l-none", none, "p-none"), promListener("l-prom", "lb", prom)},
		Pools: []dataplane.Pool{
			pool("p-web", dataplane.ProtocolHTTP, dataplane.RoundRobin, b1.member("m1")),
			pool("p-none", dataplane.ProtocolHTTP, dataplane.RoundRobin),
		}})
	c := newClient()
	defer c.CloseIdleConnections()
	for i := 0; i < 3; i++ {
		if code, _ := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", web)); code != 200 {
			t.Fatalf("HTTP/1.1 request %d: %d", i, code)
		}
	}
	for i := 0; i < 2; i++ {
		if code, _ := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", none)); code != 503 {
			t.Fatalf("request %d to the pool without members: %d, want 503", i, code)
		}
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: &protos}, Timeout: ioWait}
	defer h2c.CloseIdleConnections()
	for i := 0; i < 2; i++ {
		resp, err := h2c.Get(fmt.Sprintf("http://127.0.0.1:%d/", web))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("HTTP/2 request %d: %d %s", i, resp.StatusCode, resp.Proto)
		}
	}
	raw, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", web), ioWait)
	if err != nil {
		t.Fatal(err)
	}
	raw.SetDeadline(time.Now().Add(ioWait))
	io.WriteString(raw, "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n")
	if b, _ := io.ReadAll(raw); !strings.HasPrefix(string(b), "HTTP/1.1 400") {
		t.Fatalf("malformed request: %q, want 400", b)
	}
	raw.Close()

	kc, err := dialKeepAlive(fmt.Sprintf("127.0.0.1:%d", prom))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	_, body, err := kc.get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	s := parseScrape(t, body)
	want := map[string]float64{
		`octavia_loadbalancer_requests_total`:                                   8,
		`octavia_listener_http_requests_total{listener="l-web"}`:                6,
		`octavia_listener_http_responses_total{listener="l-web",code="2xx"}`:    5,
		`octavia_listener_http_responses_total{listener="l-web",code="4xx"}`:    1,
		`octavia_listener_http_responses_total{listener="l-web",code="5xx"}`:    0,
		`octavia_listener_http_requests_total{listener="l-none"}`:               2,
		`octavia_listener_http_responses_total{listener="l-none",code="5xx"}`:   2,
		`octavia_listener_http_responses_total{listener="l-none",code="2xx"}`:   0,
		`octavia_listener_http_responses_total{listener="l-none",code="other"}`: 0,
	}
	for k, v := range want {
		if got, ok := s[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
}
