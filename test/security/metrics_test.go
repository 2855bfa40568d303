package security

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var metricsBannerRE = regexp.MustCompile(`metrics \(Prometheus, operators only\) on (http://[0-9.:]+/metrics)`)

// metricsScrape GETs url and returns the samples by series text; a line
// that is not a comment or a "series value" sample fails the test.
func metricsScrape(t *testing.T, url string) (string, map[string]float64) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("scrape: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i <= 0 || err != nil {
			t.Fatalf("bad exposition line %q", line)
		}
		out[line[:i]] = v
	}
	return string(raw), out
}

// metricsSum adds the samples whose series starts with prefix and contains
// every fragment.
func metricsSum(got map[string]float64, prefix string, frags ...string) float64 {
	var n float64
	for k, v := range got {
		if strings.HasPrefix(k, prefix) && contains([]byte(k), frags...) {
			n += v
		}
	}
	return n
}

// TestMetricsOperatorOnly: the control plane's /metrics is served on the
// operator's own listener (not the API a tenant reaches), its counters move
// with API calls, reconciles and heartbeats, and no client input becomes a
// label value.
func TestMetricsOperatorOnly(t *testing.T) {
	c := newCloud(t, "--metrics-listen", "127.0.0.1:0", "--agent-heartbeat", "200ms")
	m := metricsBannerRE.FindStringSubmatch(c.s.Logs())
	if m == nil {
		t.Fatalf("no metrics address in the banner:\n%s", c.s.Logs())
	}
	url := m[1]
	_, before := metricsScrape(t, url)

	tenant := c.user(t, "metrics-tenant", "metrics-alice", "load-balancer_member")
	r := tenant.must(t, "GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200)
	list, _ := r.body["subnets"].([]any)
	if len(list) != 1 {
		t.Fatalf("private-subnet: %s", r.raw)
	}
	r = tenant.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "metrics-lb", "vip_subnet_id": str(list[0].(map[string]any), "id")}}, 201)
	id := str(r.body, "loadbalancer", "id")
	tenant.waitLB(t, id, "ACTIVE", 60*time.Second)
	const probe = "no-such-lb-3f9c2a"
	tenant.must(t, "GET", "/v2/lbaas/loadbalancers/"+probe, nil, 404)
	tenant.must(t, "GET", "/v2.0/lbaas/loadbalancers/"+probe+"-again", nil, 404)

	// A tenant's token does not open /metrics on the API listener.
	for _, path := range []string{"/metrics", "/v2/metrics", "/identity/metrics"} {
		r := tenant.call(t, "GET", path, nil)
		if r.code == 200 || contains(r.raw, "fulcrum_api_requests_total") {
			t.Fatalf("tenant GET %s on the API: %d %s", path, r.code, r.raw)
		}
	}

	var text string
	var after map[string]float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		text, after = metricsScrape(t, url)
		if after[`fulcrum_agents{status="UP"}`] >= 1 && metricsSum(after, "fulcrum_loadbalancers{", `provisioning_status="ACTIVE"`) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agents and load balancers never showed:\n%s", text)
		}
		time.Sleep(100 * time.Millisecond)
	}
	created := `fulcrum_api_requests_total{method="POST",route="/v2/lbaas/loadbalancers",code="201"}`
	if after[created]-before[created] < 1 {
		t.Errorf("%s did not move: %v → %v", created, before[created], after[created])
	}
	missing := `fulcrum_api_requests_total{method="GET",route="/v2/lbaas/loadbalancers/{id}",code="404"}`
	if after[missing]-before[missing] < 2 {
		t.Errorf("%s moved by %v, want ≥ 2 (both spellings of the path)", missing, after[missing]-before[missing])
	}
	if n := metricsSum(after, "fulcrum_api_request_duration_seconds_count{", `route="/v2/lbaas/loadbalancers"`); n < 1 {
		t.Errorf("no latency observed for /v2/lbaas/loadbalancers")
	}
	if d := metricsSum(after, "fulcrum_reconcile_duration_seconds_count") - metricsSum(before, "fulcrum_reconcile_duration_seconds_count"); d < 1 {
		t.Errorf("no reconcile counted")
	}
	if d := metricsSum(after, "fulcrum_store_transactions_total{", `kind="update"`) - metricsSum(before, "fulcrum_store_transactions_total{", `kind="update"`); d < 1 {
		t.Errorf("no store update counted")
	}
	age, ok := after[`fulcrum_agent_heartbeat_age_seconds{agent="embedded"}`]
	if !ok || age < 0 || age > 10 {
		t.Errorf("heartbeat age of the embedded agent = %v (present %v)", age, ok)
	}
	if after[`fulcrum_agent_up{agent="embedded"}`] != 1 {
		t.Errorf("embedded agent not up in the metrics")
	}
	if _, ok := after["fulcrum_reconcile_queue_depth"]; !ok {
		t.Errorf("no queue depth")
	}
	for _, leak := range []string{probe, id} {
		if strings.Contains(text, leak) {
			t.Errorf("the exposition carries %q from a request path:\n%s", leak, text)
		}
	}
}

// TestMetricsAccessLogThroughTheServer: `fulcrum server --access-log file:…` gives the
// embedded agent's engine an access log; a request through a tenant's VIP becomes one
// line naming its load balancer and listener, with the client's hostile bytes escaped.
func TestMetricsAccessLogThroughTheServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	c := newCloud(t, "--metrics-listen", "", "--access-log", "file:"+path)
	s := c.user(t, "metrics-logs", "metrics-bob", "member")
	member := httpStartMember(t)
	addr := httpDeploy(t, s, member, nil)
	r := s.must(t, "GET", "/v2/lbaas/listeners", nil, 200)
	ls, _ := r.body["listeners"].([]any)
	if len(ls) != 1 {
		t.Fatalf("listeners: %s", r.raw)
	}
	listener, lb := str(ls[0].(map[string]any), "id"), ""
	if l, _ := ls[0].(map[string]any)["loadbalancers"].([]any); len(l) == 1 {
		lb = str(l[0].(map[string]any), "id")
	}
	rs := httpSend(t, addr, nil, "GET /metrics-probe?q=%22x%22 HTTP/1.1\r\nHost: probe.example\r\n\r\n"+
		"GET /second\"quote HTTP/1.1\r\nHost: probe.example\r\nConnection: close\r\n\r\n")
	if httpStatuses(rs) != "200,200" {
		t.Fatalf("statuses %s", httpStatuses(rs))
	}
	var lines []map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for {
		raw, _ := os.ReadFile(path)
		lines = lines[:0]
		for _, l := range strings.Split(string(raw), "\n") {
			var m map[string]any
			if l != "" && json.Unmarshal([]byte(l), &m) == nil && (m["target"] == "/metrics-probe?q=%22x%22" || m["target"] == `/second"quote`) {
				lines = append(lines, m)
			}
		}
		if len(lines) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines for the 2 requests in 30s:\n%s", len(lines), raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, l := range lines {
		if l["kind"] != "http" || l["listener_id"] != listener || l["loadbalancer_id"] != lb || l["host"] != "probe.example" ||
			str(l, "status") != "200" || l["member"] != "127.0.0.1:"+strconv.Itoa(member.port) {
			t.Errorf("line %v, want listener %s of load balancer %s", l, listener, lb)
		}
	}
}
