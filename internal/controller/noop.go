package controller

import (
	"context"

	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// Noop is the API-only provider (Octavia's noop driver): it acknowledges
// every generation at once and reports the operating statuses Octavia's noop
// driver leaves behind — OFFLINE for load balancers, listeners and pools.
// Members keep the status they were created with (NO_MONITOR, or OFFLINE
// when their pool had a health monitor), as nothing ever reports on them;
// a member without one gets it from its pool.
type Noop struct{}

// Apply acknowledges g.
func (Noop) Apply(_ context.Context, g *lb.Graph) (Outcome, error) {
	op := map[string]lb.OperatingStatus{g.LoadBalancer.ID: lb.Offline}
	for _, l := range g.Listeners {
		op[l.ID] = lb.Offline
	}
	monitored := map[string]bool{}
	for _, h := range g.HealthMonitors {
		monitored[h.PoolID] = true
	}
	for _, p := range g.Pools {
		op[p.ID] = lb.Offline
	}
	for _, m := range g.Members {
		if m.Status.Operating != "" {
			continue
		}
		if monitored[m.PoolID] {
			op[m.ID] = lb.Offline
		} else {
			op[m.ID] = lb.NoMonitor
		}
	}
	return Outcome{Done: true, Operating: op}, nil
}

// Remove acknowledges the deletion.
func (Noop) Remove(context.Context, *lb.LoadBalancer) (Outcome, error) {
	return Outcome{Done: true}, nil
}
