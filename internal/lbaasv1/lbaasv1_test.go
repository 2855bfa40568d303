package lbaasv1_test

import (
	"context"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

const v1 = "/networking/v2.0/lb"

// TestV1Translation is seed 001's v1 flow against the translation: a pool
// becomes a load balancer (VIP on the pool's subnet) with the pool; members
// are its members; a shared monitor associated with the pool becomes its
// health monitor; the VIP becomes a listener whose address the load
// balancer takes; statuses, stats and the v1 refusals (VipExists,
// ProtocolMismatch, PoolInUse) follow; deleting unwinds it all.
func TestV1Translation(t *testing.T) {
	h := newHarness(t)
	pool := h.must(201, "POST", v1+"/pools", map[string]any{"pool": map[string]any{
		"name": "mypool", "protocol": "HTTP", "lb_method": "ROUND_ROBIN", "subnet_id": h.subnet, "admin_state_up": true}}).obj("pool")
	poolID := pool["id"].(string)
	// The noop provider may have finished before the answer is rendered.
	if (pool["status"] != "PENDING_CREATE" && pool["status"] != "ACTIVE") || pool["vip_id"] != nil || pool["subnet_id"] != h.subnet || pool["tenant_id"] != "p1" ||
		pool["provider"] != "noop" || len(pool["members"].([]any)) != 0 || len(pool["health_monitors"].([]any)) != 0 {
		t.Fatalf("created pool: %v", pool)
	}
	h.wait(v1+"/pools/"+poolID, "pool", "status", "ACTIVE")
	// The v2 objects behind it.
	v2pool := h.must(200, "GET", "/v2/lbaas/pools/"+poolID, nil).obj("pool")
	lbID := v2pool["loadbalancers"].([]any)[0].(map[string]any)["id"].(string)
	v2lb := h.must(200, "GET", "/v2/lbaas/loadbalancers/"+lbID, nil).obj("loadbalancer")
	if v2lb["name"] != "mypool" || v2lb["vip_subnet_id"] != h.subnet || v2pool["lb_algorithm"] != "ROUND_ROBIN" {
		t.Fatalf("v2 objects of the v1 pool: %v %v", v2lb, v2pool)
	}

	var members []string
	for _, addr := range []string{"127.0.0.21", "127.0.0.22"} {
		m := h.must(201, "POST", v1+"/members", map[string]any{"member": map[string]any{
			"pool_id": poolID, "address": addr, "protocol_port": 8080, "admin_state_up": true}}).obj("member")
		if m["pool_id"] != poolID || m["weight"] != 1.0 || m["status"] != "PENDING_CREATE" {
			t.Fatalf("created member: %v", m)
		}
		members = append(members, m["id"].(string))
	}
	if r := h.do("POST", v1+"/members", map[string]any{"member": map[string]any{"pool_id": poolID, "address": "127.0.0.21", "protocol_port": 8080}}); r.status != 409 {
		t.Errorf("duplicate member: %d %s", r.status, r.raw)
	} else if typ, msg := r.neutronError(); typ != "MemberExists" || msg != "Member with address 127.0.0.21 and port 8080 already present in pool "+poolID {
		t.Errorf("duplicate member: %s %q", typ, msg)
	}
	hm := h.must(201, "POST", v1+"/health_monitors", map[string]any{"health_monitor": map[string]any{
		"type": "HTTP", "delay": 3, "timeout": 2, "max_retries": 3, "url_path": "/health"}}).obj("health_monitor")
	hmID := hm["id"].(string)
	if hm["http_method"] != "GET" || hm["expected_codes"] != "200" || len(hm["pools"].([]any)) != 0 {
		t.Fatalf("created monitor: %v", hm)
	}
	h.must(201, "POST", v1+"/pools/"+poolID+"/health_monitors", map[string]any{"health_monitor": map[string]any{"id": hmID}})
	if r := h.do("POST", v1+"/pools/"+poolID+"/health_monitors", map[string]any{"health_monitor": map[string]any{"id": hmID}}); r.status != 409 {
		t.Errorf("second association: %d %s", r.status, r.raw)
	} else if typ, _ := r.neutronError(); typ != "PoolMonitorAssociationExists" {
		t.Errorf("second association: %s", r.raw)
	}
	pool = h.wait(v1+"/pools/"+poolID, "pool", "status", "ACTIVE")
	if hs := pool["health_monitors"].([]any); len(hs) != 1 || hs[0] != hmID || len(pool["members"].([]any)) != 2 {
		t.Fatalf("pool after members and association: %v", pool)
	}
	if st := pool["health_monitors_status"].([]any); len(st) != 1 || st[0].(map[string]any)["monitor_id"] != hmID {
		t.Errorf("health_monitors_status: %v", st)
	}
	v2hm := h.must(200, "GET", "/v2/lbaas/pools/"+poolID, nil).obj("pool")["healthmonitor_id"].(string)
	if m := h.must(200, "GET", "/v2/lbaas/healthmonitors/"+v2hm, nil).obj("healthmonitor"); m["url_path"] != "/health" || m["delay"] != 3.0 {
		t.Errorf("the pool's v2 monitor: %v", m)
	}
	if ps := h.must(200, "GET", v1+"/health_monitors/"+hmID, nil).obj("health_monitor")["pools"].([]any); len(ps) != 1 || ps[0].(map[string]any)["pool_id"] != poolID {
		t.Errorf("monitor's pools: %v", ps)
	}

	// The VIP asks for an address: the load balancer's VIP moves there.
	for _, tt := range []struct {
		body     map[string]any
		code     int
		typ, msg string
	}{
		{map[string]any{"pool_id": poolID, "subnet_id": h.subnet, "protocol": "TCP", "protocol_port": 80}, 400, "ProtocolMismatch",
			"Protocol TCP does not match pool protocol HTTP"},
		{map[string]any{"pool_id": poolID, "subnet_id": h.subnet, "protocol": "HTTP"}, 400, "HTTPBadRequest",
			"Failed to parse request. Required attribute 'protocol_port' not specified"},
	} {
		r := h.do("POST", v1+"/vips", map[string]any{"vip": tt.body})
		if typ, msg := r.neutronError(); r.status != tt.code || typ != tt.typ || msg != tt.msg {
			t.Errorf("vip %v: %d %s, want %d %s %q", tt.body, r.status, r.raw, tt.code, tt.typ, tt.msg)
		}
	}
	vip := h.must(201, "POST", v1+"/vips", map[string]any{"vip": map[string]any{"name": "myvip", "pool_id": poolID,
		"subnet_id": h.subnet, "address": "127.10.9.9", "protocol": "HTTP", "protocol_port": 80,
		"session_persistence": map[string]any{"type": "HTTP_COOKIE"}}}).obj("vip")
	vipID := vip["id"].(string)
	if vip["address"] != "127.10.9.9" || vip["subnet_id"] != h.subnet || vip["port_id"] == nil || vip["connection_limit"] != -1.0 ||
		vip["session_persistence"].(map[string]any)["type"] != "HTTP_COOKIE" || vip["pool_id"] != poolID {
		t.Fatalf("created vip: %v", vip)
	}
	if l := h.must(200, "GET", "/v2/lbaas/loadbalancers/"+lbID, nil).obj("loadbalancer"); l["vip_address"] != "127.10.9.9" {
		t.Errorf("the load balancer's VIP after the v1 VIP: %v", l["vip_address"])
	}
	if li := h.must(200, "GET", "/v2/lbaas/listeners/"+vipID, nil).obj("listener"); li["default_pool_id"] != poolID || li["protocol_port"] != 80.0 {
		t.Errorf("the VIP's listener: %v", li)
	}
	if r := h.do("POST", v1+"/vips", map[string]any{"vip": map[string]any{"pool_id": poolID, "subnet_id": h.subnet, "protocol": "HTTP", "protocol_port": 81}}); r.status != 409 {
		t.Errorf("second VIP: %d %s", r.status, r.raw)
	} else if typ, msg := r.neutronError(); typ != "VipExists" || msg != "Another Vip already exists for pool "+poolID {
		t.Errorf("second VIP: %s %q", typ, msg)
	}
	h.wait(v1+"/vips/"+vipID, "vip", "status", "ACTIVE")
	if p := h.must(200, "GET", v1+"/pools/"+poolID, nil).obj("pool"); p["vip_id"] != vipID {
		t.Errorf("pool's vip_id: %v", p["vip_id"])
	}
	stats := h.must(200, "GET", v1+"/pools/"+poolID+"/stats", nil).obj("stats")
	for _, k := range []string{"bytes_in", "bytes_out", "active_connections", "total_connections"} {
		if _, ok := stats[k].(float64); !ok {
			t.Errorf("stats %s: %v", k, stats)
		}
	}
	// Lists, filters and fields as neutronclient asks.
	if l := h.must(200, "GET", v1+"/pools?name=mypool&fields=id", nil).list("pools"); len(l) != 1 || len(l[0].(map[string]any)) != 1 {
		t.Errorf("pools?name=&fields=id: %v", l)
	}
	if l := h.must(200, "GET", v1+"/members?pool_id="+poolID+"&address=127.0.0.22", nil).list("members"); len(l) != 1 || l[0].(map[string]any)["id"] != members[1] {
		t.Errorf("members filtered: %v", l)
	}
	if l := h.must(200, "GET", v1+"/vips.json", nil).list("vips"); len(l) != 1 {
		t.Errorf("vips: %v", l)
	}

	// Updates reach the objects behind.
	h.must(200, "PUT", v1+"/health_monitors/"+hmID, map[string]any{"health_monitor": map[string]any{"delay": 7, "url_path": "/ready"}})
	if m := h.must(200, "GET", "/v2/lbaas/healthmonitors/"+v2hm, nil).obj("healthmonitor"); m["url_path"] != "/ready" || m["delay"] != 7.0 {
		t.Errorf("v2 monitor after the v1 update: %v", m)
	}
	h.must(200, "PUT", v1+"/members/"+members[0], map[string]any{"member": map[string]any{"weight": 5}})
	h.must(200, "PUT", v1+"/vips/"+vipID, map[string]any{"vip": map[string]any{"connection_limit": 100, "session_persistence": nil}})
	if p := h.must(200, "GET", "/v2/lbaas/pools/"+poolID, nil).obj("pool"); p["session_persistence"] != nil {
		t.Errorf("session persistence after VIP update with null: %v", p["session_persistence"])
	}
	if r := h.do("PUT", v1+"/members/"+members[0], map[string]any{"member": map[string]any{"address": "127.0.0.9"}}); r.status != 400 {
		t.Errorf("updating a member's address: %d %s", r.status, r.raw)
	} else if _, msg := r.neutronError(); msg != "Cannot update read-only attribute address" {
		t.Errorf("updating a member's address: %q", msg)
	}

	// A pool with a VIP cannot be deleted (v1's rule).
	if r := h.do("DELETE", v1+"/pools/"+poolID, nil); r.status != 409 {
		t.Errorf("deleting a pool with a VIP: %d %s", r.status, r.raw)
	} else if typ, msg := r.neutronError(); typ != "PoolInUse" || msg != "Pool "+poolID+" is still in use" {
		t.Errorf("deleting a pool with a VIP: %s %q", typ, msg)
	}
	h.must(204, "DELETE", v1+"/pools/"+poolID+"/health_monitors/"+hmID, nil)
	h.gone("/v2/lbaas/healthmonitors/" + v2hm)
	h.must(204, "DELETE", v1+"/vips/"+vipID, nil)
	if p := h.must(200, "GET", v1+"/pools/"+poolID, nil).obj("pool"); p["vip_id"] != nil {
		t.Errorf("pool's vip_id after the VIP's delete: %v", p["vip_id"])
	}
	h.must(204, "DELETE", v1+"/members/"+members[1], nil)
	h.must(204, "DELETE", v1+"/pools/"+poolID, nil)
	h.gone(v1 + "/pools/" + poolID)
	h.gone("/v2/lbaas/loadbalancers/" + lbID)
	h.gone(v1 + "/members/" + members[0])
	_ = h.store.View(context.Background(), func(tx store.Tx) error {
		if n, _ := tx.V1Pools().Count(context.Background()); n != 0 {
			t.Errorf("%d v1 pool marks left", n)
		}
		return nil
	})
	// The monitor outlives the pool, as in v1.
	h.must(200, "GET", v1+"/health_monitors/"+hmID, nil)
	h.must(204, "DELETE", v1+"/health_monitors/"+hmID, nil)
	h.must(404, "GET", v1+"/health_monitors/"+hmID, nil)
}

// TestV1SharedMonitor: one v1 monitor shared by two pools is one health
// monitor on each; an update changes both, deleting the monitor removes
// both; a pool takes one monitor (v1 allowed several: 409).
func TestV1SharedMonitor(t *testing.T) {
	h := newHarness(t)
	var pools []string
	for _, name := range []string{"a", "b"} {
		pools = append(pools, h.must(201, "POST", v1+"/pools", map[string]any{"pool": map[string]any{
			"name": name, "protocol": "TCP", "lb_method": "LEAST_CONNECTIONS", "subnet_id": h.subnet}}).obj("pool")["id"].(string))
	}
	hm := h.must(201, "POST", v1+"/health_monitors", map[string]any{"health_monitor": map[string]any{
		"type": "TCP", "delay": 5, "timeout": 3, "max_retries": 2}}).obj("health_monitor")["id"].(string)
	other := h.must(201, "POST", v1+"/health_monitors", map[string]any{"health_monitor": map[string]any{
		"type": "PING", "delay": 5, "timeout": 3, "max_retries": 2}}).obj("health_monitor")["id"].(string)
	for _, p := range pools {
		h.must(201, "POST", v1+"/pools/"+p+"/health_monitors", map[string]any{"health_monitor": map[string]any{"id": hm}})
	}
	if r := h.do("POST", v1+"/pools/"+pools[0]+"/health_monitors", map[string]any{"health_monitor": map[string]any{"id": other}}); r.status != 409 {
		t.Errorf("a second monitor on a pool: %d %s", r.status, r.raw)
	}
	v2 := func(p string) map[string]any {
		id, _ := h.must(200, "GET", "/v2/lbaas/pools/"+p, nil).obj("pool")["healthmonitor_id"].(string)
		if id == "" {
			return nil
		}
		// The monitor may go between the two reads (after the delete below).
		r := h.do("GET", "/v2/lbaas/healthmonitors/"+id, nil)
		if r.status == 404 {
			return nil
		}
		if r.status != 200 {
			t.Fatalf("GET /v2/lbaas/healthmonitors/%s: %d %s", id, r.status, r.raw)
		}
		return r.obj("healthmonitor")
	}
	a, b := v2(pools[0]), v2(pools[1])
	if a == nil || b == nil || a["id"] == b["id"] || a["type"] != "TCP" {
		t.Fatalf("v2 monitors of the shared v1 monitor: %v %v", a, b)
	}
	if ps := h.must(200, "GET", v1+"/health_monitors/"+hm, nil).obj("health_monitor")["pools"].([]any); len(ps) != 2 {
		t.Errorf("shared monitor's pools: %v", ps)
	}
	h.must(200, "PUT", v1+"/health_monitors/"+hm, map[string]any{"health_monitor": map[string]any{"max_retries": 9, "admin_state_up": false}})
	for _, p := range pools {
		if m := v2(p); m["max_retries"] != 9.0 || m["admin_state_up"] != false {
			t.Errorf("pool %s's monitor after the update: %v", p, m)
		}
	}
	// The pool update form of association: health_monitors replaces.
	h.must(200, "PUT", v1+"/pools/"+pools[1], map[string]any{"pool": map[string]any{"health_monitors": []string{}}})
	h.must(204, "DELETE", v1+"/health_monitors/"+hm, nil)
	for _, p := range pools {
		h.until("pool "+p+" loses its monitor", func() bool { return v2(p) == nil })
	}
	h.must(200, "PUT", v1+"/pools/"+pools[0], map[string]any{"pool": map[string]any{"health_monitors": []string{other}}})
	if m := v2(pools[0]); m == nil || m["type"] != "PING" {
		t.Errorf("association through a pool update: %v", m)
	}
}

// TestV1Refusals: Neutron's attribute rules and v1's own, in Neutron's
// error body; other projects' objects are not found; a reader may not
// write.
func TestV1Refusals(t *testing.T) {
	h := newHarness(t)
	pool := h.must(201, "POST", v1+"/pools", map[string]any{"pool": map[string]any{
		"name": "p", "protocol": "HTTP", "lb_method": "ROUND_ROBIN", "subnet_id": h.subnet}}).obj("pool")["id"].(string)
	for _, tt := range []struct {
		method, path string
		body         any
		code         int
		typ, msg     string
	}{
		{"POST", "/pools", map[string]any{"pool": map[string]any{"protocol": "UDP", "lb_method": "ROUND_ROBIN", "subnet_id": h.subnet}},
			400, "HTTPBadRequest", "Invalid input for protocol. Reason: 'UDP' is not in ['TCP', 'HTTP', 'HTTPS']."},
		{"POST", "/pools", map[string]any{"pool": map[string]any{"protocol": "HTTP", "lb_method": "ROUND_ROBIN"}},
			400, "HTTPBadRequest", "Failed to parse request. Required attribute 'subnet_id' not specified"},
		{"POST", "/pools", map[string]any{"pool": map[string]any{"protocol": "HTTP", "lb_method": "ROUND_ROBIN", "subnet_id": "x"}},
			400, "HTTPBadRequest", "Invalid input for subnet_id. Reason: 'x' is not a valid UUID."},
		{"POST", "/pools", map[string]any{"pool": map[string]any{"protocol": "HTTP", "lb_method": "ROUND_ROBIN", "subnet_id": h.subnet, "bogus": 1}},
			400, "HTTPBadRequest", "Unrecognized attribute(s) 'bogus'"},
		{"POST", "/pools", map[string]any{"pool": map[string]any{"protocol": "HTTP", "lb_method": "ROUND_ROBIN", "subnet_id": h.subnet, "provider": "f5"}},
			400, "HTTPBadRequest", "Provider 'f5' is not enabled."},
		{"PUT", "/pools/" + pool, map[string]any{"pool": map[string]any{"protocol": "TCP"}},
			400, "HTTPBadRequest", "Cannot update read-only attribute protocol"},
		{"GET", "/pools/00000000-0000-4000-8000-000000000009", nil, 404, "PoolNotFound", "Pool 00000000-0000-4000-8000-000000000009 could not be found"},
		{"POST", "/health_monitors", map[string]any{"health_monitor": map[string]any{"type": "HTTP", "delay": 3, "timeout": 2, "max_retries": 11}},
			400, "HTTPBadRequest", "Invalid input for max_retries. Reason: '11' is too large - must be no larger than '10'."},
		{"POST", "/health_monitors", map[string]any{"health_monitor": map[string]any{"type": "HTTP", "delay": -1, "timeout": 2, "max_retries": 1}},
			400, "HTTPBadRequest", "Invalid input for delay. Reason: '-1' should be non-negative."},
		{"POST", "/health_monitors", map[string]any{"health_monitor": map[string]any{"type": "HTTP", "delay": 3, "timeout": 2, "max_retries": 1, "expected_codes": "2xx"}},
			400, "HTTPBadRequest", "Invalid input for expected_codes. Reason: '2xx' is not a valid input."},
		{"POST", "/health_monitors", map[string]any{"health_monitor": map[string]any{"type": "TCP", "delay": 3, "timeout": 99999999999, "max_retries": 1}},
			400, "HTTPBadRequest", "Invalid input for timeout. Reason: '99999999999' is too large - must be no larger than '2147483647'."},
		{"POST", "/vips", map[string]any{"vip": map[string]any{"pool_id": pool, "subnet_id": h.subnet, "protocol": "HTTP", "protocol_port": 80, "connection_limit": -5}},
			400, "HTTPBadRequest", "Invalid input for connection_limit. Reason: '-5' is too small - must be at least '-1'."},
		// v1 took port 0; the listener and member it becomes do not.
		{"POST", "/vips", map[string]any{"vip": map[string]any{"pool_id": pool, "subnet_id": h.subnet, "protocol": "HTTP", "protocol_port": 0}},
			400, "HTTPBadRequest", "Invalid input for protocol_port. Reason: '0' is too small - must be at least '1'."},
		{"POST", "/members", map[string]any{"member": map[string]any{"pool_id": pool, "address": "127.0.0.9", "protocol_port": 0}},
			400, "HTTPBadRequest", "Invalid input for protocol_port. Reason: '0' is too small - must be at least '1'."},
		{"POST", "/members", map[string]any{"member": map[string]any{"pool_id": pool, "address": "not-an-ip", "protocol_port": 80}},
			400, "HTTPBadRequest", "Invalid input for address. Reason: 'not-an-ip' is not a valid IP address."},
		{"POST", "/vips", map[string]any{"vip": map[string]any{"pool_id": pool, "subnet_id": h.subnet, "protocol": "HTTP", "protocol_port": 80,
			"session_persistence": map[string]any{"type": "APP_COOKIE"}}},
			400, "HTTPBadRequest", "Invalid input for session_persistence. Reason: 'cookie_name' should be specified for this type of session persistence.."},
		{"DELETE", "/pools/" + pool + "/health_monitors/00000000-0000-4000-8000-000000000009", nil, 404, "PoolMonitorAssociationNotFound",
			"Monitor 00000000-0000-4000-8000-000000000009 is not associated with Pool " + pool},
		{"GET", "/bogus", nil, 404, "HTTPNotFound", "The resource could not be found."},
		{"PATCH", "/pools", nil, 405, "HTTPMethodNotAllowed", "The method PATCH is not allowed for this resource."},
	} {
		r := h.do(tt.method, v1+tt.path, tt.body)
		if typ, msg := r.neutronError(); r.status != tt.code || typ != tt.typ || msg != tt.msg {
			t.Errorf("%s %s %v: %d %s, want %d %s %q", tt.method, tt.path, tt.body, r.status, r.raw, tt.code, tt.typ, tt.msg)
		}
	}
	// Another project sees nothing of p1's and cannot use it.
	if r := h.as("p2", "member", "GET", v1+"/pools/"+pool, nil); r.status != 404 {
		t.Errorf("another project's pool: %d %s", r.status, r.raw)
	}
	if l := h.as("p2", "member", "GET", v1+"/pools", nil).list("pools"); len(l) != 0 {
		t.Errorf("another project's list: %v", l)
	}
	if r := h.as("p2", "member", "POST", v1+"/members", map[string]any{"member": map[string]any{"pool_id": pool, "address": "127.0.0.5", "protocol_port": 80}}); r.status != 404 {
		t.Errorf("a member in another project's pool: %d %s", r.status, r.raw)
	}
	if l := h.as("adm", "admin", "GET", v1+"/pools", nil).list("pools"); len(l) != 1 {
		t.Errorf("admin's list: %v", l)
	}
	if r := h.as("p1", "reader", "POST", v1+"/pools", map[string]any{"pool": map[string]any{"protocol": "HTTP", "lb_method": "ROUND_ROBIN", "subnet_id": h.subnet}}); r.status != 403 {
		t.Errorf("a reader creates a pool: %d %s", r.status, r.raw)
	}
	if r := h.as("p1", "reader", "GET", v1+"/pools/"+pool, nil); r.status != 200 {
		t.Errorf("a reader reads a pool: %d %s", r.status, r.raw)
	}
	// A refused write leaves nothing behind: the v1 pool, its load
	// balancer and its VIP port are one transaction.
	_ = h.store.View(context.Background(), func(tx store.Tx) error {
		n, _ := tx.LoadBalancers().Count(context.Background())
		m, _ := tx.V1Pools().Count(context.Background())
		if n != 1 || m != 1 {
			t.Errorf("%d load balancers, %d v1 pools after the refusals; want 1 and 1", n, m)
		}
		return nil
	})
	_ = lb.Active
}
