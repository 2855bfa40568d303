package e2e

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// caseRefusedConfigConverges: a listener on an address:port that something else on the
// host already holds cannot be applied; the load balancer goes ERROR (others on the agent
// keep working), and once the port is free the controller's retries converge it to ACTIVE.
func caseRefusedConfigConverges(t *testing.T, s *engineServer) {
	srv, a := s.srv, s.a
	b := startBackend(t, "backend")
	healthy := createGraph(t, a, freePort(t), b)
	a.waitStatus(t, healthy.lb, "ACTIVE", 30*time.Second)

	// Occupy a port on an address of private-subnet (127.10.0.0/16, where
	// the Neutron subset allocates VIPs) and ask for a VIP there.
	const clashAddr = "127.10.255.250"
	blocker, err := net.Listen("tcp", clashAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	port := blocker.Addr().(*net.TCPAddr).Port
	r := a.newLB(t, map[string]any{"name": "clash", "vip_address": clashAddr})
	lbID := r.id("loadbalancer")
	lis := a.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": lbID, "protocol": "TCP", "protocol_port": port}}, 201).id("listener")
	a.waitStatus(t, lbID, "ERROR", 30*time.Second)
	if st := a.must(t, "GET", "/v2/lbaas/listeners/"+lis, nil, 200).field("listener", "provisioning_status"); st != "ERROR" {
		t.Errorf("listener of the refused load balancer: %s", st)
	}
	if !strings.Contains(srv.Logs(), "address already in use") {
		t.Errorf("the refusal's reason is not in the server log")
	}
	if f := a.must(t, "GET", "/v2/lbaas/loadbalancers/"+lbID, nil, 200).field("loadbalancer", "fault"); !strings.Contains(f, "address already in use") {
		t.Errorf("the refusal's reason is not the load balancer's fault: %q", f)
	}
	// The other load balancer on the same agent is unaffected.
	if _, err := fetch(healthy.url()); err != nil {
		t.Fatalf("healthy load balancer broken by another's refusal: %v", err)
	}
	// Free the port: retries converge without any further API call.
	blocker.Close()
	a.waitStatus(t, lbID, "ACTIVE", 60*time.Second)
	if f := a.must(t, "GET", "/v2/lbaas/loadbalancers/"+lbID, nil, 200).field("loadbalancer", "fault"); f != "" {
		t.Errorf("an ACTIVE load balancer still shows a fault: %q", f)
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(clashAddr, strconv.Itoa(port)), time.Second)
	if err != nil {
		t.Fatalf("listener not serving after convergence: %v", err)
	}
	c.Close()
}
