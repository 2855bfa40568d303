package provider

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/controller"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/snapshot"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// env is a real store with agents, a snapshot cache and the provider.
type env struct {
	t     *testing.T
	st    store.Store
	n     *Native
	cache *snapshot.Cache
	seq   int
}

func newEnv(t *testing.T) *env {
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cache := snapshot.New(time.Now, func([]string) {})
	return &env{t: t, st: st, cache: cache, n: NewNative(Options{Store: st, Cache: cache})}
}

// newSharedEnv is newEnv publishing through the store (snapshot.Shared),
// as servers sharing a database do.
func newSharedEnv(t *testing.T) *env {
	e := newEnv(t)
	st := e.st.(*sqlstore.Store)
	e.n = NewNative(Options{Store: st, Cache: snapshot.NewShared(snapshot.SharedOptions{Store: st, Broadcaster: st, ConfigChannel: "c", LoadBalancerChannel: "l"})})
	e.cache = nil
	return e
}

// published returns the load balancers published on agent agentID.
func (e *env) published(agentID string) []string {
	e.t.Helper()
	if e.cache != nil {
		return e.cache.Placed(agentID)
	}
	var out []string
	err := e.st.View(context.Background(), func(tx store.Tx) error {
		frags, err := tx.Publications().Fragments(context.Background(), agentID, 0)
		for _, f := range frags {
			if f.Config != nil {
				out = append(out, f.LoadBalancerID)
			}
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) id(prefix string) string {
	e.seq++
	return fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, e.seq)
}

func (e *env) update(fn func(tx store.Tx) error) {
	e.t.Helper()
	if err := e.st.Update(context.Background(), fn); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) agent(name, zone, group string) *lb.Agent {
	a := &lb.Agent{ID: e.id("a9e00000"), Name: name, Address: "127.0.0.1", AvailabilityZone: zone, Group: group,
		Status: lb.AgentUp, Times: lb.Times{CreatedAt: time.Now()}}
	e.update(func(tx store.Tx) error { return tx.Agents().Create(context.Background(), a) })
	return a
}

// catalog stores a flavor whose profile names group and a zone whose
// profile names agentZone.
func (e *env) catalog(flavorData, zoneData string) (flavorID, zone string) {
	ctx := context.Background()
	fp := &lb.FlavorProfile{ID: e.id("f1a00000"), Name: "fp", ProviderName: "fulcrum", FlavorData: flavorData}
	f := &lb.Flavor{ID: e.id("f1b00000"), Name: fmt.Sprintf("f%d", e.seq), Enabled: true, FlavorProfileID: fp.ID}
	zp := &lb.AvailabilityZoneProfile{ID: e.id("a2a00000"), Name: "zp", ProviderName: "fulcrum", AvailabilityZoneData: zoneData}
	z := &lb.AvailabilityZone{Name: fmt.Sprintf("az%d", e.seq), Enabled: true, AvailabilityZoneProfileID: zp.ID}
	e.update(func(tx store.Tx) error {
		return errors.Join(tx.FlavorProfiles().Create(ctx, fp), tx.Flavors().Create(ctx, f),
			tx.AvailabilityZoneProfiles().Create(ctx, zp), tx.AvailabilityZones().Create(ctx, z))
	})
	return f.ID, z.Name
}

func (e *env) loadBalancer(flavorID, zone string) *lb.LoadBalancer {
	l := &lb.LoadBalancer{ID: e.id("aaaaaaaa"), ProjectID: "p", AdminStateUp: true, Provider: "fulcrum", FlavorID: flavorID,
		AvailabilityZone: zone, VIP: lb.VIP{Address: "127.0.0.10"}, Generation: 1,
		Status: lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline, Gen: 1}, Times: lb.Times{CreatedAt: time.Now()}}
	e.update(func(tx store.Tx) error { return tx.LoadBalancers().Create(context.Background(), l) })
	return l
}

// placement applies l and returns the agent its amphora is on.
func (e *env) placement(l *lb.LoadBalancer) (*lb.Amphora, error) {
	if _, err := e.n.Apply(context.Background(), &lb.Graph{LoadBalancer: l}); err != nil {
		return nil, err
	}
	var amp *lb.Amphora
	err := e.st.View(context.Background(), func(tx store.Tx) error {
		amps, err := tx.Amphorae().List(context.Background(), store.Query{Filters: []store.Filter{store.F("loadbalancer_id", l.ID)}})
		if err == nil && len(amps) == 1 {
			amp = amps[0]
		}
		return err
	})
	return amp, err
}

func TestSchedulerHonoursAgentZoneAndGroup(t *testing.T) {
	e := newEnv(t)
	plain := e.agent("a-plain", "", "")
	zoned := e.agent("b-zoned", "rack1", "")
	edge := e.agent("c-edge", "rack1", "edge")
	flavorEdge, zoneRack1 := e.catalog(`{"agent_group": "edge"}`, `{"agent_zone": "rack1"}`)
	flavorNone, zoneCompute := e.catalog(`{"loadbalancer_topology": "SINGLE"}`, `{"compute_zone": "rack1"}`)
	tests := []struct {
		name       string
		flavor, az string
		want       *lb.Agent
		refused    string
	}{
		{"no constraint: least loaded, by name", "", "", plain, ""},
		{"agent_zone", "", zoneRack1, zoned, ""},
		{"compute_zone is agent_zone", flavorNone, zoneCompute, zoned, ""},
		{"agent_group", flavorEdge, "", edge, ""},
		{"zone and group", flavorEdge, zoneRack1, edge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each placement loads its agent, so spread the earlier ones.
			amp, err := e.placement(e.loadBalancer(tt.flavor, tt.az))
			if err != nil {
				t.Fatal(err)
			}
			if amp == nil || amp.AgentID != tt.want.ID || amp.ComputeID != tt.want.Name || amp.HAIP != "127.0.0.10" {
				t.Errorf("placed on %+v, want agent %s", amp, tt.want.Name)
			}
		})
		// Reset the load so that "least loaded" stays predictable.
		e.update(func(tx store.Tx) error {
			_, err := tx.Amphorae().DeleteWhere(context.Background(), store.F("status", lb.AmphoraAllocated))
			return err
		})
	}
	// No agent in the requested group: the provider refuses, naming it.
	flavorNowhere, _ := e.catalog(`{"agent_group": "nowhere"}`, `{}`)
	_, err := e.placement(e.loadBalancer(flavorNowhere, ""))
	var refused *controller.RefusedError
	if !errors.As(err, &refused) || refused.Reason != "no data-plane agent is up in agent group nowhere" {
		t.Errorf("placement without a matching agent: %v", err)
	}
}

func TestFailoverMovesToAnotherAgent(t *testing.T) {
	e := newEnv(t)
	a1 := e.agent("a1", "", "")
	a2 := e.agent("a2", "", "")
	l := e.loadBalancer("", "")
	amp, err := e.placement(l)
	if err != nil || amp.AgentID != a1.ID {
		t.Fatalf("first placement %+v %v, want a1", amp, err)
	}
	// The API marks the placement for failover.
	ctx := context.Background()
	mark := func() {
		e.update(func(tx store.Tx) error {
			a, err := tx.Amphorae().Get(ctx, amp.ID)
			if err != nil {
				return err
			}
			a.Status = lb.AmphoraPendingDelete
			return tx.Amphorae().Update(ctx, a)
		})
	}
	mark()
	moved, err := e.placement(l)
	if err != nil || moved.ID != amp.ID || moved.AgentID != a2.ID || moved.Status != lb.AmphoraAllocated {
		t.Fatalf("after failover %+v %v, want the same amphora on a2, ALLOCATED", moved, err)
	}
	// A stable placement stays where it is.
	again, _ := e.placement(l)
	if again.AgentID != a2.ID {
		t.Errorf("a reconcile moved the load balancer to %s", again.ComputeID)
	}
	// With a single agent, failover re-places it on that agent.
	e.update(func(tx store.Tx) error {
		a, _ := tx.Agents().Get(ctx, a1.ID)
		a.Status = lb.AgentDown
		return tx.Agents().Update(ctx, a)
	})
	amp = again
	mark()
	same, err := e.placement(l)
	if err != nil || same.AgentID != a2.ID || same.Status != lb.AmphoraAllocated {
		t.Errorf("failover with one agent: %+v %v", same, err)
	}
}

// TestInvalidFragmentIsRefusedNotPublished: a graph that compiles into a
// fragment the data-plane contract rejects (here a VIP address no engine
// can bind, as a row written around the API would hold) is this load
// balancer's refusal, naming the broken field, and its agent is never
// handed it.
func TestInvalidFragmentIsRefusedNotPublished(t *testing.T) {
	e := newEnv(t)
	ag := e.agent("a1", "", "")
	ctx := context.Background()
	good := e.loadBalancer("", "")
	bad := e.loadBalancer("", "")
	bad.VIP.Address = "127.0.0.300"
	graph := func(l *lb.LoadBalancer) *lb.Graph {
		return &lb.Graph{LoadBalancer: l, Listeners: []*lb.Listener{{ID: e.id("11111111"), LoadBalancerID: l.ID, AdminStateUp: true,
			Protocol: lb.ProtocolTCP, ProtocolPort: 80, ConnectionLimit: -1, TimeoutClientData: 50000,
			TimeoutMemberConnect: 5000, TimeoutMemberData: 50000}}}
	}
	if _, err := e.n.Apply(ctx, graph(good)); err != nil {
		t.Fatalf("valid graph: %v", err)
	}
	_, err := e.n.Apply(ctx, graph(bad))
	var refused *controller.RefusedError
	if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "listeners[0].addresses[0]") {
		t.Fatalf("invalid fragment: %v, want a refusal naming listeners[0].addresses[0]", err)
	}
	if got := e.cache.Placed(ag.ID); len(got) != 1 || got[0] != good.ID {
		t.Errorf("agent holds fragments of %v, want only %s", got, good.ID)
	}
	cfg, _ := e.cache.Watch(ctx, ag.ID, 0, 0)
	for _, l := range cfg.Listeners {
		if l.LoadBalancerID == bad.ID {
			t.Errorf("the agent's config carries the refused load balancer: %+v", l)
		}
	}
}

// TestInvalidFragmentTurnsTheLoadBalancerError runs the real controller on
// the provider: the stored load balancer whose fragment fails validation
// turns ERROR with the reason in last_error.
func TestInvalidFragmentTurnsTheLoadBalancerError(t *testing.T) {
	e := newEnv(t)
	e.agent("a1", "", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bad := e.loadBalancer("", "")
	e.update(func(tx store.Tx) error {
		l, err := tx.LoadBalancers().Get(ctx, bad.ID)
		if err != nil {
			return err
		}
		l.VIP.Address = "127.0.0.300"
		if err := tx.LoadBalancers().Update(ctx, l); err != nil {
			return err
		}
		return tx.Listeners().Create(ctx, &lb.Listener{ID: e.id("11111111"), ProjectID: "p", LoadBalancerID: bad.ID, AdminStateUp: true,
			Protocol: lb.ProtocolTCP, ProtocolPort: 80, ConnectionLimit: -1, TimeoutClientData: 50000,
			TimeoutMemberConnect: 5000, TimeoutMemberData: 50000,
			Status: lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline, Gen: 1}, Times: lb.Times{CreatedAt: time.Now()}})
	})
	ctrl := controller.New(controller.Options{Store: e.st, Providers: map[string]controller.Provider{"fulcrum": e.n}, Workers: 1})
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var got *lb.LoadBalancer
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := e.st.View(ctx, func(tx store.Tx) error {
			var err error
			got, err = tx.LoadBalancers().Get(ctx, bad.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Provisioning == lb.Error {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("load balancer still %s after 20s", got.Status.Provisioning)
		}
	}
	if !strings.Contains(got.LastError, "listeners[0].addresses[0]") {
		t.Errorf("last_error %q does not name the broken field", got.LastError)
	}
}

// An agent re-enrolled into another zone (a join token with another
// placement) stops serving the load balancers of its old zone: they move
// to an agent of that zone, and are withdrawn from it even when none is up.
func TestPlacementLeavesAnAgentMovedToAnotherZone(t *testing.T) {
	for name, newEnv := range map[string]func(*testing.T) *env{"memory": newEnv, "store": newSharedEnv} {
		t.Run(name, func(t *testing.T) { testPlacementLeavesAnAgentMovedToAnotherZone(t, newEnv(t)) })
	}
}

func testPlacementLeavesAnAgentMovedToAnotherZone(t *testing.T, e *env) {
	ctx := context.Background()
	moved := e.agent("a-moved", "rack1", "")
	_, zone := e.catalog(`{}`, `{"agent_zone": "rack1"}`)
	l := e.loadBalancer("", zone)
	if amp, err := e.placement(l); err != nil || amp.AgentID != moved.ID {
		t.Fatalf("first placement %+v %v, want a-moved", amp, err)
	}
	e.update(func(tx store.Tx) error {
		a, err := tx.Agents().Get(ctx, moved.ID)
		if err != nil {
			return err
		}
		a.AvailabilityZone = "rack2"
		return tx.Agents().Update(ctx, a)
	})
	var refused *controller.RefusedError
	if _, err := e.placement(l); !errors.As(err, &refused) {
		t.Fatalf("placement with no agent left in rack1: %v, want refused", err)
	}
	if placed := e.published(moved.ID); len(placed) != 0 {
		t.Errorf("the agent moved to rack2 still has %v published", placed)
	}
	fresh := e.agent("b-fresh", "rack1", "")
	if amp, err := e.placement(l); err != nil || amp.AgentID != fresh.ID {
		t.Fatalf("placement with b-fresh in rack1: %+v %v", amp, err)
	}
}
