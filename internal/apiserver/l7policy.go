package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// L7 policies (§5.6): ordered per listener with dense positions 1..N, the
// action rewritten from the redirect arguments (trap 15), locking the load
// balancer and the listener like every child write.

const (
	kindL7Policy = "l7policy"
	nameL7Policy = "L7 Policy"
)

func getL7Policy(ctx context.Context, tx store.Tx, id string) (*lb.L7Policy, error) {
	return found(tx.L7Policies().Get(ctx, id))(nameL7Policy, id)
}

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

// checkRedirectPool applies Octavia's two redirect pool checks: the pool
// named by redirect_pool_id must exist with a protocol the listener can use
// (before the arguments are sanitized), and a REDIRECT_TO_POOL policy's
// pool must belong to the listener's load balancer (after).
func checkRedirectPool(ctx context.Context, tx store.Tx, l *lb.Listener, id string) error {
	p, err := getPool(ctx, tx, id)
	if err != nil {
		return err
	}
	if err := lb.CheckListenerPool(l.Protocol, p.Protocol); err != nil {
		return err
	}
	return writable(kindPool, p.ID, p.Status)
}

func checkRedirectPoolOwner(ctx context.Context, tx store.Tx, l *lb.Listener, id string) error {
	p, err := getPool(ctx, tx, id)
	if err != nil {
		return err
	}
	if p.LoadBalancerID != l.LoadBalancerID || p.ProjectID != l.ProjectID {
		return notFound(namePool, id)
	}
	return nil
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
	data, err := s.readBody(q)
	if err != nil {
		return err
	}
	o, _, err := s.schemas.l7policyPost.decode(data)
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
	args := policyArgs(o)
	ros, _ := o.objs("rules")
	var w *l7PolicyWire
	var lbID string
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		listener, err := getListener(q.ctx, tx, p.ListenerID)
		if err != nil {
			return err
		}
		parent, err := lockLB(q.ctx, tx, listener.LoadBalancerID)
		if err != nil {
			return err
		}
		lbID = parent.ID
		if err := q.authorize(policy.L7Policy, policy.Post, parent.ProjectID); err != nil {
			return err
		}
		if listener.Protocol == lb.ProtocolPrometheus {
			return lb.ErrPrometheusChildren
		}
		if id := args.RedirectPoolID.V; id != nil && *id != "" {
			if err := checkRedirectPool(q.ctx, tx, listener, *id); err != nil {
				return err
			}
		}
		want := map[lb.QuotaResource]int{lb.QuotaL7Policy: 1}
		if len(ros) > 0 {
			want[lb.QuotaL7Rule] = len(ros)
		}
		if err := q.reserve(tx, parent.ProjectID, want); err != nil {
			return err
		}
		if err := args.Sanitize(true); err != nil {
			return err
		}
		args.ApplyCreate(p)
		if len(ros) > lb.MaxRulesPerPolicy {
			return conflict("Too many rules on L7 policy %s", p.ID)
		}
		rules := make([]*lb.L7Rule, 0, len(ros))
		for _, ro := range ros {
			r := newRule(ro)
			if err := r.Validate(); err != nil {
				return err
			}
			rules = append(rules, r)
		}
		if err := writable(kindListener, listener.ID, listener.Status); err != nil {
			return err
		}
		if err := writable(kindLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		if p.Action == lb.ActionRedirectToPool {
			if err := checkRedirectPoolOwner(q.ctx, tx, listener, p.RedirectPoolID); err != nil {
				return err
			}
		}
		if listener.Protocol != lb.ProtocolHTTP && listener.Protocol != lb.ProtocolTerminatedHTTPS {
			// As Octavia's amphora provider: L7 policies match HTTP requests.
			return providerOption(parent.Provider, listener.Protocol+" protocol listeners do not support L7 policies")
		}
		c := begin(q.ctx, tx, parent, s.now())
		if err := c.commitLB(); err != nil {
			return err
		}
		p.ProjectID, p.LoadBalancerID = parent.ProjectID, parent.ID
		p.Status = lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline, Gen: c.gen}
		p.CreatedAt = c.now
		others, err := livePolicies(q.ctx, tx, listener.ID)
		if err != nil {
			return err
		}
		if err := savePositions(q.ctx, tx, lb.MovePolicy(others, p, position), p); err != nil {
			return err
		}
		if err := tx.L7Policies().Create(q.ctx, p); err != nil {
			return fmt.Errorf("create l7 policy %s: %w", p.ID, err)
		}
		ids := make([]string, 0, len(rules))
		for _, r := range rules {
			r.ID, r.ProjectID, r.L7PolicyID, r.LoadBalancerID = s.newID(), parent.ProjectID, p.ID, parent.ID
			r.Status = lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline, Gen: c.gen}
			r.CreatedAt = c.now
			if err := tx.L7Rules().Create(q.ctx, r); err != nil {
				return fmt.Errorf("create l7 rule %s: %w", r.ID, err)
			}
			ids = append(ids, r.ID)
		}
		if err := c.lockListeners([]*lb.Listener{listener}); err != nil {
			return err
		}
		w = toL7PolicyWire(p, idRefs(ids))
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(lbID)
	writeJSON(q.w, http.StatusCreated, map[string]any{"l7policy": w})
	return nil
}

func (s *Server) showL7Policy(q *request) error {
	id := q.params[0]
	var w *l7PolicyWire
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		p, err := getL7Policy(q.ctx, tx, id)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.L7Policy, policy.GetOne, p.ProjectID); err != nil {
			return err
		}
		rules, err := tx.L7Rules().Refs(q.ctx, "l7policy_id", []string{id})
		if err != nil {
			return err
		}
		w = toL7PolicyWire(p, idRefs(rules[id]))
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeOne(q, http.StatusOK, "l7policy", w)
}

func (s *Server) listL7Policies(q *request) error {
	p, err := s.parseList(q.r.URL.Query(), s.schemas.l7policyColumns)
	if err != nil {
		return err
	}
	if err := p.scope(q, policy.L7Policy); err != nil {
		return err
	}
	items := []any{}
	var ids []string
	err = s.store.View(q.ctx, func(tx store.Tx) error {
		list, err := tx.L7Policies().List(q.ctx, p.query)
		if err != nil {
			return queryError(err)
		}
		for _, x := range list {
			ids = append(ids, x.ID)
		}
		rules, err := tx.L7Rules().Refs(q.ctx, "l7policy_id", ids)
		if err != nil {
			return err
		}
		for _, x := range list {
			items = append(items, toL7PolicyWire(x, idRefs(rules[x.ID])))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeList(q, p, "l7policies", items, ids)
}

func (s *Server) updateL7Policy(q *request) error {
	id := q.params[0]
	data, err := s.readBody(q)
	if err != nil {
		return err
	}
	o, _, err := s.schemas.l7policyPut.decode(data)
	if err != nil {
		return err
	}
	args := policyArgs(o)
	var w *l7PolicyWire
	var lbID string
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		p, err := getL7Policy(q.ctx, tx, id)
		if err != nil {
			return err
		}
		listener, err := getListener(q.ctx, tx, p.ListenerID)
		if err != nil {
			return err
		}
		parent, err := lockLB(q.ctx, tx, p.LoadBalancerID)
		if err != nil {
			return err
		}
		lbID = parent.ID
		if err := q.authorize(policy.L7Policy, policy.Put, parent.ProjectID); err != nil {
			return err
		}
		if err := args.Sanitize(false); err != nil {
			return err
		}
		if id := args.RedirectPoolID.V; id != nil && *id != "" {
			if err := checkRedirectPool(q.ctx, tx, listener, *id); err != nil {
				return err
			}
		}
		if err := writable(kindL7Policy, p.ID, p.Status); err != nil {
			return err
		}
		if err := writable(kindListener, listener.ID, listener.Status); err != nil {
			return err
		}
		if err := writable(kindLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		args.ApplyUpdate(p)
		if args.Action.Set && p.Action == lb.ActionRedirectToPool {
			if err := checkRedirectPoolOwner(q.ctx, tx, listener, p.RedirectPoolID); err != nil {
				return err
			}
		}
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
		c := begin(q.ctx, tx, parent, s.now())
		if err := c.commitLB(); err != nil {
			return err
		}
		if n, ok := o.integer("position"); ok && n != p.Position {
			others, err := livePolicies(q.ctx, tx, listener.ID)
			if err != nil {
				return err
			}
			if err := savePositions(q.ctx, tx, lb.MovePolicy(others, p, n), p); err != nil {
				return err
			}
		}
		p.Status.Change(lb.PendingUpdate, c.gen)
		p.Touch(c.now)
		if err := tx.L7Policies().Update(q.ctx, p); err != nil {
			return err
		}
		if err := c.lockListeners([]*lb.Listener{listener}); err != nil {
			return err
		}
		rules, err := tx.L7Rules().Refs(q.ctx, "l7policy_id", []string{id})
		if err != nil {
			return err
		}
		w = toL7PolicyWire(p, idRefs(rules[id]))
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(lbID)
	writeJSON(q.w, http.StatusOK, map[string]any{"l7policy": w})
	return nil
}

func (s *Server) deleteL7Policy(q *request) error {
	id := q.params[0]
	var lbID string
	err := s.store.Update(q.ctx, func(tx store.Tx) error {
		p, err := getL7Policy(q.ctx, tx, id)
		if err != nil {
			return err
		}
		listener, err := getListener(q.ctx, tx, p.ListenerID)
		if err != nil {
			return err
		}
		parent, err := lockLB(q.ctx, tx, p.LoadBalancerID)
		if err != nil {
			return err
		}
		lbID = parent.ID
		if err := q.authorize(policy.L7Policy, policy.Delete, parent.ProjectID); err != nil {
			return err
		}
		if err := writable(kindL7Policy, p.ID, p.Status); err != nil {
			return err
		}
		if err := writable(kindLoadBalancer, parent.ID, parent.Status); err != nil {
			return err
		}
		c := begin(q.ctx, tx, parent, s.now())
		if err := c.commitLB(); err != nil {
			return err
		}
		p.Status.Change(lb.PendingDelete, c.gen)
		p.Touch(c.now)
		if err := tx.L7Policies().Update(q.ctx, p); err != nil {
			return err
		}
		// Its rules go with it; the others close the gap.
		rules, err := tx.L7Rules().List(q.ctx, store.Query{Filters: []store.Filter{store.F("l7policy_id", id)}})
		if err != nil {
			return err
		}
		for _, r := range rules {
			r.Status.Change(lb.PendingDelete, c.gen)
			if err := tx.L7Rules().Update(q.ctx, r); err != nil {
				return err
			}
		}
		rest, err := livePolicies(q.ctx, tx, listener.ID)
		if err != nil {
			return err
		}
		if err := savePositions(q.ctx, tx, lb.Renumber(rest), nil); err != nil {
			return err
		}
		return c.lockListeners([]*lb.Listener{listener})
	})
	if err != nil {
		return err
	}
	s.notify(lbID)
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}
