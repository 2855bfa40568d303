package apiserver

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Lookups inside a transaction, translating store.ErrNotFound into the
// user-facing 404 of the resource.

// found adapts a (value, error) pair so the resource name can be supplied
// afterwards: found(tx.X().Get(ctx, id))(name, id).
func found[T any](v *T, err error) func(resource, id string) (*T, error) {
	return func(resource, id string) (*T, error) {
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound(resource, id)
		}
		return v, err
	}
}

func getLB(ctx context.Context, tx store.Tx, id string) (*lb.LoadBalancer, error) {
	l, err := found(tx.LoadBalancers().Get(ctx, id))(nameLoadBalancer, id)
	if err == nil && l.Status.Provisioning == lb.Deleted {
		return nil, notFound(nameLoadBalancer, id)
	}
	return l, err
}

// lockLB locks the load balancer row for a write.
func lockLB(ctx context.Context, tx store.Tx, id string) (*lb.LoadBalancer, error) {
	l, err := found(tx.LoadBalancers().Lock(ctx, id))(nameLoadBalancer, id)
	if err == nil && l.Status.Provisioning == lb.Deleted {
		return nil, notFound(nameLoadBalancer, id)
	}
	return l, err
}

func getListener(ctx context.Context, tx store.Tx, id string) (*lb.Listener, error) {
	return found(tx.Listeners().Get(ctx, id))(nameListener, id)
}

func getPool(ctx context.Context, tx store.Tx, id string) (*lb.Pool, error) {
	return found(tx.Pools().Get(ctx, id))(namePool, id)
}

func getMember(ctx context.Context, tx store.Tx, id string) (*lb.Member, error) {
	return found(tx.Members().Get(ctx, id))(nameMember, id)
}

func getHealthMonitor(ctx context.Context, tx store.Tx, id string) (*lb.HealthMonitor, error) {
	return found(tx.HealthMonitors().Get(ctx, id))(nameHealthMonitor, id)
}

// writable refuses writes on an object being deleted: the only state in
// which fulcrum answers 409 (no "immutable" conflicts otherwise).
func writable(kind, id string, st lb.Status) error {
	if st.Provisioning == lb.PendingDelete || st.Provisioning == lb.Deleted {
		return invalidState(kind, id, st.Provisioning)
	}
	return nil
}

// change is one write in progress on a load balancer: the locked row, the
// new generation every touched object is stamped with, and the time.
type change struct {
	ctx context.Context
	tx  store.Tx
	lb  *lb.LoadBalancer
	gen int64
	now time.Time
}

// begin starts the generation of a change to l (already locked and checked
// writable): l becomes PENDING_UPDATE unless it is being created.
func begin(ctx context.Context, tx store.Tx, l *lb.LoadBalancer, now time.Time) *change {
	gen := l.NextGeneration()
	l.Touch(now)
	return &change{ctx: ctx, tx: tx, lb: l, gen: gen, now: now}
}

// commitLB writes the load balancer row.
func (c *change) commitLB() error { return c.tx.LoadBalancers().Update(c.ctx, c.lb) }

// lockListeners marks listeners PENDING_UPDATE (Octavia locks a pool's
// listeners on every pool, member and health monitor change) and writes
// them.
func (c *change) lockListeners(ls []*lb.Listener) error {
	for _, l := range ls {
		l.Status.Change(lb.PendingUpdate, c.gen)
		l.Touch(c.now)
		if err := c.tx.Listeners().Update(c.ctx, l); err != nil {
			return err
		}
	}
	return nil
}

// lockPool marks a pool and its listeners PENDING_UPDATE and writes them.
func (c *change) lockPool(p *lb.Pool) error {
	ls, err := poolListeners(c.ctx, c.tx, p.ID)
	if err != nil {
		return err
	}
	if err := c.lockListeners(ls); err != nil {
		return err
	}
	p.Status.Change(lb.PendingUpdate, c.gen)
	p.Touch(c.now)
	return c.tx.Pools().Update(c.ctx, p)
}

// poolListeners returns a pool's listeners in Octavia's sense: those using
// it as default pool plus those owning an enabled L7 policy with at least
// one rule that redirects to it.
func poolListeners(ctx context.Context, tx store.Tx, poolID string) ([]*lb.Listener, error) {
	ls, err := tx.Listeners().List(ctx, store.Query{Filters: []store.Filter{store.F("default_pool_id", poolID)}})
	if err != nil {
		return nil, err
	}
	extra, err := redirectListeners(ctx, tx, []string{poolID})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, l := range extra[poolID] {
		if !slices.ContainsFunc(ls, func(x *lb.Listener) bool { return x.ID == l }) && !slices.Contains(ids, l) {
			ids = append(ids, l)
		}
	}
	if len(ids) > 0 {
		more, err := tx.Listeners().List(ctx, store.Query{Filters: []store.Filter{store.In("id", ids...)}})
		if err != nil {
			return nil, err
		}
		ls = append(ls, more...)
	}
	return ls, nil
}

// redirectListeners maps each pool id to the listeners of the enabled L7
// policies with rules that redirect to it.
func redirectListeners(ctx context.Context, tx store.Tx, poolIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(poolIDs) == 0 {
		return out, nil
	}
	pols, err := tx.L7Policies().List(ctx, store.Query{Filters: []store.Filter{
		store.In("redirect_pool_id", poolIDs...), store.F("admin_state_up", "true")}})
	if err != nil || len(pols) == 0 {
		return out, err
	}
	ids := make([]string, len(pols))
	for i, p := range pols {
		ids[i] = p.ID
	}
	rules, err := tx.L7Rules().Refs(ctx, "l7policy_id", ids)
	if err != nil {
		return nil, err
	}
	for _, p := range pols {
		if len(rules[p.ID]) > 0 && !slices.Contains(out[p.RedirectPoolID], p.ListenerID) {
			out[p.RedirectPoolID] = append(out[p.RedirectPoolID], p.ListenerID)
		}
	}
	return out, nil
}
