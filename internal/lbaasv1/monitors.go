package lbaasv1

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// monitorAttrNames are a v1 health monitor's attributes.
var monitorAttrNames = []string{"id", "tenant_id", "type", "delay", "timeout", "max_retries", "http_method", "url_path",
	"expected_codes", "admin_state_up"}

// renderMonitor is a v1 health monitor's body; pools are the v1 pools of
// its project.
func renderMonitor(m *lb.V1HealthMonitor, pools []*v1Pool) map[string]any {
	out := map[string]any{"id": m.ID, "tenant_id": m.ProjectID, "type": m.Type, "delay": m.Delay, "timeout": m.Timeout,
		"max_retries": m.MaxRetries, "admin_state_up": m.AdminStateUp}
	// v1 shows the HTTP attributes of HTTP and HTTPS monitors only.
	if lb.IsHTTPMonitor(m.Type) {
		out["http_method"], out["url_path"], out["expected_codes"] = m.HTTPMethod, m.URLPath, m.ExpectedCodes
	}
	assoc := []map[string]any{}
	for _, v := range pools {
		if v.monitor != nil && v.monitor.ID == monitorOnPool(m.ID, v.pool.ID) {
			assoc = append(assoc, map[string]any{"pool_id": v.pool.ID, "status": status(v.monitor.Status),
				"status_description": statusDescription(v.monitor.Status, v.lb)})
		}
	}
	out["pools"] = assoc
	return out
}

// monitorFrom is the health monitor a v1 monitor becomes on a pool.
func monitorFrom(m *lb.V1HealthMonitor, poolID string) *lb.HealthMonitor {
	h := &lb.HealthMonitor{ID: monitorOnPool(m.ID, poolID), PoolID: poolID, AdminStateUp: m.AdminStateUp, Type: m.Type,
		Delay: m.Delay, Timeout: m.Timeout, MaxRetries: m.MaxRetries, MaxRetriesDown: lb.DefaultRetriesDown, Tags: []string{}}
	applyHTTP(h, m)
	return h
}

// applyHTTP copies a v1 monitor's HTTP attributes onto h (HTTP and HTTPS
// monitors only).
func applyHTTP(h *lb.HealthMonitor, m *lb.V1HealthMonitor) {
	h.HTTPMethod, h.URLPath, h.ExpectedCodes = nil, nil, nil
	if lb.IsHTTPMonitor(m.Type) {
		method, path, codes := m.HTTPMethod, m.URLPath, m.ExpectedCodes
		h.HTTPMethod, h.URLPath, h.ExpectedCodes = &method, &path, &codes
	}
}

// checkMonitor validates a v1 monitor with the rules its health monitors
// will be checked with, so that associating it cannot fail on them.
func (a *API) checkMonitor(m *lb.V1HealthMonitor) error {
	if !slices.Contains(lb.HTTPMethods, m.HTTPMethod) {
		return badInput("http_method", "'%s' is not in %s", m.HTTPMethod, pyList(lb.HTTPMethods))
	}
	if !strings.HasPrefix(m.URLPath, "/") || strings.ContainsAny(m.URLPath, " \t\r\n") {
		return badInput("url_path", "'%s' is not a valid URL path: it must begin with / and have no spaces", m.URLPath)
	}
	h := monitorFrom(m, "")
	for _, protocol := range []string{lb.ProtocolHTTP, lb.ProtocolTCP} {
		if err := h.Validate(a.settings, protocol); err != nil {
			return err
		}
	}
	return nil
}

// visibleMonitor loads a v1 monitor the caller may see.
func (a *API) visibleMonitor(ctx context.Context, tx store.Tx, c policy.Caller, id string) (*lb.V1HealthMonitor, error) {
	m, err := tx.V1HealthMonitors().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && !a.visible(c, policy.HealthMonitor, m.ProjectID) {
		return nil, monitorNotFound(id)
	}
	return m, err
}

func (a *API) listMonitors(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	project, err := a.listScope(c, policy.HealthMonitor)
	if err != nil {
		return err
	}
	var filters []store.Filter
	if project != "" {
		filters = append(filters, store.F("project_id", project))
	}
	var items []map[string]any
	err = a.opts.Store.View(r.Context(), func(tx store.Tx) error {
		ms, err := tx.V1HealthMonitors().List(r.Context(), store.Query{Filters: filters})
		if err != nil {
			return err
		}
		pools, err := loadPools(r.Context(), tx, filters...)
		for _, m := range ms {
			items = append(items, renderMonitor(m, pools))
		}
		return err
	})
	if err != nil {
		return err
	}
	return writeList(w, r, "health_monitors", items, monitorAttrNames)
}

// renderMonitorByID reads and renders one v1 monitor.
func (a *API) renderMonitorByID(ctx context.Context, tx store.Tx, m *lb.V1HealthMonitor) (map[string]any, error) {
	pools, err := loadPools(ctx, tx, store.F("project_id", m.ProjectID))
	return renderMonitor(m, pools), err
}

func (a *API) showMonitor(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var out map[string]any
	err := a.opts.Store.View(r.Context(), func(tx store.Tx) error {
		m, err := a.visibleMonitor(r.Context(), tx, c, r.PathValue("id"))
		if err != nil {
			return err
		}
		out, err = a.renderMonitorByID(r.Context(), tx, m)
		return err
	})
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, "health_monitor", out)
}

func (a *API) createMonitor(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	in, err := decode(r, "health_monitor", monitorAttrs)
	if err != nil {
		return err
	}
	proj, err := project(in, c)
	if err != nil {
		return err
	}
	if err := a.opts.Authorizer.Authorize(c, policy.RuleFor(policy.HealthMonitor, policy.Post), proj); err != nil {
		return err
	}
	m := &lb.V1HealthMonitor{ID: a.newID(), ProjectID: proj, Type: in.str("type"), HTTPMethod: lb.DefaultHTTPMethod,
		URLPath: lb.DefaultURLPath, ExpectedCodes: lb.DefaultExpectedCodes, AdminStateUp: true, Times: lb.Times{CreatedAt: a.now()}}
	m.Delay, _ = in.integer("delay")
	m.Timeout, _ = in.integer("timeout")
	m.MaxRetries, _ = in.integer("max_retries")
	if v, ok := in.flag("admin_state_up"); ok {
		m.AdminStateUp = v
	}
	for name, dst := range map[string]*string{"http_method": &m.HTTPMethod, "url_path": &m.URLPath, "expected_codes": &m.ExpectedCodes} {
		if in.has(name) {
			*dst = in.str(name)
		}
	}
	if err := a.checkMonitor(m); err != nil {
		return err
	}
	var out map[string]any
	err = a.opts.Store.Update(r.Context(), func(tx store.Tx) error {
		if err := tx.V1HealthMonitors().Create(r.Context(), m); err != nil {
			return fmt.Errorf("create v1 health monitor %s: %w", m.ID, err)
		}
		out, err = a.renderMonitorByID(r.Context(), tx, m)
		return err
	})
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusCreated, "health_monitor", out)
}

// updateMonitor changes the v1 monitor and every health monitor made from
// it, in one transaction.
func (a *API) updateMonitor(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	in, err := decode(r, "health_monitor", monitorAttrs)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	var out map[string]any
	err = a.opts.Writer.Together(r.Context(), func(ctx context.Context, tx store.Tx) error {
		m, err := a.visibleMonitor(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if err := a.opts.Authorizer.Authorize(c, policy.RuleFor(policy.HealthMonitor, policy.Put), m.ProjectID); err != nil {
			return err
		}
		for name, dst := range map[string]*int{"delay": &m.Delay, "timeout": &m.Timeout, "max_retries": &m.MaxRetries} {
			if n, ok := in.integer(name); ok {
				*dst = n
			}
		}
		for name, dst := range map[string]*string{"http_method": &m.HTTPMethod, "url_path": &m.URLPath, "expected_codes": &m.ExpectedCodes} {
			if in.has(name) {
				*dst = in.str(name)
			}
		}
		if v, ok := in.flag("admin_state_up"); ok {
			m.AdminStateUp = v
		}
		if err := a.checkMonitor(m); err != nil {
			return err
		}
		m.Touch(a.now())
		if err := tx.V1HealthMonitors().Update(ctx, m); err != nil {
			return err
		}
		pools, err := loadPools(ctx, tx, store.F("project_id", m.ProjectID))
		if err != nil {
			return err
		}
		for _, v := range pools {
			if v.monitor == nil || v.monitor.ID != monitorOnPool(m.ID, v.pool.ID) {
				continue
			}
			_, err := a.opts.Writer.UpdateHealthMonitor(ctx, change.HealthMonitorUpdate{ID: v.monitor.ID,
				Allow: a.allow(c, policy.HealthMonitor, policy.Put), Apply: func(h *lb.HealthMonitor) error {
					h.Delay, h.Timeout, h.MaxRetries, h.AdminStateUp = m.Delay, m.Timeout, m.MaxRetries, m.AdminStateUp
					applyHTTP(h, m)
					return nil
				}})
			if err != nil {
				return err
			}
		}
		out, err = a.renderMonitorByID(ctx, tx, m)
		return err
	})
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, "health_monitor", out)
}

// deleteMonitor removes the v1 monitor and the health monitors made from
// it (v1 removed its associations with it).
func (a *API) deleteMonitor(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	id := r.PathValue("id")
	err := a.opts.Writer.Together(r.Context(), func(ctx context.Context, tx store.Tx) error {
		m, err := a.visibleMonitor(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if err := a.opts.Authorizer.Authorize(c, policy.RuleFor(policy.HealthMonitor, policy.Delete), m.ProjectID); err != nil {
			return err
		}
		pools, err := loadPools(ctx, tx, store.F("project_id", m.ProjectID))
		if err != nil {
			return err
		}
		for _, v := range pools {
			if v.monitor == nil || v.monitor.ID != monitorOnPool(m.ID, v.pool.ID) || v.monitor.Status.Provisioning == lb.PendingDelete {
				continue
			}
			if err := a.opts.Writer.DeleteHealthMonitor(ctx, v.monitor.ID, a.allow(c, policy.HealthMonitor, policy.Delete)); err != nil {
				return err
			}
		}
		return tx.V1HealthMonitors().Delete(ctx, id)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// associate is POST /pools/{id}/health_monitors {"health_monitor": {"id"}}:
// the pool gets a health monitor made from the v1 monitor.
func (a *API) associate(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	in, err := decode(r, "health_monitor", associationAttrs)
	if err != nil {
		return err
	}
	poolID, hm := r.PathValue("id"), in.str("id")
	err = a.opts.Writer.Together(r.Context(), func(ctx context.Context, tx store.Tx) error {
		return a.associateTx(ctx, tx, c, poolID, hm)
	})
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusCreated, "health_monitor", map[string]any{"id": hm})
}

// associateTx creates the health monitor of v1 monitor hm on pool poolID.
// v1 let a pool have several monitors; a pool has one health monitor, so a
// second association is refused (409).
func (a *API) associateTx(ctx context.Context, tx store.Tx, c policy.Caller, poolID, hm string) error {
	v, err := a.visiblePool(ctx, tx, c, poolID)
	if err != nil {
		return err
	}
	m, err := a.visibleMonitor(ctx, tx, c, hm)
	if err != nil {
		return err
	}
	if m.ProjectID != v.pool.ProjectID {
		return monitorNotFound(hm)
	}
	if v.monitor != nil && v.monitor.ID == monitorOnPool(hm, poolID) {
		return &Error{Code: http.StatusConflict, Type: "PoolMonitorAssociationExists",
			Message: fmt.Sprintf("health_monitor %s is already associated with pool %s", hm, poolID)}
	}
	if err := writableV1(poolID, v.pool.Status); err != nil {
		return err
	}
	_, err = a.opts.Writer.CreateHealthMonitor(ctx, change.HealthMonitorCreate{Monitor: monitorFrom(m, poolID),
		Allow: a.allow(c, policy.HealthMonitor, policy.Post)})
	var ce *lb.ConflictError
	if errors.As(err, &ce) && v.monitor != nil {
		return &Error{Code: http.StatusConflict, Type: "PoolMonitorAssociationExists",
			Message: fmt.Sprintf("Pool %s already has a health monitor (%s): fulcrum's pools take one", poolID, v1MonitorOr(ctx, tx, v))}
	}
	return err
}

// v1MonitorOr names the monitor a pool has: its v1 monitor's id, else the
// health monitor's.
func v1MonitorOr(ctx context.Context, tx store.Tx, v *v1Pool) string {
	if ms, err := projectMonitors(ctx, tx, v); err == nil {
		if id := v1Monitor(v, ms); id != "" {
			return id
		}
	}
	return v.monitor.ID
}

func (a *API) showAssociation(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	poolID, hm := r.PathValue("id"), r.PathValue("hm")
	var out map[string]any
	err := a.opts.Store.View(r.Context(), func(tx store.Tx) error {
		v, err := a.visiblePool(r.Context(), tx, c, poolID)
		if err != nil {
			return err
		}
		if v.monitor == nil || v.monitor.ID != monitorOnPool(hm, poolID) {
			return associationNotFound(hm, poolID)
		}
		out = map[string]any{"pool_id": poolID, "monitor_id": hm, "status": status(v.monitor.Status),
			"status_description": statusDescription(v.monitor.Status, v.lb), "tenant_id": v.pool.ProjectID}
		return nil
	})
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, "health_monitor", out)
}

func associationNotFound(hm, poolID string) error {
	return &Error{Code: http.StatusNotFound, Type: "PoolMonitorAssociationNotFound",
		Message: fmt.Sprintf("Monitor %s is not associated with Pool %s", hm, poolID)}
}

func (a *API) disassociate(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	poolID, hm := r.PathValue("id"), r.PathValue("hm")
	err := a.opts.Writer.Together(r.Context(), func(ctx context.Context, tx store.Tx) error {
		return a.disassociateTx(ctx, tx, c, poolID, hm)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// disassociateTx deletes the health monitor v1 monitor hm has on the pool.
func (a *API) disassociateTx(ctx context.Context, tx store.Tx, c policy.Caller, poolID, hm string) error {
	v, err := a.visiblePool(ctx, tx, c, poolID)
	if err != nil {
		return err
	}
	if v.monitor == nil || v.monitor.ID != monitorOnPool(hm, poolID) || v.monitor.Status.Provisioning == lb.PendingDelete {
		return associationNotFound(hm, poolID)
	}
	return a.opts.Writer.DeleteHealthMonitor(ctx, v.monitor.ID, a.allow(c, policy.HealthMonitor, policy.Delete))
}
