// Package secrets is fulcrum's Barbican v1 subset, the key manager that
// TERMINATED_HTTPS listeners and re-encrypting pools take their
// certificates from. It serves /key-manager (version discovery) and
// /key-manager/v1: secrets (one-step POST with payload, or POST metadata
// then PUT payload; list, metadata, payload, delete), containers
// (certificate, rsa and generic; secrets added to and removed from
// generic ones) and read ACLs on both, with Barbican's wire shapes and
// error bodies, so python-barbicanclient (`openstack secret ...`) works
// against it unchanged.
//
// Payloads are sealed with AES-256-GCM under a key of KeyRing (files in
// <data-dir>/keys/secrets, mode 0600) before they reach the store, and are
// never logged. The rest of the server reads certificates through
// Resolver, which applies the load-balancer service's access rule.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/secrets/barbican"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Options configure New.
type Options struct {
	Store  store.Store
	Keys   *KeyRing
	Logger *slog.Logger
	Now    func() time.Time
	// ExternalURL is scheme://host[:port] as clients see it; "" derives it
	// from each request's own scheme and Host (forwarding headers are not
	// trusted; see httpapi.BaseURL).
	// Secret and container hrefs are <ExternalURL>/key-manager/v1/....
	ExternalURL string
	// DefaultProject, if set, gives the project of callers that have none
	// (noauth without X-Project-Id).
	DefaultProject func() string
	// Changed, if set, is called after a committed change that can alter
	// the material behind a reference: a secret deleted or its payload
	// added, a container deleted or its secrets changed. ids are the
	// changed object's id and, for a secret, the ids of the containers
	// holding it: every reference ending in one of them reads differently
	// now.
	Changed func(ctx context.Context, ids []string)
	// MaxSecretBytes bounds a payload (default 20000, Barbican's
	// max_allowed_secret_in_bytes).
	MaxSecretBytes int
}

// Service is the Barbican subset: an http.Handler for /key-manager and
// everything under it. The caller comes from policy.CallerFrom, set by the
// authentication middleware. Safe for concurrent use.
type Service struct {
	opts   Options
	log    *slog.Logger
	router *httpapi.Router
}

// Paths lists the path prefixes the service answers, for mounting on a mux.
var Paths = []string{"/key-manager", "/key-manager/"}

// New returns the service.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Keys == nil {
		return nil, errors.New("new secrets service: store and keys are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxSecretBytes <= 0 {
		opts.MaxSecretBytes = 20000
	}
	opts.ExternalURL = strings.TrimSuffix(opts.ExternalURL, "/")
	s := &Service{opts: opts, log: opts.Logger.With("component", "secrets")}
	s.routes()
	return s, nil
}

// Error is a Barbican fault: {"code", "title", "description"}.
type Error struct {
	Code        int
	Description string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Description) }

func errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...)}
}

// forbidden is Barbican's policy failure for an operation such as "Secret
// retrieval".
func forbidden(operation string) *Error {
	return errorf(http.StatusForbidden, "%s attempt not allowed - please review your user/project privileges", operation)
}

// issue is Barbican's wrapping of a client error raised inside an
// operation.
func issue(code int, operation, reason string) *Error {
	return errorf(code, "%s issue seen - %s.", operation, reason)
}

// invalidObject is the validator's failure on a request body.
func invalidObject(schema, reason, property string) *Error {
	return errorf(http.StatusBadRequest, "Provided object does not match schema '%s': %s. Invalid property: '%s'", schema, reason, property)
}

// ServeHTTP serves the Barbican subset. A trailing slash is ignored, as
// Barbican does. A query string that cannot be parsed whole (a bad escape,
// more than 10,000 parameters) is a 400 before any handler runs, so the
// handlers' r.URL.Query() never silently drops a filter.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, err := httpapi.Query(r); err != nil {
		s.writeError(w, r, errorf(http.StatusBadRequest, "URI provided invalid query string parameters: %v.", err))
		return
	}
	if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
		r2 := *r
		u := *r.URL
		u.Path, u.RawPath = strings.TrimRight(p, "/"), ""
		r2.URL = &u
		r = &r2
	}
	s.router.ServeHTTP(w, r)
}

// routes registers every endpoint. Handlers below /v1 get the caller (see
// authed) and, under an id, the loaded secret or container.
func (s *Service) routes() {
	s.router = &httpapi.Router{
		NotFound: func(w http.ResponseWriter, r *http.Request) {
			s.writeError(w, r, errorf(http.StatusNotFound, "The resource could not be found."))
		},
		MethodNotAllowed: func(w http.ResponseWriter, r *http.Request, _ string) {
			s.writeError(w, r, errMethod)
		},
	}
	handle := func(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
		s.router.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				s.writeError(w, r, err)
			}
		})
	}
	const v1 = "/key-manager/v1"
	s.router.HandleFunc("GET /key-manager", s.versions)
	handle("GET "+v1, func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, http.StatusOK, versionReply{s.versionInfo(r)})
		return nil
	})

	handle("POST "+v1+"/secrets", s.authed(s.createSecret))
	handle("GET "+v1+"/secrets", s.authed(s.listSecrets))
	handle("GET "+v1+"/secrets/{id}", s.withSecret(s.getSecret))
	handle("PUT "+v1+"/secrets/{id}", s.withSecret(s.putPayload))
	handle("DELETE "+v1+"/secrets/{id}", s.withSecret(s.deleteSecret))
	handle("GET "+v1+"/secrets/{id}/payload", s.withSecret(func(w http.ResponseWriter, r *http.Request, c policy.Caller, sec *barbican.Secret) error {
		return s.getPayload(w, r, c, sec, "Secret payload retrieval")
	}))
	secretACL := func(h aclHandler) func(w http.ResponseWriter, r *http.Request) error {
		return s.withSecret(func(w http.ResponseWriter, r *http.Request, c policy.Caller, sec *barbican.Secret) error {
			return h(w, r, c, aclTarget{secret: sec})
		})
	}
	handle("GET "+v1+"/secrets/{id}/acl", secretACL(s.getACL))
	handle("PUT "+v1+"/secrets/{id}/acl", secretACL(s.replaceACL))
	handle("PATCH "+v1+"/secrets/{id}/acl", secretACL(s.patchACL))
	handle("DELETE "+v1+"/secrets/{id}/acl", secretACL(s.deleteACL))

	handle("POST "+v1+"/containers", s.authed(s.createContainer))
	handle("GET "+v1+"/containers", s.authed(s.listContainers))
	handle("GET "+v1+"/containers/{id}", s.withContainer(s.getContainer))
	handle("DELETE "+v1+"/containers/{id}", s.withContainer(s.deleteContainer))
	handle("POST "+v1+"/containers/{id}/secrets", s.withContainer(s.addContainerSecret))
	handle("DELETE "+v1+"/containers/{id}/secrets", s.withContainer(s.removeContainerSecret))
	containerACL := func(h aclHandler) func(w http.ResponseWriter, r *http.Request) error {
		return s.withContainer(func(w http.ResponseWriter, r *http.Request, c policy.Caller, ct *barbican.Container) error {
			return h(w, r, c, aclTarget{container: ct})
		})
	}
	handle("GET "+v1+"/containers/{id}/acl", containerACL(s.getACL))
	handle("PUT "+v1+"/containers/{id}/acl", containerACL(s.replaceACL))
	handle("PATCH "+v1+"/containers/{id}/acl", containerACL(s.patchACL))
	handle("DELETE "+v1+"/containers/{id}/acl", containerACL(s.deleteACL))
}

var errMethod = &Error{Code: http.StatusMethodNotAllowed, Description: "The method is not allowed for this resource."}

// authed runs h with the request's caller: 401 in Keystone's shape when
// the authentication middleware set none, the default project for a caller
// without one.
func (s *Service) authed(h func(w http.ResponseWriter, r *http.Request, c policy.Caller) error) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, ok := policy.CallerFrom(r.Context())
		if !ok {
			httpapi.WriteJSONAs(w, http.StatusUnauthorized, contentType, unauthorizedBody{unauthorized{Code: http.StatusUnauthorized,
				Title: "Unauthorized", Message: "The request you have made requires authentication."}})
			return nil
		}
		if c.ProjectID == "" && s.opts.DefaultProject != nil {
			c.ProjectID = s.opts.DefaultProject()
		}
		return h(w, r, c)
	}
}

// withSecret runs h with the secret named by the path's {id}.
func (s *Service) withSecret(h func(w http.ResponseWriter, r *http.Request, c policy.Caller, sec *barbican.Secret) error) func(w http.ResponseWriter, r *http.Request) error {
	return s.authed(func(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
		id := r.PathValue("id")
		if !isUUID(id) {
			return errorf(http.StatusNotFound, "Not Found. Provided secret id is invalid.")
		}
		sec, err := s.loadSecret(r.Context(), id)
		if err != nil {
			return err
		}
		return h(w, r, c, sec)
	})
}

// withContainer runs h with the container named by the path's {id}.
func (s *Service) withContainer(h func(w http.ResponseWriter, r *http.Request, c policy.Caller, ct *barbican.Container) error) func(w http.ResponseWriter, r *http.Request) error {
	return s.authed(func(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
		id := r.PathValue("id")
		if !isUUID(id) {
			return errorf(http.StatusNotFound, "Not Found. Provided container id is invalid.")
		}
		ct, err := s.loadContainer(r.Context(), id)
		if err != nil {
			return err
		}
		return h(w, r, c, ct)
	})
}

// baseURL is <scheme>://<host>/key-manager as the client sees it: the
// operator's external URL, else the request's own scheme and Host.
// Forwarding headers (X-Forwarded-Proto, ...) are not trusted: a client
// could point every href at a scheme of its choosing. Behind a proxy that
// terminates TLS, --external-url says what clients see.
func (s *Service) baseURL(r *http.Request) string {
	return httpapi.BaseURL(r, s.opts.ExternalURL) + "/key-manager"
}

func (s *Service) secretHref(r *http.Request, id string) string {
	return s.baseURL(r) + "/v1/secrets/" + id
}

func (s *Service) containerHref(r *http.Request, id string) string {
	return s.baseURL(r) + "/v1/containers/" + id
}

func (s *Service) versionInfo(r *http.Request) versionDoc {
	return versionDoc{ID: "v1", Status: "stable", Updated: "2015-04-28T00:00:00Z",
		Links: []versionLink{
			{Rel: "self", Href: s.baseURL(r) + "/v1/"},
			{Rel: "describedby", Type: "text/html", Href: "https://docs.openstack.org/"},
		},
		MediaTypes: []versionMediaType{{Base: "application/json", Type: "application/vnd.openstack.key-manager-v1+json"}}}
}

// versions answers the root with 300 Multiple Choices and Barbican's
// pre-microversion document, which keystoneauth's discovery reads.
func (s *Service) versions(w http.ResponseWriter, r *http.Request) {
	var body versionsReply
	body.Versions.Values = []versionDoc{s.versionInfo(r)}
	writeJSON(w, http.StatusMultipleChoices, body)
}

func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, store.ErrCannotWrite):
		s.log.Error("key manager request failed: store cannot write", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{Code: http.StatusServiceUnavailable, Description: "The service cannot store changes at the moment (the store cannot write); nothing was changed. Please try again later."}
	default:
		s.log.Error("key manager request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{Code: http.StatusInternalServerError, Description: "Operation failure seen - please contact site administrator."}
	}
	writeJSON(w, e.Code, errorBody{Code: e.Code, Title: http.StatusText(e.Code), Description: e.Description})
}

// contentType is what Barbican answers JSON with.
const contentType = "application/json; charset=UTF-8"

func writeJSON(w http.ResponseWriter, code int, v any) {
	httpapi.WriteJSONAs(w, code, contentType, v)
}

func isUUID(s string) bool {
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// pyTime renders t as Python's datetime.isoformat of a naive UTC time.
func pyTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format("2006-01-02T15:04:05.000000")
}

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

func (s *Service) changed(ctx context.Context, ids []string) {
	if s.opts.Changed != nil {
		s.opts.Changed(ctx, ids)
	}
}

// holders returns id and the ids of the containers holding secret id.
func holders(ctx context.Context, tx store.Tx, id string) ([]string, error) {
	refs, err := tx.ContainerSecrets().List(ctx, store.Query{Filters: []store.Filter{store.F("secret_id", id)}})
	if err != nil {
		return nil, err
	}
	out := []string{id}
	for _, cs := range refs {
		out = append(out, cs.ContainerID)
	}
	return out, nil
}
