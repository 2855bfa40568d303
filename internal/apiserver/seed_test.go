package apiserver_test

import (
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
)

// TestSeedFlow is the seed flow: load balancer → ACTIVE → listener
// HTTP:80 → pool ROUND_ROBIN → HTTP health monitor → two members → status
// tree → cascade delete, against the real store and controller.
func TestSeedFlow(t *testing.T) {
	h := newHarness(t, harnessOpts{controller: true})
	lbID := h.createLB("lb1")
	lbPath := "/v2.0/lbaas/loadbalancers/" + lbID
	h.waitStatus(lbPath, "loadbalancer", "ACTIVE")

	l := h.must(201, "POST", "/v2.0/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": lbID, "protocol": "HTTP", "protocol_port": 80, "name": "l1"}}).obj("listener")
	if l["provisioning_status"] != "PENDING_CREATE" {
		t.Fatalf("listener create: %v", l)
	}
	listenerID := l["id"].(string)
	h.waitStatus(lbPath, "loadbalancer", "ACTIVE")

	p := h.must(201, "POST", "/v2.0/lbaas/pools", map[string]any{"pool": map[string]any{
		"listener_id": listenerID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "name": "p1"}}).obj("pool")
	poolID := p["id"].(string)
	h.waitStatus("/v2.0/lbaas/pools/"+poolID, "pool", "ACTIVE")

	hm := h.must(201, "POST", "/v2.0/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{
		"pool_id": poolID, "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3, "url_path": "/healthcheck"}}).obj("healthmonitor")
	if hm["http_method"] != "GET" || hm["expected_codes"] != "200" || hm["max_retries_down"] != float64(3) {
		t.Fatalf("health monitor defaults: %v", hm)
	}
	h.waitStatus("/v2.0/lbaas/pools/"+poolID, "pool", "ACTIVE")

	for _, addr := range []string{"192.0.2.10", "192.0.2.11"} {
		m := h.must(201, "POST", "/v2.0/lbaas/pools/"+poolID+"/members", map[string]any{"member": map[string]any{
			"address": addr, "protocol_port": 8080}}).obj("member")
		if m["operating_status"] != "OFFLINE" {
			t.Fatalf("member of a monitored pool: %v", m)
		}
	}
	h.waitStatus(lbPath, "loadbalancer", "ACTIVE")

	tree := h.must(200, "GET", lbPath+"/status", nil).obj("statuses")["loadbalancer"].(map[string]any)
	listeners := tree["listeners"].([]any)
	if len(listeners) != 1 {
		t.Fatalf("status tree: %v", tree)
	}
	pools := listeners[0].(map[string]any)["pools"].([]any)
	if len(pools) != 1 {
		t.Fatalf("status tree pools: %v", tree)
	}
	pool := pools[0].(map[string]any)
	if pool["health_monitor"] == nil || len(pool["members"].([]any)) != 2 {
		t.Fatalf("status tree pool: %v", pool)
	}

	h.must(400, "DELETE", lbPath, nil)
	h.must(204, "DELETE", lbPath+"?cascade=true", nil)
	h.waitGone(lbPath)
	h.must(404, "GET", "/v2.0/lbaas/pools/"+poolID, nil)
}

// TestScenarioFullyPopulatedLoadBalancer creates a whole graph in one call,
// waits for it to converge and deletes it with cascade.
func TestScenarioFullyPopulatedLoadBalancer(t *testing.T) {
	h := newHarness(t, harnessOpts{controller: true})
	l := h.must(201, "POST", "/v2/lbaas/loadbalancers", graphBody).obj("loadbalancer")
	id := l["id"].(string)
	if len(l["listeners"].([]any)) != 1 || len(l["pools"].([]any)) != 2 {
		t.Fatalf("create response %v", l)
	}
	h.waitStatus("/v2/lbaas/loadbalancers/"+id, "loadbalancer", "ACTIVE")
	shown := h.must(200, "GET", "/v2/lbaas/loadbalancers/"+id, nil).obj("loadbalancer")
	if len(shown["listeners"].([]any)) != 1 || len(shown["pools"].([]any)) != 2 {
		t.Fatalf("show %v", shown)
	}
	for _, p := range h.must(200, "GET", "/v2/lbaas/pools?loadbalancer_id="+id, nil).list("pools") {
		pm := p.(map[string]any)
		if pm["provisioning_status"] != "ACTIVE" || len(pm["listeners"].([]any)) != 1 {
			t.Errorf("pool %v", pm)
		}
	}
	tree := h.must(200, "GET", "/v2/lbaas/loadbalancers/"+id+"/status", nil).obj("statuses")["loadbalancer"].(map[string]any)
	pools := tree["listeners"].([]any)[0].(map[string]any)["pools"].([]any)
	if len(pools) != 2 {
		t.Fatalf("status tree shows %d pools under the listener, want the default and the redirect pool", len(pools))
	}
	h.must(204, "DELETE", "/v2/lbaas/loadbalancers/"+id+"?cascade=true", nil)
	h.waitGone("/v2/lbaas/loadbalancers/" + id)
	if n := len(h.must(200, "GET", "/v2/lbaas/pools", nil).list("pools")); n != 0 {
		t.Errorf("%d pools left", n)
	}
}

// TestProviderAliases: Octavia's provider names are accepted as aliases; a
// load balancer runs on the alias's target and shows the name the client
// sent (Terraform's provider attribute forces a replacement when it
// changes), in every response and list filter.
func TestProviderAliases(t *testing.T) {
	h := newHarness(t, harnessOpts{controller: true, tweak: func(o *apiserver.Options) {
		o.Providers = []string{"noop"}
		o.ProviderAliases = map[string]string{"amphora": "noop"}
	}})
	l := h.must(201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": uuidA, "provider": "amphora"}}).obj("loadbalancer")
	if l["provider"] != "amphora" {
		t.Errorf("create response: provider %v, want amphora", l["provider"])
	}
	id := l["id"].(string)
	// The controller runs it on noop (an alias it did not know would leave
	// it PENDING_CREATE, then ERROR).
	h.waitStatus("/v2/lbaas/loadbalancers/"+id, "loadbalancer", "ACTIVE")
	direct := h.must(201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": uuidA, "provider": "noop"}}).obj("loadbalancer")["id"].(string)
	if p := h.must(200, "GET", "/v2/lbaas/loadbalancers/"+id, nil).obj("loadbalancer")["provider"]; p != "amphora" {
		t.Errorf("show: provider %v, want amphora", p)
	}
	for filter, want := range map[string]string{"amphora": id, "noop": direct} {
		list := h.must(200, "GET", "/v2/lbaas/loadbalancers?provider="+filter, nil).list("loadbalancers")
		if len(list) != 1 || list[0].(map[string]any)["id"] != want {
			t.Errorf("?provider=%s: %v, want only %s", filter, list, want)
		}
	}
	if r := h.must(400, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": uuidA, "provider": "octavia"}}); r.fault() != "Provider 'octavia' is not enabled." {
		t.Errorf("fault %q", r.fault())
	}
}
