package multiserver

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// lbGraph is a load balancer with an HTTP listener and a pool of members.
type lbGraph struct {
	lb, listener, pool, vip string
	port                    int
}

func (g *lbGraph) url() string { return fmt.Sprintf("http://%s:%d/", g.vip, g.port) }

// createGraph creates a load balancer through a with one member per
// backend, and waits until it is ACTIVE.
func createGraph(t *testing.T, a *api, sub string, backends ...*backend) *lbGraph {
	t.Helper()
	g := &lbGraph{port: freePort(t)}
	r := a.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": "vip", "vip_subnet_id": sub}}, 201)
	g.lb, g.vip = str(r.obj("loadbalancer"), "id"), str(r.obj("loadbalancer"), "vip_address")
	g.listener = str(a.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": g.lb, "protocol": "HTTP", "protocol_port": g.port}}, 201).obj("listener"), "id")
	g.pool = str(a.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"listener_id": g.listener, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201).obj("pool"), "id")
	for _, b := range backends {
		a.must(t, "POST", "/v2/lbaas/pools/"+g.pool+"/members", map[string]any{"member": map[string]any{
			"address": "127.0.0.1", "protocol_port": b.port, "name": b.name}}, 201)
	}
	waitActive(t, a, g.lb, 60*time.Second)
	return g
}

// waitActive polls until load balancer id is ACTIVE.
func waitActive(t *testing.T, a *api, id string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < timeout {
		r, err := a.call("GET", "/v2/lbaas/loadbalancers/"+id, nil)
		if err == nil && r.code == 200 {
			if last = str(r.obj("loadbalancer"), "provisioning_status"); last == "ACTIVE" {
				return time.Since(start)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("load balancer %s %s after %s, want ACTIVE", id, last, timeout)
	return 0
}

// get makes one request on a new connection.
func get(url string) error {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func waitTraffic(t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); get(url) != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no traffic through %s within %s", url, timeout)
		}
	}
}

// TestLeaderTakeover: a write through any server is applied by the leader;
// when the leader is killed, another server leads within the lease's
// bound and a write through a third server becomes ACTIVE.
func TestLeaderTakeover(t *testing.T) {
	c := newCluster(t, 3)
	c.addAgent("node-1", 0)
	c.addAgent("node-2", 1)
	c.waitAgentsUp(60 * time.Second)
	leader, epoch := c.waitLeader(0, 30*time.Second)
	other := (leader + 1) % 3
	a := newAPI(c.servers[other].url())
	b := startBackend(t, "b1")
	g := createGraph(t, a, subnet(t, a), b)
	waitTraffic(t, g.url(), 20*time.Second)

	killed := time.Now()
	c.servers[leader].kill()
	third := (leader + 2) % 3
	a3 := newAPI(c.servers[third].url())
	a3.must(t, "PUT", "/v2/lbaas/loadbalancers/"+g.lb, map[string]any{"loadbalancer": map[string]any{"description": "after the leader died"}}, 200)
	waitActive(t, a3, g.lb, 30*time.Second)
	took := time.Since(killed)
	next, nextEpoch := c.waitLeader(epoch, 10*time.Second)
	t.Logf("leader %s killed; %s leads in epoch %d; the write through %s was ACTIVE %s after the kill",
		c.servers[leader].name, c.servers[next].name, nextEpoch, c.servers[third].name, took.Round(time.Millisecond))
	if next == leader {
		t.Fatalf("the killed server still leads")
	}
	if took > 5*time.Second {
		t.Errorf("takeover and write took %s", took)
	}
	if err := get(g.url()); err != nil {
		t.Errorf("traffic after the takeover: %v", err)
	}
	c.checkPlacementsSettled(t, "after the takeover")
}

// backendSeen polls url until a response comes from the backend named
// name, and returns how long that took.
func backendSeen(t *testing.T, url, name string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for time.Since(start) < timeout {
		if resp, err := c.Get(url); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) == name {
				return time.Since(start)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no response from backend %s through %s within %s", name, url, timeout)
	return 0
}

// TestLeaderKilledMidReconcile: a write through one server is committed
// (201) and the leader is SIGKILLed at once, while the load balancer is
// still PENDING_UPDATE — it was reconciling the write or about to. Another
// server takes over from the committed desired state: the load balancer is
// ACTIVE within 10 s and its agent sends traffic to the new member. Three
// rounds, each killing the leader of the moment (restarted afterwards);
// at least one must catch the load balancer still pending after the kill.
func TestLeaderKilledMidReconcile(t *testing.T) {
	c := newCluster(t, 3)
	c.addAgent("node-1", 0)
	c.addAgent("node-2", 1)
	c.waitAgentsUp(60 * time.Second)
	_, epoch := c.waitLeader(0, 30*time.Second)
	g := createGraph(t, newAPI(c.servers[0].url()), subnet(t, newAPI(c.servers[0].url())), startBackend(t, "b0"))
	waitTraffic(t, g.url(), 20*time.Second)
	caught := 0
	for round := 1; round <= 3; round++ {
		leader, e := c.waitLeader(epoch-1, 30*time.Second)
		epoch = e
		writer, reader := newAPI(c.servers[(leader+1)%3].url()), newAPI(c.servers[(leader+2)%3].url())
		name := fmt.Sprintf("b%d", round)
		b := startBackend(t, name)
		writer.must(t, "POST", "/v2/lbaas/pools/"+g.pool+"/members", map[string]any{"member": map[string]any{
			"address": "127.0.0.1", "protocol_port": b.port, "name": name}}, 201)
		c.servers[leader].kill()
		killed := time.Now()
		if st := str(reader.must(t, "GET", "/v2/lbaas/loadbalancers/"+g.lb, nil, 200).obj("loadbalancer"), "provisioning_status"); st == "PENDING_UPDATE" {
			caught++
		} else {
			t.Logf("round %d: the load balancer was %s already when the leader died", round, st)
		}
		waitActive(t, reader, g.lb, 30*time.Second)
		took := time.Since(killed)
		if took > 10*time.Second {
			t.Errorf("round %d: ACTIVE %s after the leader died, want within 10 s", round, took)
		}
		next, ne := c.waitLeader(epoch, 10*time.Second)
		t.Logf("round %d: %s killed in epoch %d; %s leads in epoch %d; the write was ACTIVE %s after the kill",
			round, c.servers[leader].name, epoch, c.servers[next].name, ne, took.Round(time.Millisecond))
		// The agent serves the new member (round robin with the others).
		backendSeen(t, g.url(), name, 20*time.Second)
		c.servers[leader].restart()
		epoch = ne
	}
	if caught == 0 {
		t.Errorf("no round caught the load balancer still PENDING_UPDATE when the leader died")
	}
	c.checkPlacementsSettled(t, "after three takeovers")
}
