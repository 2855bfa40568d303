package apiserver

import (
	"context"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// L7 policies: decoding (the action follows from the redirect arguments
// sent; see docs/octavia-behaviour.md, "L7 policy actions and positions")
// and rendering. The write rules are the write path's.

// optString reads a string attribute as an lb.Opt.
func optString(o *object, name string) lb.Opt[string] {
	if !o.has(name) {
		return lb.Opt[string]{}
	}
	if v, ok := o.str(name); ok {
		return lb.Some(v)
	}
	return lb.Null[string]()
}

func optInteger(o *object, name string) lb.Opt[int] {
	if !o.has(name) {
		return lb.Opt[int]{}
	}
	if v, ok := o.integer(name); ok {
		return lb.Some(v)
	}
	return lb.Null[int]()
}

// policyArgs reads the action and redirect arguments of a request.
func policyArgs(o *object) lb.L7PolicyArgs {
	a := lb.L7PolicyArgs{Action: optString(o, "action"), RedirectURL: optString(o, "redirect_url"),
		RedirectPrefix: optString(o, "redirect_prefix"), RedirectHTTPCode: optInteger(o, "redirect_http_code")}
	if _, ok := o.s.index["redirect_pool_id"]; ok {
		a.RedirectPoolID = optString(o, "redirect_pool_id")
	}
	return a
}

// listenerPolicies returns, per listener id, its L7 policy ids in position
// order (the listener's l7policies list).
func listenerPolicies(ctx context.Context, tx store.Tx, listenerIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(listenerIDs) == 0 {
		return out, nil
	}
	pols, err := tx.L7Policies().List(ctx, store.Query{Filters: []store.Filter{store.In("listener_id", listenerIDs...)},
		Sort: []store.Sort{{Field: "listener_id"}, {Field: "position"}}})
	if err != nil {
		return nil, err
	}
	for _, p := range pols {
		out[p.ListenerID] = append(out[p.ListenerID], p.ID)
	}
	return out, nil
}

// newRule builds an L7 rule from a create body (standalone or embedded).
func newRule(o *object) *lb.L7Rule {
	r := &lb.L7Rule{AdminStateUp: true}
	r.Type, _ = o.str("type")
	r.CompareType, _ = o.str("compare_type")
	r.Key = o.optStr("key")
	r.Value, _ = o.str("value")
	r.Invert, _ = o.flag("invert")
	if v, set := o.flag("admin_state_up"); set {
		r.AdminStateUp = v
	}
	r.Tags, _ = o.strings("tags")
	if !lb.UsesKey(r.Type) {
		// Octavia clears it when the rule goes ACTIVE; it means nothing.
		r.Key = nil
	}
	return r
}

func (s *Server) createL7Policy(q *request) error {
	o, _, err := s.decodeBody(q, &s.schemas.l7policyPost)
	if err != nil {
		return err
	}
	p := &lb.L7Policy{ID: s.newID(), AdminStateUp: true}
	p.ListenerID, _ = o.str("listener_id")
	p.Name, _ = o.str("name")
	p.Description, _ = o.str("description")
	if v, set := o.flag("admin_state_up"); set {
		p.AdminStateUp = v
	}
	p.Tags, _ = o.strings("tags")
	position := lb.MaxPosition
	if n, ok := o.integer("position"); ok {
		position = n
	}
	ros, _ := o.objs("rules")
	rules := make([]*lb.L7Rule, len(ros))
	for i, ro := range ros {
		rules[i] = newRule(ro)
	}
	p, rules, err = s.writes.CreateL7Policy(q.ctx, change.L7PolicyCreate{Policy: p, Args: policyArgs(o), Position: position,
		Rules: rules, Allow: q.allow(policy.L7Policy, policy.Post)})
	if err != nil {
		return err
	}
	ids := make([]string, len(rules))
	for i, r := range rules {
		ids[i] = r.ID
	}
	writeObject(q.w, http.StatusCreated, "l7policy", toL7PolicyWire(p, idRefs(ids)))
	return nil
}

func (s *Server) showL7Policy(q *request) error {
	return shown[lb.L7Policy]{key: "l7policy", object: policy.L7Policy,
		load:   func(tx store.Tx) (*lb.L7Policy, error) { return getL7Policy(q.ctx, tx, q.param("id")) },
		owner:  func(p *lb.L7Policy) string { return p.ProjectID },
		render: func(tx store.Tx, p *lb.L7Policy) (any, error) { return l7PolicyWireOf(q, tx, p) }}.serve(s, q)
}

func (s *Server) listL7Policies(q *request) error {
	p, err := s.scopedList(q, s.schemas.l7policyColumns, policy.L7Policy)
	if err != nil {
		return err
	}
	return page[lb.L7Policy]{plural: "l7policies", table: store.Tx.L7Policies, id: func(x *lb.L7Policy) string { return x.ID },
		render: func(tx store.Tx, list []*lb.L7Policy, ids []string) ([]any, error) {
			rules, err := tx.L7Rules().Refs(q.ctx, "l7policy_id", ids)
			items := make([]any, len(list))
			for i, x := range list {
				items[i] = toL7PolicyWire(x, idRefs(rules[x.ID]))
			}
			return items, err
		}}.serve(s, q, p)
}

// l7PolicyWireOf renders a policy with its rules' ids.
func l7PolicyWireOf(q *request, tx store.Tx, p *lb.L7Policy) (*l7PolicyWire, error) {
	rules, err := tx.L7Rules().Refs(q.ctx, "l7policy_id", []string{p.ID})
	if err != nil {
		return nil, err
	}
	return toL7PolicyWire(p, idRefs(rules[p.ID])), nil
}

func (s *Server) updateL7Policy(q *request) error {
	o, _, err := s.decodeBody(q, &s.schemas.l7policyPut)
	if err != nil {
		return err
	}
	in := change.L7PolicyUpdate{ID: q.param("id"), Args: policyArgs(o), Allow: q.allow(policy.L7Policy, policy.Put),
		Apply: func(p *lb.L7Policy) error {
			if o.has("name") {
				p.Name, _ = o.str("name")
			}
			if o.has("description") {
				p.Description, _ = o.str("description")
			}
			if v, set := o.flag("admin_state_up"); set {
				p.AdminStateUp = v
			}
			if o.has("tags") {
				p.Tags, _ = o.strings("tags")
			}
			return nil
		}}
	if n, ok := o.integer("position"); ok {
		in.Position = &n
	}
	p, err := s.writes.UpdateL7Policy(q.ctx, in)
	if err != nil {
		return err
	}
	return s.writeRendered(q, http.StatusOK, "l7policy", func(tx store.Tx) (any, error) { return l7PolicyWireOf(q, tx, p) })
}

func (s *Server) deleteL7Policy(q *request) error {
	if err := s.writes.DeleteL7Policy(q.ctx, q.param("id"), q.allow(policy.L7Policy, policy.Delete)); err != nil {
		return err
	}
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}
