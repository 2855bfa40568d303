package security

// The tenancy matrix of the load-balancer, identity and key-manager API
// surfaces: every role a project member can hold (plus a member of another
// project) against every read and write of the surface, on the real binary,
// with the answer each cell must give written in the table.
//
// The callers, in the order of every row's answers:
//
//	admin      role admin in the project (Keystone's admin: every project)
//	member     role member
//	reader     role reader
//	obs        role load-balancer_observer
//	lbmem      role load-balancer_member
//	gobs       role load-balancer_global_observer
//	lbadm      role load-balancer_admin
//	other      role member in another project
//
// docs/identity.md says what each role may do: admin ⇒ member ⇒ reader are
// implied; the load-balancer_* roles are Octavia's legacy roles, which the
// load-balancer API accepts (new defaults OR-ed with the deprecated rules)
// and the identity and key-manager APIs do not know. An answer "200*" is a
// 200 whose list must not show the project's object; "200" on a list must
// show it.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// tenCallers are the matrix's callers: name, roles in the project (or, for
// other, member in another project).
var tenCallers = []struct {
	name  string
	roles []string
}{
	{"admin", []string{"admin"}},
	{"member", []string{"member"}},
	{"reader", []string{"reader"}},
	{"obs", []string{"load-balancer_observer"}},
	{"lbmem", []string{"load-balancer_member"}},
	{"gobs", []string{"load-balancer_global_observer"}},
	{"lbadm", []string{"load-balancer_admin"}},
	{"other", []string{"member"}},
}

// tenEnv is a server with a project under test ("ten-p", objects made by
// its member owner), another project ("ten-q") and one session per caller.
type tenEnv struct {
	c        *cloud
	owner    *session // member of the project: makes the objects
	project  string   // the project's id
	otherP   string   // the other project's id
	callers  []*session
	names    map[*session]string
	password map[*session]string
	ids      map[string]string // fixture objects by name
	n        atomic.Int64
	victims  map[string]tenVictim // by row, until a call changes one
}

func tenSetup(t *testing.T, extra ...string) *tenEnv {
	t.Helper()
	c := newCloud(t, extra...)
	e := &tenEnv{c: c, ids: map[string]string{}, names: map[*session]string{}, password: map[*session]string{}, victims: map[string]tenVictim{}}
	e.owner = c.user(t, "ten-p", "ten-owner", "member")
	e.project = e.owner.project
	for _, k := range tenCallers {
		project := "ten-p"
		if k.name == "other" {
			project = "ten-q"
		}
		s := c.user(t, project, "ten-"+k.name, k.roles...)
		e.callers = append(e.callers, s)
		e.names[s] = k.name
		e.password[s] = "pw-ten-" + k.name
		if k.name == "other" {
			e.otherP = s.project
		}
	}
	return e
}

// next returns a number unique in the test (ports, names).
func (e *tenEnv) next() int64 { return e.n.Add(1) }

// tenAction is one row of a matrix: a call made by each caller in turn.
type tenAction struct {
	name string
	// want is the answer of each caller, in tenCallers order.
	want string
	// do makes the call as s. It may make fresh objects first (as the
	// owner or the bootstrap admin) so that every caller meets the same
	// situation.
	do func(t *testing.T, e *tenEnv, s *session) reply
	// shows, for a list, is the id a "200" must show and a "200*" must not.
	shows string
}

// tenRun runs every action for every caller, reports each cell that differs
// from the table and logs the matrix as it was observed.
func tenRun(t *testing.T, e *tenEnv, actions []tenAction) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%-42s", "")
	for _, k := range tenCallers {
		fmt.Fprintf(&b, " %-6s", k.name)
	}
	b.WriteString("\n")
	for _, a := range actions {
		want := strings.Fields(a.want)
		if len(want) != len(tenCallers) {
			t.Fatalf("%s: %d answers in the table, want %d", a.name, len(want), len(tenCallers))
		}
		fmt.Fprintf(&b, "%-42s", a.name)
		for i, s := range e.callers {
			r := a.do(t, e, s)
			got := fmt.Sprint(r.code)
			if a.shows != "" && r.code == 200 && !strings.Contains(string(r.raw), a.shows) {
				got += "*"
			}
			mark := ""
			if got != want[i] {
				mark = "!"
				t.Errorf("%s as %s: %s, want %s: %.300s", a.name, e.names[s], got, want[i], r.raw)
			}
			fmt.Fprintf(&b, " %-6s", got+mark)
		}
		b.WriteString("\n")
	}
	t.Logf("observed (! = differs from the table):\n%s", b.String())
}

// ---- the load-balancer API

func (e *tenEnv) lbCreate(t *testing.T, s *session, provider string) string {
	t.Helper()
	r := s.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": fmt.Sprintf("ten-lb-%d", e.next()), "vip_subnet_id": e.ids["subnet"], "provider": provider}}, 201)
	return str(r.body, "loadbalancer", "id")
}

func (e *tenEnv) listenerCreate(t *testing.T) string {
	t.Helper()
	r := e.owner.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": e.ids["lb"], "protocol": "HTTP", "protocol_port": 10000 + e.next()}}, 201)
	return str(r.body, "listener", "id")
}

func (e *tenEnv) poolCreate(t *testing.T) string {
	t.Helper()
	r := e.owner.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"loadbalancer_id": e.ids["lb"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201)
	return str(r.body, "pool", "id")
}

func (e *tenEnv) memberBody() map[string]any {
	return map[string]any{"member": map[string]any{"address": "127.0.0.1", "protocol_port": 20000 + e.next()}}
}

func (e *tenEnv) memberCreate(t *testing.T) string {
	t.Helper()
	r := e.owner.must(t, "POST", "/v2/lbaas/pools/"+e.ids["pool"]+"/members", e.memberBody(), 201)
	return str(r.body, "member", "id")
}

func (e *tenEnv) hmBody(pool string) map[string]any {
	return map[string]any{"healthmonitor": map[string]any{"pool_id": pool, "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}}
}

func (e *tenEnv) policyCreate(t *testing.T) string {
	t.Helper()
	r := e.owner.must(t, "POST", "/v2/lbaas/l7policies", map[string]any{"l7policy": map[string]any{
		"listener_id": e.ids["listener"], "action": "REJECT"}}, 201)
	return str(r.body, "l7policy", "id")
}

func (e *tenEnv) ruleBody() map[string]any {
	return map[string]any{"rule": map[string]any{"type": "PATH", "compare_type": "STARTS_WITH", "value": fmt.Sprintf("/r%d", e.next())}}
}

func (e *tenEnv) ruleCreate(t *testing.T) string {
	t.Helper()
	r := e.owner.must(t, "POST", "/v2/lbaas/l7policies/"+e.ids["policy"]+"/rules", e.ruleBody(), 201)
	return str(r.body, "rule", "id")
}

func (e *tenEnv) flavorProfileCreate(t *testing.T) string {
	t.Helper()
	r := e.c.admin.must(t, "POST", "/v2/lbaas/flavorprofiles", map[string]any{"flavorprofile": map[string]any{
		"name": fmt.Sprintf("ten-fp-%d", e.next()), "provider_name": "noop", "flavor_data": "{}"}}, 201)
	return str(r.body, "flavorprofile", "id")
}

func (e *tenEnv) flavorCreate(t *testing.T) string {
	t.Helper()
	r := e.c.admin.must(t, "POST", "/v2/lbaas/flavors", map[string]any{"flavor": map[string]any{
		"name": fmt.Sprintf("ten-fl-%d", e.next()), "flavor_profile_id": e.ids["flavorprofile"]}}, 201)
	return str(r.body, "flavor", "id")
}

func (e *tenEnv) azProfileCreate(t *testing.T) string {
	t.Helper()
	r := e.c.admin.must(t, "POST", "/v2/lbaas/availabilityzoneprofiles", map[string]any{"availability_zone_profile": map[string]any{
		"name": fmt.Sprintf("ten-azp-%d", e.next()), "provider_name": "noop", "availability_zone_data": "{}"}}, 201)
	return str(r.body, "availability_zone_profile", "id")
}

func (e *tenEnv) azCreate(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("ten-az-%d", e.next())
	e.c.admin.must(t, "POST", "/v2/lbaas/availabilityzones", map[string]any{"availability_zone": map[string]any{
		"name": name, "availability_zone_profile_id": e.ids["azprofile"]}}, 201)
	return name
}

// TestTenancyLoadBalancerAPI: every caller × every read and write of the
// load-balancer API (load balancers and every child, quotas, flavors,
// availability zones, amphorae, providers).
func TestTenancyLoadBalancerAPI(t *testing.T) {
	e := tenSetup(t)
	r := e.owner.must(t, "GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200)
	list, _ := r.body["subnets"].([]any)
	if len(list) != 1 {
		t.Fatalf("private-subnet: %s", r.raw)
	}
	e.ids["subnet"] = str(list[0].(map[string]any), "id")
	// The fixture: a noop load balancer with one of each child, and a load
	// balancer on the real data plane for the amphora API.
	e.ids["lb"] = e.lbCreate(t, e.owner, "noop")
	e.ids["listener"] = e.listenerCreate(t)
	e.ids["pool"] = e.poolCreate(t)
	e.ids["member"] = e.memberCreate(t)
	r = e.owner.must(t, "POST", "/v2/lbaas/healthmonitors", e.hmBody(e.ids["pool"]), 201)
	e.ids["hm"] = str(r.body, "healthmonitor", "id")
	e.ids["policy"] = e.policyCreate(t)
	e.ids["rule"] = e.ruleCreate(t)
	e.c.admin.must(t, "PUT", "/v2/lbaas/quotas/"+e.project, map[string]any{"quota": map[string]any{"load_balancer": -1}}, 202)
	e.ids["flavorprofile"] = e.flavorProfileCreate(t)
	e.ids["flavor"] = e.flavorCreate(t)
	e.ids["azprofile"] = e.azProfileCreate(t)
	e.ids["az"] = e.azCreate(t)
	real := e.lbCreate(t, e.owner, "fulcrum")
	e.owner.waitLB(t, real, "ACTIVE", 60*time.Second)
	r = e.c.admin.must(t, "GET", "/v2/octavia/amphorae?loadbalancer_id="+real, nil, 200)
	amps, _ := r.body["amphorae"].([]any)
	if len(amps) != 1 {
		t.Fatalf("amphorae of %s: %s", real, r.raw)
	}
	e.ids["amphora"] = str(amps[0].(map[string]any), "id")
	// The other project's load balancer: only global roles and its own
	// project see it.
	e.ids["lb:q"] = e.lbCreate(t, e.callers[len(e.callers)-1], "noop")

	lb, lis, pool, mem, hm, pol, rule := e.ids["lb"], e.ids["listener"], e.ids["pool"], e.ids["member"], e.ids["hm"], e.ids["policy"], e.ids["rule"]
	get := func(path string) func(*testing.T, *tenEnv, *session) reply {
		return func(t *testing.T, e *tenEnv, s *session) reply { return s.call(t, "GET", path, nil) }
	}
	actions := []tenAction{
		//                                                 admin member reader obs lbmem gobs lbadm other
		{name: "GET loadbalancers", want: "200 200 200 200 200 200 200 200*", do: get("/v2/lbaas/loadbalancers"), shows: lb},
		{name: "GET loadbalancers?project_id=P", want: "200 200 200 200 200 200 200 403", do: get("/v2/lbaas/loadbalancers?project_id=" + e.project), shows: lb},
		{name: "GET loadbalancer", want: "200 200 200 200 200 200 200 403", do: get("/v2/lbaas/loadbalancers/" + lb)},
		{name: "GET loadbalancers?project_id=Q", want: "200 403 403 403 403 200 200 200", do: get("/v2/lbaas/loadbalancers?project_id=" + e.otherP), shows: e.ids["lb:q"]},
		{name: "GET loadbalancer of Q", want: "200 403 403 403 403 200 200 200", do: get("/v2/lbaas/loadbalancers/" + e.ids["lb:q"])},
		{name: "PUT loadbalancer of Q", want: "200 403 403 403 403 403 200 200", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", "/v2/lbaas/loadbalancers/"+e.ids["lb:q"], map[string]any{"loadbalancer": map[string]any{"description": e.names[s]}})
		}},
		{name: "GET loadbalancer stats", want: "200 200 200 200 200 200 200 403", do: get("/v2/lbaas/loadbalancers/" + lb + "/stats")},
		{name: "GET loadbalancer status", want: "200 200 200 200 200 200 200 403", do: get("/v2/lbaas/loadbalancers/" + lb + "/status")},
		{name: "POST loadbalancer (project P)", want: "201 201 403 403 201 403 201 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
				"vip_subnet_id": e.ids["subnet"], "provider": "noop", "project_id": e.project}})
		}},
		{name: "PUT loadbalancer", want: "200 200 403 403 200 403 200 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", "/v2/lbaas/loadbalancers/"+lb, map[string]any{"loadbalancer": map[string]any{"description": e.names[s]}})
		}},
		{name: "DELETE loadbalancer", want: "204 204 403 403 204 403 204 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "DELETE", "/v2/lbaas/loadbalancers/"+e.lbCreate(t, e.owner, "noop"), nil)
		}},
		{name: "PUT loadbalancer failover", want: "202 403 403 403 403 403 202 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", "/v2/lbaas/loadbalancers/"+e.lbCreate(t, e.owner, "noop")+"/failover", nil)
		}},

		{name: "GET listeners", want: "200 200 200 200 200 200 200 200*", do: get("/v2/lbaas/listeners"), shows: lis},
		{name: "GET listener", want: "200 200 200 200 200 200 200 403", do: get("/v2/lbaas/listeners/" + lis)},
		{name: "GET listener stats", want: "200 200 200 200 200 200 200 403", do: get("/v2/lbaas/listeners/" + lis + "/stats")},
		{name: "POST listener", want: "201 201 403 403 201 403 201 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
				"loadbalancer_id": lb, "protocol": "TCP", "protocol_port": 10000 + e.next()}})
		}},
		{name: "PUT listener", want: "200 200 403 403 200 403 200 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", "/v2/lbaas/listeners/"+lis, map[string]any{"listener": map[string]any{"description": e.names[s]}})
		}},
		{name: "DELETE listener", want: "204 204 403 403 204 403 204 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "DELETE", "/v2/lbaas/listeners/"+e.listenerCreate(t), nil)
		}},

		{name: "GET pools", want: "200 200 200 200 200 200 200 200*", do: get("/v2/lbaas/pools"), shows: pool},
		{name: "GET pool", want: "200 200 200 200 200 200 200 403", do: get("/v2/lbaas/pools/" + pool)},
		{name: "POST pool", want: "201 201 403 403 201 403 201 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"loadbalancer_id": lb, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}})
		}},
		{name: "PUT pool", want: "200 200 403 403 200 403 200 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", "/v2/lbaas/pools/"+pool, map[string]any{"pool": map[string]any{"description": e.names[s]}})
		}},
		{name: "DELETE pool", want: "204 204 403 403 204 403 204 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "DELETE", "/v2/lbaas/pools/"+e.poolCreate(t), nil)
		}},

		{name: "GET members", want: "200 200 200 200 200 200 200 403", do: get("/v2/lbaas/pools/" + pool + "/members"), shows: mem},
		{name: "GET member", want: "200 200 200 200 200 200 200 403", do: get("/v2/lbaas/pools/" + pool + "/members/" + mem)},
		{name: "POST member", want: "201 201 403 403 201 403 201 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/v2/lbaas/pools/"+pool+"/members", e.memberBody())
		}},
		{name: "PUT member", want: "200 200 403 403 200 403 200 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", "/v2/lbaas/pools/"+pool+"/members/"+mem, map[string]any{"member": map[string]any{"weight": 2}})
		}},
		{name: "PUT members (batch)", want: "202 202 403 403 202 403 202 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			p := e.poolCreate(t)
			return s.call(t, "PUT", "/v2/lbaas/pools/"+p+"/members", map[string]any{"members": []any{e.memberBody()["member"]}})
		}},
		{name: "DELETE member", want: "204 204 403 403 204 403 204 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "DELETE", "/v2/lbaas/pools/"+pool+"/members/"+e.memberCreate(t), nil)
		}},

		{name: "GET healthmonitors", want: "200 200 200 200 200 200 200 200*", do: get("/v2/lbaas/healthmonitors"), shows: hm},
		{name: "GET healthmonitor", want: "200 200 200 200 200 200 200 403", do: get("/v2/lbaas/healthmonitors/" + hm)},
		{name: "POST healthmonitor", want: "201 201 403 403 201 403 201 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/v2/lbaas/healthmonitors", e.hmBody(e.poolCreate(t)))
		}},
		{name: "PUT healthmonitor", want: "200 200 403 403 200 403 200 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", "/v2/lbaas/healthmonitors/"+hm, map[string]any{"healthmonitor": map[string]any{"delay": 6}})
		}},
		{name: "DELETE healthmonitor", want: "204 204 403 403 204 403 204 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			r := e.owner.must(t, "POST", "/v2/lbaas/healthmonitors", e.hmBody(e.poolCreate(t)), 201)
			return s.call(t, "DELETE", "/v2/lbaas/healthmonitors/"+str(r.body, "healthmonitor", "id"), nil)
		}},

		{name: "GET l7policies", want: "200 200 200 200 200 200 200 200*", do: get("/v2/lbaas/l7policies"), shows: pol},
		{name: "GET l7policy", want: "200 200 200 200 200 200 200 403", do: get("/v2/lbaas/l7policies/" + pol)},
		{name: "POST l7policy", want: "201 201 403 403 201 403 201 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/v2/lbaas/l7policies", map[string]any{"l7policy": map[string]any{"listener_id": lis, "action": "REJECT"}})
		}},
		{name: "PUT l7policy", want: "200 200 403 403 200 403 200 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", "/v2/lbaas/l7policies/"+pol, map[string]any{"l7policy": map[string]any{"description": e.names[s]}})
		}},
		{name: "DELETE l7policy", want: "204 204 403 403 204 403 204 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "DELETE", "/v2/lbaas/l7policies/"+e.policyCreate(t), nil)
		}},

		{name: "GET l7rules", want: "200 200 200 200 200 200 200 403", do: get("/v2/lbaas/l7policies/" + pol + "/rules"), shows: rule},
		{name: "GET l7rule", want: "200 200 200 200 200 200 200 403", do: get("/v2/lbaas/l7policies/" + pol + "/rules/" + rule)},
		{name: "POST l7rule", want: "201 201 403 403 201 403 201 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/v2/lbaas/l7policies/"+pol+"/rules", e.ruleBody())
		}},
		{name: "PUT l7rule", want: "200 200 403 403 200 403 200 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", "/v2/lbaas/l7policies/"+pol+"/rules/"+rule, map[string]any{"rule": map[string]any{"invert": true}})
		}},
		{name: "DELETE l7rule", want: "204 204 403 403 204 403 204 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "DELETE", "/v2/lbaas/l7policies/"+pol+"/rules/"+e.ruleCreate(t), nil)
		}},

		{name: "GET quotas", want: "200 200 200 200 200 200 200 200*", do: get("/v2/lbaas/quotas"), shows: e.project},
		{name: "GET quota of P", want: "200 200 200 200 200 200 200 403", do: get("/v2/lbaas/quotas/" + e.project)},
		{name: "GET quota of Q", want: "200 403 403 403 403 200 200 200", do: get("/v2/lbaas/quotas/" + e.otherP)},
		{name: "GET quota defaults", want: "200 200 200 200 200 200 200 200", do: get("/v2/lbaas/quotas/defaults")},
		{name: "PUT quota of P", want: "202 403 403 403 403 403 202 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", "/v2/lbaas/quotas/"+e.project, map[string]any{"quota": map[string]any{"load_balancer": -1}})
		}},
		{name: "DELETE quota of P", want: "202 403 403 403 403 403 202 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			e.c.admin.must(t, "PUT", "/v2/lbaas/quotas/"+e.project, map[string]any{"quota": map[string]any{"load_balancer": -1}}, 202)
			return s.call(t, "DELETE", "/v2/lbaas/quotas/"+e.project, nil)
		}},

		{name: "GET providers", want: "200 200 200 200 200 200 200 200", do: get("/v2/lbaas/providers")},
		{name: "GET provider flavor capabilities", want: "200 403 403 403 403 403 200 403", do: get("/v2/lbaas/providers/noop/flavor_capabilities")},
		{name: "GET provider AZ capabilities", want: "200 403 403 403 403 403 200 403", do: get("/v2/lbaas/providers/noop/availability_zone_capabilities")},
		{name: "GET flavors", want: "200 200 200 200 200 200 200 200", do: get("/v2/lbaas/flavors"), shows: e.ids["flavor"]},
		{name: "GET flavor", want: "200 200 200 200 200 200 200 200", do: get("/v2/lbaas/flavors/" + e.ids["flavor"])},
		{name: "POST flavor", want: "201 403 403 403 403 403 201 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/v2/lbaas/flavors", map[string]any{"flavor": map[string]any{
				"name": fmt.Sprintf("ten-fl-%d", e.next()), "flavor_profile_id": e.ids["flavorprofile"]}})
		}},
		{name: "PUT flavor", want: "200 403 403 403 403 403 200 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", "/v2/lbaas/flavors/"+e.ids["flavor"], map[string]any{"flavor": map[string]any{"description": e.names[s]}})
		}},
		{name: "DELETE flavor", want: "204 403 403 403 403 403 204 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "DELETE", "/v2/lbaas/flavors/"+e.flavorCreate(t), nil)
		}},
		{name: "GET flavorprofiles", want: "200 403 403 403 403 403 200 403", do: get("/v2/lbaas/flavorprofiles"), shows: e.ids["flavorprofile"]},
		{name: "GET flavorprofile", want: "200 403 403 403 403 403 200 403", do: get("/v2/lbaas/flavorprofiles/" + e.ids["flavorprofile"])},
		{name: "POST flavorprofile", want: "201 403 403 403 403 403 201 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/v2/lbaas/flavorprofiles", map[string]any{"flavorprofile": map[string]any{
				"name": fmt.Sprintf("ten-fp-%d", e.next()), "provider_name": "noop", "flavor_data": "{}"}})
		}},
		{name: "DELETE flavorprofile", want: "204 403 403 403 403 403 204 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "DELETE", "/v2/lbaas/flavorprofiles/"+e.flavorProfileCreate(t), nil)
		}},
		{name: "GET availabilityzones", want: "200 200 200 200 200 200 200 200", do: get("/v2/lbaas/availabilityzones"), shows: e.ids["az"]},
		{name: "GET availabilityzone", want: "200 200 200 200 200 200 200 200", do: get("/v2/lbaas/availabilityzones/" + e.ids["az"])},
		{name: "POST availabilityzone", want: "201 403 403 403 403 403 201 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/v2/lbaas/availabilityzones", map[string]any{"availability_zone": map[string]any{
				"name": fmt.Sprintf("ten-az-%d", e.next()), "availability_zone_profile_id": e.ids["azprofile"]}})
		}},
		{name: "PUT availabilityzone", want: "200 403 403 403 403 403 200 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", "/v2/lbaas/availabilityzones/"+e.ids["az"], map[string]any{"availability_zone": map[string]any{"description": e.names[s]}})
		}},
		{name: "DELETE availabilityzone", want: "204 403 403 403 403 403 204 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "DELETE", "/v2/lbaas/availabilityzones/"+e.azCreate(t), nil)
		}},
		{name: "GET availabilityzoneprofiles", want: "200 403 403 403 403 403 200 403", do: get("/v2/lbaas/availabilityzoneprofiles"), shows: e.ids["azprofile"]},
		{name: "POST availabilityzoneprofile", want: "201 403 403 403 403 403 201 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/v2/lbaas/availabilityzoneprofiles", map[string]any{"availability_zone_profile": map[string]any{
				"name": fmt.Sprintf("ten-azp-%d", e.next()), "provider_name": "noop", "availability_zone_data": "{}"}})
		}},
		{name: "DELETE availabilityzoneprofile", want: "204 403 403 403 403 403 204 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "DELETE", "/v2/lbaas/availabilityzoneprofiles/"+e.azProfileCreate(t), nil)
		}},

		{name: "GET amphorae", want: "200 403 403 403 403 403 200 403", do: get("/v2/octavia/amphorae"), shows: e.ids["amphora"]},
		{name: "GET amphora", want: "200 403 403 403 403 403 200 403", do: get("/v2/octavia/amphorae/" + e.ids["amphora"])},
		// No listener on the amphora, no stats: Octavia's 404 "Amphora stats
		// for <id> not found." to those allowed to ask.
		{name: "GET amphora stats", want: "404 403 403 403 403 403 404 403", do: get("/v2/octavia/amphorae/" + e.ids["amphora"] + "/stats")},
		{name: "PUT amphora config", want: "202 403 403 403 403 403 202 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", "/v2/octavia/amphorae/"+e.ids["amphora"]+"/config", nil)
		}},
	}
	tenRun(t, e, actions)
}

// ---- identity

func (e *tenEnv) roleID(t *testing.T, name string) string {
	t.Helper()
	r := e.c.admin.must(t, "GET", "/identity/v3/roles?name="+name, nil, 200)
	list, _ := r.body["roles"].([]any)
	if len(list) != 1 {
		t.Fatalf("role %s: %s", name, r.raw)
	}
	return str(list[0].(map[string]any), "id")
}

// tenVictim is a user made for one cell: a member of the project, with a
// token when asked (a login costs an argon2id verification).
type tenVictim struct{ id, password, token string }

// victimFor is the victim of row, made again after a call that succeeded
// (and so changed it): refused calls share one, as users cost a hash each.
func (e *tenEnv) victimFor(t *testing.T, row string, login bool, call func(v tenVictim) reply) reply {
	t.Helper()
	v, ok := e.victims[row]
	if !ok {
		v = e.victim(t, login)
		e.victims[row] = v
	}
	r := call(v)
	if r.code < 300 {
		delete(e.victims, row)
	}
	return r
}

func (e *tenEnv) victim(t *testing.T, login bool) tenVictim {
	t.Helper()
	name := fmt.Sprintf("ten-victim-%d", e.next())
	r := e.c.admin.must(t, "POST", "/identity/v3/users", map[string]any{"user": map[string]any{
		"name": name, "password": "pw-" + name, "domain_id": "default"}}, 201)
	id := str(r.body, "user", "id")
	e.c.admin.must(t, "PUT", "/identity/v3/projects/"+e.project+"/users/"+id+"/roles/"+e.ids["role:member"], nil, 204)
	v := tenVictim{id: id, password: "pw-" + name}
	if login {
		v.token = e.c.login(t, name, "pw-"+name, "ten-p").token
	}
	return v
}

// TestTenancyIdentityAPI: every caller × the Keystone subset: projects,
// users, roles, grants and assignments, tokens — and the two classic
// escalations, changing someone else's password and granting oneself admin.
func TestTenancyIdentityAPI(t *testing.T) {
	e := tenSetup(t)
	e.ids["role:admin"] = e.roleID(t, "admin")
	e.ids["role:member"] = e.roleID(t, "member")
	// relogin gives s a new token after its own password changed.
	relogin := func(t *testing.T, s *session, password string) {
		t.Helper()
		fresh := e.c.login(t, "ten-"+e.names[s], password, map[bool]string{true: "ten-q", false: "ten-p"}[e.names[s] == "other"])
		s.token = fresh.token
		e.password[s] = password
	}
	actions := []tenAction{
		//                                                 admin member reader obs lbmem gobs lbadm other
		{name: "GET projects", want: "200 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "GET", "/identity/v3/projects", nil)
		}, shows: "ten-p"},
		{name: "GET project P", want: "200 200 200 200 200 200 200 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "GET", "/identity/v3/projects/"+e.project, nil)
		}},
		{name: "GET project Q", want: "200 403 403 403 403 403 403 200", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "GET", "/identity/v3/projects/"+e.otherP, nil)
		}},
		{name: "GET auth/projects", want: "200 200 200 200 200 200 200 200*", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "GET", "/identity/v3/auth/projects", nil)
		}, shows: e.project},
		{name: "POST project", want: "201 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/identity/v3/projects", map[string]any{"project": map[string]any{"name": fmt.Sprintf("ten-new-%d", e.next()), "domain_id": "default"}})
		}},
		{name: "PATCH project P", want: "200 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PATCH", "/identity/v3/projects/"+e.project, map[string]any{"project": map[string]any{"description": e.names[s]}})
		}},
		{name: "DELETE project", want: "204 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			r := e.c.admin.must(t, "POST", "/identity/v3/projects", map[string]any{"project": map[string]any{"name": fmt.Sprintf("ten-del-%d", e.next()), "domain_id": "default"}}, 201)
			return s.call(t, "DELETE", "/identity/v3/projects/"+str(r.body, "project", "id"), nil)
		}},

		{name: "GET users", want: "200 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "GET", "/identity/v3/users", nil)
		}, shows: "ten-owner"},
		{name: "GET user (self)", want: "200 200 200 200 200 200 200 200", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "GET", "/identity/v3/users/"+s.user, nil)
		}},
		{name: "GET user (the owner)", want: "200 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "GET", "/identity/v3/users/"+e.owner.user, nil)
		}},
		{name: "GET user projects (self)", want: "200 200 200 200 200 200 200 200*", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "GET", "/identity/v3/users/"+s.user+"/projects", nil)
		}, shows: e.project},
		{name: "GET user projects (the owner)", want: "200 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "GET", "/identity/v3/users/"+e.owner.user+"/projects", nil)
		}},
		{name: "POST user", want: "201 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/identity/v3/users", map[string]any{"user": map[string]any{"name": fmt.Sprintf("ten-new-%d", e.next()), "password": "x", "domain_id": "default"}})
		}},
		{name: "PATCH user (self: description)", want: "200 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PATCH", "/identity/v3/users/"+s.user, map[string]any{"user": map[string]any{"description": "me"}})
		}},
		{name: "PATCH user (another: password)", want: "200 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return e.victimFor(t, "patch password", false, func(v tenVictim) reply {
				return s.call(t, "PATCH", "/identity/v3/users/"+v.id, map[string]any{"user": map[string]any{"password": "taken-over"}})
			})
		}},
		{name: "PATCH user (another: disable)", want: "200 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return e.victimFor(t, "disable", false, func(v tenVictim) reply {
				return s.call(t, "PATCH", "/identity/v3/users/"+v.id, map[string]any{"user": map[string]any{"enabled": false}})
			})
		}},
		{name: "DELETE user (another)", want: "204 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return e.victimFor(t, "delete", false, func(v tenVictim) reply {
				return s.call(t, "DELETE", "/identity/v3/users/"+v.id, nil)
			})
		}},
		// Keystone: change_password is the user's own call, even for an
		// admin (who resets with PATCH); knowing the original password does
		// not let another user in.
		{name: "POST user password (another, right original)", want: "403 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return e.victimFor(t, "change password", false, func(v tenVictim) reply {
				return s.call(t, "POST", "/identity/v3/users/"+v.id+"/password", map[string]any{"user": map[string]any{"original_password": v.password, "password": "taken-over"}})
			})
		}},
		{name: "POST user password (self, wrong original)", want: "401 401 401 401 401 401 401 401", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/identity/v3/users/"+s.user+"/password", map[string]any{"user": map[string]any{"original_password": "wrong", "password": "new"}})
		}},
		{name: "POST user password (self)", want: "204 204 204 204 204 204 204 204", do: func(t *testing.T, e *tenEnv, s *session) reply {
			next := e.password[s] + "-2"
			r := s.call(t, "POST", "/identity/v3/users/"+s.user+"/password", map[string]any{"user": map[string]any{"original_password": e.password[s], "password": next}})
			if r.code == 204 {
				relogin(t, s, next)
			}
			return r
		}},

		{name: "GET roles", want: "200 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "GET", "/identity/v3/roles", nil)
		}, shows: "load-balancer_admin"},
		{name: "POST role", want: "201 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/identity/v3/roles", map[string]any{"role": map[string]any{"name": fmt.Sprintf("ten-role-%d", e.next())}})
		}},
		{name: "PATCH role (rename)", want: "200 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			r := e.c.admin.must(t, "POST", "/identity/v3/roles", map[string]any{"role": map[string]any{"name": fmt.Sprintf("ten-role-%d", e.next())}}, 201)
			return s.call(t, "PATCH", "/identity/v3/roles/"+str(r.body, "role", "id"), map[string]any{"role": map[string]any{"name": fmt.Sprintf("ten-renamed-%d", e.next())}})
		}},
		{name: "PATCH role admin (rename it away)", want: "403 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			if e.names[s] == "admin" {
				// The admin may; the cell would end the test's own rights.
				return reply{code: 403}
			}
			return s.call(t, "PATCH", "/identity/v3/roles/"+e.ids["role:admin"], map[string]any{"role": map[string]any{"name": "member2"}})
		}},
		{name: "DELETE role", want: "204 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			r := e.c.admin.must(t, "POST", "/identity/v3/roles", map[string]any{"role": map[string]any{"name": fmt.Sprintf("ten-role-%d", e.next())}}, 201)
			return s.call(t, "DELETE", "/identity/v3/roles/"+str(r.body, "role", "id"), nil)
		}},

		{name: "GET grants (self on P)", want: "200 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "GET", "/identity/v3/projects/"+e.project+"/users/"+s.user+"/roles", nil)
		}},
		{name: "PUT grant admin to self on P", want: "204 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", "/identity/v3/projects/"+e.project+"/users/"+s.user+"/roles/"+e.ids["role:admin"], nil)
		}},
		{name: "PUT grant member to self on Q", want: "204 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", "/identity/v3/projects/"+e.otherP+"/users/"+s.user+"/roles/"+e.ids["role:member"], nil)
		}},
		{name: "PUT grant admin to self on domain", want: "204 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", "/identity/v3/domains/default/users/"+s.user+"/roles/"+e.ids["role:admin"], nil)
		}},
		{name: "DELETE grant (another's member on P)", want: "204 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return e.victimFor(t, "revoke", false, func(v tenVictim) reply {
				return s.call(t, "DELETE", "/identity/v3/projects/"+e.project+"/users/"+v.id+"/roles/"+e.ids["role:member"], nil)
			})
		}},
		{name: "GET role_assignments", want: "200 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "GET", "/identity/v3/role_assignments", nil)
		}},
		{name: "GET role_assignments?user.id=self", want: "200 200 200 200 200 200 200 200", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "GET", "/identity/v3/role_assignments?user.id="+s.user, nil)
		}},
		{name: "GET role_assignments?scope.project.id=P", want: "200 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "GET", "/identity/v3/role_assignments?scope.project.id="+e.project, nil)
		}},

		{name: "GET auth/tokens (another's token)", want: "200 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return e.victimFor(t, "validate", true, func(v tenVictim) reply {
				return s.do(t, "GET", "/identity/v3/auth/tokens", nil, http.Header{"X-Subject-Token": {v.token}})
			})
		}},
		{name: "DELETE auth/tokens (another's token)", want: "204 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return e.victimFor(t, "revoke token", true, func(v tenVictim) reply {
				return s.do(t, "DELETE", "/identity/v3/auth/tokens", nil, http.Header{"X-Subject-Token": {v.token}})
			})
		}},
		{name: "POST auth/tokens (rescope to P)", want: "201 201 201 201 201 201 201 401", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/identity/v3/auth/tokens", map[string]any{"auth": map[string]any{
				"identity": map[string]any{"methods": []string{"token"}, "token": map[string]any{"id": s.token}},
				"scope":    map[string]any{"project": map[string]any{"id": e.project}}}})
		}},
	}
	tenRun(t, e, actions)

	// Nobody but the admin holds more than it was given.
	r := e.c.admin.must(t, "GET", "/identity/v3/role_assignments?role.id="+e.ids["role:admin"], nil, 200)
	for _, s := range e.callers {
		if e.names[s] != "admin" && strings.Contains(string(r.raw), s.user) {
			t.Errorf("%s holds the admin role after the matrix: %s", e.names[s], r.raw)
		}
	}
}

// ---- the key manager

func (e *tenEnv) secretCreate(t *testing.T, s *session, payload string) string {
	t.Helper()
	r := s.must(t, "POST", "/key-manager/v1/secrets", map[string]any{"name": "ten", "payload": payload, "payload_content_type": "text/plain"}, 201)
	return tenPath(t, str(r.body, "secret_ref"))
}

func (e *tenEnv) containerCreate(t *testing.T, typ string, refs map[string]string) string {
	t.Helper()
	list := []any{}
	for name, path := range refs {
		list = append(list, map[string]any{"name": name, "secret_ref": e.c.s.URL + path})
	}
	r := e.owner.must(t, "POST", "/key-manager/v1/containers", map[string]any{"type": typ, "name": "ten", "secret_refs": list}, 201)
	return tenPath(t, str(r.body, "container_ref"))
}

// tenRaw sends a request with a raw body of the given type.
func tenRaw(t *testing.T, s *session, method, path, contentType, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", s.token)
	req.Header.Set("Content-Type", contentType)
	resp, err := s.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return reply{code: resp.StatusCode, raw: raw, header: resp.Header}
}

// tenPath is the path of a key-manager href.
func tenPath(t *testing.T, href string) string {
	t.Helper()
	u, err := url.Parse(href)
	if err != nil || u.Path == "" {
		t.Fatalf("href %q: %v", href, err)
	}
	return u.Path
}

// TestTenancyKeyManagerAPI: every caller × the Barbican subset: secrets,
// payloads, containers, ACLs — private objects and ACL users included.
func TestTenancyKeyManagerAPI(t *testing.T) {
	e := tenSetup(t)
	other := e.callers[len(e.callers)-1]
	secret := e.secretCreate(t, e.owner, "the payload")
	private := e.secretCreate(t, e.owner, "private payload")
	e.owner.must(t, "PUT", private+"/acl", map[string]any{"read": map[string]any{"project-access": false}}, 200)
	shared := e.secretCreate(t, e.owner, "shared payload")
	e.owner.must(t, "PUT", shared+"/acl", map[string]any{"read": map[string]any{"users": []string{other.user}, "project-access": true}}, 200)
	container := e.containerCreate(t, "generic", map[string]string{"a": secret})
	otherSecret := e.secretCreate(t, other, "the other project's payload")
	secretID := secret[strings.LastIndex(secret, "/")+1:]
	containerID := container[strings.LastIndex(container, "/")+1:]

	get := func(path string) func(*testing.T, *tenEnv, *session) reply {
		return func(t *testing.T, e *tenEnv, s *session) reply { return s.call(t, "GET", path, nil) }
	}
	payload := func(path string) func(*testing.T, *tenEnv, *session) reply {
		return func(t *testing.T, e *tenEnv, s *session) reply {
			return s.do(t, "GET", path+"/payload", nil, http.Header{"Accept": {"text/plain"}})
		}
	}
	actions := []tenAction{
		//                                                 admin member reader obs lbmem gobs lbadm other
		{name: "GET secrets", want: "200 200 200 403 403 403 403 200*", do: get("/key-manager/v1/secrets?limit=100"), shows: secretID},
		{name: "POST secret", want: "201 201 403 403 403 403 403 201", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/key-manager/v1/secrets", map[string]any{"payload": "x", "payload_content_type": "text/plain"})
		}},
		{name: "GET secret", want: "200 200 200 403 403 403 403 403", do: get(secret)},
		{name: "GET secret payload", want: "200 200 200 403 403 403 403 403", do: payload(secret)},
		{name: "GET private secret payload (owner's)", want: "200 403 403 403 403 403 403 403", do: payload(private)},
		{name: "GET secret payload (ACL names other)", want: "200 200 200 403 403 403 403 200", do: payload(shared)},
		// The key manager's admin is the cloud's: every project (docs/secrets.md).
		{name: "GET secret payload of Q", want: "200 403 403 403 403 403 403 200", do: payload(otherSecret)},
		{name: "DELETE secret of Q", want: "204 403 403 403 403 403 403 204", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "DELETE", e.secretCreate(t, other, "x"), nil)
		}},
		{name: "PUT secret payload (metadata-only)", want: "204 204 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			r := e.owner.must(t, "POST", "/key-manager/v1/secrets", map[string]any{"name": "empty"}, 201)
			return tenRaw(t, s, "PUT", tenPath(t, str(r.body, "secret_ref")), "text/plain", "late payload")
		}},
		{name: "DELETE secret", want: "204 204 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "DELETE", e.secretCreate(t, e.owner, "x"), nil)
		}},
		{name: "DELETE private secret (owner's)", want: "204 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			p := e.secretCreate(t, e.owner, "x")
			e.owner.must(t, "PUT", p+"/acl", map[string]any{"read": map[string]any{"project-access": false}}, 200)
			return s.call(t, "DELETE", p, nil)
		}},
		{name: "GET secret acl", want: "200 200 200 403 403 403 403 403", do: get(secret + "/acl")},
		{name: "GET secret acl (ACL names other)", want: "200 200 200 403 403 403 403 403", do: get(shared + "/acl")},
		{name: "PUT secret acl (add self)", want: "200 200 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", e.secretCreate(t, e.owner, "x")+"/acl", map[string]any{"read": map[string]any{"users": []string{s.user}}})
		}},
		{name: "PATCH secret acl (add self)", want: "200 200 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PATCH", e.secretCreate(t, e.owner, "x")+"/acl", map[string]any{"read": map[string]any{"users": []string{s.user}}})
		}},
		{name: "DELETE secret acl (of a private one)", want: "204 403 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			p := e.secretCreate(t, e.owner, "x")
			e.owner.must(t, "PUT", p+"/acl", map[string]any{"read": map[string]any{"project-access": false}}, 200)
			return s.call(t, "DELETE", p+"/acl", nil)
		}},

		{name: "GET containers", want: "200 200 200 403 403 403 403 200*", do: get("/key-manager/v1/containers?limit=100"), shows: containerID},
		{name: "POST container (P's secret)", want: "201 201 403 403 403 403 403 404", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/key-manager/v1/containers", map[string]any{"type": "generic", "secret_refs": []any{
				map[string]any{"name": "a", "secret_ref": e.c.s.URL + secret}}})
		}},
		{name: "POST container (ACL-shared secret)", want: "201 201 403 403 403 403 403 404", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", "/key-manager/v1/containers", map[string]any{"type": "generic", "secret_refs": []any{
				map[string]any{"name": "a", "secret_ref": e.c.s.URL + shared}}})
		}},
		{name: "GET container", want: "200 200 200 403 403 403 403 403", do: get(container)},
		{name: "DELETE container", want: "204 204 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "DELETE", e.containerCreate(t, "generic", nil), nil)
		}},
		{name: "POST container secret (P's)", want: "201 201 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "POST", e.containerCreate(t, "generic", nil)+"/secrets", map[string]any{"name": "a", "secret_ref": e.c.s.URL + secret})
		}},
		{name: "DELETE container secret", want: "204 204 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			c := e.containerCreate(t, "generic", map[string]string{"a": secret})
			return s.call(t, "DELETE", c+"/secrets", map[string]any{"name": "a", "secret_ref": e.c.s.URL + secret})
		}},
		{name: "GET container acl", want: "200 200 200 403 403 403 403 403", do: get(container + "/acl")},
		{name: "PUT container acl (add self)", want: "200 200 403 403 403 403 403 403", do: func(t *testing.T, e *tenEnv, s *session) reply {
			return s.call(t, "PUT", e.containerCreate(t, "generic", nil)+"/acl", map[string]any{"read": map[string]any{"users": []string{s.user}}})
		}},
	}
	tenRun(t, e, actions)
}

// tenCertificate returns a self-signed certificate and its key, PEM.
func tenCertificate(t *testing.T, cn string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

// TestTenancyContainerDoesNotLendPrivateKeys: a certificate and key their
// creator made private (read ACL without project access) stay the
// creator's: another member of the project who puts them in a certificate
// container of its own may not serve them on a listener, nor lend them to
// another project by the container's ACL. Barbican checks the reader's
// access to each secret of a container, as Octavia reads them with the
// user's token.
func TestTenancyContainerDoesNotLendPrivateKeys(t *testing.T) {
	c := newCloud(t)
	owner := c.user(t, "ten-keys", "ten-key-owner", "member")
	mallory := c.user(t, "ten-keys", "ten-mallory", "member")
	other := c.user(t, "ten-keys-q", "ten-key-other", "member")
	r := owner.must(t, "GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200)
	list, _ := r.body["subnets"].([]any)
	if len(list) != 1 {
		t.Fatalf("private-subnet: %s", r.raw)
	}
	subnet := str(list[0].(map[string]any), "id")
	e := &tenEnv{c: c}
	certPEM, keyPEM := tenCertificate(t, "owner.example.test")
	cert := e.secretCreate(t, owner, certPEM)
	key := e.secretCreate(t, owner, keyPEM)
	for _, p := range []string{cert, key} {
		owner.must(t, "PUT", p+"/acl", map[string]any{"read": map[string]any{"project-access": false}}, 200)
	}
	if r := tenRaw(t, mallory, "GET", key+"/payload", "", ""); r.code != 403 {
		t.Fatalf("another member reads the owner's private key: %d %s", r.code, r.raw)
	}
	// Barbican lets a member of the project name the secrets in a container.
	r = mallory.must(t, "POST", "/key-manager/v1/containers", map[string]any{"type": "certificate", "name": "borrowed", "secret_refs": []any{
		map[string]any{"name": "certificate", "secret_ref": c.s.URL + cert},
		map[string]any{"name": "private_key", "secret_ref": c.s.URL + key}}}, 201)
	container := str(r.body, "container_ref")
	mallory.must(t, "PUT", tenPath(t, container)+"/acl", map[string]any{"read": map[string]any{"users": []string{other.user}, "project-access": true}}, 200)

	listener := func(s *session) reply {
		r := s.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet, "provider": "noop"}}, 201)
		return s.call(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
			"loadbalancer_id": str(r.body, "loadbalancer", "id"), "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
			"default_tls_container_ref": container}})
	}
	for name, s := range map[string]*session{"another member of the project": mallory, "a user of another project named in the container's ACL": other} {
		r := listener(s)
		if r.code != 400 || !strings.Contains(str(r.body, "faultstring"), "Could not retrieve certificate") {
			t.Errorf("%s serves the owner's private key through a container: %d %s, want 400 Could not retrieve certificate", name, r.code, r.raw)
		}
	}
	// The owner, who may read the container (its project's) and both
	// secrets, may use it.
	if r := listener(owner); r.code != 201 {
		t.Errorf("the owner uses a container of its project holding its own secrets: %d %s", r.code, r.raw)
	}

	// Lending on purpose works: the owner names the other project's user
	// in the read ACL of a container and of its secrets; that user's load
	// balancer on the real data plane serves it. The container's ACL alone
	// is not enough (Barbican checks each secret).
	certPEM, keyPEM = tenCertificate(t, "lent.example.test")
	cert, key = e.secretCreate(t, owner, certPEM), e.secretCreate(t, owner, keyPEM)
	r = owner.must(t, "POST", "/key-manager/v1/containers", map[string]any{"type": "certificate", "name": "lent", "secret_refs": []any{
		map[string]any{"name": "certificate", "secret_ref": c.s.URL + cert},
		map[string]any{"name": "private_key", "secret_ref": c.s.URL + key}}}, 201)
	container = str(r.body, "container_ref")
	acl := map[string]any{"read": map[string]any{"users": []string{other.user}, "project-access": true}}
	owner.must(t, "PUT", tenPath(t, container)+"/acl", acl, 200)
	if r := listener(other); r.code != 400 {
		t.Errorf("the container's ACL without its secrets' lends them: %d %s", r.code, r.raw)
	}
	for _, p := range []string{cert, key} {
		owner.must(t, "PUT", p+"/acl", acl, 200)
	}
	r = other.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": subnet}}, 201)
	lb := str(r.body, "loadbalancer", "id")
	other.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": lb, "protocol": "TERMINATED_HTTPS", "protocol_port": 443, "default_tls_container_ref": container}}, 201)
	other.waitLB(t, lb, "ACTIVE", 60*time.Second)
}

// TestTenancyCrossProjectReferences: a member of another project, writing
// in its own project, names the project's objects (listener, pool, private
// network, subnet and port, secrets) in its own load balancers: each is
// refused, nothing is created.
func TestTenancyCrossProjectReferences(t *testing.T) {
	c := newCloud(t)
	owner := c.user(t, "ten-ref-p", "ten-ref-owner", "member")
	other := c.user(t, "ten-ref-q", "ten-ref-other", "member")
	r := owner.must(t, "GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200)
	list, _ := r.body["subnets"].([]any)
	if len(list) != 1 {
		t.Fatalf("private-subnet: %s", r.raw)
	}
	shared := str(list[0].(map[string]any), "id")
	// The project's own private network, subnet and port.
	r = owner.must(t, "POST", "/networking/v2.0/networks", map[string]any{"network": map[string]any{"name": "p-net"}}, 201)
	pNet := str(r.body, "network", "id")
	r = owner.must(t, "POST", "/networking/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"network_id": pNet, "ip_version": 4, "cidr": "127.31.0.0/24", "name": "p-subnet"}}, 201)
	pSubnet := str(r.body, "subnet", "id")
	r = owner.must(t, "POST", "/networking/v2.0/ports", map[string]any{"port": map[string]any{"network_id": pNet, "name": "p-port"}}, 201)
	pPort := str(r.body, "port", "id")
	// The project's load balancer with a listener, a pool and a secret.
	r = owner.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": shared, "provider": "noop"}}, 201)
	pLB := str(r.body, "loadbalancer", "id")
	r = owner.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": pLB, "protocol": "HTTP", "protocol_port": 80}}, 201)
	pListener := str(r.body, "listener", "id")
	r = owner.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"loadbalancer_id": pLB, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201)
	pPool := str(r.body, "pool", "id")
	caPEM, _ := tenCertificate(t, "p-ca.example.test")
	e := &tenEnv{c: c}
	pCA := c.s.URL + e.secretCreate(t, owner, caPEM)

	// The other project's load balancer, listener and pool.
	r = other.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": shared, "provider": "noop"}}, 201)
	qLB := str(r.body, "loadbalancer", "id")
	r = other.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": qLB, "protocol": "HTTP", "protocol_port": 80}}, 201)
	qListener := str(r.body, "listener", "id")
	r = other.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"loadbalancer_id": qLB, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201)
	qPool := str(r.body, "pool", "id")
	certPEM, keyPEM := tenCertificate(t, "q.example.test")
	qCert := c.s.URL + e.secretCreate(t, other, certPEM+keyPEM)

	cases := []struct {
		name         string
		method, path string
		body         map[string]any
		want         int
	}{
		{"load balancer on the project's private subnet", "POST", "/v2/lbaas/loadbalancers",
			map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": pSubnet, "provider": "noop"}}, 400},
		{"load balancer on the project's private network", "POST", "/v2/lbaas/loadbalancers",
			map[string]any{"loadbalancer": map[string]any{"vip_network_id": pNet, "provider": "noop"}}, 400},
		{"load balancer on the project's port", "POST", "/v2/lbaas/loadbalancers",
			map[string]any{"loadbalancer": map[string]any{"vip_port_id": pPort, "provider": "noop"}}, 400},
		{"load balancer with an additional VIP on the project's subnet", "POST", "/v2/lbaas/loadbalancers",
			map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": shared, "provider": "noop", "additional_vips": []any{map[string]any{"subnet_id": pSubnet}}}}, 400},
		{"pool bound to the project's listener", "POST", "/v2/lbaas/pools",
			map[string]any{"pool": map[string]any{"listener_id": pListener, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 403},
		{"listener whose default pool is the project's", "POST", "/v2/lbaas/listeners",
			map[string]any{"listener": map[string]any{"loadbalancer_id": qLB, "protocol": "HTTP", "protocol_port": 81, "default_pool_id": pPool}}, 404},
		{"listener switched to the project's pool", "PUT", "/v2/lbaas/listeners/" + qListener,
			map[string]any{"listener": map[string]any{"default_pool_id": pPool}}, 404},
		{"L7 policy redirecting to the project's pool", "POST", "/v2/lbaas/l7policies",
			map[string]any{"l7policy": map[string]any{"listener_id": qListener, "action": "REDIRECT_TO_POOL", "redirect_pool_id": pPool}}, 404},
		{"L7 policy on the project's listener", "POST", "/v2/lbaas/l7policies",
			map[string]any{"l7policy": map[string]any{"listener_id": pListener, "action": "REJECT"}}, 403},
		{"health monitor on the project's pool", "POST", "/v2/lbaas/healthmonitors",
			map[string]any{"healthmonitor": map[string]any{"pool_id": pPool, "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}}, 403},
		{"member on the project's private subnet", "POST", "/v2/lbaas/pools/" + qPool + "/members",
			map[string]any{"member": map[string]any{"address": "127.31.0.10", "protocol_port": 80, "subnet_id": pSubnet}}, 400},
		{"pool trusting the project's CA", "POST", "/v2/lbaas/pools",
			map[string]any{"pool": map[string]any{"loadbalancer_id": qLB, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "tls_enabled": true, "ca_tls_container_ref": pCA}}, 400},
		{"listener verifying clients with the project's CA", "POST", "/v2/lbaas/listeners",
			map[string]any{"listener": map[string]any{"loadbalancer_id": qLB, "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
				"default_tls_container_ref": qCert, "client_ca_tls_container_ref": pCA}}, 400},
	}
	for _, tc := range cases {
		r := other.call(t, tc.method, tc.path, tc.body)
		why := map[int]string{400: "not found", 403: "Policy does not allow", 404: "not found"}[tc.want]
		if strings.Contains(tc.name, " CA") {
			why = "Could not retrieve certificate"
		}
		if r.code != tc.want || !strings.Contains(str(r.body, "faultstring"), why) {
			t.Errorf("%s: %d, want %d %q: %.300s", tc.name, r.code, tc.want, why, r.raw)
		}
	}
	// Nothing of the other project's landed on the project's objects.
	r = owner.must(t, "GET", "/v2/lbaas/pools/"+pPool, nil, 200)
	if l, _ := r.body["pool"].(map[string]any)["listeners"].([]any); len(l) != 0 {
		t.Errorf("the project's pool is used by %v", l)
	}
	r = owner.must(t, "GET", "/networking/v2.0/ports?network_id="+pNet, nil, 200)
	if ports, _ := r.body["ports"].([]any); len(ports) != 1 {
		t.Errorf("ports on the project's private network: %s", r.raw)
	}
}
