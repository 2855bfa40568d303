package apiserver_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// HTTP scenarios per resource against the real SQLite store and the real
// controller with the noop provider: create → ACTIVE → update →
// list/filter/paginate/sort/fields → delete, plus the genuine conflicts.

// ids lists the ids of a collection response.
func ids(r *response, key string) []string {
	var out []string
	for _, x := range r.list(key) {
		out = append(out, x.(map[string]any)["id"].(string))
	}
	return out
}

// walk follows rel=next links from path and returns every id seen.
func (h *harness) walk(path, key string) []string {
	h.t.Helper()
	var all []string
	for i := 0; path != "" && i < 100; i++ {
		r := h.must(200, "GET", path, nil)
		page := ids(r, key)
		all = append(all, page...)
		path = ""
		for _, l := range r.list(key + "_links") {
			lm := l.(map[string]any)
			if lm["rel"] == "next" && len(page) > 0 {
				u, err := url.Parse(lm["href"].(string))
				if err != nil {
					h.t.Fatal(err)
				}
				path = u.RequestURI()
			}
		}
	}
	return all
}

func TestScenarioLoadBalancer(t *testing.T) {
	h := newHarness(t, harnessOpts{controller: true})
	var created []string
	for i, name := range []string{"bravo", "alpha", "charlie", "delta", "echo"} {
		tags := []string{"env:test"}
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		r := h.must(201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
			"name": name, "vip_subnet_id": uuidA, "tags": tags, "description": "d" + name}})
		created = append(created, r.obj("loadbalancer")["id"].(string))
	}
	for _, id := range created {
		h.waitStatus("/v2/lbaas/loadbalancers/"+id, "loadbalancer", "ACTIVE")
	}
	u := h.must(200, "PUT", "/v2/lbaas/loadbalancers/"+created[0], map[string]any{"loadbalancer": map[string]any{"name": "zulu", "admin_state_up": false}}).obj("loadbalancer")
	if u["name"] != "zulu" || u["provisioning_status"] != "PENDING_UPDATE" || u["admin_state_up"] != false {
		t.Fatalf("update response %v", u)
	}
	h.waitStatus("/v2/lbaas/loadbalancers/"+created[0], "loadbalancer", "ACTIVE")

	if got := ids(h.must(200, "GET", "/v2/lbaas/loadbalancers?name=alpha", nil), "loadbalancers"); !slices.Equal(got, created[1:2]) {
		t.Errorf("filter name=alpha: %v", got)
	}
	if got := ids(h.must(200, "GET", "/v2/lbaas/loadbalancers?admin_state_up=false", nil), "loadbalancers"); !slices.Equal(got, created[:1]) {
		t.Errorf("filter admin_state_up=false: %v", got)
	}
	if got := ids(h.must(200, "GET", "/v2/lbaas/loadbalancers?tenant_id=p1&provisioning_status=ACTIVE&sort_key=name&sort_dir=desc", nil), "loadbalancers"); !slices.Equal(got, []string{created[0], created[4], created[3], created[2], created[1]}) {
		t.Errorf("sort name desc: %v", got)
	}
	if got := h.walk("/v2/lbaas/loadbalancers?limit=2&sort=name", "loadbalancers"); !slices.Equal(got, []string{created[1], created[2], created[3], created[4], created[0]}) {
		t.Errorf("pages by name: %v", got)
	}
	tagCases := map[string][]string{
		"tags=even,env:test":           {created[0], created[2], created[4]},
		"tags=even&tags=nope":          nil,
		"tags-any=nope,even":           {created[0], created[2], created[4]},
		"not-tags=even":                {created[1], created[3]},
		"not-tags-any=even&name=delta": {created[3]},
	}
	for q, want := range tagCases {
		if got := ids(h.must(200, "GET", "/v2/lbaas/loadbalancers?"+q, nil), "loadbalancers"); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	}
	r := h.must(200, "GET", "/v2/lbaas/loadbalancers?fields=id&fields=name&fields=tenant_id&limit=1", nil)
	if got := keys(r.list("loadbalancers")[0].(map[string]any)); !slices.Equal(got, []string{"id", "name", "tenant_id"}) {
		t.Errorf("fields: %v", got)
	}
	if got := keys(h.must(200, "GET", "/v2/lbaas/loadbalancers/"+created[1]+"?fields=vip_address", nil).obj("loadbalancer")); !slices.Equal(got, []string{"vip_address"}) {
		t.Errorf("show fields: %v", got)
	}
	if got := keys(h.must(200, "GET", "/v2/lbaas/loadbalancers/"+created[1]+"?fields=id,name", nil).obj("loadbalancer")); len(got) != 0 {
		t.Errorf("fields=id,name is not split: %v", got)
	}
	h.must(202, "PUT", "/v2/lbaas/loadbalancers/"+created[1]+"/failover", nil)
	h.waitStatus("/v2/lbaas/loadbalancers/"+created[1], "loadbalancer", "ACTIVE")
	for _, id := range created {
		h.must(204, "DELETE", "/v2/lbaas/loadbalancers/"+id, nil)
	}
	for _, id := range created {
		h.waitGone("/v2/lbaas/loadbalancers/" + id)
	}
	if r := h.must(200, "GET", "/v2/lbaas/loadbalancers", nil); len(r.list("loadbalancers")) != 0 || len(r.list("loadbalancers_links")) != 0 {
		t.Errorf("after delete: %s", r.raw)
	}
}

func TestScenarioListener(t *testing.T) {
	h := newHarness(t, harnessOpts{controller: true})
	lbID := h.createLB("l")
	lbPath := "/v2/lbaas/loadbalancers/" + lbID
	var ls []string
	for _, c := range []struct {
		proto string
		port  int
	}{{"HTTP", 80}, {"TCP", 443}, {"UDP", 53}} {
		r := h.must(201, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
			"loadbalancer_id": lbID, "protocol": c.proto, "protocol_port": c.port, "name": strings.ToLower(c.proto)}})
		ls = append(ls, r.obj("listener")["id"].(string))
	}
	h.waitStatus(lbPath, "loadbalancer", "ACTIVE")
	h.waitStatus("/v2/lbaas/listeners/"+ls[0], "listener", "ACTIVE")
	lbObj := h.must(200, "GET", lbPath, nil).obj("loadbalancer")
	if len(lbObj["listeners"].([]any)) != 3 {
		t.Errorf("lb listeners %v", lbObj["listeners"])
	}
	u := h.must(200, "PUT", "/v2/lbaas/listeners/"+ls[0], map[string]any{"listener": map[string]any{
		"timeout_client_data": 1000, "insert_headers": map[string]any{"X-Forwarded-For": "true"}, "tags": []any{"a"}, "allowed_cidrs": []any{"10.1.2.3/8", "10.0.0.0/8"}}}).obj("listener")
	if u["provisioning_status"] != "PENDING_UPDATE" || u["timeout_client_data"] != float64(1000) || len(u["allowed_cidrs"].([]any)) != 1 || u["allowed_cidrs"].([]any)[0] != "10.0.0.0/8" {
		t.Fatalf("update %v", u)
	}
	h.waitStatus("/v2/lbaas/listeners/"+ls[0], "listener", "ACTIVE")
	if got := ids(h.must(200, "GET", "/v2/lbaas/listeners?protocol_port=53&loadbalancer_id="+lbID, nil), "listeners"); !slices.Equal(got, ls[2:]) {
		t.Errorf("filter port: %v", got)
	}
	if got := ids(h.must(200, "GET", "/v2/lbaas/listeners?sort=protocol_port:desc", nil), "listeners"); !slices.Equal(got, []string{ls[1], ls[0], ls[2]}) {
		t.Errorf("sort port desc: %v", got)
	}
	if got := h.walk("/v2/lbaas/listeners?limit=1", "listeners"); !slices.Equal(got, ls) {
		t.Errorf("pages: %v", got)
	}
	if got := ids(h.must(200, "GET", "/v2/lbaas/listeners?tags=a", nil), "listeners"); !slices.Equal(got, ls[:1]) {
		t.Errorf("tags: %v", got)
	}
	h.must(400, "GET", "/v2/lbaas/listeners?vip_address=1.2.3.4", nil)
	h.must(200, "GET", "/v2/lbaas/listeners/"+ls[0]+"/stats", nil)
	h.must(204, "DELETE", "/v2/lbaas/listeners/"+ls[0], nil)
	if r := h.do("PUT", "/v2/lbaas/listeners/"+ls[0], map[string]any{"listener": map[string]any{}}); r.status != 409 && r.status != 404 {
		t.Errorf("update of a deleted listener: %d %s", r.status, r.raw)
	}
	h.waitGone("/v2/lbaas/listeners/" + ls[0])
	h.waitStatus(lbPath, "loadbalancer", "ACTIVE")
	if n := len(h.must(200, "GET", lbPath, nil).obj("loadbalancer")["listeners"].([]any)); n != 2 {
		t.Errorf("%d listeners left, want 2", n)
	}
}

func TestScenarioPool(t *testing.T) {
	h := newHarness(t, harnessOpts{controller: true})
	lbID := h.createLB("p")
	listener := h.must(201, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": lbID, "protocol": "HTTP", "protocol_port": 80}}).obj("listener")["id"].(string)
	p1 := h.must(201, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"listener_id": listener, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
		"session_persistence": map[string]any{"type": "APP_COOKIE", "cookie_name": "SESS"}}}).obj("pool")
	p2 := h.must(201, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"loadbalancer_id": lbID, "protocol": "PROXY", "lb_algorithm": "SOURCE_IP", "tls_enabled": true}}).obj("pool")
	if p2["tls_ciphers"] != lb.DefaultTLSCiphers || len(p2["tls_versions"].([]any)) != 2 {
		t.Errorf("tls_enabled defaults: %v", p2)
	}
	if p1["listeners"].([]any)[0].(map[string]any)["id"] != listener || p1["loadbalancers"].([]any)[0].(map[string]any)["id"] != lbID {
		t.Errorf("back references: %v", p1)
	}
	id1, id2 := p1["id"].(string), p2["id"].(string)
	h.waitStatus("/v2/lbaas/pools/"+id1, "pool", "ACTIVE")
	if got := h.must(200, "GET", "/v2/lbaas/listeners/"+listener, nil).obj("listener")["default_pool_id"]; got != id1 {
		t.Errorf("listener default_pool_id %v", got)
	}
	u := h.must(200, "PUT", "/v2/lbaas/pools/"+id1, map[string]any{"pool": map[string]any{"lb_algorithm": "LEAST_CONNECTIONS", "session_persistence": map[string]any{"cookie_name": "OTHER"}}}).obj("pool")
	sp := u["session_persistence"].(map[string]any)
	if u["lb_algorithm"] != "LEAST_CONNECTIONS" || sp["type"] != "APP_COOKIE" || sp["cookie_name"] != "OTHER" || u["provisioning_status"] != "PENDING_UPDATE" {
		t.Fatalf("update %v", u)
	}
	if got := h.must(200, "GET", "/v2/lbaas/listeners/"+listener, nil).obj("listener")["provisioning_status"]; got != "PENDING_UPDATE" && got != "ACTIVE" {
		t.Errorf("listener of an updated pool: %v", got)
	}
	u = h.must(200, "PUT", "/v2/lbaas/pools/"+id1, map[string]any{"pool": map[string]any{"session_persistence": nil}}).obj("pool")
	if u["session_persistence"] != nil {
		t.Errorf("session_persistence null: %v", u["session_persistence"])
	}
	h.waitStatus("/v2/lbaas/pools/"+id1, "pool", "ACTIVE")
	if got := ids(h.must(200, "GET", "/v2/lbaas/pools?protocol=PROXY", nil), "pools"); !slices.Equal(got, []string{id2}) {
		t.Errorf("filter protocol: %v", got)
	}
	if got := ids(h.must(200, "GET", "/v2/lbaas/pools?loadbalancer_id="+lbID+"&sort=lb_algorithm:desc", nil), "pools"); !slices.Equal(got, []string{id2, id1}) {
		t.Errorf("sort: %v", got)
	}
	if got := h.walk("/v2/lbaas/pools?limit=1", "pools"); !slices.Equal(got, []string{id1, id2}) {
		t.Errorf("pages: %v", got)
	}
	// A pool used by an L7 policy cannot be deleted.
	ctx := context.Background()
	pol := &lb.L7Policy{ID: uuidB, ProjectID: "p1", ListenerID: listener, LoadBalancerID: lbID, AdminStateUp: true,
		Status: lb.Status{Provisioning: lb.Active, Operating: lb.Online}, Action: lb.ActionRedirectToPool, Position: 1,
		RedirectPoolID: id2, Times: lb.Times{CreatedAt: time.Now()}}
	if err := h.store.Update(ctx, func(tx store.Tx) error { return tx.L7Policies().Create(ctx, pol) }); err != nil {
		t.Fatal(err)
	}
	if r := h.must(409, "DELETE", "/v2/lbaas/pools/"+id2, nil); r.fault() != "Pool "+id2+" is in use by L7 policy "+uuidB {
		t.Errorf("in use: %q", r.fault())
	}
	// Deleting the default pool takes its members and monitor and detaches it.
	h.must(201, "POST", "/v2/lbaas/pools/"+id1+"/members", map[string]any{"member": map[string]any{"address": "192.0.2.1", "protocol_port": 80}})
	hm := h.must(201, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{"pool_id": id1, "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}}).obj("healthmonitor")["id"].(string)
	h.must(204, "DELETE", "/v2/lbaas/pools/"+id1, nil)
	if got := h.must(200, "GET", "/v2/lbaas/listeners/"+listener, nil).obj("listener")["default_pool_id"]; got != nil {
		t.Errorf("default_pool_id after pool delete: %v", got)
	}
	h.waitGone("/v2/lbaas/pools/" + id1)
	h.waitGone("/v2/lbaas/healthmonitors/" + hm)
	h.waitStatus("/v2/lbaas/loadbalancers/"+lbID, "loadbalancer", "ACTIVE")
}

func TestScenarioMember(t *testing.T) {
	h := newHarness(t, harnessOpts{controller: true})
	lbID := h.createLB("m")
	pool := h.must(201, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"loadbalancer_id": lbID, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}).obj("pool")["id"].(string)
	other := h.must(201, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"loadbalancer_id": lbID, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}).obj("pool")["id"].(string)
	base := "/v2/lbaas/pools/" + pool + "/members"
	var ms []string
	for i, addr := range []string{"192.0.2.3", "192.0.2.1", "2001:db8::2"} {
		r := h.must(201, "POST", base, map[string]any{"member": map[string]any{"address": addr, "protocol_port": 8080, "weight": i + 1, "monitor_port": 9000, "name": "m" + addr}})
		ms = append(ms, r.obj("member")["id"].(string))
	}
	if r := h.must(409, "POST", base, map[string]any{"member": map[string]any{"address": "192.0.2.1", "protocol_port": 8080}}); r.fault() != "Another member on this pool is already using ip 192.0.2.1 on protocol_port 8080" {
		t.Errorf("duplicate: %q", r.fault())
	}
	h.must(201, "POST", "/v2/lbaas/pools/"+other+"/members", map[string]any{"member": map[string]any{"address": "192.0.2.1", "protocol_port": 8080}})
	h.waitStatus(base+"/"+ms[0], "member", "ACTIVE")
	m := h.must(200, "GET", base+"/"+ms[0], nil).obj("member")
	if m["operating_status"] != "NO_MONITOR" || m["monitor_port"] != float64(9000) || m["subnet_id"] != nil {
		t.Errorf("member %v", m)
	}
	h.must(404, "GET", "/v2/lbaas/pools/"+other+"/members/"+ms[0], nil)
	u := h.must(200, "PUT", base+"/"+ms[0], map[string]any{"member": map[string]any{"weight": 0, "monitor_port": nil, "tags": []any{"x"}}}).obj("member")
	if u["weight"] != float64(0) || u["monitor_port"] != nil || u["provisioning_status"] != "PENDING_UPDATE" {
		t.Errorf("update %v", u)
	}
	h.waitStatus("/v2/lbaas/pools/"+pool, "pool", "ACTIVE")
	if got := ids(h.must(200, "GET", base+"?sort=weight", nil), "members"); !slices.Equal(got, []string{ms[0], ms[1], ms[2]}) {
		t.Errorf("sort weight: %v", got)
	}
	if got := ids(h.must(200, "GET", base+"?address=192.0.2.1", nil), "members"); !slices.Equal(got, ms[1:2]) {
		t.Errorf("filter address (this pool only): %v", got)
	}
	if got := h.walk(base+"?limit=2&sort=address:desc", "members"); !slices.Equal(got, []string{ms[2], ms[0], ms[1]}) {
		t.Errorf("pages: %v", got)
	}
	if r := h.must(200, "GET", base+"?fields=address", nil); len(r.list("members")) != 3 || len(r.list("members")[0].(map[string]any)) != 1 {
		t.Errorf("fields: %s", r.raw)
	}
	h.must(204, "DELETE", base+"/"+ms[1], nil)
	if r := h.do("DELETE", base+"/"+ms[1], nil); r.status != 409 && r.status != 404 {
		t.Errorf("second delete %d", r.status)
	}
	h.waitGone(base + "/" + ms[1])
	if n := len(h.must(200, "GET", "/v2/lbaas/pools/"+pool, nil).obj("pool")["members"].([]any)); n != 2 {
		t.Errorf("%d members left", n)
	}
}

func TestScenarioHealthMonitor(t *testing.T) {
	h := newHarness(t, harnessOpts{controller: true})
	lbID := h.createLB("h")
	var pools []string
	for _, proto := range []string{"HTTP", "UDP"} {
		pools = append(pools, h.must(201, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"loadbalancer_id": lbID, "protocol": proto, "lb_algorithm": "ROUND_ROBIN"}}).obj("pool")["id"].(string))
	}
	hm1 := h.must(201, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{"pool_id": pools[0], "type": "HTTPS", "delay": "10", "timeout": 5, "max_retries": 2,
		"http_version": 1.1, "domain_name": "example.com", "url_path": "/health", "expected_codes": "200,202"}}).obj("healthmonitor")
	if hm1["http_version"] != 1.1 || hm1["pools"].([]any)[0].(map[string]any)["id"] != pools[0] || hm1["delay"] != float64(10) {
		t.Errorf("create %v", hm1)
	}
	if r := h.must(409, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{"pool_id": pools[0], "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}}); r.fault() != "This pool already has a health monitor" {
		t.Errorf("second monitor: %q", r.fault())
	}
	hm2 := h.must(201, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{"pool_id": pools[1], "type": "UDP-CONNECT", "delay": 3, "timeout": 3, "max_retries": 3}}).obj("healthmonitor")
	id1, id2 := hm1["id"].(string), hm2["id"].(string)
	h.waitStatus("/v2/lbaas/healthmonitors/"+id1, "healthmonitor", "ACTIVE")
	u := h.must(200, "PUT", "/v2/lbaas/healthmonitors/"+id1, map[string]any{"healthmonitor": map[string]any{"http_version": nil, "domain_name": nil, "delay": 20}}).obj("healthmonitor")
	if u["http_version"] != nil || u["domain_name"] != nil || u["delay"] != float64(20) || u["provisioning_status"] != "PENDING_UPDATE" {
		t.Errorf("update %v", u)
	}
	if r := h.must(400, "PUT", "/v2/lbaas/healthmonitors/"+id2, map[string]any{"healthmonitor": map[string]any{"delay": 1}}); r.fault() != "Validation failure: The request delay value 1 should be larger than 3 for UDP-CONNECT health monitor type." {
		t.Errorf("UDP delay update: %q", r.fault())
	}
	h.waitStatus("/v2/lbaas/healthmonitors/"+id1, "healthmonitor", "ACTIVE")
	if got := ids(h.must(200, "GET", "/v2/lbaas/healthmonitors?type=UDP-CONNECT", nil), "healthmonitors"); !slices.Equal(got, []string{id2}) {
		t.Errorf("filter type: %v", got)
	}
	if got := ids(h.must(200, "GET", "/v2/lbaas/healthmonitors?sort=delay:desc", nil), "healthmonitors"); !slices.Equal(got, []string{id1, id2}) {
		t.Errorf("sort delay: %v", got)
	}
	if got := h.walk("/v2/lbaas/healthmonitors?limit=1", "healthmonitors"); !slices.Equal(got, []string{id1, id2}) {
		t.Errorf("pages: %v", got)
	}
	if got := h.must(200, "GET", "/v2/lbaas/pools/"+pools[0], nil).obj("pool")["healthmonitor_id"]; got != id1 {
		t.Errorf("pool healthmonitor_id %v", got)
	}
	h.must(204, "DELETE", "/v2/lbaas/healthmonitors/"+id1, nil)
	h.waitGone("/v2/lbaas/healthmonitors/" + id1)
	h.waitStatus("/v2/lbaas/pools/"+pools[0], "pool", "ACTIVE")
	if _, ok := h.must(200, "GET", "/v2/lbaas/pools/"+pools[0], nil).obj("pool")["healthmonitor_id"]; ok {
		t.Errorf("healthmonitor_id still present")
	}
	// Now the pool has no monitor: a new one is accepted again.
	h.must(201, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{"pool_id": pools[0], "type": "PING", "delay": 5, "timeout": 3, "max_retries": 3}})
}
