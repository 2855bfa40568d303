package change

import (
	"context"

	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// Amphorae are the placements of load balancers on data-plane agents, as
// the fulcrum provider records them. Failover marks one for replacement
// (the controller moves the load balancer to another agent when there is
// one); reconfiguring reconciles its load balancer again; deleting removes
// a placement in ERROR (the load balancer is placed afresh).

// FailoverAmphora marks a placement for replacement and starts a new
// generation of its load balancer.
func (w *Writer) FailoverAmphora(ctx context.Context, id string, allow Allow) error {
	return w.write(ctx, func(t *txn) error {
		a, err := t.amphora(id)
		if err != nil {
			return err
		}
		l, err := t.lock(a.LoadBalancerID, allow)
		if err != nil {
			return err
		}
		if err := writable(resLoadBalancer, l.ID, l.Status); err != nil {
			return err
		}
		if err := t.begin(lb.PendingUpdate); err != nil {
			return err
		}
		return t.markFailover(a)
	})
}

// markFailover flags a placement as being replaced (Octavia shows a failed
// amphora PENDING_DELETE while its replacement is built).
func (t *txn) markFailover(a *lb.Amphora) error {
	a.Status = lb.AmphoraPendingDelete
	a.Touch(t.now)
	return t.tx.Amphorae().Update(t.ctx, a)
}

// ReconfigureAmphora reconciles the amphora's load balancer again, which
// publishes its current configuration to the agent. Nothing is written.
func (w *Writer) ReconfigureAmphora(ctx context.Context, id string, allow Allow) error {
	return w.run(ctx, w.store.View, func(t *txn) error {
		a, err := t.amphora(id)
		if err != nil {
			return err
		}
		l, err := found(t.tx.LoadBalancers().Get(t.ctx, a.LoadBalancerID))(lb.NameLoadBalancer, a.LoadBalancerID)
		if err == nil && l.Status.Provisioning == lb.Deleted {
			err = lb.NotFound(lb.NameLoadBalancer, a.LoadBalancerID)
		}
		if err != nil {
			return err
		}
		if allow != nil {
			if err := allow(l.ProjectID); err != nil {
				return err
			}
		}
		t.wake = l.ID
		return nil
	})
}

// DeleteAmphora removes a placement in ERROR (any other is refused, 409);
// its load balancer is placed afresh by the reconcile this starts. The
// caller authorizes beforehand: amphorae belong to the operator.
func (w *Writer) DeleteAmphora(ctx context.Context, id string) error {
	return w.write(ctx, func(t *txn) error {
		a, err := t.amphora(id)
		if err != nil {
			return err
		}
		if a.Status != lb.AmphoraError {
			return lb.Conflict("amphora %s is immutable and cannot be updated.", id)
		}
		t.wake = a.LoadBalancerID
		return t.tx.Amphorae().Delete(t.ctx, id)
	})
}
