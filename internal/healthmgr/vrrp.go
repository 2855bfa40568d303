package healthmgr

import (
	"context"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// ACTIVE_STANDBY members (docs/active-standby.md). Each agent reports the VRRP state of the
// groups it runs; the amphora of the load balancer on that agent takes it:
//
//	MASTER, BACKUP          role MASTER or BACKUP (the live role) and role_since (when the
//	                        agent says it entered it); an amphora in ERROR is READY again
//	FAULT, STOP, STOPPED    status ERROR (the member cannot take the VIP)
//
// An amphora being failed over (PENDING_DELETE) keeps its status. A changed amphora
// enqueues its load balancer: a planned failover waits for these states.
//
// A pair with one member unhealthy (ERROR: its agent is down, or its group is in FAULT) is
// DEGRADED; with none healthy, ERROR.
//
// The split-brain rule (holds): the answer to an agent's heartbeat names the groups it must
// keep in FAULT. Everything it rests on is in the store (roles, role_since, agent status)
// or in the heartbeat itself, so any server can answer any agent, also right after a
// restart:
//
//   - a group the agent runs but is no longer a member of (it was replaced while cut off):
//     held;
//   - a group whose other member is MASTER, healthy (not ERROR) and on an agent that is up,
//     while this agent does not hear that member's adverts: held if this agent is MASTER
//     and became MASTER earlier than the other (the clients followed the last gratuitous
//     ARPs, the other's), or if it holds the group already (it stays held until it hears
//     its peer, or the peer stops being a healthy MASTER).

// vrrpStates applies hb's VRRP states to the agent's amphorae and returns the load
// balancers whose amphorae changed.
func vrrpStates(ctx context.Context, tx store.Tx, placed []*lb.Amphora, hb *dataplane.Heartbeat, now time.Time) ([]string, error) {
	if len(hb.VRRP) == 0 {
		return nil, nil
	}
	states := make(map[string]dataplane.VRRPState, len(hb.VRRP))
	for _, s := range hb.VRRP {
		states[s.Group] = s
	}
	var changed []string
	for _, a := range placed {
		if a.VRRPID == nil {
			continue
		}
		s, ok := states[dataplane.VRRPGroupName(a.LoadBalancerID)]
		if !ok {
			continue
		}
		role, status, since := a.Role, a.Status, a.RoleSince
		switch s.State {
		case dataplane.VRRPMaster, dataplane.VRRPBackup:
			role = s.State
			if status == lb.AmphoraError {
				status = lb.AmphoraReady
			}
			if !s.Since.IsZero() {
				t := s.Since.UTC().Truncate(time.Microsecond)
				if t.After(now) {
					t = now.UTC().Truncate(time.Microsecond)
				}
				if since == nil || !since.Equal(t) {
					since = &t
				}
			}
		default:
			if status != lb.AmphoraPendingDelete {
				status = lb.AmphoraError
			}
		}
		if role == a.Role && status == a.Status && since == a.RoleSince {
			continue
		}
		roleChanged := role != a.Role || status != a.Status
		a.Role, a.Status, a.RoleSince = role, status, since
		a.Touch(now)
		if err := tx.Amphorae().Update(ctx, a); err != nil {
			return nil, err
		}
		if roleChanged {
			changed = append(changed, a.LoadBalancerID)
		}
	}
	return changed, nil
}

// pairMembers lists the members (amphorae with a VRRP id) of the load balancers ids, by load
// balancer.
func pairMembers(ctx context.Context, tx store.Tx, ids []string) (map[string][]*lb.Amphora, error) {
	out := map[string][]*lb.Amphora{}
	for len(ids) > 0 {
		k := min(len(ids), maxIn)
		amps, err := tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.In("loadbalancer_id", ids[:k]...)}})
		if err != nil {
			return nil, err
		}
		for _, a := range amps {
			if a.VRRPID != nil {
				out[a.LoadBalancerID] = append(out[a.LoadBalancerID], a)
			}
		}
		ids = ids[k:]
	}
	return out, nil
}

// pairHealth reports, for each pair of members, how many are healthy (not ERROR) and how
// many there are.
func pairHealth(members map[string][]*lb.Amphora) map[string][2]int {
	out := make(map[string][2]int, len(members))
	for id, amps := range members {
		var h [2]int
		for _, a := range amps {
			h[1]++
			if a.Status != lb.AmphoraError {
				h[0]++
			}
		}
		out[id] = h
	}
	return out
}

// holds returns the groups agent agentID must hold (the split-brain rule above), sorted,
// with the MAC address of the member that keeps the VIPs when there is one. placed are the
// agent's amphorae, members the members of their pairs, as this heartbeat left them.
func holds(ctx context.Context, tx store.Tx, agentID string, placed []*lb.Amphora, members map[string][]*lb.Amphora, hb *dataplane.Heartbeat) ([]dataplane.Hold, error) {
	if len(hb.VRRP) == 0 {
		return nil, nil
	}
	mine := map[string]*lb.Amphora{}
	for _, a := range placed {
		if a.VRRPID != nil {
			mine[dataplane.VRRPGroupName(a.LoadBalancerID)] = a
		}
	}
	type contest struct {
		group string
		at    *lb.Amphora // the other member, a healthy MASTER
	}
	var out []dataplane.Hold
	var contests []contest
	for _, s := range hb.VRRP {
		a, ok := mine[s.Group]
		if !ok {
			out = append(out, dataplane.Hold{Group: s.Group}) // not a member any more
			continue
		}
		if s.PeerHeard || !s.Held && s.State != dataplane.VRRPMaster {
			continue
		}
		for _, p := range members[a.LoadBalancerID] {
			if p.ID != a.ID && p.AgentID != agentID && p.AgentID != "" && p.Role == lb.RoleMaster && p.Status != lb.AmphoraError {
				if s.Held || earlier(a, p) {
					contests = append(contests, contest{s.Group, p})
				}
			}
		}
	}
	if len(contests) > 0 {
		var ids []string
		for _, c := range contests {
			ids = append(ids, c.at.AgentID)
		}
		agents, err := tx.Agents().List(ctx, store.Query{Filters: []store.Filter{store.In("id", ids...)}})
		if err != nil {
			return nil, err
		}
		byID := map[string]*lb.Agent{}
		for _, ag := range agents {
			if ag.Status == lb.AgentUp && !ag.Revoked && ag.CertSerial != "" {
				byID[ag.ID] = ag
			}
		}
		for _, c := range contests {
			ag := byID[c.at.AgentID]
			if ag == nil || slices.ContainsFunc(out, func(h dataplane.Hold) bool { return h.Group == c.group }) {
				continue
			}
			out = append(out, dataplane.Hold{Group: c.group, PeerMAC: macOf(ag, c.at.VRRPIP)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out, nil
}

// macOf is the MAC address agent a reported for its segment address ip ("" if none).
func macOf(a *lb.Agent, ip string) string {
	for _, s := range a.Segments {
		if p, err := netip.ParsePrefix(s.Address); err == nil && p.Addr().String() == ip {
			return s.MAC
		}
	}
	return ""
}

// earlier reports whether member a became MASTER before member b: the one the clients no
// longer follow. A member that never said when is the earlier; equal times fall to the
// lower configured priority, then to the smaller id, so that of two members exactly one is
// earlier.
func earlier(a, b *lb.Amphora) bool {
	switch {
	case a.RoleSince == nil && b.RoleSince != nil:
		return true
	case a.RoleSince != nil && b.RoleSince == nil:
		return false
	case a.RoleSince != nil && !a.RoleSince.Equal(*b.RoleSince):
		return a.RoleSince.Before(*b.RoleSince)
	}
	pa, pb := prio(a), prio(b)
	if pa != pb {
		return pa < pb
	}
	return a.ID < b.ID
}

func prio(a *lb.Amphora) int {
	if a.VRRPPriority == nil {
		return 0
	}
	return *a.VRRPPriority
}

// stalePairs returns the load balancers of pairs whose stored operating status may not fit
// their members' health (healthy and all): a member's health changes through the other
// member's agent too, whose heartbeats this one's cache does not see.
func stalePairs(ctx context.Context, tx store.Tx, pairs map[string][2]int) ([]string, error) {
	ids := make([]string, 0, len(pairs))
	for id, h := range pairs {
		if h[1] > 0 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var out []string
	for len(ids) > 0 {
		k := min(len(ids), maxIn)
		lbs, err := tx.LoadBalancers().List(ctx, store.Query{Filters: []store.Filter{store.In("id", ids[:k]...)}})
		if err != nil {
			return nil, err
		}
		for _, l := range lbs {
			// Fits for sure: a whole pair neither DEGRADED nor ERROR, a pair with no
			// healthy member ERROR. Anything else may be stale (or the members' doing):
			// recomputed, which costs a read of a load balancer in trouble.
			h, s := pairs[l.ID], l.Status.Operating
			fits := h[0] == h[1] && s != lb.Degraded && s != lb.OpError || h[0] == 0 && s == lb.OpError
			if !fits {
				out = append(out, l.ID)
			}
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

// segments converts what a heartbeat says about the agent's segments for its record.
func segments(in []dataplane.Segment) []lb.AgentSegment {
	if len(in) == 0 {
		return nil
	}
	out := make([]lb.AgentSegment, len(in))
	for i, s := range in {
		out[i] = lb.AgentSegment{Name: s.Name, Interface: s.Interface, Address: s.Address, MAC: s.MAC}
	}
	return out
}

// sameAddresses reports whether two segment lists hold the same addresses.
func sameAddresses(a, b []lb.AgentSegment) bool {
	set := func(x []lb.AgentSegment) []string {
		out := make([]string, len(x))
		for i, s := range x {
			out[i] = s.Address
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(set(a), set(b))
}
