package lbaasv1

import (
	"context"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// vipAttrNames are a v1 VIP's attributes.
var vipAttrNames = []string{"id", "tenant_id", "name", "description", "subnet_id", "address", "port_id", "protocol_port",
	"protocol", "pool_id", "connection_limit", "admin_state_up", "status", "status_description"}

// renderVIP is the body of VIP l of pool v.
func renderVIP(l *lb.Listener, v *v1Pool) map[string]any {
	out := map[string]any{"id": l.ID, "tenant_id": l.ProjectID, "name": l.Name, "description": l.Description,
		"subnet_id": v.lb.VIP.SubnetID, "address": v.lb.VIP.Address, "port_id": v.lb.VIP.PortID,
		"protocol_port": l.ProtocolPort, "protocol": l.Protocol, "pool_id": v.pool.ID,
		"connection_limit": l.ConnectionLimit, "admin_state_up": l.AdminStateUp, "status": status(l.Status),
		"status_description": statusDescription(l.Status, v.lb)}
	// v1 shows session_persistence only when it is set.
	if sp := v.pool.SessionPersistence; sp != nil {
		w := map[string]any{"type": sp.Type}
		if sp.Type == lb.PersistAppCookie && sp.CookieName != nil {
			w["cookie_name"] = *sp.CookieName
		}
		out["session_persistence"] = w
	}
	return out
}

// loadVIP reads a VIP: a listener whose default pool is a v1 pool.
func loadVIP(ctx context.Context, tx store.Tx, id string) (*lb.Listener, *v1Pool, error) {
	l, err := tx.Listeners().Get(ctx, id)
	if isNotFound(err) {
		return nil, nil, vipNotFound(id)
	}
	if err != nil {
		return nil, nil, err
	}
	if l.DefaultPoolID == "" {
		return nil, nil, vipNotFound(id)
	}
	v, err := loadPool(ctx, tx, l.DefaultPoolID)
	if isNotFound(err) || err != nil && isV1NotFound(err) {
		return nil, nil, vipNotFound(id)
	}
	return l, v, err
}

func isV1NotFound(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Code == http.StatusNotFound
}

func (a *API) visibleVIP(ctx context.Context, tx store.Tx, c policy.Caller, id string) (*lb.Listener, *v1Pool, error) {
	l, v, err := loadVIP(ctx, tx, id)
	if err != nil {
		return nil, nil, err
	}
	if !a.visible(c, policy.Listener, l.ProjectID) {
		return nil, nil, vipNotFound(id)
	}
	return l, v, nil
}

func (a *API) listVIPs(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	project, err := a.listScope(c, policy.Listener)
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
		for _, v := range pools {
			for _, l := range v.vips {
				items = append(items, renderVIP(l, v))
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	return writeList(w, r, "vips", items, vipAttrNames)
}

func (a *API) showVIP(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var out map[string]any
	err := a.opts.Store.View(r.Context(), func(tx store.Tx) error {
		l, v, err := a.visibleVIP(r.Context(), tx, c, r.PathValue("id"))
		if err == nil {
			out = renderVIP(l, v)
		}
		return err
	})
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, "vip", out)
}

// renderVIPByID reads and renders one VIP.
func (a *API) renderVIPByID(ctx context.Context, id string) (map[string]any, error) {
	var out map[string]any
	err := a.opts.Store.View(ctx, func(tx store.Tx) error {
		l, v, err := loadVIP(ctx, tx, id)
		if err == nil {
			out = renderVIP(l, v)
		}
		return err
	})
	return out, err
}

// createVIP gives the pool's load balancer a listener with the pool as its
// default pool; the VIP's subnet and address become the load balancer's
// (moved when they differ), its session persistence the pool's. One
// transaction.
func (a *API) createVIP(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	in, err := decode(r, "vip", vipAttrs)
	if err != nil {
		return err
	}
	poolID := in.str("pool_id")
	l := &lb.Listener{ID: a.newID(), Name: in.str("name"), Description: in.str("description"), AdminStateUp: true,
		Protocol: in.str("protocol"), DefaultPoolID: poolID, ConnectionLimit: lb.DefaultConnectionLimit,
		TimeoutClientData: lb.DefaultTimeoutClient, TimeoutMemberConnect: lb.DefaultTimeoutConnect,
		TimeoutMemberData: lb.DefaultTimeoutMember, TimeoutTCPInspect: lb.DefaultTimeoutInspect,
		ClientAuthentication: lb.ClientAuthNone, InsertHeaders: map[string]string{}, SNIContainerRefs: []string{}, Tags: []string{}}
	l.ProtocolPort, _ = in.integer("protocol_port")
	if n, ok := in.integer("connection_limit"); ok {
		l.ConnectionLimit = n
	}
	if v, ok := in.flag("admin_state_up"); ok {
		l.AdminStateUp = v
	}
	err = a.opts.Writer.Together(r.Context(), func(ctx context.Context, tx store.Tx) error {
		v, err := a.visiblePool(ctx, tx, c, poolID)
		if err != nil {
			return err
		}
		if p := in.str("tenant_id"); p != "" && p != v.pool.ProjectID {
			return &Error{Code: http.StatusForbidden, Type: "NotAuthorized", Message: "Not authorized."}
		}
		if v.vip() != nil {
			return &Error{Code: http.StatusConflict, Type: "VipExists", Message: "Another Vip already exists for pool " + poolID}
		}
		if v.pool.Protocol != l.Protocol {
			return &Error{Code: http.StatusBadRequest, Type: "ProtocolMismatch",
				Message: "Protocol " + l.Protocol + " does not match pool protocol " + v.pool.Protocol}
		}
		if err := writableV1(poolID, v.pool.Status); err != nil {
			return err
		}
		subnet, address := in.str("subnet_id"), in.str("address")
		if subnet != v.lb.VIP.SubnetID || address != "" && address != v.lb.VIP.Address {
			_, err := a.opts.Writer.MoveVIP(ctx, v.lb.ID, lb.VIPRequest{SubnetID: subnet, Address: address},
				a.allow(c, policy.LoadBalancer, policy.Put))
			if err != nil {
				return err
			}
		}
		if in.has("session_persistence") {
			if err := a.setPersistence(ctx, c, poolID, in.sp("session_persistence")); err != nil {
				return err
			}
		}
		l.LoadBalancerID = v.lb.ID
		_, err = a.opts.Writer.CreateListener(ctx, change.ListenerCreate{Listener: l, Allow: a.allow(c, policy.Listener, policy.Post)})
		return err
	})
	if err != nil {
		return err
	}
	out, err := a.renderVIPByID(r.Context(), l.ID)
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusCreated, "vip", out)
}

// setPersistence sets (nil: removes) the session persistence of the pool
// behind a VIP.
func (a *API) setPersistence(ctx context.Context, c policy.Caller, poolID string, sp *lb.SessionPersistence) error {
	_, err := a.opts.Writer.UpdatePool(ctx, change.PoolUpdate{ID: poolID, Allow: a.allow(c, policy.Pool, policy.Put),
		Apply: func(p *lb.Pool) error {
			p.SessionPersistence = sp
			return lb.CheckSessionPersistence(p.Protocol, sp, true)
		}})
	return err
}

// updateVIP changes the listener (and the pool's session persistence). A
// VIP moves to another pool in v1; here a VIP is its pool's load
// balancer's listener, so pool_id can only name its own pool.
func (a *API) updateVIP(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	in, err := decode(r, "vip", vipAttrs)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	err = a.opts.Writer.Together(r.Context(), func(ctx context.Context, tx store.Tx) error {
		l, v, err := a.visibleVIP(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if err := writableV1(id, l.Status); err != nil {
			return err
		}
		if p := in.str("pool_id"); in.has("pool_id") && p != v.pool.ID {
			return &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest",
				Message: "A VIP cannot move to another pool here: VIP " + id + " is a listener of pool " + v.pool.ID + "'s load balancer. Delete it and create a VIP for pool " + p + "."}
		}
		if in.has("session_persistence") {
			if err := a.setPersistence(ctx, c, v.pool.ID, in.sp("session_persistence")); err != nil {
				return err
			}
		}
		_, err = a.opts.Writer.UpdateListener(ctx, change.ListenerUpdate{ID: id, Allow: a.allow(c, policy.Listener, policy.Put),
			Apply: func(l *lb.Listener) error {
				if in.has("name") {
					l.Name = in.str("name")
				}
				if in.has("description") {
					l.Description = in.str("description")
				}
				if n, ok := in.integer("connection_limit"); ok {
					l.ConnectionLimit = n
				}
				if v, ok := in.flag("admin_state_up"); ok {
					l.AdminStateUp = v
				}
				return nil
			}})
		return err
	})
	if err != nil {
		return err
	}
	out, err := a.renderVIPByID(r.Context(), id)
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, "vip", out)
}

// deleteVIP deletes the listener; the pool and its load balancer (with its
// address) stay.
func (a *API) deleteVIP(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	id := r.PathValue("id")
	err := a.opts.Writer.Together(r.Context(), func(ctx context.Context, tx store.Tx) error {
		if _, _, err := a.visibleVIP(ctx, tx, c, id); err != nil {
			return err
		}
		return notFoundAs(a.opts.Writer.DeleteListener(ctx, id, a.allow(c, policy.Listener, policy.Delete)), vipNotFound, id)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
