package change

import (
	"context"
	"errors"
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// found adapts a (value, error) pair so the resource name can be supplied
// afterwards: found(tx.X().Get(ctx, id))(name, id) turns store.ErrNotFound
// into the resource's *lb.NotFoundError.
func found[T any](v *T, err error) func(resource, id string) (*T, error) {
	return func(resource, id string) (*T, error) {
		if errors.Is(err, store.ErrNotFound) {
			return nil, lb.NotFound(resource, id)
		}
		return v, err
	}
}

func (t *txn) listener(id string) (*lb.Listener, error) {
	return found(t.tx.Listeners().Get(t.ctx, id))(lb.NameListener, id)
}

func (t *txn) pool(id string) (*lb.Pool, error) {
	return found(t.tx.Pools().Get(t.ctx, id))(lb.NamePool, id)
}

// member loads a member of pool; a member of another pool is not found.
func (t *txn) member(poolID, id string) (*lb.Member, error) {
	m, err := found(t.tx.Members().Get(t.ctx, id))(lb.NameMember, id)
	if err == nil && m.PoolID != poolID {
		return nil, lb.NotFound(lb.NameMember, id)
	}
	return m, err
}

func (t *txn) healthMonitor(id string) (*lb.HealthMonitor, error) {
	return found(t.tx.HealthMonitors().Get(t.ctx, id))(lb.NameHealthMonitor, id)
}

func (t *txn) policy(id string) (*lb.L7Policy, error) {
	return found(t.tx.L7Policies().Get(t.ctx, id))(lb.NameL7Policy, id)
}

// rule loads a rule of policy; a rule of another policy is not found.
func (t *txn) rule(policyID, id string) (*lb.L7Rule, error) {
	r, err := found(t.tx.L7Rules().Get(t.ctx, id))(lb.NameL7Rule, id)
	if err == nil && r.L7PolicyID != policyID {
		return nil, lb.NotFound(lb.NameL7Rule, id)
	}
	return r, err
}

func (t *txn) amphora(id string) (*lb.Amphora, error) {
	return found(t.tx.Amphorae().Get(t.ctx, id))(lb.NameAmphora, id)
}

// poolListeners returns a pool's listeners in Octavia's sense (see
// PoolListenerIDs), read in one statement.
func poolListeners(ctx context.Context, tx store.Tx, poolID string) ([]*lb.Listener, error) {
	return tx.PoolListeners(ctx, poolID)
}

// PoolListenerIDs maps each pool id to its listeners in Octavia's sense:
// those using it as default pool, then those owning an enabled L7 policy
// with at least one rule that redirects to it. The same definition decides
// which listeners a pool write locks and what a pool's listeners attribute
// shows.
func PoolListenerIDs(ctx context.Context, tx store.Tx, poolIDs []string) (map[string][]string, error) {
	out := make(map[string][]string, len(poolIDs))
	if len(poolIDs) == 0 {
		return out, nil
	}
	ls, err := tx.Listeners().Refs(ctx, "default_pool_id", poolIDs)
	if err != nil {
		return nil, err
	}
	redirect, err := redirectListeners(ctx, tx, poolIDs)
	if err != nil {
		return nil, err
	}
	for _, id := range poolIDs {
		out[id] = ls[id]
		for _, l := range redirect[id] {
			if !slices.Contains(out[id], l) {
				out[id] = append(out[id], l)
			}
		}
	}
	return out, nil
}

// redirectListeners maps each pool id to the listeners of the enabled L7
// policies with rules that redirect to it.
func redirectListeners(ctx context.Context, tx store.Tx, poolIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
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

// livePolicies returns the listener's policies that are not being deleted,
// in position order.
func livePolicies(ctx context.Context, tx store.Tx, listenerID string) ([]*lb.L7Policy, error) {
	all, err := tx.L7Policies().List(ctx, store.Query{Filters: []store.Filter{store.F("listener_id", listenerID)},
		Sort: []store.Sort{{Field: "position"}}})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(p *lb.L7Policy) bool { return p.Status.Provisioning == lb.PendingDelete }), nil
}

// savePositions writes the policies (other than skip) whose position
// changed.
func savePositions(ctx context.Context, tx store.Tx, changed []*lb.L7Policy, skip *lb.L7Policy) error {
	for _, p := range changed {
		if p != skip {
			if err := tx.L7Policies().Update(ctx, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// liveRuleCount counts a policy's rules that are not being deleted.
func liveRuleCount(ctx context.Context, tx store.Tx, policyID string) (int, error) {
	rules, err := tx.L7Rules().List(ctx, store.Query{Filters: []store.Filter{store.F("l7policy_id", policyID)}})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rules {
		if r.Status.Provisioning != lb.PendingDelete {
			n++
		}
	}
	return n, nil
}
