package haproxy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// Copied from internal/engine/metrics_test.go: the PROMETHEUS listener of this engine (a
// Lua service inside HAProxy) answers with the same octavia_* metrics as the native one.

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
	// Scrape on one keep-alive connection until the proxied connections have all been
	// released (the client closing is seen by the proxy a moment later).
	var body string
	var s scrape
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		body = string(b)
		s = parseScrape(t, body)
		if s[`octavia_listener_current_sessions{listener="l-web"}`] == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := map[string]float64{
		`octavia_loadbalancer_listeners`:                                   3,
		`octavia_loadbalancer_connections_total`:                           n + 1, // + this keep-alive scrape
		`octavia_loadbalancer_current_connections`:                         1,
		`octavia_listener_status{listener="l-web"}`:                        1,
		`octavia_listener_sessions_total{listener="l-web"}`:                n,
		`octavia_listener_current_sessions{listener="l-web"}`:              0,
		`octavia_listener_request_errors_total{listener="l-web"}`:          0,
		`octavia_listener_limit_sessions{listener="l-web"}`:                0,
		`octavia_listener_sessions_total{listener="l-prom"}`:               1,
		`octavia_listener_current_sessions{listener="l-prom"}`:             1,
		`octavia_listener_sessions_total{listener="l-prom-restricted"}`:    0,
		`octavia_pool_status{pool="p-web"}`:                                1,
		`octavia_pool_active_members{pool="p-web"}`:                        2,
		`octavia_pool_backup_members{pool="p-web"}`:                        0,
		`octavia_pool_sessions_total{pool="p-web"}`:                        n,
		`octavia_pool_current_sessions{pool="p-web"}`:                      0,
		`octavia_pool_connection_errors_total{pool="p-web"}`:               0,
		`octavia_member_sessions_total{pool="p-web",member="m1"}`:          n / 2,
		`octavia_member_sessions_total{pool="p-web",member="m2"}`:          n / 2,
		`octavia_member_current_sessions{pool="p-web",member="m1"}`:        0,
		`octavia_member_connection_errors_total{pool="p-web",member="m2"}`: 0,
		`octavia_member_status{pool="p-web",member="m1",state="NO_CHECK"}`: 1,
		`octavia_member_status{pool="p-web",member="m1",state="UP"}`:       0,
		`octavia_member_status{pool="p-web",member="m2",state="DOWN"}`:     0,
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
	// 3 listener series × 7 listener families, 1 pool × 6, 2 members × (5 states + 3), 3 LB.
	if len(s) != 3+3*7+6+2*8 {
		t.Errorf("%d series, want %d:\n%s", len(s), 3+3*7+6+2*8, body)
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
		"GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5*time.Second)
	br := bufio.NewReader(strings.NewReader(raw))
	if r1, _ := readResponse(t, br, "GET"); r1.StatusCode != 404 {
		t.Errorf("pipelined 1: %d", r1.StatusCode)
	}
	if r2, b2 := readResponse(t, br, "GET"); r2.StatusCode != 200 || !strings.Contains(b2, "octavia_listener_sessions_total") {
		t.Errorf("pipelined 2: %d", r2.StatusCode)
	}
	// Malformed request: 400 and close.
	if got := statusOf(rawExchange(t, fmt.Sprintf("127.0.0.1:%d", prom), "BLAH\r\n\r\n", 5*time.Second)); !strings.HasPrefix(got, "HTTP/1.1 400 ") {
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
	// The counters go on across that reload (a new HAProxy worker starts from zero; the
	// engine hands it what the earlier ones counted).
	if got := s[`octavia_listener_sessions_total{listener="l-web"}`]; got != n {
		t.Errorf("l-web sessions after a reload: %v, want %d", got, n)
	}
	if got := s[`octavia_member_sessions_total{pool="p-web",member="m1"}`]; got != n/2 {
		t.Errorf("m1 sessions after a reload: %v, want %d", got, n/2)
	}
}
