package apiserver

import (
	"context"
	"fmt"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// L7 rules (§5.7) live under /l7policies/{id}/rules: a rule of another
// policy is not found, at most 50 rules per policy, every write validates
// the whole rule (REGEX values compiled as RE2) and locks the load
// balancer, the listener and the policy.

const (
	kindL7Rule = "l7rule"
	nameL7Rule = "L7 Rule"
	// nameRulePolicy is how the rules sub-router names a missing policy.
	nameRulePolicy = "L7Policy"
)

// rulePolicy loads the policy of the path (404 "L7Policy <id> not found.").
func rulePolicy(q *request, tx store.Tx) (*lb.L7Policy, error) {
	return found(tx.L7Policies().Get(q.ctx, q.params[0]))(nameRulePolicy, q.params[0])
}

// policyRule loads a rule of the path's policy; a rule of another policy is
// not found.
func policyRule(q *request, tx store.Tx, policyID string) (*lb.L7Rule, error) {
	r, err := found(tx.L7Rules().Get(q.ctx, q.params[1]))(nameL7Rule, q.params[1])
	if err != nil {
		return nil, err
	}
	if r.L7PolicyID != policyID {
		return nil, notFound(nameL7Rule, q.params[1])
	}
	return r, nil
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

// lockPolicy marks a policy and its listener PENDING_UPDATE at c's
// generation (Octavia locks both for every rule write).
func (c *change) lockPolicy(p *lb.L7Policy, l *lb.Listener) error {
	if err := c.lockListeners([]*lb.Listener{l}); err != nil {
		return err
	}
	p.Status.Change(lb.PendingUpdate, c.gen)
	p.Touch(c.now)
	return c.tx.L7Policies().Update(c.ctx, p)
}

// ruleParents loads the policy of the path, its listener and the locked
// load balancer, and authorizes action on it.
func ruleParents(q *request, tx store.Tx, a policy.Action) (*lb.L7Policy, *lb.Listener, *lb.LoadBalancer, error) {
	p, err := rulePolicy(q, tx)
	if err != nil {
		return nil, nil, nil, err
	}
	listener, err := getListener(q.ctx, tx, p.ListenerID)
	if err != nil {
		return nil, nil, nil, err
	}
	parent, err := lockLB(q.ctx, tx, p.LoadBalancerID)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := q.authorize(policy.L7Rule, a, parent.ProjectID); err != nil {
		return nil, nil, nil, err
	}
	return p, listener, parent, nil
}

func writableAll(p *lb.L7Policy, l *lb.Listener, parent *lb.LoadBalancer) error {
	if err := writable(kindL7Policy, p.ID, p.Status); err != nil {
		return err
	}
	if err := writable(kindListener, l.ID, l.Status); err != nil {
		return err
	}
	return writable(kindLoadBalancer, parent.ID, parent.Status)
}

func (s *Server) createL7Rule(q *request) error {
	data, err := s.readBody(q)
	if err != nil {
		return err
	}
	o, _, err := s.schemas.rulePost.decode(data)
	if err != nil {
		return err
	}
	r := newRule(o)
	r.ID = s.newID()
	var w *l7RuleWire
	var lbID string
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		p, listener, parent, err := ruleParents(q, tx, policy.Post)
		if err != nil {
			return err
		}
		lbID = parent.ID
		if err := r.Validate(); err != nil {
			return err
		}
		n, err := liveRuleCount(q.ctx, tx, p.ID)
		if err != nil {
			return err
		}
		if n >= lb.MaxRulesPerPolicy {
			return conflict("Too many rules on L7 policy %s", p.ID)
		}
		if err := q.reserve(tx, parent.ProjectID, map[lb.QuotaResource]int{lb.QuotaL7Rule: 1}); err != nil {
			return err
		}
		if err := writableAll(p, listener, parent); err != nil {
			return err
		}
		c := begin(q.ctx, tx, parent, s.now())
		if err := c.commitLB(); err != nil {
			return err
		}
		r.ProjectID, r.L7PolicyID, r.LoadBalancerID = parent.ProjectID, p.ID, parent.ID
		r.Status = lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline, Gen: c.gen}
		r.CreatedAt = c.now
		if err := tx.L7Rules().Create(q.ctx, r); err != nil {
			return fmt.Errorf("create l7 rule %s: %w", r.ID, err)
		}
		if err := c.lockPolicy(p, listener); err != nil {
			return err
		}
		w = toL7RuleWire(r)
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(lbID)
	writeJSON(q.w, http.StatusCreated, map[string]any{"rule": w})
	return nil
}

func (s *Server) showL7Rule(q *request) error {
	var w *l7RuleWire
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		p, err := rulePolicy(q, tx)
		if err != nil {
			return err
		}
		r, err := policyRule(q, tx, p.ID)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.L7Rule, policy.GetOne, r.ProjectID); err != nil {
			return err
		}
		w = toL7RuleWire(r)
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeOne(q, http.StatusOK, "rule", w)
}

func (s *Server) listL7Rules(q *request) error {
	lp, err := s.parseList(q.r.URL.Query(), s.schemas.ruleColumns)
	if err != nil {
		return err
	}
	items := []any{}
	var ids []string
	err = s.store.View(q.ctx, func(tx store.Tx) error {
		p, err := rulePolicy(q, tx)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.L7Rule, policy.GetAll, p.ProjectID); err != nil {
			return err
		}
		if lp.hasProject {
			lp.query.Filters = append(lp.query.Filters, store.F("project_id", lp.projectID))
		}
		lp.query.Filters = append(lp.query.Filters, store.F("l7policy_id", p.ID))
		list, err := tx.L7Rules().List(q.ctx, lp.query)
		if err != nil {
			return queryError(err)
		}
		for _, r := range list {
			ids = append(ids, r.ID)
			items = append(items, toL7RuleWire(r))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeList(q, lp, "rules", items, ids)
}

// applyRuleUpdate merges a PUT body into a rule as Octavia does: fields sent
// as null keep their stored value (invert null means false), and rules of
// types that take no key lose theirs. validation is the rule Octavia
// validates, where a null key or value does count as null.
func applyRuleUpdate(r *lb.L7Rule, o *object) (validation lb.L7Rule) {
	if v, ok := o.str("type"); ok {
		r.Type = v
	}
	if v, ok := o.str("compare_type"); ok {
		r.CompareType = v
	}
	validation = *r
	if v, ok := o.str("key"); ok {
		r.Key = &v
	}
	if v, ok := o.str("value"); ok {
		r.Value = v
	}
	if o.has("invert") {
		r.Invert, _ = o.flag("invert")
	}
	if v, set := o.flag("admin_state_up"); set && !o.isNull("admin_state_up") {
		r.AdminStateUp = v
	}
	if o.has("tags") {
		r.Tags, _ = o.strings("tags")
	}
	validation.Key, validation.Value, validation.Invert = r.Key, r.Value, r.Invert
	if o.isNull("key") {
		validation.Key = nil
	}
	if o.isNull("value") {
		validation.Value = ""
	}
	if !lb.UsesKey(r.Type) {
		r.Key, validation.Key = nil, nil
	}
	return validation
}

func (s *Server) updateL7Rule(q *request) error {
	data, err := s.readBody(q)
	if err != nil {
		return err
	}
	o, _, err := s.schemas.rulePut.decode(data)
	if err != nil {
		return err
	}
	var w *l7RuleWire
	var lbID string
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		p, listener, parent, err := ruleParents(q, tx, policy.Put)
		if err != nil {
			return err
		}
		lbID = parent.ID
		r, err := policyRule(q, tx, p.ID)
		if err != nil {
			return err
		}
		validation := applyRuleUpdate(r, o)
		if err := validation.Validate(); err != nil {
			return err
		}
		if err := writable(kindL7Rule, r.ID, r.Status); err != nil {
			return err
		}
		if err := writableAll(p, listener, parent); err != nil {
			return err
		}
		c := begin(q.ctx, tx, parent, s.now())
		if err := c.commitLB(); err != nil {
			return err
		}
		r.Status.Change(lb.PendingUpdate, c.gen)
		r.Touch(c.now)
		if err := tx.L7Rules().Update(q.ctx, r); err != nil {
			return err
		}
		if err := c.lockPolicy(p, listener); err != nil {
			return err
		}
		w = toL7RuleWire(r)
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(lbID)
	writeJSON(q.w, http.StatusOK, map[string]any{"rule": w})
	return nil
}

func (s *Server) deleteL7Rule(q *request) error {
	var lbID string
	err := s.store.Update(q.ctx, func(tx store.Tx) error {
		p, listener, parent, err := ruleParents(q, tx, policy.Delete)
		if err != nil {
			return err
		}
		lbID = parent.ID
		r, err := policyRule(q, tx, p.ID)
		if err != nil {
			return err
		}
		if err := writable(kindL7Rule, r.ID, r.Status); err != nil {
			return err
		}
		if err := writableAll(p, listener, parent); err != nil {
			return err
		}
		c := begin(q.ctx, tx, parent, s.now())
		if err := c.commitLB(); err != nil {
			return err
		}
		r.Status.Change(lb.PendingDelete, c.gen)
		r.Touch(c.now)
		if err := tx.L7Rules().Update(q.ctx, r); err != nil {
			return err
		}
		return c.lockPolicy(p, listener)
	})
	if err != nil {
		return err
	}
	s.notify(lbID)
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}
