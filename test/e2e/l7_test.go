package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// caseL7 creates L7 policies and rules through the Octavia API and checks real
// traffic through the embedded agent: /api goes to a second pool, a rejection and a
// redirect are answered by the engine, and deleting a policy takes effect.
func caseL7(t *testing.T, s *engineServer) {
	a := s.a
	web, api := startBackend(t, "web"), startBackend(t, "api")
	port := freePort(t)

	r := a.newLB(t, map[string]any{"name": "e2e-l7"})
	lbID, vip := r.id("loadbalancer"), r.field("loadbalancer", "vip_address")
	listener := a.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": lbID, "protocol": "HTTP", "protocol_port": port}}, 201).id("listener")
	webPool := a.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"listener_id": listener, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201).id("pool")
	apiPool := a.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"loadbalancer_id": lbID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201).id("pool")
	for pool, b := range map[string]*backend{webPool: web, apiPool: api} {
		a.must(t, "POST", "/v2/lbaas/pools/"+pool+"/members", map[string]any{"member": map[string]any{
			"address": "127.0.0.1", "protocol_port": b.port, "name": b.name}}, 201)
	}
	toAPI := a.must(t, "POST", "/v2/lbaas/l7policies", map[string]any{"l7policy": map[string]any{
		"listener_id": listener, "action": "REDIRECT_TO_POOL", "redirect_pool_id": apiPool, "name": "api"}}, 201).id("l7policy")
	a.must(t, "POST", "/v2/lbaas/l7policies/"+toAPI+"/rules", map[string]any{"rule": map[string]any{
		"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}}, 201)
	a.waitStatus(t, lbID, "ACTIVE", 30*time.Second)
	base := "http://" + net.JoinHostPort(vip, strconv.Itoa(port))
	waitTraffic(t, base+"/", 10*time.Second)

	// One keep-alive connection goes back and forth between the pools.
	var dials atomic.Int64
	c := l7Client(&dials)
	defer c.CloseIdleConnections()
	for i := 0; i < 3; i++ {
		for path, want := range map[string]string{"/api/users?id=1": "api", "/": "web", "/index.html": "web", "/api": "api"} {
			if code, body, _ := l7Get(t, c, base+path, nil); code != 200 || body != want {
				t.Fatalf("GET %s: %d %q, want 200 %q", path, code, body, want)
			}
		}
	}
	if dials.Load() != 1 {
		t.Fatalf("12 keep-alive requests used %d connections, want 1", dials.Load())
	}

	// A rejection placed first (position 1) and a redirect appended after it.
	reject := a.must(t, "POST", "/v2/lbaas/l7policies", map[string]any{"l7policy": map[string]any{
		"listener_id": listener, "action": "REJECT", "position": 1}}, 201).id("l7policy")
	a.must(t, "POST", "/v2/lbaas/l7policies/"+reject+"/rules", map[string]any{"rule": map[string]any{
		"type": "HEADER", "key": "X-Block", "compare_type": "EQUAL_TO", "value": "yes"}}, 201)
	moved := a.must(t, "POST", "/v2/lbaas/l7policies", map[string]any{"l7policy": map[string]any{
		"listener_id": listener, "action": "REDIRECT_PREFIX", "redirect_prefix": "https://new.example", "redirect_http_code": 301}}, 201).id("l7policy")
	a.must(t, "POST", "/v2/lbaas/l7policies/"+moved+"/rules", map[string]any{"rule": map[string]any{
		"type": "PATH", "compare_type": "STARTS_WITH", "value": "/old/"}}, 201)
	a.waitStatus(t, lbID, "ACTIVE", 30*time.Second)
	for _, tc := range []struct {
		path      string
		hdr       map[string]string
		code      int
		body, loc string
	}{
		{"/api/x", map[string]string{"X-Block": "yes"}, 403, "403 Forbidden\n", ""},
		{"/api/x", map[string]string{"X-Block": "no"}, 200, "api", ""},
		{"/old/page?q=1", nil, 301, "", "https://new.example/old/page?q=1"},
		{"/", nil, 200, "web", ""},
	} {
		code, body, loc := l7Get(t, c, base+tc.path, tc.hdr)
		if code != tc.code || body != tc.body || loc != tc.loc {
			t.Fatalf("GET %s %v: %d %q Location %q, want %d %q %q", tc.path, tc.hdr, code, body, loc, tc.code, tc.body, tc.loc)
		}
	}

	// Deleting the pool policy sends /api to the default pool again.
	a.must(t, "DELETE", "/v2/lbaas/l7policies/"+toAPI, nil, 204)
	a.waitStatus(t, lbID, "ACTIVE", 30*time.Second)
	if code, body, _ := l7Get(t, c, base+"/api/users", nil); code != 200 || body != "web" {
		t.Fatalf("after deleting the policy GET /api/users: %d %q, want 200 web", code, body)
	}
	// docs/dataplane.md engine table, "hitless reconfiguration": the native engine swaps
	// its configuration in process and keeps the connection; HAProxy's replaced worker
	// closes idle keep-alive connections (the client reconnects, no request fails).
	if s.e.name == "native" && dials.Load() != 1 {
		t.Fatalf("the keep-alive connection did not survive two reconfigurations: %d connections", dials.Load())
	}
	t.Logf("%d connections for the requests across two reconfigurations", dials.Load())
	// The rejection counts as a request error of the listener.
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := a.must(t, "GET", "/v2/lbaas/listeners/"+listener+"/stats", nil, 200).body["stats"].(map[string]any)
		if number(st, "request_errors") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listener stats %v: want request_errors 1 (the rejection)", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if web.hits.Load() == 0 || api.hits.Load() != 7 {
		t.Fatalf("backend hits: web %d, api %d (want 7: six on the first round, one not blocked)", web.hits.Load(), api.hits.Load())
	}
}

// l7Client is a keep-alive client that counts its connections and does not follow
// redirects.
func l7Client(dials *atomic.Int64) *http.Client {
	d := &net.Dialer{Timeout: 2 * time.Second}
	return &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		}}}
}

func l7Get(t *testing.T, c *http.Client, url string, hdr map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s body: %v", url, err)
	}
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

// caseL7FullyPopulated creates a load balancer with an L7 policy in one call (the
// fully populated create) and checks that /api reaches the redirect pool.
func caseL7FullyPopulated(t *testing.T, s *engineServer) {
	a := s.a
	web, api := startBackend(t, "web"), startBackend(t, "api")
	port := freePort(t)
	pool := func(name string, b *backend) map[string]any {
		return map[string]any{"name": name, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
			"members": []any{map[string]any{"address": "127.0.0.1", "protocol_port": b.port}}}
	}
	r := a.newLB(t, map[string]any{
		"name": "e2e-l7-graph",
		"listeners": []any{map[string]any{"protocol": "HTTP", "protocol_port": port, "default_pool": pool("web", web),
			"l7policies": []any{map[string]any{"action": "REDIRECT_TO_POOL", "redirect_pool": pool("api", api),
				"rules": []any{map[string]any{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}}}}}},
	})
	lbID, vip := r.id("loadbalancer"), r.field("loadbalancer", "vip_address")
	a.waitStatus(t, lbID, "ACTIVE", 30*time.Second)
	base := "http://" + net.JoinHostPort(vip, strconv.Itoa(port))
	waitTraffic(t, base+"/", 10*time.Second)
	var dials atomic.Int64
	c := l7Client(&dials)
	defer c.CloseIdleConnections()
	for i := 0; i < 2; i++ {
		for _, tc := range []struct{ path, want string }{{"/api/v1", "api"}, {"/", "web"}, {"/apiary", "api"}, {"/v1/api", "web"}} {
			if code, body, _ := l7Get(t, c, base+tc.path, nil); code != 200 || body != tc.want {
				t.Fatalf("GET %s: %d %q, want 200 %q", tc.path, code, body, tc.want)
			}
		}
	}
	if api.hits.Load() != 4 || dials.Load() != 1 {
		t.Fatalf("api backend %d requests (want 4), %d connections (want 1)", api.hits.Load(), dials.Load())
	}
}
