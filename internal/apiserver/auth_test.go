package apiserver

import (
	"net/http/httptest"
	"slices"
	"testing"
)

func TestNoAuth(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		project string
		user    string
		roles   []string
	}{
		{"project id", map[string]string{"X-Project-Id": "p1", "X-User-Id": "u1", "X-Roles": "member, reader"}, "p1", "u1", []string{"member", "reader"}},
		{"tenant id alias", map[string]string{"X-Tenant-Id": "p2"}, "p2", "", nil},
		{"tenant alias", map[string]string{"X-Tenant": "p3"}, "p3", "", nil},
		{"project id wins", map[string]string{"X-Project-Id": "p1", "X-Tenant-Id": "p2"}, "p1", "", nil},
		{"nothing", nil, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v2", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			c, err := NoAuth{}.Authenticate(r)
			if err != nil || c.ProjectID != tt.project || c.UserID != tt.user || !slices.Equal(c.Roles, tt.roles) || !c.IsAdmin {
				t.Errorf("headers %v: got %+v, %v; want project %q user %q roles %v admin", tt.headers, c, err, tt.project, tt.user, tt.roles)
			}
		})
	}
}

func TestAcceptsJSON(t *testing.T) {
	tests := []struct {
		accept []string
		want   bool
	}{
		{nil, true}, {[]string{""}, true}, {[]string{"*/*"}, true}, {[]string{"application/json"}, true},
		{[]string{"application/json; charset=utf-8"}, true}, {[]string{"application/*"}, true},
		{[]string{"text/html, application/json;q=0.9"}, true}, {[]string{"text/html"}, false},
		{[]string{"application/xml"}, false}, {[]string{"application/json;q=0"}, false},
	}
	for _, tt := range tests {
		if got := acceptsJSON(tt.accept); got != tt.want {
			t.Errorf("acceptsJSON(%q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}
