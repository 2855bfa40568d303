package apiserver

import (
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// L7 rules live under /l7policies/{id}/rules: a rule of another policy is
// not found. The write rules (at most lb.MaxRulesPerPolicy rules, each
// validated as a whole, every write locking the load balancer, the
// listener and the policy) are the write path's.

// rulePolicy loads the policy of the path (404 "L7Policy <id> not found.").
func rulePolicy(q *request, tx store.Tx) (*lb.L7Policy, error) {
	id := q.param("policy_id")
	return found(tx.L7Policies().Get(q.ctx, id))(lb.NameL7RulePolicy, id)
}

func (s *Server) createL7Rule(q *request) error {
	o, _, err := s.decodeBody(q, &s.schemas.rulePost)
	if err != nil {
		return err
	}
	r, err := s.writes.CreateL7Rule(q.ctx, change.L7RuleCreate{PolicyID: q.param("policy_id"), Rule: newRule(o),
		Allow: q.allow(policy.L7Rule, policy.Post)})
	if err != nil {
		return err
	}
	writeObject(q.w, http.StatusCreated, "rule", toL7RuleWire(r))
	return nil
}

func (s *Server) showL7Rule(q *request) error {
	return shown[lb.L7Rule]{key: "rule", object: policy.L7Rule,
		load: func(tx store.Tx) (*lb.L7Rule, error) {
			p, err := rulePolicy(q, tx)
			if err != nil {
				return nil, err
			}
			id := q.param("id")
			r, err := found(tx.L7Rules().Get(q.ctx, id))(lb.NameL7Rule, id)
			if err == nil && r.L7PolicyID != p.ID {
				return nil, notFound(lb.NameL7Rule, id)
			}
			return r, err
		},
		owner:  func(r *lb.L7Rule) string { return r.ProjectID },
		render: plain(func(r *lb.L7Rule) any { return toL7RuleWire(r) })}.serve(s, q)
}

func (s *Server) listL7Rules(q *request) error {
	p, err := s.parseList(q.query, s.schemas.ruleColumns)
	if err != nil {
		return err
	}
	return page[lb.L7Rule]{plural: "rules", table: store.Tx.L7Rules, id: func(r *lb.L7Rule) string { return r.ID },
		before: func(tx store.Tx) error {
			pol, err := rulePolicy(q, tx)
			if err != nil {
				return err
			}
			if err := q.authorize(policy.L7Rule, policy.GetAll, pol.ProjectID); err != nil {
				return err
			}
			p.under("l7policy_id", pol.ID)
			return nil
		},
		render: each(func(r *lb.L7Rule) any { return toL7RuleWire(r) })}.serve(s, q, p)
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
	o, _, err := s.decodeBody(q, &s.schemas.rulePut)
	if err != nil {
		return err
	}
	r, err := s.writes.UpdateL7Rule(q.ctx, change.L7RuleUpdate{PolicyID: q.param("policy_id"), ID: q.param("id"),
		Allow: q.allow(policy.L7Rule, policy.Put), Apply: func(r *lb.L7Rule) lb.L7Rule { return applyRuleUpdate(r, o) }})
	if err != nil {
		return err
	}
	writeObject(q.w, http.StatusOK, "rule", toL7RuleWire(r))
	return nil
}

func (s *Server) deleteL7Rule(q *request) error {
	err := s.writes.DeleteL7Rule(q.ctx, q.param("policy_id"), q.param("id"), q.allow(policy.L7Rule, policy.Delete))
	if err != nil {
		return err
	}
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}
