package network

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// resource describes one collection of the subset (networks, subnets,
// ports, floating IPs, QoS policies) for the calls they all answer the same
// way: list, show, update and delete, each checked against Neutron's
// policy.
type resource[T any] struct {
	name   string // policy name suffix and response key of one object: "network"
	plural string // response key of a list: "networks"
	title  string // "Network", for "Network <id> could not be found."
	// notFound is the fault type of a missing object: "NetworkNotFound".
	notFound string
	// missingFormat, when set, is the message of a missing object (with
	// its id) instead of "<title> <id> could not be found.".
	missingFormat string
	table         func(store.Tx) store.Table[T]
	id            func(*T) string
	// filters maps list query parameters to store fields.
	filters map[string]string
	// target is the policy target of v; nets memoises network lookups.
	target func(ctx context.Context, nets *networks, v *T) (policy.Target, error)
	// render returns the wire form of each object, in order.
	render func(ctx context.Context, tx store.Tx, list []*T) ([]any, error)
}

func (rs *resource[T]) rule(action string) policy.Rule { return policy.Rule(action + "_" + rs.name) }

func (rs *resource[T]) missing(id string) *Error {
	if rs.missingFormat != "" {
		return &Error{Code: http.StatusNotFound, Type: rs.notFound, Message: fmt.Sprintf(rs.missingFormat, id)}
	}
	return notFound(rs.title, rs.notFound, id)
}

// visible loads object id for c, or answers 404 when it does not exist or
// c may not see it (get_<name>).
func (rs *resource[T]) visible(ctx context.Context, s *Service, nets *networks, c policy.Caller, id string) (*T, policy.Target, error) {
	v, err := rs.table(nets.tx).Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, rs.missing(id)
	}
	if err != nil {
		return nil, nil, err
	}
	t, err := rs.target(ctx, nets, v)
	if err != nil {
		return nil, nil, err
	}
	if !s.allowed(c, rs.rule("get"), t) {
		return nil, nil, rs.missing(id)
	}
	return v, t, nil
}

// writable is visible for a change: an object c may see but not change
// (action_<name>) is 403.
func (rs *resource[T]) writable(ctx context.Context, s *Service, nets *networks, c policy.Caller, action, id string) (*T, policy.Target, error) {
	v, t, err := rs.visible(ctx, s, nets, c, id)
	if err != nil {
		return nil, nil, err
	}
	return v, t, s.authorize(c, rs.rule(action), t)
}

// one renders a single object.
func (rs *resource[T]) one(ctx context.Context, tx store.Tx, v *T) (any, error) {
	out, err := rs.render(ctx, tx, []*T{v})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// list answers GET /<plural>: the objects the filters select that c may
// see.
func (rs *resource[T]) list(s *Service) handler {
	return func(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
		lq, err := parseList(r, rs.filters)
		if err != nil {
			return err
		}
		return rs.listMatching(s, w, r, c, lq, nil)
	}
}

// listMatching answers a list of the objects lq selects, c may see and
// keep (nil: all) accepts.
func (rs *resource[T]) listMatching(s *Service, w http.ResponseWriter, r *http.Request, c policy.Caller, lq listQuery, keep func(*T) bool) error {
	ctx := r.Context()
	out := []any{}
	err := s.view(ctx, func(tx store.Tx) error {
		list, err := listWhere(ctx, rs.table(tx), rs.id, lq)
		if err != nil {
			return err
		}
		nets := newNetworks(tx)
		shown := list[:0]
		for _, v := range list {
			t, err := rs.target(ctx, nets, v)
			if err != nil {
				return err
			}
			if s.allowed(c, rs.rule("get"), t) && (keep == nil || keep(v)) {
				shown = append(shown, v)
			}
		}
		if len(shown) > 0 {
			out, err = rs.render(ctx, tx, shown)
		}
		return err
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{rs.plural: out})
	return nil
}

// show answers GET /<plural>/{id}.
func (rs *resource[T]) show(s *Service) handler {
	return func(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
		ctx := r.Context()
		var out any
		err := s.view(ctx, func(tx store.Tx) error {
			v, _, err := rs.visible(ctx, s, newNetworks(tx), c, r.PathValue("id"))
			if err == nil {
				out, err = rs.one(ctx, tx, v)
			}
			return err
		})
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{rs.name: out})
		return nil
	}
}

// remove answers DELETE /<plural>/{id}: del removes the object (and what
// goes with it) and returns the load balancers whose served addresses
// changed.
func (rs *resource[T]) remove(s *Service, del func(ctx context.Context, tx store.Tx, v *T) ([]string, error)) handler {
	return func(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
		ctx := r.Context()
		var touched []string
		err := s.update(ctx, func(tx store.Tx) error {
			v, _, err := rs.writable(ctx, s, newNetworks(tx), c, "delete", r.PathValue("id"))
			if err != nil {
				return err
			}
			touched, err = del(ctx, tx, v)
			return err
		})
		if err != nil {
			return err
		}
		s.notify(touched)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// change is what an update call does to a loaded object once update_<name>
// allowed it: check the body's attributes (their own rules included), apply
// them, and return the load balancers whose served addresses changed.
type change[T, B any] func(ctx context.Context, tx store.Tx, c policy.Caller, v *T, t policy.Target, b *B) ([]string, error)

// modify answers PUT /<plural>/{id} with a body {"<name>": B}.
func modify[T, B any](s *Service, rs *resource[T], apply change[T, B]) handler {
	return func(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
		var b B
		if err := decode(r, rs.name, &b); err != nil {
			return err
		}
		if o, ok := any(&b).(interface{ checkUnchanged(string) error }); ok {
			if err := o.checkUnchanged(rs.name); err != nil {
				return err
			}
		}
		ctx := r.Context()
		var out any
		var touched []string
		err := s.update(ctx, func(tx store.Tx) error {
			v, t, err := rs.writable(ctx, s, newNetworks(tx), c, "update", r.PathValue("id"))
			if err != nil {
				return err
			}
			if touched, err = apply(ctx, tx, c, v, t, &b); err != nil {
				return err
			}
			if err := rs.table(tx).Update(ctx, v); err != nil {
				return err
			}
			out, err = rs.one(ctx, tx, v)
			return err
		})
		if err != nil {
			return err
		}
		s.notify(touched)
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{rs.name: out})
		return nil
	}
}

// build makes, checks and stores a new object for project from body b,
// returning its wire form and the load balancers whose served addresses
// changed.
type build[B any] func(ctx context.Context, c policy.Caller, project string, b *B) (any, []string, error)

// create answers POST /<plural> with a body {"<name>": B}. The new object
// is for the project the body names (the create rule decides whether the
// caller may) or the caller's.
func create[T, B any](s *Service, rs *resource[T], fn build[B]) handler {
	return func(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
		var b B
		if err := decode(r, rs.name, &b); err != nil {
			return err
		}
		project := c.ProjectID
		if o, ok := any(&b).(interface{ project() string }); ok && o.project() != "" {
			project = o.project()
		}
		if project == "" {
			return badRequest(rs.name, "'project_id' is required")
		}
		out, touched, err := fn(r.Context(), c, project, &b)
		if err != nil {
			return err
		}
		s.notify(touched)
		httpapi.WriteJSON(w, http.StatusCreated, map[string]any{rs.name: out})
		return nil
	}
}

// each adapts a renderer of one object to resource.render.
func each[T, W any](f func(*T) W) func(context.Context, store.Tx, []*T) ([]any, error) {
	return func(_ context.Context, _ store.Tx, list []*T) ([]any, error) {
		out := make([]any, len(list))
		for i, v := range list {
			out[i] = f(v)
		}
		return out, nil
	}
}

// onItsNetwork is the target function of objects that live on a network
// (subnets, ports): of is their project and network.
func onItsNetwork[T any](of func(*T) (project, network string)) func(context.Context, *networks, *T) (policy.Target, error) {
	return func(ctx context.Context, nets *networks, v *T) (policy.Target, error) {
		project, network := of(v)
		n, err := nets.get(ctx, network)
		return onNetwork(project, n), err
	}
}
