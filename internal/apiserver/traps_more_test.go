package apiserver_test

import (
	"slices"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/quota"
)

// Traps 12, 13, 15 and 23 of the reference (§12), for the resources of the
// complete 2.30 surface.

func TestTrap12_CatalogCollectionKeysAndZonesByName(t *testing.T) {
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

func TestTrap13_QuotaSpellingsAndL7Quotas(t *testing.T) {
	defaults := lb.UnlimitedQuotas()
	h := newHarness(t, harnessOpts{controller: true, tweak: func(o *apiserver.Options) {
		o.Auth = headerAuth{}
		enf, err := policy.New(policy.Options{})
		if err != nil {
			t.Fatal(err)
		}
		o.Authorizer = enf
		q := quota.New(defaults)
		o.Quotas = q
		o.QuotaAPI = quota.NewAPI(o.Store, q, enf)
	}})
	admin := []string{"X-Project-Id", "adm", "X-Roles", "admin"}
	member := []string{"X-Project-Id", "p", "X-Roles", "member"}
	r := h.must(202, "PUT", "/v2.0/lbaas/quotas/p", map[string]any{"quota": map[string]any{"load_balancer": 5, "health_monitor": 2, "l7policy": 1, "l7rule": 2}}, admin...)
	q := r.obj("quota")
	for k, want := range map[string]float64{"loadbalancer": 5, "load_balancer": 5, "healthmonitor": 2, "health_monitor": 2, "l7policy": 1, "l7rule": 2, "listener": -1} {
		if q[k] != want {
			t.Errorf("quota %s = %v, want %v (answer %v)", k, q[k], want, q)
		}
	}
	lbID := h.must(201, "POST", "/v2.0/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": uuidA}}, member...).obj("loadbalancer")["id"].(string)
	l := h.must(201, "POST", "/v2.0/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": lbID, "protocol": "HTTP", "protocol_port": 80}}, member...).obj("listener")["id"].(string)
	// A policy with three embedded rules is over the rule quota of 2: the
	// whole create is refused, nothing is stored.
	if r := h.do("POST", "/v2.0/lbaas/l7policies", map[string]any{"l7policy": map[string]any{"listener_id": l, "action": "REJECT", "rules": []any{
		map[string]any{"type": "PATH", "compare_type": "EQUAL_TO", "value": "/a"}, map[string]any{"type": "PATH", "compare_type": "EQUAL_TO", "value": "/b"},
		map[string]any{"type": "PATH", "compare_type": "EQUAL_TO", "value": "/c"}}}}, member...); r.status != 403 {
		t.Errorf("policy with 3 rules over a quota of 2: %d %s", r.status, r.raw)
	}
	pol := h.must(201, "POST", "/v2.0/lbaas/l7policies", map[string]any{"l7policy": map[string]any{"listener_id": l, "action": "REJECT"}}, member...).obj("l7policy")["id"].(string)
	if r := h.do("POST", "/v2.0/lbaas/l7policies", map[string]any{"l7policy": map[string]any{"listener_id": l, "action": "REJECT"}}, member...); r.status != 403 {
		t.Errorf("second policy over a quota of 1: %d %s", r.status, r.raw)
	}
	rule := map[string]any{"rule": map[string]any{"type": "PATH", "compare_type": "EQUAL_TO", "value": "/x"}}
	h.must(201, "POST", "/v2.0/lbaas/l7policies/"+pol+"/rules", rule, member...)
	h.must(201, "POST", "/v2.0/lbaas/l7policies/"+pol+"/rules", rule, member...)
	if r := h.do("POST", "/v2.0/lbaas/l7policies/"+pol+"/rules", rule, member...); r.status != 403 || r.fault() == "" {
		t.Errorf("third rule over a quota of 2: %d %s", r.status, r.raw)
	}
	// Under noauth quotas are not enforced.
	h2 := newHarness(t, harnessOpts{tweak: func(o *apiserver.Options) {
		zero := lb.UnlimitedQuotas()
		zero[lb.QuotaL7Policy] = 0
		o.Quotas = quota.New(zero)
	}})
	f := newFixture(h2)
	h2.must(201, "POST", "/v2.0/lbaas/l7policies", map[string]any{"l7policy": map[string]any{"listener_id": f.http, "action": "REJECT"}})
}

func TestTrap15_L7PolicyActionRewritingAndDensePositions(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	f := newFixture(h)
	create := func(body map[string]any) map[string]any {
		t.Helper()
		body["listener_id"] = f.http
		return h.must(201, "POST", "/v2.0/lbaas/l7policies", map[string]any{"l7policy": body}).obj("l7policy")
	}
	// Redirect arguments select the action and null the others.
	p := create(map[string]any{"action": "REJECT", "redirect_prefix": "https://example.com"})
	if p["action"] != "REDIRECT_PREFIX" || p["redirect_http_code"] != float64(302) {
		t.Errorf("REJECT with redirect_prefix: %v", p)
	}
	p = create(map[string]any{"action": "REDIRECT_TO_URL", "redirect_url": "https://example.com", "redirect_pool_id": nil})
	if p["action"] != "REDIRECT_TO_URL" || p["redirect_http_code"] != float64(302) || p["redirect_pool_id"] != nil {
		t.Errorf("REDIRECT_TO_URL: %v", p)
	}
	// An explicit action first clears the arguments it does not take.
	p = create(map[string]any{"action": "REJECT", "redirect_pool_id": f.pool})
	if p["action"] != "REJECT" || p["redirect_pool_id"] != nil {
		t.Errorf("REJECT with redirect_pool_id: %v", p)
	}
	pp := h.must(200, "PUT", "/v2.0/lbaas/l7policies/"+p["id"].(string), map[string]any{"l7policy": map[string]any{"redirect_pool_id": f.pool}}).obj("l7policy")
	if pp["action"] != "REDIRECT_TO_POOL" || pp["redirect_pool_id"] != f.pool || pp["redirect_http_code"] != nil {
		t.Errorf("PUT redirect_pool_id: %v", pp)
	}
	p = create(map[string]any{"action": "REJECT", "redirect_url": "https://example.com"})
	if p["action"] != "REJECT" || p["redirect_url"] != nil {
		t.Errorf("REJECT with redirect_url: %v", p)
	}
	for body, want := range map[string]string{
		`{"l7policy": {"listener_id": "` + f.http + `", "action": "REDIRECT_TO_URL"}}`:                                                                        "Invalid L7 Policy arguments: redirect_url must not be None",
		`{"l7policy": {"listener_id": "` + f.http + `", "action": "REDIRECT_TO_POOL"}}`:                                                                       "Invalid L7 Policy arguments: redirect_pool_id or redirect_pool must not be None",
		`{"l7policy": {"listener_id": "` + f.http + `", "action": "REDIRECT_PREFIX"}}`:                                                                        "Invalid L7 Policy arguments: redirect_prefix must not be None",
		`{"l7policy": {"listener_id": "` + f.http + `", "action": "REDIRECT_PREFIX", "redirect_prefix": "http://a.b", "redirect_pool_id": "` + f.pool + `"}}`: "Invalid L7 Policy arguments: Cannot specify redirect_pool_id and redirect_url or redirect_prefix at the same time",
	} {
		if r := h.must(400, "POST", "/v2.0/lbaas/l7policies", body); r.fault() != want {
			t.Errorf("%s: fault %q, want %q", body, r.fault(), want)
		}
	}
	// An update naming an action clears what does not belong to it.
	upd := h.must(200, "PUT", "/v2.0/lbaas/l7policies/"+p["id"].(string), map[string]any{"l7policy": map[string]any{"redirect_prefix": "http://x.example"}}).obj("l7policy")
	if upd["action"] != "REDIRECT_PREFIX" || upd["redirect_http_code"] != float64(302) {
		t.Errorf("PUT redirect_prefix: %v", upd)
	}
	upd = h.must(200, "PUT", "/v2.0/lbaas/l7policies/"+p["id"].(string), map[string]any{"l7policy": map[string]any{"action": "REJECT"}}).obj("l7policy")
	if upd["redirect_prefix"] != nil || upd["redirect_http_code"] != nil {
		t.Errorf("PUT action REJECT: %v", upd)
	}
	// Positions stay dense: 4 policies exist (1..4); insert at 2, move the
	// last to 1, delete one: always 1..N in order.
	positions := func() []string {
		var out []string
		for _, x := range h.must(200, "GET", "/v2.0/lbaas/l7policies?listener_id="+f.http+"&sort=position", nil).list("l7policies") {
			m := x.(map[string]any)
			if m["provisioning_status"] != "PENDING_DELETE" {
				out = append(out, m["name"].(string))
			}
		}
		return out
	}
	names := []string{"a", "b", "c", "d"}
	for _, x := range h.must(200, "GET", "/v2.0/lbaas/l7policies?listener_id="+f.http+"&sort=position", nil).list("l7policies") {
		m := x.(map[string]any)
		h.must(200, "PUT", "/v2.0/lbaas/l7policies/"+m["id"].(string), map[string]any{"l7policy": map[string]any{"name": names[int(m["position"].(float64))-1]}})
	}
	ins := create(map[string]any{"action": "REJECT", "position": 2, "name": "new"})
	if ins["position"] != float64(2) {
		t.Errorf("inserted at %v, want 2", ins["position"])
	}
	if got := positions(); !slices.Equal(got, []string{"a", "new", "b", "c", "d"}) {
		t.Errorf("after insert: %v", got)
	}
	last := create(map[string]any{"action": "REJECT", "position": 1000, "name": "last"})
	if last["position"] != float64(6) {
		t.Errorf("appended at %v, want 6", last["position"])
	}
	h.must(200, "PUT", "/v2.0/lbaas/l7policies/"+last["id"].(string), map[string]any{"l7policy": map[string]any{"position": 1}})
	if got := positions(); !slices.Equal(got, []string{"last", "a", "new", "b", "c", "d"}) {
		t.Errorf("after move: %v", got)
	}
	h.must(204, "DELETE", "/v2.0/lbaas/l7policies/"+ins["id"].(string), nil)
	list := h.must(200, "GET", "/v2.0/lbaas/l7policies?listener_id="+f.http+"&sort=position", nil).list("l7policies")
	want := 1
	for _, x := range list {
		m := x.(map[string]any)
		if m["provisioning_status"] == "PENDING_DELETE" {
			continue
		}
		if m["position"] != float64(want) {
			t.Errorf("after delete: %s at %v, want %d", m["name"], m["position"], want)
		}
		want++
	}
	// The listener lists its policies in position order.
	var order []string
	for _, ref := range h.must(200, "GET", "/v2.0/lbaas/listeners/"+f.http, nil).obj("listener")["l7policies"].([]any) {
		id := ref.(map[string]any)["id"].(string)
		p := h.must(200, "GET", "/v2.0/lbaas/l7policies/"+id, nil).obj("l7policy")
		if p["provisioning_status"] != "PENDING_DELETE" {
			order = append(order, p["name"].(string))
		}
	}
	if !slices.Equal(order, []string{"last", "a", "b", "c", "d"}) {
		t.Errorf("listener l7policies order %v", order)
	}
}

func TestTrap23_QuotaDefaultsRoute(t *testing.T) {
	defaults := lb.UnlimitedQuotas()
	defaults[lb.QuotaL7Rule] = 7
	h := newHarness(t, harnessOpts{tweak: func(o *apiserver.Options) {
		o.Auth = headerAuth{}
		enf, err := policy.New(policy.Options{})
		if err != nil {
			t.Fatal(err)
		}
		o.Authorizer = enf
		q := quota.New(defaults)
		o.Quotas = q
		o.QuotaAPI = quota.NewAPI(o.Store, q, enf)
	}})
	for _, role := range []string{"reader", "member", "admin"} {
		r := h.must(200, "GET", "/v2.0/lbaas/quotas/defaults", nil, "X-Project-Id", "p", "X-Roles", role)
		if q := r.obj("quota"); q["l7rule"] != float64(7) || q["loadbalancer"] != float64(-1) || q["load_balancer"] != float64(-1) {
			t.Errorf("%s: defaults %v", role, q)
		}
	}
}
