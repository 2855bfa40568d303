package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

const kindLoadBalancer = "loadbalancer"

func (s *Server) createLoadBalancer(q *request) error {
	data, err := s.readBody(q)
	if err != nil {
		return err
	}
	o, _, err := s.schemas.lbPost.decode(data)
	if err != nil {
		return err
	}
	project, _ := o.str("project_id")
	if project == "" {
		project = q.caller.ProjectID
	}
	if project == "" {
		return lb.Invalid("Missing project ID in request where one is required. An administrator should check the keystone settings in the Octavia configuration.")
	}
	if err := q.authorize(policy.LoadBalancer, policy.Post, project); err != nil {
		return err
	}
	req := lb.VIPRequest{ProjectID: project}
	req.PortID, _ = o.str("vip_port_id")
	req.NetworkID, _ = o.str("vip_network_id")
	req.SubnetID, _ = o.str("vip_subnet_id")
	req.Address, _ = o.str("vip_address")
	req.QoSPolicyID, _ = o.str("vip_qos_policy_id")
	req.SGIDs, _ = o.strings("vip_sg_ids")
	if req.PortID == "" && req.NetworkID == "" && req.SubnetID == "" {
		return lb.Invalid("VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.")
	}
	extra, _ := o.objs("additional_vips")
	subnets := map[string]bool{}
	if req.SubnetID != "" {
		subnets[req.SubnetID] = true
	}
	for _, a := range extra {
		v := lb.AdditionalVIP{}
		v.SubnetID, _ = a.str("subnet_id")
		v.IPAddress, _ = a.str("ip_address")
		v.PortID, _ = a.str("port_id")
		if subnets[v.SubnetID] {
			return lb.Invalid("Duplicate VIP subnet(s) specified. Only one IP can be bound per subnet.")
		}
		subnets[v.SubnetID] = true
		req.Additional = append(req.Additional, v)
	}
	provider, err := s.resolveCatalog(q, o)
	if err != nil {
		return err
	}
	l := &lb.LoadBalancer{
		ID:           s.newID(),
		ProjectID:    project,
		AdminStateUp: true,
		Status:       lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline},
		Provider:     provider,
		Times:        lb.Times{CreatedAt: s.now()},
	}
	l.Name, _ = o.str("name")
	l.Description, _ = o.str("description")
	if v, set := o.flag("admin_state_up"); set {
		l.AdminStateUp = v
	}
	l.Tags, _ = o.strings("tags")
	l.FlavorID, _ = o.str("flavor_id")
	l.AvailabilityZone, _ = o.str("availability_zone")
	req.LoadBalancerID = l.ID
	// An allocator that can join the create transaction allocates there;
	// otherwise the VIP is allocated first and released if the create fails.
	txVIPs, inTx := s.vips.(TxVIPAllocator)
	var vip lb.VIP
	if !inTx {
		var additional []lb.AdditionalVIP
		vip, additional, err = s.vips.AllocateVIP(q.ctx, req)
		if err != nil {
			return fmt.Errorf("allocate vip of load balancer %s: %w", l.ID, err)
		}
		l.VIP, l.AdditionalVIPs = vip, additional
	}
	l.NextGeneration()
	var g *graph
	ls, _ := o.objs("listeners")
	ps, _ := o.objs("pools")
	if len(ls)+len(ps) > 0 {
		g, err = s.buildGraph(l, o, l.CreatedAt)
	}
	if err == nil {
		err = s.store.Update(q.ctx, func(tx store.Tx) error {
			if inTx {
				v, additional, err := txVIPs.AllocateVIPTx(q.ctx, tx, req)
				if err != nil {
					return fmt.Errorf("allocate vip of load balancer %s: %w", l.ID, err)
				}
				l.VIP, l.AdditionalVIPs = v, additional
			}
			if err := s.setVIPSecurityGroups(q, tx, l, policy.PostVIPSGIDs, req.SGIDs != nil); err != nil {
				return err
			}
			return storeLoadBalancer(q, tx, l, g)
		})
	}
	if err != nil {
		if !inTx {
			if rerr := s.vips.ReleaseVIP(q.ctx, l.ID, vip); rerr != nil {
				q.log.Error("release vip after failed create", "loadbalancer_id", l.ID, "err", rerr)
			}
		}
		if errors.Is(err, store.ErrConflict) {
			return conflict("Already an entity with that specified id.")
		}
		var ae *apiError
		var ve *lb.ValidationError
		var ce *lb.ConflictError
		var qe *lb.QuotaExceededError
		if errors.As(err, &ae) || errors.As(err, &ve) || errors.As(err, &ce) || errors.As(err, &qe) {
			return err
		}
		return fmt.Errorf("create load balancer %s: %w", l.ID, err)
	}
	s.notify(l.ID)
	q.log.Info("load balancer created", "loadbalancer_id", l.ID, "generation", l.Generation)
	listeners, pools := g.wire()
	writeJSON(q.w, http.StatusCreated, map[string]any{"loadbalancer": toLoadBalancerWire(l, listeners, pools)})
	return nil
}

// setVIPSecurityGroups checks the extra rule of a body naming vip_sg_ids
// and has them validated and applied (Options.SecurityGroups).
func (s *Server) setVIPSecurityGroups(q *request, tx store.Tx, l *lb.LoadBalancer, action policy.Action, named bool) error {
	if !named {
		return nil
	}
	if err := q.authorize(policy.LoadBalancer, action, l.ProjectID); err != nil {
		return err
	}
	if s.sgs == nil {
		return nil
	}
	return s.sgs.SetVIPSecurityGroups(q.ctx, tx, l)
}

// lbChildren returns the listener and pool ids of the given load balancers.
func lbChildren(q *request, tx store.Tx, ids []string) (map[string][]string, map[string][]string, error) {
	ls, err := tx.Listeners().Refs(q.ctx, "loadbalancer_id", ids)
	if err != nil {
		return nil, nil, err
	}
	ps, err := tx.Pools().Refs(q.ctx, "loadbalancer_id", ids)
	return ls, ps, err
}

func (s *Server) showLoadBalancer(q *request) error {
	id := q.params[0]
	var w *loadBalancerWire
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		l, err := getLB(q.ctx, tx, id)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.LoadBalancer, policy.GetOne, l.ProjectID); err != nil {
			return err
		}
		ls, ps, err := lbChildren(q, tx, []string{id})
		if err != nil {
			return err
		}
		w = toLoadBalancerWire(l, idRefs(ls[id]), idRefs(ps[id]))
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeOne(q, http.StatusOK, "loadbalancer", w)
}

func (s *Server) listLoadBalancers(q *request) error {
	p, err := s.parseList(q.r.URL.Query(), s.schemas.lbColumns)
	if err != nil {
		return err
	}
	if err := p.scope(q, policy.LoadBalancer); err != nil {
		return err
	}
	var items []any
	var ids []string
	err = s.store.View(q.ctx, func(tx store.Tx) error {
		list, err := tx.LoadBalancers().List(q.ctx, p.query)
		if err != nil {
			return queryError(err)
		}
		for _, l := range list {
			ids = append(ids, l.ID)
		}
		ls, ps, err := lbChildren(q, tx, ids)
		if err != nil {
			return err
		}
		items = make([]any, 0, len(list))
		for _, l := range list {
			items = append(items, toLoadBalancerWire(l, idRefs(ls[l.ID]), idRefs(ps[l.ID])))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeList(q, p, "loadbalancers", items, ids)
}

func (s *Server) updateLoadBalancer(q *request) error {
	id := q.params[0]
	data, err := s.readBody(q)
	if err != nil {
		return err
	}
	o, _, err := s.schemas.lbPut.decode(data)
	if err != nil {
		return err
	}
	var w *loadBalancerWire
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		l, err := lockLB(q.ctx, tx, id)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.LoadBalancer, policy.Put, l.ProjectID); err != nil {
			return err
		}
		if err := writable(kindLoadBalancer, id, l.Status); err != nil {
			return err
		}
		if o.has("name") {
			l.Name, _ = o.str("name")
		}
		if o.has("description") {
			l.Description, _ = o.str("description")
		}
		if o.has("vip_qos_policy_id") {
			l.VIP.QoSPolicyID, _ = o.str("vip_qos_policy_id")
			if u, ok := s.vips.(VIPQoSUpdater); ok {
				if err := u.UpdateQoS(q.ctx, tx, l); err != nil {
					return err
				}
			}
		}
		if v, set := o.flag("admin_state_up"); set {
			l.AdminStateUp = v
		}
		if o.has("vip_sg_ids") {
			l.VIP.SGIDs, _ = o.strings("vip_sg_ids")
			if err := s.setVIPSecurityGroups(q, tx, l, policy.PutVIPSGIDs, true); err != nil {
				return err
			}
		}
		if o.has("tags") {
			l.Tags, _ = o.strings("tags")
		}
		c := begin(q.ctx, tx, l, s.now())
		if err := c.commitLB(); err != nil {
			return err
		}
		ls, ps, err := lbChildren(q, tx, []string{id})
		if err != nil {
			return err
		}
		w = toLoadBalancerWire(l, idRefs(ls[id]), idRefs(ps[id]))
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(id)
	writeJSON(q.w, http.StatusOK, map[string]any{"loadbalancer": w})
	return nil
}

// pyTrue is oslo's strutils.bool_from_string for query parameters.
func pyTrue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "on", "y", "yes":
		return true
	}
	return false
}

func (s *Server) deleteLoadBalancer(q *request) error {
	id := q.params[0]
	cascade := pyTrue(q.r.URL.Query().Get("cascade"))
	err := s.store.Update(q.ctx, func(tx store.Tx) error {
		l, err := lockLB(q.ctx, tx, id)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.LoadBalancer, policy.Delete, l.ProjectID); err != nil {
			return err
		}
		if !cascade {
			nl, err := tx.Listeners().Count(q.ctx, store.F("loadbalancer_id", id))
			if err != nil {
				return err
			}
			np, err := tx.Pools().Count(q.ctx, store.F("loadbalancer_id", id))
			if err != nil {
				return err
			}
			if nl+np > 0 {
				return lb.Invalid("Cannot delete Load Balancer %s - it has children", id)
			}
		}
		if err := writable(kindLoadBalancer, id, l.Status); err != nil {
			return err
		}
		c := begin(q.ctx, tx, l, s.now())
		l.Status.Change(lb.PendingDelete, c.gen)
		return c.commitLB()
	})
	if err != nil {
		return err
	}
	s.notify(id)
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}

func (s *Server) failoverLoadBalancer(q *request) error {
	id := q.params[0]
	err := s.store.Update(q.ctx, func(tx store.Tx) error {
		l, err := lockLB(q.ctx, tx, id)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.LoadBalancer, policy.PutFailover, l.ProjectID); err != nil {
			return err
		}
		if err := writable(kindLoadBalancer, id, l.Status); err != nil {
			return err
		}
		c := begin(q.ctx, tx, l, s.now())
		// Every placement is replaced: the provider moves the load
		// balancer to other agents when there are any.
		amps, err := tx.Amphorae().List(q.ctx, store.Query{Filters: []store.Filter{store.F("loadbalancer_id", id)}})
		if err != nil {
			return err
		}
		for _, a := range amps {
			if err := markFailover(c, a); err != nil {
				return err
			}
		}
		return c.commitLB()
	})
	if err != nil {
		return err
	}
	s.notify(id)
	writeEmpty(q.w, http.StatusAccepted)
	return nil
}

func (s *Server) loadBalancerStats(q *request) error {
	id := q.params[0]
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		l, err := getLB(q.ctx, tx, id)
		if err != nil {
			return err
		}
		return q.authorize(policy.LoadBalancer, policy.GetStats, l.ProjectID)
	})
	if err != nil {
		return err
	}
	st, err := s.stats.LoadBalancerStats(q.ctx, id)
	if err != nil {
		return fmt.Errorf("stats of load balancer %s: %w", id, err)
	}
	writeJSON(q.w, http.StatusOK, toStatsWire(st))
	return nil
}

// loadBalancerStatus serves the status tree: loadbalancer → listeners →
// pools (default pool, then L7 redirect pools) → health_monitor, members.
// Pools reachable from no listener are not shown.
func (s *Server) loadBalancerStatus(q *request) error {
	id := q.params[0]
	var tree statusLoadBalancerWire
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
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"statuses": map[string]any{"loadbalancer": tree}})
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
