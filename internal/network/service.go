package network

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Options configure NewService.
type Options struct {
	Store  store.Store
	Logger *slog.Logger
	Now    func() time.Time
	// ExternalURL is scheme://host[:port] as clients see it; "" derives it
	// from each request.
	ExternalURL string
	// Notify, if set, is told about load balancers whose served addresses
	// changed (floating IPs (dis)associated with their VIP port).
	Notify func(lbID string)
}

// Service is the Neutron subset, an http.Handler for /networking/... and
// for /v2.0/{networks,subnets,ports,floatingips,qos,extensions} (clients
// given a single endpoint send network calls there). The caller comes from
// policy.CallerFrom, set by the authentication middleware.
type Service struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
}

// NewService returns the service.
func NewService(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.ExternalURL = strings.TrimSuffix(opts.ExternalURL, "/")
	s := &Service{opts: opts, log: opts.Logger.With("component", "network")}
	s.routes()
	return s
}

// Paths lists the path prefixes the service answers, for mounting on a mux.
var Paths = []string{"/networking", "/networking/", "/v2.0/networks", "/v2.0/networks/", "/v2.0/subnets", "/v2.0/subnets/",
	"/v2.0/ports", "/v2.0/ports/", "/v2.0/floatingips", "/v2.0/floatingips/", "/v2.0/qos/", "/v2.0/extensions", "/v2.0/extensions/"}

// ServeHTTP serves the Neutron subset.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/networking"); ok && rest != "" && rest != "/" {
		r2 := r.Clone(r.Context())
		r2.URL.Path = rest
		r2.URL.RawPath = ""
		r = r2
	}
	r.URL.Path = strings.TrimSuffix(r.URL.Path, ".json")
	s.mux.ServeHTTP(w, r)
}

type handler func(w http.ResponseWriter, r *http.Request, c policy.Caller) error

func (s *Service) handle(pattern string, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		c, ok := policy.CallerFrom(r.Context())
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
				"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}})
			return
		}
		if err := h(w, r, c); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Service) routes() {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /networking", s.versions)
	s.mux.HandleFunc("GET /networking/{$}", s.versions)
	s.handle("GET /v2.0/{$}", s.resources)
	s.handle("GET /v2.0", s.resources)
	s.handle("GET /v2.0/extensions", s.extensions)

	s.handle("GET /v2.0/networks", s.listNetworks)
	s.handle("POST /v2.0/networks", s.createNetwork)
	s.handle("GET /v2.0/networks/{id}", s.getNetwork)
	s.handle("PUT /v2.0/networks/{id}", s.updateNetwork)
	s.handle("DELETE /v2.0/networks/{id}", s.deleteNetwork)

	s.handle("GET /v2.0/subnets", s.listSubnets)
	s.handle("POST /v2.0/subnets", s.createSubnet)
	s.handle("GET /v2.0/subnets/{id}", s.getSubnet)
	s.handle("PUT /v2.0/subnets/{id}", s.updateSubnet)
	s.handle("DELETE /v2.0/subnets/{id}", s.deleteSubnet)

	s.handle("GET /v2.0/ports", s.listPorts)
	s.handle("POST /v2.0/ports", s.createPort)
	s.handle("GET /v2.0/ports/{id}", s.getPort)
	s.handle("PUT /v2.0/ports/{id}", s.updatePort)
	s.handle("DELETE /v2.0/ports/{id}", s.deletePort)

	s.handle("GET /v2.0/floatingips", s.listFloatingIPs)
	s.handle("POST /v2.0/floatingips", s.createFloatingIP)
	s.handle("GET /v2.0/floatingips/{id}", s.getFloatingIP)
	s.handle("PUT /v2.0/floatingips/{id}", s.updateFloatingIP)
	s.handle("DELETE /v2.0/floatingips/{id}", s.deleteFloatingIP)

	s.handle("GET /v2.0/qos/policies", s.listQoSPolicies)
	s.handle("POST /v2.0/qos/policies", s.createQoSPolicy)
	s.handle("GET /v2.0/qos/policies/{id}", s.getQoSPolicy)
	s.handle("PUT /v2.0/qos/policies/{id}", s.updateQoSPolicy)
	s.handle("DELETE /v2.0/qos/policies/{id}", s.deleteQoSPolicy)

	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, &Error{Code: http.StatusNotFound, Type: "HTTPNotFound", Message: "The resource could not be found."})
	})
}

func (s *Service) baseURL(r *http.Request) string {
	if s.opts.ExternalURL != "" {
		return s.opts.ExternalURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Service) versions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"versions": []any{map[string]any{
		"id": "v2.0", "status": "CURRENT",
		"links": []any{map[string]any{"rel": "self", "href": s.baseURL(r) + "/networking/v2.0/"}},
	}}})
}

func (s *Service) resources(w http.ResponseWriter, r *http.Request, _ policy.Caller) error {
	var out []any
	for _, res := range []struct{ name, coll string }{{"network", "networks"}, {"subnet", "subnets"}, {"port", "ports"}, {"floatingip", "floatingips"}} {
		out = append(out, map[string]any{"name": res.name, "collection": res.coll,
			"links": []any{map[string]any{"rel": "self", "href": s.baseURL(r) + "/networking/v2.0/" + res.coll}}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"resources": out})
	return nil
}

func (s *Service) extensions(w http.ResponseWriter, r *http.Request, _ policy.Caller) error {
	var out []any
	for _, e := range [][2]string{{"external-net", "Neutron external network"}, {"qos", "Quality of Service"},
		{"standard-attr-tag", "Tag support for resources with standard attribute"}, {"standard-attr-description", "standard-attr-description"},
		{"router", "Neutron L3 Router"}, {"quotas", "Quota management support"}} {
		out = append(out, map[string]any{"alias": e[0], "name": e[1], "description": e[1], "updated": "2016-01-01T00:00:00-00:00", "links": []any{}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"extensions": out})
	return nil
}

// Error is a Neutron fault: {"NeutronError": {"type", "message", "detail"}}.
type Error struct {
	Code    int
	Type    string
	Message string
}

func (e *Error) Error() string { return e.Message }

func notFound(kind, typ, id string) *Error {
	return &Error{Code: http.StatusNotFound, Type: typ, Message: fmt.Sprintf("%s %s could not be found.", kind, id)}
}

func badRequest(resource, msg string) *Error {
	return &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest", Message: fmt.Sprintf("Bad %s request: %s.", resource, strings.TrimSuffix(msg, "."))}
}

func invalidInput(msg string) *Error {
	return &Error{Code: http.StatusBadRequest, Type: "InvalidInput", Message: "Invalid input for operation: " + msg}
}

func forbidden(action string) *Error {
	return &Error{Code: http.StatusForbidden, Type: "HTTPForbidden", Message: "(rule:" + action + ") is disallowed by policy"}
}

func conflict(typ, msg string) *Error {
	return &Error{Code: http.StatusConflict, Type: typ, Message: msg}
}

func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, store.ErrCannotWrite):
		s.log.Error("network request failed: store cannot write", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{Code: http.StatusServiceUnavailable, Type: "HTTPServiceUnavailable", Message: "The service cannot store changes at the moment (the store cannot write); nothing was changed. Please try again later."}
	default:
		s.log.Error("network request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{Code: http.StatusInternalServerError, Type: "HTTPInternalServerError", Message: "Request Failed: internal server error while processing your request."}
	}
	writeJSON(w, e.Code, map[string]any{"NeutronError": map[string]any{"type": e.Type, "message": e.Message, "detail": ""}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// decode reads {"<wrapper>": {...}} into v.
func decode(r *http.Request, wrapper string, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return badRequest(wrapper, "could not read the body")
	}
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(body, &outer); err != nil {
		return badRequest(wrapper, "Malformed request body")
	}
	inner, ok := outer[wrapper]
	if !ok {
		return badRequest(wrapper, "Resource body required")
	}
	if err := json.Unmarshal(inner, v); err != nil {
		return badRequest(wrapper, "Invalid input: "+err.Error())
	}
	return nil
}

func newMAC() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", b[0], b[1], b[2])
}

// isAdmin: Neutron's context_is_admin.
func isAdmin(c policy.Caller) bool {
	if c.IsAdmin {
		return true
	}
	for _, r := range c.Roles {
		if r == "admin" {
			return true
		}
	}
	return false
}

// owns reports whether c may change an object of project.
func owns(c policy.Caller, project string) bool {
	return isAdmin(c) || (c.ProjectID != "" && c.ProjectID == project)
}

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

func neutronTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func (s *Service) view(ctx context.Context, fn func(store.Tx) error) error {
	return s.opts.Store.View(ctx, fn)
}

func (s *Service) update(ctx context.Context, fn func(store.Tx) error) error {
	return s.opts.Store.Update(ctx, fn)
}
