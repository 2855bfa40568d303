package apiserver_test

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Tests of the Octavia behaviours clients depend on, each named after its
// behaviour and pointing at its heading in docs/octavia-behaviour.md.

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestVersionDocumentListsEveryV2Version: docs/octavia-behaviour.md, "Version document".
func TestVersionDocumentListsEveryV2Version(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := h.must(200, "GET", "/", nil)
	vs := r.list("versions")
	if len(vs) != 31 {
		t.Fatalf("got %d versions, want 31 (v2.0…v2.30)", len(vs))
	}
	for i, v := range vs {
		m := v.(map[string]any)
		wantStatus := "SUPPORTED"
		if i == 30 {
			wantStatus = "CURRENT"
		}
		links := m["links"].([]any)
		href := links[0].(map[string]any)["href"]
		if m["id"] != "v2."+strconv.Itoa(i) || m["status"] != wantStatus || href != h.srv.URL+"/v2" {
			t.Errorf("version %d: got %v, want id v2.%d status %s href %s/v2", i, m, i, wantStatus, h.srv.URL)
		}
	}
	if v6, v7 := vs[6].(map[string]any)["updated"].(string), vs[7].(map[string]any)["updated"].(string); v7 >= v6 {
		t.Errorf("v2.7 updated %s should be older than v2.6 %s", v7, v6)
	}
	if vs[30].(map[string]any)["updated"] != "2025-02-26T00:00:00Z" {
		t.Errorf("v2.30 updated = %v", vs[30])
	}
	for _, p := range []string{"/v2", "/v2.0", "/v2/lbaas", "/v2.0/lbaas/", "/v2/octavia"} {
		if r := h.must(200, "GET", p, nil); string(r.raw) != `"v2"` {
			t.Errorf("GET %s = %s, want \"v2\"", p, r.raw)
		}
	}
}

// TestV2AndV20WithAndWithoutLbaas: docs/octavia-behaviour.md, "Paths".
func TestV2AndV20WithAndWithoutLbaas(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	id := h.createLB("a")
	for _, p := range []string{"/v2/lbaas/loadbalancers", "/v2.0/lbaas/loadbalancers", "/v2/loadbalancers",
		"/v2.0/loadbalancers.json", "/v2.0/lbaas/loadbalancers/"} {
		r := h.must(200, "GET", p, nil)
		if l := r.list("loadbalancers"); len(l) != 1 || l[0].(map[string]any)["id"] != id {
			t.Errorf("GET %s: got %s, want the one load balancer", p, r.raw)
		}
	}
	for _, p := range []string{"/v2.0/lbaas/loadbalancers/" + id + ".json", "/v2/loadbalancers/" + id} {
		h.must(200, "GET", p, nil)
	}
}

// TestWriteStatusCodesAndOneKeyBodies: docs/octavia-behaviour.md, "Status codes of writes".
func TestWriteStatusCodesAndOneKeyBodies(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	f := newFixture(h)
	member := h.must(201, "POST", "/v2/lbaas/pools/"+f.pool+"/members", map[string]any{"member": map[string]any{"address": "192.0.2.5", "protocol_port": 80}}).obj("member")["id"].(string)
	hm := h.must(201, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{"pool_id": f.pool, "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}}).obj("healthmonitor")["id"].(string)
	for _, c := range []struct{ path, wrapper string }{
		{"/v2/lbaas/loadbalancers/" + f.lb, "loadbalancer"},
		{"/v2/lbaas/listeners/" + f.http, "listener"},
		{"/v2/lbaas/pools/" + f.pool, "pool"},
		{"/v2/lbaas/pools/" + f.pool + "/members/" + member, "member"},
		{"/v2/lbaas/healthmonitors/" + hm, "healthmonitor"},
	} {
		r := h.must(200, "PUT", c.path, map[string]any{c.wrapper: map[string]any{"name": "renamed"}})
		if len(r.body) != 1 || r.obj(c.wrapper)["name"] != "renamed" {
			t.Errorf("PUT %s: single top-level key %q expected, got %s", c.path, c.wrapper, r.raw)
		}
	}
	if r := h.must(202, "PUT", "/v2/lbaas/loadbalancers/"+f.lb+"/failover", nil); len(r.raw) != 0 {
		t.Errorf("failover body %q, want empty", r.raw)
	}
	if r := h.must(202, "PUT", "/v2/lbaas/pools/"+f.pool+"/members", map[string]any{"members": []any{}}); len(r.raw) != 0 {
		t.Errorf("batch member body %q, want empty", r.raw)
	}
	h.must(204, "DELETE", "/v2/lbaas/healthmonitors/"+hm, nil)
}

// lbKeys is the key set of a load balancer response (Octavia 2.30).
var lbKeys = []string{"additional_vips", "admin_state_up", "availability_zone", "created_at", "description", "flavor_id", "id",
	"listeners", "name", "operating_status", "pools", "project_id", "provider", "provisioning_status", "tags", "tenant_id",
	"updated_at", "vip_address", "vip_network_id", "vip_port_id", "vip_qos_policy_id", "vip_sg_ids", "vip_subnet_id", "vip_vnic_type"}

// TestLoadBalancerHasEveryAttribute: docs/octavia-behaviour.md, "Complete objects".
func TestLoadBalancerHasEveryAttribute(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := h.must(201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_network_id": uuidA}})
	l := r.obj("loadbalancer")
	if got := keys(l); !slices.Equal(got, lbKeys) {
		t.Fatalf("keys %v, want %v", got, lbKeys)
	}
	if len(l["listeners"].([]any)) != 0 || len(l["pools"].([]any)) != 0 || l["provisioning_status"] != "PENDING_CREATE" || l["operating_status"] != "OFFLINE" {
		t.Fatalf("create response %s", r.raw)
	}
	if l["vip_network_id"] != uuidA || l["vip_subnet_id"] == nil || l["vip_port_id"] == nil || l["vip_address"] == nil {
		t.Fatalf("VIP not filled: %s", r.raw)
	}
}

// TestTenantIDMirrorsProjectID: docs/octavia-behaviour.md, "tenant_id mirrors project_id".
func TestTenantIDMirrorsProjectID(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	f := newFixture(h)
	hm := h.must(201, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{"pool_id": f.pool, "type": "PING", "delay": 5, "timeout": 3, "max_retries": 3}}).obj("healthmonitor")
	m := h.must(201, "POST", "/v2/lbaas/pools/"+f.pool+"/members", map[string]any{"member": map[string]any{"address": "192.0.2.5", "protocol_port": 80}}).obj("member")
	objs := []map[string]any{
		h.must(200, "GET", "/v2/lbaas/loadbalancers/"+f.lb, nil).obj("loadbalancer"),
		h.must(200, "GET", "/v2/lbaas/listeners/"+f.http, nil).obj("listener"),
		h.must(200, "GET", "/v2/lbaas/pools/"+f.pool, nil).obj("pool"),
		m, hm,
	}
	for _, o := range objs {
		if o["project_id"] != "p1" || o["tenant_id"] != o["project_id"] {
			t.Errorf("project_id %v tenant_id %v in %v", o["project_id"], o["tenant_id"], o)
		}
	}
}

// TestEmptyAndUnsetAttributes: docs/octavia-behaviour.md, "Empty and unset attributes".
func TestEmptyAndUnsetAttributes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	f := newFixture(h)
	l := h.must(200, "PUT", "/v2/lbaas/listeners/"+f.http, map[string]any{"listener": map[string]any{"name": nil, "description": nil, "allowed_cidrs": []any{}, "tags": nil}}).obj("listener")
	if l["name"] != "" || l["description"] != "" || l["allowed_cidrs"] != nil || len(l["tags"].([]any)) != 0 {
		t.Errorf("listener: name %q description %q allowed_cidrs %v tags %v", l["name"], l["description"], l["allowed_cidrs"], l["tags"])
	}
	if hdr, ok := l["insert_headers"].(map[string]any); !ok || len(hdr) != 0 {
		t.Errorf("insert_headers = %v, want {}", l["insert_headers"])
	}
	p := h.must(200, "GET", "/v2/lbaas/pools/"+f.pool, nil).obj("pool")
	if _, ok := p["healthmonitor_id"]; ok {
		t.Errorf("pool without monitor has healthmonitor_id: %v", p)
	}
	if _, ok := p["session_persistence"]; !ok || p["session_persistence"] != nil {
		t.Errorf("session_persistence = %v, want null", p["session_persistence"])
	}
	hm := h.must(201, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{"pool_id": f.pool, "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}}).obj("healthmonitor")
	if hm["http_method"] != nil || hm["url_path"] != nil || hm["expected_codes"] != nil {
		t.Errorf("TCP monitor HTTP fields: %v", hm)
	}
	p = h.must(200, "GET", "/v2/lbaas/pools/"+f.pool, nil).obj("pool")
	if p["healthmonitor_id"] != hm["id"] {
		t.Errorf("healthmonitor_id = %v, want %v", p["healthmonitor_id"], hm["id"])
	}
}

// TestLenientValuesStrictKeys: docs/octavia-behaviour.md, "Lenient values, strict keys".
func TestLenientValuesStrictKeys(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	f := newFixture(h)
	h.must(400, "POST", "/v2/lbaas/pools/"+f.pool+"/members", `{"member": {"address": "192.0.2.7", "protocol_port": 80, "bogus": 1}}`)
	if r := h.must(400, "GET", "/v2/lbaas/pools?bogus=1", nil); r.fault() != "One or more arguments are either duplicate or invalid" {
		t.Errorf("unknown filter: %s", r.raw)
	}
	m := h.must(201, "POST", "/v2/lbaas/pools/"+f.pool+"/members", `{"member": {"address": "192.0.2.7", "protocol_port": "8080", "weight": "20", "admin_state_up": null}}`).obj("member")
	if m["protocol_port"] != float64(8080) || m["weight"] != float64(20) || m["admin_state_up"] != false {
		t.Errorf("numeric strings / admin_state_up null: %v", m)
	}
	l := h.must(200, "PUT", "/v2/lbaas/listeners/"+f.http, `{"listener": {"admin_state_up": null, "connection_limit": "100"}}`).obj("listener")
	if l["admin_state_up"] != false || l["connection_limit"] != float64(100) {
		t.Errorf("update admin_state_up null: %v", l)
	}
}

// statusKeys are the exact key sets of the status tree levels.
var statusKeys = map[string][]string{
	"loadbalancer": {"id", "listeners", "name", "operating_status", "provisioning_status"},
	"listener":     {"id", "name", "operating_status", "pools", "provisioning_status"},
	"pool":         {"health_monitor", "id", "members", "name", "operating_status", "provisioning_status"},
	"monitor":      {"id", "name", "operating_status", "provisioning_status", "type"},
	"member":       {"address", "id", "name", "operating_status", "protocol_port", "provisioning_status"},
}

// TestStatusTreeFollowsListenersAndRedirects: docs/octavia-behaviour.md, "Status tree".
func TestStatusTreeFollowsListenersAndRedirects(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	f := newFixture(h)
	h.must(201, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{"pool_id": f.pool, "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}})
	h.must(201, "POST", "/v2/lbaas/pools/"+f.pool+"/members", map[string]any{"member": map[string]any{"address": "192.0.2.5", "protocol_port": 80}})
	for _, suffix := range []string{"/status", "/statuses"} {
		r := h.must(200, "GET", "/v2/lbaas/loadbalancers/"+f.lb+suffix, nil)
		if got := keys(r.body); !slices.Equal(got, []string{"statuses"}) {
			t.Fatalf("top level %v", got)
		}
		st := r.obj("statuses")
		if got := keys(st); !slices.Equal(got, []string{"loadbalancer"}) {
			t.Fatalf("statuses keys %v: no top-level pools or l7policies", got)
		}
		tree := st["loadbalancer"].(map[string]any)
		if got := keys(tree); !slices.Equal(got, statusKeys["loadbalancer"]) {
			t.Errorf("loadbalancer keys %v", got)
		}
		listeners := tree["listeners"].([]any)
		if len(listeners) != 4 {
			t.Fatalf("listeners %v", listeners)
		}
		var pools int
		for _, li := range listeners {
			lm := li.(map[string]any)
			if got := keys(lm); !slices.Equal(got, statusKeys["listener"]) {
				t.Errorf("listener keys %v", got)
			}
			for _, p := range lm["pools"].([]any) {
				pools++
				pm := p.(map[string]any)
				if got := keys(pm); !slices.Equal(got, statusKeys["pool"]) {
					t.Errorf("pool keys %v", got)
				}
				if pm["id"] == f.pool {
					if got := keys(pm["health_monitor"].(map[string]any)); !slices.Equal(got, statusKeys["monitor"]) {
						t.Errorf("health_monitor keys %v", got)
					}
					if got := keys(pm["members"].([]any)[0].(map[string]any)); !slices.Equal(got, statusKeys["member"]) {
						t.Errorf("member keys %v", got)
					}
				} else if pm["health_monitor"] != nil {
					t.Errorf("pool without monitor: health_monitor %v, want null", pm["health_monitor"])
				}
			}
		}
		if pools != 2 {
			t.Errorf("%d pools shown, want 2 (the pool attached to no listener is hidden)", pools)
		}
	}
}

// TestWritesWhileBusyAreFoldedAndPendingDeleteIs409 is fulcrum's deliberate difference: child
// writes while the load balancer is PENDING_* are accepted, bump the
// generation in the same transaction and mark the parents PENDING_UPDATE;
// only PENDING_DELETE refuses, with Octavia's text.
// See docs/octavia-behaviour.md, "Writes while a load balancer is busy".
func TestWritesWhileBusyAreFoldedAndPendingDeleteIs409(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	f := newFixture(h) // every object still PENDING_CREATE: no controller
	genOf := func() int64 {
		var g int64
		h.store.View(context.Background(), func(tx store.Tx) error {
			l, err := tx.LoadBalancers().Get(context.Background(), f.lb)
			g = l.Generation
			return err
		})
		return g
	}
	before, notes := genOf(), h.notes.count()
	m := h.must(201, "POST", "/v2/lbaas/pools/"+f.pool+"/members", map[string]any{"member": map[string]any{"address": "192.0.2.5", "protocol_port": 80}}).obj("member")
	if genOf() != before+1 || h.notes.count() != notes+1 {
		t.Errorf("generation %d → %d, notifications %d → %d: want one bump and one Enqueue", before, genOf(), notes, h.notes.count())
	}
	if m["provisioning_status"] != "PENDING_CREATE" {
		t.Errorf("member %v", m)
	}
	// Settle everything as the controller would, then check which parents a
	// member update flips.
	settle := func(st lb.ProvisioningStatus) {
		ctx := context.Background()
		err := h.store.Update(ctx, func(tx store.Tx) error {
			l, _ := tx.LoadBalancers().Get(ctx, f.lb)
			l.Status.Provisioning = st
			if err := tx.LoadBalancers().Update(ctx, l); err != nil {
				return err
			}
			ls, _ := tx.Listeners().List(ctx, store.Query{})
			for _, x := range ls {
				x.Status.Provisioning = lb.Active
				tx.Listeners().Update(ctx, x)
			}
			ps, _ := tx.Pools().List(ctx, store.Query{})
			for _, x := range ps {
				x.Status.Provisioning = lb.Active
				tx.Pools().Update(ctx, x)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	settle(lb.Active)
	h.must(200, "PUT", "/v2/lbaas/pools/"+f.pool+"/members/"+m["id"].(string), map[string]any{"member": map[string]any{"weight": 5}})
	for path, key := range map[string]string{"/v2/lbaas/loadbalancers/" + f.lb: "loadbalancer", "/v2/lbaas/listeners/" + f.http: "listener", "/v2/lbaas/pools/" + f.pool: "pool"} {
		if got := h.must(200, "GET", path, nil).obj(key)["provisioning_status"]; got != "PENDING_UPDATE" {
			t.Errorf("%s after member update: %v, want PENDING_UPDATE", key, got)
		}
	}
	if got := h.must(200, "GET", "/v2/lbaas/listeners/"+f.udp, nil).obj("listener")["provisioning_status"]; got != "ACTIVE" {
		t.Errorf("unrelated listener: %v, want ACTIVE", got)
	}
	// Writes while PENDING_UPDATE are accepted (Octavia: 409 immutable).
	h.must(201, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": f.lb, "protocol": "TCP", "protocol_port": 22}})
	h.must(200, "PUT", "/v2/lbaas/loadbalancers/"+f.lb, map[string]any{"loadbalancer": map[string]any{"description": "x"}})
	// A load balancer in ERROR accepts writes.
	settle(lb.Error)
	h.must(200, "PUT", "/v2/lbaas/pools/"+f.pool, map[string]any{"pool": map[string]any{"lb_algorithm": "SOURCE_IP"}})
	// PENDING_DELETE is a genuine conflict.
	h.must(204, "DELETE", "/v2/lbaas/loadbalancers/"+f.lb+"?cascade=true", nil)
	want := "Invalid state PENDING_DELETE of loadbalancer resource " + f.lb
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"PUT", "/v2/lbaas/loadbalancers/" + f.lb, map[string]any{"loadbalancer": map[string]any{}}},
		{"DELETE", "/v2/lbaas/loadbalancers/" + f.lb + "?cascade=true", nil},
		{"PUT", "/v2/lbaas/loadbalancers/" + f.lb + "/failover", nil},
		{"POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": f.lb, "protocol": "TCP", "protocol_port": 23}}},
		{"PUT", "/v2/lbaas/pools/" + f.pool, map[string]any{"pool": map[string]any{}}},
	} {
		if r := h.do(c.method, c.path, c.body); r.status != 409 || r.fault() != want {
			t.Errorf("%s %s: got %d %s, want 409 %s", c.method, c.path, r.status, r.fault(), want)
		}
	}
}

// TestLoadBalancerWithChildrenNeedsCascadeToDelete: docs/octavia-behaviour.md, "Deletes cascade".
func TestLoadBalancerWithChildrenNeedsCascadeToDelete(t *testing.T) {
	h := newHarness(t, harnessOpts{controller: true})
	f := newFixture(h)
	r := h.must(400, "DELETE", "/v2/lbaas/loadbalancers/"+f.lb+"?cascade=false", nil)
	if r.fault() != "Validation failure: Cannot delete Load Balancer "+f.lb+" - it has children" {
		t.Errorf("fault %q", r.fault())
	}
	h.must(204, "DELETE", "/v2/lbaas/loadbalancers/"+f.lb+"?cascade=yes", nil)
	h.waitGone("/v2/lbaas/loadbalancers/" + f.lb)
	for _, p := range []string{"/v2/lbaas/listeners/" + f.http, "/v2/lbaas/pools/" + f.pool} {
		h.must(404, "GET", p, nil)
	}
}

// projectAuth authenticates every caller as a non-admin member of the
// project in X-Project-Id.
type projectAuth struct{}

func (projectAuth) Authenticate(r *http.Request) (policy.Caller, error) {
	p := r.Header.Get("X-Project-Id")
	if p == "" {
		return policy.Caller{}, apiserver.ErrUnauthenticated
	}
	return policy.Caller{ProjectID: p, Roles: []string{"member"}}, nil
}

// TestOtherProjectIsForbiddenAndListsAreScoped: docs/octavia-behaviour.md, "Project scoping".
func TestOtherProjectIsForbiddenAndListsAreScoped(t *testing.T) {
	h := newHarness(t, harnessOpts{tweak: func(o *apiserver.Options) { o.Auth = projectAuth{} }})
	mine := h.createLB("mine")
	theirs := h.must(201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": uuidA}}, "X-Project-Id", "p2").obj("loadbalancer")["id"].(string)
	if r := h.must(403, "GET", "/v2/lbaas/loadbalancers/"+theirs, nil); r.fault() != "Policy does not allow this request to be performed." {
		t.Errorf("fault %q", r.fault())
	}
	h.must(404, "GET", "/v2/lbaas/loadbalancers/"+uuidB, nil)
	l := h.must(200, "GET", "/v2/lbaas/loadbalancers", nil).list("loadbalancers")
	if len(l) != 1 || l[0].(map[string]any)["id"] != mine {
		t.Errorf("list not scoped to the caller's project: %v", l)
	}
	h.must(403, "GET", "/v2/lbaas/loadbalancers?project_id=p2", nil)
	h.must(403, "PUT", "/v2/lbaas/loadbalancers/"+mine+"/failover", nil)
	h.must(401, "GET", "/v2/lbaas/loadbalancers", nil, "X-Project-Id", "")
	h.must(200, "GET", "/", nil, "X-Project-Id", "")
}

// TestBatchMemberUpdateReplacesThePoolsMembers: docs/octavia-behaviour.md, "Batch member update".
func TestBatchMemberUpdateReplacesThePoolsMembers(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	f := newFixture(h)
	members := func() map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, m := range h.must(200, "GET", "/v2/lbaas/pools/"+f.pool+"/members", nil).list("members") {
			mm := m.(map[string]any)
			out[mm["address"].(string)+":"+strconv.Itoa(int(mm["protocol_port"].(float64)))] = mm
		}
		return out
	}
	h.must(201, "POST", "/v2/lbaas/pools/"+f.pool+"/members", map[string]any{"member": map[string]any{"address": "192.0.2.1", "protocol_port": 80, "weight": 7, "name": "keep", "backup": true}})
	h.must(201, "POST", "/v2/lbaas/pools/"+f.pool+"/members", map[string]any{"member": map[string]any{"address": "192.0.2.2", "protocol_port": 80}})
	// Duplicates in the request are refused.
	r := h.must(400, "PUT", "/v2/lbaas/pools/"+f.pool+"/members", map[string]any{"members": []any{
		map[string]any{"address": "192.0.2.1", "protocol_port": 80}, map[string]any{"address": "192.0.2.1", "protocol_port": "80"}}})
	if r.fault() != "Validation failure: Member must be updated only once in the same request." {
		t.Errorf("duplicate fault %q", r.fault())
	}
	// Additive: 192.0.2.1 updated with create defaults re-applied, 192.0.2.3
	// created, 192.0.2.2 untouched.
	h.must(202, "PUT", "/v2/lbaas/pools/"+f.pool+"/members?additive_only=true", map[string]any{"members": []any{
		map[string]any{"address": "192.0.2.1", "protocol_port": 80}, map[string]any{"address": "192.0.2.3", "protocol_port": 80}}})
	ms := members()
	if m := ms["192.0.2.1:80"]; m["weight"] != float64(1) || m["backup"] != false || m["name"] != "keep" || m["provisioning_status"] != "PENDING_CREATE" {
		t.Errorf("updated member %v: want weight 1, backup false, name kept", m)
	}
	if _, ok := ms["192.0.2.3:80"]; !ok || ms["192.0.2.2:80"]["provisioning_status"] != "PENDING_CREATE" {
		t.Errorf("additive batch: %v", ms)
	}
	// Replace: 192.0.2.2 and .3 go.
	h.must(202, "PUT", "/v2/lbaas/pools/"+f.pool+"/members", map[string]any{"members": []any{map[string]any{"address": "192.0.2.1", "protocol_port": 80, "weight": 3}}})
	ms = members()
	if ms["192.0.2.2:80"]["provisioning_status"] != "PENDING_DELETE" || ms["192.0.2.3:80"]["provisioning_status"] != "PENDING_DELETE" || ms["192.0.2.1:80"]["weight"] != float64(3) {
		t.Errorf("replace batch: %v", ms)
	}
}

// TestNewMemberIsNoMonitorWithoutHealthMonitor: docs/octavia-behaviour.md, "New members without a health monitor".
func TestNewMemberIsNoMonitorWithoutHealthMonitor(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	f := newFixture(h)
	m := h.must(201, "POST", "/v2/lbaas/pools/"+f.pool+"/members", map[string]any{"member": map[string]any{"address": "192.0.2.1", "protocol_port": 80}}).obj("member")
	if m["provisioning_status"] != "PENDING_CREATE" || m["operating_status"] != "NO_MONITOR" {
		t.Errorf("member without monitor %v", m)
	}
	h.must(201, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{"pool_id": f.pool, "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}})
	m = h.must(201, "POST", "/v2/lbaas/pools/"+f.pool+"/members", map[string]any{"member": map[string]any{"address": "192.0.2.2", "protocol_port": 80}}).obj("member")
	if m["operating_status"] != "OFFLINE" {
		t.Errorf("member with monitor %v", m)
	}
	for _, p := range []string{"/v2/lbaas/listeners/" + f.http, "/v2/lbaas/pools/" + f.pool} {
		r := h.must(200, "GET", p, nil)
		for _, v := range r.body {
			if o := v.(map[string]any); o["operating_status"] != "OFFLINE" {
				t.Errorf("%s operating_status %v, want OFFLINE", p, o["operating_status"])
			}
		}
	}
}

// TestNullResetsToTheDefault: docs/octavia-behaviour.md, "Null resets to the default".
func TestNullResetsToTheDefault(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	f := newFixture(h)
	l := h.must(200, "PUT", "/v2/lbaas/listeners/"+f.https, map[string]any{"listener": map[string]any{
		"connection_limit": 10, "timeout_client_data": 1, "timeout_member_connect": 2, "timeout_member_data": 3, "timeout_tcp_inspect": 4,
		"tls_versions": []any{"TLSv1.3"}, "alpn_protocols": []any{"h2"}, "tls_ciphers": "ECDHE-RSA-AES128-GCM-SHA256"}}).obj("listener")
	if l["connection_limit"] != float64(10) || l["tls_ciphers"] != "ECDHE-RSA-AES128-GCM-SHA256" {
		t.Fatalf("set: %v", l)
	}
	l = h.must(200, "PUT", "/v2/lbaas/listeners/"+f.https, map[string]any{"listener": map[string]any{
		"connection_limit": nil, "timeout_client_data": nil, "timeout_member_connect": nil, "timeout_member_data": nil, "timeout_tcp_inspect": nil,
		"tls_versions": nil, "alpn_protocols": nil, "tls_ciphers": nil, "client_authentication": nil, "hsts_preload": nil}}).obj("listener")
	want := map[string]any{"connection_limit": float64(-1), "timeout_client_data": float64(50000), "timeout_member_connect": float64(5000),
		"timeout_member_data": float64(50000), "timeout_tcp_inspect": float64(0), "tls_ciphers": lb.DefaultTLSCiphers,
		"client_authentication": "NONE", "hsts_preload": false}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("listener %s after null: %v, want %v", k, l[k], v)
		}
	}
	if len(l["tls_versions"].([]any)) != 2 || len(l["alpn_protocols"].([]any)) != 3 {
		t.Errorf("listener TLS lists after null: %v %v", l["tls_versions"], l["alpn_protocols"])
	}
	hm := h.must(201, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{"pool_id": f.pool, "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3,
		"http_method": "HEAD", "url_path": "/x", "expected_codes": "204", "max_retries_down": 5}}).obj("healthmonitor")
	hm = h.must(200, "PUT", "/v2/lbaas/healthmonitors/"+hm["id"].(string), map[string]any{"healthmonitor": map[string]any{
		"http_method": nil, "url_path": nil, "expected_codes": nil, "max_retries_down": nil}}).obj("healthmonitor")
	if hm["http_method"] != "GET" || hm["url_path"] != "/" || hm["expected_codes"] != "200" || hm["max_retries_down"] != float64(3) {
		t.Errorf("monitor after null: %v", hm)
	}
	if r := h.must(400, "PUT", "/v2/lbaas/healthmonitors/"+hm["id"].(string), map[string]any{"healthmonitor": map[string]any{"delay": nil}}); r.fault() != "None is not a valid option for delay" {
		t.Errorf("delay null: %q", r.fault())
	}
	m := h.must(201, "POST", "/v2/lbaas/pools/"+f.pool+"/members", map[string]any{"member": map[string]any{"address": "192.0.2.1", "protocol_port": 80, "weight": 9, "backup": true}}).obj("member")
	m = h.must(200, "PUT", "/v2/lbaas/pools/"+f.pool+"/members/"+m["id"].(string), map[string]any{"member": map[string]any{"weight": nil, "backup": nil}}).obj("member")
	if m["weight"] != float64(1) || m["backup"] != false {
		t.Errorf("member after null: %v", m)
	}
}

// TestHTTPOnlyMonitorFieldsRefusedOnOtherTypes: docs/octavia-behaviour.md, "Health monitors".
func TestHTTPOnlyMonitorFieldsRefusedOnOtherTypes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	f := newFixture(h)
	hm := h.must(201, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{"pool_id": f.pool, "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}}).obj("healthmonitor")
	for _, field := range []string{"http_method", "url_path", "expected_codes"} {
		r := h.must(400, "PUT", "/v2/lbaas/healthmonitors/"+hm["id"].(string), map[string]any{"healthmonitor": map[string]any{field: nil}})
		if want := field + " is not a valid option for health monitors of type TCP"; r.fault() != want {
			t.Errorf("PUT %s null: %q, want %q", field, r.fault(), want)
		}
	}
}

// TestPagination: docs/octavia-behaviour.md, "Pagination".
func TestPagination(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, h.createLB("lb"+strconv.Itoa(i)))
	}
	page := func(q string) ([]string, []map[string]any) {
		r := h.must(200, "GET", "/v2/lbaas/loadbalancers"+q, nil)
		var got []string
		for _, x := range r.list("loadbalancers") {
			got = append(got, x.(map[string]any)["id"].(string))
		}
		var links []map[string]any
		for _, x := range r.list("loadbalancers_links") {
			links = append(links, x.(map[string]any))
		}
		return got, links
	}
	base := h.srv.URL + "/v2/lbaas/loadbalancers"
	got, links := page("?limit=2&sort_key=created_at&sort_dir=asc")
	if !slices.Equal(got, ids[:2]) || len(links) != 1 || links[0]["rel"] != "next" ||
		links[0]["href"] != base+"?limit=2&sort_key=created_at&marker="+ids[1] {
		t.Fatalf("first page %v links %v", got, links)
	}
	got, links = page("?limit=2&marker=" + ids[1] + "&provisioning_status=PENDING_CREATE")
	if !slices.Equal(got, ids[2:4]) || len(links) != 2 || links[0]["rel"] != "previous" ||
		links[0]["href"] != base+"?limit=2&marker="+ids[2]+"&page_reverse=True" || links[1]["href"] != base+"?limit=2&marker="+ids[3] {
		t.Fatalf("second page %v links %v (filters are not carried over)", got, links)
	}
	got, _ = page("?limit=2&marker=" + ids[3] + "&page_reverse=True")
	if !slices.Equal(got, ids[1:3]) {
		t.Fatalf("reverse page %v, want the two before the marker %v", got, ids[1:3])
	}
	got, _ = page("?limit=2&marker=" + ids[3] + "&page_reverse=true")
	if !slices.Equal(got, ids[4:]) {
		t.Fatalf("page_reverse=true (not the literal True) %v, want forward %v", got, ids[4:])
	}
	got, links = page("?limit=0")
	if len(got) != 5 || len(links) != 1 || links[0]["href"] != base+"?limit=None&marker="+ids[4] {
		t.Fatalf("limit=0 is unlimited: %v %v", got, links)
	}
	if got, links = page("?limit=5"); len(got) != 5 || len(links) != 1 {
		t.Fatalf("a full page has a next link: %v", links)
	}
	if got, links = page("?limit=6"); len(got) != 5 || len(links) != 0 {
		t.Fatalf("a short page has no next link: %v", links)
	}
	if got, _ = page("?sort=name:desc"); !slices.Equal(got, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}) {
		t.Fatalf("sort=name:desc %v", got)
	}
	if r := h.must(400, "GET", "/v2/lbaas/loadbalancers?sort=name:asc:x", nil); r.fault() != "Supplied sort key '['name', 'asc', 'x']' is not valid." {
		t.Fatalf("bad sort: %q", r.fault())
	}
}

// TestDomainNamePatternAsPythonWrites: docs/octavia-behaviour.md, "Python patterns".
func TestDomainNamePatternAsPythonWrites(t *testing.T) {
	tests := []struct {
		name   string
		domain string
		ok     bool
	}{
		{"simple", "example.com", true},
		{"trailing dot", "example.com.", true},
		{"underscore first", "_srv.example.com", true},
		{"underscore inside", "a_b.example.com", false},
		{"leading hyphen", "-a.example.com", false},
		{"trailing hyphen", "a-.example.com", false},
		{"label of 63", strings.Repeat("a", 63) + ".com", true},
		{"label of 64", strings.Repeat("a", 64) + ".com", false},
		{"empty label", "a..com", false},
		{"253 characters and a trailing dot", strings.Repeat("a.", 127), true},
		{"255 characters", strings.Repeat("a.", 127) + "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lb.ValidDomainName(tt.domain); got != tt.ok {
				t.Errorf("ValidDomainName(%q) = %v, want %v", tt.domain, got, tt.ok)
			}
		})
	}
}

// TestFaultShapes: docs/octavia-behaviour.md, "Faults".
func TestFaultShapes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := h.must(404, "GET", "/v2/lbaas/loadbalancers/"+uuidB, nil)
	if string(r.raw) != `{"faultcode":"Client","faultstring":"Load Balancer `+uuidB+` not found.","debuginfo":null}` {
		t.Errorf("404 body %s", r.raw)
	}
	if !regexp.MustCompile(`^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(r.header.Get("X-Openstack-Request-Id")) {
		t.Errorf("request id %q", r.header.Get("X-Openstack-Request-Id"))
	}
	r = h.must(406, "GET", "/v2/lbaas/loadbalancers", nil, "Accept", "text/html")
	errs := r.list("errors")
	if len(errs) != 1 || errs[0].(map[string]any)["detail"] != "Only content type application/json is accepted." || errs[0].(map[string]any)["request_id"] != r.header.Get("X-Openstack-Request-Id") {
		t.Errorf("406 body %s", r.raw)
	}
	h.must(200, "GET", "/v2/lbaas/loadbalancers", nil, "Accept", "application/json; charset=utf-8")
	h.must(200, "GET", "/v2/lbaas/loadbalancers", nil, "Accept", "text/html, */*;q=0.1")
	r = h.must(405, "PATCH", "/v2/lbaas/loadbalancers", nil)
	if r.header.Get("Allow") != "GET, POST" || r.body["faultcode"] != "Client" {
		t.Errorf("405: %v %s", r.header, r.raw)
	}
	h.must(404, "GET", "/v2/lbaas/nothing", nil)
	h.must(404, "GET", "/v3/lbaas/loadbalancers", nil)
	h.must(415, "POST", "/v2/lbaas/loadbalancers", nil, "Content-Type", "text/plain")
	big := `{"loadbalancer": {"name": "` + strings.Repeat("x", 114688) + `"}}`
	h.must(413, "POST", "/v2/lbaas/loadbalancers", big)
	if r := h.must(400, "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": `); r.fault() != "Request is not in valid JSON format" {
		t.Errorf("bad JSON: %s", r.raw)
	}
}

// TestTimestampsAreZonelessUTC: docs/octavia-behaviour.md, "Timestamps".
func TestTimestampsAreZonelessUTC(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := h.must(201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": uuidA}})
	l := r.obj("loadbalancer")
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`).MatchString(l["created_at"].(string)) || l["updated_at"] != nil {
		t.Fatalf("created_at %v updated_at %v", l["created_at"], l["updated_at"])
	}
	l = h.must(200, "PUT", "/v2/lbaas/loadbalancers/"+l["id"].(string), map[string]any{"loadbalancer": map[string]any{"name": "x"}}).obj("loadbalancer")
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`).MatchString(l["updated_at"].(string)) {
		t.Fatalf("updated_at %v", l["updated_at"])
	}
}

// TestListenerPortSharingAndPrometheus: docs/octavia-behaviour.md, "Listener ports and PROMETHEUS listeners".
func TestListenerPortSharingAndPrometheus(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	id := h.createLB("a")
	h.must(201, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": id, "protocol": "TCP", "protocol_port": 80}})
	h.must(201, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": id, "protocol": "UDP", "protocol_port": 80}})
	h.must(201, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": id, "protocol": "SCTP", "protocol_port": 80}})
	h.must(409, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": id, "protocol": "HTTP", "protocol_port": 80}})
	h.must(409, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": id, "protocol": "UDP", "protocol_port": 80}})
	prom := h.must(201, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": id, "protocol": "PROMETHEUS", "protocol_port": 9100}}).obj("listener")["id"].(string)
	h.must(400, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"listener_id": prom, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}})
}

// TestChildrenInheritTheProject: docs/octavia-behaviour.md, "Children inherit the project".
func TestChildrenInheritTheProject(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	id := h.must(201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": uuidA, "tenant_id": "owner"}}).obj("loadbalancer")
	if id["project_id"] != "owner" {
		t.Fatalf("tenant_id alias: %v", id)
	}
	l := h.must(201, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": id["id"], "protocol": "TCP", "protocol_port": 80, "project_id": "someone-else"}}).obj("listener")
	if l["project_id"] != "owner" || l["tenant_id"] != "owner" {
		t.Fatalf("listener project %v, want the load balancer's", l["project_id"])
	}
}
