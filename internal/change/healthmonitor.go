package change

import (
	"context"
	"errors"
	"fmt"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// HealthMonitorCreate is a new health monitor of a pool.
type HealthMonitorCreate struct {
	// Monitor has its pool id and the attributes of the request (defaults
	// applied); an empty id gets one.
	Monitor *lb.HealthMonitor
	Allow   Allow
}

// CreateHealthMonitor adds a pool's health monitor (PENDING_CREATE; the
// pool, its listeners and the load balancer PENDING_UPDATE). A pool has at
// most one (409).
func (w *Writer) CreateHealthMonitor(ctx context.Context, in HealthMonitorCreate) (*lb.HealthMonitor, error) {
	h := in.Monitor
	w.assignID(&h.ID)
	err := w.write(ctx, func(t *txn) error {
		p, err := t.pool(h.PoolID)
		if err != nil {
			return err
		}
		parent, err := t.lock(p.LoadBalancerID, in.Allow)
		if err != nil {
			return err
		}
		if err := t.reserve(map[lb.QuotaResource]int{lb.QuotaHealthMonitor: 1}); err != nil {
			return err
		}
		if err := h.CheckTypeFields(); err != nil {
			return err
		}
		h.ApplyTypeDefaults()
		if err := h.Validate(w.settings, p.Protocol); err != nil {
			return err
		}
		if err := lb.CheckProviderMonitor(parent.Provider, h.Type); err != nil {
			return err
		}
		if err := writable(resPool, p.ID, p.Status); err != nil {
			return err
		}
		if err := writable(resLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		if n, err := t.tx.HealthMonitors().Count(t.ctx, store.F("pool_id", p.ID)); err != nil {
			return err
		} else if n > 0 {
			return secondMonitor()
		}
		if err := t.begin(lb.PendingUpdate); err != nil {
			return err
		}
		if err := t.markPool(p); err != nil {
			return err
		}
		h.LoadBalancerID, h.ProjectID = parent.ID, parent.ProjectID
		h.Status, h.Times = t.created(), lb.Times{CreatedAt: t.now}
		if err := t.tx.HealthMonitors().Create(t.ctx, h); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return secondMonitor()
			}
			return fmt.Errorf("create health monitor %s: %w", h.ID, err)
		}
		return nil
	})
	return h, err
}

func secondMonitor() error { return lb.Conflict("This pool already has a health monitor") }

// HealthMonitorUpdate changes a health monitor.
type HealthMonitorUpdate struct {
	ID    string
	Allow Allow
	// Apply changes the monitor as the request asks (attributes sent as
	// null back to their defaults); an error refuses the write.
	Apply func(*lb.HealthMonitor) error
}

// UpdateHealthMonitor changes a health monitor (PENDING_UPDATE with its
// pool, the pool's listeners and the load balancer).
func (w *Writer) UpdateHealthMonitor(ctx context.Context, in HealthMonitorUpdate) (*lb.HealthMonitor, error) {
	var out *lb.HealthMonitor
	err := w.write(ctx, func(t *txn) error {
		p, h, err := t.lockMonitor(in.ID, in.Allow)
		if err != nil {
			return err
		}
		if err := in.Apply(h); err != nil {
			return err
		}
		if err := h.Validate(w.settings, p.Protocol); err != nil {
			return err
		}
		if err := t.changeMonitor(p, h, lb.PendingUpdate); err != nil {
			return err
		}
		out = h
		return nil
	})
	return out, err
}

// DeleteHealthMonitor marks a health monitor PENDING_DELETE (its pool, the
// pool's listeners and the load balancer PENDING_UPDATE).
func (w *Writer) DeleteHealthMonitor(ctx context.Context, id string, allow Allow) error {
	return w.write(ctx, func(t *txn) error {
		p, h, err := t.lockMonitor(id, allow)
		if err != nil {
			return err
		}
		return t.changeMonitor(p, h, lb.PendingDelete)
	})
}

// lockMonitor loads a health monitor and its pool and locks their load
// balancer.
func (t *txn) lockMonitor(id string, allow Allow) (*lb.Pool, *lb.HealthMonitor, error) {
	h, err := t.healthMonitor(id)
	if err != nil {
		return nil, nil, err
	}
	p, err := t.pool(h.PoolID)
	if err != nil {
		return nil, nil, err
	}
	if _, err := t.lock(p.LoadBalancerID, allow); err != nil {
		return nil, nil, err
	}
	return p, h, nil
}

// changeMonitor records change st of a health monitor, its pool being
// written: the monitor, the pool and the load balancer must not be being
// deleted.
func (t *txn) changeMonitor(p *lb.Pool, h *lb.HealthMonitor, st lb.ProvisioningStatus) error {
	if err := writable(resHealthMonitor, h.ID, h.Status); err != nil {
		return err
	}
	if err := writable(resPool, p.ID, p.Status); err != nil {
		return err
	}
	if err := writable(resLoadBalancer, t.lb.ID, t.lb.Status); err != nil {
		return err
	}
	if err := t.begin(lb.PendingUpdate); err != nil {
		return err
	}
	if err := t.markPool(p); err != nil {
		return err
	}
	t.stamp(&h.Status, &h.Times, st)
	return t.tx.HealthMonitors().Update(t.ctx, h)
}
