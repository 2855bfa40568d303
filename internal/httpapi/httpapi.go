// Package httpapi holds what every HTTP surface of fulcrum shares: one
// routing style (Go ServeMux patterns, with each surface's own 404 and 405
// bodies), one JSON writer, and one way to say where the server is as the
// client sees it. It imports the standard library only.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Router is an http.ServeMux whose patterns carry a method ("GET /v2/x/{id}")
// and whose misses are answered in the surface's own error format: a path no
// pattern matches goes to NotFound, a known path with another method goes to
// MethodNotAllowed with the methods the path does allow.
type Router struct {
	// NotFound answers paths no pattern matches.
	NotFound http.HandlerFunc
	// MethodNotAllowed answers a known path asked with another method; allow
	// is the comma-separated list of the path's methods (for the Allow
	// header, which it has already been set to).
	MethodNotAllowed func(w http.ResponseWriter, r *http.Request, allow string)

	mux     *http.ServeMux
	methods []string // every method some pattern names, in registration order
	once    sync.Once
}

// Handle registers h for pattern, which must be "METHOD /path". GET also
// answers HEAD, as ServeMux does; the Allow of a 405 lists the methods
// registered, not that implied HEAD.
func (rt *Router) Handle(pattern string, h http.Handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok || method == "" || !strings.HasPrefix(path, "/") {
		panic("httpapi: pattern must be \"METHOD /path\": " + pattern)
	}
	if path == "/" {
		panic("httpapi: the root pattern is the Router's own (NotFound): " + pattern)
	}
	if rt.mux == nil {
		rt.mux = http.NewServeMux()
	}
	rt.mux.Handle(pattern, recordPattern(pattern, h))
	if !slices.Contains(rt.methods, method) {
		rt.methods = append(rt.methods, method)
	}
}

// HandleFunc registers f for pattern (see Handle).
func (rt *Router) HandleFunc(pattern string, f http.HandlerFunc) { rt.Handle(pattern, f) }

// seal registers, once, the catch-all that turns ServeMux's plain 404 and 405
// into the surface's own. A method-less pattern per path would do the same
// but conflicts with ServeMux's precedence rules as soon as a fixed path
// ("GET /quotas/defaults") sits beside a wildcard one allowing more methods
// ("PUT /quotas/{project}"); the catch-all never conflicts.
func (rt *Router) seal() {
	if rt.mux == nil {
		rt.mux = http.NewServeMux()
	}
	rt.mux.HandleFunc("/", rt.miss)
}

// miss answers a request no registered pattern took: 405 with the methods
// whose patterns would take this path, else 404. It runs only on misses.
func (rt *Router) miss(w http.ResponseWriter, r *http.Request) {
	if slot, ok := r.Context().Value(patternKey{}).(*patternSlot); ok {
		slot.pattern = Unmatched
	}
	var allowed []string
	probe := *r
	for _, m := range rt.methods {
		probe.Method = m
		// Only a pattern naming m counts: HEAD answered by a GET pattern
		// is implied, not listed.
		if _, pattern := rt.mux.Handler(&probe); strings.HasPrefix(pattern, m+" ") {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		if rt.NotFound != nil {
			rt.NotFound(w, r)
			return
		}
		http.NotFound(w, r)
		return
	}
	allow := strings.Join(allowed, ", ")
	w.Header().Set("Allow", allow)
	if rt.MethodNotAllowed != nil {
		rt.MethodNotAllowed(w, r, allow)
		return
	}
	http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
}

// ServeHTTP dispatches r. Registering after the first request panics.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.once.Do(rt.seal)
	rt.mux.ServeHTTP(w, r)
}

// Unmatched is the pattern RecordPattern reports for a request a Router
// answered 404 or 405.
const Unmatched = "unmatched"

type patternKey struct{}

type patternSlot struct{ pattern string }

// RecordPattern returns r with room in its context for the pattern that
// serves it: a Router that dispatches the request (or one nested in it)
// records the pattern it matched, or Unmatched. The returned function reads
// it once the handler has returned ("" when no Router saw the request).
// Metrics label requests with it, never with the raw path.
func RecordPattern(r *http.Request) (*http.Request, func() string) {
	slot := &patternSlot{}
	return r.WithContext(context.WithValue(r.Context(), patternKey{}, slot)), func() string { return slot.pattern }
}

func recordPattern(pattern string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slot, ok := r.Context().Value(patternKey{}).(*patternSlot); ok {
			slot.pattern = pattern
		}
		h.ServeHTTP(w, r)
	})
}

// ContentTypeJSON is the media type WriteJSON sends.
const ContentTypeJSON = "application/json"

// Marshal encodes v as JSON without HTML escaping (as Python's json module,
// and so OpenStack's services, do) and without a trailing newline.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// WriteJSON writes v as an application/json response with a Content-Length.
// A nil v writes no body. A value that cannot be encoded is a programming
// error; it is answered 500 with a generic JSON body rather than a partial
// one.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	WriteJSONAs(w, status, ContentTypeJSON, v)
}

// WriteJSONAs is WriteJSON with another media type (Barbican answers
// "application/json; charset=UTF-8").
func WriteJSONAs(w http.ResponseWriter, status int, contentType string, v any) {
	if v == nil {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		return
	}
	data, err := Marshal(v)
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"error": "response could not be encoded"}`)
	}
	WriteRaw(w, status, contentType, data)
}

// WriteRaw writes an already-encoded body.
func WriteRaw(w http.ResponseWriter, status int, contentType string, data []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	w.Write(data)
}

// BaseURL is scheme://host[:port] of this server as the client sees it:
// external (the operator's --external-url) when set, else the request's own
// scheme and Host. Forwarding headers sent by the client are not trusted:
// an href built from them would point the client wherever the request said.
func BaseURL(r *http.Request, external string) string {
	if external != "" {
		return strings.TrimSuffix(external, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// ErrTooManyParameters is returned by Query when a query string has more
// parameters than net/url parses (10,000 unless GODEBUG says otherwise).
var ErrTooManyParameters = errors.New("the query string has more than 10000 parameters")

// Query parses r's query string strictly. url.URL.Query drops every value
// when the string has too many parameters, and skips a malformed pair:
// either would turn a filtered list into an unfiltered one, so both are
// errors here, for the surface to answer 400 with.
func Query(r *http.Request) (url.Values, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		if strings.Contains(err.Error(), "exceeded limit") {
			return nil, ErrTooManyParameters
		}
		return nil, err
	}
	return v, nil
}
