package e2e

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
)

// dataEngine is one data-plane engine the end-to-end cases run on: the embedded agent
// of a server (serverArgs), or `fulcrum agent` processes (agentArgs), and the provider
// of the load balancers the cases create ("" is the default provider, fulcrum).
type dataEngine struct {
	name       string
	serverArgs []string
	agentArgs  []string
	provider   string
}

// engines is the table every data-plane case runs over (docs/dataplane.md, "Engines:
// what each carries"): each case is a subtest per engine.
var engines = []dataEngine{
	{name: "native"},
	{name: "haproxy", serverArgs: []string{"--embedded-agent-engine", "haproxy"}, agentArgs: []string{"--engine", "haproxy"}, provider: "haproxy"},
}

// refuses skips t on an engine that refuses what the case needs: row names the row of
// docs/dataplane.md's engine table that says so. The refusal itself is checked by the
// refusals case (caseEngineRefusals), so a skip is never a hole.
func (e dataEngine) refuses(t *testing.T, row string) {
	t.Helper()
	if e.name == "haproxy" {
		t.Skip("docs/dataplane.md engine table: " + row)
	}
}

// forEngines runs f as a subtest per engine.
func forEngines(t *testing.T, f func(t *testing.T, e dataEngine)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { f(t, e) })
	}
}

// engineServer is a server whose embedded agent runs the engine, shared by the cases of
// TestEndToEnd (one server per engine keeps the doubled suite's time down). Every case
// creates its own load balancers on their own ports and deletes them when it ends.
type engineServer struct {
	e   dataEngine
	srv *servertest.Server
	a   *api
}

// startEngineServer starts a server (no auth) whose embedded agent runs e, and waits
// until that agent is up.
func startEngineServer(t *testing.T, e dataEngine, extra ...string) *engineServer {
	t.Helper()
	dataDir := t.TempDir()
	if e.name == "haproxy" {
		// HAProxy dies with the server (its parent-death signal); this is for a server
		// that could not even be stopped.
		t.Cleanup(func() { hapKillLeftover(filepath.Join(dataDir, "agent", "haproxy", "haproxy.pid")) })
	}
	args := append([]string{"--auth", "noauth", "--log-level", "info"}, e.serverArgs...)
	srv := servertest.Start(t, bin, dataDir, append(args, extra...)...)
	t.Cleanup(func() { srv.Stop(30 * time.Second) })
	waitAgentUp(t, srv, "embedded", 60*time.Second)
	a := newAPI(srv.URL)
	a.provider = e.provider
	return &engineServer{e: e, srv: srv, a: a}
}

// TestEndToEnd runs the data-plane cases through the real binary on each engine: graph
// create → traffic, health down and up, statuses, stats, persistence, L7, TLS termination
// with SNI, PROMETHEUS listeners, a refused configuration converging, floating IPs, UDP,
// and what each engine refuses. Agent failover runs over both engines too
// (TestAgentFailover, TestAPIFailoverMovesTheLoadBalancer, TestDataPlaneSurvivesServer).
func TestEndToEnd(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, s *engineServer)
	}{
		{"traffic", caseTraffic},
		{"persistence", casePersistence},
		{"l7", caseL7},
		{"l7-fully-populated", caseL7FullyPopulated},
		{"terminated-https", caseTerminatedHTTPS},
		{"prometheus", casePrometheus},
		{"refused-config-converges", caseRefusedConfigConverges},
		{"floating-ip", caseFloatingIP},
		{"udp", caseUDP},
		{"engine-refusals", caseEngineRefusals},
	}
	forEngines(t, func(t *testing.T, e dataEngine) {
		s := startEngineServer(t, e)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { c.run(t, s) })
		}
	})
}

// deleteOnCleanup deletes the load balancer (cascade) when the test ends and waits until
// it is gone, so that cases sharing a server leave nothing behind for the next one (with
// HAProxy, whose every change reloads the node, the next case starts after that reload).
func (a *api) deleteOnCleanup(t *testing.T, lbID string) {
	t.Cleanup(func() {
		if r, err := a.call("DELETE", "/v2/lbaas/loadbalancers/"+lbID+"?cascade=true", nil); err == nil && r.code == 204 {
			a.waitStatus(t, lbID, "DELETED", 60*time.Second)
		}
	})
}

// newLB creates a load balancer of the api's provider with the given fields (vip_subnet_id
// added) and deletes it when the test ends.
func (a *api) newLB(t *testing.T, fields map[string]any) reply {
	t.Helper()
	lb := map[string]any{"vip_subnet_id": vipSubnet(a)}
	if a.provider != "" {
		lb["provider"] = a.provider
	}
	for k, v := range fields {
		lb[k] = v
	}
	r := a.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": lb}, 201)
	a.deleteOnCleanup(t, r.id("loadbalancer"))
	return r
}
