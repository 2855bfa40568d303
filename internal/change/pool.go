package change

import (
	"context"
	"fmt"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// PoolCreate is a new pool, on a load balancer or as a listener's default
// pool.
type PoolCreate struct {
	// Pool is the new pool with the attributes of the request (defaults
	// applied) and its load balancer id unless ListenerID names it; an
	// empty id gets one.
	Pool *lb.Pool
	// ListenerID, when set, makes the pool that listener's default pool
	// (the listener must be on the pool's load balancer, when that is set
	// too, and must have no default pool yet).
	ListenerID string
	Allow      Allow
	// WithHealthMonitor and WithMembers say that the request also described
	// a health monitor or members, which only a fully populated load
	// balancer create may: the write is refused.
	WithHealthMonitor, WithMembers bool
}

// CreatePool adds a pool (PENDING_CREATE; the load balancer and the
// listener it becomes the default pool of PENDING_UPDATE).
func (w *Writer) CreatePool(ctx context.Context, in PoolCreate) (*lb.Pool, error) {
	p := in.Pool
	w.assignID(&p.ID)
	if p.LoadBalancerID == "" && in.ListenerID == "" {
		return nil, lb.Invalid("Must provide at least one of: loadbalancer_id, listener_id")
	}
	err := w.write(ctx, func(t *txn) error {
		var listener *lb.Listener
		lbID := p.LoadBalancerID
		if in.ListenerID != "" {
			var err error
			if listener, err = t.listener(in.ListenerID); err != nil {
				return err
			}
			if lbID != "" && listener.LoadBalancerID != lbID {
				return lb.NotFound(lb.NameListener, in.ListenerID)
			}
			lbID = listener.LoadBalancerID
		}
		parent, err := t.lock(lbID, in.Allow)
		if err != nil {
			return err
		}
		if err := t.reserve(map[lb.QuotaResource]int{lb.QuotaPool: 1}); err != nil {
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
		if in.WithHealthMonitor {
			return lb.Invalid("healthmonitor can only be specified when creating a fully populated load balancer.")
		}
		if in.WithMembers {
			return lb.Invalid("members can only be specified when creating a fully populated load balancer.")
		}
		if listener != nil && listener.DefaultPoolID != "" {
			return lb.Conflict("This listener already has a default pool")
		}
		p.ApplyTLSDefaults()
		if err := p.Validate(w.settings, false); err != nil {
			return err
		}
		if err := lb.CheckProviderProtocol(parent.Provider, p.Protocol); err != nil {
			return err
		}
		if err := writable(resLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		if err := t.checkPoolRefs(p); err != nil {
			return err
		}
		if listener != nil {
			if err := writable(resListener, listener.ID, listener.Status); err != nil {
				return err
			}
		}
		if err := t.begin(lb.PendingUpdate); err != nil {
			return err
		}
		p.Status, p.Times = t.created(), lb.Times{CreatedAt: t.now}
		if err := t.tx.Pools().Create(t.ctx, p); err != nil {
			return fmt.Errorf("create pool %s: %w", p.ID, err)
		}
		if listener == nil {
			return nil
		}
		listener.DefaultPoolID = p.ID
		return t.markListeners(listener)
	})
	return p, err
}

// PoolUpdate changes a pool.
type PoolUpdate struct {
	ID    string
	Allow Allow
	// Apply changes the pool as the request asks; an error refuses the
	// write.
	Apply func(*lb.Pool) error
	// Sent: the key-manager references sent are checked again.
	Sent Sent
}

// UpdatePool changes a pool (PENDING_UPDATE with its listeners and load
// balancer).
func (w *Writer) UpdatePool(ctx context.Context, in PoolUpdate) (*lb.Pool, error) {
	var out *lb.Pool
	err := w.write(ctx, func(t *txn) error {
		p, err := t.pool(in.ID)
		if err != nil {
			return err
		}
		parent, err := t.lock(p.LoadBalancerID, in.Allow)
		if err != nil {
			return err
		}
		if err := in.Apply(p); err != nil {
			return err
		}
		if err := lb.CheckSessionPersistence(p.Protocol, p.SessionPersistence, true); err != nil {
			return err
		}
		if err := p.Validate(w.settings, true); err != nil {
			return err
		}
		if err := t.checkPoolUpdateRefs(p, in.Sent); err != nil {
			return err
		}
		if err := writable(resPool, p.ID, p.Status); err != nil {
			return err
		}
		if err := writable(resLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		if err := t.begin(lb.PendingUpdate); err != nil {
			return err
		}
		out = p
		return t.markPool(p)
	})
	return out, err
}

// DeletePool marks a pool PENDING_DELETE with its members and health
// monitor; listeners using it as default pool lose it now. A pool an L7
// policy redirects to is refused (409), unless that policy is being deleted
// too.
func (w *Writer) DeletePool(ctx context.Context, id string, allow Allow) error {
	return w.write(ctx, func(t *txn) error {
		p, err := t.pool(id)
		if err != nil {
			return err
		}
		parent, err := t.lock(p.LoadBalancerID, allow)
		if err != nil {
			return err
		}
		pols, err := t.tx.L7Policies().List(t.ctx, store.Query{Filters: []store.Filter{store.F("redirect_pool_id", id)}})
		if err != nil {
			return err
		}
		for _, pol := range pols {
			// A policy being deleted goes first (the controller removes
			// policies before pools).
			if pol.Status.Provisioning != lb.PendingDelete {
				return lb.Conflict("Pool %s is in use by L7 policy %s", id, pol.ID)
			}
		}
		if err := writable(resPool, id, p.Status); err != nil {
			return err
		}
		if err := writable(resLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		if err := t.begin(lb.PendingUpdate); err != nil {
			return err
		}
		ls, err := poolListeners(t.ctx, t.tx, id)
		if err != nil {
			return err
		}
		for _, l := range ls {
			if l.DefaultPoolID == id {
				l.DefaultPoolID = ""
			}
		}
		if err := t.markListeners(ls...); err != nil {
			return err
		}
		t.stamp(&p.Status, &p.Times, lb.PendingDelete)
		if err := t.tx.Pools().Update(t.ctx, p); err != nil {
			return err
		}
		byPool := store.Query{Filters: []store.Filter{store.F("pool_id", id)}}
		members, err := t.tx.Members().List(t.ctx, byPool)
		if err != nil {
			return err
		}
		for _, m := range members {
			m.Status.Change(lb.PendingDelete, t.gen)
			if err := t.tx.Members().Update(t.ctx, m); err != nil {
				return err
			}
		}
		hms, err := t.tx.HealthMonitors().List(t.ctx, byPool)
		if err != nil {
			return err
		}
		for _, h := range hms {
			h.Status.Change(lb.PendingDelete, t.gen)
			if err := t.tx.HealthMonitors().Update(t.ctx, h); err != nil {
				return err
			}
		}
		return nil
	})
}
