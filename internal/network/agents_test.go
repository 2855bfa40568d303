package network_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// TestAgentAddressesReserved: in segment mode, an agent's segment address is an IPAM
// allocation of a fulcrum:agent port, whether the agent reported it before the subnet was
// made or after; no VIP is ever allocated on it (lowest free skips it, a requested one is a
// 409), the port cannot be deleted through the API nor its subnet deleted while it holds the
// address, an address another port holds first is left to it, and an address the agent no
// longer reports is released.
func TestAgentAddressesReserved(t *testing.T) {
	ss, err := network.ParseSegments([]string{"physnet=198.18.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, network.Options{Segments: ss})
	ctx := context.Background()
	vips := network.NewVIPs(e.st, nil).WithSegments(ss)
	// a1 reported its address before any subnet holds it.
	a1 := &lb.Agent{ID: "a9e00000-0000-4000-8000-000000000001", Name: "a1", Status: lb.AgentUp, Times: lb.Times{CreatedAt: time.Now()},
		Segments: []lb.AgentSegment{{Name: "physnet", Interface: "eth0", Address: "198.18.0.2/24"}}}
	reserve := func(a *lb.Agent) []netip.Addr {
		t.Helper()
		var taken []netip.Addr
		err := e.st.Update(ctx, func(tx store.Tx) (err error) {
			taken, err = vips.ReserveAgentAddresses(ctx, tx, a.ID, a.Name, network.AgentAddresses(a))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return taken
	}
	e.must(e.admin("POST", "/networking/v2.0/networks", map[string]any{"network": map[string]any{"name": "physnet", "shared": true}}), 201)
	if err := e.st.Update(ctx, func(tx store.Tx) error { return tx.Agents().Create(ctx, a1) }); err != nil {
		t.Fatal(err)
	}
	if taken := reserve(a1); len(taken) != 0 {
		t.Fatalf("reserve with no subnet: taken %v", taken)
	}
	nets := e.must(e.admin("GET", "/networking/v2.0/networks?name=physnet", nil), 200)
	netID := nets["networks"].([]any)[0].(map[string]any)["id"].(string)
	sub := field(e.must(e.admin("POST", "/networking/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": netID,
		"cidr": "198.18.0.0/24", "ip_version": 4, "gateway_ip": nil}}), 201), "subnet", "id")

	// The subnet's creation reserved a1's address.
	ports := e.must(e.admin("GET", "/networking/v2.0/ports?device_owner=fulcrum:agent", nil), 200)["ports"].([]any)
	if len(ports) != 1 || ports[0].(map[string]any)["device_id"] != a1.ID {
		t.Fatalf("agent ports after the subnet was made: %v", ports)
	}
	p1 := ports[0].(map[string]any)
	if ips := p1["fixed_ips"].([]any); len(ips) != 1 || ips[0].(map[string]any)["ip_address"] != "198.18.0.2" {
		t.Errorf("a1's port holds %v, want 198.18.0.2", ips)
	}

	// a2 reports after the subnet exists.
	a2 := &lb.Agent{ID: "a9e00000-0000-4000-8000-000000000002", Name: "a2", Status: lb.AgentUp, Times: lb.Times{CreatedAt: time.Now()},
		Segments: []lb.AgentSegment{{Name: "physnet", Interface: "eth0", Address: "198.18.0.1/24"}}}
	if err := e.st.Update(ctx, func(tx store.Tx) error { return tx.Agents().Create(ctx, a2) }); err != nil {
		t.Fatal(err)
	}
	if taken := reserve(a2); len(taken) != 0 {
		t.Fatalf("a2: taken %v", taken)
	}
	reserve(a2) // idempotent

	mk := func(id string, vip lb.VIP) (*lb.LoadBalancer, error) {
		l := &lb.LoadBalancer{ID: id, ProjectID: "demo", VIP: vip}
		err := e.st.Update(ctx, func(tx store.Tx) error { return vips.Allocate(ctx, tx, l) })
		return l, err
	}
	l, err := mk("lb1", lb.VIP{SubnetID: sub})
	if err != nil || l.VIP.Address != "198.18.0.3" {
		t.Errorf("VIP %+v %v, want 198.18.0.3 (.1 and .2 are agents')", l.VIP, err)
	}
	var conflict *lb.ConflictError
	if _, err := mk("lb2", lb.VIP{SubnetID: sub, Address: "198.18.0.2"}); !errors.As(err, &conflict) {
		t.Errorf("VIP on an agent's address: %v, want a conflict", err)
	}
	wantNeutronError(t, e.admin("DELETE", "/networking/v2.0/ports/"+p1["id"].(string), nil), 409, "ServicePortInUse", "fulcrum:agent")
	wantNeutronError(t, e.admin("DELETE", "/networking/v2.0/subnets/"+sub, nil), 409, "SubnetInUse", "")

	// An address a port got first stays with it.
	e.must(e.admin("POST", "/networking/v2.0/ports", map[string]any{"port": map[string]any{"network_id": netID,
		"fixed_ips": []any{map[string]any{"subnet_id": sub, "ip_address": "198.18.0.9"}}}}), 201)
	a3 := &lb.Agent{ID: "a9e00000-0000-4000-8000-000000000003", Name: "a3", Status: lb.AgentUp, Times: lb.Times{CreatedAt: time.Now()},
		Segments: []lb.AgentSegment{{Name: "physnet", Interface: "eth0", Address: "198.18.0.9/24"}}}
	if err := e.st.Update(ctx, func(tx store.Tx) error { return tx.Agents().Create(ctx, a3) }); err != nil {
		t.Fatal(err)
	}
	if taken := reserve(a3); len(taken) != 1 || taken[0].String() != "198.18.0.9" {
		t.Errorf("a3 on a held address: taken %v, want [198.18.0.9]", taken)
	}

	// a1 moves to another address: the old one is free again (IPAM prefers addresses never
	// used, so it is asked for by name), the new one reserved.
	a1.Segments[0].Address = "198.18.0.20/24"
	reserve(a1)
	l3, err := mk("lb3", lb.VIP{SubnetID: sub, Address: "198.18.0.2"})
	if err != nil || l3.VIP.Address != "198.18.0.2" {
		t.Errorf("VIP on a1's old address after it moved: %+v %v, want 198.18.0.2", l3.VIP, err)
	}
	if _, err := mk("lb4", lb.VIP{SubnetID: sub, Address: "198.18.0.20"}); !errors.As(err, &conflict) {
		t.Errorf("VIP on a1's new address: %v, want a conflict", err)
	}
}
