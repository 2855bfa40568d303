package apiserver

import (
	"fmt"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

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

func (s *Server) createListener(q *request) error {
	o, _, err := s.decodeBody(q, &s.schemas.listenerPost)
	if err != nil {
		return err
	}
	l := listenerFromBody(o)
	l.LoadBalancerID, _ = o.str("loadbalancer_id")
	defaultPool, _ := o.obj("default_pool")
	policies, _ := o.objs("l7policies")
	l, err = s.writes.CreateListener(q.ctx, change.ListenerCreate{Listener: l, Allow: q.allow(policy.Listener, policy.Post),
		WithDefaultPool: defaultPool != nil, WithL7Policies: len(policies) > 0})
	if err != nil {
		return err
	}
	writeObject(q.w, http.StatusCreated, "listener", toListenerWire(l, nil))
	return nil
}

func (s *Server) showListener(q *request) error {
	return shown[lb.Listener]{key: "listener", object: policy.Listener,
		load:   func(tx store.Tx) (*lb.Listener, error) { return getListener(q.ctx, tx, q.param("id")) },
		owner:  func(l *lb.Listener) string { return l.ProjectID },
		render: func(tx store.Tx, l *lb.Listener) (any, error) { return listenerWireOf(q, tx, l) }}.serve(s, q)
}

func (s *Server) listListeners(q *request) error {
	p, err := s.scopedList(q, s.schemas.listenerColumns, policy.Listener)
	if err != nil {
		return err
	}
	return page[lb.Listener]{plural: "listeners", table: store.Tx.Listeners, id: func(l *lb.Listener) string { return l.ID },
		render: func(tx store.Tx, list []*lb.Listener, ids []string) ([]any, error) {
			pols, err := listenerPolicies(q.ctx, tx, ids)
			items := make([]any, len(list))
			for i, l := range list {
				items[i] = toListenerWire(l, pols[l.ID])
			}
			return items, err
		}}.serve(s, q, p)
}

// listenerWireOf renders a listener with its L7 policy ids.
func listenerWireOf(q *request, tx store.Tx, l *lb.Listener) (*listenerWire, error) {
	pols, err := listenerPolicies(q.ctx, tx, []string{l.ID})
	if err != nil {
		return nil, err
	}
	return toListenerWire(l, pols[l.ID]), nil
}

func (s *Server) updateListener(q *request) error {
	o, _, err := s.decodeBody(q, &s.schemas.listenerPut)
	if err != nil {
		return err
	}
	l, err := s.writes.UpdateListener(q.ctx, change.ListenerUpdate{ID: q.param("id"), Sent: o.has,
		Allow: q.allow(policy.Listener, policy.Put), Apply: func(l *lb.Listener) error {
			applyListenerUpdate(l, o)
			return nil
		}})
	if err != nil {
		return err
	}
	return s.writeRendered(q, http.StatusOK, "listener", func(tx store.Tx) (any, error) { return listenerWireOf(q, tx, l) })
}

func (s *Server) deleteListener(q *request) error {
	if err := s.writes.DeleteListener(q.ctx, q.param("id"), q.allow(policy.Listener, policy.Delete)); err != nil {
		return err
	}
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}

func (s *Server) listenerStats(q *request) error {
	id := q.param("id")
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
	httpapi.WriteJSON(q.w, http.StatusOK, toStatsWire(st))
	return nil
}
