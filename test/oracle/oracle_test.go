//go:build oracle

package oracle

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
)

const (
	defaultProject = "oracle-p1"
	subnetA        = "6a0a707c-45ef-4758-b533-e55adddba8ce"
	subnetB        = "0b8e5b0f-6c1a-4a63-9f5e-6d2f8e2b1a11"
	otherUUID      = "9b1d6c1a-7e5f-4b51-9d2f-3a1f2b7c4e01"
	// networkUUID is the network the availability zone profiles' Octavia
	// keys name. Not a constant of the normaliser: Octavia's noop network
	// driver reports the last network it was asked about as the network
	// of every later VIP, which fulcrum's noop mode does not.
	networkUUID = "4d2b8c6e-1f3a-4b5c-9d7e-8a0f1e2d3c4b"
)

// step is one request sent to both sides.
type step struct {
	method, path, body string
	project            string
	label, key         string // capture the object's key ("id") under label
	waitLB             []string
	settle             [][2]string // path, key: wait for this object ACTIVE too
	gone               string
	sortLists          bool
	exactProvider      bool     // compare the load balancers' provider as shown
	firstOfList        bool     // capture from the first object of a list
	why                []string // reason keys: the differences are expected
}

func c(method, path, body string) *step { return &step{method: method, path: path, body: body} }

func (s *step) as(label string) *step       { s.label, s.key = label, "id"; return s }
func (s *step) asName(label string) *step   { s.label, s.key = label, "name"; return s }
func (s *step) wait(labels ...string) *step { s.waitLB = append(s.waitLB, labels...); return s }
func (s *step) waitGone(path string) *step  { s.gone = path; return s }
func (s *step) settles(path, key string) *step {
	s.settle = append(s.settle, [2]string{path, key})
	return s
}
func (s *step) sorted() *step        { s.sortLists = true; return s }
func (s *step) providerShown() *step { s.exactProvider = true; return s }
func (s *step) asFirst(label string) *step {
	s.label, s.key, s.firstOfList = label, "id", true
	return s
}
func (s *step) because(reasons ...string) *step { s.why = append(s.why, reasons...); return s }
func (s *step) describe() string                { return strings.TrimSpace(s.method + " " + s.path + " " + s.body) }
func (s *step) captureFrom(sd *side, t *testing.T, a answer) {
	if s.label != "" && a.status < 300 {
		sd.capture(t, a, s.label, s.key, s.firstOfList)
	}
}

// outcome is the comparison of one step.
type outcome struct {
	step    *step
	octavia answer
	fulcrum answer
	diffs   []string
	verdict string // "same", "explained", "UNEXPLAINED"
}

func TestOracle(t *testing.T) {
	base := os.Getenv("OCTAVIA_URL")
	if base == "" {
		t.Fatal("OCTAVIA_URL is not set: run test/oracle/run.sh, which starts Octavia and sets it")
	}
	oc := newSide("octavia", base)
	// Make sure the oracle is Octavia (its providers are the oracle's
	// drivers), not some other server on that port.
	if a := oc.do(t, "GET", "/v2/lbaas/providers", "", ""); a.status != 200 || !strings.Contains(string(a.raw), `"noop_driver"`) {
		t.Fatalf("the server at %s is not the Octavia oracle: GET /v2/lbaas/providers answers %d %s", base, a.status, a.raw)
	}
	srv := servertest.Start(t, bin, "", "--auth", "noauth", "--network", "noop", "--provider", "noop", "--embedded-agent=false", "--log-level", "warn")
	fu := newSide("fulcrum", srv.URL)

	var results []outcome
	for _, s := range script() {
		oa := oc.do(t, s.method, s.path, s.body, s.project)
		fa := fu.do(t, s.method, s.path, s.body, s.project)
		s.captureFrom(oc, t, oa)
		s.captureFrom(fu, t, fa)
		// Every write waits for the load balancers to settle on both sides,
		// as Terraform does, so Octavia's immutable 409s stay out of the
		// way (explicit waits also cover a label created by this step).
		waits := s.waitLB
		if s.method != "GET" {
			for label := range oc.ids {
				if strings.HasPrefix(label, "lb") {
					waits = append(waits, label)
				}
			}
		}
		for _, l := range waits {
			oc.waitLB(t, l)
			fu.waitLB(t, l)
		}
		for _, o := range s.settle {
			oc.waitActive(t, o[0], o[1])
			fu.waitActive(t, o[0], o[1])
		}
		if s.gone != "" {
			oc.waitGone(t, s.gone)
			fu.waitGone(t, s.gone)
		}
		results = append(results, compare(s, oc, fu, oa, fa))
	}
	report(t, results, srv)
}

// compare normalises both answers and classifies the differences.
func compare(s *step, oc, fu *side, oa, fa answer) outcome {
	o := outcome{step: s, octavia: oa, fulcrum: fa}
	if oa.status != fa.status {
		o.diffs = append(o.diffs, fmt.Sprintf("status: octavia %d, fulcrum %d", oa.status, fa.status))
	}
	on, fn := newNormaliser(oc), newNormaliser(fu)
	on.exactProvider, fn.exactProvider = s.exactProvider, s.exactProvider
	ov := on.value("", oa.body)
	fv := fn.value("", fa.body)
	if s.sortLists {
		sortLists(ov)
		sortLists(fv)
	}
	diff("$", ov, fv, &o.diffs)
	switch {
	case len(o.diffs) == 0 && len(s.why) > 0:
		// Some Octavia defects are races (its worker may or may not fail
		// in time): the report says when an explanation was not needed.
		o.verdict = "same (explanation not needed this run: " + strings.Join(s.why, ", ") + ")"
	case len(o.diffs) == 0:
		o.verdict = "same"
	case len(s.why) > 0:
		o.verdict = "explained"
	default:
		o.verdict = "UNEXPLAINED"
	}
	return o
}

func report(t *testing.T, results []outcome, srv *servertest.Server) {
	var same, explained, unexplained, stale int
	byReason := map[string]int{}
	var b strings.Builder
	for _, r := range results {
		switch {
		case r.verdict == "same":
			same++
		case r.verdict == "explained":
			explained++
			for _, w := range r.step.why {
				byReason[w]++
			}
		case r.verdict == "UNEXPLAINED":
			unexplained++
		default:
			stale++
		}
	}
	commit, _ := exec.Command("git", "-C", repoRoot(), "rev-parse", "--short", "HEAD").Output()
	fmt.Fprintf(&b, "# Differential report: fulcrum vs Octavia 11\n\n")
	fmt.Fprintf(&b, "Generated %s by `test/oracle/run.sh` (fulcrum %s, `fulcrum server --provider noop`; Octavia 11.0.0, noauth, amphora provider with noop drivers).\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), strings.TrimSpace(string(commit)))
	fmt.Fprintf(&b, "**%d request pairs compared: %d identical after normalisation, %d with explained differences, %d unexplained.**", len(results), same, explained, unexplained)
	if stale > 0 {
		fmt.Fprintf(&b, " (%d steps with an explanation were identical this run.)", stale)
	}
	fmt.Fprintf(&b, "\n\nNormalisation: ids become the label the script captured them under (or `<uuid>`), timestamps `<time>`, base URLs `<base>`, VIP and amphora addresses `<address>`, the load balancer's provider `<provider>` (except in the steps that compare the name a load balancer shows); attributes of API versions newer than Octavia 11 (HSTS, `vip_vnic_type`, `vip_sg_ids`, member `vnic_type`) are dropped from fulcrum's answers.\n\n")
	fmt.Fprintf(&b, "## Explained differences\n\n| reason | pairs |\n|---|---|\n")
	keys := make([]string, 0, len(byReason))
	for k := range byReason {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "| %s: %s | %d |\n", k, reasons[k], byReason[k])
	}
	fmt.Fprintf(&b, "\n## Transcript\n\n")
	for i, r := range results {
		fmt.Fprintf(&b, "%d. `%s` → octavia %d, fulcrum %d: **%s**", i+1, truncate(r.step.describe(), 160), r.octavia.status, r.fulcrum.status, r.verdict)
		if r.verdict == "explained" {
			fmt.Fprintf(&b, " (%s)", strings.Join(r.step.why, ", "))
		}
		b.WriteString("\n")
		if r.verdict != "same" && len(r.diffs) > 0 {
			for _, d := range r.diffs {
				fmt.Fprintf(&b, "   - %s\n", truncate(d, 400))
			}
		}
	}
	path := os.Getenv("ORACLE_REPORT")
	if path == "" {
		path = filepath.Join(repoRoot(), "test", "oracle", "report.md")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("%d request pairs: %d identical, %d explained, %d unexplained; report in %s", len(results), same, explained, unexplained, path)
	for _, r := range results {
		if r.verdict == "UNEXPLAINED" {
			t.Errorf("unexplained difference: %s\n  %s\n  octavia: %s\n  fulcrum: %s", r.step.describe(), strings.Join(r.diffs, "\n  "),
				truncate(string(r.octavia.raw), 600), truncate(string(r.fulcrum.raw), 600))
		}
	}
	if t.Failed() {
		t.Logf("fulcrum log:\n%s", truncate(srv.Logs(), 4000))
	}
}

func truncate(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", "\\n")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
