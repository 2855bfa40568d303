package security

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The network endpoint serves two load-balancing APIs besides the Octavia
// endpoint: Neutron-LBaaS v2 (/networking/v2.0/lbaas/...) and LBaaS v1
// (/networking/v2.0/lb/..., also at the root as /v2.0/lb/...), the v1 one
// a translation onto load balancers. Each is a way in to the same objects,
// so each must keep one project out of another's: these tests try.

// lbaasWorld is two member users of two projects, each with a network and
// subnet of their own (not shared).
type lbaasWorld struct {
	c                      *cloud
	alice, bob             *session
	aliceSubnet, bobSubnet string
}

func lbaasSetup(t *testing.T) *lbaasWorld {
	t.Helper()
	c := newCloud(t)
	w := &lbaasWorld{c: c, alice: c.user(t, "lbc-a", "alice", "member"), bob: c.user(t, "lbc-b", "bob", "member")}
	subnet := func(s *session, name, cidr string) string {
		network := netID(s.must(t, "POST", "/networking/v2.0/networks", netBody("network", map[string]any{"name": name}), 201), "network")
		return netID(s.must(t, "POST", "/networking/v2.0/subnets", netBody("subnet", map[string]any{"network_id": network, "cidr": cidr}), 201), "subnet")
	}
	w.aliceSubnet = subnet(w.alice, "lbc-a-net", "127.71.0.0/24")
	w.bobSubnet = subnet(w.bob, "lbc-b-net", "127.72.0.0/24")
	return w
}

// lbaasCreate posts body at path as s (201 wanted) and returns the id of
// the object under key; then it waits for load balancer lbID (if any) to be
// ACTIVE again, as the next write on it needs.
func lbaasCreate(t *testing.T, s *session, path, key string, body map[string]any, lbID string) string {
	t.Helper()
	r := s.must(t, "POST", path, map[string]any{key: body}, 201)
	id := str(r.body, key, "id")
	if id == "" {
		t.Fatalf("POST %s: no id in %s", path, r.raw)
	}
	if lbID == "" {
		lbID = id
	}
	s.waitLB(t, lbID, "ACTIVE", 60*time.Second)
	return id
}

// lbaasRefused fails the test unless r is a refusal: 403 or 404 (as the
// API in question answers another project's object), with a Neutron fault
// body, and nothing of the victim's ids in it.
func lbaasRefused(t *testing.T, what string, r reply, codes []int, secrets ...string) {
	t.Helper()
	ok := false
	for _, c := range codes {
		ok = ok || r.code == c
	}
	if !ok {
		t.Errorf("%s: %d, want one of %v (refused): %s", what, r.code, codes, r.raw)
		return
	}
	if str(r.body, "NeutronError", "type") == "" {
		t.Errorf("%s: %d without a Neutron fault body: %s", what, r.code, r.raw)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(string(r.raw), s) {
			t.Errorf("%s: the refusal names %s: %s", what, s, r.raw)
		}
	}
}

// lbaasNotListed fails the test if a list answer mentions any of ids. A
// 403 is a refusal too: Octavia refuses a member's list filtered by
// another project.
func lbaasNotListed(t *testing.T, what string, r reply, ids ...string) {
	t.Helper()
	if r.code == 403 && str(r.body, "NeutronError", "type") != "" && !contains(r.raw, ids...) {
		return
	}
	if r.code != 200 {
		t.Errorf("%s: %d %s", what, r.code, r.raw)
		return
	}
	for _, id := range ids {
		if strings.Contains(string(r.raw), id) {
			t.Errorf("%s lists another project's object %s: %s", what, id, r.raw)
		}
	}
}

// TestLBaaSCompatTenantIsolationNeutronV2 crosses tenant ↔ tenant through
// Neutron-LBaaS v2 at the network endpoint: bob (member of another
// project) tries to read, list, change, delete and attach to alice's load
// balancer tree, and to put a load balancer on alice's subnet. Each is
// refused as the Octavia endpoint refuses it (403 for an object of another
// project, 404 for one the caller may not look up), with Neutron's fault
// body, and alice's objects are as she left them.
func TestLBaaSCompatTenantIsolationNeutronV2(t *testing.T) {
	w := lbaasSetup(t)
	alice, bob := w.alice, w.bob
	const v2 = "/networking/v2.0/lbaas"
	lbID := lbaasCreate(t, alice, v2+"/loadbalancers", "loadbalancer", map[string]any{"name": "a-lb", "vip_subnet_id": w.aliceSubnet}, "")
	listener := lbaasCreate(t, alice, v2+"/listeners", "listener", map[string]any{"name": "a-listener", "loadbalancer_id": lbID, "protocol": "HTTP", "protocol_port": 18301}, lbID)
	pool := lbaasCreate(t, alice, v2+"/pools", "pool", map[string]any{"name": "a-pool", "listener_id": listener, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}, lbID)
	member := lbaasCreate(t, alice, v2+"/pools/"+pool+"/members", "member", map[string]any{"address": "127.71.0.50", "protocol_port": 8080, "subnet_id": w.aliceSubnet}, lbID)
	hm := lbaasCreate(t, alice, v2+"/healthmonitors", "healthmonitor", map[string]any{"pool_id": pool, "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 2}, lbID)
	policyID := lbaasCreate(t, alice, v2+"/l7policies", "l7policy", map[string]any{"listener_id": listener, "action": "REJECT", "name": "a-policy"}, lbID)
	rule := lbaasCreate(t, alice, v2+"/l7policies/"+policyID+"/rules", "rule", map[string]any{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/admin"}, lbID)
	ids := []string{lbID, listener, pool, member, hm, policyID, rule}
	both := []int{403, 404}

	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", v2 + "/loadbalancers/" + lbID, nil},
		{"PUT", v2 + "/loadbalancers/" + lbID, map[string]any{"loadbalancer": map[string]any{"name": "bob-was-here"}}},
		{"DELETE", v2 + "/loadbalancers/" + lbID, nil},
		{"DELETE", v2 + "/loadbalancers/" + lbID + "?cascade=true", nil},
		{"GET", v2 + "/loadbalancers/" + lbID + "/status", nil},
		{"GET", v2 + "/loadbalancers/" + lbID + "/statuses", nil},
		{"GET", v2 + "/loadbalancers/" + lbID + "/stats", nil},
		{"PUT", v2 + "/loadbalancers/" + lbID + "/failover", nil},
		{"GET", v2 + "/listeners/" + listener, nil},
		{"PUT", v2 + "/listeners/" + listener, map[string]any{"listener": map[string]any{"connection_limit": 1}}},
		{"DELETE", v2 + "/listeners/" + listener, nil},
		{"GET", v2 + "/listeners/" + listener + "/stats", nil},
		{"POST", v2 + "/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": lbID, "protocol": "TCP", "protocol_port": 18302}}},
		{"GET", v2 + "/pools/" + pool, nil},
		{"PUT", v2 + "/pools/" + pool, map[string]any{"pool": map[string]any{"lb_algorithm": "SOURCE_IP"}}},
		{"DELETE", v2 + "/pools/" + pool, nil},
		{"POST", v2 + "/pools", map[string]any{"pool": map[string]any{"loadbalancer_id": lbID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}},
		{"GET", v2 + "/pools/" + pool + "/members", nil},
		{"GET", v2 + "/pools/" + pool + "/members/" + member, nil},
		{"PUT", v2 + "/pools/" + pool + "/members/" + member, map[string]any{"member": map[string]any{"weight": 0}}},
		{"DELETE", v2 + "/pools/" + pool + "/members/" + member, nil},
		{"POST", v2 + "/pools/" + pool + "/members", map[string]any{"member": map[string]any{"address": "127.72.0.9", "protocol_port": 80}}},
		{"PUT", v2 + "/pools/" + pool + "/members", map[string]any{"members": []any{}}},
		{"GET", v2 + "/healthmonitors/" + hm, nil},
		{"PUT", v2 + "/healthmonitors/" + hm, map[string]any{"healthmonitor": map[string]any{"delay": 60}}},
		{"DELETE", v2 + "/healthmonitors/" + hm, nil},
		{"GET", v2 + "/l7policies/" + policyID, nil},
		{"PUT", v2 + "/l7policies/" + policyID, map[string]any{"l7policy": map[string]any{"action": "REDIRECT_TO_POOL", "redirect_pool_id": pool}}},
		{"DELETE", v2 + "/l7policies/" + policyID, nil},
		{"POST", v2 + "/l7policies", map[string]any{"l7policy": map[string]any{"listener_id": listener, "action": "REJECT"}}},
		{"GET", v2 + "/l7policies/" + policyID + "/rules", nil},
		{"GET", v2 + "/l7policies/" + policyID + "/rules/" + rule, nil},
		{"PUT", v2 + "/l7policies/" + policyID + "/rules/" + rule, map[string]any{"rule": map[string]any{"value": "/"}}},
		{"DELETE", v2 + "/l7policies/" + policyID + "/rules/" + rule, nil},
		{"POST", v2 + "/l7policies/" + policyID + "/rules", map[string]any{"rule": map[string]any{"type": "PATH", "compare_type": "EQUAL_TO", "value": "/x"}}},
		// A load balancer of bob's own on alice's subnet.
		{"POST", v2 + "/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": w.aliceSubnet}}},
		// One in alice's project, named by bob.
		{"POST", v2 + "/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": w.bobSubnet, "project_id": alice.project}}},
		{"POST", v2 + "/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": w.bobSubnet, "tenant_id": alice.project}}},
	} {
		what := c.method + " " + c.path
		codes := both
		if strings.HasSuffix(c.path, "/loadbalancers") && c.method == "POST" {
			codes = []int{400, 403, 404} // a subnet bob may not use is Octavia's 400
		}
		lbaasRefused(t, "bob: "+what, bob.call(t, c.method, c.path, c.body), codes, alice.project)
	}

	// Lists, filtered by alice's project or not, show bob nothing of hers.
	for _, p := range []string{"/loadbalancers", "/listeners", "/pools", "/healthmonitors", "/l7policies"} {
		for _, q := range []string{"", "?project_id=" + alice.project, "?tenant_id=" + alice.project, "?id=" + lbID} {
			lbaasNotListed(t, "bob: GET "+v2+p+q, bob.call(t, "GET", v2+p+q, nil), ids...)
		}
	}

	// Alice's tree is as she left it.
	got := alice.waitLB(t, lbID, "ACTIVE", 30*time.Second)
	if str(got, "name") != "a-lb" {
		t.Errorf("alice's load balancer after bob's calls: %v", got)
	}
	for path, key := range map[string]string{
		v2 + "/listeners/" + listener: "listener", v2 + "/pools/" + pool: "pool", v2 + "/pools/" + pool + "/members/" + member: "member",
		v2 + "/healthmonitors/" + hm: "healthmonitor", v2 + "/l7policies/" + policyID: "l7policy", v2 + "/l7policies/" + policyID + "/rules/" + rule: "rule",
	} {
		r := alice.must(t, "GET", path, nil, 200)
		if str(r.body, key, "provisioning_status") != "ACTIVE" {
			t.Errorf("alice's %s after bob's calls: %s", key, r.raw)
		}
	}
	if r := alice.must(t, "GET", v2+"/healthmonitors/"+hm, nil, 200); str(r.body, "healthmonitor", "delay") != "5" {
		t.Errorf("alice's health monitor changed: %s", r.raw)
	}
	if r := alice.must(t, "GET", v2+"/pools/"+pool+"/members", nil, 200); !strings.Contains(string(r.raw), member) {
		t.Errorf("alice's members after bob's batch update: %s", r.raw)
	}
	lbaasNoToken(t, w, lbID)
}

// lbaasNoToken: without a token, or with a forged one, every
// load-balancing path of the network endpoint (and v1 at the root) is a
// 401 that shows nothing.
func lbaasNoToken(t *testing.T, w *lbaasWorld, lbID string) {
	t.Helper()
	for _, token := range []string{"", "gAAAAA-forged-token"} {
		s := &session{base: w.c.s.URL, token: token, hc: w.alice.hc}
		for _, c := range []struct{ method, path string }{
			{"GET", "/networking/v2.0/lbaas/loadbalancers"},
			{"GET", "/networking/v2.0/lbaas/loadbalancers/" + lbID},
			{"DELETE", "/networking/v2.0/lbaas/loadbalancers/" + lbID},
			{"GET", "/networking/v2.0/lb/pools"},
			{"POST", "/networking/v2.0/lb/pools"},
			{"GET", "/v2.0/lb/pools"},
			{"GET", "/v2.0/lb/health_monitors"},
			{"GET", "/networking/v2.0/quotas"},
			{"GET", "/networking/v2.0/quotas/" + w.alice.project},
			{"PUT", "/networking/v2.0/quotas/" + w.alice.project},
		} {
			var body any
			if c.method != "GET" && c.method != "DELETE" {
				body = map[string]any{"quota": map[string]any{"loadbalancer": 1}}
			}
			r := s.call(t, c.method, c.path, body)
			if r.code != 401 || strings.Contains(string(r.raw), lbID) {
				t.Errorf("token %q: %s %s: %d %s, want 401", token, c.method, c.path, r.code, r.raw)
			}
		}
	}
}

// TestLBaaSCompatTenantIsolationV1 crosses tenant ↔ tenant through the
// LBaaS v1 translation, at the network endpoint and at the root: bob tries
// every v1 call on alice's pool, VIP, member and health monitor, to put his
// monitor on her pool and hers on his, to add a member or a VIP to her
// pool, to make a pool on her subnet or in her project. v1, like Neutron,
// answers another project's object with a 404 (naming nothing of hers); a
// create for another project is a 403. Alice's objects are untouched, and
// lists show bob nothing of hers.
func TestLBaaSCompatTenantIsolationV1(t *testing.T) {
	w := lbaasSetup(t)
	alice, bob := w.alice, w.bob
	const net = "/networking/v2.0/lb"
	poolOf := func(s *session, name, subnet string) (pool, lbID string) {
		t.Helper()
		r := s.must(t, "POST", net+"/pools", map[string]any{"pool": map[string]any{"name": name, "subnet_id": subnet, "protocol": "HTTP", "lb_method": "ROUND_ROBIN"}}, 201)
		pool = str(r.body, "pool", "id")
		// The pool's load balancer, as the Octavia endpoint shows it.
		l := s.must(t, "GET", "/v2/lbaas/pools/"+pool, nil, 200)
		lbID = str(l.body, "pool", "loadbalancers")
		if lbs, _ := l.body["pool"].(map[string]any)["loadbalancers"].([]any); len(lbs) == 1 {
			lbID = str(lbs[0].(map[string]any), "id")
		}
		s.waitLB(t, lbID, "ACTIVE", 60*time.Second)
		return pool, lbID
	}
	pool, lbID := poolOf(alice, "a-pool", w.aliceSubnet)
	member := str(alice.must(t, "POST", net+"/members", map[string]any{"member": map[string]any{"pool_id": pool, "address": "127.71.0.60", "protocol_port": 8080}}, 201).body, "member", "id")
	alice.waitLB(t, lbID, "ACTIVE", 60*time.Second)
	hm := str(alice.must(t, "POST", net+"/health_monitors", map[string]any{"health_monitor": map[string]any{"type": "TCP", "delay": 5, "timeout": 3, "max_retries": 2}}, 201).body, "health_monitor", "id")
	alice.must(t, "POST", net+"/pools/"+pool+"/health_monitors", map[string]any{"health_monitor": map[string]any{"id": hm}}, 201)
	alice.waitLB(t, lbID, "ACTIVE", 60*time.Second)
	vip := str(alice.must(t, "POST", net+"/vips", map[string]any{"vip": map[string]any{"name": "a-vip", "pool_id": pool, "subnet_id": w.aliceSubnet, "protocol": "HTTP", "protocol_port": 18311}}, 201).body, "vip", "id")
	alice.waitLB(t, lbID, "ACTIVE", 60*time.Second)

	bobPool, bobLB := poolOf(bob, "b-pool", w.bobSubnet)
	bobHM := str(bob.must(t, "POST", net+"/health_monitors", map[string]any{"health_monitor": map[string]any{"type": "TCP", "delay": 5, "timeout": 3, "max_retries": 2}}, 201).body, "health_monitor", "id")
	ids := []string{pool, member, hm, vip, lbID}
	notFound := []int{404}

	for _, prefix := range []string{net, "/v2.0/lb"} {
		for _, c := range []struct {
			method, path string
			body         any
			onSubnet     bool // refused for alice's subnet, not her object
		}{
			{"GET", "/pools/" + pool, nil, false},
			{"PUT", "/pools/" + pool, map[string]any{"pool": map[string]any{"name": "bob-was-here"}}, false},
			{"PUT", "/pools/" + pool, map[string]any{"pool": map[string]any{"health_monitors": []string{}}}, false},
			{"DELETE", "/pools/" + pool, nil, false},
			{"GET", "/pools/" + pool + "/stats", nil, false},
			{"POST", "/pools/" + pool + "/health_monitors", map[string]any{"health_monitor": map[string]any{"id": bobHM}}, false},
			{"GET", "/pools/" + pool + "/health_monitors/" + hm, nil, false},
			{"DELETE", "/pools/" + pool + "/health_monitors/" + hm, nil, false},
			// Alice's monitor on bob's own pool.
			{"POST", "/pools/" + bobPool + "/health_monitors", map[string]any{"health_monitor": map[string]any{"id": hm}}, false},
			{"GET", "/vips/" + vip, nil, false},
			{"PUT", "/vips/" + vip, map[string]any{"vip": map[string]any{"connection_limit": 1}}, false},
			{"DELETE", "/vips/" + vip, nil, false},
			{"POST", "/vips", map[string]any{"vip": map[string]any{"pool_id": pool, "subnet_id": w.bobSubnet, "protocol": "HTTP", "protocol_port": 18312}}, false},
			{"GET", "/members/" + member, nil, false},
			{"PUT", "/members/" + member, map[string]any{"member": map[string]any{"weight": 0}}, false},
			{"DELETE", "/members/" + member, nil, false},
			{"POST", "/members", map[string]any{"member": map[string]any{"pool_id": pool, "address": "127.72.0.61", "protocol_port": 8080}}, false},
			{"GET", "/health_monitors/" + hm, nil, false},
			{"PUT", "/health_monitors/" + hm, map[string]any{"health_monitor": map[string]any{"delay": 60}}, false},
			{"DELETE", "/health_monitors/" + hm, nil, false},
			// Bob's pool, made on alice's subnet: her subnet is not his to use.
			{"POST", "/pools", map[string]any{"pool": map[string]any{"subnet_id": w.aliceSubnet, "protocol": "HTTP", "lb_method": "ROUND_ROBIN"}}, true},
			// A VIP of bob's pool placed on alice's subnet.
			{"POST", "/vips", map[string]any{"vip": map[string]any{"pool_id": bobPool, "subnet_id": w.aliceSubnet, "protocol": "HTTP", "protocol_port": 18313}}, true},
		} {
			what := fmt.Sprintf("bob: %s %s%s", c.method, prefix, c.path)
			codes := notFound
			if c.onSubnet {
				codes = []int{400, 404} // a subnet bob may not use
			}
			lbaasRefused(t, what, bob.call(t, c.method, prefix+c.path, c.body), codes, alice.project)
			bob.waitLB(t, bobLB, "ACTIVE", 60*time.Second)
		}
		// Objects made in alice's project by bob: the create rules' 403.
		for _, c := range []struct {
			path string
			body any
		}{
			{"/pools", map[string]any{"pool": map[string]any{"tenant_id": alice.project, "subnet_id": w.bobSubnet, "protocol": "HTTP", "lb_method": "ROUND_ROBIN"}}},
			{"/health_monitors", map[string]any{"health_monitor": map[string]any{"tenant_id": alice.project, "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 2}}},
			{"/members", map[string]any{"member": map[string]any{"tenant_id": alice.project, "pool_id": pool, "address": "127.72.0.62", "protocol_port": 8080}}},
		} {
			lbaasRefused(t, "bob: POST "+prefix+c.path+" with alice's tenant_id", bob.call(t, "POST", prefix+c.path, c.body), []int{403, 404})
		}
		for _, p := range []string{"/pools", "/vips", "/members", "/health_monitors"} {
			for _, q := range []string{"", "?tenant_id=" + alice.project, "?id=" + pool, "?pool_id=" + pool, "?fields=id&fields=tenant_id"} {
				lbaasNotListed(t, "bob: GET "+prefix+p+q, bob.call(t, "GET", prefix+p+q, nil), ids...)
			}
		}
	}

	// Alice's objects as she made them; bob's pool got none of hers.
	alice.waitLB(t, lbID, "ACTIVE", 30*time.Second)
	p := alice.must(t, "GET", net+"/pools/"+pool, nil, 200)
	if str(p.body, "pool", "name") != "a-pool" || str(p.body, "pool", "vip_id") != vip || !strings.Contains(string(p.raw), hm) {
		t.Errorf("alice's pool after bob's calls: %s", p.raw)
	}
	if m := alice.must(t, "GET", net+"/members/"+member, nil, 200); str(m.body, "member", "weight") != "1" {
		t.Errorf("alice's member after bob's calls: %s", m.raw)
	}
	if v := alice.must(t, "GET", net+"/vips/"+vip, nil, 200); str(v.body, "vip", "connection_limit") != "-1" {
		t.Errorf("alice's VIP after bob's calls: %s", v.raw)
	}
	if h := alice.must(t, "GET", net+"/health_monitors/"+hm, nil, 200); str(h.body, "health_monitor", "delay") != "5" {
		t.Errorf("alice's monitor after bob's calls: %s", h.raw)
	}
	if b := bob.must(t, "GET", net+"/pools/"+bobPool, nil, 200); strings.Contains(string(b.raw), hm) {
		t.Errorf("bob's pool carries alice's monitor: %s", b.raw)
	}
	// Bob's own objects still work for him (the refusals above were not
	// refusals of everything).
	bob.must(t, "POST", net+"/pools/"+bobPool+"/health_monitors", map[string]any{"health_monitor": map[string]any{"id": bobHM}}, 201)
}

// TestLBaaSCompatHostileBodies sends the network endpoint's load-balancing
// APIs (v1, Neutron-LBaaS v2, the merged quota API) bodies no client
// should send: wrong types, out-of-range numbers, unknown and read-only
// attributes, bad UUIDs and addresses, values too long, bodies that are not
// JSON or not objects. Each is a 400 whose message names the field (or
// says the body is malformed); none is a 5xx, and nothing is created.
func TestLBaaSCompatHostileBodies(t *testing.T) {
	w := lbaasSetup(t)
	alice := w.alice
	const net = "/networking/v2.0/lb"
	pool := str(alice.must(t, "POST", net+"/pools", map[string]any{"pool": map[string]any{"subnet_id": w.aliceSubnet, "protocol": "HTTP", "lb_method": "ROUND_ROBIN"}}, 201).body, "pool", "id")
	poolBody := func(extra map[string]any) map[string]any {
		b := map[string]any{"subnet_id": w.aliceSubnet, "protocol": "HTTP", "lb_method": "ROUND_ROBIN"}
		for k, v := range extra {
			b[k] = v
		}
		return map[string]any{"pool": b}
	}
	memberBody := func(extra map[string]any) map[string]any {
		b := map[string]any{"pool_id": pool, "address": "127.71.0.70", "protocol_port": 8080}
		for k, v := range extra {
			b[k] = v
		}
		return map[string]any{"member": b}
	}
	vipBody := func(extra map[string]any) map[string]any {
		b := map[string]any{"pool_id": pool, "subnet_id": w.aliceSubnet, "protocol": "HTTP", "protocol_port": 18321}
		for k, v := range extra {
			b[k] = v
		}
		return map[string]any{"vip": b}
	}
	hmBody := func(extra map[string]any) map[string]any {
		b := map[string]any{"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2}
		for k, v := range extra {
			b[k] = v
		}
		return map[string]any{"health_monitor": b}
	}
	long := strings.Repeat("x", 256)
	const v2 = "/networking/v2.0/lbaas"
	quota := "/networking/v2.0/quotas/" + url.PathEscape(alice.project)
	for _, c := range []struct {
		method, path string
		body         any // a string is sent as it is
		field        string
	}{
		{"POST", net + "/pools", `{"pool": `, "Malformed"},
		{"POST", net + "/pools", `[1, 2]`, "Malformed"},
		{"POST", net + "/pools", `{"pool": [1]}`, "pool"},
		{"POST", net + "/pools", `{"pool": null}`, "Resource body required"},
		{"POST", net + "/pools", poolBody(map[string]any{"protocol": "UDP"}), "protocol"},
		{"POST", net + "/pools", poolBody(map[string]any{"protocol": []string{"HTTP"}}), "protocol"},
		{"POST", net + "/pools", poolBody(map[string]any{"lb_method": 7}), "lb_method"},
		{"POST", net + "/pools", poolBody(map[string]any{"subnet_id": "not-a-uuid"}), "subnet_id"},
		{"POST", net + "/pools", poolBody(map[string]any{"subnet_id": nil}), "subnet_id"},
		{"POST", net + "/pools", poolBody(map[string]any{"name": long}), "name"},
		{"POST", net + "/pools", poolBody(map[string]any{"admin_state_up": "maybe"}), "admin_state_up"},
		{"POST", net + "/pools", poolBody(map[string]any{"health_monitors": "all"}), "health_monitors"},
		{"POST", net + "/pools", poolBody(map[string]any{"health_monitors": []any{"x"}}), "health_monitors"},
		{"POST", net + "/pools", poolBody(map[string]any{"provider": "f5"}), "f5"},
		{"POST", net + "/pools", poolBody(map[string]any{"id": "3b9f7a52-6d1e-4c6a-9a43-5a0d2c9b2f10"}), "id"},
		{"POST", net + "/pools", poolBody(map[string]any{"bogus": 1}), "bogus"},
		{"PUT", net + "/pools/" + pool, map[string]any{"pool": map[string]any{"protocol": "TCP"}}, "protocol"},
		{"PUT", net + "/pools/" + pool, map[string]any{"pool": map[string]any{"subnet_id": w.bobSubnet}}, "subnet_id"},
		{"POST", net + "/members", memberBody(map[string]any{"address": "300.1.1.1"}), "address"},
		{"POST", net + "/members", memberBody(map[string]any{"address": 12}), "address"},
		{"POST", net + "/members", memberBody(map[string]any{"protocol_port": 70000}), "protocol_port"},
		{"POST", net + "/members", memberBody(map[string]any{"protocol_port": "http"}), "protocol_port"},
		{"POST", net + "/members", memberBody(map[string]any{"protocol_port": 1e40}), "protocol_port"},
		{"POST", net + "/members", memberBody(map[string]any{"weight": 257}), "weight"},
		{"POST", net + "/members", memberBody(map[string]any{"weight": -1}), "weight"},
		{"POST", net + "/members", memberBody(map[string]any{"pool_id": "x"}), "pool_id"},
		{"POST", net + "/health_monitors", hmBody(map[string]any{"type": "SMTP"}), "type"},
		{"POST", net + "/health_monitors", hmBody(map[string]any{"delay": -1}), "delay"},
		{"POST", net + "/health_monitors", hmBody(map[string]any{"delay": 1 << 40}), "delay"},
		{"POST", net + "/health_monitors", hmBody(map[string]any{"timeout": "soon"}), "timeout"},
		{"POST", net + "/health_monitors", hmBody(map[string]any{"max_retries": 11}), "max_retries"},
		{"POST", net + "/health_monitors", hmBody(map[string]any{"expected_codes": "2xx"}), "expected_codes"},
		{"POST", net + "/health_monitors", hmBody(map[string]any{"url_path": "no-slash"}), "url_path"},
		{"POST", net + "/health_monitors", hmBody(map[string]any{"http_method": "BREW"}), "http_method"},
		{"POST", net + "/vips", vipBody(map[string]any{"protocol_port": 0}), "protocol_port"},
		{"POST", net + "/vips", vipBody(map[string]any{"address": "abc"}), "address"},
		{"POST", net + "/vips", vipBody(map[string]any{"connection_limit": "lots"}), "connection_limit"},
		{"POST", net + "/vips", vipBody(map[string]any{"session_persistence": map[string]any{"type": "BOGUS"}}), "session_persistence"},
		{"POST", net + "/vips", vipBody(map[string]any{"session_persistence": "sticky"}), "session_persistence"},
		{"POST", net + "/vips", vipBody(map[string]any{"protocol": "TCP"}), "protocol"},
		{"POST", net + "/pools/" + pool + "/health_monitors", map[string]any{"health_monitor": map[string]any{"id": "x"}}, "id"},
		{"POST", net + "/pools/" + pool + "/health_monitors", map[string]any{"health_monitor": map[string]any{}}, "id"},

		{"POST", v2 + "/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": 5}}, "vip_subnet_id"},
		{"POST", v2 + "/loadbalancers", `{"loadbalancer": "x"}`, ""},
		{"POST", v2 + "/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": w.aliceSubnet, "name": strings.Repeat("n", 300)}}, "name"},
		{"POST", v2 + "/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": w.aliceSubnet, "vip_address": "127.99.0.1.5"}}, "vip_address"},
		{"POST", v2 + "/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": pool, "protocol": "HTTP", "protocol_port": 99999}}, "protocol_port"},

		{"PUT", quota, map[string]any{"quota": map[string]any{"loadbalancer": "many"}}, "loadbalancer"},
		{"PUT", quota, map[string]any{"quota": map[string]any{"pool": -5}}, "pool"},
		{"PUT", quota, map[string]any{"quota": map[string]any{"member": 1 << 40}}, "member"},
		{"PUT", quota, map[string]any{"quota": map[string]any{"listener": []int{1}}}, "listener"},
		{"PUT", quota, map[string]any{"quota": map[string]any{"loadbalancers": 3}}, "loadbalancers"},
		{"PUT", quota, `{"quota": 5}`, ""},
	} {
		r := lbaasSend(t, alice, c.method, c.path, c.body)
		what := fmt.Sprintf("%s %s %v", c.method, c.path, c.body)
		if r.code >= 500 || r.code < 400 {
			t.Errorf("%s: %d, want a 4xx: %s", what, r.code, r.raw)
			continue
		}
		// Members may not change quotas at all: that 403 is also a refusal,
		// but then the field check is moot; the admin tries those below.
		if r.code != 400 && !strings.HasPrefix(c.path, "/networking/v2.0/quotas") {
			t.Errorf("%s: %d, want 400: %s", what, r.code, r.raw)
		}
		if !strings.HasPrefix(c.path, "/networking/v2.0/quotas") && !strings.Contains(string(r.raw), c.field) {
			t.Errorf("%s: the refusal does not name %q: %s", what, c.field, r.raw)
		}
		if str(r.body, "NeutronError", "message") == "" {
			t.Errorf("%s: not a Neutron fault: %s", what, r.raw)
		}
		if strings.HasPrefix(c.path, "/networking/v2.0/quotas") && c.method == "PUT" {
			// The same body as the admin, who may change quotas.
			a := lbaasSend(t, w.c.admin, c.method, c.path, c.body)
			if a.code != 400 || !strings.Contains(string(a.raw), c.field) || str(a.body, "NeutronError", "message") == "" {
				t.Errorf("admin: %s: %d, want a 400 naming %q: %s", what, a.code, c.field, a.raw)
			}
		}
	}
	// Nothing was made by any of them: alice has her one pool and no
	// member, VIP or monitor; her quotas are the defaults.
	for path, want := range map[string]int{net + "/pools": 1, net + "/members": 0, net + "/vips": 0, net + "/health_monitors": 0, v2 + "/loadbalancers": 1, v2 + "/listeners": 0} {
		r := alice.must(t, "GET", path, nil, 200)
		l, _ := r.body[path[strings.LastIndex(path, "/")+1:]].([]any)
		n := len(l)
		if n != want {
			t.Errorf("GET %s after the hostile bodies: %d objects, want %d: %s", path, n, want, r.raw)
		}
	}
	q := w.c.admin.must(t, "GET", quota, nil, 200)
	for _, k := range []string{"loadbalancer", "pool", "member", "listener"} {
		if str(q.body, "quota", k) != "-1" {
			t.Errorf("quota %s after the refused updates: %s", k, q.raw)
		}
	}
	lbaasQuotaSplit(t, w, quota)
}

// lbaasQuotaSplit: the network endpoint's quota API is two services' keys
// in one body (the load-balancer keys and the network's). A member may
// change neither part of their own project's quota, whatever the mix; an
// admin's update that one part refuses changes nothing in the other.
func lbaasQuotaSplit(t *testing.T, w *lbaasWorld, quota string) {
	t.Helper()
	admin := w.c.admin
	admin.must(t, "PUT", quota, map[string]any{"quota": map[string]any{"loadbalancer": 3, "port": 40}}, 200)
	want := func(what string) {
		t.Helper()
		q := admin.must(t, "GET", quota, nil, 200)
		if str(q.body, "quota", "loadbalancer") != "3" || str(q.body, "quota", "port") != "40" {
			t.Errorf("%s: the quota is %s, want loadbalancer 3 and port 40 as set", what, q.raw)
		}
	}
	want("after the admin's mixed update")
	for _, body := range []map[string]any{
		{"loadbalancer": 1000}, {"port": 1000}, {"loadbalancer": 1000, "port": 1000}, {"pool": -1, "network": -1},
	} {
		r := w.alice.call(t, "PUT", quota, map[string]any{"quota": body})
		if r.code != 403 || str(r.body, "NeutronError", "type") == "" {
			t.Errorf("alice raises her own quota %v: %d %s", body, r.code, r.raw)
		}
		want(fmt.Sprintf("after alice's %v", body))
	}
	if r := w.alice.call(t, "DELETE", quota, nil); r.code != 403 {
		t.Errorf("alice resets her own quota: %d %s", r.code, r.raw)
	}
	want("after alice's reset")
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"loadbalancer": 4, "port": "x"}, "port"},
		{map[string]any{"loadbalancer": "x", "port": 41}, "loadbalancer"},
		{map[string]any{"loadbalancer": 4, "bogus": 1}, "bogus"},
	} {
		r := admin.call(t, "PUT", quota, map[string]any{"quota": c.body})
		if r.code != 400 || !strings.Contains(str(r.body, "NeutronError", "message"), c.field) {
			t.Errorf("admin's update %v: %d %s, want a 400 naming %s", c.body, r.code, r.raw, c.field)
		}
		want(fmt.Sprintf("after the refused %v", c.body))
	}
}

// lbaasSend sends body as s: a string as it is (JSON or not), anything
// else marshalled; the answer is decoded when it is a JSON object.
func lbaasSend(t *testing.T, s *session, method, path string, body any) reply {
	t.Helper()
	raw, ok := body.(string)
	if !ok {
		return s.call(t, method, path, body)
	}
	r := tenRaw(t, s, method, path, "application/json", raw)
	if len(r.raw) > 0 && r.raw[0] == '{' {
		_ = json.Unmarshal(r.raw, &r.body)
	}
	return r
}
