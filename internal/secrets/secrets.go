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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Options configure New.
type Options struct {
	Store  store.Store
	Keys   *KeyRing
	Logger *slog.Logger
	Now    func() time.Time
	// ExternalURL is scheme://host[:port] as clients see it; "" derives it
	// from each request (X-Forwarded-Proto and Host, as Barbican does).
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
	opts Options
	log  *slog.Logger
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
	return &Service{opts: opts, log: opts.Logger.With("component", "secrets")}, nil
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

// ServeHTTP serves the Barbican subset.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/key-manager")
	if !ok {
		s.writeError(w, r, errorf(http.StatusNotFound, "The resource could not be found."))
		return
	}
	rest = strings.Trim(rest, "/")
	var parts []string
	if rest != "" {
		parts = strings.Split(rest, "/")
	}
	if err := s.route(w, r, parts); err != nil {
		s.writeError(w, r, err)
	}
}

func (s *Service) route(w http.ResponseWriter, r *http.Request, parts []string) error {
	if len(parts) == 0 {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return errMethod
		}
		s.versions(w, r)
		return nil
	}
	if parts[0] != "v1" {
		return errorf(http.StatusNotFound, "The resource could not be found.")
	}
	parts = parts[1:]
	if len(parts) == 0 {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return errMethod
		}
		writeJSON(w, http.StatusOK, map[string]any{"version": s.versionInfo(r)})
		return nil
	}
	c, ok := policy.CallerFrom(r.Context())
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
			"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}})
		return nil
	}
	if c.ProjectID == "" && s.opts.DefaultProject != nil {
		c.ProjectID = s.opts.DefaultProject()
	}
	switch parts[0] {
	case "secrets":
		return s.routeSecrets(w, r, c, parts[1:])
	case "containers":
		return s.routeContainers(w, r, c, parts[1:])
	}
	return errorf(http.StatusNotFound, "The resource could not be found.")
}

var errMethod = &Error{Code: http.StatusMethodNotAllowed, Description: "The method is not allowed for this resource."}

func (s *Service) routeSecrets(w http.ResponseWriter, r *http.Request, c policy.Caller, parts []string) error {
	if len(parts) == 0 {
		switch r.Method {
		case http.MethodPost:
			return s.createSecret(w, r, c)
		case http.MethodGet:
			return s.listSecrets(w, r, c)
		}
		return errMethod
	}
	id := parts[0]
	if !isUUID(id) {
		return errorf(http.StatusNotFound, "Not Found. Provided secret id is invalid.")
	}
	sec, err := s.loadSecret(r.Context(), id)
	if err != nil {
		return err
	}
	switch {
	case len(parts) == 1:
		switch r.Method {
		case http.MethodGet:
			return s.getSecret(w, r, c, sec)
		case http.MethodPut:
			return s.putPayload(w, r, c, sec)
		case http.MethodDelete:
			return s.deleteSecret(w, r, c, sec)
		}
		return errMethod
	case len(parts) == 2 && parts[1] == "payload":
		if r.Method != http.MethodGet {
			return errMethod
		}
		return s.getPayload(w, r, c, sec, "Secret payload retrieval")
	case len(parts) == 2 && parts[1] == "acl":
		return s.serveACL(w, r, c, aclTarget{secret: sec})
	}
	return errorf(http.StatusNotFound, "The resource could not be found.")
}

func (s *Service) routeContainers(w http.ResponseWriter, r *http.Request, c policy.Caller, parts []string) error {
	if len(parts) == 0 {
		switch r.Method {
		case http.MethodPost:
			return s.createContainer(w, r, c)
		case http.MethodGet:
			return s.listContainers(w, r, c)
		}
		return errMethod
	}
	id := parts[0]
	if !isUUID(id) {
		return errorf(http.StatusNotFound, "Not Found. Provided container id is invalid.")
	}
	ct, err := s.loadContainer(r.Context(), id)
	if err != nil {
		return err
	}
	switch {
	case len(parts) == 1:
		switch r.Method {
		case http.MethodGet:
			return s.getContainer(w, r, c, ct)
		case http.MethodDelete:
			return s.deleteContainer(w, r, c, ct)
		}
		return errMethod
	case len(parts) == 2 && parts[1] == "secrets":
		switch r.Method {
		case http.MethodPost:
			return s.addContainerSecret(w, r, c, ct)
		case http.MethodDelete:
			return s.removeContainerSecret(w, r, c, ct)
		}
		return errMethod
	case len(parts) == 2 && parts[1] == "acl":
		return s.serveACL(w, r, c, aclTarget{container: ct})
	}
	return errorf(http.StatusNotFound, "The resource could not be found.")
}

// baseURL is <scheme>://<host>/key-manager as the client sees it.
func (s *Service) baseURL(r *http.Request) string {
	if s.opts.ExternalURL != "" {
		return s.opts.ExternalURL + "/key-manager"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		scheme = p
	}
	return scheme + "://" + r.Host + "/key-manager"
}

func (s *Service) secretHref(r *http.Request, id string) string {
	return s.baseURL(r) + "/v1/secrets/" + id
}

func (s *Service) containerHref(r *http.Request, id string) string {
	return s.baseURL(r) + "/v1/containers/" + id
}

func (s *Service) versionInfo(r *http.Request) map[string]any {
	return map[string]any{
		"id": "v1", "status": "stable", "updated": "2015-04-28T00:00:00Z",
		"links": []any{
			map[string]any{"rel": "self", "href": s.baseURL(r) + "/v1/"},
			map[string]any{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
		},
		"media-types": []any{map[string]any{"base": "application/json", "type": "application/vnd.openstack.key-manager-v1+json"}},
	}
}

// versions answers the root with 300 Multiple Choices and Barbican's
// pre-microversion document, which keystoneauth's discovery reads.
func (s *Service) versions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusMultipleChoices, map[string]any{"versions": map[string]any{"values": []any{s.versionInfo(r)}}})
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
	writeJSON(w, e.Code, map[string]any{"code": e.Code, "title": http.StatusText(e.Code), "description": e.Description})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
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
