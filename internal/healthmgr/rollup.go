package healthmgr

import (
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// Observation is what one agent saw of one load balancer.
type Observation struct {
	// Members by member id; absent members were not reported.
	Members map[string]dataplane.MemberStatus
	// Listeners present in the agent's stats, with whether they are at
	// their connection limit (FULL).
	Listeners map[string]ListenerObs
}

// ListenerObs is one reported listener.
type ListenerObs struct {
	Full bool
}

// Rollup derives every operating status of a load balancer graph from an
// observation, following Octavia's health-manager rules (docs/octavia-behaviour.md, "Operating status"):
//
//   - member: UP→ONLINE, DOWN→ERROR, DRAIN→DRAINING, MAINT→OFFLINE,
//     NO_CHECK→NO_MONITOR; unreported → OFFLINE (NO_MONITOR when the pool
//     has no monitor); admin down → OFFLINE.
//   - pool: admin down or not used by any listener → OFFLINE; members but
//     none healthy → ERROR; some member ERROR → DEGRADED; else ONLINE.
//   - listener: admin down → OFFLINE; reported → ONLINE (DEGRADED when
//     FULL); unreported → ERROR when the load balancer is ACTIVE, else OFFLINE.
//   - load balancer: admin down → OFFLINE; ERROR when a pool is ERROR;
//     DEGRADED when a pool or listener is DEGRADED; else ONLINE.
func Rollup(g *lb.Graph, obs Observation) map[string]lb.OperatingStatus {
	out := map[string]lb.OperatingStatus{}
	monitored := map[string]bool{}
	for _, h := range g.HealthMonitors {
		if h.Status.Provisioning != lb.PendingDelete {
			monitored[h.PoolID] = true
		}
	}
	used := map[string]bool{}
	for _, l := range g.Listeners {
		if l.AdminStateUp && l.DefaultPoolID != "" {
			used[l.DefaultPoolID] = true
		}
	}
	for _, p := range g.L7Policies {
		if p.AdminStateUp && p.RedirectPoolID != "" {
			used[p.RedirectPoolID] = true
		}
	}
	byPool := map[string][]lb.OperatingStatus{}
	for _, m := range g.Members {
		var st lb.OperatingStatus
		reported, ok := obs.Members[m.ID]
		switch {
		case !m.AdminStateUp:
			st = lb.Offline
		case ok:
			st = memberStatus(reported)
		case monitored[m.PoolID]:
			st = lb.Offline
		default:
			st = lb.NoMonitor
		}
		out[m.ID] = st
		byPool[m.PoolID] = append(byPool[m.PoolID], st)
	}
	lbStatus := lb.Online
	worse := func(s lb.OperatingStatus) {
		if s == lb.OpError || (s == lb.Degraded && lbStatus == lb.Online) {
			lbStatus = s
		}
	}
	for _, p := range g.Pools {
		st := lb.Online
		switch {
		case !p.AdminStateUp || !used[p.ID]:
			st = lb.Offline
		default:
			members := byPool[p.ID]
			healthy, failed := 0, 0
			for _, s := range members {
				switch s {
				case lb.Online, lb.NoMonitor, lb.Draining:
					healthy++
				case lb.OpError:
					failed++
				}
			}
			if len(members) > 0 && healthy == 0 {
				st = lb.OpError
			} else if failed > 0 {
				st = lb.Degraded
			}
		}
		out[p.ID] = st
		worse(st)
	}
	for _, l := range g.Listeners {
		var st lb.OperatingStatus
		o, reported := obs.Listeners[l.ID]
		switch {
		case !l.AdminStateUp:
			st = lb.Offline
		case reported && o.Full:
			st = lb.Degraded
		case reported:
			st = lb.Online
		case g.LoadBalancer.Status.Provisioning == lb.Active:
			st = lb.OpError
		default:
			st = lb.Offline
		}
		out[l.ID] = st
		if st == lb.Degraded {
			worse(st)
		}
	}
	if !g.LoadBalancer.AdminStateUp {
		lbStatus = lb.Offline
	}
	out[g.LoadBalancer.ID] = lbStatus
	return out
}

func memberStatus(s dataplane.MemberStatus) lb.OperatingStatus {
	switch s {
	case dataplane.StatusUp:
		return lb.Online
	case dataplane.StatusDown:
		return lb.OpError
	case dataplane.StatusDrain:
		return lb.Draining
	case dataplane.StatusMaint:
		return lb.Offline
	case dataplane.StatusNoCheck:
		return lb.NoMonitor
	}
	return lb.Offline
}
