package healthmgr

import (
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
)

func graph() *lb.Graph {
	return &lb.Graph{
		LoadBalancer: &lb.LoadBalancer{ID: "lb", AdminStateUp: true, Status: lb.Status{Provisioning: lb.Active}},
		Listeners: []*lb.Listener{
			{ID: "l1", AdminStateUp: true, DefaultPoolID: "p1", ConnectionLimit: 10},
			{ID: "l2", AdminStateUp: true, DefaultPoolID: "p2"},
		},
		Pools: []*lb.Pool{{ID: "p1", AdminStateUp: true}, {ID: "p2", AdminStateUp: true}, {ID: "p3", AdminStateUp: true}},
		Members: []*lb.Member{
			{ID: "m1", PoolID: "p1", AdminStateUp: true}, {ID: "m2", PoolID: "p1", AdminStateUp: true},
			{ID: "m3", PoolID: "p2", AdminStateUp: true}, {ID: "m4", PoolID: "p2", AdminStateUp: false},
		},
		HealthMonitors: []*lb.HealthMonitor{{ID: "h1", PoolID: "p1"}},
	}
}

func TestRollup(t *testing.T) {
	up, down := dataplane.StatusUp, dataplane.StatusDown
	cases := []struct {
		name  string
		edit  func(*lb.Graph)
		obs   Observation
		check map[string]lb.OperatingStatus
	}{
		{"all healthy", nil,
			Observation{Members: map[string]dataplane.MemberStatus{"m1": up, "m2": up, "m3": dataplane.StatusNoCheck},
				Listeners: map[string]ListenerObs{"l1": {}, "l2": {}}},
			map[string]lb.OperatingStatus{"m1": lb.Online, "m3": lb.NoMonitor, "m4": lb.Offline, "p1": lb.Online, "p2": lb.Online,
				"p3": lb.Offline, "l1": lb.Online, "l2": lb.Online, "lb": lb.Online}},
		{"one member down degrades pool and LB", nil,
			Observation{Members: map[string]dataplane.MemberStatus{"m1": up, "m2": down, "m3": up}, Listeners: map[string]ListenerObs{"l1": {}, "l2": {}}},
			map[string]lb.OperatingStatus{"m2": lb.OpError, "p1": lb.Degraded, "lb": lb.Degraded}},
		{"all members down: pool ERROR wins", nil,
			Observation{Members: map[string]dataplane.MemberStatus{"m1": down, "m2": down, "m3": up}, Listeners: map[string]ListenerObs{"l1": {Full: true}, "l2": {}}},
			map[string]lb.OperatingStatus{"p1": lb.OpError, "l1": lb.Degraded, "lb": lb.OpError}},
		{"unreported: monitored member OFFLINE, listener ERROR on ACTIVE LB", nil,
			Observation{},
			map[string]lb.OperatingStatus{"m1": lb.Offline, "m3": lb.NoMonitor, "l1": lb.OpError, "p1": lb.OpError}},
		{"unreported listener of a pending LB is OFFLINE", func(g *lb.Graph) { g.LoadBalancer.Status.Provisioning = lb.PendingUpdate },
			Observation{}, map[string]lb.OperatingStatus{"l1": lb.Offline}},
		{"drain counts as healthy", nil,
			Observation{Members: map[string]dataplane.MemberStatus{"m1": dataplane.StatusDrain, "m2": dataplane.StatusMaint}, Listeners: map[string]ListenerObs{"l1": {}, "l2": {}}},
			map[string]lb.OperatingStatus{"m1": lb.Draining, "m2": lb.Offline, "p1": lb.Online}},
		{"admin down LB", func(g *lb.Graph) { g.LoadBalancer.AdminStateUp = false }, Observation{}, map[string]lb.OperatingStatus{"lb": lb.Offline}},
		{"disabled listener and its pool", func(g *lb.Graph) { g.Listeners[0].AdminStateUp = false }, Observation{},
			map[string]lb.OperatingStatus{"l1": lb.Offline, "p1": lb.Offline}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := graph()
			if tc.edit != nil {
				tc.edit(g)
			}
			got := Rollup(g, tc.obs)
			for id, want := range tc.check {
				if got[id] != want {
					t.Errorf("%s: got %s, want %s (all: %v)", id, got[id], want, got)
				}
			}
		})
	}
}
