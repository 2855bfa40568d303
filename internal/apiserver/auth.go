package apiserver

import (
	"errors"
	"net/http"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/policy"
)

// Authenticator establishes who is calling. It returns ErrUnauthenticated
// (answered with 401) when the request carries no valid credentials.
type Authenticator interface {
	Authenticate(r *http.Request) (policy.Caller, error)
}

// ErrUnauthenticated is returned by an Authenticator that refuses a request.
var ErrUnauthenticated = errors.New("authentication required")

// unauthorizedBody is the 401 keystonemiddleware answers.
type unauthorizedBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Title   string `json:"title"`
	} `json:"error"`
}

func unauthorized() unauthorizedBody {
	var b unauthorizedBody
	b.Error.Code, b.Error.Title = http.StatusUnauthorized, "Unauthorized"
	b.Error.Message = "The request you have made requires authentication."
	return b
}

// NoAuth is Octavia's noauth strategy: the caller's project comes from
// X-Project-Id (or X-Tenant-Id, X-Tenant), the user from X-User-Id, roles
// from X-Roles, and every caller is admin; quotas are not enforced.
type NoAuth struct{}

// Authenticate never fails.
func (NoAuth) Authenticate(r *http.Request) (policy.Caller, error) {
	c := policy.Caller{IsAdmin: true, NoAuth: true, UserID: r.Header.Get("X-User-Id")}
	for _, h := range []string{"X-Project-Id", "X-Tenant-Id", "X-Tenant"} {
		if v := strings.TrimSpace(r.Header.Get(h)); v != "" {
			c.ProjectID = v
			break
		}
	}
	for _, role := range strings.Split(r.Header.Get("X-Roles"), ",") {
		if role = strings.TrimSpace(role); role != "" {
			c.Roles = append(c.Roles, role)
		}
	}
	return c, nil
}
