package apiserver

import (
	"context"
	"errors"

	"github.com/fulcrumlb/fulcrum/internal/lb"
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
