package snapshot

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time { return f.t }

func frag(lbID string, port int) *dataplane.Config {
	return &dataplane.Config{Listeners: []dataplane.Listener{{ID: "l-" + lbID, LoadBalancerID: lbID, Protocol: "TCP",
		Addresses: []string{"127.0.0.5"}, ProtocolPort: port}}, Pools: []dataplane.Pool{}}
}

func TestPublishAckAndStates(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	var mu sync.Mutex
	var notified [][]string
	c := New(clk.now, func(ids []string) { mu.Lock(); notified = append(notified, ids); mu.Unlock() })

	v1 := c.Put("a1", "lb1", 1, frag("lb1", 80))
	if v1 != uint64(clk.t.UnixMicro()) {
		t.Fatalf("first version %d, want the clock's micros", v1)
	}
	if st, _ := c.State("a1", "lb1", 1); st != Pending {
		t.Fatalf("state after put: %v", st)
	}
	// Same instant: versions still increase.
	v2 := c.Put("a1", "lb2", 1, frag("lb2", 81))
	if v2 != v1+1 {
		t.Fatalf("second version %d, want %d", v2, v1+1)
	}
	// Identical content with a newer generation makes no new version.
	if v := c.Put("a1", "lb1", 2, frag("lb1", 80)); v != v2 {
		t.Fatalf("identical put moved the version to %d", v)
	}
	// Acknowledging v1 applies lb1 (gen 2 rides on identical content) but not lb2.
	c.Ack("a1", v1, nil)
	if st, _ := c.State("a1", "lb1", 2); st != Applied {
		t.Errorf("lb1 gen 2 after ack of v1: %v", st)
	}
	if st, _ := c.State("a1", "lb2", 1); st != Pending {
		t.Errorf("lb2 after ack of v1: %v", st)
	}
	if st, _ := c.State("a1", "lb1", 3); st != Absent {
		t.Errorf("a generation never published: %v", st)
	}
	// Refusal of lb2 at v2.
	c.Ack("a1", v2, []dataplane.Refusal{{LoadBalancerID: "lb2", Version: v2, Reason: "address in use"}})
	if st, reason := c.State("a1", "lb2", 1); st != Refused || reason != "address in use" {
		t.Errorf("lb2 after refusal: %v %q", st, reason)
	}
	// A fixed lb2 is published anew and applies.
	clk.t = clk.t.Add(time.Second)
	v3 := c.Put("a1", "lb2", 2, frag("lb2", 82))
	c.Ack("a1", v3, nil)
	if st, _ := c.State("a1", "lb2", 2); st != Applied {
		t.Errorf("lb2 after fix: %v", st)
	}
	// Delete: removed once a version without it is acknowledged.
	c.Delete("a1", "lb1")
	if c.Removed("a1", "lb1") {
		t.Error("removed before the agent acknowledged")
	}
	cur, _ := c.Version("a1")
	c.Ack("a1", cur, nil)
	if !c.Removed("a1", "lb1") || !c.Removed("nobody", "lb1") {
		t.Error("not removed after acknowledgement")
	}
	mu.Lock()
	defer mu.Unlock()
	want := [][]string{{"lb1"}, {"lb2"}, {"lb2"}, {"lb1"}}
	if !reflect.DeepEqual(notified, want) {
		t.Errorf("notifications %v, want %v", notified, want)
	}
}

func TestWatchBlocksUntilChangeAndAssemblesSortedConfig(t *testing.T) {
	c := New(nil, nil)
	ctx := context.Background()
	if _, changed := c.Watch(ctx, "a1", 0, 10*time.Millisecond); changed {
		t.Fatal("empty node reported a change")
	}
	got := make(chan *dataplane.Config, 1)
	go func() {
		cfg, _ := c.Watch(ctx, "a1", 0, 5*time.Second)
		got <- cfg
	}()
	c.Put("a1", "lb-b", 1, frag("lb-b", 81))
	cfg := <-got
	if cfg == nil || len(cfg.Listeners) != 1 || cfg.NodeID != "a1" {
		t.Fatalf("watch returned %+v", cfg)
	}
	c.Put("a1", "lb-a", 1, frag("lb-a", 80))
	cfg, changed := c.Watch(ctx, "a1", cfg.Version, time.Second)
	if !changed || len(cfg.Listeners) != 2 || cfg.Listeners[0].LoadBalancerID != "lb-a" {
		t.Fatalf("second watch: changed=%v cfg=%+v", changed, cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("assembled config invalid: %v", err)
	}
	// An agent ahead of the cache (server restarted with a slow clock) is moved past its version.
	cfg2, changed := c.Watch(ctx, "a1", cfg.Version+1000, time.Second)
	if !changed || cfg2.Version <= cfg.Version+1000 {
		t.Errorf("agent ahead: changed=%v version %d", changed, cfg2.Version)
	}
	// Context cancellation ends a watch.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, changed := c.Watch(cctx, "a1", cfg2.Version, time.Minute); changed {
		t.Error("cancelled watch reported a change")
	}
}

// TestOldContractAgentNeverGetsAFilter: an agent that announced data-plane
// contract 1 is never sent a load balancer whose listeners carry a
// security-group filter (it could not decode the field, and serving the
// load balancer without the filter would let everyone in): that one is
// Refused with the reason, the others flow, and the config says contract 1.
// Once the agent announces contract 2 the load balancer is sent and the
// config says 2.
func TestOldContractAgentNeverGetsAFilter(t *testing.T) {
	c := New(nil, nil)
	filtered := frag("lb1", 80)
	filtered.Listeners[0].Ingress = &dataplane.Ingress{Allow: []string{"127.0.0.2/32"}}
	c.Put("a1", "lb1", 1, filtered)
	c.Put("a1", "lb2", 1, frag("lb2", 81))

	// Before the agent has watched, nothing is known: pending.
	if st, _ := c.State("a1", "lb1", 1); st != Pending {
		t.Fatalf("before any watch: %v", st)
	}
	c.SetContract("a1", 1)
	cfg, changed := c.Watch(context.Background(), "a1", 0, 0)
	if !changed || cfg.Contract != 1 || len(cfg.Listeners) != 1 || cfg.Listeners[0].LoadBalancerID != "lb2" {
		t.Fatalf("contract-1 agent got %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config for a contract-1 agent: %v", err)
	}
	c.Ack("a1", cfg.Version, nil)
	if st, reason := c.State("a1", "lb1", 1); st != Refused || reason == "" {
		t.Errorf("filtered load balancer on a contract-1 agent: %v %q", st, reason)
	}
	if st, _ := c.State("a1", "lb2", 1); st != Applied {
		t.Errorf("the other load balancer: %v", st)
	}

	c.SetContract("a1", 2)
	cfg, changed = c.Watch(context.Background(), "a1", cfg.Version, 0)
	if !changed || cfg.Contract != 2 || len(cfg.Listeners) != 2 {
		t.Fatalf("contract-2 agent got %+v", cfg)
	}
	if st, _ := c.State("a1", "lb1", 1); st != Pending {
		t.Errorf("after the upgrade, before its ack: %v", st)
	}
	c.Ack("a1", cfg.Version, nil)
	if st, _ := c.State("a1", "lb1", 1); st != Applied {
		t.Errorf("after the upgrade: %v", st)
	}
}
