package apiserver_test

import (
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
)

// TestGoldenResponsesL7AndCatalog pins the response bodies of L7 policies
// and rules, flavors, flavor profiles, availability zones and their
// profiles, providers and capabilities, and a batch member update (the
// 202 and the member list it leaves).
func TestGoldenResponsesL7AndCatalog(t *testing.T) {
	h := newHarness(t, harnessOpts{tweak: func(o *apiserver.Options) {
		o.NewID = sequentialIDs()
		o.Clock = steppingClock()
		o.Providers = []string{"fulcrum", "noop"}
		o.DefaultProvider = "fulcrum"
		o.ProviderAliases = map[string]string{"amphora": "fulcrum", "octavia": "fulcrum"}
	}})
	step := func(name string, want int, method, path string, body any) *response {
		t.Helper()
		r := h.must(want, method, path, body)
		if len(r.raw) > 0 {
			golden(t, h, name, r)
		}
		return r
	}
	lbID := h.must(201, "POST", "/v2.0/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": "web", "vip_subnet_id": uuidA}}).obj("loadbalancer")["id"].(string)
	lsID := h.must(201, "POST", "/v2.0/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": lbID, "protocol": "HTTP", "protocol_port": 80}}).obj("listener")["id"].(string)
	poolID := h.must(201, "POST", "/v2.0/lbaas/pools", map[string]any{"pool": map[string]any{
		"loadbalancer_id": lbID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "name": "api"}}).obj("pool")["id"].(string)

	p1 := step("l7policy_create", 201, "POST", "/v2.0/lbaas/l7policies", map[string]any{"l7policy": map[string]any{
		"listener_id": lsID, "action": "REDIRECT_TO_POOL", "redirect_pool_id": poolID, "name": "api", "tags": []any{"b", "a"},
		"rules": []any{map[string]any{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}}}}).obj("l7policy")["id"].(string)
	p2 := step("l7policy_create_redirect_url", 201, "POST", "/v2.0/lbaas/l7policies", map[string]any{"l7policy": map[string]any{
		"listener_id": lsID, "action": "REDIRECT_TO_URL", "redirect_url": "https://example.com/", "position": 1}}).obj("l7policy")["id"].(string)
	step("l7policy_update", 200, "PUT", "/v2.0/lbaas/l7policies/"+p2, map[string]any{"l7policy": map[string]any{"redirect_prefix": "https://example.org", "position": 2}})
	r1 := step("l7rule_create", 201, "POST", "/v2.0/lbaas/l7policies/"+p1+"/rules", map[string]any{"rule": map[string]any{
		"type": "HEADER", "key": "X-Version", "compare_type": "REGEX", "value": "^v[0-9]+$", "invert": true}}).obj("rule")["id"].(string)
	step("l7rule_update", 200, "PUT", "/v2.0/lbaas/l7policies/"+p1+"/rules/"+r1, map[string]any{"rule": map[string]any{"type": "COOKIE", "compare_type": "EQUAL_TO", "value": "v2"}})
	step("l7rule_list", 200, "GET", "/v2.0/lbaas/l7policies/"+p1+"/rules", nil)
	step("l7policy_show", 200, "GET", "/v2.0/lbaas/l7policies/"+p1, nil)
	step("l7policy_list", 200, "GET", "/v2.0/lbaas/l7policies?listener_id="+lsID+"&sort=position", nil)
	step("listener_show_with_policies", 200, "GET", "/v2.0/lbaas/listeners/"+lsID, nil)

	step("providers", 200, "GET", "/v2.0/lbaas/providers", nil)
	step("flavor_capabilities", 200, "GET", "/v2.0/lbaas/providers/fulcrum/flavor_capabilities", nil)
	step("availability_zone_capabilities", 200, "GET", "/v2.0/lbaas/providers/amphora/availability_zone_capabilities", nil)
	fp := step("flavorprofile_create", 201, "POST", "/v2.0/lbaas/flavorprofiles", map[string]any{"flavorprofile": map[string]any{
		"name": "edge", "provider_name": "fulcrum", "flavor_data": `{"loadbalancer_topology": "SINGLE", "agent_group": "edge"}`}}).obj("flavorprofile")["id"].(string)
	fl := step("flavor_create", 201, "POST", "/v2.0/lbaas/flavors", map[string]any{"flavor": map[string]any{
		"name": "edge", "description": "edge agents", "flavor_profile_id": fp}}).obj("flavor")["id"].(string)
	step("flavor_update", 200, "PUT", "/v2.0/lbaas/flavors/"+fl, map[string]any{"flavor": map[string]any{"enabled": false}})
	step("flavorprofile_list", 200, "GET", "/v2.0/lbaas/flavorprofiles", nil)
	step("flavor_list", 200, "GET", "/v2.0/lbaas/flavors?limit=1", nil)
	azp := step("availability_zone_profile_create", 201, "POST", "/v2.0/lbaas/availabilityzoneprofiles", map[string]any{"availability_zone_profile": map[string]any{
		"name": "rack1", "provider_name": "fulcrum", "availability_zone_data": `{"agent_zone": "rack1"}`}}).obj("availability_zone_profile")["id"].(string)
	step("availability_zone_create", 201, "POST", "/v2.0/lbaas/availabilityzones", map[string]any{"availability_zone": map[string]any{
		"name": "rack1", "description": "first rack", "availability_zone_profile_id": azp}})
	step("availability_zone_list", 200, "GET", "/v2.0/lbaas/availabilityzones", nil)
	step("availability_zone_profile_list", 200, "GET", "/v2.0/lbaas/availabilityzoneprofiles", nil)

	h.must(201, "POST", "/v2.0/lbaas/pools/"+poolID+"/members", map[string]any{"member": map[string]any{"address": "192.0.2.1", "protocol_port": 80, "weight": 3, "name": "keep"}})
	h.must(201, "POST", "/v2.0/lbaas/pools/"+poolID+"/members", map[string]any{"member": map[string]any{"address": "192.0.2.2", "protocol_port": 80}})
	r := step("members_batch_update", 202, "PUT", "/v2.0/lbaas/pools/"+poolID+"/members", map[string]any{"members": []any{
		map[string]any{"address": "192.0.2.1", "protocol_port": 80, "backup": true},
		map[string]any{"address": "192.0.2.3", "protocol_port": 80, "monitor_port": 8080, "tags": []any{"new"}}}})
	if len(r.raw) != 0 {
		t.Errorf("batch update body %q, want empty", r.raw)
	}
	step("members_after_batch_update", 200, "GET", "/v2.0/lbaas/pools/"+poolID+"/members", nil)
}
