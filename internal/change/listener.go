package change

import (
	"context"
	"fmt"
	"strconv"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// ListenerCreate is a new listener.
type ListenerCreate struct {
	// Listener is the new listener with its load balancer id and the
	// attributes of the request (defaults applied); an empty id gets one.
	Listener *lb.Listener
	Allow    Allow
	// WithDefaultPool and WithL7Policies say that the request also
	// described a default pool or L7 policies inline, which only a fully
	// populated load balancer create may: the write is refused.
	WithDefaultPool, WithL7Policies bool
}

// CreateListener adds a listener to a load balancer (PENDING_CREATE; the
// load balancer PENDING_UPDATE).
func (w *Writer) CreateListener(ctx context.Context, in ListenerCreate) (*lb.Listener, error) {
	l := in.Listener
	w.assignID(&l.ID)
	err := w.write(ctx, func(t *txn) error {
		parent, err := t.lock(l.LoadBalancerID, in.Allow)
		if err != nil {
			return err
		}
		if err := t.reserve(map[lb.QuotaResource]int{lb.QuotaListener: 1}); err != nil {
			return err
		}
		l.ProjectID = parent.ProjectID
		if in.WithDefaultPool {
			return lb.Invalid("default_pool can only be specified when creating a fully populated load balancer.")
		}
		if in.WithL7Policies {
			return lb.Invalid("l7policies can only be specified when creating a fully populated load balancer.")
		}
		if err := t.checkDefaultPool(l); err != nil {
			return err
		}
		l.ApplyTLSDefaults()
		if err := l.ValidateFor(parent, w.settings, false); err != nil {
			return err
		}
		if err := writable(resLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		if err := t.checkListenerPort(l); err != nil {
			return err
		}
		if err := t.checkListenerRefs(l); err != nil {
			return err
		}
		if err := t.begin(lb.PendingUpdate); err != nil {
			return err
		}
		l.Status, l.Times = t.created(), lb.Times{CreatedAt: t.now}
		if err := t.tx.Listeners().Create(t.ctx, l); err != nil {
			return fmt.Errorf("create listener %s: %w", l.ID, err)
		}
		return nil
	})
	return l, err
}

// checkDefaultPool validates a listener's default pool: same load balancer
// (else not found), not being deleted, a protocol the listener can use.
func (t *txn) checkDefaultPool(l *lb.Listener) error {
	if l.DefaultPoolID == "" {
		return nil
	}
	if l.Protocol == lb.ProtocolPrometheus {
		return lb.ErrPrometheusChildren
	}
	p, err := t.pool(l.DefaultPoolID)
	if err != nil {
		return err
	}
	if p.LoadBalancerID != l.LoadBalancerID {
		return lb.NotFound(lb.NamePool, l.DefaultPoolID)
	}
	if err := lb.CheckListenerPool(l.Protocol, p.Protocol); err != nil {
		return err
	}
	return writable(resPool, p.ID, p.Status)
}

// checkListenerPort refuses a second listener on the same port of a load
// balancer within the same transport group (TCP-based protocols share one,
// UDP another, SCTP a third).
func (t *txn) checkListenerPort(l *lb.Listener) error {
	others, err := t.tx.Listeners().List(t.ctx, store.Query{Filters: []store.Filter{
		store.F("loadbalancer_id", l.LoadBalancerID), store.F("protocol_port", strconv.Itoa(l.ProtocolPort))}})
	if err != nil {
		return err
	}
	for _, x := range others {
		if x.ID != l.ID && lb.PortGroup(x.Protocol) == lb.PortGroup(l.Protocol) {
			return lb.Conflict("Another Listener on this Load Balancer is already using protocol %s and protocol_port %d", x.Protocol, l.ProtocolPort)
		}
	}
	return nil
}

// ListenerUpdate changes a listener.
type ListenerUpdate struct {
	ID    string
	Allow Allow
	// Apply changes the listener as the request asks (attributes sent as
	// null back to their defaults); an error refuses the write.
	Apply func(*lb.Listener) error
	// Sent: the key-manager references sent are checked again, and a
	// default_pool_id sent is validated.
	Sent Sent
}

// UpdateListener changes a listener (PENDING_UPDATE; the load balancer
// PENDING_UPDATE).
func (w *Writer) UpdateListener(ctx context.Context, in ListenerUpdate) (*lb.Listener, error) {
	var out *lb.Listener
	err := w.write(ctx, func(t *txn) error {
		l, err := t.listener(in.ID)
		if err != nil {
			return err
		}
		parent, err := t.lock(l.LoadBalancerID, in.Allow)
		if err != nil {
			return err
		}
		if err := in.Apply(l); err != nil {
			return err
		}
		if err := l.ValidateFor(parent, w.settings, true); err != nil {
			return err
		}
		if err := t.checkListenerUpdateRefs(l, in.Sent); err != nil {
			return err
		}
		if in.Sent.has("default_pool_id") {
			if err := t.checkDefaultPool(l); err != nil {
				return err
			}
		}
		if err := writable(resListener, l.ID, l.Status); err != nil {
			return err
		}
		if err := writable(resLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		if err := t.begin(lb.PendingUpdate); err != nil {
			return err
		}
		out = l
		return t.markListeners(l)
	})
	return out, err
}

// DeleteListener marks a listener PENDING_DELETE with its L7 policies and
// their rules.
func (w *Writer) DeleteListener(ctx context.Context, id string, allow Allow) error {
	return w.write(ctx, func(t *txn) error {
		l, err := t.listener(id)
		if err != nil {
			return err
		}
		parent, err := t.lock(l.LoadBalancerID, allow)
		if err != nil {
			return err
		}
		if err := writable(resListener, id, l.Status); err != nil {
			return err
		}
		if err := writable(resLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		if err := t.begin(lb.PendingUpdate); err != nil {
			return err
		}
		t.stamp(&l.Status, &l.Times, lb.PendingDelete)
		if err := t.tx.Listeners().Update(t.ctx, l); err != nil {
			return err
		}
		pols, err := t.tx.L7Policies().List(t.ctx, store.Query{Filters: []store.Filter{store.F("listener_id", id)}})
		if err != nil {
			return err
		}
		return t.deletePolicies(pols)
	})
}

// deletePolicies marks policies and their rules PENDING_DELETE: they go
// with the listener or policy being deleted.
func (t *txn) deletePolicies(pols []*lb.L7Policy) error {
	if len(pols) == 0 {
		return nil
	}
	ids := make([]string, len(pols))
	for i, p := range pols {
		ids[i] = p.ID
		p.Status.Change(lb.PendingDelete, t.gen)
		if err := t.tx.L7Policies().Update(t.ctx, p); err != nil {
			return err
		}
	}
	rules, err := t.tx.L7Rules().List(t.ctx, store.Query{Filters: []store.Filter{store.In("l7policy_id", ids...)}})
	if err != nil {
		return err
	}
	for _, r := range rules {
		r.Status.Change(lb.PendingDelete, t.gen)
		if err := t.tx.L7Rules().Update(t.ctx, r); err != nil {
			return err
		}
	}
	return nil
}
