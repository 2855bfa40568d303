package apiserver

import (
	"context"
	"fmt"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/policy"

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
		hosts, err := hostingAgents(ctx, tx, loadBalancerID)
		if err != nil {
			return err
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

// memberStats serves GET …/pools/{pool_id}/members/{id}/stats, a fulcrum
// extension (Octavia keeps no member counters): the member's counters
// summed over the agents that reported them, active connections only on
// agents that host its load balancer now, as for listeners. Zeros until an
// agent reports the member.
func (s *Server) memberStats(q *request) error {
	var out memberStatsWire
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		m, err := poolMember(q, tx)
		if err != nil {
			return err
		}
		if err := q.authorize(policy.Member, policy.GetStats, m.ProjectID); err != nil {
			return err
		}
		rows, err := tx.MemberStats().List(q.ctx, "", m.ID)
		if err != nil || len(rows) == 0 {
			return err
		}
		hosts, err := hostingAgents(q.ctx, tx, m.LoadBalancerID)
		if err != nil {
			return err
		}
		for _, r := range rows {
			out.TotalConnections += r.TotalConnections
			out.ConnectErrors += r.ConnectErrors
			if hosts[r.AgentID] {
				out.ActiveConnections += r.ActiveConnections
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, memberStatsBody{Stats: out})
	return nil
}

// hostingAgents is the set of agents a load balancer is placed on now: only
// their active connections count (what another agent reports is history).
func hostingAgents(ctx context.Context, tx store.Tx, loadBalancerID string) (map[string]bool, error) {
	amps, err := tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.F("loadbalancer_id", loadBalancerID)}})
	if err != nil {
		return nil, err
	}
	hosts := map[string]bool{}
	for _, a := range amps {
		if a.AgentID != "" {
			hosts[a.AgentID] = true
		}
	}
	return hosts, nil
}
