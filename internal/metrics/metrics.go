// Package metrics keeps fulcrum's control-plane metrics and writes them in the
// Prometheus text exposition format (version 0.0.4): counters and histograms
// updated as things happen, and gauges read from their owner at scrape time.
//
// It is written by hand on the standard library so that the binary carries no
// metrics dependency; the format is small and stable. Label cardinality is
// bounded by construction: a family keeps at most MaxSeries label sets, and a
// new set beyond that is counted under the values "other". Callers pass
// bounded values (route patterns, status codes, known methods), never raw
// client input.
package metrics

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxSeries bounds the label sets of one family.
const MaxSeries = 2000

// Overflow is the label value every label of a family takes once the family
// holds MaxSeries label sets.
const Overflow = "other"

// DefaultBuckets are latency buckets in seconds, from 1 ms to 30 s.
var DefaultBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Registry holds metric families in registration order. It is safe for
// concurrent use; register every family before serving scrapes.
type Registry struct {
	mu   sync.Mutex
	fams []*family
}

// New returns an empty registry.
func New() *Registry { return &Registry{} }

type family struct {
	name, help, kind string
	labels           []string
	buckets          []float64 // histograms

	mu     sync.Mutex
	series map[string]*series

	collect func(ctx context.Context, emit func(v float64, values ...string)) error
}

type series struct {
	values []string
	count  atomic.Uint64   // counter value, histogram count
	sum    atomic.Uint64   // histogram sum (float64 bits)
	bucket []atomic.Uint64 // histogram: observations ≤ buckets[i] (not cumulative)
}

func (r *Registry) add(f *family) {
	if !validName(f.name) {
		panic("metrics: bad metric name " + f.name)
	}
	for _, l := range f.labels {
		if !validName(l) || strings.HasPrefix(l, "__") || l == "le" {
			panic("metrics: bad label name " + l)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.fams {
		if g.name == f.name {
			panic("metrics: duplicate metric " + f.name)
		}
	}
	f.series = map[string]*series{}
	r.fams = append(r.fams, f)
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// get returns the series of values, creating it (or the overflow series once
// the family is full).
func (f *family) get(values []string) *series {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", f.name, len(f.labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.series[key]; s != nil {
		return s
	}
	if len(f.series) >= MaxSeries {
		values = make([]string, len(f.labels))
		for i := range values {
			values[i] = Overflow
		}
		key = strings.Join(values, "\xff")
		if s := f.series[key]; s != nil {
			return s
		}
	}
	s := &series{values: slices.Clone(values)}
	if f.kind == "histogram" {
		s.bucket = make([]atomic.Uint64, len(f.buckets))
	}
	f.series[key] = s
	return s
}

// Counter is a family of monotonic counters.
type Counter struct{ f *family }

// Counter registers a counter family named name with the given label names.
func (r *Registry) Counter(name, help string, labels ...string) *Counter {
	f := &family{name: name, help: help, kind: "counter", labels: labels}
	r.add(f)
	return &Counter{f}
}

// Add adds n to the counter of the label values (in the order of the label
// names).
func (c *Counter) Add(n uint64, values ...string) { c.f.get(values).count.Add(n) }

// Histogram is a family of histograms.
type Histogram struct{ f *family }

// Histogram registers a histogram family; buckets are the upper bounds, in
// increasing order (nil: DefaultBuckets). +Inf is implied.
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) *Histogram {
	if buckets == nil {
		buckets = DefaultBuckets
	}
	if !slices.IsSorted(buckets) {
		panic("metrics: buckets of " + name + " are not sorted")
	}
	f := &family{name: name, help: help, kind: "histogram", labels: labels, buckets: slices.Clone(buckets)}
	r.add(f)
	return &Histogram{f}
}

// Observe records v in the histogram of the label values.
func (h *Histogram) Observe(v float64, values ...string) {
	s := h.f.get(values)
	if i, _ := slices.BinarySearch(h.f.buckets, v); i < len(s.bucket) {
		s.bucket[i].Add(1)
	}
	for {
		old := s.sum.Load()
		if s.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
	s.count.Add(1)
}

// ObserveSince records the seconds since start.
func (h *Histogram) ObserveSince(start time.Time, values ...string) {
	h.Observe(time.Since(start).Seconds(), values...)
}

// Gauge registers a gauge family whose values collect reports at each
// scrape by calling emit once per label set. An error from collect leaves
// the family without samples in that scrape (its HELP and TYPE remain);
// Write reports it.
func (r *Registry) Gauge(name, help string, labels []string, collect func(ctx context.Context, emit func(v float64, values ...string)) error) {
	r.add(&family{name: name, help: help, kind: "gauge", labels: labels, collect: collect})
}

// CounterFunc registers a counter family whose values collect reports at
// each scrape: a count its owner keeps (it must never decrease). Errors are
// handled as Gauge's.
func (r *Registry) CounterFunc(name, help string, labels []string, collect func(ctx context.Context, emit func(v float64, values ...string)) error) {
	r.add(&family{name: name, help: help, kind: "counter", labels: labels, collect: collect})
}

type sample struct {
	values []string
	v      float64
}

// Write writes every family in the text format. Gauges are collected with
// ctx; a family whose collection fails is written without samples and the
// failures are returned together after the whole exposition is written.
func (r *Registry) Write(ctx context.Context, w io.Writer) error {
	r.mu.Lock()
	fams := slices.Clone(r.fams)
	r.mu.Unlock()
	bw := bufio.NewWriter(w)
	var errs []string
	for _, f := range fams {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.kind)
		if f.collect != nil {
			var got []sample
			err := f.collect(ctx, func(v float64, values ...string) {
				if len(values) != len(f.labels) {
					panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", f.name, len(f.labels), len(values)))
				}
				got = append(got, sample{slices.Clone(values), v})
			})
			if err != nil {
				errs = append(errs, f.name+": "+err.Error())
				continue
			}
			slices.SortFunc(got, func(a, b sample) int { return slices.Compare(a.values, b.values) })
			for i, s := range got {
				if i > 0 && slices.Equal(got[i-1].values, s.values) {
					continue // one sample per label set
				}
				writeSample(bw, f.name, f.labels, s.values, "", "", s.v)
			}
			continue
		}
		f.mu.Lock()
		all := make([]*series, 0, len(f.series))
		for _, s := range f.series {
			all = append(all, s)
		}
		f.mu.Unlock()
		slices.SortFunc(all, func(a, b *series) int { return slices.Compare(a.values, b.values) })
		for _, s := range all {
			if f.kind == "counter" {
				writeSample(bw, f.name, f.labels, s.values, "", "", float64(s.count.Load()))
				continue
			}
			// Read the count first: buckets and sum may then run ahead of it by
			// observations in flight, never behind.
			count := s.count.Load()
			var cum uint64
			for i, le := range f.buckets {
				cum += s.bucket[i].Load()
				writeSample(bw, f.name+"_bucket", f.labels, s.values, "le", formatFloat(le), float64(min(cum, count)))
			}
			writeSample(bw, f.name+"_bucket", f.labels, s.values, "le", "+Inf", float64(count))
			writeSample(bw, f.name+"_sum", f.labels, s.values, "", "", math.Float64frombits(s.sum.Load()))
			writeSample(bw, f.name+"_count", f.labels, s.values, "", "", float64(count))
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("collect metrics: %s", strings.Join(errs, "; "))
	}
	return nil
}

func writeSample(w *bufio.Writer, name string, labels, values []string, extraName, extraValue string, v float64) {
	w.WriteString(name)
	if len(labels) > 0 || extraName != "" {
		w.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(l)
			w.WriteString(`="`)
			w.WriteString(escapeLabel(values[i]))
			w.WriteByte('"')
		}
		if extraName != "" {
			if len(labels) > 0 {
				w.WriteByte(',')
			}
			w.WriteString(extraName)
			w.WriteString(`="`)
			w.WriteString(extraValue)
			w.WriteByte('"')
		}
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	w.WriteString(formatFloat(v))
	w.WriteByte('\n')
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

// ContentType is the media type of the text format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves the registry on GET (and HEAD); each scrape's gauges are
// collected within timeout. Collection errors are logged by the caller's
// onError (nil ignores them); the scrape still answers 200 with what was
// collected, as exporters do.
func (r *Registry) Handler(timeout time.Duration, onError func(error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), timeout)
		defer cancel()
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Cache-Control", "no-store")
		if err := r.Write(ctx, w); err != nil && onError != nil {
			onError(err)
		}
	})
}
