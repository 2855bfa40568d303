package apiserver_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// sequentialIDs returns ids 00000000-0000-4000-8000-000000000001, …
func sequentialIDs() func() string {
	var mu sync.Mutex
	n := 0
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
	}
}

// steppingClock starts at a fixed instant and advances one second per call.
func steppingClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

// golden compares a response body with testdata/golden/<name>.json (the body
// indented, the test server's URL replaced by http://HOST).
func golden(t *testing.T, h *harness, name string, r *response) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, r.raw, "", "  "); err != nil {
		t.Fatalf("%s: %v in %s", name, err, r.raw)
	}
	got := strings.ReplaceAll(buf.String(), h.srv.URL, "http://HOST") + "\n"
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v (run go test -update)", name, err)
	}
	if got != string(want) {
		t.Errorf("%s: response differs from %s (run go test -update to accept)\n got: %s\nwant: %s", name, path, got, want)
	}
}

// TestGoldenResponses pins the exact response bodies of create, show, list
// and update of the five resources, the status tree, stats and the version
// document.
func TestGoldenResponses(t *testing.T) {
	h := newHarness(t, harnessOpts{tweak: func(o *apiserver.Options) {
		o.NewID = sequentialIDs()
		o.Clock = steppingClock()
	}})
	step := func(name string, want int, method, path string, body any) *response {
		t.Helper()
		r := h.must(want, method, path, body)
		golden(t, h, name, r)
		return r
	}
	step("versions", 200, "GET", "/", nil)
	lbID := step("loadbalancer_create", 201, "POST", "/v2.0/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "web", "description": "front", "vip_subnet_id": uuidA, "tags": []any{"prod"}}}).obj("loadbalancer")["id"].(string)
	step("loadbalancer_update", 200, "PUT", "/v2.0/lbaas/loadbalancers/"+lbID, map[string]any{"loadbalancer": map[string]any{"description": nil, "vip_qos_policy_id": uuidB}})

	lsID := step("listener_create", 201, "POST", "/v2.0/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": lbID, "protocol": "HTTP", "protocol_port": 80, "name": "http", "insert_headers": map[string]any{"X-Forwarded-For": "true"}}}).obj("listener")["id"].(string)
	tlsID := step("listener_create_terminated_https", 201, "POST", "/v2.0/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": lbID, "protocol": "TERMINATED_HTTPS", "protocol_port": 443, "default_tls_container_ref": "https://kms/v1/containers/c1",
		"sni_container_refs": []any{"https://kms/v1/containers/c2"}, "hsts_max_age": 3600, "allowed_cidrs": []any{"192.0.2.0/24"}}}).obj("listener")["id"].(string)
	step("listener_update", 200, "PUT", "/v2.0/lbaas/listeners/"+tlsID, map[string]any{"listener": map[string]any{"connection_limit": 1000, "tls_versions": []any{"TLSv1.3"}}})

	poolID := step("pool_create", 201, "POST", "/v2.0/lbaas/pools", map[string]any{"pool": map[string]any{
		"listener_id": lsID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "name": "web",
		"session_persistence": map[string]any{"type": "APP_COOKIE", "cookie_name": "SESS"}}}).obj("pool")["id"].(string)
	step("pool_update", 200, "PUT", "/v2.0/lbaas/pools/"+poolID, map[string]any{"pool": map[string]any{"lb_algorithm": "LEAST_CONNECTIONS", "tags": []any{"a", "b"}}})

	hmID := step("healthmonitor_create", 201, "POST", "/v2.0/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{
		"pool_id": poolID, "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3, "url_path": "/healthcheck"}}).obj("healthmonitor")["id"].(string)
	step("healthmonitor_update", 200, "PUT", "/v2.0/lbaas/healthmonitors/"+hmID, map[string]any{"healthmonitor": map[string]any{"http_version": 1.1, "domain_name": "example.com"}})

	m1 := step("member_create", 201, "POST", "/v2.0/lbaas/pools/"+poolID+"/members", map[string]any{"member": map[string]any{
		"address": "192.0.2.10", "protocol_port": 8080, "name": "web-1"}}).obj("member")["id"].(string)
	step("member_update", 200, "PUT", "/v2.0/lbaas/pools/"+poolID+"/members/"+m1, map[string]any{"member": map[string]any{"weight": 5, "backup": true, "monitor_address": "192.0.2.110"}})
	h.must(201, "POST", "/v2.0/lbaas/pools/"+poolID+"/members", map[string]any{"member": map[string]any{"address": "2001:db8::10", "protocol_port": 8080}})

	step("loadbalancer_show", 200, "GET", "/v2.0/lbaas/loadbalancers/"+lbID, nil)
	step("loadbalancer_list", 200, "GET", "/v2.0/lbaas/loadbalancers?limit=1", nil)
	step("listener_show", 200, "GET", "/v2.0/lbaas/listeners/"+lsID, nil)
	step("listener_list", 200, "GET", "/v2.0/lbaas/listeners", nil)
	step("pool_show", 200, "GET", "/v2.0/lbaas/pools/"+poolID, nil)
	step("pool_list", 200, "GET", "/v2.0/lbaas/pools?fields=id&fields=listeners&fields=members&fields=healthmonitor_id", nil)
	step("member_show", 200, "GET", "/v2.0/lbaas/pools/"+poolID+"/members/"+m1, nil)
	step("member_list", 200, "GET", "/v2.0/lbaas/pools/"+poolID+"/members?limit=1&marker="+m1, nil)
	step("healthmonitor_show", 200, "GET", "/v2.0/lbaas/healthmonitors/"+hmID, nil)
	step("healthmonitor_list", 200, "GET", "/v2.0/lbaas/healthmonitors", nil)
	step("loadbalancer_status", 200, "GET", "/v2.0/lbaas/loadbalancers/"+lbID+"/status", nil)
	step("loadbalancer_stats", 200, "GET", "/v2.0/lbaas/loadbalancers/"+lbID+"/stats", nil)
	step("listener_stats", 200, "GET", "/v2.0/lbaas/listeners/"+lsID+"/stats", nil)
	step("loadbalancer_create_graph", 201, "POST", "/v2.0/lbaas/loadbalancers", graphBody)
}

// graphBody is a fully populated load balancer: an HTTP listener whose
// default pool is defined inline with a monitor and two members, an L7
// policy redirecting to a second pool referenced by name.
var graphBody = map[string]any{"loadbalancer": map[string]any{
	"name": "graph", "vip_subnet_id": uuidA, "vip_address": "192.0.2.50",
	"listeners": []any{map[string]any{
		"name": "http", "protocol": "HTTP", "protocol_port": 80,
		"default_pool": map[string]any{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
			"healthmonitor": map[string]any{"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3},
			"members": []any{
				map[string]any{"address": "192.0.2.10", "protocol_port": 8080},
				map[string]any{"address": "192.0.2.11", "protocol_port": 8080, "weight": 2}}},
		"l7policies": []any{map[string]any{"name": "api", "action": "REDIRECT_TO_POOL", "redirect_pool": map[string]any{"name": "api"},
			"rules": []any{map[string]any{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}}}},
	}},
	"pools": []any{map[string]any{"name": "api", "protocol": "HTTP", "lb_algorithm": "LEAST_CONNECTIONS",
		"members": []any{map[string]any{"address": "192.0.2.20", "protocol_port": 9000}}}},
}}
