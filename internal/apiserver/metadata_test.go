package apiserver_test

import (
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
)

// TestOctaviaAmphoraMetadata: profiles written for Octavia's amphora driver
// carry over under the provider names amphora and octavia — Octavia's
// flavor keys (topology, compute flavor, image tag, SR-IOV) and zone keys
// (compute and volume zones, management network, VIP networks) are
// accepted with Octavia's types, stored and shown as sent, and a load
// balancer uses them; the capability lists start with Octavia's, exactly.
func TestOctaviaAmphoraMetadata(t *testing.T) {
	h := newHarness(t, harnessOpts{controller: true, tweak: func(o *apiserver.Options) {
		o.Providers = []string{"noop"}
		o.ProviderAliases = map[string]string{"amphora": "noop", "octavia": "noop"}
	}})
	flavorData := `{"loadbalancer_topology": "ACTIVE_STANDBY", "compute_flavor": "m1.amphora", "amp_image_tag": "amphora", "sriov_vip": false, "allow_member_sriov": true}`
	fp := h.must(201, "POST", "/v2/lbaas/flavorprofiles", map[string]any{"flavorprofile": map[string]any{
		"name": "octavia-ha", "provider_name": "amphora", "flavor_data": flavorData}}).obj("flavorprofile")
	if fp["flavor_data"] != flavorData {
		t.Errorf("flavor_data shown %v, want it as sent", fp["flavor_data"])
	}
	flavor := h.must(201, "POST", "/v2/lbaas/flavors", map[string]any{"flavor": map[string]any{"name": "ha", "flavor_profile_id": fp["id"]}}).obj("flavor")["id"]
	azData := `{"compute_zone": "nova-az1", "volume_zone": "cinder-az1", "management_network": "5a9d7a7c-0000-4000-8000-000000000001", "valid_vip_networks": ["5a9d7a7c-0000-4000-8000-000000000002"]}`
	azp := h.must(201, "POST", "/v2/lbaas/availabilityzoneprofiles", map[string]any{"availability_zone_profile": map[string]any{
		"name": "az1", "provider_name": "octavia", "availability_zone_data": azData}}).obj("availability_zone_profile")
	if azp["availability_zone_data"] != azData {
		t.Errorf("availability_zone_data shown %v, want it as sent", azp["availability_zone_data"])
	}
	h.must(201, "POST", "/v2/lbaas/availabilityzones", map[string]any{"availability_zone": map[string]any{"name": "az1", "availability_zone_profile_id": azp["id"]}})
	l := h.must(201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"vip_subnet_id": uuidA, "flavor_id": flavor, "availability_zone": "az1"}}).obj("loadbalancer")
	if l["provider"] != "amphora" {
		t.Errorf("load balancer of an amphora flavor shows provider %v, want amphora", l["provider"])
	}
	h.waitStatus("/v2/lbaas/loadbalancers/"+l["id"].(string), "loadbalancer", "ACTIVE")

	// Octavia's types and messages.
	for _, tt := range []struct{ kind, data, fault string }{
		{"flavorprofiles", `{"sriov_vip": "true"}`, "Provider 'amphora' does not support a requested option: sriov_vip 'true' is not of type 'boolean'"},
		{"flavorprofiles", `{"compute_flavor": 1}`, "Provider 'amphora' does not support a requested option: compute_flavor 1 is not of type 'string'"},
		{"flavorprofiles", `{"loadbalancer_topology": "TRIPLE"}`, "Provider 'amphora' does not support a requested option: loadbalancer_topology 'TRIPLE' is not one of ['ACTIVE_STANDBY', 'SINGLE']"},
		{"availabilityzoneprofiles", `{"valid_vip_networks": "net"}`, "Provider 'amphora' does not support a requested option: valid_vip_networks 'net' is not of type 'array'"},
		{"availabilityzoneprofiles", `{"volume_zone": ["a"]}`, "Provider 'amphora' does not support a requested option: volume_zone ['a'] is not of type 'string'"},
		{"availabilityzoneprofiles", `{"image_zone": "x"}`, "Provider 'amphora' does not support a requested option: Additional properties are not allowed ('image_zone' was unexpected)"},
	} {
		key, dataKey := "flavorprofile", "flavor_data"
		if tt.kind == "availabilityzoneprofiles" {
			key, dataKey = "availability_zone_profile", "availability_zone_data"
		}
		r := h.do("POST", "/v2/lbaas/"+tt.kind, map[string]any{key: map[string]any{"name": "x", "provider_name": "amphora", dataKey: tt.data}})
		if r.status != 501 || r.fault() != tt.fault {
			t.Errorf("%s %s: %d %q, want 501 %q", tt.kind, tt.data, r.status, r.fault(), tt.fault)
		}
	}

	// Capability lists: Octavia's, in Octavia's order and words, first.
	names := func(path, key string) (out []string, descs []string) {
		for _, c := range h.must(200, "GET", path, nil).list(key) {
			out = append(out, c.(map[string]any)["name"].(string))
			descs = append(descs, c.(map[string]any)["description"].(string))
		}
		return out, descs
	}
	for _, p := range []string{"amphora", "octavia"} {
		got, descs := names("/v2/lbaas/providers/"+p+"/flavor_capabilities", "flavor_capabilities")
		want := []string{"loadbalancer_topology", "compute_flavor", "amp_image_tag", "sriov_vip", "allow_member_sriov"}
		if len(got) < len(want) || !equalStrings(got[:len(want)], want) {
			t.Errorf("%s flavor capabilities %v, want %v first", p, got, want)
		} else if descs[0] != "The load balancer topology. One of: SINGLE - One amphora per load balancer. ACTIVE_STANDBY - Two amphora per load balancer." ||
			descs[1] != "The compute driver flavor ID." {
			t.Errorf("%s flavor capability texts %q", p, descs)
		}
		got, _ = names("/v2/lbaas/providers/"+p+"/availability_zone_capabilities", "availability_zone_capabilities")
		want = []string{"compute_zone", "volume_zone", "management_network", "valid_vip_networks"}
		if len(got) < len(want) || !equalStrings(got[:len(want)], want) {
			t.Errorf("%s zone capabilities %v, want %v first", p, got, want)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestNoopAmphoraAPI: with the noop provider (API only) the amphora API
// works as against Octavia's noop drivers: a load balancer has one
// amphora, an ACTIVE_STANDBY one a MASTER and a BACKUP; show, stats-less
// failover (PENDING_DELETE, then back in service) and configure answer.
func TestNoopAmphoraAPI(t *testing.T) {
	h := newHarness(t, harnessOpts{controller: true, noopAmphorae: true, tweak: func(o *apiserver.Options) {
		o.Providers = []string{"noop"}
		o.ProviderAliases = map[string]string{"amphora": "noop"}
	}})
	single := h.must(201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": uuidA}}).obj("loadbalancer")["id"].(string)
	fp := h.must(201, "POST", "/v2/lbaas/flavorprofiles", map[string]any{"flavorprofile": map[string]any{
		"name": "ha", "provider_name": "amphora", "flavor_data": `{"loadbalancer_topology": "ACTIVE_STANDBY"}`}}).obj("flavorprofile")["id"]
	flavor := h.must(201, "POST", "/v2/lbaas/flavors", map[string]any{"flavor": map[string]any{"name": "ha", "flavor_profile_id": fp}}).obj("flavor")["id"]
	ha := h.must(201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": uuidA, "flavor_id": flavor}}).obj("loadbalancer")["id"].(string)
	h.waitStatus("/v2/lbaas/loadbalancers/"+single, "loadbalancer", "ACTIVE")
	h.waitStatus("/v2/lbaas/loadbalancers/"+ha, "loadbalancer", "ACTIVE")

	roles := func(lbID string) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, a := range h.must(200, "GET", "/v2/octavia/amphorae?loadbalancer_id="+lbID, nil).list("amphorae") {
			m := a.(map[string]any)
			out[m["role"].(string)] = m
		}
		return out
	}
	if r := roles(single); len(r) != 1 || r["STANDALONE"] == nil || r["STANDALONE"]["status"] != "ALLOCATED" {
		t.Fatalf("SINGLE load balancer's amphorae: %v", r)
	}
	r := roles(ha)
	if len(r) != 2 || r["MASTER"] == nil || r["BACKUP"] == nil {
		t.Fatalf("ACTIVE_STANDBY load balancer's amphorae: %v", r)
	}
	master := r["MASTER"]["id"].(string)
	if a := h.must(200, "GET", "/v2/octavia/amphorae/"+master, nil).obj("amphora"); a["loadbalancer_id"] != ha || a["ha_ip"] == nil {
		t.Errorf("show: %v", a)
	}
	h.must(202, "PUT", "/v2/octavia/amphorae/"+master+"/config", nil)
	h.must(202, "PUT", "/v2/octavia/amphorae/"+master+"/failover", nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		a := h.must(200, "GET", "/v2/octavia/amphorae/"+master, nil).obj("amphora")
		if a["status"] == "ALLOCATED" && a["updated_at"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("failed-over amphora never back in service: %v", a)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.waitStatus("/v2/lbaas/loadbalancers/"+ha, "loadbalancer", "ACTIVE")
	h.must(202, "PUT", "/v2/lbaas/loadbalancers/"+single+"/failover", nil)
	h.waitStatus("/v2/lbaas/loadbalancers/"+single, "loadbalancer", "ACTIVE")
	if r := roles(single); len(r) != 1 || r["STANDALONE"]["status"] != "ALLOCATED" {
		t.Errorf("after load balancer failover: %v", r)
	}
	h.must(204, "DELETE", "/v2/lbaas/loadbalancers/"+ha, nil)
	h.waitGone("/v2/lbaas/loadbalancers/" + ha)
	if r := roles(ha); len(r) != 0 {
		t.Errorf("amphorae left after the load balancer went: %v", r)
	}
}
