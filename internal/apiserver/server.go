// Package apiserver serves fulcrum's public HTTP API, wire-compatible with
// OpenStack Octavia v2: routes under /v2, /v2.0 and their lbaas/ forms, the
// version document at /, request decoding with Octavia's input rules, wire
// response types, listing (pagination, sorting, filtering, field
// selection) and faults.
//
// A mutating call is decoded here, authorized by the caller's policy and
// handed to the write path (package change) in one call; what it returns
// is rendered. fulcrum never answers Octavia's "immutable" 409s: writes are
// folded into the next reconcile. The Octavia behaviours the package
// reproduces are described in docs/octavia-behaviour.md.
//
// The package imports the store contract, never a backend, and no other
// service package; its collaborators (notifier, VIP allocation, stats,
// authentication, quotas) are small interfaces wired in cmd.
package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/ids"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Notifier is told which load balancer changed once a write has committed,
// so that the controller reconciles it (the write path's).
type Notifier = change.Notifier

// VIPAllocator realises a load balancer's VIP (the write path's: an
// allocator that also implements change.TxVIPAllocator allocates inside the
// create transaction, one that implements change.VIPQoSUpdater applies a
// changed vip_qos_policy_id). Errors of type *lb.ValidationError are shown
// to the caller (400); others are logged and answered with 500.
type VIPAllocator = change.VIPAllocator

// SubnetChecker validates a member's subnet_id (the write path's).
type SubnetChecker = change.SubnetChecker

// QuotaReserver checks quotas inside create transactions (the write
// path's); *lb.QuotaExceededError is answered 403.
type QuotaReserver = change.QuotaReserver

// VIPSecurityGroups validates a load balancer's vip_sg_ids inside its
// create or update transaction and puts them on its VIP port
// (change.VIPSecurityGroups).
type VIPSecurityGroups = change.VIPSecurityGroups

// Authorizer decides policy rules (policy.Enforcer).
type Authorizer interface {
	Authorize(c policy.Caller, rule policy.Rule, ownerProject string) error
}

// StatsSource reports traffic counters (zeros until a data plane reports
// them).
type StatsSource interface {
	LoadBalancerStats(ctx context.Context, loadBalancerID string) (lb.Stats, error)
	ListenerStats(ctx context.Context, listenerID string) (lb.Stats, error)
}

// QuotaAPI serves the quota endpoints. Register adds its routes below
// prefix (the canonical "/v2/lbaas/quotas") to rt, each handler wrapped by
// wrap, which authenticates the caller and puts it in the request context
// (policy.CallerFrom).
type QuotaAPI interface {
	Register(rt *httpapi.Router, prefix string, wrap func(http.Handler) http.Handler)
}

// DefaultMaxBodyBytes is Octavia's request size limit (oslo sizelimit).
const DefaultMaxBodyBytes = 114688

// DefaultPaginationMaxLimit is Octavia's [api_settings] pagination_max_limit.
const DefaultPaginationMaxLimit = 1000

// Options configure a Server. Store, Notifier and VIPs are required.
type Options struct {
	Store    store.Store
	Notifier Notifier
	VIPs     VIPAllocator
	// Stats reports traffic counters; nil reads the per-agent listener
	// counters the health manager keeps in the store.
	Stats StatsSource
	// Auth authenticates every call except the version document; nil
	// means NoAuth.
	Auth Authenticator
	// Authorizer decides the policy rules; nil means Octavia's defaults
	// (policy.New with zero options).
	Authorizer Authorizer
	// Quotas limits creates per project; nil means no limits.
	Quotas QuotaReserver
	// QuotaAPI serves the quota endpoints (/v2/lbaas/quotas…); nil answers
	// them 404.
	QuotaAPI QuotaAPI
	// Subnets validates member subnet_id; nil accepts any.
	Subnets SubnetChecker
	// SecurityGroups validates vip_sg_ids; nil accepts any.
	SecurityGroups VIPSecurityGroups
	// KeyManager checks the key-manager references of listeners and pools
	// (certificates, client and member CAs, CRLs) as Octavia asks Barbican;
	// nil accepts any well-formed reference.
	KeyManager KeyManager
	// Logger receives request logs; nil discards them.
	Logger *slog.Logger
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Providers are the enabled provider names; DefaultProvider is used when
	// a load balancer is created without one (it must be enabled).
	Providers       []string
	DefaultProvider string
	// ProviderAliases maps accepted provider names to enabled ones (e.g.
	// Octavia's "amphora" and "octavia" to the default); the load balancer
	// stores and shows the target name.
	ProviderAliases map[string]string
	// Settings are the validation knobs; nil means lb.DefaultSettings().
	Settings *lb.Settings
	// PaginationMaxLimit caps page sizes: 0 means DefaultPaginationMaxLimit,
	// negative means no cap ("infinite").
	PaginationMaxLimit int
	// BaseURL, when set, is used instead of the request's scheme and host in
	// pagination links (Octavia's api_base_uri).
	BaseURL string
	// MaxBodyBytes limits request bodies: 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// NewID returns the id of a new object; nil means random UUIDs (tests
	// inject a sequence for stable golden files).
	NewID func() string
}

// Server is the API. It is safe for concurrent use.
type Server struct {
	store     store.Store
	writes    *change.Writer
	stats     StatsSource
	auth      Authenticator
	authz     Authorizer
	log       *slog.Logger
	clock     func() time.Time
	providers []string
	provider  string
	aliases   map[string]string
	settings  lb.Settings
	maxLimit  int // 0 = no cap
	baseURL   string
	maxBody   int64
	newID     func() string
	schemas   *schemas
	router    *httpapi.Router
}

// New returns a Server for opts.
func New(opts Options) *Server {
	s := &Server{
		store:     opts.Store,
		stats:     opts.Stats,
		auth:      opts.Auth,
		authz:     opts.Authorizer,
		log:       opts.Logger,
		clock:     opts.Clock,
		providers: append([]string(nil), opts.Providers...),
		provider:  opts.DefaultProvider,
		aliases:   maps.Clone(opts.ProviderAliases),
		baseURL:   strings.TrimRight(opts.BaseURL, "/"),
		maxBody:   opts.MaxBodyBytes,
		newID:     opts.NewID,
		schemas:   newSchemas(),
	}
	if s.newID == nil {
		s.newID = ids.New
	}
	if s.stats == nil {
		s.stats = storeStats{st: opts.Store}
	}
	if s.auth == nil {
		s.auth = NoAuth{}
	}
	if s.authz == nil {
		e, err := policy.New(policy.Options{})
		if err != nil {
			panic("apiserver: built-in policy rules do not parse: " + err.Error())
		}
		s.authz = e
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if opts.Settings != nil {
		s.settings = *opts.Settings
	} else {
		s.settings = lb.DefaultSettings()
	}
	switch {
	case opts.PaginationMaxLimit == 0:
		s.maxLimit = DefaultPaginationMaxLimit
	case opts.PaginationMaxLimit > 0:
		s.maxLimit = opts.PaginationMaxLimit
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.provider == "" && len(s.providers) > 0 {
		s.provider = s.providers[0]
	}
	var keys change.KeyManager
	if opts.KeyManager != nil {
		keys = callerKeyManager{opts.KeyManager}
	}
	s.writes = change.New(change.Options{Store: opts.Store, Notifier: opts.Notifier, Quotas: opts.Quotas,
		Subnets: opts.Subnets, KeyManager: keys, VIPs: opts.VIPs, SecurityGroups: opts.SecurityGroups, Settings: &s.settings, Clock: s.clock,
		NewID: s.newID, Logger: s.log})
	s.router = s.routes(opts.QuotaAPI)
	return s
}

// Writer returns the write path the API writes through, for another API
// that translates onto load balancers (LBaaS v1) to share its settings,
// quotas, VIP allocation and notifications.
func (s *Server) Writer() *change.Writer { return s.writes }

// Stats returns the API's source of traffic counters.
func (s *Server) Stats() StatsSource { return s.stats }

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// request is one API call being served.
type request struct {
	w   *recorder
	r   *http.Request // as the client sent it
	ctx context.Context
	id  string
	log *slog.Logger
	// route is the request as the router matched it (canonical path, path
	// parameters).
	route  *http.Request
	query  url.Values
	caller policy.Caller
	s      *Server
}

// param returns a path parameter of the route.
func (q *request) param(name string) string { return q.route.PathValue(name) }

// recorder remembers the status written, for the access log and the panic
// handler.
type recorder struct {
	http.ResponseWriter
	status int
	// neutron: the call came through the network endpoint (faults and the
	// status tree in Neutron-LBaaS v2's shapes).
	neutron bool
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

type requestKey struct{}

// Logger returns the request-scoped logger (with the request id) stored in
// ctx by the API, or nil outside a request.
func Logger(ctx context.Context) *slog.Logger {
	if q, ok := ctx.Value(requestKey{}).(*request); ok {
		return q.log
	}
	return nil
}

// requestOf returns the call a routed request belongs to.
func requestOf(r *http.Request) *request { return r.Context().Value(requestKey{}).(*request) }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) { s.serveAs(w, r, false) }

// serveAs serves one call; neutron answers it as the network endpoint's
// Neutron-LBaaS v2 (NeutronHandler).
func (s *Server) serveAs(w http.ResponseWriter, r *http.Request, neutron bool) {
	start := s.clock()
	id := "req-" + ids.New()
	rec := &recorder{ResponseWriter: w, neutron: neutron}
	rec.Header().Set("X-Openstack-Request-Id", id)
	q := &request{w: rec, r: r, id: id, log: s.log.With("request_id", id), s: s}
	q.ctx = context.WithValue(r.Context(), requestKey{}, q)
	q.r = r.WithContext(q.ctx)
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			q.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if rec.status == 0 {
				writeFault(rec, http.StatusInternalServerError, "Internal Server Error")
			}
		}
		q.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", s.clock().Sub(start))
	}()
	if !acceptsJSON(r.Header.Values("Accept")) {
		httpapi.WriteJSON(q.w, http.StatusNotAcceptable, notAcceptable(q.id))
		return
	}
	if r.ContentLength > s.maxBody {
		s.writeError(q, errTooLarge())
		return
	}
	path, ok := canonicalPath(r.URL.Path)
	if !ok {
		s.writeError(q, errNoRoute())
		return
	}
	s.router.ServeHTTP(q.w, withPath(q.r, path))
}

// notAcceptableBody is the 406 of a request that does not accept JSON (the
// shape of Octavia's content-type middleware).
type notAcceptableBody struct {
	Errors []notAcceptableError `json:"errors"`
}

type notAcceptableError struct {
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
	Status    int    `json:"status"`
	Title     string `json:"title"`
}

func notAcceptable(requestID string) notAcceptableBody {
	return notAcceptableBody{Errors: []notAcceptableError{{Detail: "Only content type application/json is accepted.",
		RequestID: requestID, Status: http.StatusNotAcceptable, Title: "Not Acceptable"}}}
}

// acceptsJSON implements Octavia's Accept rule: absent, empty, */*,
// application/* or application/json (parameters ignored) are fine.
func acceptsJSON(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		if strings.TrimSpace(v) == "" {
			return true
		}
		for _, part := range strings.Split(v, ",") {
			mt, params, _ := strings.Cut(part, ";")
			mt = strings.ToLower(strings.TrimSpace(mt))
			if strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") && !strings.Contains(params, "q=0.") {
				continue
			}
			switch mt {
			case "*/*", "application/*", "application/json", "":
				return true
			}
		}
	}
	return false
}

// authenticate establishes the caller of q: false when the request was
// answered 401.
func (s *Server) authenticate(q *request) (bool, error) {
	caller, err := s.auth.Authenticate(q.r)
	if errors.Is(err, ErrUnauthenticated) {
		httpapi.WriteJSON(q.w, http.StatusUnauthorized, unauthorized())
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("authenticate: %w", err)
	}
	q.caller = caller
	q.ctx = policy.WithCaller(q.ctx, caller)
	return true, nil
}

// authorize runs the policy hook for object:action on a target owned by
// owner.
func (q *request) authorize(o policy.Object, a policy.Action, owner string) error {
	return q.s.authz.Authorize(q.caller, policy.RuleFor(o, a), owner)
}

// allow is authorize for a write whose owner the write path finds.
func (q *request) allow(o policy.Object, a policy.Action) change.Allow {
	return func(owner string) error { return q.authorize(o, a, owner) }
}

// apiErrorOf gives the write path's not-found and unsupported-option errors
// their status (404, 501); writeError knows the other domain errors.
func apiErrorOf(err error) error {
	var nf *lb.NotFoundError
	var un *lb.UnsupportedError
	switch {
	case errors.As(err, &nf):
		return &apiError{status: http.StatusNotFound, msg: nf.Error()}
	case errors.As(err, &un):
		return &apiError{status: http.StatusNotImplemented, msg: un.Error()}
	}
	return err
}

func errTooLarge() error {
	return &apiError{status: http.StatusRequestEntityTooLarge, msg: "Request is too large."}
}
