package metrics

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
)

var (
	sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\})? (\S+)$`)
	typeRE   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$`)
	helpRE   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (?:[^\\\n]|\\[\\n])*$`)
)

// parse checks text against the exposition format's grammar (every line a
// HELP, a TYPE before its samples, or a sample with a float value) and
// returns the samples by their full series text.
func parse(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	typed := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if m := typeRE.FindStringSubmatch(line); m != nil {
			typed[m[1]] = m[2]
			continue
		}
		if helpRE.MatchString(line) {
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a valid exposition line: %q\n%s", line, text)
		}
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m[1], "_bucket"), "_sum"), "_count")
		if typed[m[1]] == "" && typed[base] != "histogram" {
			t.Fatalf("sample before its TYPE: %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("bad value in %q", line)
		}
		if _, dup := out[m[1]+m[2]]; dup {
			t.Fatalf("duplicate series %q", line)
		}
		out[m[1]+m[2]] = v
	}
	return out
}

func scrape(t *testing.T, r *Registry) (string, map[string]float64) {
	t.Helper()
	var b strings.Builder
	if err := r.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String(), parse(t, b.String())
}

func TestWriteFormatsEveryKind(t *testing.T) {
	r := New()
	c := r.Counter("x_total", "Things.\nSecond line with a \\.", "kind")
	c.Add(2, `a"b\c`+"\nd")
	c.Add(1, "plain")
	h := r.Histogram("lat_seconds", "Latency.", []float64{0.1, 1}, "op")
	for _, v := range []float64{0.05, 0.1, 0.5, 3} {
		h.Observe(v, "get")
	}
	r.Gauge("depth", "Depth.", nil, func(_ context.Context, emit func(float64, ...string)) error {
		emit(7)
		return nil
	})
	text, got := scrape(t, r)
	want := map[string]float64{
		`x_total{kind="a\"b\\c\nd"}`:             2,
		`x_total{kind="plain"}`:                  1,
		`lat_seconds_bucket{op="get",le="0.1"}`:  2, // le is inclusive
		`lat_seconds_bucket{op="get",le="1"}`:    3,
		`lat_seconds_bucket{op="get",le="+Inf"}`: 4,
		`lat_seconds_sum{op="get"}`:              3.65,
		`lat_seconds_count{op="get"}`:            4,
		`depth`:                                  7,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || fmt.Sprintf("%.6g", g) != fmt.Sprintf("%.6g", v) {
			t.Errorf("%s = %v (present %v), want %v\n%s", k, g, ok, v, text)
		}
	}
	if !strings.Contains(text, `# HELP x_total Things.\nSecond line with a \\.`+"\n") {
		t.Errorf("HELP not escaped:\n%s", text)
	}
}

func TestFamilyCardinalityIsBounded(t *testing.T) {
	r := New()
	c := r.Counter("c_total", "C.", "v")
	for i := 0; i < MaxSeries+500; i++ {
		c.Add(1, strconv.Itoa(i))
	}
	_, got := scrape(t, r)
	if len(got) != MaxSeries+1 {
		t.Fatalf("%d series, want %d (MaxSeries and the overflow)", len(got), MaxSeries+1)
	}
	if got[`c_total{v="other"}`] != 500 {
		t.Fatalf("overflow = %v, want 500", got[`c_total{v="other"}`])
	}
}

func TestGaugeErrorLeavesFamilyEmptyAndIsReported(t *testing.T) {
	r := New()
	r.Gauge("bad", "Bad.", nil, func(context.Context, func(float64, ...string)) error { return errors.New("store down") })
	r.Gauge("good", "Good.", []string{"a"}, func(_ context.Context, emit func(float64, ...string)) error {
		emit(1, "z")
		emit(2, "y")
		return nil
	})
	var b strings.Builder
	err := r.Write(context.Background(), &b)
	if err == nil || !strings.Contains(err.Error(), "store down") {
		t.Fatalf("err = %v, want the collector's", err)
	}
	got := parse(t, b.String())
	if _, ok := got["bad"]; ok || got[`good{a="y"}`] != 2 || got[`good{a="z"}`] != 1 {
		t.Fatalf("got %v", got)
	}
	if strings.Index(b.String(), `a="y"`) > strings.Index(b.String(), `a="z"`) {
		t.Fatalf("samples not sorted:\n%s", b.String())
	}
}

func TestHTTPLabelsByPatternNeverByPath(t *testing.T) {
	r := New()
	m := NewHTTP(r, "api")
	inner := &httpapi.Router{}
	inner.HandleFunc("GET /v2/things/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) })
	inner.HandleFunc("POST /v2/things", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) })
	top := http.NewServeMux()
	top.Handle("/v2/", inner)
	top.HandleFunc("/healthcheck", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("OK")) })
	h := m.Wrap(top)
	for _, c := range []struct{ method, path string }{
		{"GET", "/v2/things/secret-id-1"},
		{"GET", "/v2/things/secret-id-2"},
		{"POST", "/v2/things"},
		{"DELETE", "/v2/things"},
		{"BREW", "/v2/nothing-here"},
		{"GET", "/healthcheck"},
		{"GET", "/elsewhere"},
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(c.method, c.path, nil))
	}
	text, got := scrape(t, r)
	for k, v := range map[string]float64{
		`api_requests_total{code="404",method="GET",route="/v2/things/{id}"}`:      2,
		`api_requests_total{code="201",method="POST",route="/v2/things"}`:          1,
		`api_requests_total{code="405",method="DELETE",route="unmatched"}`:         1,
		`api_requests_total{code="404",method="other",route="unmatched"}`:          1,
		`api_requests_total{code="200",method="GET",route="/healthcheck"}`:         1,
		`api_requests_total{code="404",method="GET",route="unmatched"}`:            1,
		`api_request_duration_seconds_count{method="GET",route="/v2/things/{id}"}`: 2,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for _, leak := range []string{"secret-id", "BREW", "nothing-here", "elsewhere"} {
		if strings.Contains(text, leak) {
			t.Errorf("exposition carries client input %q:\n%s", leak, text)
		}
	}
}

func TestHandlerServesTextFormat(t *testing.T) {
	r := New()
	r.Counter("n_total", "N.").Add(3)
	srv := httptest.NewServer(r.Handler(5e9, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ContentType) {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp2, err := http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 405 {
		t.Fatalf("POST: %d, want 405", resp2.StatusCode)
	}
}

// BenchmarkHTTPWrap is the API's per-request instrumentation: one counter and
// one histogram update for a known route, from parallel goroutines.
func BenchmarkHTTPWrap(b *testing.B) {
	r := New()
	m := NewHTTP(r, "api")
	inner := &httpapi.Router{}
	inner.HandleFunc("GET /v2/things/{id}", func(w http.ResponseWriter, r *http.Request) {})
	h := m.Wrap(inner)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/v2/things/x", nil)
		w := httptest.NewRecorder()
		for pb.Next() {
			h.ServeHTTP(w, req)
		}
	})
}

// BenchmarkCounterAdd is one update of a counter with three labels.
func BenchmarkCounterAdd(b *testing.B) {
	c := New().Counter("c_total", "C.", "method", "route", "code")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Add(1, "GET", "/v2/lbaas/loadbalancers/{id}", "200")
		}
	})
}
