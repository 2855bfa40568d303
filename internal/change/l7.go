package change

import (
	"context"
	"fmt"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// L7 policies are ordered per listener with dense positions 1..N; their
// action follows from the redirect arguments sent. Every policy write locks
// the load balancer and the policy's listener, every rule write the load
// balancer, the listener and the policy.

// L7PolicyCreate is a new L7 policy, with rules or without.
type L7PolicyCreate struct {
	// Policy has its listener id and its plain attributes (name,
	// description, admin_state_up, tags); an empty id gets one.
	Policy *lb.L7Policy
	// Args are the action and redirect arguments as sent.
	Args lb.L7PolicyArgs
	// Position is where the policy goes (lb.MaxPosition or anything past
	// the end: last); the others move to keep positions dense.
	Position int
	// Rules are created with the policy (each validated as a whole).
	Rules []*lb.L7Rule
	Allow Allow
}

// CreateL7Policy adds a policy to a listener (PENDING_CREATE with its
// rules; the listener and the load balancer PENDING_UPDATE).
func (w *Writer) CreateL7Policy(ctx context.Context, in L7PolicyCreate) (*lb.L7Policy, []*lb.L7Rule, error) {
	p, args := in.Policy, in.Args
	w.assignID(&p.ID)
	err := w.write(ctx, func(t *txn) error {
		listener, err := t.listener(p.ListenerID)
		if err != nil {
			return err
		}
		parent, err := t.lock(listener.LoadBalancerID, in.Allow)
		if err != nil {
			return err
		}
		if listener.Protocol == lb.ProtocolPrometheus {
			return lb.ErrPrometheusChildren
		}
		if id := args.RedirectPoolID.V; id != nil && *id != "" {
			if err := t.checkRedirectPool(listener, *id); err != nil {
				return err
			}
		}
		want := map[lb.QuotaResource]int{lb.QuotaL7Policy: 1}
		if len(in.Rules) > 0 {
			want[lb.QuotaL7Rule] = len(in.Rules)
		}
		if err := t.reserve(want); err != nil {
			return err
		}
		if err := args.Sanitize(true); err != nil {
			return err
		}
		args.ApplyCreate(p)
		if len(in.Rules) > lb.MaxRulesPerPolicy {
			return tooManyRules(p.ID)
		}
		for _, r := range in.Rules {
			if err := r.Validate(); err != nil {
				return err
			}
		}
		if err := writable(resListener, listener.ID, listener.Status); err != nil {
			return err
		}
		if err := writable(resLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		if p.Action == lb.ActionRedirectToPool {
			if err := t.checkRedirectPoolOwner(listener, p.RedirectPoolID); err != nil {
				return err
			}
		}
		if listener.Protocol != lb.ProtocolHTTP && listener.Protocol != lb.ProtocolTerminatedHTTPS {
			// As Octavia's amphora provider: L7 policies match HTTP requests.
			return lb.Unsupported(parent.Provider, listener.Protocol+" protocol listeners do not support L7 policies")
		}
		if err := t.begin(lb.PendingUpdate); err != nil {
			return err
		}
		p.ProjectID, p.LoadBalancerID = parent.ProjectID, parent.ID
		p.Status, p.Times = t.created(), lb.Times{CreatedAt: t.now}
		others, err := livePolicies(t.ctx, t.tx, listener.ID)
		if err != nil {
			return err
		}
		if err := savePositions(t.ctx, t.tx, lb.MovePolicy(others, p, in.Position), p); err != nil {
			return err
		}
		if err := t.tx.L7Policies().Create(t.ctx, p); err != nil {
			return fmt.Errorf("create l7 policy %s: %w", p.ID, err)
		}
		for _, r := range in.Rules {
			w.assignID(&r.ID)
			t.newRule(r, p)
			if err := t.tx.L7Rules().Create(t.ctx, r); err != nil {
				return fmt.Errorf("create l7 rule %s: %w", r.ID, err)
			}
		}
		return t.markListeners(listener)
	})
	return p, in.Rules, err
}

func tooManyRules(policyID string) error {
	return lb.Conflict("Too many rules on L7 policy %s", policyID)
}

// newRule links a rule the write creates to its policy and stamps it.
func (t *txn) newRule(r *lb.L7Rule, p *lb.L7Policy) {
	r.ProjectID, r.L7PolicyID, r.LoadBalancerID = p.ProjectID, p.ID, p.LoadBalancerID
	r.Status, r.Times = t.created(), lb.Times{CreatedAt: t.now}
}

// checkRedirectPool is Octavia's first redirect pool check, on the
// redirect_pool_id sent (before the arguments are sanitized): the pool must
// exist, not be being deleted, and have a protocol the listener can use.
func (t *txn) checkRedirectPool(l *lb.Listener, id string) error {
	p, err := t.pool(id)
	if err != nil {
		return err
	}
	if err := lb.CheckListenerPool(l.Protocol, p.Protocol); err != nil {
		return err
	}
	return writable(resPool, p.ID, p.Status)
}

// checkRedirectPoolOwner is the second, on a REDIRECT_TO_POOL policy (after
// sanitizing): its pool must belong to the listener's load balancer and
// project.
func (t *txn) checkRedirectPoolOwner(l *lb.Listener, id string) error {
	p, err := t.pool(id)
	if err != nil {
		return err
	}
	if p.LoadBalancerID != l.LoadBalancerID || p.ProjectID != l.ProjectID {
		return lb.NotFound(lb.NamePool, id)
	}
	return nil
}

// L7PolicyUpdate changes an L7 policy.
type L7PolicyUpdate struct {
	ID string
	// Args are the action and redirect arguments as sent.
	Args lb.L7PolicyArgs
	// Position, when set, moves the policy; the others close ranks.
	Position *int
	// Apply changes the policy's plain attributes as the request asks; an
	// error refuses the write.
	Apply func(*lb.L7Policy) error
	Allow Allow
}

// UpdateL7Policy changes a policy (PENDING_UPDATE; its listener and the load
// balancer PENDING_UPDATE).
func (w *Writer) UpdateL7Policy(ctx context.Context, in L7PolicyUpdate) (*lb.L7Policy, error) {
	args := in.Args
	var out *lb.L7Policy
	err := w.write(ctx, func(t *txn) error {
		p, listener, parent, err := t.lockPolicy(in.ID, in.Allow)
		if err != nil {
			return err
		}
		if err := args.Sanitize(false); err != nil {
			return err
		}
		if id := args.RedirectPoolID.V; id != nil && *id != "" {
			if err := t.checkRedirectPool(listener, *id); err != nil {
				return err
			}
		}
		if err := writable(resL7Policy, p.ID, p.Status); err != nil {
			return err
		}
		if err := writable(resListener, listener.ID, listener.Status); err != nil {
			return err
		}
		if err := writable(resLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		args.ApplyUpdate(p)
		if args.Action.Set && p.Action == lb.ActionRedirectToPool {
			if err := t.checkRedirectPoolOwner(listener, p.RedirectPoolID); err != nil {
				return err
			}
		}
		if err := in.Apply(p); err != nil {
			return err
		}
		if err := t.begin(lb.PendingUpdate); err != nil {
			return err
		}
		if in.Position != nil && *in.Position != p.Position {
			others, err := livePolicies(t.ctx, t.tx, listener.ID)
			if err != nil {
				return err
			}
			if err := savePositions(t.ctx, t.tx, lb.MovePolicy(others, p, *in.Position), p); err != nil {
				return err
			}
		}
		t.stamp(&p.Status, &p.Times, lb.PendingUpdate)
		if err := t.tx.L7Policies().Update(t.ctx, p); err != nil {
			return err
		}
		out = p
		return t.markListeners(listener)
	})
	return out, err
}

// DeleteL7Policy marks a policy PENDING_DELETE with its rules; the
// listener's other policies close ranks.
func (w *Writer) DeleteL7Policy(ctx context.Context, id string, allow Allow) error {
	return w.write(ctx, func(t *txn) error {
		p, listener, parent, err := t.lockPolicy(id, allow)
		if err != nil {
			return err
		}
		if err := writable(resL7Policy, p.ID, p.Status); err != nil {
			return err
		}
		if err := writable(resLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		if err := t.begin(lb.PendingUpdate); err != nil {
			return err
		}
		t.stamp(&p.Status, &p.Times, lb.PendingDelete)
		if err := t.tx.L7Policies().Update(t.ctx, p); err != nil {
			return err
		}
		rules, err := t.tx.L7Rules().List(t.ctx, store.Query{Filters: []store.Filter{store.F("l7policy_id", id)}})
		if err != nil {
			return err
		}
		for _, r := range rules {
			r.Status.Change(lb.PendingDelete, t.gen)
			if err := t.tx.L7Rules().Update(t.ctx, r); err != nil {
				return err
			}
		}
		rest, err := livePolicies(t.ctx, t.tx, listener.ID)
		if err != nil {
			return err
		}
		if err := savePositions(t.ctx, t.tx, lb.Renumber(rest), nil); err != nil {
			return err
		}
		return t.markListeners(listener)
	})
}

// lockPolicy loads a policy and its listener and locks their load balancer.
func (t *txn) lockPolicy(id string, allow Allow) (*lb.L7Policy, *lb.Listener, *lb.LoadBalancer, error) {
	p, err := t.policy(id)
	if err != nil {
		return nil, nil, nil, err
	}
	listener, err := t.listener(p.ListenerID)
	if err != nil {
		return nil, nil, nil, err
	}
	parent, err := t.lock(p.LoadBalancerID, allow)
	if err != nil {
		return nil, nil, nil, err
	}
	return p, listener, parent, nil
}

// L7RuleCreate is a new rule of an L7 policy.
type L7RuleCreate struct {
	PolicyID string
	// Rule has the attributes of the request; an empty id gets one.
	Rule  *lb.L7Rule
	Allow Allow
}

// CreateL7Rule adds a rule to a policy (PENDING_CREATE; the policy, its
// listener and the load balancer PENDING_UPDATE). A policy has at most
// lb.MaxRulesPerPolicy live rules (409).
func (w *Writer) CreateL7Rule(ctx context.Context, in L7RuleCreate) (*lb.L7Rule, error) {
	r := in.Rule
	w.assignID(&r.ID)
	err := w.write(ctx, func(t *txn) error {
		p, listener, parent, err := t.lockRulePolicy(in.PolicyID, in.Allow)
		if err != nil {
			return err
		}
		if err := r.Validate(); err != nil {
			return err
		}
		n, err := liveRuleCount(t.ctx, t.tx, p.ID)
		if err != nil {
			return err
		}
		if n >= lb.MaxRulesPerPolicy {
			return tooManyRules(p.ID)
		}
		if err := t.reserve(map[lb.QuotaResource]int{lb.QuotaL7Rule: 1}); err != nil {
			return err
		}
		if err := writableRuleParents(p, listener, parent); err != nil {
			return err
		}
		if err := t.begin(lb.PendingUpdate); err != nil {
			return err
		}
		t.newRule(r, p)
		if err := t.tx.L7Rules().Create(t.ctx, r); err != nil {
			return fmt.Errorf("create l7 rule %s: %w", r.ID, err)
		}
		return t.markPolicy(p, listener)
	})
	return r, err
}

// L7RuleUpdate changes a rule of an L7 policy.
type L7RuleUpdate struct {
	PolicyID, ID string
	Allow        Allow
	// Apply changes the rule as the request asks and returns the rule to
	// validate, which may differ from the one kept: Octavia validates the
	// request's view, where a key or value sent as null is null, but keeps
	// the stored one.
	Apply func(*lb.L7Rule) (checked lb.L7Rule)
}

// UpdateL7Rule changes a rule (PENDING_UPDATE; its policy, the listener and
// the load balancer PENDING_UPDATE).
func (w *Writer) UpdateL7Rule(ctx context.Context, in L7RuleUpdate) (*lb.L7Rule, error) {
	var out *lb.L7Rule
	err := w.write(ctx, func(t *txn) error {
		p, listener, parent, r, err := t.lockRule(in.PolicyID, in.ID, in.Allow)
		if err != nil {
			return err
		}
		checked := in.Apply(r)
		if err := checked.Validate(); err != nil {
			return err
		}
		if err := t.changeRule(p, listener, parent, r, lb.PendingUpdate); err != nil {
			return err
		}
		out = r
		return nil
	})
	return out, err
}

// DeleteL7Rule marks a rule PENDING_DELETE (its policy, the listener and
// the load balancer PENDING_UPDATE).
func (w *Writer) DeleteL7Rule(ctx context.Context, policyID, id string, allow Allow) error {
	return w.write(ctx, func(t *txn) error {
		p, listener, parent, r, err := t.lockRule(policyID, id, allow)
		if err != nil {
			return err
		}
		return t.changeRule(p, listener, parent, r, lb.PendingDelete)
	})
}

// lockRulePolicy loads the policy of a rule path (not found as Octavia's
// rules sub-path names it), its listener, and locks their load balancer.
func (t *txn) lockRulePolicy(policyID string, allow Allow) (*lb.L7Policy, *lb.Listener, *lb.LoadBalancer, error) {
	p, err := found(t.tx.L7Policies().Get(t.ctx, policyID))(lb.NameL7RulePolicy, policyID)
	if err != nil {
		return nil, nil, nil, err
	}
	listener, err := t.listener(p.ListenerID)
	if err != nil {
		return nil, nil, nil, err
	}
	parent, err := t.lock(p.LoadBalancerID, allow)
	if err != nil {
		return nil, nil, nil, err
	}
	return p, listener, parent, nil
}

// lockRule is lockRulePolicy and the rule of that policy.
func (t *txn) lockRule(policyID, id string, allow Allow) (*lb.L7Policy, *lb.Listener, *lb.LoadBalancer, *lb.L7Rule, error) {
	p, listener, parent, err := t.lockRulePolicy(policyID, allow)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	r, err := t.rule(p.ID, id)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return p, listener, parent, r, nil
}

// changeRule records change st of a rule: the rule, its policy, the
// listener and the load balancer must not be being deleted.
func (t *txn) changeRule(p *lb.L7Policy, l *lb.Listener, parent *lb.LoadBalancer, r *lb.L7Rule, st lb.ProvisioningStatus) error {
	if err := writable(resL7Rule, r.ID, r.Status); err != nil {
		return err
	}
	if err := writableRuleParents(p, l, parent); err != nil {
		return err
	}
	if err := t.begin(lb.PendingUpdate); err != nil {
		return err
	}
	t.stamp(&r.Status, &r.Times, st)
	if err := t.tx.L7Rules().Update(t.ctx, r); err != nil {
		return err
	}
	return t.markPolicy(p, l)
}

func writableRuleParents(p *lb.L7Policy, l *lb.Listener, parent *lb.LoadBalancer) error {
	if err := writable(resL7Policy, p.ID, p.Status); err != nil {
		return err
	}
	if err := writable(resListener, l.ID, l.Status); err != nil {
		return err
	}
	return writable(resLoadBalancer, parent.ID, parent.Status)
}
