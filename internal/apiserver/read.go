package apiserver

import (
	"context"
	"errors"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Lookups of the read endpoints inside a transaction, translating
// store.ErrNotFound into the user-facing 404 of the resource. (Writes find
// their objects in the write path.)

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

// getLB loads a load balancer; a DELETED one is not found.
func getLB(ctx context.Context, tx store.Tx, id string) (*lb.LoadBalancer, error) {
	l, err := found(tx.LoadBalancers().Get(ctx, id))(lb.NameLoadBalancer, id)
	if err == nil && l.Status.Provisioning == lb.Deleted {
		return nil, notFound(lb.NameLoadBalancer, id)
	}
	return l, err
}

func getListener(ctx context.Context, tx store.Tx, id string) (*lb.Listener, error) {
	return found(tx.Listeners().Get(ctx, id))(lb.NameListener, id)
}

func getPool(ctx context.Context, tx store.Tx, id string) (*lb.Pool, error) {
	return found(tx.Pools().Get(ctx, id))(lb.NamePool, id)
}

func getHealthMonitor(ctx context.Context, tx store.Tx, id string) (*lb.HealthMonitor, error) {
	return found(tx.HealthMonitors().Get(ctx, id))(lb.NameHealthMonitor, id)
}

func getL7Policy(ctx context.Context, tx store.Tx, id string) (*lb.L7Policy, error) {
	return found(tx.L7Policies().Get(ctx, id))(lb.NameL7Policy, id)
}

func getAmphora(ctx context.Context, tx store.Tx, id string) (*lb.Amphora, error) {
	return found(tx.Amphorae().Get(ctx, id))(lb.NameAmphora, id)
}

// shown serves GET of one object in one transaction: loaded (404), the
// caller authorized as object:get_one on its owner (403), rendered with
// what it references, written with fields= applied.
type shown[T any] struct {
	key    string
	object policy.Object
	load   func(tx store.Tx) (*T, error)
	owner  func(*T) string
	render func(tx store.Tx, v *T) (any, error)
}

func (sh shown[T]) serve(s *Server, q *request) error {
	var w any
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		v, err := sh.load(tx)
		if err != nil {
			return err
		}
		if err := q.authorize(sh.object, policy.GetOne, sh.owner(v)); err != nil {
			return err
		}
		w, err = sh.render(tx, v)
		return err
	})
	if err != nil {
		return err
	}
	return s.writeOne(q, sh.key, w)
}

// plain renders an object that references nothing.
func plain[T any](wire func(*T) any) func(store.Tx, *T) (any, error) {
	return func(_ store.Tx, v *T) (any, error) { return wire(v), nil }
}

// writeRendered writes {"<key>": v} with status, v rendered with what it
// references (read in one transaction): the body of an update.
func (s *Server) writeRendered(q *request, status int, key string, render func(tx store.Tx) (any, error)) error {
	var w any
	err := s.store.View(q.ctx, func(tx store.Tx) (err error) {
		w, err = render(tx)
		return err
	})
	if err != nil {
		return err
	}
	writeObject(q.w, status, key, w)
	return nil
}
