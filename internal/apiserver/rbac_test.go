package apiserver_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/quota"
)

// headerAuth is a keystone-like authenticator for tests: project from
// X-Project-Id, roles from X-Roles, never admin by decree (only roles count).
type headerAuth struct{}

func (headerAuth) Authenticate(r *http.Request) (policy.Caller, error) {
	c := policy.Caller{ProjectID: r.Header.Get("X-Project-Id"), UserID: "u"}
	for _, role := range strings.Split(r.Header.Get("X-Roles"), ",") {
		if role = strings.TrimSpace(role); role != "" {
			c.Roles = append(c.Roles, role)
		}
	}
	return c, nil
}

// rbacFixture is one project's load balancer graph.
type rbacFixture struct {
	project, lb, listener, pool, member, hm string
}

// rbacCaps is what a role may do (docs/octavia-behaviour.md, "Roles").
type rbacCaps struct {
	readOwn, writeOwn, readOther, writeOther, quotaReadOwn, quotaReadOther, quotaWrite, admin bool
	// service may list any pool's members (for telemetry).
	service bool
}

var rbacRoles = []struct {
	role string
	caps rbacCaps
}{
	{"", rbacCaps{}},
	{"reader", rbacCaps{readOwn: true, quotaReadOwn: true}},
	{"member", rbacCaps{readOwn: true, writeOwn: true, quotaReadOwn: true}},
	{"admin", rbacCaps{true, true, true, true, true, true, true, true, false}},
	{"service", rbacCaps{service: true}},
	{"load-balancer_observer", rbacCaps{readOwn: true, quotaReadOwn: true}},
	{"load-balancer_member", rbacCaps{readOwn: true, writeOwn: true, quotaReadOwn: true}},
	{"load-balancer_global_observer", rbacCaps{readOwn: true, readOther: true, quotaReadOwn: true, quotaReadOther: true}},
	{"load-balancer_quota_admin", rbacCaps{quotaReadOwn: true, quotaReadOther: true, quotaWrite: true}},
	{"load-balancer_admin", rbacCaps{true, true, true, true, true, true, true, true, false}},
}

// TestRBACMatrix checks every resource × operation × role × own/other
// project cell against Octavia's policy defaults (new defaults with the
// legacy roles): allowed calls succeed, denied ones are 403 — also for
// another project's object, never 404 — and lists of project users are
// scoped to their project.
func TestRBACMatrix(t *testing.T) {
	var seq atomic.Int64
	h := newHarness(t, harnessOpts{controller: true, tweak: func(o *apiserver.Options) {
		o.Auth = headerAuth{}
		enf, err := policy.New(policy.Options{})
		if err != nil {
			t.Fatal(err)
		}
		o.Authorizer = enf
		q := quota.New(lb.UnlimitedQuotas())
		o.Quotas = q
		o.QuotaAPI = quota.NewAPI(o.Store, q, enf)
	}})
	asAdmin := func(project string) []string { return []string{"X-Project-Id", project, "X-Roles", "admin"} }
	next := func() int64 { return seq.Add(1) }
	newLB := func(project string) string {
		r := h.must(201, "POST", "/v2.0/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
			"name": "lb", "vip_subnet_id": "6a0a707c-45ef-4758-b533-e55adddba8ce", "project_id": project}}, asAdmin(project)...)
		return r.obj("loadbalancer")["id"].(string)
	}
	newListener := func(project, lbID string) string {
		return h.must(201, "POST", "/v2.0/lbaas/listeners", map[string]any{"listener": map[string]any{
			"loadbalancer_id": lbID, "protocol": "HTTP", "protocol_port": 1000 + next()}}, asAdmin(project)...).obj("listener")["id"].(string)
	}
	newPool := func(project, lbID string) string {
		return h.must(201, "POST", "/v2.0/lbaas/pools", map[string]any{"pool": map[string]any{
			"loadbalancer_id": lbID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, asAdmin(project)...).obj("pool")["id"].(string)
	}
	newMember := func(project, poolID string) string {
		return h.must(201, "POST", "/v2.0/lbaas/pools/"+poolID+"/members", map[string]any{"member": map[string]any{
			"address": "127.0.0.1", "protocol_port": 1000 + next()}}, asAdmin(project)...).obj("member")["id"].(string)
	}
	newHM := func(project, poolID string) string {
		return h.must(201, "POST", "/v2.0/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{
			"pool_id": poolID, "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}}, asAdmin(project)...).obj("healthmonitor")["id"].(string)
	}
	fix := map[string]*rbacFixture{}
	for _, p := range []string{"own", "other"} {
		f := &rbacFixture{project: p, lb: newLB(p)}
		f.listener = newListener(p, f.lb)
		f.pool = newPool(p, f.lb)
		f.member = newMember(p, f.pool)
		f.hm = newHM(p, f.pool)
		fix[p] = f
	}

	type op struct {
		resource, action string
		class            string // read, read-or-service, write, admin, quota-read, quota-write
		do               func(hdr []string, f *rbacFixture, allowed bool) *response
	}
	const api = "/v2.0/lbaas/"
	ops := []op{
		{"loadbalancer", "list", "read", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("GET", api+"loadbalancers?project_id="+f.project, nil, hdr...)
		}},
		{"loadbalancer", "show", "read", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("GET", api+"loadbalancers/"+f.lb, nil, hdr...)
		}},
		{"loadbalancer", "stats", "read", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("GET", api+"loadbalancers/"+f.lb+"/stats", nil, hdr...)
		}},
		{"loadbalancer", "status", "read", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("GET", api+"loadbalancers/"+f.lb+"/status", nil, hdr...)
		}},
		{"loadbalancer", "create", "write", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("POST", api+"loadbalancers", map[string]any{"loadbalancer": map[string]any{
				"vip_subnet_id": "6a0a707c-45ef-4758-b533-e55adddba8ce", "project_id": f.project}}, hdr...)
		}},
		{"loadbalancer", "update", "write", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("PUT", api+"loadbalancers/"+f.lb, map[string]any{"loadbalancer": map[string]any{"description": "x"}}, hdr...)
		}},
		{"loadbalancer", "delete", "write", func(hdr []string, f *rbacFixture, allowed bool) *response {
			id := f.lb
			if allowed {
				id = newLB(f.project)
				for i := 0; i < 2000; i++ {
					r := h.must(200, "GET", api+"loadbalancers/"+id, nil, asAdmin(f.project)...)
					if r.obj("loadbalancer")["provisioning_status"] == "ACTIVE" {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			return h.do("DELETE", api+"loadbalancers/"+id, nil, hdr...)
		}},
		{"loadbalancer", "failover", "admin", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("PUT", api+"loadbalancers/"+f.lb+"/failover", nil, hdr...)
		}},
		{"listener", "list", "read", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("GET", api+"listeners?project_id="+f.project, nil, hdr...)
		}},
		{"listener", "show", "read", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("GET", api+"listeners/"+f.listener, nil, hdr...)
		}},
		{"listener", "create", "write", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("POST", api+"listeners", map[string]any{"listener": map[string]any{
				"loadbalancer_id": f.lb, "protocol": "TCP", "protocol_port": 1000 + next()}}, hdr...)
		}},
		{"listener", "update", "write", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("PUT", api+"listeners/"+f.listener, map[string]any{"listener": map[string]any{"description": "x"}}, hdr...)
		}},
		{"listener", "delete", "write", func(hdr []string, f *rbacFixture, allowed bool) *response {
			id := f.listener
			if allowed {
				id = newListener(f.project, f.lb)
			}
			return h.do("DELETE", api+"listeners/"+id, nil, hdr...)
		}},
		{"pool", "list", "read", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("GET", api+"pools?project_id="+f.project, nil, hdr...)
		}},
		{"pool", "show", "read", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("GET", api+"pools/"+f.pool, nil, hdr...)
		}},
		{"pool", "create", "write", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("POST", api+"pools", map[string]any{"pool": map[string]any{
				"loadbalancer_id": f.lb, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}, hdr...)
		}},
		{"pool", "update", "write", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("PUT", api+"pools/"+f.pool, map[string]any{"pool": map[string]any{"description": "x"}}, hdr...)
		}},
		{"pool", "delete", "write", func(hdr []string, f *rbacFixture, allowed bool) *response {
			id := f.pool
			if allowed {
				id = newPool(f.project, f.lb)
			}
			return h.do("DELETE", api+"pools/"+id, nil, hdr...)
		}},
		{"member", "list", "read-or-service", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("GET", api+"pools/"+f.pool+"/members", nil, hdr...)
		}},
		{"member", "show", "read", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("GET", api+"pools/"+f.pool+"/members/"+f.member, nil, hdr...)
		}},
		{"member", "stats", "read", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("GET", api+"pools/"+f.pool+"/members/"+f.member+"/stats", nil, hdr...)
		}},
		{"member", "create", "write", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("POST", api+"pools/"+f.pool+"/members", map[string]any{"member": map[string]any{
				"address": "127.0.0.2", "protocol_port": 1000 + next()}}, hdr...)
		}},
		{"member", "update", "write", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("PUT", api+"pools/"+f.pool+"/members/"+f.member, map[string]any{"member": map[string]any{"name": "x"}}, hdr...)
		}},
		{"member", "delete", "write", func(hdr []string, f *rbacFixture, allowed bool) *response {
			id := f.member
			if allowed {
				id = newMember(f.project, f.pool)
			}
			return h.do("DELETE", api+"pools/"+f.pool+"/members/"+id, nil, hdr...)
		}},
		{"healthmonitor", "list", "read", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("GET", api+"healthmonitors?project_id="+f.project, nil, hdr...)
		}},
		{"healthmonitor", "show", "read", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("GET", api+"healthmonitors/"+f.hm, nil, hdr...)
		}},
		{"healthmonitor", "create", "write", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("POST", api+"healthmonitors", map[string]any{"healthmonitor": map[string]any{
				"pool_id": newPool(f.project, f.lb), "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}}, hdr...)
		}},
		{"healthmonitor", "update", "write", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("PUT", api+"healthmonitors/"+f.hm, map[string]any{"healthmonitor": map[string]any{"name": "x"}}, hdr...)
		}},
		{"healthmonitor", "delete", "write", func(hdr []string, f *rbacFixture, allowed bool) *response {
			id := f.hm
			if allowed {
				id = newHM(f.project, newPool(f.project, f.lb))
			}
			return h.do("DELETE", api+"healthmonitors/"+id, nil, hdr...)
		}},
		{"quota", "show", "quota-read", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("GET", api+"quotas/"+f.project, nil, hdr...)
		}},
		{"quota", "update", "quota-write", func(hdr []string, f *rbacFixture, _ bool) *response {
			return h.do("PUT", api+"quotas/"+f.project, map[string]any{"quota": map[string]any{"pool": -1}}, hdr...)
		}},
		{"quota", "reset", "quota-write", func(hdr []string, f *rbacFixture, _ bool) *response {
			h.must(202, "PUT", api+"quotas/"+f.project, map[string]any{"quota": map[string]any{"pool": -1}}, asAdmin(f.project)...)
			return h.do("DELETE", api+"quotas/"+f.project, nil, hdr...)
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
				case "read-or-service":
					allowed = c.readOwn && target == "own" || c.readOther || c.service
				case "admin":
					allowed = c.admin
				case "quota-read":
					allowed = c.quotaReadOwn && target == "own" || c.quotaReadOther
				case "quota-write":
					allowed = c.quotaWrite
				}
				name := fmt.Sprintf("%s/%s/%s/%s", o.resource, o.action, orNone(rr.role), target)
				cells++
				hdr := []string{"X-Project-Id", "own", "X-Roles", rr.role}
				r := o.do(hdr, fix[target], allowed)
				if allowed && (r.status < 200 || r.status > 299) {
					t.Errorf("%s: status %d, want 2xx: %s", name, r.status, r.raw)
				}
				if !allowed && r.status != http.StatusForbidden {
					t.Errorf("%s: status %d, want 403: %s", name, r.status, r.raw)
				}
				if !allowed && r.fault() != policy.DeniedMessage {
					t.Errorf("%s: faultstring %q", name, r.fault())
				}
			}
		}
	}
	t.Logf("RBAC matrix: %d cells (%d roles × %d operations × own/other project)", cells, len(rbacRoles), len(ops))

	// Without a project_id filter a project user's list is scoped to its
	// project; a global observer's spans every project.
	for _, tc := range []struct {
		role string
		want int
	}{{"member", 1}, {"load-balancer_global_observer", 2}} {
		r := h.must(200, "GET", api+"listeners", nil, "X-Project-Id", "own", "X-Roles", tc.role)
		projects := map[string]bool{}
		for _, l := range r.list("listeners") {
			projects[l.(map[string]any)["project_id"].(string)] = true
		}
		if len(projects) != tc.want {
			t.Errorf("%s: unfiltered listener list spans %v, want %d project(s)", tc.role, projects, tc.want)
		}
	}
}

func orNone(role string) string {
	if role == "" {
		return "no-role"
	}
	return role
}
