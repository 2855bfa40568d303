package lbaasv1

import (
	"context"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// memberAttrNames are a v1 member's attributes.
var memberAttrNames = []string{"id", "tenant_id", "pool_id", "address", "protocol_port", "weight", "admin_state_up",
	"status", "status_description"}

func renderMember(m *lb.Member, v *v1Pool) map[string]any {
	return map[string]any{"id": m.ID, "tenant_id": m.ProjectID, "pool_id": m.PoolID, "address": m.Address,
		"protocol_port": m.ProtocolPort, "weight": m.Weight, "admin_state_up": m.AdminStateUp,
		"status": memberStatus(m.Status), "status_description": statusDescription(m.Status, v.lb)}
}

// loadMember reads a member of a v1 pool.
func (a *API) visibleMember(ctx context.Context, tx store.Tx, c policy.Caller, id string) (*lb.Member, *v1Pool, error) {
	m, err := tx.Members().Get(ctx, id)
	if isNotFound(err) {
		return nil, nil, memberNotFound(id)
	}
	if err != nil {
		return nil, nil, err
	}
	v, err := loadPool(ctx, tx, m.PoolID)
	if isV1NotFound(err) || err == nil && !a.visible(c, policy.Member, m.ProjectID) {
		return nil, nil, memberNotFound(id)
	}
	return m, v, err
}

func (a *API) listMembers(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	project, err := a.listScope(c, policy.Member)
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
			for _, m := range v.members {
				items = append(items, renderMember(m, v))
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	return writeList(w, r, "members", items, memberAttrNames)
}

func (a *API) showMember(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var out map[string]any
	err := a.opts.Store.View(r.Context(), func(tx store.Tx) error {
		m, v, err := a.visibleMember(r.Context(), tx, c, r.PathValue("id"))
		if err == nil {
			out = renderMember(m, v)
		}
		return err
	})
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, "member", out)
}

func (a *API) renderMemberByID(ctx context.Context, id string) (map[string]any, error) {
	var out map[string]any
	err := a.opts.Store.View(ctx, func(tx store.Tx) error {
		m, err := tx.Members().Get(ctx, id)
		if err != nil {
			return err
		}
		v, err := loadPool(ctx, tx, m.PoolID)
		if err == nil {
			out = renderMember(m, v)
		}
		return err
	})
	return out, err
}

func (a *API) createMember(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	in, err := decode(r, "member", memberAttrs)
	if err != nil {
		return err
	}
	poolID := in.str("pool_id")
	m := &lb.Member{ID: a.newID(), AdminStateUp: true, Weight: lb.DefaultWeight, VNICType: lb.VNICNormal,
		Address: in.str("address"), Tags: []string{}}
	m.ProtocolPort, _ = in.integer("protocol_port")
	if n, ok := in.integer("weight"); ok {
		m.Weight = n
	}
	if v, ok := in.flag("admin_state_up"); ok {
		m.AdminStateUp = v
	}
	err = a.opts.Writer.Together(r.Context(), func(ctx context.Context, tx store.Tx) error {
		v, err := a.visiblePool(ctx, tx, c, poolID)
		if err != nil {
			return err
		}
		if p := in.str("tenant_id"); p != "" && p != v.pool.ProjectID {
			return &Error{Code: http.StatusForbidden, Type: "NotAuthorized", Message: "Not authorized."}
		}
		if err := writableV1(poolID, v.pool.Status); err != nil {
			return err
		}
		for _, x := range v.members {
			if x.Address == m.Address && x.ProtocolPort == m.ProtocolPort {
				return &Error{Code: http.StatusConflict, Type: "MemberExists",
					Message: "Member with address " + m.Address + " and port " + itoa(m.ProtocolPort) + " already present in pool " + poolID}
			}
		}
		_, err = a.opts.Writer.CreateMember(ctx, change.MemberCreate{PoolID: poolID, Member: m, Allow: a.allow(c, policy.Member, policy.Post)})
		return err
	})
	if err != nil {
		return err
	}
	out, err := a.renderMemberByID(r.Context(), m.ID)
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusCreated, "member", out)
}

// updateMember changes weight and admin state. v1 also moved a member to
// another pool (pool_id); here a member belongs to its pool for good.
func (a *API) updateMember(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	in, err := decode(r, "member", memberAttrs)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	err = a.opts.Writer.Together(r.Context(), func(ctx context.Context, tx store.Tx) error {
		m, _, err := a.visibleMember(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if err := writableV1(id, m.Status); err != nil {
			return err
		}
		if p := in.str("pool_id"); in.has("pool_id") && p != m.PoolID {
			return &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest",
				Message: "A member cannot move to another pool here: delete member " + id + " and create it in pool " + p + "."}
		}
		_, err = a.opts.Writer.UpdateMember(ctx, change.MemberUpdate{PoolID: m.PoolID, ID: id, Allow: a.allow(c, policy.Member, policy.Put),
			Apply: func(m *lb.Member) error {
				if n, ok := in.integer("weight"); ok {
					m.Weight = n
				}
				if v, ok := in.flag("admin_state_up"); ok {
					m.AdminStateUp = v
				}
				return nil
			}})
		return err
	})
	if err != nil {
		return err
	}
	out, err := a.renderMemberByID(r.Context(), id)
	if err != nil {
		return err
	}
	return writeOne(w, r, http.StatusOK, "member", out)
}

func (a *API) deleteMember(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	id := r.PathValue("id")
	err := a.opts.Writer.Together(r.Context(), func(ctx context.Context, tx store.Tx) error {
		m, _, err := a.visibleMember(ctx, tx, c, id)
		if err != nil {
			return err
		}
		return notFoundAs(a.opts.Writer.DeleteMember(ctx, m.PoolID, id, a.allow(c, policy.Member, policy.Delete)), memberNotFound, id)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
