package quota_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/quota"
)

// fakeNetworkQuotas is a network service's quota API (one key, network),
// as Neutron answers it, for the merge; with off set it has none (404 to
// everything, as a network service without quotas).
type fakeNetworkQuotas struct {
	mu     sync.Mutex
	off    bool
	limits map[string]int // project → network limit
}

func (f *fakeNetworkQuotas) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if f.off {
		w.WriteHeader(404)
		io.WriteString(w, `{"NeutronError": {"type": "HTTPNotFound", "message": "The resource could not be found.", "detail": ""}}`)
		return
	}
	project := strings.TrimPrefix(r.URL.Path, "/v2.0/quotas/")
	limit := func(p string) int {
		if n, ok := f.limits[p]; ok {
			return n
		}
		return 100
	}
	switch {
	case r.Method == "GET" && r.URL.Path == "/v2.0/quotas":
		var qs []map[string]any
		for p, n := range f.limits {
			qs = append(qs, map[string]any{"network": n, "project_id": p, "tenant_id": p})
		}
		json.NewEncoder(w).Encode(map[string]any{"quotas": qs})
	case r.Method == "GET" && project == "tenant":
		json.NewEncoder(w).Encode(map[string]any{"tenant": map[string]string{"tenant_id": "from-network"}})
	case r.Method == "GET" && strings.HasSuffix(project, "/default"):
		json.NewEncoder(w).Encode(map[string]any{"quota": map[string]any{"network": 100}})
	case r.Method == "GET" && strings.HasSuffix(project, "/details"):
		json.NewEncoder(w).Encode(map[string]any{"quota": map[string]any{"network": map[string]int{"limit": limit(strings.TrimSuffix(project, "/details")), "used": 1, "reserved": 0}}})
	case r.Method == "GET":
		json.NewEncoder(w).Encode(map[string]any{"quota": map[string]any{"network": limit(project)}})
	case r.Method == "PUT":
		var body struct {
			Quota map[string]json.RawMessage `json:"quota"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		for k, v := range body.Quota {
			if k != "network" {
				w.WriteHeader(400)
				io.WriteString(w, `{"NeutronError": {"type": "HTTPBadRequest", "message": "Unrecognized attribute(s) '`+k+`'", "detail": ""}}`)
				return
			}
			var n int
			json.Unmarshal(v, &n)
			f.limits[project] = n
		}
		json.NewEncoder(w).Encode(map[string]any{"quota": map[string]any{"network": limit(project)}})
	case r.Method == "DELETE":
		delete(f.limits, project)
		w.WriteHeader(204)
	}
}

// TestNeutronQuotaAPI: `neutron quota-update --loadbalancer 25 --pool 50`
// and `neutron quota-show` at the network endpoint set and show the
// load-balancer limits the Octavia quota API shows, merged with the
// network service's own keys when it has a quota API, alone when it has
// none; unknown keys, bad values and callers without the right are
// refused in Neutron's body.
func TestNeutronQuotaAPI(t *testing.T) {
	st := openStore(t)
	enf, err := policy.New(policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := quota.New(lb.UnlimitedQuotas())
	network := &fakeNetworkQuotas{limits: map[string]int{}}
	neutron := quota.NewNeutronAPI(st, e, enf, network)
	octavia := quota.NewAPI(st, e, enf)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := policy.Caller{ProjectID: r.Header.Get("X-Project-Id"), Roles: strings.Split(r.Header.Get("X-Roles"), ",")}
		r = r.WithContext(policy.WithCaller(r.Context(), c))
		if strings.HasPrefix(r.URL.Path, "/networking/") {
			r.URL.Path = strings.TrimPrefix(r.URL.Path, "/networking")
			neutron.ServeHTTP(w, r)
			return
		}
		octavia.ServeHTTP(w, r)
	}))
	defer srv.Close()
	call := func(method, path, body, project, roles string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewBufferString(body))
		req.Header.Set("X-Project-Id", project)
		req.Header.Set("X-Roles", roles)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	const admin = "admin"
	code, out := call("PUT", "/networking/v2.0/quotas/p1", `{"quota": {"loadbalancer": 25, "pool": "50", "network": 7}}`, "adm", admin)
	q, _ := out["quota"].(map[string]any)
	if code != 200 || q["loadbalancer"] != 25.0 || q["pool"] != 50.0 || q["network"] != 7.0 || q["listener"] != -1.0 {
		t.Fatalf("quota-update: %d %v", code, out)
	}
	if _, o := call("GET", "/v2.0/quotas/p1", "", "adm", admin); o["quota"].(map[string]any)["load_balancer"] != 25.0 {
		t.Errorf("the Octavia quota API does not show the limit set through Neutron's: %v", o)
	}
	code, out = call("GET", "/networking/v2.0/quotas/p1", "", "p1", "reader")
	if q, _ := out["quota"].(map[string]any); code != 200 || q["loadbalancer"] != 25.0 || q["network"] != 7.0 || q["healthmonitor"] != -1.0 {
		t.Errorf("quota-show by the project's reader: %d %v", code, out)
	}
	if code, out = call("GET", "/networking/v2.0/quotas/tenant", "", "p1", "reader"); code != 200 || out["tenant"].(map[string]any)["tenant_id"] != "from-network" {
		t.Errorf("quotas/tenant: %d %v", code, out)
	}
	code, out = call("GET", "/networking/v2.0/quotas/p1/details.json", "", "p1", "reader")
	if d, _ := out["quota"].(map[string]any); code != 200 || d["loadbalancer"].(map[string]any)["limit"] != 25.0 || d["network"] == nil {
		t.Errorf("quota details: %d %v", code, out)
	}
	if code, out = call("GET", "/networking/v2.0/quotas", "", "adm", admin); code != 200 || len(out["quotas"].([]any)) != 1 {
		t.Errorf("quota-list: %d %v", code, out)
	}
	for _, tt := range []struct {
		body, project, roles string
		code                 int
		typ, msg             string
	}{
		{`{"quota": {"loadbalancer": "many"}}`, "adm", admin, 400, "HTTPBadRequest", "Invalid input for loadbalancer. Reason: 'many' is not an integer."},
		{`{"quota": {"loadbalancer": -2}}`, "adm", admin, 400, "HTTPBadRequest", "Invalid input for loadbalancer. Reason: '-2' is too small - must be at least '-1'."},
		{`{"quota": {"vip": 3}}`, "adm", admin, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'vip'"},
		{`{"quota": {"loadbalancer": 1}}`, "p1", "member", 403, "PolicyNotAuthorized", "Policy does not allow this request to be performed."},
	} {
		code, out := call("PUT", "/networking/v2.0/quotas/p1", tt.body, tt.project, tt.roles)
		e, _ := out["NeutronError"].(map[string]any)
		if code != tt.code || e == nil || e["type"] != tt.typ || e["message"] != tt.msg {
			t.Errorf("PUT %s as %s: %d %v, want %d %s %q", tt.body, tt.roles, code, out, tt.code, tt.typ, tt.msg)
		}
	}
	if _, o := call("GET", "/networking/v2.0/quotas/p1", "", "adm", admin); o["quota"].(map[string]any)["loadbalancer"] != 25.0 {
		t.Errorf("a refused update changed the limits: %v", o)
	}
	if code, _ := call("DELETE", "/networking/v2.0/quotas/p1", "", "adm", admin); code != 204 {
		t.Errorf("quota-delete: %d", code)
	}
	if _, o := call("GET", "/networking/v2.0/quotas/p1", "", "adm", admin); o["quota"].(map[string]any)["loadbalancer"] != -1.0 || o["quota"].(map[string]any)["network"] != 100.0 {
		t.Errorf("after quota-delete: %v", o)
	}

	// A network service without a quota API: the load-balancer keys alone.
	network.off = true
	code, out = call("PUT", "/networking/v2.0/quotas/p2", `{"quota": {"loadbalancer": 25, "pool": 50}}`, "adm", admin)
	if q, _ := out["quota"].(map[string]any); code != 200 || q["loadbalancer"] != 25.0 || q["network"] != nil {
		t.Errorf("quota-update without network quotas: %d %v", code, out)
	}
	if code, out = call("PUT", "/networking/v2.0/quotas/p2", `{"quota": {"network": 5}}`, "adm", admin); code != 400 {
		t.Errorf("a network key without network quotas: %d %v", code, out)
	}
	if code, out = call("GET", "/networking/v2.0/quotas/tenant", "", "p2", "reader"); code != 200 || out["tenant"].(map[string]any)["tenant_id"] != "p2" {
		t.Errorf("quotas/tenant without network quotas: %d %v", code, out)
	}
	if code, out = call("GET", "/networking/v2.0/quotas/p2", "", "p2", "reader"); code != 200 || out["quota"].(map[string]any)["pool"] != 50.0 {
		t.Errorf("quota-show without network quotas: %d %v", code, out)
	}
}
