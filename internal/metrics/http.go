package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
)

// HTTP counts the requests of an HTTP surface by method, route pattern and
// status code, and their latency by method and route.
type HTTP struct {
	requests *Counter
	latency  *Histogram
}

// NewHTTP registers <prefix>_requests_total and
// <prefix>_request_duration_seconds in r.
func NewHTTP(r *Registry, prefix string) *HTTP {
	return &HTTP{
		requests: r.Counter(prefix+"_requests_total", "HTTP requests served, by method, route pattern and status code.", "method", "route", "code"),
		latency: r.Histogram(prefix+"_request_duration_seconds", "Time from the request's head to the handler's return, by method and route pattern.",
			nil, "method", "route"),
	}
}

// Wrap instruments h. The route is the pattern of the httpapi.Router that
// served the request (without its method), else the pattern of the
// http.ServeMux h is, else "unmatched": never the raw path, so a client
// cannot mint label values.
func (m *HTTP) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r2, pattern := httpapi.RecordPattern(r)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			route := pattern()
			if route == "" {
				route = r2.Pattern
			}
			if route == "" {
				route = httpapi.Unmatched
			}
			if _, path, ok := strings.Cut(route, " "); ok {
				route = path
			}
			method := Method(r.Method)
			code := "200"
			if sw.status != 0 {
				code = strconv.Itoa(sw.status)
			}
			if p := recover(); p != nil {
				// net/http answers a panicking handler by dropping the connection.
				code = "aborted"
				defer panic(p)
			}
			m.requests.Add(1, method, route, code)
			m.latency.ObserveSince(start, method, route)
		}()
		h.ServeHTTP(sw, r2)
	})
}

// Method returns m if it is a standard HTTP method, else "other": label
// values must not come from the client unbounded.
func Method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
