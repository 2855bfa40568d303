package apiserver

import (
	"context"
	"fmt"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// storeStats is the default StatsSource: it reads the per-agent listener
// counters the health manager stores. A statistic is the sum over agents;
// active connections count only on agents that currently host the load
// balancer (Octavia sums active connections of current amphorae only).
type storeStats struct{ st store.Store }

func (s storeStats) LoadBalancerStats(ctx context.Context, loadBalancerID string) (lb.Stats, error) {
	return s.sum(ctx, loadBalancerID)
}

func (s storeStats) ListenerStats(ctx context.Context, listenerID string) (lb.Stats, error) {
	var lbID string
	err := s.st.View(ctx, func(tx store.Tx) error {
		l, err := tx.Listeners().Get(ctx, listenerID)
		if err == nil {
			lbID = l.LoadBalancerID
		}
		return err
	})
	if err != nil {
		return lb.Stats{}, fmt.Errorf("stats of listener %s: %w", listenerID, err)
	}
	return s.sum(ctx, lbID, listenerID)
}

func (s storeStats) sum(ctx context.Context, loadBalancerID string, listenerIDs ...string) (lb.Stats, error) {
	var out lb.Stats
	err := s.st.View(ctx, func(tx store.Tx) error {
		rows, err := tx.ListenerStats().List(ctx, loadBalancerID, listenerIDs...)
		if err != nil || len(rows) == 0 {
			return err
		}
		amps, err := tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.F("loadbalancer_id", loadBalancerID)}})
		if err != nil {
			return err
		}
		hosts := map[string]bool{}
		for _, a := range amps {
			if a.AgentID != "" {
				hosts[a.AgentID] = true
			}
		}
		for _, r := range rows {
			out.BytesIn += r.BytesIn
			out.BytesOut += r.BytesOut
			out.TotalConnections += r.TotalConnections
			out.RequestErrors += r.RequestErrors
			if hosts[r.AgentID] {
				out.ActiveConnections += r.ActiveConnections
			}
		}
		return nil
	})
	if err != nil {
		return lb.Stats{}, fmt.Errorf("stats of load balancer %s: %w", loadBalancerID, err)
	}
	return out, nil
}
