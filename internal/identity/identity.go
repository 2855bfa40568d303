// Package identity serves fulcrum's Keystone v3 subset at /identity: version
// discovery, password and token authentication with project or domain scope,
// token validation, the service catalog, and the project, user, role and
// role-assignment calls that the openstack CLI and gophercloud make.
//
// Tokens are self-validating: AES-256-GCM sealed with keys kept in a
// directory (see KeyRing), so any replica sharing the keys reads them
// without a lookup; revocation events in the store (disabled or deleted
// users, disabled or deleted projects, removed roles) are checked with two
// indexed reads. Passwords are stored as argon2id hashes, and a failed
// login costs one hash whether or not the user exists.
//
// Validator turns an X-Auth-Token into a Principal for the other services'
// middleware.
package identity

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/identity/keystone"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// CatalogService is one service in the catalog; its endpoints (public,
// internal, admin) share one URL: the external URL plus Path.
type CatalogService struct {
	Type string // "load-balancer"
	Name string // "octavia"
	Path string // "" or "/networking"; unversioned
}

// DefaultCatalog lists the services one fulcrum server offers.
var DefaultCatalog = []CatalogService{
	{Type: "identity", Name: "keystone", Path: "/identity"},
	{Type: "load-balancer", Name: "octavia", Path: ""},
	{Type: "network", Name: "neutron", Path: "/networking"},
	{Type: "key-manager", Name: "barbican", Path: "/key-manager"},
}

// Options configure New.
type Options struct {
	Store  store.Store
	Keys   *KeyRing
	Logger *slog.Logger
	Now    func() time.Time
	// TokenTTL is how long a token lives (default 24 h).
	TokenTTL time.Duration
	// ExternalURL is the scheme://host[:port] clients reach this server at;
	// "" derives it from each request's Host.
	ExternalURL string
	// Region names the catalog's region (default RegionOne).
	Region string
	// Catalog defaults to DefaultCatalog.
	Catalog []CatalogService
	// Hash is the cost of new password hashes (default DefaultHashParams).
	Hash HashParams
}

// Service is the Keystone subset. It is an http.Handler for /identity and
// everything under it. Safe for concurrent use.
type Service struct {
	opts   Options
	log    *slog.Logger
	router *httpapi.Router
	dummy  string // hash verified when the user does not exist
}

// New returns the service.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Keys == nil {
		return nil, fmt.Errorf("new identity service: store and keys are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 24 * time.Hour
	}
	if opts.Region == "" {
		opts.Region = "RegionOne"
	}
	if opts.Catalog == nil {
		opts.Catalog = DefaultCatalog
	}
	if opts.Hash == (HashParams{}) {
		opts.Hash = DefaultHashParams
	}
	opts.ExternalURL = strings.TrimSuffix(opts.ExternalURL, "/")
	dummy, err := HashPassword(randomString(24), opts.Hash)
	if err != nil {
		return nil, err
	}
	s := &Service{opts: opts, log: opts.Logger.With("component", "identity"), dummy: dummy}
	s.routes()
	return s, nil
}

// ServeHTTP serves /identity/... A query string that cannot be parsed
// whole (a bad escape, more than 10,000 parameters) is a 400 before any
// handler runs, so the handlers' r.URL.Query() never silently drops a
// filter.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Vary", "X-Auth-Token")
	if _, err := httpapi.Query(r); err != nil {
		s.writeError(w, r, errBadRequest("Invalid query string: "+err.Error()+"."))
		return
	}
	s.router.ServeHTTP(w, r)
}

// handler is an endpoint that returns its error instead of writing it.
type handler func(w http.ResponseWriter, r *http.Request) error

func (s *Service) handle(pattern string, h handler) {
	s.router.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Service) routes() {
	s.router = &httpapi.Router{
		NotFound: func(w http.ResponseWriter, r *http.Request) {
			s.writeError(w, r, &apiError{http.StatusNotFound, "The resource could not be found."})
		},
		MethodNotAllowed: func(w http.ResponseWriter, r *http.Request, _ string) {
			s.writeError(w, r, &apiError{http.StatusMethodNotAllowed, "The method is not allowed for the requested URL."})
		},
	}
	const v3 = "/identity/v3"
	s.handle("GET /identity", s.versions)
	s.handle("GET /identity/{$}", s.versions)
	s.handle("GET "+v3, s.version)
	s.handle("GET "+v3+"/{$}", s.version)

	s.handle("POST "+v3+"/auth/tokens", s.issueToken)
	s.handle("GET "+v3+"/auth/tokens", s.validateToken)
	s.handle("HEAD "+v3+"/auth/tokens", s.checkToken)
	s.handle("DELETE "+v3+"/auth/tokens", s.revokeToken)
	s.handle("GET "+v3+"/auth/catalog", s.authCatalog)
	s.handle("GET "+v3+"/auth/projects", s.authProjects)
	s.handle("GET "+v3+"/auth/domains", s.authDomains)
	s.handle("GET "+v3+"/auth/system", s.authSystem)

	s.handle("GET "+v3+"/domains", s.listDomains)
	s.handle("POST "+v3+"/domains", s.createDomain)
	s.handle("GET "+v3+"/domains/{id}", s.getDomain)

	s.handle("GET "+v3+"/projects", s.listProjects)
	s.handle("POST "+v3+"/projects", s.createProject)
	s.handle("GET "+v3+"/projects/{id}", s.getProject)
	s.handle("PATCH "+v3+"/projects/{id}", s.updateProject)
	s.handle("DELETE "+v3+"/projects/{id}", s.deleteProject)

	s.handle("GET "+v3+"/users", s.listUsers)
	s.handle("POST "+v3+"/users", s.createUser)
	s.handle("GET "+v3+"/users/{id}", s.getUser)
	s.handle("PATCH "+v3+"/users/{id}", s.updateUser)
	s.handle("DELETE "+v3+"/users/{id}", s.deleteUser)
	s.handle("GET "+v3+"/users/{id}/projects", s.userProjects)
	s.handle("GET "+v3+"/users/{id}/groups", s.userGroups)
	s.handle("POST "+v3+"/users/{id}/password", s.changePassword)

	s.handle("GET "+v3+"/roles", s.listRoles)
	s.handle("POST "+v3+"/roles", s.createRole)
	s.handle("GET "+v3+"/roles/{id}", s.getRole)
	s.handle("PATCH "+v3+"/roles/{id}", s.updateRole)
	s.handle("DELETE "+v3+"/roles/{id}", s.deleteRole)

	for _, scope := range []string{"projects", "domains"} {
		base := v3 + "/" + scope + "/{target}/users/{user}/roles"
		s.handle("GET "+base, s.listGrants(scope))
		s.handle("PUT "+base+"/{role}", s.putGrant(scope))
		s.handle("HEAD "+base+"/{role}", s.checkGrant(scope))
		s.handle("GET "+base+"/{role}", s.checkGrant(scope))
		s.handle("DELETE "+base+"/{role}", s.deleteGrant(scope))
	}
	s.handle("GET "+v3+"/role_assignments", s.listAssignments)

	s.handle("GET "+v3+"/services", s.listServices)
	s.handle("GET "+v3+"/endpoints", s.listEndpoints)
	s.handle("GET "+v3+"/regions", s.listRegions)
}

// baseURL is scheme://host[:port] of this server as clients see it (see
// httpapi.BaseURL: forwarding headers are not trusted).
func (s *Service) baseURL(r *http.Request) string { return httpapi.BaseURL(r, s.opts.ExternalURL) }

func (s *Service) v3URL(r *http.Request) string { return s.baseURL(r) + "/identity/v3" }

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

// caller authenticates the request's X-Auth-Token.
func (s *Service) caller(r *http.Request) (*Principal, error) {
	tok := r.Header.Get("X-Auth-Token")
	if tok == "" {
		return nil, errUnauthorized()
	}
	p, err := s.Validate(r.Context(), tok)
	if err != nil {
		return nil, s.authErr(err)
	}
	return p, nil
}

// authErr maps a validation failure to a 401 and anything else to a 500.
func (s *Service) authErr(err error) error {
	if isAuthFailure(err) {
		return errUnauthorized()
	}
	return err
}

// requireAdmin authenticates the caller and checks the admin role; action
// names the Keystone policy in the 403.
func (s *Service) requireAdmin(r *http.Request, action string) (*Principal, error) {
	p, err := s.caller(r)
	if err != nil {
		return nil, err
	}
	if !p.HasRole(keystone.RoleAdmin) {
		return nil, errForbidden(action)
	}
	return p, nil
}

// decode reads a JSON body of at most 64 KiB into v.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return errBadRequest("Could not read the request body.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errBadRequest("Expecting to find valid JSON in request body. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
	}
	return nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b[:])
}

func randomString(n int) string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// view and update run fn in a store transaction.
func (s *Service) view(ctx context.Context, fn func(store.Tx) error) error {
	return s.opts.Store.View(ctx, fn)
}

func (s *Service) update(ctx context.Context, fn func(store.Tx) error) error {
	return s.opts.Store.Update(ctx, fn)
}
