package healthmgr

import (
	"context"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// ACTIVE_STANDBY members (docs/active-standby.md). Each agent reports the VRRP state of the
// groups it runs; the amphora of the load balancer on that agent takes it:
//
//	MASTER, BACKUP          role MASTER or BACKUP (the live role); an amphora in ERROR is READY again
//	FAULT, STOP, STOPPED    status ERROR (the member cannot take the VIP)
//
// An amphora being failed over (PENDING_DELETE) keeps its status. A changed amphora
// enqueues its load balancer: a planned failover waits for these states.
//
// A pair with one member unhealthy (ERROR: its agent is down, or its group is in FAULT) is
// DEGRADED; with none healthy, ERROR.

// vrrpStates applies hb's VRRP states to the agent's amphorae and returns the load
// balancers whose amphorae changed.
func vrrpStates(ctx context.Context, tx store.Tx, placed []*lb.Amphora, hb *dataplane.Heartbeat, now time.Time) ([]string, error) {
	if len(hb.VRRP) == 0 {
		return nil, nil
	}
	states := make(map[string]string, len(hb.VRRP))
	for _, s := range hb.VRRP {
		states[s.Group] = s.State
	}
	var changed []string
	for _, a := range placed {
		if a.VRRPID == nil {
			continue
		}
		st, ok := states[dataplane.VRRPGroupName(a.LoadBalancerID)]
		if !ok {
			continue
		}
		role, status := a.Role, a.Status
		switch st {
		case dataplane.VRRPMaster, dataplane.VRRPBackup:
			role = st
			if status == lb.AmphoraError {
				status = lb.AmphoraReady
			}
		default:
			if status != lb.AmphoraPendingDelete {
				status = lb.AmphoraError
			}
		}
		if role == a.Role && status == a.Status {
			continue
		}
		a.Role, a.Status = role, status
		a.Touch(now)
		if err := tx.Amphorae().Update(ctx, a); err != nil {
			return nil, err
		}
		changed = append(changed, a.LoadBalancerID)
	}
	return changed, nil
}

// pairHealth reports, for each load balancer of ids that is a pair (amphorae with a VRRP
// id), how many of its members are healthy (not ERROR) and how many it has.
func pairHealth(ctx context.Context, tx store.Tx, ids []string) (map[string][2]int, error) {
	out := map[string][2]int{}
	if len(ids) == 0 {
		return out, nil
	}
	for len(ids) > 0 {
		k := min(len(ids), maxIn)
		amps, err := tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.In("loadbalancer_id", ids[:k]...)}})
		if err != nil {
			return nil, err
		}
		for _, a := range amps {
			if a.VRRPID == nil {
				continue
			}
			h := out[a.LoadBalancerID]
			h[1]++
			if a.Status != lb.AmphoraError {
				h[0]++
			}
			out[a.LoadBalancerID] = h
		}
		ids = ids[k:]
	}
	return out, nil
}

// pairStatus turns the roll-up of a pair's load balancer into DEGRADED or ERROR when
// members are unhealthy.
func pairStatus(want lb.OperatingStatus, healthy, members int) lb.OperatingStatus {
	if members == 0 {
		return want
	}
	switch {
	case healthy == 0:
		return lb.OpError
	case healthy < 2 && (want == lb.Online || want == lb.NoMonitor):
		return lb.Degraded
	}
	return want
}
