package apiserver

import (
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

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
	// An empty domain_name is no domain name.
	h.DomainName = o.ref("domain_name")
	return h
}

func (s *Server) createHealthMonitor(q *request) error {
	o, _, err := s.decodeBody(q, &s.schemas.hmPost)
	if err != nil {
		return err
	}
	h := healthMonitorFromBody(o)
	h.PoolID, _ = o.str("pool_id")
	h, err = s.writes.CreateHealthMonitor(q.ctx, change.HealthMonitorCreate{Monitor: h, Allow: q.allow(policy.HealthMonitor, policy.Post)})
	if err != nil {
		return err
	}
	writeObject(q.w, http.StatusCreated, "healthmonitor", toHealthMonitorWire(h))
	return nil
}

func (s *Server) showHealthMonitor(q *request) error {
	return shown[lb.HealthMonitor]{key: "healthmonitor", object: policy.HealthMonitor,
		load:   func(tx store.Tx) (*lb.HealthMonitor, error) { return getHealthMonitor(q.ctx, tx, q.param("id")) },
		owner:  func(h *lb.HealthMonitor) string { return h.ProjectID },
		render: plain(func(h *lb.HealthMonitor) any { return toHealthMonitorWire(h) })}.serve(s, q)
}

func (s *Server) listHealthMonitors(q *request) error {
	p, err := s.scopedList(q, s.schemas.healthMonitorColumns, policy.HealthMonitor)
	if err != nil {
		return err
	}
	return page[lb.HealthMonitor]{plural: "healthmonitors", table: store.Tx.HealthMonitors, id: func(h *lb.HealthMonitor) string { return h.ID },
		render: each(func(h *lb.HealthMonitor) any { return toHealthMonitorWire(h) })}.serve(s, q, p)
}

// applyHealthMonitorUpdate applies a PUT body to h, resetting the fields sent
// as null to their defaults.
func applyHealthMonitorUpdate(h *lb.HealthMonitor, o *object) error {
	if !lb.IsHTTPMonitor(h.Type) {
		// Octavia refuses these keys on other types even when null.
		for _, f := range [...]string{"http_method", "url_path", "expected_codes"} {
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
		h.DomainName = o.ref("domain_name")
	}
	return nil
}

func (s *Server) updateHealthMonitor(q *request) error {
	o, _, err := s.decodeBody(q, &s.schemas.hmPut)
	if err != nil {
		return err
	}
	h, err := s.writes.UpdateHealthMonitor(q.ctx, change.HealthMonitorUpdate{ID: q.param("id"),
		Allow: q.allow(policy.HealthMonitor, policy.Put), Apply: func(h *lb.HealthMonitor) error {
			return applyHealthMonitorUpdate(h, o)
		}})
	if err != nil {
		return err
	}
	writeObject(q.w, http.StatusOK, "healthmonitor", toHealthMonitorWire(h))
	return nil
}

func (s *Server) deleteHealthMonitor(q *request) error {
	if err := s.writes.DeleteHealthMonitor(q.ctx, q.param("id"), q.allow(policy.HealthMonitor, policy.Delete)); err != nil {
		return err
	}
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}
