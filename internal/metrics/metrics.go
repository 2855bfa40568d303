// Package metrics keeps fulcrum's control-plane and agent metrics and serves
// them in the Prometheus exposition formats through Prometheus's Go client
// library (github.com/prometheus/client_golang): counters and histograms
// updated as things happen, and families read from their owner at scrape
// time.
//
// The package adds two things to the library. Label cardinality is bounded
// by construction: a counter or histogram family keeps at most MaxSeries
// label sets, and a new set beyond that is counted under the values "other".
// Callers pass bounded values (route patterns, status codes, known methods),
// never raw client input. And scrape-time families get the scrape's context
// (with its deadline), which the library's Collector interface does not carry.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// MaxSeries bounds the label sets of one counter or histogram family.
const MaxSeries = 2000

// Overflow is the label value every label of a family takes once the family
// holds MaxSeries label sets.
const Overflow = "other"

// maxLabels bounds the label names of a counter or histogram family, so that
// a label set is a fixed-size array: looking one up allocates nothing.
const maxLabels = 4

// DefaultBuckets are latency buckets in seconds, from 1 ms to 30 s.
var DefaultBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Registry holds metric families. It is safe for concurrent use; register
// every family before serving scrapes. A name registered twice panics, as
// does a name or label name Prometheus refuses.
type Registry struct {
	reg *prometheus.Registry

	mu    sync.Mutex
	names map[string]bool
	funcs []*funcFamily
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{reg: prometheus.NewPedanticRegistry(), names: map[string]bool{}}
}

// Runtime registers the Go runtime's families (go_goroutines, go_memstats_*,
// go_gc_duration_seconds, ...) and the process's (process_cpu_seconds_total,
// process_resident_memory_bytes, process_open_fds, ...), read at each scrape.
func (r *Registry) Runtime() {
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

func (r *Registry) claim(name string, labels []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[name] {
		panic("metrics: duplicate metric " + name)
	}
	for _, l := range labels {
		if l == "le" || l == "quantile" {
			panic("metrics: reserved label name " + l + " in " + name)
		}
	}
	r.names[name] = true
}

// series caches a family's children by label set, bounded to MaxSeries.
type series[T any] struct {
	name   string
	labels int
	child  func(values ...string) T // the vector's WithLabelValues

	mu sync.RWMutex
	m  map[[maxLabels]string]T
}

func newSeries[T any](name string, labels []string, child func(...string) T) *series[T] {
	if len(labels) > maxLabels {
		panic(fmt.Sprintf("metrics: %s has %d labels, at most %d", name, len(labels), maxLabels))
	}
	return &series[T]{name: name, labels: len(labels), child: child, m: map[[maxLabels]string]T{}}
}

// get returns the child of values, creating it (or the overflow child once
// the family is full). A known label set costs a read lock and a map lookup.
func (s *series[T]) get(values []string) T {
	if len(values) != s.labels {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", s.name, s.labels, len(values)))
	}
	var k [maxLabels]string
	copy(k[:], values)
	s.mu.RLock()
	c, ok := s.m[k]
	s.mu.RUnlock()
	if ok {
		return c
	}
	return s.create(k)
}

func (s *series[T]) create(k [maxLabels]string) T {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.m[k]; ok {
		return c
	}
	if len(s.m) >= MaxSeries {
		for i := range s.labels {
			k[i] = Overflow
		}
		if c, ok := s.m[k]; ok {
			return c
		}
	}
	values := make([]string, s.labels)
	for i := range values {
		// Prometheus refuses label values that are not UTF-8.
		values[i] = strings.ToValidUTF8(k[i], "\uFFFD")
	}
	c := s.child(values...)
	s.m[k] = c
	return c
}

// Counter is a family of monotonic counters.
type Counter struct{ s *series[prometheus.Counter] }

// Counter registers a counter family named name with the given label names
// (at most four).
func (r *Registry) Counter(name, help string, labels ...string) *Counter {
	r.claim(name, labels)
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	r.reg.MustRegister(v)
	return &Counter{newSeries(name, labels, v.WithLabelValues)}
}

// Add adds n to the counter of the label values (in the order of the label
// names).
func (c *Counter) Add(n uint64, values ...string) { c.s.get(values).Add(float64(n)) }

// Histogram is a family of histograms.
type Histogram struct{ s *series[prometheus.Observer] }

// Histogram registers a histogram family; buckets are the upper bounds, in
// increasing order (nil: DefaultBuckets); +Inf is implied and a bucket
// counts the observations less than or equal to its bound.
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) *Histogram {
	if buckets == nil {
		buckets = DefaultBuckets
	}
	if !slices.IsSorted(buckets) {
		panic("metrics: buckets of " + name + " are not sorted")
	}
	r.claim(name, labels)
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: slices.Clone(buckets)}, labels)
	r.reg.MustRegister(v)
	return &Histogram{newSeries(name, labels, v.WithLabelValues)}
}

// Observe records v in the histogram of the label values.
func (h *Histogram) Observe(v float64, values ...string) { h.s.get(values).Observe(v) }

// ObserveSince records the seconds since start.
func (h *Histogram) ObserveSince(start time.Time, values ...string) {
	h.Observe(time.Since(start).Seconds(), values...)
}

// funcFamily is a family whose samples its owner reports at each scrape.
type funcFamily struct {
	desc    *prometheus.Desc
	kind    prometheus.ValueType
	labels  int
	collect func(ctx context.Context, emit func(v float64, values ...string)) error
}

// Gauge registers a gauge family whose values collect reports at each
// scrape by calling emit once per label set (a label set emitted twice keeps
// its first value). An error from collect leaves the family without samples
// in that scrape; the handler reports it.
func (r *Registry) Gauge(name, help string, labels []string, collect func(ctx context.Context, emit func(v float64, values ...string)) error) {
	r.addFunc(name, help, prometheus.GaugeValue, labels, collect)
}

// CounterFunc registers a counter family whose values collect reports at
// each scrape: a count its owner keeps (it must never decrease). Errors are
// handled as Gauge's.
func (r *Registry) CounterFunc(name, help string, labels []string, collect func(ctx context.Context, emit func(v float64, values ...string)) error) {
	r.addFunc(name, help, prometheus.CounterValue, labels, collect)
}

func (r *Registry) addFunc(name, help string, kind prometheus.ValueType, labels []string, collect func(context.Context, func(float64, ...string)) error) {
	r.claim(name, labels)
	f := &funcFamily{desc: prometheus.NewDesc(name, help, labels, nil), kind: kind, labels: len(labels), collect: collect}
	// Register the description once now so that a bad name or a clash
	// with a library family panics at start, not at the first scrape.
	if err := prometheus.NewPedanticRegistry().Register(describeOnly{f.desc}); err != nil {
		panic("metrics: " + name + ": " + err.Error())
	}
	r.mu.Lock()
	r.funcs = append(r.funcs, f)
	r.mu.Unlock()
}

type describeOnly struct{ d *prometheus.Desc }

func (c describeOnly) Describe(ch chan<- *prometheus.Desc) { ch <- c.d }
func (c describeOnly) Collect(chan<- prometheus.Metric)    {}

// scrapeCollector is the collector of the scrape-time families for one scrape.
type scrapeCollector struct {
	ctx   context.Context
	funcs []*funcFamily
}

func (s scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range s.funcs {
		ch <- f.desc
	}
}

func (s scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	type sample struct {
		values []string
		v      float64
	}
	for _, f := range s.funcs {
		var got []sample
		err := f.collect(s.ctx, func(v float64, values ...string) {
			if len(values) != f.labels {
				panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", f.desc, f.labels, len(values)))
			}
			vs := make([]string, len(values))
			for i, x := range values {
				vs[i] = strings.ToValidUTF8(x, "\uFFFD")
			}
			got = append(got, sample{vs, v})
		})
		if err != nil {
			ch <- prometheus.NewInvalidMetric(f.desc, err)
			continue
		}
		slices.SortStableFunc(got, func(a, b sample) int { return slices.Compare(a.values, b.values) })
		for i, x := range got {
			if i > 0 && slices.Equal(got[i-1].values, x.values) {
				continue // one sample per label set
			}
			ch <- prometheus.MustNewConstMetric(f.desc, f.kind, x.v, x.values...)
		}
	}
}

// gatherer returns what one scrape with ctx reads: the library's registry
// and the scrape-time families, collected with ctx.
func (r *Registry) gatherer(ctx context.Context) prometheus.Gatherer {
	r.mu.Lock()
	funcs := slices.Clone(r.funcs)
	r.mu.Unlock()
	per := prometheus.NewRegistry()
	per.MustRegister(scrapeCollector{ctx, funcs})
	return prometheus.Gatherers{r.reg, per}
}

// Write writes every family in the text format (version 0.0.4), as a scrape
// without an Accept header reads it. Scrape-time families are collected with
// ctx; a family whose collection fails is left out and the failures are
// returned after the rest is written.
func (r *Registry) Write(ctx context.Context, w io.Writer) error {
	fams, gerr := r.gatherer(ctx).Gather()
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	if gerr != nil {
		return fmt.Errorf("collect metrics: %w", gerr)
	}
	return nil
}

// ContentType is the media type of the text format a scrape without an
// Accept header gets (the library adds the name-escaping parameter).
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves the registry on GET (and HEAD) with the library's handler:
// the format the scraper's Accept header asks for (the text format when it
// asks for none), gzip when it accepts it. Each scrape's scrape-time
// families are collected within timeout. Collection errors go to onError
// (nil ignores them); the scrape still answers 200 with what was collected,
// as exporters do.
func (r *Registry) Handler(timeout time.Duration, onError func(error)) http.Handler {
	opts := promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}
	if onError != nil {
		opts.ErrorLog = errorLog(onError)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), timeout)
		defer cancel()
		w.Header().Set("Cache-Control", "no-store")
		promhttp.HandlerFor(r.gatherer(ctx), opts).ServeHTTP(w, req)
	})
}

// errorLog is promhttp's Logger over a callback.
type errorLog func(error)

func (f errorLog) Println(v ...any) {
	for _, x := range v {
		if err, ok := x.(error); ok {
			f(err)
			return
		}
	}
	f(errors.New(strings.TrimSpace(fmt.Sprintln(v...))))
}
