package network_test

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/pgtest"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// TestTagsAPI: /<collection>/{id}/tags on every tagged resource, as
// Neutron's tag extension answers.
func TestTagsAPI(t *testing.T) {
	e := newEnv(t, network.Options{})
	net := field(e.must(e.member("pa", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "n", "tags": []string{"x"}}}), 201), "network", "id")
	sub := field(e.must(e.member("pa", "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": net, "cidr": "127.41.0.0/24"}}), 201), "subnet", "id")
	port := field(e.must(e.member("pa", "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net}}), 201), "port", "id")
	sg := field(e.must(e.member("pa", "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "g"}}), 201), "security_group", "id")
	ext := field(e.must(e.admin("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "ext", "router:external": true}}), 201), "network", "id")
	e.must(e.admin("POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": ext, "cidr": "127.42.0.0/24"}}), 201)
	fip := field(e.must(e.member("pa", "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": ext}}), 201), "floatingip", "id")

	for _, c := range []struct{ path, key string }{
		{"/v2.0/networks/" + net, "network"}, {"/v2.0/subnets/" + sub, "subnet"}, {"/v2.0/ports/" + port, "port"},
		{"/v2.0/security-groups/" + sg, "security_group"}, {"/networking/v2.0/floatingips/" + fip, "floatingip"},
	} {
		t.Run(c.key, func(t *testing.T) {
			tags := func() []any {
				return e.must(e.member("pa", "GET", c.path+"/tags", nil), 200)["tags"].([]any)
			}
			if r := e.must(e.member("pa", "PUT", c.path+"/tags", map[string]any{"tags": []string{"a", "b", "c"}}), 200); !reflect.DeepEqual(r["tags"], []any{"a", "b", "c"}) {
				t.Fatalf("replace: %v", r)
			}
			if r := e.member("pa", "PUT", c.path+"/tags/d", nil); r.code != 201 {
				t.Fatalf("add one: %d %s", r.code, r.raw)
			}
			if r := e.member("pa", "PUT", c.path+"/tags/d", nil); r.code != 201 {
				t.Fatalf("add one again: %d %s", r.code, r.raw)
			}
			if r := e.member("pa", "DELETE", c.path+"/tags/a", nil); r.code != 204 {
				t.Fatalf("delete one: %d %s", r.code, r.raw)
			}
			wantNeutronError(t, e.member("pa", "DELETE", c.path+"/tags/a", nil), 404, "TagNotFound", "Tag a could not be found.")
			if got := tags(); !reflect.DeepEqual(got, []any{"b", "c", "d"}) {
				t.Fatalf("tags %v", got)
			}
			if shown := e.must(e.member("pa", "GET", c.path, nil), 200)[c.key].(map[string]any)["tags"]; !reflect.DeepEqual(shown, []any{"b", "c", "d"}) {
				t.Fatalf("object shows tags %v", shown)
			}
			if r := e.member("pa", "GET", c.path+"/tags/d", nil); r.code != 204 {
				t.Fatalf("confirm present: %d", r.code)
			}
			wantNeutronError(t, e.member("pa", "GET", c.path+"/tags/a", nil), 404, "TagNotFound", "Tag a")
			// Readers read, do not write; other projects see nothing.
			e.must(e.do("GET", c.path+"/tags", "pa", "reader", nil), 200)
			wantNeutronError(t, e.do("PUT", c.path+"/tags/z", "pa", "reader", nil), 403, "PolicyNotAuthorized", "_tags")
			if r := e.member("pb", "PUT", c.path+"/tags/z", nil); r.code != 404 {
				t.Fatalf("another project's member tagged it: %d %s", r.code, r.raw)
			}
			if r := e.member("pb", "GET", c.path+"/tags", nil); r.code != 404 {
				t.Fatalf("another project's member read the tags: %d %s", r.code, r.raw)
			}
			// Bad bodies and tags.
			wantNeutronError(t, e.member("pa", "PUT", c.path+"/tags", map[string]any{"tags": []string{"a", "a"}}), 400, "InvalidInput", "Duplicate items in the list: 'a'")
			wantNeutronError(t, e.member("pa", "PUT", c.path+"/tags", map[string]any{"tag": []string{"a"}}), 400, "InvalidInput", "Invalid tags body")
			wantNeutronError(t, e.member("pa", "PUT", c.path+"/tags/"+strings.Repeat("x", 256), nil), 400, "InvalidInput", "exceeds maximum length of 255")
			if r := e.member("pa", "DELETE", c.path+"/tags", nil); r.code != 204 {
				t.Fatalf("delete all: %d", r.code)
			}
			if got := tags(); len(got) != 0 {
				t.Fatalf("after delete all: %v", got)
			}
		})
	}
	wantNeutronError(t, e.member("pa", "GET", "/v2.0/networks/nope/tags", nil), 404, "NetworkNotFound", "nope")
}

// TestNetworkQuotas: Neutron's quota API and limits, per project.
func TestNetworkQuotas(t *testing.T) {
	e := newEnv(t, network.Options{})
	q := e.must(e.member("pa", "GET", "/networking/v2.0/quotas/pa", nil), 200)["quota"].(map[string]any)
	want := map[string]any{"network": 100.0, "subnet": 100.0, "port": 500.0, "floatingip": 50.0, "security_group": 10.0, "security_group_rule": 100.0}
	if !reflect.DeepEqual(q, want) {
		t.Fatalf("defaults %v", q)
	}
	wantNeutronError(t, e.member("pa", "GET", "/networking/v2.0/quotas/pb", nil), 403, "PolicyNotAuthorized", "get_quota")
	wantNeutronError(t, e.member("pa", "PUT", "/networking/v2.0/quotas/pa", map[string]any{"quota": map[string]any{"port": 1000}}), 403, "PolicyNotAuthorized", "update_quota")
	wantNeutronError(t, e.admin("PUT", "/networking/v2.0/quotas/pa", map[string]any{"quota": map[string]any{"port": "many"}}), 400, "HTTPBadRequest", "Invalid input for port. Reason: 'many' is not an integer.")
	wantNeutronError(t, e.admin("PUT", "/networking/v2.0/quotas/pa", map[string]any{"quota": map[string]any{"port": -2}}), 400, "HTTPBadRequest", "'-2' is too small")
	wantNeutronError(t, e.admin("PUT", "/networking/v2.0/quotas/pa", map[string]any{"quota": map[string]any{"ports": 2}}), 400, "HTTPBadRequest", "Unrecognized attribute(s) 'ports'")
	if q := e.must(e.admin("PUT", "/networking/v2.0/quotas/pa", map[string]any{"quota": map[string]any{"port": "2", "network": 1}}), 200)["quota"].(map[string]any); q["port"] != 2.0 || q["network"] != 1.0 || q["subnet"] != 100.0 {
		t.Fatalf("after update: %v", q)
	}

	net := field(e.must(e.member("pa", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "n"}}), 201), "network", "id")
	wantNeutronError(t, e.member("pa", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "n2"}}), 409, "OverQuota", "Quota exceeded for resources: ['network'].")
	e.must(e.member("pa", "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": net, "cidr": "127.43.0.0/24"}}), 201)
	for i := 0; i < 2; i++ {
		e.must(e.member("pa", "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net}}), 201)
	}
	wantNeutronError(t, e.member("pa", "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net}}), 409, "OverQuota", "Quota exceeded for resources: ['port'].")
	// Another project is not limited by pa's use.
	netB := field(e.must(e.member("pb", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "n"}}), 201), "network", "id")
	e.must(e.member("pb", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "n2"}}), 201)
	e.must(e.member("pb", "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": netB, "cidr": "127.44.0.0/24"}}), 201)
	for i := 0; i < 3; i++ {
		e.must(e.member("pb", "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": netB}}), 201)
	}
	d := e.must(e.member("pa", "GET", "/networking/v2.0/quotas/pa/details", nil), 200)["quota"].(map[string]any)
	if p := d["port"].(map[string]any); p["limit"] != 2.0 || p["used"] != 2.0 || p["reserved"] != 0.0 {
		t.Errorf("details %v", d)
	}
	if sg := d["security_group"].(map[string]any); sg["used"] != 1.0 { // the default group
		t.Errorf("security groups used %v", sg)
	}
	all := list(e.must(e.admin("GET", "/networking/v2.0/quotas", nil), 200), "quotas")
	if len(all) != 1 || all[0]["project_id"] != "pa" {
		t.Errorf("projects with their own quotas: %v", all)
	}
	if tenant := e.must(e.member("pa", "GET", "/networking/v2.0/quotas/tenant", nil), 200); field(tenant, "tenant", "tenant_id") != "pa" {
		t.Errorf("quota tenant: %v", tenant)
	}
	wantNeutronError(t, e.admin("PUT", "/networking/v2.0/quotas/pa", map[string]any{"quota": map[string]any{"port": 1, "check_limit": true}}), 400, "InvalidQuotaValue", "lower than the usage 2")
	if r := e.admin("DELETE", "/networking/v2.0/quotas/pa", nil); r.code != 204 {
		t.Fatalf("delete quota: %d", r.code)
	}
	e.must(e.member("pa", "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net}}), 201)
	if q := e.must(e.member("pa", "GET", "/networking/v2.0/quotas/pa/default", nil), 200)["quota"].(map[string]any); !reflect.DeepEqual(q, want) {
		t.Errorf("default quotas %v", q)
	}
	// Deployment defaults come from Options.Quotas.
	custom := network.DefaultQuotas
	custom[1] = 0 // subnets
	e2 := newEnv(t, network.Options{Quotas: &custom})
	net2 := field(e2.must(e2.member("pa", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "n"}}), 201), "network", "id")
	wantNeutronError(t, e2.member("pa", "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": net2, "cidr": "127.45.0.0/24"}}), 409, "OverQuota", "['subnet']")
}

// TestSubnetSizeLimit: in loopback mode a member cannot claim a range wider
// than the configured prefix; an admin can; the noop mode has no limit.
func TestSubnetSizeLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   network.Options
		cidr   string
		roles  string
		wantOK bool
	}{
		{"member /9", network.Options{}, "127.128.0.0/9", "member", false},
		{"member /23", network.Options{}, "127.50.0.0/23", "member", false},
		{"member /24", network.Options{}, "127.50.0.0/24", "member", true},
		{"member /28", network.Options{}, "127.50.0.0/28", "member", true},
		{"admin /9", network.Options{}, "127.128.0.0/9", "admin", true},
		{"configured /16", network.Options{SubnetMinPrefix: 16}, "127.50.0.0/16", "member", true},
		{"configured /16, /15", network.Options{SubnetMinPrefix: 16}, "127.50.0.0/15", "member", false},
		{"noop mode", network.Options{AnyAddress: true}, "10.0.0.0/8", "member", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			net := field(e.must(e.do("POST", "/v2.0/networks", "pa", tc.roles, map[string]any{"network": map[string]any{"name": "n"}}), 201), "network", "id")
			r := e.do("POST", "/v2.0/subnets", "pa", tc.roles, map[string]any{"subnet": map[string]any{"network_id": net, "cidr": tc.cidr}})
			if tc.wantOK {
				e.must(r, 201)
				return
			}
			wantNeutronError(t, r, 400, "InvalidInput", "only an admin may create a subnet larger than /")
		})
	}
}

// TestConcurrentOverlappingSubnetsOnPostgres: transactions racing to
// create overlapping subnets on PostgreSQL (where writers are not
// serialised as on SQLite, and each project's quota row is its own): in
// every round exactly one range of each overlapping set wins, in both
// network modes' scopes (loopback: one address space across projects and
// networks; noop: one network).
func TestConcurrentOverlappingSubnetsOnPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	for _, mode := range []struct {
		name string
		opts network.Options
	}{{"loopback", network.Options{}}, {"noop, one network", network.Options{AnyAddress: true}}} {
		t.Run(mode.name, func(t *testing.T) {
			st, err := sqlstore.Open(context.Background(), sqlstore.Options{Driver: "postgres", DSN: pg.NewDatabase(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			e := newEnvOn(t, st, mode.opts)
			const racers, rounds = 8, 15
			// Each racer is another project: in loopback mode on its own
			// network, in noop mode on one shared network (subnets made by an
			// admin for the racer's project).
			nets := make([]string, racers)
			shared := field(e.must(e.admin("POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "shared", "shared": true}}), 201), "network", "id")
			for i := range nets {
				nets[i] = shared
				if !mode.opts.AnyAddress {
					nets[i] = field(e.must(e.member(fmt.Sprintf("p%d", i), "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "n"}}), 201), "network", "id")
				}
			}
			for round := 0; round < rounds; round++ {
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := 0; i < racers; i++ {
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						// Different but overlapping ranges: no unique key catches them.
						cidr := fmt.Sprintf("127.60.%d.%d/32", round, i)
						if i%2 == 0 {
							cidr = fmt.Sprintf("127.60.%d.0/24", round)
						}
						body := map[string]any{"subnet": map[string]any{"network_id": nets[i], "cidr": cidr, "project_id": fmt.Sprintf("p%d", i)}}
						<-start
						var r resp
						if mode.opts.AnyAddress {
							r = e.admin("POST", "/v2.0/subnets", body)
						} else {
							r = e.member(fmt.Sprintf("p%d", i), "POST", "/v2.0/subnets", body)
						}
						if r.code != 201 && !(r.code == 400 && strings.Contains(r.raw, "overlaps")) {
							t.Errorf("round %d racer %d: %d %s", round, i, r.code, r.raw)
						}
					}(i)
				}
				close(start)
				wg.Wait()
			}
			var stored []string
			_ = st.View(context.Background(), func(tx store.Tx) error {
				subs, err := tx.Subnets().List(context.Background(), store.Query{})
				for _, s := range subs {
					stored = append(stored, s.CIDR)
				}
				return err
			})
			t.Logf("%d rounds of %d racers: %d subnets stored", rounds, racers, len(stored))
			for i, a := range stored {
				for _, b := range stored[i+1:] {
					pa, pb := netip.MustParsePrefix(a), netip.MustParsePrefix(b)
					if pa.Overlaps(pb) {
						t.Errorf("overlapping subnets %s and %s both stored", a, b)
					}
				}
			}
		})
	}
}

// TestListSort: Neutron's sort_key/sort_dir on lists (gophercloud's
// TestQueryByTags sorts networks by id).
func TestListSort(t *testing.T) {
	e := newEnv(t, network.Options{})
	for _, n := range []string{"b", "c", "a"} {
		e.must(e.member("pa", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": n}}), 201)
	}
	names := func(q string) string {
		var out []string
		for _, n := range list(e.must(e.member("pa", "GET", "/v2.0/networks?"+q, nil), 200), "networks") {
			out = append(out, n["name"].(string))
		}
		return strings.Join(out, "")
	}
	if got := names("sort_key=name&sort_dir=asc"); got != "abc" {
		t.Errorf("by name asc: %s", got)
	}
	if got := names("sort_key=name&sort_dir=desc"); got != "cba" {
		t.Errorf("by name desc: %s", got)
	}
	if got := names("sort_key=name"); got != "abc" {
		t.Errorf("by name, no direction: %s", got)
	}
	ids := list(e.must(e.member("pa", "GET", "/v2.0/networks?sort_key=id&sort_dir=asc", nil), 200), "networks")
	for i := 1; i < len(ids); i++ {
		if ids[i-1]["id"].(string) > ids[i]["id"].(string) {
			t.Errorf("by id: %v", ids)
		}
	}
	wantNeutronError(t, e.member("pa", "GET", "/v2.0/networks?sort_key=secret", nil), 400, "HTTPBadRequest", "secret is an invalid attribute for sort_keys")
	wantNeutronError(t, e.member("pa", "GET", "/v2.0/networks?sort_key=name&sort_dir=up", nil), 400, "HTTPBadRequest", "up is an invalid value for sort_dirs")
	wantNeutronError(t, e.member("pa", "GET", "/v2.0/networks?sort_key=name&sort_key=id&sort_dir=asc", nil), 400, "HTTPBadRequest", "must be same")
}
