package apiserver

import (
	"net/http"
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// loadBalancerStatus serves the status tree: loadbalancer → listeners →
// pools (default pool, then L7 redirect pools) → health_monitor, members.
// Pools reachable from no listener are not shown.
func (s *Server) loadBalancerStatus(q *request) error {
	id := q.param("id")
	var tree statusLoadBalancerWire
	var neutronTree map[string]any
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		l, err := getLB(q.ctx, tx, id)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.LoadBalancer, policy.GetStatus, l.ProjectID); err != nil {
			return err
		}
		byLB := store.Query{Filters: []store.Filter{store.F("loadbalancer_id", id)}}
		listeners, err := tx.Listeners().List(q.ctx, byLB)
		if err != nil {
			return err
		}
		pools, err := tx.Pools().List(q.ctx, byLB)
		if err != nil {
			return err
		}
		members, err := tx.Members().List(q.ctx, byLB)
		if err != nil {
			return err
		}
		monitors, err := tx.HealthMonitors().List(q.ctx, byLB)
		if err != nil {
			return err
		}
		policies, err := tx.L7Policies().List(q.ctx, byLB)
		if err != nil {
			return err
		}
		rules, err := tx.L7Rules().Refs(q.ctx, "l7policy_id", policyIDs(policies))
		if err != nil {
			return err
		}
		tree = buildStatusTree(l, listeners, pools, members, monitors, policies, rules)
		if q.w.neutron {
			all, err := tx.L7Rules().List(q.ctx, byLB)
			if err != nil {
				return err
			}
			neutronTree = neutronStatusTree(tree, l, listeners, pools, members, monitors, policies, all)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if neutronTree != nil {
		httpapi.WriteJSON(q.w, http.StatusOK, neutronTree)
		return nil
	}
	httpapi.WriteJSON(q.w, http.StatusOK, statusBody{Statuses: statusesWire{LoadBalancer: tree}})
	return nil
}

func policyIDs(ps []*lb.L7Policy) []string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

func buildStatusTree(l *lb.LoadBalancer, listeners []*lb.Listener, pools []*lb.Pool, members []*lb.Member,
	monitors []*lb.HealthMonitor, policies []*lb.L7Policy, rules map[string][]string) statusLoadBalancerWire {
	poolByID := make(map[string]*lb.Pool, len(pools))
	for _, p := range pools {
		poolByID[p.ID] = p
	}
	membersOf := map[string][]statusMemberWire{}
	for _, m := range members {
		membersOf[m.PoolID] = append(membersOf[m.PoolID], statusMemberWire{ID: m.ID, Name: m.Name,
			OperatingStatus: m.Status.Operating, ProvisioningStatus: m.Status.Provisioning,
			Address: m.Address, ProtocolPort: m.ProtocolPort})
	}
	monitorOf := map[string]*statusMonitorWire{}
	for _, h := range monitors {
		monitorOf[h.PoolID] = &statusMonitorWire{ID: h.ID, Name: h.Name, Type: h.Type,
			ProvisioningStatus: h.Status.Provisioning, OperatingStatus: h.Status.Operating}
	}
	redirects := map[string][]string{} // listener id → redirect pool ids
	slices.SortStableFunc(policies, func(a, b *lb.L7Policy) int { return a.Position - b.Position })
	for _, p := range policies {
		if p.AdminStateUp && p.RedirectPoolID != "" && len(rules[p.ID]) > 0 {
			redirects[p.ListenerID] = append(redirects[p.ListenerID], p.RedirectPoolID)
		}
	}
	tree := statusLoadBalancerWire{ID: l.ID, Name: l.Name, OperatingStatus: l.Status.Operating,
		ProvisioningStatus: l.Status.Provisioning, Listeners: []statusListenerWire{}}
	for _, li := range listeners {
		lw := statusListenerWire{ID: li.ID, Name: li.Name, OperatingStatus: li.Status.Operating,
			ProvisioningStatus: li.Status.Provisioning, Pools: []statusPoolWire{}}
		var ids []string
		if li.DefaultPoolID != "" {
			ids = append(ids, li.DefaultPoolID)
		}
		for _, pid := range redirects[li.ID] {
			if !slices.Contains(ids, pid) {
				ids = append(ids, pid)
			}
		}
		for _, pid := range ids {
			p, ok := poolByID[pid]
			if !ok {
				continue
			}
			ms := membersOf[pid]
			if ms == nil {
				ms = []statusMemberWire{}
			}
			lw.Pools = append(lw.Pools, statusPoolWire{ID: p.ID, Name: p.Name,
				ProvisioningStatus: p.Status.Provisioning, OperatingStatus: p.Status.Operating,
				HealthMonitor: monitorOf[pid], Members: ms})
		}
		tree.Listeners = append(tree.Listeners, lw)
	}
	return tree
}
