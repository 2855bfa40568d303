package apiserver_test

import (
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
)

// TestNativeProviderRefusesSCTP: the native engine cannot carry SCTP, so a
// listener or pool of that protocol on a fulcrum load balancer is Octavia's
// 501 "does not support a requested option" at once (rather than a load
// balancer that goes ERROR later); the noop provider still takes it.
func TestNativeProviderRefusesSCTP(t *testing.T) {
	h := newHarness(t, harnessOpts{tweak: func(o *apiserver.Options) {
		o.Providers = []string{"fulcrum", "noop"}
		o.DefaultProvider = "fulcrum"
	}})
	create := func(provider string) string {
		r := h.must(201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
			"vip_subnet_id": uuidA, "provider": provider}})
		return r.obj("loadbalancer")["id"].(string)
	}
	native, noop := create("fulcrum"), create("noop")
	const want = "Provider 'fulcrum' does not support a requested option: The native engine does not support the SCTP protocol."
	cases := []struct {
		name, path string
		body       map[string]any
	}{
		{"listener", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": native, "protocol": "SCTP", "protocol_port": 3868}}},
		{"pool", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"loadbalancer_id": native, "protocol": "SCTP", "lb_algorithm": "ROUND_ROBIN"}}},
		{"graph", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": uuidA,
			"pools": []any{map[string]any{"name": "p", "protocol": "SCTP", "lb_algorithm": "ROUND_ROBIN"}}}}},
	}
	for _, c := range cases {
		r := h.must(501, "POST", c.path, c.body)
		if r.fault() != want {
			t.Errorf("%s: faultstring %q, want %q", c.name, r.fault(), want)
		}
		if fc, _ := r.body["faultcode"].(string); fc != "Server" {
			t.Errorf("%s: faultcode %q", c.name, fc)
		}
	}
	// Nothing of the refused graph was stored.
	if n := len(h.must(200, "GET", "/v2/lbaas/loadbalancers", nil).list("loadbalancers")); n != 2 {
		t.Errorf("%d load balancers after the refused graph create, want 2", n)
	}
	// TCP on the native provider and SCTP on noop are fine.
	h.must(201, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": native, "protocol": "TCP", "protocol_port": 3868}})
	r := h.must(201, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": noop, "protocol": "SCTP", "protocol_port": 3868}})
	if !strings.EqualFold(r.obj("listener")["protocol"].(string), "SCTP") {
		t.Errorf("noop SCTP listener: %v", r.obj("listener"))
	}
}
