package apiserver

import (
	"fmt"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

const kindListener = "listener"

// ref returns a container reference attribute: nil when absent, null or
// empty (Octavia tests references for truthiness).
func (o *object) ref(name string) *string {
	if s, ok := o.str(name); ok && s != "" {
		return &s
	}
	return nil
}

// optStr returns a string attribute as a pointer, nil when absent or null.
func (o *object) optStr(name string) *string {
	if s, ok := o.str(name); ok {
		return &s
	}
	return nil
}

func (o *object) optInt(name string) *int {
	if n, ok := o.integer(name); ok {
		return &n
	}
	return nil
}

// listenerFromBody builds a new listener from a create body with Octavia's
// defaults.
func listenerFromBody(o *object) *lb.Listener {
	l := &lb.Listener{
		AdminStateUp:         true,
		ConnectionLimit:      lb.DefaultConnectionLimit,
		TimeoutClientData:    lb.DefaultTimeoutClient,
		TimeoutMemberConnect: lb.DefaultTimeoutConnect,
		TimeoutMemberData:    lb.DefaultTimeoutMember,
		TimeoutTCPInspect:    lb.DefaultTimeoutInspect,
		ClientAuthentication: lb.ClientAuthNone,
	}
	l.Name, _ = o.str("name")
	l.Description, _ = o.str("description")
	if v, set := o.flag("admin_state_up"); set {
		l.AdminStateUp = v
	}
	l.Protocol, _ = o.str("protocol")
	l.ProtocolPort, _ = o.integer("protocol_port")
	if n, ok := o.integer("connection_limit"); ok {
		l.ConnectionLimit = n
	}
	l.DefaultTLSContainerRef = o.ref("default_tls_container_ref")
	l.SNIContainerRefs, _ = o.strings("sni_container_refs")
	l.DefaultPoolID, _ = o.str("default_pool_id")
	l.InsertHeaders, _ = o.dict("insert_headers")
	for name, dst := range map[string]*int{"timeout_client_data": &l.TimeoutClientData,
		"timeout_member_connect": &l.TimeoutMemberConnect, "timeout_member_data": &l.TimeoutMemberData,
		"timeout_tcp_inspect": &l.TimeoutTCPInspect} {
		if n, ok := o.integer(name); ok {
			*dst = n
		}
	}
	l.Tags, _ = o.strings("tags")
	l.ClientCATLSContainerRef = o.ref("client_ca_tls_container_ref")
	if v, ok := o.str("client_authentication"); ok {
		l.ClientAuthentication = v
	}
	l.ClientCRLContainerRef = o.ref("client_crl_container_ref")
	if cidrs, ok := o.strings("allowed_cidrs"); ok {
		l.AllowedCIDRs, _, _ = lb.NormalizeCIDRs(cidrs)
	}
	l.TLSCiphers = o.optStr("tls_ciphers")
	l.TLSVersions, _ = o.strings("tls_versions")
	l.ALPNProtocols, _ = o.strings("alpn_protocols")
	l.HSTSMaxAge = o.optInt("hsts_max_age")
	l.HSTSIncludeSubdomains, _ = o.flag("hsts_include_subdomains")
	l.HSTSPreload, _ = o.flag("hsts_preload")
	return l
}

// applyListenerUpdate applies a PUT body to l, resetting fields sent as null
// to their defaults (Octavia's _set_default_on_none).
func applyListenerUpdate(l *lb.Listener, o *object) {
	if o.has("name") {
		l.Name, _ = o.str("name")
	}
	if o.has("description") {
		l.Description, _ = o.str("description")
	}
	if v, set := o.flag("admin_state_up"); set {
		l.AdminStateUp = v
	}
	setInt := func(name string, dst *int, def int) {
		if !o.has(name) {
			return
		}
		if n, ok := o.integer(name); ok {
			*dst = n
		} else {
			*dst = def
		}
	}
	setInt("connection_limit", &l.ConnectionLimit, lb.DefaultConnectionLimit)
	setInt("timeout_client_data", &l.TimeoutClientData, lb.DefaultTimeoutClient)
	setInt("timeout_member_connect", &l.TimeoutMemberConnect, lb.DefaultTimeoutConnect)
	setInt("timeout_member_data", &l.TimeoutMemberData, lb.DefaultTimeoutMember)
	setInt("timeout_tcp_inspect", &l.TimeoutTCPInspect, lb.DefaultTimeoutInspect)
	if o.has("default_tls_container_ref") {
		l.DefaultTLSContainerRef = o.ref("default_tls_container_ref")
	}
	if o.has("sni_container_refs") {
		l.SNIContainerRefs, _ = o.strings("sni_container_refs")
	}
	if o.has("default_pool_id") {
		l.DefaultPoolID, _ = o.str("default_pool_id")
	}
	if o.has("insert_headers") {
		l.InsertHeaders, _ = o.dict("insert_headers")
	}
	if o.has("tags") {
		l.Tags, _ = o.strings("tags")
	}
	if o.has("client_ca_tls_container_ref") {
		l.ClientCATLSContainerRef = o.ref("client_ca_tls_container_ref")
	}
	if o.has("client_authentication") {
		l.ClientAuthentication = lb.ClientAuthNone
		if v, ok := o.str("client_authentication"); ok {
			l.ClientAuthentication = v
		}
	}
	if o.has("client_crl_container_ref") {
		l.ClientCRLContainerRef = o.ref("client_crl_container_ref")
	}
	if o.has("allowed_cidrs") {
		cidrs, _ := o.strings("allowed_cidrs")
		l.AllowedCIDRs, _, _ = lb.NormalizeCIDRs(cidrs)
	}
	if o.has("tls_ciphers") {
		l.TLSCiphers = o.optStr("tls_ciphers")
		if l.TLSCiphers == nil {
			c := lb.DefaultTLSCiphers
			l.TLSCiphers = &c
		}
	}
	if o.has("tls_versions") {
		if v, ok := o.strings("tls_versions"); ok {
			l.TLSVersions = v
		} else {
			l.TLSVersions = append([]string(nil), lb.DefaultTLSVersions...)
		}
	}
	if o.has("alpn_protocols") {
		if v, ok := o.strings("alpn_protocols"); ok {
			l.ALPNProtocols = v
		} else {
			l.ALPNProtocols = append([]string(nil), lb.DefaultALPNProtocols...)
		}
	}
	if o.has("hsts_max_age") {
		l.HSTSMaxAge = o.optInt("hsts_max_age")
	}
	if o.has("hsts_include_subdomains") {
		l.HSTSIncludeSubdomains, _ = o.flag("hsts_include_subdomains")
	}
	if o.has("hsts_preload") {
		l.HSTSPreload, _ = o.flag("hsts_preload")
	}
}

func vipAddresses(l *lb.LoadBalancer) []string {
	out := []string{l.VIP.Address}
	for _, a := range l.AdditionalVIPs {
		out = append(out, a.IPAddress)
	}
	return out
}

// checkListener runs the listener rules that depend on its load balancer.
func (s *Server) checkListener(l *lb.Listener, parent *lb.LoadBalancer, update bool) error {
	if len(l.AllowedCIDRs) > 0 && len(parent.VIP.SGIDs) > 0 {
		return lb.Invalid("Allowed CIDRs are not allowed when using custom VIP Security Groups.")
	}
	if err := checkProtocol(parent.Provider, l.Protocol); err != nil {
		return err
	}
	return l.Validate(s.settings, vipAddresses(parent), update)
}

// checkDefaultPool validates a listener's default pool: same load balancer
// (else 404), not being deleted, compatible protocol.
func checkDefaultPool(q *request, tx store.Tx, l *lb.Listener) error {
	if l.DefaultPoolID == "" {
		return nil
	}
	if l.Protocol == lb.ProtocolPrometheus {
		return lb.ErrPrometheusChildren
	}
	p, err := getPool(q.ctx, tx, l.DefaultPoolID)
	if err != nil {
		return err
	}
	if p.LoadBalancerID != l.LoadBalancerID {
		return notFound(namePool, l.DefaultPoolID)
	}
	if err := lb.CheckListenerPool(l.Protocol, p.Protocol); err != nil {
		return err
	}
	return writable("pool", p.ID, p.Status)
}

func (s *Server) createListener(q *request) error {
	data, err := s.readBody(q)
	if err != nil {
		return err
	}
	o, _, err := s.schemas.listenerPost.decode(data)
	if err != nil {
		return err
	}
	l := listenerFromBody(o)
	l.ID = s.newID()
	l.LoadBalancerID, _ = o.str("loadbalancer_id")
	var w *listenerWire
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		parent, err := lockLB(q.ctx, tx, l.LoadBalancerID)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.Listener, policy.Post, parent.ProjectID); err != nil {
			return err
		}
		if err := q.reserve(tx, parent.ProjectID, map[lb.QuotaResource]int{lb.QuotaListener: 1}); err != nil {
			return err
		}
		l.ProjectID = parent.ProjectID
		if p, ok := o.obj("default_pool"); ok && p != nil {
			return lb.Invalid("default_pool can only be specified when creating a fully populated load balancer.")
		}
		if ps, _ := o.objs("l7policies"); len(ps) > 0 {
			return lb.Invalid("l7policies can only be specified when creating a fully populated load balancer.")
		}
		if err := checkDefaultPool(q, tx, l); err != nil {
			return err
		}
		l.ApplyTLSDefaults()
		if err := s.checkListener(l, parent, false); err != nil {
			return err
		}
		if err := writable(kindLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		if err := checkListenerPort(q, tx, l); err != nil {
			return err
		}
		if err := s.checkListenerRefs(q, tx, l); err != nil {
			return err
		}
		c := begin(q.ctx, tx, parent, s.now())
		l.Status = lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline, Gen: c.gen}
		l.CreatedAt = c.now
		if err := c.commitLB(); err != nil {
			return err
		}
		if err := tx.Listeners().Create(q.ctx, l); err != nil {
			return fmt.Errorf("create listener %s: %w", l.ID, err)
		}
		w = toListenerWire(l, nil)
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(l.LoadBalancerID)
	writeJSON(q.w, http.StatusCreated, map[string]any{"listener": w})
	return nil
}

// checkListenerPort refuses a second listener on the same port within the
// same transport group (§6.2).
func checkListenerPort(q *request, tx store.Tx, l *lb.Listener) error {
	others, err := tx.Listeners().List(q.ctx, store.Query{Filters: []store.Filter{
		store.F("loadbalancer_id", l.LoadBalancerID), store.F("protocol_port", itoa(l.ProtocolPort))}})
	if err != nil {
		return err
	}
	for _, x := range others {
		if x.ID != l.ID && lb.PortGroup(x.Protocol) == lb.PortGroup(l.Protocol) {
			return conflict("Another Listener on this Load Balancer is already using protocol %s and protocol_port %d", x.Protocol, l.ProtocolPort)
		}
	}
	return nil
}

func (s *Server) showListener(q *request) error {
	id := q.params[0]
	var w *listenerWire
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		l, err := getListener(q.ctx, tx, id)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.Listener, policy.GetOne, l.ProjectID); err != nil {
			return err
		}
		pols, err := listenerPolicies(q.ctx, tx, []string{id})
		if err != nil {
			return err
		}
		w = toListenerWire(l, pols[id])
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeOne(q, http.StatusOK, "listener", w)
}

func (s *Server) listListeners(q *request) error {
	p, err := s.parseList(q.r.URL.Query(), s.schemas.listenerColumns)
	if err != nil {
		return err
	}
	if err := p.scope(q, policy.Listener); err != nil {
		return err
	}
	var items []any
	var ids []string
	err = s.store.View(q.ctx, func(tx store.Tx) error {
		list, err := tx.Listeners().List(q.ctx, p.query)
		if err != nil {
			return queryError(err)
		}
		for _, l := range list {
			ids = append(ids, l.ID)
		}
		pols, err := listenerPolicies(q.ctx, tx, ids)
		if err != nil {
			return err
		}
		for _, l := range list {
			items = append(items, toListenerWire(l, pols[l.ID]))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeList(q, p, "listeners", items, ids)
}

func (s *Server) updateListener(q *request) error {
	id := q.params[0]
	data, err := s.readBody(q)
	if err != nil {
		return err
	}
	o, _, err := s.schemas.listenerPut.decode(data)
	if err != nil {
		return err
	}
	var w *listenerWire
	var lbID string
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		l, err := getListener(q.ctx, tx, id)
		if err != nil {
			return err
		}
		parent, err := lockLB(q.ctx, tx, l.LoadBalancerID)
		if err != nil {
			return err
		}
		lbID = parent.ID
		if err := q.authorize(policy.Listener, policy.Put, parent.ProjectID); err != nil {
			return err
		}
		applyListenerUpdate(l, o)
		if err := s.checkListener(l, parent, true); err != nil {
			return err
		}
		if err := s.checkListenerUpdateRefs(q, tx, l, o); err != nil {
			return err
		}
		if o.has("default_pool_id") {
			if err := checkDefaultPool(q, tx, l); err != nil {
				return err
			}
		}
		if err := writable(kindListener, id, l.Status); err != nil {
			return err
		}
		if err := writable(kindLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		c := begin(q.ctx, tx, parent, s.now())
		if err := c.commitLB(); err != nil {
			return err
		}
		if err := c.lockListeners([]*lb.Listener{l}); err != nil {
			return err
		}
		pols, err := listenerPolicies(q.ctx, tx, []string{id})
		if err != nil {
			return err
		}
		w = toListenerWire(l, pols[id])
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(lbID)
	writeJSON(q.w, http.StatusOK, map[string]any{"listener": w})
	return nil
}

func (s *Server) deleteListener(q *request) error {
	id := q.params[0]
	var lbID string
	err := s.store.Update(q.ctx, func(tx store.Tx) error {
		l, err := getListener(q.ctx, tx, id)
		if err != nil {
			return err
		}
		parent, err := lockLB(q.ctx, tx, l.LoadBalancerID)
		if err != nil {
			return err
		}
		lbID = parent.ID
		if err := q.authorize(policy.Listener, policy.Delete, parent.ProjectID); err != nil {
			return err
		}
		if err := writable(kindListener, id, l.Status); err != nil {
			return err
		}
		if err := writable(kindLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		c := begin(q.ctx, tx, parent, s.now())
		if err := c.commitLB(); err != nil {
			return err
		}
		l.Status.Change(lb.PendingDelete, c.gen)
		l.Touch(c.now)
		if err := tx.Listeners().Update(q.ctx, l); err != nil {
			return err
		}
		// The listener's L7 policies and their rules go with it.
		pols, err := tx.L7Policies().List(q.ctx, store.Query{Filters: []store.Filter{store.F("listener_id", id)}})
		if err != nil {
			return err
		}
		for _, p := range pols {
			p.Status.Change(lb.PendingDelete, c.gen)
			if err := tx.L7Policies().Update(q.ctx, p); err != nil {
				return err
			}
		}
		if len(pols) > 0 {
			rules, err := tx.L7Rules().List(q.ctx, store.Query{Filters: []store.Filter{store.In("l7policy_id", policyIDs(pols)...)}})
			if err != nil {
				return err
			}
			for _, r := range rules {
				r.Status.Change(lb.PendingDelete, c.gen)
				if err := tx.L7Rules().Update(q.ctx, r); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(lbID)
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}

func (s *Server) listenerStats(q *request) error {
	id := q.params[0]
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		l, err := getListener(q.ctx, tx, id)
		if err != nil {
			return err
		}
		return q.authorize(policy.Listener, policy.GetStats, l.ProjectID)
	})
	if err != nil {
		return err
	}
	st, err := s.stats.ListenerStats(q.ctx, id)
	if err != nil {
		return fmt.Errorf("stats of listener %s: %w", id, err)
	}
	writeJSON(q.w, http.StatusOK, toStatsWire(st))
	return nil
}
