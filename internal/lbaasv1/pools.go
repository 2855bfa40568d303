package lbaasv1

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/ids"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// poolAttrNames are a v1 pool's attributes (what lists filter and sort on).
var poolAttrNames = []string{"id", "tenant_id", "vip_id", "name", "description", "subnet_id", "protocol", "lb_method",
	"admin_state_up", "status", "status_description", "provider"}

// renderPool is a v1 pool's body; monitors are the project's v1 health
// monitors.
func renderPool(v *v1Pool, monitors []*lb.V1HealthMonitor) map[string]any {
	var vipID any
	if l := v.vip(); l != nil {
		vipID = l.ID
	}
	members := []string{}
	for _, m := range v.members {
		members = append(members, m.ID)
	}
	hms, hmStatus := []string{}, []map[string]any{}
	if id := v1Monitor(v, monitors); id != "" {
		hms = append(hms, id)
		hmStatus = append(hmStatus, map[string]any{"monitor_id": id, "status": status(v.monitor.Status),
			"status_description": statusDescription(v.monitor.Status, v.lb)})
	}
	provider := v.lb.Provider
	if v.lb.ProviderName != "" {
		provider = v.lb.ProviderName
	}
	return map[string]any{"id": v.pool.ID, "tenant_id": v.pool.ProjectID, "vip_id": vipID, "name": v.pool.Name,
		"description": v.pool.Description, "subnet_id": v.mark.SubnetID, "protocol": v.pool.Protocol,
		"lb_method": v.pool.LBAlgorithm, "admin_state_up": v.pool.AdminStateUp, "status": status(v.pool.Status),
		"status_description": statusDescription(v.pool.Status, v.lb), "provider": provider,
		"members": members, "health_monitors": hms, "health_monitors_status": hmStatus}
}

// projectMonitors reads the v1 health monitors of the projects of pools.
func projectMonitors(ctx context.Context, tx store.Tx, pools ...*v1Pool) ([]*lb.V1HealthMonitor, error) {
	var projects []string
	for _, v := range pools {
		projects = append(projects, v.pool.ProjectID)
	}
	if len(projects) == 0 {
		return nil, nil
	}
	return tx.V1HealthMonitors().List(ctx, store.Query{Filters: []store.Filter{store.In("project_id", projects...)}})
}

// visiblePool loads a v1 pool the caller may see (else PoolNotFound).
func (a *API) visiblePool(ctx context.Context, tx store.Tx, c policy.Caller, id string) (*v1Pool, error) {
	v, err := loadPool(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if !a.visible(c, policy.Pool, v.pool.ProjectID) {
		return nil, poolNotFound(id)
	}
	return v, nil
}

// renderPoolByID reads and renders one v1 pool.
func (a *API) renderPoolByID(ctx context.Context, id string) (map[string]any, error) {
	var out map[string]any
	err := a.opts.Store.View(ctx, func(tx store.Tx) error {
		v, err := loadPool(ctx, tx, id)
		if err != nil {
			return err
		}
		ms, err := projectMonitors(ctx, tx, v)
		out = renderPool(v, ms)
		return err
	})
	return out, err
}

func (a *API) listPools(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	project, err := a.listScope(c, policy.Pool)
	if err != nil {
		return err
	}
	var filters []store.Filter
	if project != "" {
		filters = append(filters, store.F("project_id", project))
	}
	var items []map[string]any
	err = a.opts.Store.View(r.Context(), func(tx store.Tx) error {
		pools, err := loadPools(r.Context(), tx, filters...)
		if err != nil {
			return err
		}
		ms, err := projectMonitors(r.Context(), tx, pools...)
		for _, v := range pools {
			items = append(items, renderPool(v, ms))
		}
		return err
	})
	if err != nil {
		return err
	}
	return writeList(w, r, "pools", items, poolAttrNames)
}

func (a *API) showPool(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var out map[string]any
	err := a.opts.Store.View(r.Context(), func(tx store.Tx) error {
		v, err := a.visiblePool(r.Context(), tx, c, r.PathValue("id"))
		if err != nil {
			return err
		}
		ms, err := projectMonitors(r.Context(), tx, v)
		out = renderPool(v, ms)
		return err
	})
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, "pool", out)
}

// createPool makes a load balancer with its VIP on the pool's subnet and
// the pool on it, marks it as a v1 pool and associates the monitors sent,
// in one transaction.
func (a *API) createPool(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	in, err := decode(r, "pool", poolAttrs)
	if err != nil {
		return err
	}
	proj, err := project(in, c)
	if err != nil {
		return err
	}
	for _, o := range []policy.Object{policy.LoadBalancer, policy.Pool} {
		if err := a.opts.Authorizer.Authorize(c, policy.RuleFor(o, policy.Post), proj); err != nil {
			return err
		}
	}
	provider, shown, err := a.provider(in.str("provider"))
	if err != nil {
		return err
	}
	l := &lb.LoadBalancer{ID: a.newID(), ProjectID: proj, Name: in.str("name"), AdminStateUp: true, Provider: provider, Tags: []string{}}
	if shown != provider {
		l.ProviderName = shown
	}
	p := &lb.Pool{ID: a.newID(), Name: in.str("name"), Description: in.str("description"), AdminStateUp: true,
		Protocol: in.str("protocol"), LBAlgorithm: in.str("lb_method"), LoadBalancerID: l.ID, Tags: []string{}}
	l.Description = "LBaaS v1 pool " + p.ID
	if v, ok := in.flag("admin_state_up"); ok {
		p.AdminStateUp = v
	}
	subnet := in.str("subnet_id")
	err = a.opts.Writer.Together(r.Context(), func(ctx context.Context, tx store.Tx) error {
		err := a.opts.Writer.CreateLoadBalancer(ctx, change.LoadBalancerCreate{Graph: &lb.Graph{LoadBalancer: l},
			VIP: lb.VIPRequest{ProjectID: proj, SubnetID: subnet}})
		if err != nil {
			return err
		}
		if _, err := a.opts.Writer.CreatePool(ctx, change.PoolCreate{Pool: p, Allow: a.allow(c, policy.Pool, policy.Post)}); err != nil {
			return err
		}
		if err := tx.V1Pools().Create(ctx, &lb.V1Pool{ID: p.ID, ProjectID: proj, LoadBalancerID: l.ID, SubnetID: subnet, CreatedAt: a.now()}); err != nil {
			return fmt.Errorf("mark v1 pool %s: %w", p.ID, err)
		}
		for _, hm := range in.strings("health_monitors") {
			if err := a.associateTx(ctx, tx, c, p.ID, hm); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	out, err := a.renderPoolByID(r.Context(), p.ID)
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusCreated, "pool", out)
}

// updatePool changes the pool (and the name of its load balancer with it);
// health_monitors replaces the pool's associations.
func (a *API) updatePool(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	in, err := decode(r, "pool", poolAttrs)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	err = a.opts.Writer.Together(r.Context(), func(ctx context.Context, tx store.Tx) error {
		v, err := a.visiblePool(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if err := writableV1(id, v.pool.Status); err != nil {
			return err
		}
		_, err = a.opts.Writer.UpdatePool(ctx, change.PoolUpdate{ID: id, Allow: a.allow(c, policy.Pool, policy.Put),
			Apply: func(p *lb.Pool) error {
				if in.has("name") {
					p.Name = in.str("name")
				}
				if in.has("description") {
					p.Description = in.str("description")
				}
				if in.has("lb_method") {
					p.LBAlgorithm = in.str("lb_method")
				}
				if v, ok := in.flag("admin_state_up"); ok {
					p.AdminStateUp = v
				}
				return nil
			}})
		if err != nil {
			return err
		}
		if in.has("name") && v.lb.Name != in.str("name") {
			_, err := a.opts.Writer.UpdateLoadBalancer(ctx, change.LoadBalancerUpdate{ID: v.lb.ID,
				Allow: a.allow(c, policy.LoadBalancer, policy.Put), Apply: func(l *lb.LoadBalancer) error { l.Name = in.str("name"); return nil }})
			if err != nil {
				return err
			}
		}
		if !in.has("health_monitors") {
			return nil
		}
		want := in.strings("health_monitors")
		ms, err := projectMonitors(ctx, tx, v)
		if err != nil {
			return err
		}
		if have := v1Monitor(v, ms); have != "" && !contains(want, have) {
			if err := a.disassociateTx(ctx, tx, c, id, have); err != nil {
				return err
			}
		} else if have != "" {
			want = remove(want, have)
		}
		for _, hm := range want {
			if err := a.associateTx(ctx, tx, c, id, hm); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	out, err := a.renderPoolByID(r.Context(), id)
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, "pool", out)
}

// deletePool deletes the pool's load balancer with the pool and its
// members and health monitor (v1 deletes a pool's members with it), unless
// the pool has a VIP: v1 refuses that (PoolInUse).
func (a *API) deletePool(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	id := r.PathValue("id")
	err := a.opts.Writer.Together(r.Context(), func(ctx context.Context, tx store.Tx) error {
		v, err := a.visiblePool(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if v.vip() != nil {
			return &Error{Code: http.StatusConflict, Type: "PoolInUse", Message: "Pool " + id + " is still in use"}
		}
		if err := writableV1(id, v.pool.Status); err != nil {
			return err
		}
		return a.opts.Writer.DeleteLoadBalancer(ctx, v.lb.ID, true, a.allow(c, policy.LoadBalancer, policy.Delete))
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// poolStats answers the traffic counters of the pool's load balancer.
func (a *API) poolStats(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var v *v1Pool
	err := a.opts.Store.View(r.Context(), func(tx store.Tx) error {
		var err error
		if v, err = a.visiblePool(r.Context(), tx, c, r.PathValue("id")); err != nil {
			return err
		}
		return a.opts.Authorizer.Authorize(c, policy.RuleFor(policy.LoadBalancer, policy.GetStats), v.pool.ProjectID)
	})
	if err != nil {
		return err
	}
	st, err := a.opts.Stats.LoadBalancerStats(r.Context(), v.lb.ID)
	if err != nil {
		return fmt.Errorf("stats of v1 pool %s: %w", v.pool.ID, err)
	}
	return writeOne(w, r, http.StatusOK, "stats", map[string]any{"bytes_in": st.BytesIn, "bytes_out": st.BytesOut,
		"active_connections": st.ActiveConnections, "total_connections": st.TotalConnections})
}

func (a *API) newID() string {
	if a.opts.NewID != nil {
		return a.opts.NewID()
	}
	return ids.New()
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func remove(l []string, s string) []string {
	var out []string
	for _, x := range l {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// isNotFound reports whether err is a not-found of the store or the write
// path.
func isNotFound(err error) bool {
	var nf *lb.NotFoundError
	return errors.As(err, &nf) || errors.Is(err, store.ErrNotFound)
}
