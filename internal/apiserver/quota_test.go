package apiserver_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/quota"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// TestQuotaThroughTheAPI: concurrent creates over HTTP never overshoot the
// limit, the refusal is a 403 naming the resource, the limit and the usage,
// and noauth callers are never limited.
func TestQuotaThroughTheAPI(t *testing.T) {
	defaults := lb.UnlimitedQuotas()
	defaults[lb.QuotaListener] = 3
	h := newHarness(t, harnessOpts{controller: true, tweak: func(o *apiserver.Options) {
		o.Auth = headerAuth{}
		o.Quotas = quota.New(defaults)
	}})
	member := []string{"X-Project-Id", "own", "X-Roles", "member"}
	lbID := h.must(201, "POST", "/v2.0/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"vip_subnet_id": "6a0a707c-45ef-4758-b533-e55adddba8ce"}}, member...).obj("loadbalancer")["id"].(string)
	const attempts = 12
	codes := make([]int, attempts)
	faults := make([]string, attempts)
	var wg sync.WaitGroup
	for i := 0; i < attempts; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := h.do("POST", "/v2.0/lbaas/listeners", map[string]any{"listener": map[string]any{
				"loadbalancer_id": lbID, "protocol": "TCP", "protocol_port": 2000 + i}}, member...)
			codes[i], faults[i] = r.status, r.fault()
		}(i)
	}
	wg.Wait()
	created, refused := 0, 0
	for i, c := range codes {
		switch c {
		case 201:
			created++
		case 403:
			refused++
			if faults[i] != "Quota has been met for resources: Listener (limit 3, in use 3)" {
				t.Errorf("quota fault %q", faults[i])
			}
		default:
			t.Errorf("listener create %d: status %d %s", i, c, faults[i])
		}
	}
	var stored int
	_ = h.store.View(context.Background(), func(tx store.Tx) error {
		stored, _ = tx.Listeners().Count(context.Background(), store.F("loadbalancer_id", lbID))
		return nil
	})
	t.Logf("%d concurrent listener creates over HTTP against a quota of 3: %d created, %d refused, %d stored", attempts, created, refused, stored)
	if created != 3 || refused != attempts-3 || stored != 3 {
		t.Errorf("created %d, refused %d, stored %d; want 3, %d, 3", created, refused, stored, attempts-3)
	}

	// Under noauth there are no quotas.
	h2 := newHarness(t, harnessOpts{tweak: func(o *apiserver.Options) { o.Quotas = quota.New(defaults) }})
	lb2 := h2.createLB("noauth")
	for i := 0; i < 5; i++ {
		h2.must(201, "POST", "/v2.0/lbaas/listeners", map[string]any{"listener": map[string]any{
			"loadbalancer_id": lb2, "protocol": "TCP", "protocol_port": 3000 + i}})
	}
}

type subnetSet map[string]bool

func (s subnetSet) CheckSubnet(_ context.Context, _ store.Tx, id string) error {
	if !s[id] {
		return &lb.ValidationError{Msg: fmt.Sprintf("Subnet %s not found.", id)}
	}
	return nil
}

// TestMemberAddressPolicy: members outside the allow list, in the deny
// list or on an unknown subnet are 400s, on create, in a batch and in a
// fully populated load balancer.
func TestMemberAddressPolicy(t *testing.T) {
	policy, err := lb.ParseMemberAddressPolicy([]string{"127.0.0.0/8", "::1"}, lb.DefaultMemberDeny)
	if err != nil {
		t.Fatal(err)
	}
	known := "0f6c8b0e-4b8b-4bd5-9d3c-7c1a2b3c4d5e"
	h := newHarness(t, harnessOpts{controller: true, tweak: func(o *apiserver.Options) {
		s := lb.DefaultSettings()
		s.MemberAddresses = policy
		o.Settings = &s
		o.Subnets = subnetSet{known: true}
	}})
	lbID := h.createLB("m")
	pool := h.must(201, "POST", "/v2.0/lbaas/pools", map[string]any{"pool": map[string]any{
		"loadbalancer_id": lbID, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}).obj("pool")["id"].(string)
	members := "/v2.0/lbaas/pools/" + pool + "/members"
	tests := []struct {
		name   string
		member map[string]any
		code   int
		fault  string
	}{
		{"loopback allowed", map[string]any{"address": "127.0.0.10", "protocol_port": 80, "subnet_id": known}, 201, ""},
		{"v6 loopback allowed", map[string]any{"address": "::1", "protocol_port": 80}, 201, ""},
		{"outside the allow list", map[string]any{"address": "1.2.3.4", "protocol_port": 80}, 400, "1.2.3.4 is not a valid option for member address"},
		{"metadata address", map[string]any{"address": "169.254.169.254", "protocol_port": 80}, 400, "169.254.169.254 is not a valid option for member address"},
		{"monitor address outside", map[string]any{"address": "127.0.0.11", "protocol_port": 80, "monitor_address": "10.0.0.1"}, 400, "10.0.0.1 is not a valid option for member monitor_address"},
		{"unknown subnet", map[string]any{"address": "127.0.0.12", "protocol_port": 80, "subnet_id": "6a0a707c-45ef-4758-b533-e55adddba8ce"}, 400, "Subnet 6a0a707c-45ef-4758-b533-e55adddba8ce not found."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("POST", members, map[string]any{"member": tc.member})
			if r.status != tc.code || (tc.fault != "" && r.fault() != tc.fault) {
				t.Errorf("got %d %q, want %d %q", r.status, r.fault(), tc.code, tc.fault)
			}
		})
	}
	r := h.do("PUT", members, map[string]any{"members": []any{map[string]any{"address": "8.8.8.8", "protocol_port": 53}}})
	if r.status != 400 || !strings.Contains(r.fault(), "8.8.8.8 is not a valid option for member address") {
		t.Errorf("batch update: %d %s", r.status, r.raw)
	}
	r = h.do("POST", "/v2.0/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"vip_subnet_id": known, "pools": []any{map[string]any{"name": "p", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
			"members": []any{map[string]any{"address": "192.0.2.1", "protocol_port": 80}}}}}})
	if r.status != 400 || r.fault() != "192.0.2.1 is not a valid option for member address" {
		t.Errorf("graph create: %d %s", r.status, r.raw)
	}
}

// TestQuotaKeySpellingsAndL7Quotas: docs/octavia-behaviour.md, "Quotas".
func TestQuotaKeySpellingsAndL7Quotas(t *testing.T) {
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

// TestQuotaDefaultsRoute: docs/octavia-behaviour.md, "Quotas".
func TestQuotaDefaultsRoute(t *testing.T) {
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
