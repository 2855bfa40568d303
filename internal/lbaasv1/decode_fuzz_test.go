package lbaasv1

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecode: any request body is either decoded or refused with a
// Neutron 400; the decoder never panics.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"pool": {"name": "p", "protocol": "HTTP", "lb_method": "ROUND_ROBIN", "subnet_id": "6a0a707c-45ef-4758-b533-e55adddba8ce"}}`,
		`{"vip": {"session_persistence": {"type": "APP_COOKIE", "cookie_name": "x"}, "protocol_port": "80"}}`,
		`{"health_monitor": {"delay": "3", "max_retries": 1e3, "admin_state_up": "on"}}`,
		`{"member": {"address": "::1", "weight": -1, "health_monitors": [1]}}`,
		`{"pool": null}`, `[]`, `{"vip": {"session_persistence": []}}`, `{"pool": {"health_monitors": "x"}}`,
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	sets := map[string][]attr{"pool": poolAttrs, "vip": vipAttrs, "member": memberAttrs, "health_monitor": monitorAttrs}
	f.Fuzz(func(t *testing.T, body string, post bool) {
		method := http.MethodPut
		if post {
			method = http.MethodPost
		}
		for wrapper, attrs := range sets {
			r := httptest.NewRequest(method, "/", strings.NewReader(body))
			_, err := decode(r, wrapper, attrs)
			var e *Error
			if err != nil && (!errors.As(err, &e) || e.Code != http.StatusBadRequest) {
				t.Fatalf("decode %s %q: %v, want a Neutron 400", wrapper, body, err)
			}
		}
	})
}
