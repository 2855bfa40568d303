package identity

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/policy"
)

// TokenValidator turns an X-Auth-Token into a Principal (Service does).
type TokenValidator interface {
	Validate(ctx context.Context, token string) (*Principal, error)
}

// MiddlewareOptions configure Middleware.
type MiddlewareOptions struct {
	// Validator checks tokens; nil means noauth: every caller is an admin
	// whose project, user and roles come from the X-Project-Id (X-Tenant-Id,
	// X-Tenant), X-User-Id and X-Roles headers, as in Octavia's noauth mode.
	Validator TokenValidator
	// ExternalURL is scheme://host[:port] for the WWW-Authenticate header;
	// "" derives it from the request.
	ExternalURL string
	Logger      *slog.Logger
}

// Public reports whether path is served without a token: the version
// documents, the health check and the identity service itself (which
// authenticates on its own).
func Public(path string) bool {
	switch path {
	case "/", "/healthcheck", "/networking", "/networking/", "/load-balancer", "/load-balancer/",
		"/key-manager", "/key-manager/":
		return true
	}
	return path == "/identity" || strings.HasPrefix(path, "/identity/")
}

// Middleware puts the request's policy.Caller in its context: from a
// validated X-Auth-Token (401 with Keystone's body when missing or
// invalid), or from headers under noauth. Public paths pass through; they
// still get a caller when a valid token is present.
func Middleware(next http.Handler, opts MiddlewareOptions) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opts.Validator == nil {
			c := policy.Caller{IsAdmin: true, NoAuth: true, UserID: r.Header.Get("X-User-Id")}
			for _, h := range []string{"X-Project-Id", "X-Tenant-Id", "X-Tenant"} {
				if v := r.Header.Get(h); v != "" {
					c.ProjectID = v
					break
				}
			}
			for _, role := range strings.Split(r.Header.Get("X-Roles"), ",") {
				if role = strings.TrimSpace(role); role != "" {
					c.Roles = append(c.Roles, role)
				}
			}
			next.ServeHTTP(w, r.WithContext(policy.WithCaller(r.Context(), c)))
			return
		}
		if Public(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		token := r.Header.Get("X-Auth-Token")
		if token == "" {
			writeUnauthorized(w, r, opts.ExternalURL)
			return
		}
		p, err := opts.Validator.Validate(r.Context(), token)
		if err != nil {
			if isAuthFailure(err) {
				writeUnauthorized(w, r, opts.ExternalURL)
				return
			}
			log.Error("token validation failed", "path", r.URL.Path, "err", err)
			writeErrorBody(w, http.StatusServiceUnavailable, "The token could not be validated; try again.")
			return
		}
		// IsAdmin stays false: the policy engine derives Octavia's is_admin
		// from context_is_admin (the admin role) itself.
		c := policy.Caller{UserID: p.UserID, ProjectID: p.ProjectID, Roles: p.Roles}
		next.ServeHTTP(w, r.WithContext(policy.WithCaller(r.Context(), c)))
	})
}

func writeUnauthorized(w http.ResponseWriter, r *http.Request, external string) {
	WriteUnauthorized(w, httpapi.BaseURL(r, external)+"/identity")
}
