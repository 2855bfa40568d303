package e2e

import (
	"testing"
	"time"
)

// placement returns the agent (compute_id) and id of the load balancer's
// one amphora.
func placement(t *testing.T, a *api, lbID string) (agent, id string) {
	t.Helper()
	r := a.must(t, "GET", "/v2/octavia/amphorae?loadbalancer_id="+lbID, nil, 200)
	amps, _ := r.body["amphorae"].([]any)
	if len(amps) != 1 {
		t.Fatalf("amphorae of %s: %s", lbID, r.raw)
	}
	amp := amps[0].(map[string]any)
	return field(amp, "compute_id"), field(amp, "id")
}

// waitPlacement polls until the load balancer's amphora is READY on an
// agent other than from.
func waitPlacement(t *testing.T, a *api, lbID, from string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		r := a.must(t, "GET", "/v2/octavia/amphorae?loadbalancer_id="+lbID, nil, 200)
		if amps, _ := r.body["amphorae"].([]any); len(amps) == 1 {
			amp := amps[0].(map[string]any)
			if agent := field(amp, "compute_id"); agent != from && field(amp, "status") == "READY" {
				return agent
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("load balancer %s never left agent %s", lbID, from)
	return ""
}

// TestAPIFailoverMovesTheLoadBalancer: with two agents, a load balancer
// failover and then an amphora failover each move the load balancer to the
// other agent, and traffic follows it; on each engine.
func TestAPIFailoverMovesTheLoadBalancer(t *testing.T) {
	forEngines(t, func(t *testing.T, e dataEngine) {
		_, a, _, _ := twoAgents(t, e)
		b := startBackend(t, "backend")
		g := createGraph(t, a, freePort(t), b)
		a.waitStatus(t, g.lb, "ACTIVE", 30*time.Second)
		waitTraffic(t, g.url(), 20*time.Second)
		first, _ := placement(t, a, g.lb)

		start := time.Now()
		a.must(t, "PUT", "/v2/lbaas/loadbalancers/"+g.lb+"/failover", nil, 202)
		second := waitPlacement(t, a, g.lb, first)
		a.waitStatus(t, g.lb, "ACTIVE", 30*time.Second)
		waitTraffic(t, g.url(), 20*time.Second)
		lbFailover := time.Since(start)

		start = time.Now()
		_, id := placement(t, a, g.lb)
		a.must(t, "PUT", "/v2/octavia/amphorae/"+id+"/failover", nil, 202)
		third := waitPlacement(t, a, g.lb, second)
		a.waitStatus(t, g.lb, "ACTIVE", 30*time.Second)
		waitTraffic(t, g.url(), 20*time.Second)
		t.Logf("load balancer failover → ACTIVE and serving in %s, amphora failover in %s", lbFailover.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		if third != first {
			t.Errorf("amphora failover moved the load balancer from %s to %s, want back to %s", second, third, first)
		}
		a.must(t, "PUT", "/v2/octavia/amphorae/"+id+"/config", nil, 202)
		t.Logf("failover moved the load balancer %s → %s → %s, traffic following", first, second, third)
	})
}
