package apiserver

import (
	"fmt"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

const kindPool = "pool"

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
	ls, err := tx.Listeners().Refs(q.ctx, "default_pool_id", ids)
	if err != nil {
		return nil, err
	}
	redirect, err := redirectListeners(q.ctx, tx, ids)
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
		for _, l := range redirect[id] {
			if !containsStr(r.listeners, l) {
				r.listeners = append(r.listeners, l)
			}
		}
		if h := hms[id]; len(h) > 0 {
			r.monitor = h[0]
		}
		out[id] = r
	}
	return out, nil
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Server) createPool(q *request) error {
	data, err := s.readBody(q)
	if err != nil {
		return err
	}
	o, _, err := s.schemas.poolPost.decode(data)
	if err != nil {
		return err
	}
	p := poolFromBody(o)
	p.ID = s.newID()
	lbID, _ := o.str("loadbalancer_id")
	listenerID, _ := o.str("listener_id")
	if lbID == "" && listenerID == "" {
		return lb.Invalid("Must provide at least one of: loadbalancer_id, listener_id")
	}
	var w *poolWire
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		var listener *lb.Listener
		if listenerID != "" {
			var err error
			if listener, err = getListener(q.ctx, tx, listenerID); err != nil {
				return err
			}
			if lbID != "" && listener.LoadBalancerID != lbID {
				return notFound(nameListener, listenerID)
			}
			lbID = listener.LoadBalancerID
		}
		parent, err := lockLB(q.ctx, tx, lbID)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.Pool, policy.Post, parent.ProjectID); err != nil {
			return err
		}
		if err := q.reserve(tx, parent.ProjectID, map[lb.QuotaResource]int{lb.QuotaPool: 1}); err != nil {
			return err
		}
		p.LoadBalancerID, p.ProjectID = parent.ID, parent.ProjectID
		if listener != nil {
			if listener.Protocol == lb.ProtocolPrometheus {
				return lb.ErrPrometheusChildren
			}
			if err := lb.CheckListenerPool(listener.Protocol, p.Protocol); err != nil {
				return err
			}
		}
		if err := lb.CheckSessionPersistence(p.Protocol, p.SessionPersistence, false); err != nil {
			return err
		}
		if hm, ok := o.obj("healthmonitor"); ok && hm != nil {
			return lb.Invalid("healthmonitor can only be specified when creating a fully populated load balancer.")
		}
		if ms, _ := o.objs("members"); len(ms) > 0 {
			return lb.Invalid("members can only be specified when creating a fully populated load balancer.")
		}
		if listener != nil && listener.DefaultPoolID != "" {
			return conflict("This listener already has a default pool")
		}
		p.ApplyTLSDefaults()
		if err := p.Validate(s.settings, false); err != nil {
			return err
		}
		if err := checkProtocol(parent.Provider, p.Protocol); err != nil {
			return err
		}
		if err := writable(kindLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		if err := s.checkPoolRefs(q, tx, p); err != nil {
			return err
		}
		if listener != nil {
			if err := writable(kindListener, listener.ID, listener.Status); err != nil {
				return err
			}
		}
		c := begin(q.ctx, tx, parent, s.now())
		if err := c.commitLB(); err != nil {
			return err
		}
		p.Status = lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline, Gen: c.gen}
		p.CreatedAt = c.now
		if err := tx.Pools().Create(q.ctx, p); err != nil {
			return fmt.Errorf("create pool %s: %w", p.ID, err)
		}
		refs := poolRefs{}
		if listener != nil {
			listener.DefaultPoolID = p.ID
			if err := c.lockListeners([]*lb.Listener{listener}); err != nil {
				return err
			}
			refs.listeners = []string{listener.ID}
		}
		w = toPoolWire(p, refs)
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(p.LoadBalancerID)
	writeJSON(q.w, http.StatusCreated, map[string]any{"pool": w})
	return nil
}

func (s *Server) showPool(q *request) error {
	id := q.params[0]
	var w *poolWire
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		p, err := getPool(q.ctx, tx, id)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.Pool, policy.GetOne, p.ProjectID); err != nil {
			return err
		}
		refs, err := poolRefsOf(q, tx, []string{id})
		if err != nil {
			return err
		}
		w = toPoolWire(p, refs[id])
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeOne(q, http.StatusOK, "pool", w)
}

func (s *Server) listPools(q *request) error {
	p, err := s.parseList(q.r.URL.Query(), s.schemas.poolColumns)
	if err != nil {
		return err
	}
	if err := p.scope(q, policy.Pool); err != nil {
		return err
	}
	var items []any
	var ids []string
	err = s.store.View(q.ctx, func(tx store.Tx) error {
		list, err := tx.Pools().List(q.ctx, p.query)
		if err != nil {
			return queryError(err)
		}
		for _, x := range list {
			ids = append(ids, x.ID)
		}
		refs, err := poolRefsOf(q, tx, ids)
		if err != nil {
			return err
		}
		for _, x := range list {
			items = append(items, toPoolWire(x, refs[x.ID]))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeList(q, p, "pools", items, ids)
}

func (s *Server) updatePool(q *request) error {
	id := q.params[0]
	data, err := s.readBody(q)
	if err != nil {
		return err
	}
	o, _, err := s.schemas.poolPut.decode(data)
	if err != nil {
		return err
	}
	var w *poolWire
	var lbID string
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		p, err := getPool(q.ctx, tx, id)
		if err != nil {
			return err
		}
		parent, err := lockLB(q.ctx, tx, p.LoadBalancerID)
		if err != nil {
			return err
		}
		lbID = parent.ID
		if err := q.authorize(policy.Pool, policy.Put, parent.ProjectID); err != nil {
			return err
		}
		if err := applyPoolUpdate(p, o); err != nil {
			return err
		}
		if err := lb.CheckSessionPersistence(p.Protocol, p.SessionPersistence, true); err != nil {
			return err
		}
		if err := p.Validate(s.settings, true); err != nil {
			return err
		}
		if err := s.checkPoolUpdateRefs(q, tx, p, o); err != nil {
			return err
		}
		if err := writable(kindPool, id, p.Status); err != nil {
			return err
		}
		if err := writable(kindLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		c := begin(q.ctx, tx, parent, s.now())
		if err := c.commitLB(); err != nil {
			return err
		}
		if err := c.lockPool(p); err != nil {
			return err
		}
		refs, err := poolRefsOf(q, tx, []string{id})
		if err != nil {
			return err
		}
		w = toPoolWire(p, refs[id])
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(lbID)
	writeJSON(q.w, http.StatusOK, map[string]any{"pool": w})
	return nil
}

func (s *Server) deletePool(q *request) error {
	id := q.params[0]
	var lbID string
	err := s.store.Update(q.ctx, func(tx store.Tx) error {
		p, err := getPool(q.ctx, tx, id)
		if err != nil {
			return err
		}
		parent, err := lockLB(q.ctx, tx, p.LoadBalancerID)
		if err != nil {
			return err
		}
		lbID = parent.ID
		if err := q.authorize(policy.Pool, policy.Delete, parent.ProjectID); err != nil {
			return err
		}
		pols, err := tx.L7Policies().List(q.ctx, store.Query{Filters: []store.Filter{store.F("redirect_pool_id", id)}})
		if err != nil {
			return err
		}
		for _, pol := range pols {
			// A policy being deleted goes first (the controller removes
			// policies before pools).
			if pol.Status.Provisioning != lb.PendingDelete {
				return conflict("Pool %s is in use by L7 policy %s", id, pol.ID)
			}
		}
		if err := writable(kindPool, id, p.Status); err != nil {
			return err
		}
		if err := writable(kindLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		c := begin(q.ctx, tx, parent, s.now())
		if err := c.commitLB(); err != nil {
			return err
		}
		// Listeners using the pool as default pool lose it now.
		ls, err := poolListeners(q.ctx, tx, id)
		if err != nil {
			return err
		}
		for _, l := range ls {
			if l.DefaultPoolID == id {
				l.DefaultPoolID = ""
			}
		}
		if err := c.lockListeners(ls); err != nil {
			return err
		}
		p.Status.Change(lb.PendingDelete, c.gen)
		p.Touch(c.now)
		if err := tx.Pools().Update(q.ctx, p); err != nil {
			return err
		}
		// Its members and health monitor go with it.
		byPool := store.Query{Filters: []store.Filter{store.F("pool_id", id)}}
		members, err := tx.Members().List(q.ctx, byPool)
		if err != nil {
			return err
		}
		for _, m := range members {
			m.Status.Change(lb.PendingDelete, c.gen)
			if err := tx.Members().Update(q.ctx, m); err != nil {
				return err
			}
		}
		hms, err := tx.HealthMonitors().List(q.ctx, byPool)
		if err != nil {
			return err
		}
		for _, h := range hms {
			h.Status.Change(lb.PendingDelete, c.gen)
			if err := tx.HealthMonitors().Update(q.ctx, h); err != nil {
				return err
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
