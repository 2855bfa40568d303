package apiserver

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

const kindHealthMonitor = "healthmonitor"

// httpOnlyFields returns the health monitor attributes of HTTP and HTTPS
// types.
func httpOnlyFields() [3]string { return [...]string{"http_method", "url_path", "expected_codes"} }

func healthMonitorFromBody(o *object) *lb.HealthMonitor {
	h := &lb.HealthMonitor{AdminStateUp: true, MaxRetriesDown: lb.DefaultRetriesDown}
	h.Name, _ = o.str("name")
	h.Type, _ = o.str("type")
	h.Delay, _ = o.integer("delay")
	h.Timeout, _ = o.integer("timeout")
	h.MaxRetries, _ = o.integer("max_retries")
	if n, ok := o.integer("max_retries_down"); ok {
		h.MaxRetriesDown = n
	}
	// Octavia tests these for truthiness: "" counts as absent.
	for name, dst := range map[string]**string{"http_method": &h.HTTPMethod, "url_path": &h.URLPath, "expected_codes": &h.ExpectedCodes} {
		if v, ok := o.str(name); ok && v != "" {
			*dst = &v
		}
	}
	if v, set := o.flag("admin_state_up"); set {
		h.AdminStateUp = v
	}
	h.Tags, _ = o.strings("tags")
	if f, ok := o.float("http_version"); ok {
		h.HTTPVersion = &f
	}
	h.DomainName = o.optStr("domain_name")
	return h
}

// checkMonitor validates a health monitor against its pool (§5.5, §6.3).
func (s *Server) checkMonitor(h *lb.HealthMonitor, poolProtocol string) error {
	if h.DomainName != nil && *h.DomainName == "" {
		h.DomainName = nil
	}
	return h.Validate(s.settings, poolProtocol)
}

func (s *Server) createHealthMonitor(q *request) error {
	data, err := s.readBody(q)
	if err != nil {
		return err
	}
	o, _, err := s.schemas.hmPost.decode(data)
	if err != nil {
		return err
	}
	h := healthMonitorFromBody(o)
	h.ID = s.newID()
	h.PoolID, _ = o.str("pool_id")
	var w *healthMonitorWire
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		p, err := getPool(q.ctx, tx, h.PoolID)
		if err != nil {
			return err
		}
		parent, err := lockLB(q.ctx, tx, p.LoadBalancerID)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.HealthMonitor, policy.Post, parent.ProjectID); err != nil {
			return err
		}
		if err := q.reserve(tx, parent.ProjectID, map[lb.QuotaResource]int{lb.QuotaHealthMonitor: 1}); err != nil {
			return err
		}
		if !lb.IsHTTPMonitor(h.Type) {
			for _, f := range httpOnlyFields() {
				if v, ok := o.str(f); ok && v != "" {
					return lb.InvalidOption(f, "health monitors of type "+h.Type)
				}
			}
		}
		h.ApplyTypeDefaults()
		if err := s.checkMonitor(h, p.Protocol); err != nil {
			return err
		}
		if err := writable(kindPool, p.ID, p.Status); err != nil {
			return err
		}
		if err := writable(kindLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		if n, err := tx.HealthMonitors().Count(q.ctx, store.F("pool_id", p.ID)); err != nil {
			return err
		} else if n > 0 {
			return conflict("This pool already has a health monitor")
		}
		c := begin(q.ctx, tx, parent, s.now())
		if err := c.commitLB(); err != nil {
			return err
		}
		if err := c.lockPool(p); err != nil {
			return err
		}
		h.LoadBalancerID, h.ProjectID = parent.ID, parent.ProjectID
		h.Status = lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline, Gen: c.gen}
		h.CreatedAt = c.now
		if err := tx.HealthMonitors().Create(q.ctx, h); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return conflict("This pool already has a health monitor")
			}
			return fmt.Errorf("create health monitor %s: %w", h.ID, err)
		}
		w = toHealthMonitorWire(h)
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(h.LoadBalancerID)
	writeJSON(q.w, http.StatusCreated, map[string]any{"healthmonitor": w})
	return nil
}

func (s *Server) showHealthMonitor(q *request) error {
	id := q.params[0]
	var w *healthMonitorWire
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		h, err := getHealthMonitor(q.ctx, tx, id)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.HealthMonitor, policy.GetOne, h.ProjectID); err != nil {
			return err
		}
		w = toHealthMonitorWire(h)
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeOne(q, http.StatusOK, "healthmonitor", w)
}

func (s *Server) listHealthMonitors(q *request) error {
	p, err := s.parseList(q.r.URL.Query(), s.schemas.healthMonitorColumns)
	if err != nil {
		return err
	}
	if err := p.scope(q, policy.HealthMonitor); err != nil {
		return err
	}
	var items []any
	var ids []string
	err = s.store.View(q.ctx, func(tx store.Tx) error {
		list, err := tx.HealthMonitors().List(q.ctx, p.query)
		if err != nil {
			return queryError(err)
		}
		for _, h := range list {
			ids = append(ids, h.ID)
			items = append(items, toHealthMonitorWire(h))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeList(q, p, "healthmonitors", items, ids)
}

// applyHealthMonitorUpdate applies a PUT body to h, resetting the fields sent
// as null to their defaults.
func applyHealthMonitorUpdate(h *lb.HealthMonitor, o *object) error {
	if !lb.IsHTTPMonitor(h.Type) {
		// Octavia refuses these keys on other types even when null.
		for _, f := range httpOnlyFields() {
			if o.has(f) {
				return lb.InvalidOption(f, "health monitors of type "+h.Type)
			}
		}
	}
	if o.has("name") {
		h.Name, _ = o.str("name")
	}
	for name, dst := range map[string]*int{"delay": &h.Delay, "timeout": &h.Timeout, "max_retries": &h.MaxRetries} {
		if n, ok := o.integer(name); ok {
			*dst = n
		}
	}
	if o.has("max_retries_down") {
		h.MaxRetriesDown = lb.DefaultRetriesDown
		if n, ok := o.integer("max_retries_down"); ok {
			h.MaxRetriesDown = n
		}
	}
	defaults := map[string]string{"http_method": lb.DefaultHTTPMethod, "url_path": lb.DefaultURLPath, "expected_codes": lb.DefaultExpectedCodes}
	for name, dst := range map[string]**string{"http_method": &h.HTTPMethod, "url_path": &h.URLPath, "expected_codes": &h.ExpectedCodes} {
		if !o.has(name) {
			continue
		}
		v, ok := o.str(name)
		if !ok {
			v = defaults[name]
		}
		*dst = &v
	}
	if v, set := o.flag("admin_state_up"); set {
		h.AdminStateUp = v
	}
	if o.has("tags") {
		h.Tags, _ = o.strings("tags")
	}
	if o.has("http_version") {
		h.HTTPVersion = nil
		if f, ok := o.float("http_version"); ok {
			h.HTTPVersion = &f
		}
	}
	if o.has("domain_name") {
		h.DomainName = o.optStr("domain_name")
	}
	return nil
}

func (s *Server) updateHealthMonitor(q *request) error {
	id := q.params[0]
	data, err := s.readBody(q)
	if err != nil {
		return err
	}
	o, _, err := s.schemas.hmPut.decode(data)
	if err != nil {
		return err
	}
	var w *healthMonitorWire
	var lbID string
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		h, err := getHealthMonitor(q.ctx, tx, id)
		if err != nil {
			return err
		}
		p, err := getPool(q.ctx, tx, h.PoolID)
		if err != nil {
			return err
		}
		parent, err := lockLB(q.ctx, tx, p.LoadBalancerID)
		if err != nil {
			return err
		}
		lbID = parent.ID
		if err := q.authorize(policy.HealthMonitor, policy.Put, parent.ProjectID); err != nil {
			return err
		}
		if err := applyHealthMonitorUpdate(h, o); err != nil {
			return err
		}
		if err := s.checkMonitor(h, p.Protocol); err != nil {
			return err
		}
		if err := writable(kindHealthMonitor, id, h.Status); err != nil {
			return err
		}
		if err := writable(kindPool, p.ID, p.Status); err != nil {
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
		h.Status.Change(lb.PendingUpdate, c.gen)
		h.Touch(c.now)
		if err := tx.HealthMonitors().Update(q.ctx, h); err != nil {
			return err
		}
		w = toHealthMonitorWire(h)
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(lbID)
	writeJSON(q.w, http.StatusOK, map[string]any{"healthmonitor": w})
	return nil
}

func (s *Server) deleteHealthMonitor(q *request) error {
	id := q.params[0]
	var lbID string
	err := s.store.Update(q.ctx, func(tx store.Tx) error {
		h, err := getHealthMonitor(q.ctx, tx, id)
		if err != nil {
			return err
		}
		p, err := getPool(q.ctx, tx, h.PoolID)
		if err != nil {
			return err
		}
		parent, err := lockLB(q.ctx, tx, p.LoadBalancerID)
		if err != nil {
			return err
		}
		lbID = parent.ID
		if err := q.authorize(policy.HealthMonitor, policy.Delete, parent.ProjectID); err != nil {
			return err
		}
		if err := writable(kindHealthMonitor, id, h.Status); err != nil {
			return err
		}
		if err := writable(kindPool, p.ID, p.Status); err != nil {
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
		h.Status.Change(lb.PendingDelete, c.gen)
		h.Touch(c.now)
		return tx.HealthMonitors().Update(q.ctx, h)
	})
	if err != nil {
		return err
	}
	s.notify(lbID)
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}
