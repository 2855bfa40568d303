package apiserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// TestVIPsFromTheNeutronSubset: with the Neutron subset's allocator the VIP
// comes from the subnet inside the create transaction, a VIP address in use
// is a 409, unknown subnets and QoS policies are 400s, and a failed create
// leaves no port behind.
func TestVIPsFromTheNeutronSubset(t *testing.T) {
	var st store.Store
	h := newHarness(t, harnessOpts{tweak: func(o *apiserver.Options) {
		st = o.Store
		o.VIPs = network.NewVIPs(o.Store, nil)
	}})
	subnet, err := network.Bootstrap(context.Background(), st, "p1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	create := func(body map[string]any) *response {
		return h.do("POST", "/v2.0/lbaas/loadbalancers", map[string]any{"loadbalancer": body})
	}
	r := create(map[string]any{"vip_subnet_id": subnet})
	if r.status != 201 || r.obj("loadbalancer")["vip_address"] != "127.10.0.2" || r.obj("loadbalancer")["vip_port_id"] == nil {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	lbID := r.obj("loadbalancer")["id"].(string)
	if r := create(map[string]any{"vip_subnet_id": subnet, "vip_address": "127.10.0.2"}); r.status != 409 || !strings.HasPrefix(r.fault(), "The VIP IP address is already in use") {
		t.Errorf("address in use: %d %s", r.status, r.raw)
	}
	if r := create(map[string]any{"vip_subnet_id": "6a0a707c-45ef-4758-b533-e55adddba8ce"}); r.status != 400 || r.fault() != "Subnet 6a0a707c-45ef-4758-b533-e55adddba8ce not found." {
		t.Errorf("unknown subnet: %d %s", r.status, r.raw)
	}
	if r := create(map[string]any{"vip_subnet_id": subnet, "vip_qos_policy_id": "6a0a707c-45ef-4758-b533-e55adddba8ce"}); r.status != 400 || !strings.HasPrefix(r.fault(), "qos_policy ") {
		t.Errorf("unknown qos policy: %d %s", r.status, r.raw)
	}
	if r := h.do("PUT", "/v2.0/lbaas/loadbalancers/"+lbID, map[string]any{"loadbalancer": map[string]any{"vip_qos_policy_id": "6a0a707c-45ef-4758-b533-e55adddba8ce"}}); r.status != 400 {
		t.Errorf("update to an unknown qos policy: %d %s", r.status, r.raw)
	}
	var ports int
	_ = st.View(context.Background(), func(tx store.Tx) error {
		ports, err = tx.Ports().Count(context.Background())
		return err
	})
	if ports != 1 {
		t.Errorf("%d ports after one successful and three failed creates, want 1", ports)
	}
}
