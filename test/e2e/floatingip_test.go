package e2e

import (
	"net"
	"strconv"
	"testing"
	"time"
)

// caseFloatingIP associates a floating IP from the public network with a load
// balancer's VIP port: the data plane serves the listeners on that address too, and
// stops when it is disassociated.
func caseFloatingIP(t *testing.T, s *engineServer) {
	a := s.a
	b := startBackend(t, "backend")
	g := createGraph(t, a, freePort(t), b)
	a.waitStatus(t, g.lb, "ACTIVE", 30*time.Second)
	port := a.must(t, "GET", "/v2/lbaas/loadbalancers/"+g.lb, nil, 200).field("loadbalancer", "vip_port_id")
	nets := a.must(t, "GET", "/networking/v2.0/networks?name=public", nil, 200).body["networks"].([]any)
	if len(nets) != 1 {
		t.Fatalf("public networks: %v", nets)
	}
	fip := a.must(t, "POST", "/networking/v2.0/floatingips", map[string]any{"floatingip": map[string]any{
		"floating_network_id": field(nets[0].(map[string]any), "id"), "port_id": port}}, 201)
	addr := fip.field("floatingip", "floating_ip_address")
	url := "http://" + net.JoinHostPort(addr, strconv.Itoa(g.port))
	took := waitTraffic(t, url, 10*time.Second)
	t.Logf("floating IP %s serves the VIP %s after %s", addr, g.vip, took.Round(time.Millisecond))
	a.must(t, "PUT", "/networking/v2.0/floatingips/"+fip.id("floatingip"), map[string]any{"floatingip": map[string]any{"port_id": nil}}, 200)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := fetch(url); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the floating address still serves after disassociation")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := fetch(g.url()); err != nil {
		t.Fatalf("the VIP itself stopped serving: %v", err)
	}
}
