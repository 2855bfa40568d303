package apiserver_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// TestRBACMatrixL7CatalogAmphorae extends the RBAC matrix to L7 policies
// and rules (project-scoped read/write), flavors, availability zones and
// providers (anyone who may read lists them; admins write), flavor and
// availability zone profiles, provider capabilities and amphorae (admin
// only), with Octavia's default policies and the legacy roles.
func TestRBACMatrixL7CatalogAmphorae(t *testing.T) {
	var seq atomic.Int64
	h := newHarness(t, harnessOpts{controller: true, tweak: func(o *apiserver.Options) {
		o.Auth = headerAuth{}
		enf, err := policy.New(policy.Options{})
		if err != nil {
			t.Fatal(err)
		}
		o.Authorizer = enf
	}})
	const api = "/v2.0/lbaas/"
	asAdmin := func(project string) []string { return []string{"X-Project-Id", project, "X-Roles", "admin"} }
	next := func() int64 { return seq.Add(1) }
	type fixture struct{ project, lb, listener, policy, rule, amphora string }
	newPolicy := func(f *fixture) string {
		return h.must(201, "POST", api+"l7policies", map[string]any{"l7policy": map[string]any{
			"listener_id": f.listener, "action": "REJECT"}}, asAdmin(f.project)...).obj("l7policy")["id"].(string)
	}
	newRule := func(f *fixture) string {
		return h.must(201, "POST", api+"l7policies/"+f.policy+"/rules", map[string]any{"rule": map[string]any{
			"type": "PATH", "compare_type": "STARTS_WITH", "value": fmt.Sprintf("/r%d", next())}}, asAdmin(f.project)...).obj("rule")["id"].(string)
	}
	ctx := context.Background()
	newAmphora := func(f *fixture, status string) string {
		a := &lb.Amphora{ID: fmt.Sprintf("a3a00000-0000-4000-8000-%012d", next()), LoadBalancerID: f.lb, AgentID: "",
			Role: lb.RoleStandalone, Status: status, ComputeID: "node-1", Times: lb.Times{CreatedAt: time.Now()}}
		if err := h.store.Update(ctx, func(tx store.Tx) error { return tx.Amphorae().Create(ctx, a) }); err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	fix := map[string]*fixture{}
	for _, p := range []string{"own", "other"} {
		f := &fixture{project: p}
		f.lb = h.must(201, "POST", api+"loadbalancers", map[string]any{"loadbalancer": map[string]any{
			"vip_subnet_id": uuidA, "project_id": p}}, asAdmin(p)...).obj("loadbalancer")["id"].(string)
		f.listener = h.must(201, "POST", api+"listeners", map[string]any{"listener": map[string]any{
			"loadbalancer_id": f.lb, "protocol": "HTTP", "protocol_port": 80}}, asAdmin(p)...).obj("listener")["id"].(string)
		f.policy = newPolicy(f)
		f.rule = newRule(f)
		f.amphora = newAmphora(f, lb.AmphoraReady)
		fix[p] = f
	}
	admin := asAdmin("own")
	newFlavorProfile := func() string {
		return h.must(201, "POST", api+"flavorprofiles", map[string]any{"flavorprofile": map[string]any{
			"name": "fp", "provider_name": "noop", "flavor_data": "{}"}}, admin...).obj("flavorprofile")["id"].(string)
	}
	fp := newFlavorProfile()
	newFlavor := func() string {
		return h.must(201, "POST", api+"flavors", map[string]any{"flavor": map[string]any{
			"name": fmt.Sprintf("f%d", next()), "flavor_profile_id": fp}}, admin...).obj("flavor")["id"].(string)
	}
	flavor := newFlavor()
	newAZProfile := func() string {
		return h.must(201, "POST", api+"availabilityzoneprofiles", map[string]any{"availability_zone_profile": map[string]any{
			"name": "azp", "provider_name": "noop", "availability_zone_data": "{}"}}, admin...).obj("availability_zone_profile")["id"].(string)
	}
	azp := newAZProfile()
	newAZ := func() string {
		return h.must(201, "POST", api+"availabilityzones", map[string]any{"availability_zone": map[string]any{
			"name": fmt.Sprintf("az%d", next()), "availability_zone_profile_id": azp}}, admin...).obj("availability_zone")["name"].(string)
	}
	az := newAZ()

	type op struct {
		resource, action, class string // class: read, write, catalog-read, admin
		do                      func(hdr []string, f *fixture, allowed bool) *response
	}
	ops := []op{
		{"l7policy", "list", "read", func(hdr []string, f *fixture, _ bool) *response {
			return h.do("GET", api+"l7policies?project_id="+f.project, nil, hdr...)
		}},
		{"l7policy", "show", "read", func(hdr []string, f *fixture, _ bool) *response {
			return h.do("GET", api+"l7policies/"+f.policy, nil, hdr...)
		}},
		{"l7policy", "create", "write", func(hdr []string, f *fixture, _ bool) *response {
			return h.do("POST", api+"l7policies", map[string]any{"l7policy": map[string]any{"listener_id": f.listener, "action": "REJECT"}}, hdr...)
		}},
		{"l7policy", "update", "write", func(hdr []string, f *fixture, _ bool) *response {
			return h.do("PUT", api+"l7policies/"+f.policy, map[string]any{"l7policy": map[string]any{"name": "x"}}, hdr...)
		}},
		{"l7policy", "delete", "write", func(hdr []string, f *fixture, allowed bool) *response {
			id := f.policy
			if allowed {
				id = newPolicy(f)
			}
			return h.do("DELETE", api+"l7policies/"+id, nil, hdr...)
		}},
		{"l7rule", "list", "read", func(hdr []string, f *fixture, _ bool) *response {
			return h.do("GET", api+"l7policies/"+f.policy+"/rules", nil, hdr...)
		}},
		{"l7rule", "show", "read", func(hdr []string, f *fixture, _ bool) *response {
			return h.do("GET", api+"l7policies/"+f.policy+"/rules/"+f.rule, nil, hdr...)
		}},
		{"l7rule", "create", "write", func(hdr []string, f *fixture, _ bool) *response {
			return h.do("POST", api+"l7policies/"+f.policy+"/rules", map[string]any{"rule": map[string]any{
				"type": "PATH", "compare_type": "EQUAL_TO", "value": fmt.Sprintf("/x%d", next())}}, hdr...)
		}},
		{"l7rule", "update", "write", func(hdr []string, f *fixture, _ bool) *response {
			return h.do("PUT", api+"l7policies/"+f.policy+"/rules/"+f.rule, map[string]any{"rule": map[string]any{"invert": true}}, hdr...)
		}},
		{"l7rule", "delete", "write", func(hdr []string, f *fixture, allowed bool) *response {
			id := f.rule
			if allowed {
				id = newRule(f)
			}
			return h.do("DELETE", api+"l7policies/"+f.policy+"/rules/"+id, nil, hdr...)
		}},
		{"provider", "list", "catalog-read", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("GET", api+"providers", nil, hdr...)
		}},
		{"provider", "flavor_capabilities", "admin", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("GET", api+"providers/noop/flavor_capabilities", nil, hdr...)
		}},
		{"provider", "availability_zone_capabilities", "admin", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("GET", api+"providers/noop/availability_zone_capabilities", nil, hdr...)
		}},
		{"flavor", "list", "catalog-read", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("GET", api+"flavors", nil, hdr...)
		}},
		{"flavor", "show", "catalog-read", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("GET", api+"flavors/"+flavor, nil, hdr...)
		}},
		{"flavor", "create", "admin", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("POST", api+"flavors", map[string]any{"flavor": map[string]any{"name": fmt.Sprintf("n%d", next()), "flavor_profile_id": fp}}, hdr...)
		}},
		{"flavor", "update", "admin", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("PUT", api+"flavors/"+flavor, map[string]any{"flavor": map[string]any{"description": "x"}}, hdr...)
		}},
		{"flavor", "delete", "admin", func(hdr []string, _ *fixture, allowed bool) *response {
			id := flavor
			if allowed {
				id = newFlavor()
			}
			return h.do("DELETE", api+"flavors/"+id, nil, hdr...)
		}},
		{"flavorprofile", "list", "admin", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("GET", api+"flavorprofiles", nil, hdr...)
		}},
		{"flavorprofile", "show", "admin", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("GET", api+"flavorprofiles/"+fp, nil, hdr...)
		}},
		{"flavorprofile", "create", "admin", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("POST", api+"flavorprofiles", map[string]any{"flavorprofile": map[string]any{"name": "p", "provider_name": "noop", "flavor_data": "{}"}}, hdr...)
		}},
		{"flavorprofile", "update", "admin", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("PUT", api+"flavorprofiles/"+fp, map[string]any{"flavorprofile": map[string]any{"name": "renamed"}}, hdr...)
		}},
		{"flavorprofile", "delete", "admin", func(hdr []string, _ *fixture, allowed bool) *response {
			id := fp
			if allowed {
				id = newFlavorProfile()
			}
			return h.do("DELETE", api+"flavorprofiles/"+id, nil, hdr...)
		}},
		{"availabilityzone", "list", "catalog-read", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("GET", api+"availabilityzones", nil, hdr...)
		}},
		{"availabilityzone", "show", "catalog-read", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("GET", api+"availabilityzones/"+az, nil, hdr...)
		}},
		{"availabilityzone", "create", "admin", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("POST", api+"availabilityzones", map[string]any{"availability_zone": map[string]any{
				"name": fmt.Sprintf("z%d", next()), "availability_zone_profile_id": azp}}, hdr...)
		}},
		{"availabilityzone", "update", "admin", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("PUT", api+"availabilityzones/"+az, map[string]any{"availability_zone": map[string]any{"description": "x"}}, hdr...)
		}},
		{"availabilityzone", "delete", "admin", func(hdr []string, _ *fixture, allowed bool) *response {
			name := az
			if allowed {
				name = newAZ()
			}
			return h.do("DELETE", api+"availabilityzones/"+name, nil, hdr...)
		}},
		{"availabilityzoneprofile", "list", "admin", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("GET", api+"availabilityzoneprofiles", nil, hdr...)
		}},
		{"availabilityzoneprofile", "show", "admin", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("GET", api+"availabilityzoneprofiles/"+azp, nil, hdr...)
		}},
		{"availabilityzoneprofile", "create", "admin", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("POST", api+"availabilityzoneprofiles", map[string]any{"availability_zone_profile": map[string]any{
				"name": "p", "provider_name": "noop", "availability_zone_data": "{}"}}, hdr...)
		}},
		{"availabilityzoneprofile", "update", "admin", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("PUT", api+"availabilityzoneprofiles/"+azp, map[string]any{"availability_zone_profile": map[string]any{"name": "renamed"}}, hdr...)
		}},
		{"availabilityzoneprofile", "delete", "admin", func(hdr []string, _ *fixture, allowed bool) *response {
			id := azp
			if allowed {
				id = newAZProfile()
			}
			return h.do("DELETE", api+"availabilityzoneprofiles/"+id, nil, hdr...)
		}},
		{"amphora", "list", "admin", func(hdr []string, _ *fixture, _ bool) *response {
			return h.do("GET", "/v2.0/octavia/amphorae", nil, hdr...)
		}},
		{"amphora", "show", "admin", func(hdr []string, f *fixture, _ bool) *response {
			return h.do("GET", "/v2.0/octavia/amphorae/"+f.amphora, nil, hdr...)
		}},
		{"amphora", "failover", "admin", func(hdr []string, f *fixture, _ bool) *response {
			return h.do("PUT", "/v2.0/octavia/amphorae/"+f.amphora+"/failover", nil, hdr...)
		}},
		{"amphora", "config", "admin", func(hdr []string, f *fixture, _ bool) *response {
			return h.do("PUT", "/v2.0/octavia/amphorae/"+f.amphora+"/config", nil, hdr...)
		}},
		{"amphora", "delete", "admin", func(hdr []string, f *fixture, allowed bool) *response {
			id := f.amphora
			if allowed {
				id = newAmphora(f, lb.AmphoraError)
			}
			return h.do("DELETE", "/v2.0/octavia/amphorae/"+id, nil, hdr...)
		}},
	}
	cells := 0
	for _, rr := range rbacRoles {
		for _, o := range ops {
			for _, target := range []string{"own", "other"} {
				c := rr.caps
				var allowed bool
				switch o.class {
				case "read":
					allowed = c.readOwn && target == "own" || c.readOther
				case "write":
					allowed = c.writeOwn && target == "own" || c.writeOther
				case "catalog-read":
					// load-balancer:read on the caller's own project.
					allowed = c.readOwn
				case "admin":
					allowed = c.admin
				}
				name := fmt.Sprintf("%s/%s/%s/%s", o.resource, o.action, orNone(rr.role), target)
				cells++
				r := o.do([]string{"X-Project-Id", "own", "X-Roles", rr.role}, fix[target], allowed)
				if allowed && (r.status < 200 || r.status > 299) {
					t.Errorf("%s: status %d, want 2xx: %s", name, r.status, r.raw)
				}
				if !allowed && (r.status != http.StatusForbidden || r.fault() != policy.DeniedMessage) {
					t.Errorf("%s: status %d %q, want 403 %q", name, r.status, r.fault(), policy.DeniedMessage)
				}
			}
		}
	}
	t.Logf("RBAC matrix (L7, catalog, amphorae): %d cells (%d roles × %d operations × own/other project)", cells, len(rbacRoles), len(ops))
}
