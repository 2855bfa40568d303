package security

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// opsMetricsFamily is one row of a metrics table in docs/operations.md.
type opsMetricsFamily struct {
	name   string
	kind   dto.MetricType
	labels []string
	line   int
}

var (
	opsMetricsRowRE  = regexp.MustCompile("^\\| `([a-z_:][a-z0-9_:]*)` \\| ([a-z]+) \\|([^|]*)\\|")
	opsMetricsParenR = regexp.MustCompile(`\([^)]*\)`)
	opsMetricsTickRE = regexp.MustCompile("`([a-z_][a-z0-9_]*)`")
)

// opsMetricsDocumented reads the metric tables of the "## Metrics" section of
// docs/operations.md: name, type and label names (a label's values, in
// parentheses, are not names).
func opsMetricsDocumented(t *testing.T) []opsMetricsFamily {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]dto.MetricType{"counter": dto.MetricType_COUNTER, "gauge": dto.MetricType_GAUGE,
		"histogram": dto.MetricType_HISTOGRAM, "summary": dto.MetricType_SUMMARY}
	var out []opsMetricsFamily
	in := false
	for i, line := range strings.Split(string(raw), "\n") {
		switch {
		case line == "## Metrics":
			in = true
			continue
		case strings.HasPrefix(line, "## "):
			in = false
		}
		m := opsMetricsRowRE.FindStringSubmatch(line)
		if !in || m == nil {
			continue
		}
		kind, ok := kinds[m[2]]
		if !ok {
			t.Fatalf("docs/operations.md:%d: type %q of %s is not a Prometheus type", i+1, m[2], m[1])
		}
		f := opsMetricsFamily{name: m[1], kind: kind, line: i + 1}
		for _, l := range opsMetricsTickRE.FindAllStringSubmatch(opsMetricsParenR.ReplaceAllString(m[3], ""), -1) {
			f.labels = append(f.labels, l[1])
		}
		slices.Sort(f.labels)
		out = append(out, f)
	}
	if len(out) < 20 {
		t.Fatalf("docs/operations.md's metric tables have %d rows; the parser lost them", len(out))
	}
	return out
}

// TestOpsMetricsEveryDocumentedFamily: once the all-in-one server (its
// embedded agent with an access log) has served a load balancer, its
// /metrics carries every family the metric tables of docs/operations.md
// list, with the documented type and label names — the names dashboards and
// alerts are written against — and no fulcrum family the tables do not list.
func TestOpsMetricsEveryDocumentedFamily(t *testing.T) {
	documented := opsMetricsDocumented(t)
	c := newCloud(t, "--metrics-listen", "127.0.0.1:0", "--agent-heartbeat", "200ms",
		"--access-log", "file:"+filepath.Join(t.TempDir(), "access.log"))
	m := metricsBannerRE.FindStringSubmatch(c.s.Logs())
	if m == nil {
		t.Fatalf("no metrics address in the banner:\n%s", c.s.Logs())
	}
	tenant := c.user(t, "opsmetrics-tenant", "opsmetrics-alice", "load-balancer_member")
	r := tenant.must(t, "GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200)
	list, _ := r.body["subnets"].([]any)
	if len(list) != 1 {
		t.Fatalf("private-subnet: %s", r.raw)
	}
	r = tenant.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "opsmetrics-lb", "vip_subnet_id": str(list[0].(map[string]any), "id")}}, 201)
	id := str(r.body, "loadbalancer", "id")
	tenant.waitLB(t, id, "ACTIVE", 60*time.Second)
	tenant.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": id, "protocol": "TCP", "protocol_port": agentFreePort(t)}}, 201)
	tenant.waitLB(t, id, "ACTIVE", 60*time.Second)

	var (
		text    string
		fams    map[string]*dto.MetricFamily
		missing []string
	)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		text, _, fams = metricsScrapeParsed(t, m[1])
		missing = missing[:0]
		for _, f := range documented {
			if len(fams[f.name].GetMetric()) == 0 {
				missing = append(missing, f.name)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("documented families missing from the scrape: %v\n%s", missing, text)
		}
	}
	for _, f := range documented {
		got := fams[f.name]
		if got.GetType() != f.kind {
			t.Errorf("docs/operations.md:%d: %s is a %v, the scrape has a %v", f.line, f.name, f.kind, got.GetType())
		}
		for _, s := range got.GetMetric() {
			var names []string
			for _, lp := range s.GetLabel() {
				names = append(names, lp.GetName())
			}
			slices.Sort(names)
			if !slices.Equal(names, f.labels) {
				t.Errorf("docs/operations.md:%d: %s has labels %v, the scrape has %v", f.line, f.name, f.labels, names)
				break
			}
		}
	}
	for name := range fams {
		if strings.HasPrefix(name, "fulcrum_") && !slices.ContainsFunc(documented, func(f opsMetricsFamily) bool { return f.name == name }) {
			t.Errorf("the scrape has %s, which docs/operations.md does not list", name)
		}
	}
}
