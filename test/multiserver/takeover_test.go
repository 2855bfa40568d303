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
}
