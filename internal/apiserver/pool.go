package apiserver

import (
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

func spFromBody(o *object) *lb.SessionPersistence {
	sp := &lb.SessionPersistence{}
	sp.Type, _ = o.str("type")
	sp.CookieName = o.optStr("cookie_name")
	if sp.CookieName != nil && *sp.CookieName == "" {
		sp.CookieName = nil
	}
	sp.PersistenceTimeout = o.optInt("persistence_timeout")
	sp.PersistenceGranularity = o.optStr("persistence_granularity")
	return sp
}

func poolFromBody(o *object) *lb.Pool {
	p := &lb.Pool{AdminStateUp: true}
	p.Name, _ = o.str("name")
	p.Description, _ = o.str("description")
	if v, set := o.flag("admin_state_up"); set {
		p.AdminStateUp = v
	}
	p.Protocol, _ = o.str("protocol")
	p.LBAlgorithm, _ = o.str("lb_algorithm")
	if spo, ok := o.obj("session_persistence"); ok {
		p.SessionPersistence = spFromBody(spo)
	}
	p.Tags, _ = o.strings("tags")
	p.TLSContainerRef = o.ref("tls_container_ref")
	p.CATLSContainerRef = o.ref("ca_tls_container_ref")
	p.CRLContainerRef = o.ref("crl_container_ref")
	p.TLSEnabled, _ = o.flag("tls_enabled")
	p.TLSCiphers = o.optStr("tls_ciphers")
	p.TLSVersions, _ = o.strings("tls_versions")
	p.ALPNProtocols, _ = o.strings("alpn_protocols")
	return p
}

// applyPoolUpdate applies a PUT body to p.
func applyPoolUpdate(p *lb.Pool, o *object) error {
	if o.has("name") {
		p.Name, _ = o.str("name")
	}
	if o.has("description") {
		p.Description, _ = o.str("description")
	}
	if v, set := o.flag("admin_state_up"); set {
		p.AdminStateUp = v
	}
	if o.has("lb_algorithm") {
		v, ok := o.str("lb_algorithm")
		if !ok {
			return lb.InvalidOption("None", "lb_algorithm")
		}
		p.LBAlgorithm = v
	}
	if o.has("session_persistence") {
		spo, _ := o.obj("session_persistence")
		switch {
		case spo == nil || !anySet(spo):
			p.SessionPersistence = nil
		default:
			sp := spFromBody(spo)
			if sp.Type == "" && p.SessionPersistence != nil {
				sp.Type = p.SessionPersistence.Type
			}
			if sp.Type == "" {
				return lb.InvalidField("type", "None", msgMandatory)
			}
			p.SessionPersistence = sp
		}
	}
	if o.has("tags") {
		p.Tags, _ = o.strings("tags")
	}
	if o.has("tls_container_ref") {
		p.TLSContainerRef = o.ref("tls_container_ref")
	}
	if o.has("ca_tls_container_ref") {
		ca := o.ref("ca_tls_container_ref")
		crl := p.CRLContainerRef
		if o.has("crl_container_ref") {
			crl = o.ref("crl_container_ref")
		}
		if ca == nil && p.CATLSContainerRef != nil && crl != nil {
			return lb.Invalid("A CA reference cannot be removed when a certificate revocation list is present.")
		}
		p.CATLSContainerRef = ca
	}
	if o.has("crl_container_ref") {
		p.CRLContainerRef = o.ref("crl_container_ref")
	}
	if v, set := o.flag("tls_enabled"); set {
		p.TLSEnabled = v
	}
	if o.has("tls_ciphers") {
		p.TLSCiphers = o.optStr("tls_ciphers")
		if p.TLSCiphers == nil {
			c := lb.DefaultTLSCiphers
			p.TLSCiphers = &c
		}
	}
	if o.has("tls_versions") {
		if v, ok := o.strings("tls_versions"); ok {
			p.TLSVersions = v
		} else {
			p.TLSVersions = append([]string(nil), lb.DefaultTLSVersions...)
		}
	}
	if o.has("alpn_protocols") {
		p.ALPNProtocols, _ = o.strings("alpn_protocols")
	}
	return nil
}

// anySet reports whether any attribute of o was sent.
func anySet(o *object) bool {
	for _, v := range o.vals {
		if v.set {
			return true
		}
	}
	return false
}

// poolRefsOf returns the listeners, members and health monitor of pools.
func poolRefsOf(q *request, tx store.Tx, ids []string) (map[string]poolRefs, error) {
	out := make(map[string]poolRefs, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ls, err := change.PoolListenerIDs(q.ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	ms, err := tx.Members().Refs(q.ctx, "pool_id", ids)
	if err != nil {
		return nil, err
	}
	hms, err := tx.HealthMonitors().Refs(q.ctx, "pool_id", ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		r := poolRefs{listeners: ls[id], members: ms[id]}
		if h := hms[id]; len(h) > 0 {
			r.monitor = h[0]
		}
		out[id] = r
	}
	return out, nil
}

func (s *Server) createPool(q *request) error {
	o, _, err := s.decodeBody(q, &s.schemas.poolPost)
	if err != nil {
		return err
	}
	p := poolFromBody(o)
	p.LoadBalancerID, _ = o.str("loadbalancer_id")
	listenerID, _ := o.str("listener_id")
	monitor, _ := o.obj("healthmonitor")
	members, _ := o.objs("members")
	p, err = s.writes.CreatePool(q.ctx, change.PoolCreate{Pool: p, ListenerID: listenerID, Allow: q.allow(policy.Pool, policy.Post),
		WithHealthMonitor: monitor != nil, WithMembers: len(members) > 0})
	if err != nil {
		return err
	}
	refs := poolRefs{}
	if listenerID != "" {
		refs.listeners = []string{listenerID}
	}
	writeObject(q.w, http.StatusCreated, "pool", toPoolWire(p, refs))
	return nil
}

func (s *Server) showPool(q *request) error {
	return shown[lb.Pool]{key: "pool", object: policy.Pool,
		load:   func(tx store.Tx) (*lb.Pool, error) { return getPool(q.ctx, tx, q.param("id")) },
		owner:  func(p *lb.Pool) string { return p.ProjectID },
		render: func(tx store.Tx, p *lb.Pool) (any, error) { return poolWireOf(q, tx, p) }}.serve(s, q)
}

func (s *Server) listPools(q *request) error {
	p, err := s.scopedList(q, s.schemas.poolColumns, policy.Pool)
	if err != nil {
		return err
	}
	return page[lb.Pool]{plural: "pools", table: store.Tx.Pools, id: func(x *lb.Pool) string { return x.ID },
		render: func(tx store.Tx, list []*lb.Pool, ids []string) ([]any, error) {
			refs, err := poolRefsOf(q, tx, ids)
			items := make([]any, len(list))
			for i, x := range list {
				items[i] = toPoolWire(x, refs[x.ID])
			}
			return items, err
		}}.serve(s, q, p)
}

// poolWireOf renders a pool with its references.
func poolWireOf(q *request, tx store.Tx, p *lb.Pool) (*poolWire, error) {
	refs, err := poolRefsOf(q, tx, []string{p.ID})
	if err != nil {
		return nil, err
	}
	return toPoolWire(p, refs[p.ID]), nil
}

func (s *Server) updatePool(q *request) error {
	o, _, err := s.decodeBody(q, &s.schemas.poolPut)
	if err != nil {
		return err
	}
	p, err := s.writes.UpdatePool(q.ctx, change.PoolUpdate{ID: q.param("id"), Sent: o.has,
		Allow: q.allow(policy.Pool, policy.Put), Apply: func(p *lb.Pool) error { return applyPoolUpdate(p, o) }})
	if err != nil {
		return err
	}
	return s.writeRendered(q, http.StatusOK, "pool", func(tx store.Tx) (any, error) { return poolWireOf(q, tx, p) })
}

func (s *Server) deletePool(q *request) error {
	if err := s.writes.DeletePool(q.ctx, q.param("id"), q.allow(policy.Pool, policy.Delete)); err != nil {
		return err
	}
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}
