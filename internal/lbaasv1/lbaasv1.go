// Package lbaasv1 serves Neutron's first load-balancing API (LBaaS v1:
// /v2.0/lb/pools, vips, members, health_monitors, pool–monitor
// associations, pool stats) at the network endpoint, as a translation onto
// fulcrum's load balancers. Nothing of v1 runs on its own: every v1 write
// becomes writes of the write path (package change), in one transaction,
// so a v1 pool with a VIP carries traffic like any load balancer.
//
// The mapping (docs/lbaas-v1.md):
//
//   - a v1 pool is a load balancer of its own (named after the pool, its
//     VIP allocated on the pool's subnet) holding a pool with the v1 pool's
//     id; a store record (lb.V1Pool) marks it and keeps its subnet;
//   - a v1 VIP is a listener of that load balancer whose default pool is
//     the v1 pool, with the VIP's id; its address and subnet are the load
//     balancer's VIP, moved when the VIP asks for another (change.MoveVIP);
//     its session persistence is the pool's;
//   - a v1 member is a member of the pool, with the same id;
//   - a v1 health monitor is a definition of its own (lb.V1HealthMonitor);
//     associating it with a pool creates a health monitor on that pool
//     (its id derived from the two ids), updating it updates every one.
//
// Statuses are the objects' provisioning statuses in v1's names (a member
// whose health checks fail is INACTIVE). Errors are Neutron's bodies with
// v1's exception names and messages where v1 had its own.
package lbaasv1

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Authorizer decides policy rules (policy.Enforcer): v1 calls are checked
// with the rules of the objects they become (Octavia's names).
type Authorizer interface {
	Authorize(c policy.Caller, rule policy.Rule, ownerProject string) error
}

// StatsSource reports a load balancer's traffic counters.
type StatsSource interface {
	LoadBalancerStats(ctx context.Context, loadBalancerID string) (lb.Stats, error)
}

// Options configure New. Store, Writer, Authorizer and Stats are required.
type Options struct {
	Store      store.Store
	Writer     *change.Writer
	Authorizer Authorizer
	Stats      StatsSource
	// Providers, DefaultProvider and ProviderAliases are the Octavia API's
	// (a v1 pool's provider names its load balancer's).
	Providers       []string
	DefaultProvider string
	ProviderAliases map[string]string
	// Settings are the validation knobs of the write path; nil means
	// lb.DefaultSettings().
	Settings *lb.Settings
	// NewID returns the id of a new object; nil means random UUIDs.
	NewID  func() string
	Clock  func() time.Time
	Logger *slog.Logger
}

// API is the LBaaS v1 handler. It is safe for concurrent use.
type API struct {
	opts     Options
	settings lb.Settings
	log      *slog.Logger
	router   *httpapi.Router
}

// Paths are the mux patterns the API answers at: the network endpoint's
// and, for clients given a single endpoint, the root's.
var Paths = []string{"/networking/v2.0/lb/", "/v2.0/lb/"}

// New returns the API.
func New(opts Options) *API {
	a := &API{opts: opts, log: opts.Logger}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if opts.Settings != nil {
		a.settings = *opts.Settings
	} else {
		a.settings = lb.DefaultSettings()
	}
	if a.opts.Clock == nil {
		a.opts.Clock = time.Now
	}
	a.routes()
	return a
}

// ServeHTTP serves /networking/v2.0/lb/... and /v2.0/lb/... (a ".json"
// suffix is ignored). The caller comes from policy.CallerFrom.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/networking")
	path = strings.TrimSuffix(strings.TrimRight(path, "/"), ".json")
	routed := r.Clone(r.Context())
	routed.URL.Path, routed.URL.RawPath = path, ""
	a.router.ServeHTTP(w, routed)
}

type handler func(w http.ResponseWriter, r *http.Request, c policy.Caller) error

func (a *API) handle(pattern string, h handler) {
	a.router.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		c, ok := policy.CallerFrom(r.Context())
		if !ok {
			writeError(w, &Error{Code: http.StatusUnauthorized, Type: "HTTPUnauthorized", Message: "The request you have made requires authentication."})
			return
		}
		if err := h(w, r, c); err != nil {
			a.writeError(w, r, err)
		}
	})
}

func (a *API) routes() {
	a.router = &httpapi.Router{
		NotFound: func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, &Error{Code: http.StatusNotFound, Type: "HTTPNotFound", Message: "The resource could not be found."})
		},
		MethodNotAllowed: func(w http.ResponseWriter, r *http.Request, _ string) {
			writeError(w, &Error{Code: http.StatusMethodNotAllowed, Type: "HTTPMethodNotAllowed",
				Message: fmt.Sprintf("The method %s is not allowed for this resource.", r.Method)})
		},
	}
	const (
		pools    = "/v2.0/lb/pools"
		vips     = "/v2.0/lb/vips"
		members  = "/v2.0/lb/members"
		monitors = "/v2.0/lb/health_monitors"
	)
	for _, r := range []struct {
		pattern string
		h       handler
	}{
		{"GET " + pools, a.listPools},
		{"POST " + pools, a.createPool},
		{"GET " + pools + "/{id}", a.showPool},
		{"PUT " + pools + "/{id}", a.updatePool},
		{"DELETE " + pools + "/{id}", a.deletePool},
		{"GET " + pools + "/{id}/stats", a.poolStats},
		{"POST " + pools + "/{id}/health_monitors", a.associate},
		{"GET " + pools + "/{id}/health_monitors/{hm}", a.showAssociation},
		{"DELETE " + pools + "/{id}/health_monitors/{hm}", a.disassociate},

		{"GET " + vips, a.listVIPs},
		{"POST " + vips, a.createVIP},
		{"GET " + vips + "/{id}", a.showVIP},
		{"PUT " + vips + "/{id}", a.updateVIP},
		{"DELETE " + vips + "/{id}", a.deleteVIP},

		{"GET " + members, a.listMembers},
		{"POST " + members, a.createMember},
		{"GET " + members + "/{id}", a.showMember},
		{"PUT " + members + "/{id}", a.updateMember},
		{"DELETE " + members + "/{id}", a.deleteMember},

		{"GET " + monitors, a.listMonitors},
		{"POST " + monitors, a.createMonitor},
		{"GET " + monitors + "/{id}", a.showMonitor},
		{"PUT " + monitors + "/{id}", a.updateMonitor},
		{"DELETE " + monitors + "/{id}", a.deleteMonitor},
	} {
		a.handle(r.pattern, r.h)
	}
}

// Error is a Neutron fault: {"NeutronError": {"type", "message",
// "detail"}}. Type is the Neutron exception's name (v1's own where it had
// one: PoolNotFound, VipExists, PoolInUse, ...).
type Error struct {
	Code    int
	Type    string
	Message string
}

func (e *Error) Error() string { return e.Message }

func writeError(w http.ResponseWriter, e *Error) {
	type fault struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Detail  string `json:"detail"`
	}
	httpapi.WriteJSON(w, e.Code, map[string]fault{"NeutronError": {Type: e.Type, Message: e.Message}})
}

// writeError answers err: the v1 layer's own errors as they are, the write
// path's in Neutron's terms, anything else a logged 500.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		e  *Error
		ve *lb.ValidationError
		ce *lb.ConflictError
		nf *lb.NotFoundError
		qe *lb.QuotaExceededError
		un *lb.UnsupportedError
	)
	switch {
	case errors.As(err, &e):
	case errors.As(err, &ve):
		e = &Error{Code: http.StatusBadRequest, Type: "BadRequest", Message: ve.Msg}
	case errors.As(err, &ce):
		e = &Error{Code: http.StatusConflict, Type: "Conflict", Message: ce.Msg}
	case errors.As(err, &nf):
		e = &Error{Code: http.StatusNotFound, Type: "NotFound", Message: nf.Error()}
	case errors.As(err, &qe):
		e = &Error{Code: http.StatusConflict, Type: "OverQuota", Message: qe.Error()}
	case errors.As(err, &un):
		e = &Error{Code: http.StatusNotImplemented, Type: "NotImplemented", Message: un.Error()}
	case errors.Is(err, policy.ErrDenied):
		e = &Error{Code: http.StatusForbidden, Type: "PolicyNotAuthorized", Message: policy.DeniedMessage}
	case errors.Is(err, store.ErrCannotWrite), errors.Is(err, store.ErrBusy):
		a.log.Warn("lbaas v1: store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{Code: http.StatusServiceUnavailable, Type: "ServiceUnavailable", Message: "The service cannot store changes at the moment; nothing was changed. Please try again later."}
	default:
		a.log.Error("lbaas v1: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{Code: http.StatusInternalServerError, Type: "HTTPInternalServerError", Message: "Request Failed: internal server error while processing your request."}
	}
	writeError(w, e)
}

// Not-found errors with v1's names and messages.
func poolNotFound(id string) error {
	return &Error{Code: http.StatusNotFound, Type: "PoolNotFound", Message: "Pool " + id + " could not be found"}
}
func vipNotFound(id string) error {
	return &Error{Code: http.StatusNotFound, Type: "VipNotFound", Message: "Vip " + id + " could not be found"}
}
func memberNotFound(id string) error {
	return &Error{Code: http.StatusNotFound, Type: "MemberNotFound", Message: "Member " + id + " could not be found"}
}
func monitorNotFound(id string) error {
	return &Error{Code: http.StatusNotFound, Type: "HealthMonitorNotFound", Message: "Health_monitor " + id + " could not be found"}
}

// stateInvalid is v1's refusal of a write on an object being deleted.
func stateInvalid(status lb.ProvisioningStatus, id string) error {
	return &Error{Code: http.StatusBadRequest, Type: "StateInvalid", Message: fmt.Sprintf("Invalid state %s of Loadbalancer resource %s", status, id)}
}

// allow is the write path's authorization of one write as caller c, with
// the rule of the object it becomes.
func (a *API) allow(c policy.Caller, o policy.Object, act policy.Action) change.Allow {
	return func(owner string) error { return a.opts.Authorizer.Authorize(c, policy.RuleFor(o, act), owner) }
}

// visible reports whether c may read an object of project owner; v1, like
// Neutron, answers an object the caller may not see with a 404.
func (a *API) visible(c policy.Caller, o policy.Object, owner string) bool {
	return a.opts.Authorizer.Authorize(c, policy.RuleFor(o, policy.GetOne), owner) == nil
}

// project is the project a create acts in: the body's tenant_id, else the
// caller's.
func project(in *body, c policy.Caller) (string, error) {
	if p := in.str("tenant_id"); p != "" {
		return p, nil
	}
	if c.ProjectID == "" {
		return "", &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest", Message: "Failed to parse request. Required attribute 'tenant_id' not specified"}
	}
	return c.ProjectID, nil
}

// provider resolves a v1 pool's provider name (as the Octavia API does):
// the provider it runs on and the name it shows.
func (a *API) provider(name string) (resolved, shown string, err error) {
	if name == "" {
		name = a.opts.DefaultProvider
	}
	resolved = name
	if t, ok := a.opts.ProviderAliases[name]; ok {
		resolved = t
	}
	if !slices.Contains(a.opts.Providers, resolved) {
		return "", "", &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest", Message: fmt.Sprintf("Provider '%s' is not enabled.", name)}
	}
	return resolved, name, nil
}

func (a *API) now() time.Time { return a.opts.Clock().UTC() }
