// Package apiserver serves fulcrum's public HTTP API, wire-compatible with
// OpenStack Octavia v2: routes under /v2, /v2.0 and their lbaas/ forms, the
// version document at /, request decoding with Octavia's input rules, wire
// response types, listing (pagination, sorting, filtering, field
// selection), faults, and the status machine of every write.
//
// Every mutating call runs in one store transaction that bumps the load
// balancer's generation and marks the touched objects PENDING_*, then wakes
// the controller through Notifier. fulcrum never answers Octavia's
// "immutable" 409s: writes are folded into the next reconcile.
//
// The package imports the store contract, never a backend, and no other
// service package; its collaborators (notifier, VIP allocation, stats,
// authentication) are small interfaces declared here and wired in cmd.
package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/ids"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Notifier is told which load balancer changed once a write has committed,
// so that the controller reconciles it. Enqueue must not block for long.
type Notifier interface {
	Enqueue(loadBalancerID string)
}

// VIPAllocator realises a load balancer's VIP. Errors of type
// *lb.ValidationError are shown to the caller (400); others are logged and
// answered with 500.
type VIPAllocator interface {
	AllocateVIP(ctx context.Context, req lb.VIPRequest) (lb.VIP, []lb.AdditionalVIP, error)
	// ReleaseVIP undoes AllocateVIP when the load balancer could not be
	// stored.
	ReleaseVIP(ctx context.Context, loadBalancerID string, vip lb.VIP) error
}

// TxVIPAllocator is a VIPAllocator that can also allocate inside the load
// balancer's create transaction, so that the VIP exists exactly when the
// load balancer does (nothing to release after a failed create).
type TxVIPAllocator interface {
	AllocateVIPTx(ctx context.Context, tx store.Tx, req lb.VIPRequest) (lb.VIP, []lb.AdditionalVIP, error)
}

// VIPQoSUpdater is a VIPAllocator that validates a changed
// vip_qos_policy_id (an *lb.ValidationError "qos_policy <id> not found.")
// and applies it to the VIP port, inside the update transaction.
type VIPQoSUpdater interface {
	UpdateQoS(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) error
}

// SubnetChecker validates a member's subnet_id: an *lb.ValidationError
// ("Subnet <id> not found.") when it does not exist for the caller.
type SubnetChecker interface {
	CheckSubnet(ctx context.Context, tx store.Tx, id string) error
}

// VIPSecurityGroups validates a load balancer's vip_sg_ids inside its
// create or update transaction (an *lb.ValidationError "Security Group
// <id> not found." unless each exists in the load balancer's project) and
// puts them on its VIP port.
type VIPSecurityGroups interface {
	SetVIPSecurityGroups(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) error
}

// Authorizer decides policy rules (policy.Enforcer).
type Authorizer interface {
	Authorize(c policy.Caller, rule policy.Rule, ownerProject string) error
}

// QuotaReserver checks, inside a create transaction, that project may create
// want[r] more objects of each resource r; it returns *lb.QuotaExceededError
// (answered 403) when it may not.
type QuotaReserver interface {
	Reserve(ctx context.Context, tx store.Tx, project string, want map[lb.QuotaResource]int) error
}

// StatsSource reports traffic counters (zeros until a data plane reports
// them).
type StatsSource interface {
	LoadBalancerStats(ctx context.Context, loadBalancerID string) (lb.Stats, error)
	ListenerStats(ctx context.Context, listenerID string) (lb.Stats, error)
}

// Authenticator establishes who is calling. It returns ErrUnauthenticated
// (answered with 401) when the request carries no valid credentials.
type Authenticator interface {
	Authenticate(r *http.Request) (policy.Caller, error)
}

// ErrUnauthenticated is returned by an Authenticator that refuses a request.
var ErrUnauthenticated = errors.New("authentication required")

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
	QuotaAPI http.Handler
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
	notifier  Notifier
	vips      VIPAllocator
	stats     StatsSource
	auth      Authenticator
	authz     Authorizer
	quotas    QuotaReserver
	quotaAPI  http.Handler
	subnets   SubnetChecker
	sgs       VIPSecurityGroups
	keys      KeyManager
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
}

// New returns a Server for opts.
func New(opts Options) *Server {
	s := &Server{
		store:     opts.Store,
		notifier:  opts.Notifier,
		vips:      opts.VIPs,
		stats:     opts.Stats,
		auth:      opts.Auth,
		authz:     opts.Authorizer,
		quotas:    opts.Quotas,
		quotaAPI:  opts.QuotaAPI,
		subnets:   opts.Subnets,
		sgs:       opts.SecurityGroups,
		keys:      opts.KeyManager,
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
	return s
}

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// request is one API call being served.
type request struct {
	w      *recorder
	r      *http.Request
	ctx    context.Context
	id     string
	log    *slog.Logger
	caller policy.Caller
	params []string // path parameters in order (ids)
	s      *Server
}

// recorder remembers the status written, for the access log and the panic
// handler.
type recorder struct {
	http.ResponseWriter
	status int
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

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	start := s.clock()
	id := "req-" + ids.New()
	rec := &recorder{ResponseWriter: w}
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
	if err := s.dispatch(q); err != nil {
		s.writeError(q, err)
	}
}

// dispatch checks the request envelope, routes it, authenticates and runs
// the handler.
func (s *Server) dispatch(q *request) error {
	r := q.r
	if !acceptsJSON(r.Header.Values("Accept")) {
		writeJSON(q.w, http.StatusNotAcceptable, map[string]any{"errors": []map[string]any{{
			"status": http.StatusNotAcceptable, "title": "Not Acceptable",
			"detail": "Only content type application/json is accepted.", "request_id": q.id,
		}}})
		return nil
	}
	if r.ContentLength > s.maxBody {
		return &apiError{status: http.StatusRequestEntityTooLarge, msg: "Request is too large."}
	}
	path := r.URL.Path
	if path == "/" || path == "" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return methodNotAllowed(q, "GET")
		}
		writeJSON(q.w, http.StatusOK, s.versions(r))
		return nil
	}
	h, allowed, params := s.route(path, r.Method)
	if allowed == "" {
		return &apiError{status: http.StatusNotFound, msg: "The resource could not be found."}
	}
	if h == nil {
		return methodNotAllowed(q, allowed)
	}
	q.params = params
	caller, err := s.auth.Authenticate(r)
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			writeJSON(q.w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
				"code": http.StatusUnauthorized, "title": "Unauthorized",
				"message": "The request you have made requires authentication.",
			}})
			return nil
		}
		return fmt.Errorf("authenticate: %w", err)
	}
	q.caller = caller
	q.ctx = policy.WithCaller(q.ctx, caller)
	return h(q)
}

func methodNotAllowed(q *request, allowed string) error {
	q.w.Header().Set("Allow", allowed)
	return &apiError{status: http.StatusMethodNotAllowed, msg: "The method " + q.r.Method + " is not allowed for this resource."}
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

func (s *Server) now() time.Time { return s.clock().UTC() }

func (s *Server) notify(lbID string) {
	if s.notifier != nil {
		s.notifier.Enqueue(lbID)
	}
}

// authorize runs the policy hook for object:action on a target owned by
// owner.
func (q *request) authorize(o policy.Object, a policy.Action, owner string) error {
	return q.s.authz.Authorize(q.caller, policy.RuleFor(o, a), owner)
}

// reserve checks the project's quota for the objects about to be created
// in tx.
func (q *request) reserve(tx store.Tx, project string, want map[lb.QuotaResource]int) error {
	if q.s.quotas == nil {
		return nil
	}
	return q.s.quotas.Reserve(q.ctx, tx, project, want)
}
