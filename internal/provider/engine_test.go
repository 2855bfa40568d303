package provider

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/controller"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/snapshot"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

func snapshotNew() *snapshot.Cache { return snapshot.New(time.Now, func([]string) {}) }

// heard records a heartbeat of agent a advertising caps in its record, as the health
// manager does.
func (e *env) heard(a *lb.Agent, caps ...string) {
	now := time.Now()
	a.Capabilities, a.LastHeartbeat = append([]string{}, caps...), &now
	e.update(func(tx store.Tx) error { return tx.Agents().Update(context.Background(), a) })
}

// TestSchedulerPlacesByEngine: load balancers of provider haproxy, and of provider fulcrum
// with a flavor saying engine: haproxy, go only to agents advertising the HAProxy engine;
// the others only to native agents; with no HAProxy agent up the refusal says so, and a
// load balancer stays off an agent that stopped running its engine.
func TestSchedulerPlacesByEngine(t *testing.T) {
	e := newEnv(t)
	native := e.agent("a-native", "", "")
	hap := e.agent("b-haproxy", "", "")
	e.heard(native)
	flavorHAP, _ := e.catalog(`{"engine": "haproxy"}`, `{}`)
	flavorNative, _ := e.catalog(`{"engine": "native"}`, `{}`)

	// No HAProxy agent has said so yet.
	byProvider := e.loadBalancer("", "")
	byProvider.Provider = lb.ProviderHAProxy
	_, err := e.placement(byProvider)
	var refused *controller.RefusedError
	if !errors.As(err, &refused) || refused.Reason != "no data-plane agent is up running the haproxy engine (fulcrum agent --engine haproxy)" {
		t.Fatalf("provider haproxy with no HAProxy agent: %v", err)
	}

	e.heard(hap, dataplane.CapabilityEngineHAProxy)
	for _, tt := range []struct {
		name     string
		provider string
		flavor   string
		want     *lb.Agent
	}{
		{"provider haproxy", lb.ProviderHAProxy, "", hap},
		{"fulcrum, flavor engine haproxy", lb.ProviderFulcrum, flavorHAP, hap},
		{"fulcrum, flavor engine native", lb.ProviderFulcrum, flavorNative, native},
		{"fulcrum, no flavor", lb.ProviderFulcrum, "", native},
		// Even when the HAProxy agent is the least loaded.
		{"fulcrum again", lb.ProviderFulcrum, "", native},
	} {
		l := e.loadBalancer(tt.flavor, "")
		l.Provider = tt.provider
		amp, err := e.placement(l)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if amp == nil || amp.AgentID != tt.want.ID {
			t.Errorf("%s: placed on %+v, want %s", tt.name, amp, tt.want.Name)
		}
	}

	// The load balancer refused while no HAProxy agent was up is placed now.
	if amp, err := e.placement(byProvider); err != nil || amp == nil || amp.AgentID != hap.ID {
		t.Fatalf("provider haproxy once the HAProxy agent is up: %+v, %v", amp, err)
	}

	// A server restart keeps what agents said (their records): a placed load balancer stays
	// on its agent, with a fresh provider and cache.
	fresh := NewNative(Options{Store: e.st, Cache: snapshotNew()})
	if _, err := fresh.Apply(context.Background(), &lb.Graph{LoadBalancer: byProvider}); err != nil {
		var r *controller.RefusedError
		if errors.As(err, &r) {
			t.Fatalf("after a server restart, the HAProxy load balancer was moved or refused: %v", err)
		}
	}

	// The HAProxy agent restarts as a native one: its HAProxy load balancer moves
	// nowhere (refused), rather than onto an engine that cannot run it.
	e.heard(hap)
	_, err = e.placement(byProvider)
	if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "running the haproxy engine") {
		t.Fatalf("after the HAProxy agent stopped advertising its engine: %v", err)
	}
}

// TestEngineRefusalBeforePublishing: what the HAProxy engine cannot carry (a UDP listener
// on a load balancer whose flavor says engine: haproxy) is refused by the provider with the
// field and the reason, and nothing is published to the agent.
func TestEngineRefusalBeforePublishing(t *testing.T) {
	e := newEnv(t)
	hap := e.agent("hap", "", "")
	e.heard(hap, dataplane.CapabilityEngineHAProxy)
	flavorHAP, _ := e.catalog(`{"engine": "haproxy"}`, `{}`)
	l := e.loadBalancer(flavorHAP, "")
	g := &lb.Graph{LoadBalancer: l, Listeners: []*lb.Listener{{ID: e.id("11111111"), LoadBalancerID: l.ID, AdminStateUp: true,
		Protocol: lb.ProtocolUDP, ProtocolPort: 53, ConnectionLimit: -1, TimeoutClientData: 50000,
		TimeoutMemberConnect: 5000, TimeoutMemberData: 50000}}}
	_, err := e.n.Apply(context.Background(), g)
	var refused *controller.RefusedError
	if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "the haproxy engine cannot run this load balancer: listeners[0].protocol: UDP is not supported by the haproxy engine") {
		t.Fatalf("UDP listener on engine haproxy: %v", err)
	}
	if got := e.cache.Placed(hap.ID); len(got) != 0 {
		t.Errorf("the refused load balancer was published: %v", got)
	}
	// The same graph on the native engine is published.
	e.update(func(tx store.Tx) error {
		l.FlavorID = ""
		return nil
	})
	if _, err := e.n.Apply(context.Background(), g); err == nil || !strings.Contains(err.Error(), "no data-plane agent is up") {
		t.Fatalf("native UDP with only a HAProxy agent: %v", err)
	}
}
