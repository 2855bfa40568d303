package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

func (s *Server) createLoadBalancer(q *request) error {
	o, _, err := s.decodeBody(q, &s.schemas.lbPost)
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
	req, err := vipRequest(o, project)
	if err != nil {
		return err
	}
	if req.SGIDs != nil {
		if err := q.authorize(policy.LoadBalancer, policy.PostVIPSGIDs, project); err != nil {
			return err
		}
	}
	provider, asked, err := s.resolveCatalog(q, o)
	if err != nil {
		return err
	}
	l := &lb.LoadBalancer{ID: s.newID(), ProjectID: project, AdminStateUp: true, Provider: provider}
	if asked != provider {
		// An alias: the load balancer runs on its target and shows the
		// name the client sent (Terraform's provider is ForceNew).
		l.ProviderName = asked
	}
	l.Name, _ = o.str("name")
	l.Description, _ = o.str("description")
	if v, set := o.flag("admin_state_up"); set {
		l.AdminStateUp = v
	}
	l.Tags, _ = o.strings("tags")
	l.FlavorID, _ = o.str("flavor_id")
	l.AvailabilityZone, _ = o.str("availability_zone")
	g, err := s.buildGraph(l, o)
	if err != nil {
		return err
	}
	if err := s.writes.CreateLoadBalancer(q.ctx, change.LoadBalancerCreate{Graph: g, VIP: req}); err != nil {
		return err
	}
	q.log.Info("load balancer created", "loadbalancer_id", l.ID, "generation", l.Generation)
	listeners, pools := graphWire(g)
	writeObject(q.w, http.StatusCreated, "loadbalancer", toLoadBalancerWire(l, listeners, pools))
	return nil
}

// vipRequest reads the VIP attributes of a load balancer create body.
func vipRequest(o *object, project string) (lb.VIPRequest, error) {
	req := lb.VIPRequest{ProjectID: project}
	req.PortID, _ = o.str("vip_port_id")
	req.NetworkID, _ = o.str("vip_network_id")
	req.SubnetID, _ = o.str("vip_subnet_id")
	req.Address, _ = o.str("vip_address")
	req.QoSPolicyID, _ = o.str("vip_qos_policy_id")
	req.SGIDs, _ = o.strings("vip_sg_ids")
	if req.PortID == "" && req.NetworkID == "" && req.SubnetID == "" {
		return req, lb.Invalid("VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.")
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
			return req, lb.Invalid("Duplicate VIP subnet(s) specified. Only one IP can be bound per subnet.")
		}
		subnets[v.SubnetID] = true
		req.Additional = append(req.Additional, v)
	}
	return req, nil
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

// loadBalancerWireOf renders a load balancer with its children's ids.
func loadBalancerWireOf(q *request, tx store.Tx, l *lb.LoadBalancer) (*loadBalancerWire, error) {
	ls, ps, err := lbChildren(q, tx, []string{l.ID})
	if err != nil {
		return nil, err
	}
	return toLoadBalancerWire(l, idRefs(ls[l.ID]), idRefs(ps[l.ID])), nil
}

func (s *Server) showLoadBalancer(q *request) error {
	return shown[lb.LoadBalancer]{key: "loadbalancer", object: policy.LoadBalancer,
		load:   func(tx store.Tx) (*lb.LoadBalancer, error) { return getLB(q.ctx, tx, q.param("id")) },
		owner:  func(l *lb.LoadBalancer) string { return l.ProjectID },
		render: func(tx store.Tx, l *lb.LoadBalancer) (any, error) { return loadBalancerWireOf(q, tx, l) }}.serve(s, q)
}

func (s *Server) listLoadBalancers(q *request) error {
	p, err := s.scopedList(q, s.schemas.lbColumns, policy.LoadBalancer)
	if err != nil {
		return err
	}
	s.providerFilter(p)
	return page[lb.LoadBalancer]{plural: "loadbalancers", table: store.Tx.LoadBalancers, id: func(l *lb.LoadBalancer) string { return l.ID },
		render: func(tx store.Tx, list []*lb.LoadBalancer, ids []string) ([]any, error) {
			ls, ps, err := lbChildren(q, tx, ids)
			items := make([]any, len(list))
			for i, l := range list {
				items[i] = toLoadBalancerWire(l, idRefs(ls[l.ID]), idRefs(ps[l.ID]))
			}
			return items, err
		}}.serve(s, q, p)
}

func (s *Server) updateLoadBalancer(q *request) error {
	o, _, err := s.decodeBody(q, &s.schemas.lbPut)
	if err != nil {
		return err
	}
	allow := q.allow(policy.LoadBalancer, policy.Put)
	if o.has("vip_sg_ids") {
		put, sgs := allow, q.allow(policy.LoadBalancer, policy.PutVIPSGIDs)
		allow = func(owner string) error {
			if err := put(owner); err != nil {
				return err
			}
			return sgs(owner)
		}
	}
	l, err := s.writes.UpdateLoadBalancer(q.ctx, change.LoadBalancerUpdate{ID: q.param("id"), Sent: o.has,
		Allow: allow, Apply: func(l *lb.LoadBalancer) error {
			applyLoadBalancerUpdate(l, o)
			return nil
		}})
	if err != nil {
		return err
	}
	return s.writeRendered(q, http.StatusOK, "loadbalancer", func(tx store.Tx) (any, error) { return loadBalancerWireOf(q, tx, l) })
}

func applyLoadBalancerUpdate(l *lb.LoadBalancer, o *object) {
	if o.has("name") {
		l.Name, _ = o.str("name")
	}
	if o.has("description") {
		l.Description, _ = o.str("description")
	}
	if o.has("vip_qos_policy_id") {
		l.VIP.QoSPolicyID, _ = o.str("vip_qos_policy_id")
	}
	if v, set := o.flag("admin_state_up"); set {
		l.AdminStateUp = v
	}
	if o.has("vip_sg_ids") {
		l.VIP.SGIDs, _ = o.strings("vip_sg_ids")
	}
	if o.has("tags") {
		l.Tags, _ = o.strings("tags")
	}
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
	cascade := pyTrue(q.query.Get("cascade"))
	if err := s.writes.DeleteLoadBalancer(q.ctx, q.param("id"), cascade, q.allow(policy.LoadBalancer, policy.Delete)); err != nil {
		return err
	}
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}

func (s *Server) failoverLoadBalancer(q *request) error {
	if err := s.writes.FailoverLoadBalancer(q.ctx, q.param("id"), q.allow(policy.LoadBalancer, policy.PutFailover)); err != nil {
		return err
	}
	writeEmpty(q.w, http.StatusAccepted)
	return nil
}

func (s *Server) loadBalancerStats(q *request) error {
	id := q.param("id")
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
	httpapi.WriteJSON(q.w, http.StatusOK, toStatsWire(st))
	return nil
}
