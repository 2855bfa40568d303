package identity_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestQueryStringIsStrict: a query string that cannot be parsed whole is a
// 400 in Keystone's error format. Parsed leniently, 10,001 parameters drop
// every filter (the name filter below would list every user) and a bad
// escape silently drops its pair.
func TestQueryStringIsStrict(t *testing.T) {
	e := newEnv(t, fastHash)
	token := e.login("admin", e.password, "admin")
	if r := e.do("GET", "/identity/v3/users?name=nobody", token, nil); r.code != http.StatusOK || len(r.body["users"].([]any)) != 0 {
		t.Fatalf("filtered list: %d %s", r.code, r.raw)
	}
	for name, query := range map[string]string{
		"10,001 parameters": "name=nobody&" + strings.Repeat("x=1&", 10000),
		"bad escape":        "name=nobody&enabled=%zz",
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do("GET", "/identity/v3/users?"+query, token, nil)
			if len(r.raw) > 300 {
				r.raw = r.raw[:300] + "…"
			}
			wantKeystoneError(t, r, http.StatusBadRequest)
			if msg, _ := get(r.body, "error", "message").(string); !strings.Contains(msg, "query string") {
				t.Errorf("message %q does not name the query string", msg)
			}
		})
	}
}

// TestRoutingMissesInKeystoneFormat: an unknown path is Keystone's 404 and a
// known path asked with another method is Keystone's 405 with an Allow
// header.
func TestRoutingMissesInKeystoneFormat(t *testing.T) {
	e := newEnv(t, fastHash)
	token := e.login("admin", e.password, "admin")
	r := e.do("GET", "/identity/v3/nothing-here", token, nil)
	wantKeystoneError(t, r, http.StatusNotFound)
	r = e.do("PUT", "/identity/v3/users", token, nil)
	wantKeystoneError(t, r, http.StatusMethodNotAllowed)
	if got := r.hdr.Get("Allow"); got != "GET, POST" {
		t.Errorf("Allow = %q, want GET, POST", got)
	}
	if r.hdr.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type = %q", r.hdr.Get("Content-Type"))
	}
}
