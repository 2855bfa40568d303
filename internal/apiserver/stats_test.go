package apiserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// TestStatsFromStore: /stats sums the per-agent counters of the health
// manager; active connections count only on agents hosting the load
// balancer.
func TestStatsFromStore(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	f := newFixture(h)
	ctx := context.Background()
	now := time.Now()
	err := h.store.Update(ctx, func(tx store.Tx) error {
		if err := placeOnAgent1(ctx, tx, f.lb, now); err != nil {
			return err
		}
		return tx.ListenerStats().Put(ctx, []*lb.ListenerStats{
			{ListenerID: f.http, AgentID: "agent-1", LoadBalancerID: f.lb, ActiveConnections: 3, TotalConnections: 10, BytesIn: 100, BytesOut: 200, RequestErrors: 1, UpdatedAt: now},
			{ListenerID: f.http, AgentID: "agent-old", LoadBalancerID: f.lb, ActiveConnections: 5, TotalConnections: 7, BytesIn: 1, BytesOut: 2, UpdatedAt: now},
			{ListenerID: f.udp, AgentID: "agent-1", LoadBalancerID: f.lb, ActiveConnections: 1, TotalConnections: 1, BytesIn: 10, BytesOut: 20, UpdatedAt: now},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       map[string]float64
	}{
		{"load balancer", "/v2/lbaas/loadbalancers/" + f.lb + "/stats", map[string]float64{"bytes_in": 111, "bytes_out": 222, "active_connections": 4, "total_connections": 18, "request_errors": 1}},
		{"listener", "/v2/lbaas/listeners/" + f.http + "/stats", map[string]float64{"bytes_in": 101, "bytes_out": 202, "active_connections": 3, "total_connections": 17, "request_errors": 1}},
		{"listener without counters", "/v2/lbaas/listeners/" + f.https + "/stats", map[string]float64{"bytes_in": 0, "bytes_out": 0, "active_connections": 0, "total_connections": 0, "request_errors": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.must(200, "GET", tt.path, nil).obj("stats")
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("GET %s: %s = %v, want %v (all: %v)", tt.path, k, got[k], v, got)
				}
			}
			if len(got) != 5 {
				t.Errorf("keys %v", keys(got))
			}
		})
	}
	h.must(404, "GET", "/v2/lbaas/listeners/"+uuidB+"/stats", nil)
}

// TestMemberStatsFromStore: a member's counters (a fulcrum extension) sum
// the agents' rows; active connections only where the load balancer is
// hosted; zeros before any report; the member must be the pool's.
func TestMemberStatsFromStore(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	f := newFixture(h)
	ctx := context.Background()
	now := time.Now()
	member := func(pool, port string) string {
		return h.must(201, "POST", "/v2/lbaas/pools/"+pool+"/members", map[string]any{"member": map[string]any{
			"address": "127.0.0.1", "protocol_port": port}}).obj("member")["id"].(string)
	}
	m1, m2 := member(f.pool, "8081"), member(f.pool, "8082")
	err := h.store.Update(ctx, func(tx store.Tx) error {
		if err := placeOnAgent1(ctx, tx, f.lb, now); err != nil {
			return err
		}
		return tx.MemberStats().Put(ctx, []*lb.MemberStats{
			{MemberID: m1, AgentID: "agent-1", LoadBalancerID: f.lb, ActiveConnections: 3, TotalConnections: 10, ConnectErrors: 1, UpdatedAt: now},
			{MemberID: m1, AgentID: "agent-old", LoadBalancerID: f.lb, ActiveConnections: 5, TotalConnections: 7, ConnectErrors: 2, UpdatedAt: now},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		member string
		want   map[string]float64
	}{
		{m1, map[string]float64{"active_connections": 3, "total_connections": 17, "connect_errors": 3}},
		{m2, map[string]float64{"active_connections": 0, "total_connections": 0, "connect_errors": 0}},
	} {
		path := "/v2/lbaas/pools/" + f.pool + "/members/" + tt.member + "/stats"
		got := h.must(200, "GET", path, nil).obj("stats")
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("GET %s: %s = %v, want %v (all: %v)", path, k, got[k], v, got)
			}
		}
		if len(got) != len(tt.want) {
			t.Errorf("GET %s: keys %v", path, keys(got))
		}
	}
	h.must(404, "GET", "/v2/lbaas/pools/"+f.udpPool+"/members/"+m1+"/stats", nil)
	h.must(404, "GET", "/v2/lbaas/pools/"+f.pool+"/members/"+uuidB+"/stats", nil)
}

// placeOnAgent1 stores agents agent-1 and agent-old and places load balancer
// lbID on agent-1 alone.
func placeOnAgent1(ctx context.Context, tx store.Tx, lbID string, now time.Time) error {
	for _, a := range []string{"agent-1", "agent-old"} {
		if err := tx.Agents().Create(ctx, &lb.Agent{ID: a, Name: a, Status: lb.AgentUp, Times: lb.Times{CreatedAt: now}}); err != nil {
			return err
		}
	}
	return tx.Amphorae().Create(ctx, &lb.Amphora{ID: uuidB, LoadBalancerID: lbID, AgentID: "agent-1", Status: "READY", Times: lb.Times{CreatedAt: now}})
}
