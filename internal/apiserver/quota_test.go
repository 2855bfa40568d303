package apiserver_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/lb"
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
