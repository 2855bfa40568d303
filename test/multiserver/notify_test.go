package multiserver

import (
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
)

// TestWritesAndAcknowledgementsReachTheLeaderAtOnce: with the periodic
// resync out of the way (an hour), a write through a server that does not
// lead reaches the leader's controller, and an agent's acknowledgement
// through a third server brings the load balancer ACTIVE, each through
// notifications alone; the same on one SQLite server, where they stay in
// the process.
func TestWritesAndAcknowledgementsReachTheLeaderAtOnce(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		srv := servertest.Start(t, bin, "", "--auth", "noauth", "--resync", "1h", "--embedded-agent=false", "--log-level", "info")
		tok, err := servertest.Run(bin, "agent-token", "--data-dir", srv.DataDir, "--name", "node-1")
		if err != nil {
			t.Fatal(err)
		}
		servertest.StartProcess(t, bin, "agent", "--server", srv.AgentURL, "--join-token", strings.TrimSpace(tok),
			"--data-dir", t.TempDir(), "--name", "node-1")
		for deadline := time.Now().Add(60 * time.Second); !logHas(srv.Logs(), `msg="agent is up"`, "agent=node-1"); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("agent not up:\n%s", srv.Logs())
			}
		}
		a := newAPI(srv.URL)
		checkActiveWithoutResync(t, a, a)
	})
	t.Run("postgres", func(t *testing.T) {
		c := newCluster(t, 3, "--resync", "1h")
		leader, _ := c.waitLeader(0, 30*time.Second)
		// The agent talks to a server that does not lead; writes go through the other.
		c.addAgent("node-1", (leader+1)%3)
		c.waitAgentsUp(60 * time.Second)
		checkActiveWithoutResync(t, newAPI(c.servers[(leader+2)%3].url()), newAPI(c.servers[(leader+1)%3].url()))
	})
}

// checkActiveWithoutResync creates a load balancer with a listener through
// w and checks, through r, that each write is ACTIVE within a few seconds.
func checkActiveWithoutResync(t *testing.T, w, r *api) {
	t.Helper()
	sub := subnet(t, w)
	start := time.Now()
	id := str(w.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": sub}}, 201).obj("loadbalancer"), "id")
	took := waitActive(t, r, id, 30*time.Second)
	w.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": id, "protocol": "TCP",
		"protocol_port": freePort(t)}}, 201)
	took2 := waitActive(t, r, id, 30*time.Second)
	t.Logf("created ACTIVE after %s, listener ACTIVE after %s (%s in all)", took.Round(time.Millisecond), took2.Round(time.Millisecond),
		time.Since(start).Round(time.Millisecond))
	for i, d := range []time.Duration{took, took2} {
		if d > 5*time.Second {
			t.Errorf("write %d ACTIVE after %s: not through notifications (the resync is an hour away)", i+1, d)
		}
	}

}
