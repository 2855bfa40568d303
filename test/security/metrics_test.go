package security

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var metricsBannerRE = regexp.MustCompile(`metrics \(Prometheus, operators only\) on (http://[0-9.:]+/metrics)`)

// metricsScrape GETs url and returns the samples by series text; a line
// that is not a comment or a "series value" sample fails the test, and so
// does an exposition Prometheus's own text parser refuses.
func metricsScrape(t *testing.T, url string) (string, map[string]float64) {
	t.Helper()
	text, flat, _ := metricsScrapeParsed(t, url)
	return text, flat
}

// metricsScrapeParsed is metricsScrape that also returns the families as
// Prometheus's text parser (github.com/prometheus/common/expfmt) reads
// them; it fails the test when the parser refuses the exposition or reads
// another number of samples than the lines hold.
func metricsScrapeParsed(t *testing.T, url string) (string, map[string]float64, map[string]*dto.MetricFamily) {
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
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("Prometheus's text parser refuses the exposition: %v\n%s", err, raw)
	}
	n := 0
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				n += len(h.GetBucket()) + 2 // every bucket (+Inf too), _sum, _count
				continue
			}
			if q := m.GetSummary(); q != nil {
				n += len(q.GetQuantile()) + 2 // every quantile, _sum, _count
				continue
			}
			n++
		}
	}
	if n != len(out) {
		t.Errorf("the parser read %d samples, the exposition has %d lines of samples:\n%s", n, len(out), raw)
	}
	return string(raw), out, fams
}

// metricsValue returns the value of the sample of family name whose labels
// include every pair of labels (name=value, ...), as the parser read it
// (a histogram's sample count), and whether there is exactly one; it fails
// the test when the family is not of type kind.
func metricsValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, kind dto.MetricType, labels ...string) (float64, bool) {
	t.Helper()
	f := fams[name]
	if f == nil {
		return 0, false
	}
	if f.GetType() != kind {
		t.Fatalf("%s is a %v, want a %v", name, f.GetType(), kind)
	}
	var found []float64
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			ok := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					ok = true
				}
			}
			if !ok {
				continue next
			}
		}
		switch kind {
		case dto.MetricType_COUNTER:
			found = append(found, m.GetCounter().GetValue())
		case dto.MetricType_GAUGE:
			found = append(found, m.GetGauge().GetValue())
		case dto.MetricType_HISTOGRAM:
			found = append(found, float64(m.GetHistogram().GetSampleCount()))
		}
	}
	if len(found) != 1 {
		return 0, false
	}
	return found[0], true
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
	// The agent counts the load balancers it serves listeners for.
	tenant.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": id, "protocol": "TCP", "protocol_port": agentFreePort(t)}}, 201)
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
	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(30 * time.Second)
	for {
		text, after, fams = metricsScrapeParsed(t, url)
		served, _ := metricsValue(t, fams, "fulcrum_node_loadbalancers", dto.MetricType_GAUGE)
		if after[`fulcrum_agents{status="UP"}`] >= 1 && metricsSum(after, "fulcrum_loadbalancers{", `provisioning_status="ACTIVE"`) >= 1 && served >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agents and load balancers never showed:\n%s", text)
		}
		time.Sleep(100 * time.Millisecond)
	}
	created := `fulcrum_api_requests_total{code="201",method="POST",route="/v2/lbaas/loadbalancers"}`
	if after[created]-before[created] < 1 {
		t.Errorf("%s did not move: %v → %v", created, before[created], after[created])
	}
	missing := `fulcrum_api_requests_total{code="404",method="GET",route="/v2/lbaas/loadbalancers/{id}"}`
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
	// The same, as Prometheus's parser reads it: types, label sets, values.
	if v, ok := metricsValue(t, fams, "fulcrum_api_requests_total", dto.MetricType_COUNTER, "method", "POST", "route", "/v2/lbaas/loadbalancers", "code", "201"); !ok || v < 1 {
		t.Errorf("parsed fulcrum_api_requests_total for the POST = %v (found %v)", v, ok)
	}
	if v, ok := metricsValue(t, fams, "fulcrum_api_request_duration_seconds", dto.MetricType_HISTOGRAM, "method", "POST", "route", "/v2/lbaas/loadbalancers"); !ok || v < 1 {
		t.Errorf("parsed latency histogram of the POST counts %v (found %v)", v, ok)
	}
	if v, ok := metricsValue(t, fams, "fulcrum_agent_up", dto.MetricType_GAUGE, "agent", "embedded"); !ok || v != 1 {
		t.Errorf("parsed fulcrum_agent_up{agent=embedded} = %v (found %v)", v, ok)
	}
	for _, leak := range []string{probe, id} {
		if strings.Contains(text, leak) {
			t.Errorf("the exposition carries %q from a request path:\n%s", leak, text)
		}
	}
	// The embedded agent's own metrics are on the server's listener.
	metricsCheckNode(t, fams, "")
}

// metricsCheckNode checks an agent's fulcrum_node_* families: it applied a
// config that serves at least one load balancer, heartbeats reach the server
// (server, when not "", is the one it must name).
func metricsCheckNode(t *testing.T, fams map[string]*dto.MetricFamily, server string) {
	t.Helper()
	if v, ok := metricsValue(t, fams, "fulcrum_node_applied_config_version", dto.MetricType_GAUGE); !ok || v < 1 {
		t.Errorf("fulcrum_node_applied_config_version = %v (found %v)", v, ok)
	}
	if v, ok := metricsValue(t, fams, "fulcrum_node_loadbalancers", dto.MetricType_GAUGE); !ok || v < 1 {
		t.Errorf("fulcrum_node_loadbalancers = %v (found %v)", v, ok)
	}
	if v, ok := metricsValue(t, fams, "fulcrum_node_loadbalancers_refused", dto.MetricType_GAUGE); !ok || v != 0 {
		t.Errorf("fulcrum_node_loadbalancers_refused = %v (found %v)", v, ok)
	}
	if v, ok := metricsValue(t, fams, "fulcrum_node_config_applies_total", dto.MetricType_COUNTER, "result", "ok"); !ok || v < 1 {
		t.Errorf("fulcrum_node_config_applies_total{result=ok} = %v (found %v)", v, ok)
	}
	if v, ok := metricsValue(t, fams, "fulcrum_node_config_apply_duration_seconds", dto.MetricType_HISTOGRAM, "result", "ok"); !ok || v < 1 {
		t.Errorf("fulcrum_node_config_apply_duration_seconds{result=ok} counts %v (found %v)", v, ok)
	}
	if v, ok := metricsValue(t, fams, "fulcrum_node_heartbeats_total", dto.MetricType_COUNTER, "result", "ok"); !ok || v < 1 {
		t.Errorf("fulcrum_node_heartbeats_total{result=ok} = %v (found %v)", v, ok)
	}
	if v, ok := metricsValue(t, fams, "fulcrum_node_heartbeat_duration_seconds", dto.MetricType_HISTOGRAM, "result", "ok"); !ok || v < 1 {
		t.Errorf("fulcrum_node_heartbeat_duration_seconds{result=ok} counts %v (found %v)", v, ok)
	}
	var labels []string
	if server != "" {
		labels = []string{"server", server}
	}
	if v, ok := metricsValue(t, fams, "fulcrum_node_server", dto.MetricType_GAUGE, labels...); !ok || v != 1 {
		t.Errorf("fulcrum_node_server%v = %v (found %v): %v", labels, v, ok, fams["fulcrum_node_server"])
	}
}

// TestMetricsAccessLogThroughTheServer: `fulcrum server --access-log file:…` gives the
// embedded agent's engine an access log; a request through a tenant's VIP becomes one
// line naming its load balancer and listener, with the client's hostile bytes escaped.
func TestMetricsAccessLogThroughTheServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	c := newCloud(t, "--metrics-listen", "127.0.0.1:0", "--access-log", "file:"+path)
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
	// The lines are in the file, so the writer has counted them.
	m := metricsBannerRE.FindStringSubmatch(c.s.Logs())
	if m == nil {
		t.Fatalf("no metrics address in the banner:\n%s", c.s.Logs())
	}
	_, _, fams := metricsScrapeParsed(t, m[1])
	if v, ok := metricsValue(t, fams, "fulcrum_access_log_lines_total", dto.MetricType_COUNTER, "result", "written"); !ok || v < 2 {
		t.Errorf("fulcrum_access_log_lines_total{result=written} = %v (found %v), want ≥ 2", v, ok)
	}
	if v, ok := metricsValue(t, fams, "fulcrum_access_log_lines_total", dto.MetricType_COUNTER, "result", "dropped"); !ok || v != 0 {
		t.Errorf("fulcrum_access_log_lines_total{result=dropped} = %v (found %v)", v, ok)
	}
}

// TestMetricsAgentListener: `fulcrum agent --metrics-listen` serves the
// agent's own metrics, which Prometheus's parser reads: the config it
// applied, its heartbeats, the server it is attached to, the load balancers
// it serves and its access log's lines. With the default address taken, an
// agent warns and runs without /metrics; an address the operator chose must
// be free.
func TestMetricsAgentListener(t *testing.T) {
	c := newCloud(t, "--embedded-agent=false", "--metrics-listen", "", "--agent-heartbeat", "200ms")
	dd := c.s.DataDir
	path := filepath.Join(t.TempDir(), "access.log")
	p := servertest.StartProcess(t, bin, "agent", "--server", c.s.AgentURL, "--data-dir", t.TempDir(), "--name", "metrics-node",
		"--join-token", agentToken(t, dd, "--name", "metrics-node"), "--metrics-listen", "127.0.0.1:0", "--access-log", "file:"+path)
	agentWaitUp(t, c, "metrics-node")
	agentWaitLog(t, p.Logs, 30*time.Second, "metrics (Prometheus, operators only) on http://")
	m := metricsBannerRE.FindStringSubmatch(p.Logs())
	if m == nil {
		t.Fatalf("no metrics address in the agent's banner:\n%s", p.Logs())
	}
	url := m[1]
	id, vip := agentLB(t, c.admin, agentFreePort(t), agentBackend(t, "metrics-node"))
	c.admin.waitLB(t, id, "ACTIVE", 30*time.Second)
	agentWaitBody(t, vip, "metrics-node", 15*time.Second)
	var fams map[string]*dto.MetricFamily
	var text string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		text, _, fams = metricsScrapeParsed(t, url)
		lbs, _ := metricsValue(t, fams, "fulcrum_node_loadbalancers", dto.MetricType_GAUGE)
		hb, _ := metricsValue(t, fams, "fulcrum_node_heartbeats_total", dto.MetricType_COUNTER, "result", "ok")
		written, _ := metricsValue(t, fams, "fulcrum_access_log_lines_total", dto.MetricType_COUNTER, "result", "written")
		if lbs == 1 && hb >= 1 && written >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent's metrics never showed its load balancer, heartbeats and access-log lines:\n%s", text)
		}
	}
	metricsCheckNode(t, fams, c.s.AgentURL)
	if _, ok := metricsValue(t, fams, "go_goroutines", dto.MetricType_GAUGE); !ok {
		t.Errorf("no go_goroutines in the agent's metrics")
	}
	for _, server := range []string{"fulcrum_api_requests_total", "fulcrum_agents", "fulcrum_store_transactions_total"} {
		if fams[server] != nil {
			t.Errorf("the agent's /metrics carries the server's %s", server)
		}
	}

	// The default address, taken: the agent warns and runs without /metrics.
	if ln, err := net.Listen("tcp", "127.0.0.1:9878"); err == nil {
		t.Cleanup(func() { ln.Close() })
	} // else something else holds it: taken all the same
	q := servertest.StartProcess(t, bin, "agent", "--server", c.s.AgentURL, "--data-dir", t.TempDir(), "--name", "metrics-default",
		"--join-token", agentToken(t, dd, "--name", "metrics-default"))
	agentWaitUp(t, c, "metrics-default")
	agentWaitLog(t, q.Logs, 30*time.Second, "the default address is in use")
	if strings.Contains(q.Logs(), "metrics (Prometheus") {
		t.Errorf("an agent without a metrics listener announces one:\n%s", q.Logs())
	}
	// An address the operator chose, taken: the agent refuses to start.
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	out, exited, err := agentCLI(t, 20*time.Second, "agent", "--server", c.s.AgentURL, "--data-dir", t.TempDir(), "--name", "metrics-busy",
		"--metrics-listen", held.Addr().String())
	if !exited || err == nil || !strings.Contains(out, "metrics listen") {
		t.Errorf("an agent with a busy --metrics-listen: exited %v, err %v:\n%s", exited, err, out)
	}
}
