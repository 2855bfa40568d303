package apiserver_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// TestScenarioFlavorsAndZones: a load balancer created with a flavor and an
// availability zone stores and shows them; disabled, unknown or mismatched
// ones are refused with Octavia's messages; a flavor, zone or profile in
// use cannot be deleted or have its data changed; the haproxy provider is
// listed but runs load balancers only where the server enables it.
func TestScenarioFlavorsAndZones(t *testing.T) {
	h := newHarness(t, harnessOpts{controller: true, tweak: func(o *apiserver.Options) {
		o.Providers = []string{"noop"}
		o.ProviderAliases = map[string]string{"amphora": "noop", "octavia": "noop"}
	}})
	fp := h.must(201, "POST", "/v2/lbaas/flavorprofiles", map[string]any{"flavorprofile": map[string]any{
		"name": "edge", "provider_name": "amphora", "flavor_data": `{"loadbalancer_topology": "SINGLE", "agent_group": "edge"}`}}).obj("flavorprofile")["id"].(string)
	flavor := h.must(201, "POST", "/v2/lbaas/flavors", map[string]any{"flavor": map[string]any{"name": "edge", "flavor_profile_id": fp}}).obj("flavor")["id"].(string)
	off := h.must(201, "POST", "/v2/lbaas/flavors", map[string]any{"flavor": map[string]any{"name": "off", "enabled": false, "flavor_profile_id": fp}}).obj("flavor")["id"].(string)
	hp := h.must(201, "POST", "/v2/lbaas/flavorprofiles", map[string]any{"flavorprofile": map[string]any{
		"name": "hp", "provider_name": "haproxy", "flavor_data": `{"engine": "haproxy"}`}}).obj("flavorprofile")["id"].(string)
	hflavor := h.must(201, "POST", "/v2/lbaas/flavors", map[string]any{"flavor": map[string]any{"name": "hp", "flavor_profile_id": hp}}).obj("flavor")["id"].(string)
	azp := h.must(201, "POST", "/v2/lbaas/availabilityzoneprofiles", map[string]any{"availability_zone_profile": map[string]any{
		"name": "rack", "provider_name": "noop", "availability_zone_data": `{"agent_zone": "rack1"}`}}).obj("availability_zone_profile")["id"].(string)
	h.must(201, "POST", "/v2/lbaas/availabilityzones", map[string]any{"availability_zone": map[string]any{"name": "rack1", "availability_zone_profile_id": azp}})
	h.must(201, "POST", "/v2/lbaas/availabilityzones", map[string]any{"availability_zone": map[string]any{"name": "closed", "enabled": false, "availability_zone_profile_id": azp}})

	create := func(extra map[string]any) *response {
		body := map[string]any{"vip_subnet_id": uuidA}
		for k, v := range extra {
			body[k] = v
		}
		return h.do("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": body})
	}
	r := create(map[string]any{"flavor_id": flavor, "availability_zone": "rack1"})
	if r.status != 201 || r.obj("loadbalancer")["flavor_id"] != flavor || r.obj("loadbalancer")["availability_zone"] != "rack1" || r.obj("loadbalancer")["provider"] != "amphora" {
		t.Fatalf("create with flavor and zone: %d %s", r.status, r.raw)
	}
	lbID := r.obj("loadbalancer")["id"].(string)
	for _, tt := range []struct {
		name  string
		extra map[string]any
		code  int
		fault string
	}{
		{"disabled flavor", map[string]any{"flavor_id": off}, 400, "The selected flavor is not allowed in this deployment: " + off},
		{"unknown flavor", map[string]any{"flavor_id": uuidB}, 400, "Validation failure: Invalid flavor_id."},
		{"flavor of another provider", map[string]any{"flavor_id": flavor, "provider": "bogus"}, 400, "Flavor '" + flavor + "' is not compatible with provider 'bogus'"},
		{"flavor and its provider's alias", map[string]any{"flavor_id": flavor, "provider": "octavia"}, 201, ""},
		{"disabled zone", map[string]any{"availability_zone": "closed"}, 400, "The selected availability_zone is not allowed in this deployment: closed"},
		{"unknown zone", map[string]any{"availability_zone": "mars"}, 400, "Validation failure: Invalid availability zone."},
		{"haproxy provider", map[string]any{"provider": "haproxy"}, 400, "Provider 'haproxy' is not enabled."},
		{"haproxy flavor", map[string]any{"flavor_id": hflavor}, 400, "Provider 'haproxy' is not enabled."},
	} {
		r := create(tt.extra)
		if r.status != tt.code || (tt.fault != "" && r.fault() != tt.fault) {
			t.Errorf("%s: %d %q, want %d %q", tt.name, r.status, r.fault(), tt.code, tt.fault)
		}
	}
	h.waitStatus("/v2/lbaas/loadbalancers/"+lbID, "loadbalancer", "ACTIVE")
	// In use.
	if r := h.must(409, "DELETE", "/v2/lbaas/flavors/"+flavor, nil); r.fault() != "Flavor "+flavor+" is in use and cannot be modified." {
		t.Errorf("flavor in use: %q", r.fault())
	}
	if r := h.must(409, "DELETE", "/v2/lbaas/availabilityzones/rack1", nil); r.fault() != "Availability Zone rack1 is in use and cannot be modified." {
		t.Errorf("zone in use: %q", r.fault())
	}
	if r := h.must(409, "PUT", "/v2/lbaas/flavorprofiles/"+fp, map[string]any{"flavorprofile": map[string]any{"flavor_data": "{}"}}); r.fault() != "Flavor profile "+fp+" is in use and cannot be modified." {
		t.Errorf("profile in use: %q", r.fault())
	}
	h.must(200, "PUT", "/v2/lbaas/flavorprofiles/"+fp, map[string]any{"flavorprofile": map[string]any{"name": "renamed"}})
	h.must(409, "DELETE", "/v2/lbaas/availabilityzoneprofiles/"+azp, nil)
	// Profile data is validated against the provider's capabilities.
	for _, tt := range []struct {
		data  string
		code  int
		fault string
	}{
		{`{"agent_group": 7}`, 501, "Provider 'noop' does not support a requested option: agent_group 7 is not of type 'string'"},
		{`{"compute_flavour": "m1"}`, 501, "Provider 'noop' does not support a requested option: Additional properties are not allowed ('compute_flavour' was unexpected)"},
		{`{"sriov_vip": "yes"}`, 501, "Provider 'noop' does not support a requested option: sriov_vip 'yes' is not of type 'boolean'"},
		{`{"engine": "haproxy"}`, 501, "Provider 'noop' does not support a requested option: engine 'haproxy' is not one of ['native']"},
		{`nope`, 400, "nope is not a valid option for flavor_data"},
	} {
		r := h.do("POST", "/v2/lbaas/flavorprofiles", map[string]any{"flavorprofile": map[string]any{"name": "x", "provider_name": "noop", "flavor_data": tt.data}})
		if r.status != tt.code || r.fault() != tt.fault {
			t.Errorf("flavor_data %s: %d %q, want %d %q", tt.data, r.status, r.fault(), tt.code, tt.fault)
		}
	}
	// Deleting the load balancer frees its flavor and zone.
	h.must(204, "DELETE", "/v2/lbaas/loadbalancers/"+lbID, nil)
	h.waitGone("/v2/lbaas/loadbalancers/" + lbID)
	for _, l := range h.must(200, "GET", "/v2/lbaas/loadbalancers?flavor_id="+flavor, nil).list("loadbalancers") {
		id := l.(map[string]any)["id"].(string)
		h.must(204, "DELETE", "/v2/lbaas/loadbalancers/"+id, nil)
		h.waitGone("/v2/lbaas/loadbalancers/" + id)
	}
	h.must(204, "DELETE", "/v2/lbaas/flavors/"+flavor, nil)
	h.must(204, "DELETE", "/v2/lbaas/availabilityzones/rack1", nil)
	h.must(404, "GET", "/v2/lbaas/availabilityzones/rack1", nil)
}

// TestScenarioAmphorae: the amphora API over placements recorded in the
// store (as the fulcrum provider writes them).
func TestScenarioAmphorae(t *testing.T) {
	h := newHarness(t, harnessOpts{controller: true})
	ctx := context.Background()
	f := newFixture(h)
	h.waitStatus("/v2/lbaas/loadbalancers/"+f.lb, "loadbalancer", "ACTIVE")
	other := h.must(201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": uuidA}},
		"X-Project-Id", "p2").obj("loadbalancer")["id"].(string)
	agent := &lb.Agent{ID: "a9e00000-0000-4000-8000-000000000001", Name: "node-1", Address: "127.0.0.5", Status: lb.AgentUp, Times: lb.Times{CreatedAt: time.Now()}}
	amp := &lb.Amphora{ID: "a3a00000-0000-4000-8000-000000000001", LoadBalancerID: f.lb, AgentID: agent.ID, Role: lb.RoleStandalone,
		Status: lb.AmphoraReady, ComputeID: agent.Name, LBNetworkIP: agent.Address, HAIP: "192.0.2.100", Times: lb.Times{CreatedAt: time.Now()}}
	amp2 := &lb.Amphora{ID: "a3a00000-0000-4000-8000-000000000002", LoadBalancerID: other, Role: lb.RoleStandalone,
		Status: lb.AmphoraError, Times: lb.Times{CreatedAt: time.Now()}}
	err := h.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.Agents().Create(ctx, agent); err != nil {
			return err
		}
		if err := tx.Amphorae().Create(ctx, amp); err != nil {
			return err
		}
		if err := tx.Amphorae().Create(ctx, amp2); err != nil {
			return err
		}
		return tx.ListenerStats().Put(ctx, []*lb.ListenerStats{{ListenerID: f.http, AgentID: agent.ID, LoadBalancerID: f.lb,
			ActiveConnections: 2, TotalConnections: 10, BytesIn: 100, BytesOut: 200, RequestErrors: 1, UpdatedAt: time.Now()}})
	})
	if err != nil {
		t.Fatal(err)
	}
	list := h.must(200, "GET", "/v2/octavia/amphorae", nil).list("amphorae")
	if len(list) != 2 {
		t.Fatalf("amphorae: %v", list)
	}
	byProject := h.must(200, "GET", "/v2/octavia/amphorae?project_id=p2", nil).list("amphorae")
	if len(byProject) != 1 || byProject[0].(map[string]any)["id"] != amp2.ID {
		t.Errorf("project_id filter: %v", byProject)
	}
	a := h.must(200, "GET", "/v2.0/octavia/amphorae/"+amp.ID, nil).obj("amphora")
	if a["loadbalancer_id"] != f.lb || a["compute_id"] != "node-1" || a["lb_network_ip"] != "127.0.0.5" || a["ha_ip"] != "192.0.2.100" ||
		a["status"] != "READY" || a["role"] != "STANDALONE" || a["vrrp_ip"] != nil || a["cert_busy"] != false {
		t.Errorf("amphora: %v", a)
	}
	st := h.must(200, "GET", "/v2/octavia/amphorae/"+amp.ID+"/stats", nil).list("amphora_stats")
	if len(st) != 1 {
		t.Fatalf("stats: %v", st)
	}
	if s := st[0].(map[string]any); s["id"] != amp.ID || s["listener_id"] != f.http || s["loadbalancer_id"] != f.lb || s["active_connections"] != float64(2) ||
		s["bytes_in"] != float64(100) || s["bytes_out"] != float64(200) || s["total_connections"] != float64(10) || s["request_errors"] != float64(1) {
		t.Errorf("stats entry: %v", s)
	}
	if r := h.must(404, "GET", "/v2/octavia/amphorae/"+amp2.ID+"/stats", nil); r.fault() != "Amphora stats for "+amp2.ID+" not found." {
		t.Errorf("no stats: %q", r.fault())
	}
	// Delete only in ERROR.
	if r := h.must(409, "DELETE", "/v2/octavia/amphorae/"+amp.ID, nil); r.fault() != "amphora "+amp.ID+" is immutable and cannot be updated." {
		t.Errorf("delete READY: %q", r.fault())
	}
	h.must(204, "DELETE", "/v2/octavia/amphorae/"+amp2.ID, nil)
	h.must(404, "GET", "/v2/octavia/amphorae/"+amp2.ID, nil)
	// Failover marks the placement and starts a generation; config
	// reconciles.
	before := h.notes.count()
	h.must(202, "PUT", "/v2/octavia/amphorae/"+amp.ID+"/failover", nil)
	a = h.must(200, "GET", "/v2/octavia/amphorae/"+amp.ID, nil).obj("amphora")
	l := h.must(200, "GET", "/v2/lbaas/loadbalancers/"+f.lb, nil).obj("loadbalancer")
	// The controller (noop provider) may already have completed the
	// failover's generation: PENDING_UPDATE or ACTIVE, never anything else.
	if st := l["provisioning_status"]; a["status"] != "PENDING_DELETE" || (st != "PENDING_UPDATE" && st != "ACTIVE") {
		t.Errorf("after failover: amphora %v, load balancer %v", a["status"], st)
	}
	h.must(202, "PUT", "/v2/octavia/amphorae/"+amp.ID+"/config", nil)
	if n := h.notes.count(); n != before+2 {
		t.Errorf("failover and config enqueued %d reconciles, want 2", n-before)
	}
	// LB failover marks every placement of the load balancer.
	err = h.store.Update(ctx, func(tx store.Tx) error {
		x, _ := tx.Amphorae().Get(ctx, amp.ID)
		x.Status = lb.AmphoraReady
		return tx.Amphorae().Update(ctx, x)
	})
	if err != nil {
		t.Fatal(err)
	}
	h.must(202, "PUT", "/v2/lbaas/loadbalancers/"+f.lb+"/failover", nil)
	if a := h.must(200, "GET", "/v2/octavia/amphorae/"+amp.ID, nil).obj("amphora"); a["status"] != "PENDING_DELETE" {
		t.Errorf("after LB failover: %v", a["status"])
	}
	h.must(404, "PUT", "/v2/octavia/amphorae/"+uuidB+"/failover", nil)
	h.must(404, "GET", "/v2/lbaas/amphorae", nil)
}

// TestProfilesInUseAndMissing runs the same rules over both profile kinds
// (they share their handlers): a profile used by a flavor or zone refuses a
// provider or data change and deletion with Octavia's 409 naming it, may be
// renamed, and a missing or nil-UUID profile is a 404 naming the kind.
func TestProfilesInUseAndMissing(t *testing.T) {
	h := newHarness(t, harnessOpts{tweak: func(o *apiserver.Options) { o.Providers = []string{"noop"} }})
	for _, k := range []struct {
		path, key, dataKey, data, users, userKey, ref, kind string
	}{
		{"/v2/lbaas/flavorprofiles", "flavorprofile", "flavor_data", `{"agent_group": "a"}`, "/v2/lbaas/flavors", "flavor", "flavor_profile_id", "Flavor profile"},
		{"/v2/lbaas/availabilityzoneprofiles", "availability_zone_profile", "availability_zone_data", `{"agent_zone": "z"}`, "/v2/lbaas/availabilityzones", "availability_zone", "availability_zone_profile_id", "Availability Zone Profile"},
	} {
		t.Run(k.key, func(t *testing.T) {
			id := h.must(201, "POST", k.path, map[string]any{k.key: map[string]any{"name": "p", "provider_name": "noop", k.dataKey: k.data}}).obj(k.key)["id"].(string)
			h.must(201, "POST", k.users, map[string]any{k.userKey: map[string]any{"name": "u-" + k.key, k.ref: id}})
			inUse := k.kind + " " + id + " is in use and cannot be modified."
			for _, change := range []map[string]any{{k.dataKey: k.data}, {"provider_name": "noop"}} {
				if r := h.must(409, "PUT", k.path+"/"+id, map[string]any{k.key: change}); r.fault() != inUse {
					t.Errorf("update %v in use: %q", change, r.fault())
				}
			}
			if r := h.must(409, "DELETE", k.path+"/"+id, nil); r.fault() != inUse {
				t.Errorf("delete in use: %q", r.fault())
			}
			if r := h.must(200, "PUT", k.path+"/"+id, map[string]any{k.key: map[string]any{"name": "renamed"}}); r.obj(k.key)["name"] != "renamed" || r.obj(k.key)[k.dataKey] != k.data {
				t.Errorf("rename in use: %s", r.raw)
			}
			for _, missing := range []string{uuidB, lb.NilUUID} {
				if r := h.must(404, "DELETE", k.path+"/"+missing, nil); r.fault() != k.kind+" "+missing+" not found." {
					t.Errorf("delete %s: %q", missing, r.fault())
				}
			}
			// Unused: data validated against the provider (501 for an unknown key), then deletable.
			free := h.must(201, "POST", k.path, map[string]any{k.key: map[string]any{"name": "free", "provider_name": "noop", k.dataKey: "{}"}}).obj(k.key)["id"].(string)
			h.must(501, "PUT", k.path+"/"+free, map[string]any{k.key: map[string]any{k.dataKey: `{"bogus": 1}`}})
			h.must(200, "PUT", k.path+"/"+free, map[string]any{k.key: map[string]any{k.dataKey: k.data}})
			h.must(204, "DELETE", k.path+"/"+free, nil)
			h.must(404, "GET", k.path+"/"+free, nil)
		})
	}
}

// TestCatalogCollectionKeysAndZonesByName: docs/octavia-behaviour.md, "Collection keys".
func TestCatalogCollectionKeysAndZonesByName(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	fp := h.must(201, "POST", "/v2.0/lbaas/flavorprofiles", map[string]any{"flavorprofile": map[string]any{
		"name": "fp", "provider_name": "noop", "flavor_data": `{"loadbalancer_topology": "SINGLE"}`}}).obj("flavorprofile")["id"].(string)
	azp := h.must(201, "POST", "/v2.0/lbaas/availabilityzoneprofiles", map[string]any{"availability_zone_profile": map[string]any{
		"name": "azp", "provider_name": "noop", "availability_zone_data": `{"compute_zone": "rack1"}`}}).obj("availability_zone_profile")["id"].(string)
	h.must(201, "POST", "/v2.0/lbaas/availabilityzones", map[string]any{"availability_zone": map[string]any{
		"name": "zone-a", "availability_zone_profile_id": azp}})
	tests := []struct {
		path       string
		wantKeys   []string
		wantInList string
	}{
		{"/v2.0/lbaas/flavorprofiles", []string{"flavorprofile_links", "flavorprofiles", "flavorprofiles_links"}, fp},
		{"/v2.0/lbaas/availabilityzoneprofiles", []string{"availability_zone_profile_links", "availability_zone_profiles", "availability_zone_profiles_links"}, azp},
		{"/v2.0/lbaas/availabilityzones", []string{"availability_zones", "availability_zones_links"}, ""},
		{"/v2.0/lbaas/flavors", []string{"flavors", "flavors_links"}, ""},
		{"/v2.0/lbaas/providers", []string{"providers"}, ""},
		{"/v2.0/lbaas/providers/noop/flavor_capabilities", []string{"flavor_capabilities"}, ""},
		{"/v2.0/lbaas/providers/noop/availability_zone_capabilities", []string{"availability_zone_capabilities"}, ""},
		{"/v2.0/octavia/amphorae", []string{"amphorae", "amphorae_links"}, ""},
	}
	for _, tt := range tests {
		r := h.must(200, "GET", tt.path, nil)
		if got := keys(r.body); !slices.Equal(got, tt.wantKeys) {
			t.Errorf("GET %s: keys %v, want %v", tt.path, got, tt.wantKeys)
		}
	}
	// Zones are addressed by name, the nil UUID is never an object.
	if z := h.must(200, "GET", "/v2.0/lbaas/availabilityzones/zone-a", nil).obj("availability_zone"); z["availability_zone_profile_id"] != azp {
		t.Errorf("zone by name: %v", z)
	}
	h.must(200, "PUT", "/v2.0/lbaas/availabilityzones/zone-a", map[string]any{"availability_zone": map[string]any{"description": "d"}})
	for _, p := range []string{"/v2.0/lbaas/flavors/", "/v2.0/lbaas/flavorprofiles/", "/v2.0/lbaas/availabilityzones/", "/v2.0/lbaas/availabilityzoneprofiles/"} {
		h.must(404, "GET", p+lb.NilUUID, nil)
	}
	if r := h.must(404, "GET", "/v2.0/lbaas/flavorprofiles/"+lb.NilUUID, nil); r.fault() != "Flavor profile "+lb.NilUUID+" not found." {
		t.Errorf("nil flavor profile fault %q", r.fault())
	}
	// The aliases and haproxy are listed with the enabled providers.
	var names []string
	for _, p := range h.must(200, "GET", "/v2.0/lbaas/providers", nil).list("providers") {
		names = append(names, p.(map[string]any)["name"].(string))
	}
	for _, want := range []string{"noop", "haproxy"} {
		if !slices.Contains(names, want) {
			t.Errorf("providers %v lack %s", names, want)
		}
	}
}
