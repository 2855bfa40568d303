package apiserver_test

import (
	"testing"
)

// TestNeutronLBaaSV2Endpoint: the network endpoint serves Neutron-LBaaS v2
// (/networking/v2.0/lbaas/...) with the Octavia endpoint's handlers and
// objects: what one creates the other shows; faults are Neutron's body;
// the status tree has Neutron-LBaaS's shape.
func TestNeutronLBaaSV2Endpoint(t *testing.T) {
	h := newHarness(t, harnessOpts{controller: true})
	const n = "/networking/v2.0/lbaas"
	l := h.must(201, "POST", n+"/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "lb1", "vip_subnet_id": uuidA, "admin_state_up": true, "tenant_id": "p1"}}).obj("loadbalancer")
	id := l["id"].(string)
	if l["tenant_id"] != "p1" || l["provisioning_status"] != "PENDING_CREATE" {
		t.Fatalf("create through the network endpoint: %v", l)
	}
	h.waitStatus(n+"/loadbalancers/"+id, "loadbalancer", "ACTIVE")
	h.must(200, "GET", "/v2.0/lbaas/loadbalancers/"+id, nil)
	li := h.must(201, "POST", n+"/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": id, "protocol": "HTTP", "protocol_port": 80, "name": "l1", "admin_state_up": true}}).obj("listener")
	if lbs, _ := li["loadbalancers"].([]any); len(lbs) != 1 || lbs[0].(map[string]any)["id"] != id {
		t.Errorf("listener's loadbalancers: %v", li["loadbalancers"])
	}
	p := h.must(201, "POST", n+"/pools", map[string]any{"pool": map[string]any{
		"listener_id": li["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "admin_state_up": true}}).obj("pool")
	hm := h.must(201, "POST", n+"/healthmonitors", map[string]any{"healthmonitor": map[string]any{
		"pool_id": p["id"], "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}}).obj("healthmonitor")
	if ps, _ := hm["pools"].([]any); len(ps) != 1 || ps[0].(map[string]any)["id"] != p["id"] {
		t.Errorf("monitor's pools: %v", hm["pools"])
	}
	h.must(201, "POST", n+"/pools/"+p["id"].(string)+"/members", map[string]any{"member": map[string]any{
		"address": "192.0.2.10", "protocol_port": 8080, "subnet_id": uuidA, "admin_state_up": false}})
	spare := h.must(201, "POST", n+"/pools", map[string]any{"pool": map[string]any{
		"loadbalancer_id": id, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}).obj("pool")
	h.waitStatus(n+"/loadbalancers/"+id, "loadbalancer", "ACTIVE")
	// neutronclient's member list filters by pool_id.
	if ms := h.must(200, "GET", n+"/pools/"+p["id"].(string)+"/members?pool_id="+p["id"].(string), nil).list("members"); len(ms) != 1 {
		t.Errorf("members?pool_id=: %v", ms)
	}

	tree := h.must(200, "GET", n+"/loadbalancers/"+id+"/statuses", nil).obj("statuses")["loadbalancer"].(map[string]any)
	lbPools, _ := tree["pools"].([]any)
	if len(lbPools) != 2 || lbPools[1].(map[string]any)["id"] != spare["id"] {
		t.Errorf("the load balancer's pools in the tree: %v", tree["pools"])
	}
	listeners := tree["listeners"].([]any)
	lw := listeners[0].(map[string]any)
	if _, ok := lw["l7policies"].([]any); !ok {
		t.Errorf("listener without l7policies: %v", lw)
	}
	pw := lw["pools"].([]any)[0].(map[string]any)
	if hmw, ok := pw["healthmonitor"].(map[string]any); !ok || hmw["id"] != hm["id"] || hmw["type"] != "HTTP" {
		t.Errorf("pool's healthmonitor: %v", pw)
	}
	if _, octavia := pw["health_monitor"]; octavia {
		t.Errorf("Octavia's health_monitor key in the Neutron tree: %v", pw)
	}
	if m := pw["members"].([]any)[0].(map[string]any); m["operating_status"] != "DISABLED" {
		t.Errorf("an administratively down member: %v, want DISABLED", m)
	}
	if sp := lbPools[1].(map[string]any); len(sp["healthmonitor"].(map[string]any)) != 0 {
		t.Errorf("a pool without monitor: %v", sp)
	}
	// The Octavia endpoint keeps Octavia's tree.
	otree := h.must(200, "GET", "/v2.0/lbaas/loadbalancers/"+id+"/status", nil).obj("statuses")["loadbalancer"].(map[string]any)
	if _, ok := otree["pools"]; ok {
		t.Errorf("Octavia's tree has top-level pools: %v", otree)
	}
	h.must(200, "GET", n+"/loadbalancers/"+id+"/stats", nil)

	// Neutron faults.
	for _, tt := range []struct {
		method, path string
		body         any
		code         int
		typ, msg     string
	}{
		{"GET", n + "/loadbalancers/" + uuidB, nil, 404, "HTTPNotFound", "Load Balancer " + uuidB + " not found."},
		{"GET", n + "/bogus", nil, 404, "HTTPNotFound", "The resource could not be found."},
		{"DELETE", n + "/loadbalancers", nil, 405, "HTTPMethodNotAllowed", "The method DELETE is not allowed for this resource."},
		{"POST", n + "/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": id, "protocol": "HTTP", "protocol_port": 80}},
			409, "HTTPConflict", "Another Listener on this Load Balancer is already using protocol HTTP and protocol_port 80"},
		{"POST", n + "/loadbalancers", map[string]any{"loadbalancer": map[string]any{"bogus": 1}}, 400, "HTTPBadRequest", "Unknown attribute for argument load_balancer.loadbalancer: bogus"},
	} {
		r := h.do(tt.method, tt.path, tt.body)
		e, _ := r.body["NeutronError"].(map[string]any)
		if r.status != tt.code || e == nil || e["type"] != tt.typ || e["message"] != tt.msg || e["detail"] != "" {
			t.Errorf("%s %s: %d %s, want %d %s %q", tt.method, tt.path, r.status, r.raw, tt.code, tt.typ, tt.msg)
		}
	}
	// The Octavia endpoint keeps Octavia's faults.
	if r := h.must(404, "GET", "/v2.0/lbaas/loadbalancers/"+uuidB, nil); r.fault() == "" {
		t.Errorf("Octavia fault body: %s", r.raw)
	}
	h.must(204, "DELETE", n+"/loadbalancers/"+id+"?cascade=true", nil)
	h.waitGone(n + "/loadbalancers/" + id)
}
