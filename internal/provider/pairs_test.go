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

// vrrpAgent is an agent that reported the "vrrp" capability on segment physnet.
func (e *env) vrrpAgent(name, addr string) *lb.Agent {
	a := e.agent(name, "", "")
	a.Capabilities = []string{dataplane.CapabilityVRRP}
	a.Segments = []lb.AgentSegment{{Name: "physnet", Interface: "eth0", Address: addr + "/24"}}
	e.update(func(tx store.Tx) error { return tx.Agents().Update(context.Background(), a) })
	return a
}

func (e *env) amphorae(lbID string) map[string]*lb.Amphora {
	out := map[string]*lb.Amphora{}
	err := e.st.View(context.Background(), func(tx store.Tx) error {
		amps, err := tx.Amphorae().List(context.Background(), store.Query{Filters: []store.Filter{store.F("loadbalancer_id", lbID)}})
		for _, a := range amps {
			out[a.ComputeID] = a
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// pairLB is an ACTIVE_STANDBY load balancer with a VIP on the segment.
func (e *env) pairLB(flavor string) *lb.LoadBalancer {
	l := e.loadBalancer(flavor, "")
	l.VIP.Address = "198.18.0.100"
	e.update(func(tx store.Tx) error { return tx.LoadBalancers().Update(context.Background(), l) })
	return l
}

func TestActiveStandbyPlacement(t *testing.T) {
	e := newEnv(t)
	flavor, _ := e.catalog(`{"loadbalancer_topology": "ACTIVE_STANDBY"}`, `{}`)
	ctx := context.Background()

	// Fewer than two eligible agents: refused with the reason (ERROR), nothing placed. An
	// agent without VRRP, or off the VIP's segment, does not count.
	e.agent("plain", "", "")
	e.vrrpAgent("other-net", "198.19.0.2")
	a1 := e.vrrpAgent("a1", "198.18.0.2")
	l := e.pairLB(flavor)
	_, err := e.n.Apply(ctx, &lb.Graph{LoadBalancer: l})
	var refused *controller.RefusedError
	if !errorsAs(err, &refused) || !strings.Contains(refused.Reason, "ACTIVE_STANDBY needs two eligible agents") || !strings.Contains(refused.Reason, "1 is up") {
		t.Fatalf("one eligible agent: %v, want the two-agents refusal", err)
	}
	if n := len(e.amphorae(l.ID)); n != 0 {
		t.Fatalf("%d amphorae placed, want none", n)
	}

	// Two: one amphora on each, same VRID, priorities 100 and 90, Octavia's fields.
	a2 := e.vrrpAgent("a2", "198.18.0.3")
	if _, err := e.n.Apply(ctx, &lb.Graph{LoadBalancer: l}); err != nil {
		t.Fatal(err)
	}
	amps := e.amphorae(l.ID)
	m, b := amps["a1"], amps["a2"]
	if len(amps) != 2 || m == nil || b == nil {
		t.Fatalf("amphorae %v, want one on a1 and one on a2", amps)
	}
	if m.Role != lb.RoleMaster || *m.VRRPPriority != 100 || b.Role != lb.RoleBackup || *b.VRRPPriority != 90 ||
		*m.VRRPID != *b.VRRPID || m.VRRPIP != "198.18.0.2" || b.VRRPIP != "198.18.0.3" || m.VRRPInterface != "eth0" || m.HAIP != "198.18.0.100" {
		t.Errorf("master %+v backup %+v", m, b)
	}
	// Each agent got the listeners' fragment with its own VRRP group: itself as source, the
	// other as peer.
	for _, c := range []struct {
		agent     *lb.Agent
		src, peer string
		prio      int
	}{{a1, "198.18.0.2", "198.18.0.3", 100}, {a2, "198.18.0.3", "198.18.0.2", 90}} {
		cfg, _ := e.cache.Watch(ctx, c.agent.ID, 0, 0)
		if cfg == nil || len(cfg.VRRP) != 1 {
			t.Fatalf("%s: config %+v, want one VRRP group", c.agent.Name, cfg)
		}
		g := cfg.VRRP[0]
		if g.Name != dataplane.VRRPGroupName(l.ID) || g.SourceIP != c.src || g.Peer != c.peer || g.Priority != c.prio || g.Preempt ||
			g.Segment != "physnet" || len(g.VIPs[l.ID]) != 1 || g.VIPs[l.ID][0] != "198.18.0.100/32" {
			t.Errorf("%s: group %+v", c.agent.Name, g)
		}
	}

	// The agent of the MASTER goes down: a third agent gets a new BACKUP; the survivor keeps
	// its VRID with the new peer.
	a3 := e.vrrpAgent("a3", "198.18.0.4")
	e.update(func(tx store.Tx) error {
		a1.Status = lb.AgentDown
		return tx.Agents().Update(ctx, a1)
	})
	if _, err := e.n.Apply(ctx, &lb.Graph{LoadBalancer: l}); err != nil {
		t.Fatal(err)
	}
	amps = e.amphorae(l.ID)
	if len(amps) != 2 || amps["a2"] == nil || amps["a3"] == nil || *amps["a2"].VRRPID != *m.VRRPID || *amps["a3"].VRRPPriority != 90 {
		t.Fatalf("after a1 went down: %v, want a2 (same VRID) and a3 (BACKUP)", amps)
	}
	cfg, _ := e.cache.Watch(ctx, a2.ID, 0, 0)
	if cfg.VRRP[0].Peer != "198.18.0.4" {
		t.Errorf("survivor's peer %s, want a3's address", cfg.VRRP[0].Peer)
	}

	// Planned failover of the live MASTER (a2): the BACKUP is promoted first; nothing is
	// replaced until the agents report the VIP moved.
	e.update(func(tx store.Tx) error {
		x := e.amphorae(l.ID)
		x["a2"].Role, x["a2"].Status = lb.RoleMaster, lb.AmphoraPendingDelete
		x["a3"].Role, x["a3"].Status = lb.RoleBackup, lb.AmphoraReady
		return errorsJoin(tx.Amphorae().Update(ctx, x["a2"]), tx.Amphorae().Update(ctx, x["a3"]))
	})
	out, err := e.n.Apply(ctx, &lb.Graph{LoadBalancer: l})
	if err != nil || out.Done {
		t.Fatalf("handover: %+v %v, want not done", out, err)
	}
	amps = e.amphorae(l.ID)
	if amps["a2"] == nil || *amps["a3"].VRRPPriority != promotePriority {
		t.Fatalf("handover: %v, want a3 promoted and a2 still there", amps)
	}
	cfg, _ = e.cache.Watch(ctx, a3.ID, 0, 0)
	if !cfg.VRRP[0].Preempt || cfg.VRRP[0].Priority != promotePriority {
		t.Errorf("promoted group %+v", cfg.VRRP[0])
	}
	// The agents report the switch: a2 is replaced (a1 is down: no third agent → refused).
	e.update(func(tx store.Tx) error {
		x := e.amphorae(l.ID)
		x["a2"].Role, x["a3"].Role = lb.RoleBackup, lb.RoleMaster
		return errorsJoin(tx.Amphorae().Update(ctx, x["a2"]), tx.Amphorae().Update(ctx, x["a3"]))
	})
	_, err = e.n.Apply(ctx, &lb.Graph{LoadBalancer: l})
	if !errorsAs(err, &refused) || !strings.Contains(refused.Reason, "no third agent") {
		t.Fatalf("failover without a spare: %v, want refused", err)
	}
	e.update(func(tx store.Tx) error {
		a1.Status = lb.AgentUp
		return tx.Agents().Update(ctx, a1)
	})
	if _, err := e.n.Apply(ctx, &lb.Graph{LoadBalancer: l}); err != nil {
		t.Fatal(err)
	}
	amps = e.amphorae(l.ID)
	if len(amps) != 2 || amps["a3"] == nil || amps["a1"] == nil || *amps["a3"].VRRPPriority != 100 {
		t.Fatalf("after the handover: %v, want a3 (MASTER, priority 100) and a1", amps)
	}
}

func errorsAs(err error, target **controller.RefusedError) bool { return errors.As(err, target) }

func errorsJoin(errs ...error) error { return errors.Join(errs...) }

// TestActiveStandbyFlavorSettings: a flavor's vrrp_* keys give the pair its advert interval
// and priorities; another load balancer without them gets the defaults.
func TestActiveStandbyFlavorSettings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	fast, _ := e.catalog(`{"loadbalancer_topology": "ACTIVE_STANDBY", "vrrp_advert_int_ms": 50, "vrrp_priority_master": 150, "vrrp_priority_backup": 120}`, `{}`)
	plain, _ := e.catalog(`{"loadbalancer_topology": "ACTIVE_STANDBY"}`, `{}`)
	a1 := e.vrrpAgent("a1", "198.18.0.2")
	a2 := e.vrrpAgent("a2", "198.18.0.3")
	for _, c := range []struct {
		flavor, vip    string
		advert, mp, bp int
	}{{fast, "198.18.0.100", 50, 150, 120}, {plain, "198.18.0.101", 200, 100, 90}} {
		l := e.pairLB(c.flavor)
		l.VIP.Address = c.vip
		e.update(func(tx store.Tx) error { return tx.LoadBalancers().Update(ctx, l) })
		if _, err := e.n.Apply(ctx, &lb.Graph{LoadBalancer: l}); err != nil {
			t.Fatal(err)
		}
		prios := map[int]bool{}
		for _, ag := range []*lb.Agent{a1, a2} {
			cfg, _ := e.cache.Watch(ctx, ag.ID, 0, 0)
			var g *dataplane.VRRPGroup
			for i := range cfg.VRRP {
				if cfg.VRRP[i].Name == dataplane.VRRPGroupName(l.ID) {
					g = &cfg.VRRP[i]
				}
			}
			if g == nil || g.AdvertIntervalMS != c.advert {
				t.Fatalf("flavor %s on %s: group %+v, want advert interval %d ms", c.flavor, ag.Name, g, c.advert)
			}
			prios[g.Priority] = true
		}
		if !prios[c.mp] || !prios[c.bp] {
			t.Errorf("flavor %s: priorities %v, want %d and %d", c.flavor, prios, c.mp, c.bp)
		}
	}
}

// TestActiveStandbyAfterRestart: a server that has just started (a fresh snapshot cache,
// no heartbeat heard yet) places and keeps pairs from what the agents' records say about
// their segments, without waiting for them to report again.
func TestActiveStandbyAfterRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	flavor, _ := e.catalog(`{"loadbalancer_topology": "ACTIVE_STANDBY"}`, `{}`)
	e.vrrpAgent("a1", "198.18.0.2")
	e.vrrpAgent("a2", "198.18.0.3")
	l := e.pairLB(flavor)
	if _, err := e.n.Apply(ctx, &lb.Graph{LoadBalancer: l}); err != nil {
		t.Fatal(err)
	}
	before := e.amphorae(l.ID)
	// The restart: a new provider with a new cache over the same store.
	e.cache = snapshot.New(time.Now, func([]string) {})
	e.n = NewNative(Options{Store: e.st, Cache: e.cache})
	if _, err := e.n.Apply(ctx, &lb.Graph{LoadBalancer: l}); err != nil {
		t.Fatalf("reconcile right after a restart: %v, want the pair kept", err)
	}
	after := e.amphorae(l.ID)
	for name, a := range before {
		if after[name] == nil || after[name].ID != a.ID {
			t.Errorf("after the restart: amphorae %v, want the same as before %v", after, before)
		}
	}
	// A new pair too.
	l2 := e.pairLB(flavor)
	l2.VIP.Address = "198.18.0.101"
	e.update(func(tx store.Tx) error { return tx.LoadBalancers().Update(ctx, l2) })
	if _, err := e.n.Apply(ctx, &lb.Graph{LoadBalancer: l2}); err != nil {
		t.Fatalf("new pair right after a restart: %v", err)
	}
	if n := len(e.amphorae(l2.ID)); n != 2 {
		t.Errorf("new pair after a restart: %d amphorae, want 2", n)
	}
}
