package identity_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/identity"
	"github.com/fulcrumlb/fulcrum/internal/policy"
)

func TestMiddleware(t *testing.T) {
	e := newEnv(t, fastHash)
	token := e.login("admin", e.password, "admin")
	var seen *policy.Caller
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := policy.CallerFrom(r.Context()); ok {
			seen = &c
		}
	})
	keystone := identity.Middleware(next, identity.MiddlewareOptions{Validator: e.svc})
	noauth := identity.Middleware(next, identity.MiddlewareOptions{})
	tests := []struct {
		name     string
		h        http.Handler
		path     string
		hdr      map[string]string
		code     int
		project  string
		admin    bool
		noCaller bool
	}{
		{"version document is public", keystone, "/", nil, 200, "", false, true},
		{"no token", keystone, "/v2/lbaas/loadbalancers", nil, 401, "", false, true},
		{"bad token", keystone, "/v2/lbaas/loadbalancers", map[string]string{"X-Auth-Token": "x"}, 401, "", false, true},
		{"good token", keystone, "/v2/lbaas/loadbalancers", map[string]string{"X-Auth-Token": token}, 200, e.boot.AdminProjectID, false, false},
		{"noauth headers", noauth, "/v2/lbaas/loadbalancers", map[string]string{"X-Tenant-Id": "demo", "X-Roles": "member, reader"}, 200, "demo", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen = nil
			req := httptest.NewRequest("GET", tc.path, nil)
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d", rec.Code, tc.code)
			}
			if tc.code == 401 {
				var body map[string]map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"]["code"] != 401.0 || body["error"]["title"] != "Unauthorized" {
					t.Errorf("401 body %s", rec.Body.String())
				}
				return
			}
			if tc.noCaller {
				if seen != nil {
					t.Errorf("caller on a public path without token: %+v", seen)
				}
				return
			}
			if seen == nil || seen.ProjectID != tc.project || seen.IsAdmin != tc.admin || seen.NoAuth != tc.admin {
				t.Errorf("caller %+v", seen)
			}
		})
	}
}
