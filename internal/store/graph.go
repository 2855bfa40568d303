package store

import (
	"context"

	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// LoadGraph reads a load balancer and all its children in creation order
// (L7 policies by listener and position): Tx.Graph.
func LoadGraph(ctx context.Context, tx Tx, id string) (*lb.Graph, error) {
	return tx.Graph(ctx, id)
}

// LoadGraphByTables is Tx.Graph in one List per table (seven statements),
// for a Tx without a shorter way.
func LoadGraphByTables(ctx context.Context, tx Tx, id string) (*lb.Graph, error) {
	l, err := tx.LoadBalancers().Get(ctx, id)
	if err != nil {
		return nil, err
	}
	g := &lb.Graph{LoadBalancer: l}
	q := Query{Filters: []Filter{F("loadbalancer_id", id)}}
	if g.Listeners, err = tx.Listeners().List(ctx, q); err != nil {
		return nil, err
	}
	if g.Pools, err = tx.Pools().List(ctx, q); err != nil {
		return nil, err
	}
	if g.Members, err = tx.Members().List(ctx, q); err != nil {
		return nil, err
	}
	if g.HealthMonitors, err = tx.HealthMonitors().List(ctx, q); err != nil {
		return nil, err
	}
	pq := q
	pq.Sort = []Sort{{Field: "listener_id"}, {Field: "position"}}
	if g.L7Policies, err = tx.L7Policies().List(ctx, pq); err != nil {
		return nil, err
	}
	if g.L7Rules, err = tx.L7Rules().List(ctx, q); err != nil {
		return nil, err
	}
	return g, nil
}
