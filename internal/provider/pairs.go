package provider

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/compile"
	"github.com/fulcrumlb/fulcrum/internal/controller"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/ids"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/snapshot"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// ACTIVE_STANDBY (docs/active-standby.md): a load balancer whose flavor says
// loadbalancer_topology ACTIVE_STANDBY gets two amphorae on two agents of its
// zone and group that run VRRP ("vrrp" capability) on the segment of its VIP.
// Both agents get the same listeners and one VRRP group each (one instance per
// load balancer, dataplane.VRRPGroupName); keepalived elects which one holds the VIP.
//
// The amphora rows carry the placement: vrrp_priority is the configured
// priority (100 for the member meant to be MASTER, 90 for the other, 254 while
// a planned failover promotes it), vrrp_id the group's VRID (unique per agent),
// vrrp_ip and vrrp_interface the agent's address and interface on the segment.
// The role is the live VRRP state the agents report (the health manager
// writes it), status READY once the agent runs the configuration.
//
// Failover is make before break:
//   - a member whose agent is down (or no longer eligible) is replaced by a new
//     BACKUP on a third agent: the survivor keeps its group and VRID and gets the
//     new peer (it keeps the VIP throughout), the new member joins as BACKUP;
//   - a member marked for failover (amphora or load balancer failover) that is
//     the live MASTER first hands the VIP over: the survivor is promoted
//     (priority 254 with preemption), and only once the agents report it MASTER
//     and the leaving member BACKUP is the leaving member replaced;
//   - with both marked (load balancer failover), the BACKUP goes first.

// HASettings are the VRRP settings of ACTIVE_STANDBY load balancers; zero
// values mean the defaults (lb.DefaultVRRPAdvertIntMS, lb.DefaultVRRPPriorityMaster
// and lb.DefaultVRRPPriorityBackup). A flavor's vrrp_* keys override them for
// its load balancers.
type HASettings struct {
	AdvertIntervalMS               int
	MasterPriority, BackupPriority int
}

const promotePriority = lb.VRRPPromotePriority

func (s HASettings) withDefaults() HASettings {
	s.AdvertIntervalMS = cmp.Or(s.AdvertIntervalMS, lb.DefaultVRRPAdvertIntMS)
	s.MasterPriority = cmp.Or(s.MasterPriority, lb.DefaultVRRPPriorityMaster)
	s.BackupPriority = cmp.Or(s.BackupPriority, lb.DefaultVRRPPriorityBackup)
	return s
}

// of returns the settings of a load balancer of flavor md: its vrrp_* keys over s.
func (s HASettings) of(md lb.FlavorMetadata) HASettings {
	s.AdvertIntervalMS = cmp.Or(md.VRRPAdvertIntMS, s.AdvertIntervalMS)
	s.MasterPriority = cmp.Or(md.VRRPPriorityMaster, s.MasterPriority)
	s.BackupPriority = cmp.Or(md.VRRPPriorityBackup, s.BackupPriority)
	return s.withDefaults()
}

// flavorOf reads the load balancer's flavor metadata (zero without a flavor).
func flavorOf(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) (lb.FlavorMetadata, error) {
	if l.FlavorID == "" {
		return lb.FlavorMetadata{}, nil
	}
	f, err := tx.Flavors().Get(ctx, l.FlavorID)
	if errors.Is(err, store.ErrNotFound) {
		return lb.FlavorMetadata{}, nil
	}
	if err != nil {
		return lb.FlavorMetadata{}, err
	}
	p, err := tx.FlavorProfiles().Get(ctx, f.FlavorProfileID)
	if errors.Is(err, store.ErrNotFound) {
		return lb.FlavorMetadata{}, nil
	}
	if err != nil {
		return lb.FlavorMetadata{}, err
	}
	return lb.ParseFlavorMetadata(p.FlavorData), nil
}

// member is one amphora of a pair with what placing it needs.
type member struct {
	amp   *lb.Amphora
	agent *lb.Agent
	seg   lb.AgentSegment
	peer  string // the lost peer's address, when it serves alone
}

// pairPlan is what applyPair publishes.
type pairPlan struct {
	members []member // the ones to publish to (1 or 2)
	segment string
	wait    bool // a planned handover is under way: not done yet
}

// applyPair is Apply for an ACTIVE_STANDBY load balancer of flavor md.
func (n *Native) applyPair(ctx context.Context, g *lb.Graph, md lb.FlavorMetadata) (controller.Outcome, error) {
	l := g.LoadBalancer
	hs := n.ha.of(md)
	var plan pairPlan
	var extra []string
	var material compile.TLSMaterial
	var engine string
	err := n.store.Update(ctx, func(tx store.Tx) error {
		var err error
		if engine, err = engineOf(ctx, tx, l); err != nil {
			return err
		}
		if plan, err = n.placePair(ctx, tx, l, hs); err != nil {
			return err
		}
		if n.addresses != nil {
			if extra, err = n.addresses(ctx, tx, l); err != nil {
				return err
			}
		}
		material, err = n.resolve(ctx, tx, g)
		return err
	})
	if err != nil {
		return controller.Outcome{}, err
	}
	frags := make([]*dataplane.Config, len(plan.members))
	for i, m := range plan.members {
		v := &compile.VRRP{Group: dataplane.VRRPGroupName(l.ID), Segment: plan.segment, VRID: *m.amp.VRRPID, Priority: *m.amp.VRRPPriority,
			Preempt: *m.amp.VRRPPriority == promotePriority, AdvertIntervalMS: hs.AdvertIntervalMS, SourceIP: m.amp.VRRPIP}
		for _, o := range plan.members {
			if o.amp.ID != m.amp.ID {
				v.Peer = o.amp.VRRPIP
			}
		}
		if v.Peer == "" {
			// Alone (its peer's agent is gone and no third one is up): it
			// keeps advertising to the address of the member it lost.
			v.Peer = m.peer
		}
		frag, err := compile.LoadBalancer(g, compile.Options{ExtraAddresses: extra, TLS: material, VRRP: v})
		var unsupported *compile.Unsupported
		if errors.As(err, &unsupported) {
			return controller.Outcome{}, &controller.RefusedError{Reason: err.Error()}
		}
		if err != nil {
			return controller.Outcome{}, err
		}
		if err := frag.Validate(); err != nil {
			n.log.Error("compiled data-plane configuration is invalid; not published", "loadbalancer_id", l.ID, "generation", l.Generation, "err", err)
			return controller.Outcome{}, &controller.RefusedError{Reason: "the compiled data-plane configuration is invalid: " + err.Error()}
		}
		if err := refuseForEngine(frag, engine); err != nil {
			return controller.Outcome{}, err
		}
		frags[i] = frag
	}
	done := !plan.wait
	type placed struct {
		st     snapshot.State
		reason string
	}
	states := make([]placed, len(plan.members))
	err = n.store.Update(ctx, func(tx store.Tx) error {
		for i, m := range plan.members {
			st, reason, err := n.cache.Publish(ctx, tx, m.agent.ID, l.ID, l.Generation, frags[i])
			if err != nil {
				return err
			}
			states[i] = placed{st, reason}
		}
		return nil
	})
	if err != nil {
		return controller.Outcome{}, err
	}
	for i, m := range plan.members {
		switch st, reason := states[i].st, states[i].reason; st {
		case snapshot.Applied:
			if m.amp.Status == lb.AmphoraAllocated {
				n.setAmphoraStatus(ctx, m.amp.ID, lb.AmphoraReady)
			}
		case snapshot.Refused:
			return controller.Outcome{}, &controller.RefusedError{Reason: fmt.Sprintf("agent %s refused the configuration: %s", m.agent.Name, reason)}
		default:
			done = false
		}
	}
	return controller.Outcome{Done: done}, nil
}

// placePair decides the two members of l (see the comment at the top) and
// writes the amphora rows.
func (n *Native) placePair(ctx context.Context, tx store.Tx, l *lb.LoadBalancer, hs HASettings) (pairPlan, error) {
	now := n.now().UTC().Truncate(time.Second)
	amps, err := tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.F("loadbalancer_id", l.ID)}})
	if err != nil {
		return pairPlan{}, err
	}
	zone, group, engine, err := requirements(ctx, tx, l)
	if err != nil {
		return pairPlan{}, err
	}
	vip, err := netip.ParseAddr(l.VIP.Address)
	if err != nil {
		return pairPlan{}, &controller.RefusedError{Reason: "ACTIVE_STANDBY needs a VIP address"}
	}
	eligible, err := n.eligible(ctx, tx, zone, group, engine, vip)
	if err != nil {
		return pairPlan{}, err
	}
	var keep, planned, lost []*lb.Amphora
	for _, a := range amps {
		switch {
		case a.Role == lb.RoleStandalone || a.VRRPID == nil:
			// A placement made before the load balancer was a pair.
			if err := n.dropAmphora(ctx, tx, a); err != nil {
				return pairPlan{}, err
			}
		case a.Status == lb.AmphoraPendingDelete:
			planned = append(planned, a)
		case eligible[a.AgentID].agent == nil:
			lost = append(lost, a)
		default:
			keep = append(keep, a)
		}
	}
	// Both members lost (or a pair never made): start afresh.
	if len(keep) == 0 && len(planned) == 0 {
		for _, a := range lost {
			if err := n.dropAmphora(ctx, tx, a); err != nil {
				return pairPlan{}, err
			}
		}
		return n.newPair(ctx, tx, l, eligible, zone, group, hs, now)
	}
	// Load balancer failover: the BACKUP goes first, the MASTER stays
	// (and serves) until then.
	if len(keep) == 0 && len(planned) == 2 {
		b := 1
		if planned[1].Role == lb.RoleMaster || planned[0].Role == lb.RoleBackup {
			b = 0
		}
		keep, planned = []*lb.Amphora{planned[1-b]}, []*lb.Amphora{planned[b]}
		if eligible[keep[0].AgentID].agent == nil {
			// The one that would stay is gone too: replace both.
			lost = append(lost, keep[0])
			keep = nil
		}
	}
	if len(keep) == 0 {
		// Every member is leaving and none is usable: start afresh.
		for _, a := range append(lost, planned...) {
			if err := n.dropAmphora(ctx, tx, a); err != nil {
				return pairPlan{}, err
			}
		}
		return n.newPair(ctx, tx, l, eligible, zone, group, hs, now)
	}
	survivor := keep[0]
	plan := pairPlan{segment: eligible[survivor.AgentID].seg.Name}
	sm := member{amp: survivor, agent: eligible[survivor.AgentID].agent, seg: eligible[survivor.AgentID].seg}
	if len(keep) == 2 {
		// Steady: a finished handover leaves no promoted priority behind, and a member
		// placed before its agent's address was reserved learns its port.
		for _, a := range keep {
			dirty := false
			if *a.VRRPPriority == promotePriority {
				a.VRRPPriority = intPtr(hs.MasterPriority)
				dirty = true
			}
			if a.VRRPPortID == "" {
				port, err := vrrpPort(ctx, tx, a.AgentID, a.VRRPIP)
				if err != nil {
					return pairPlan{}, err
				}
				a.VRRPPortID, dirty = port, dirty || port != ""
			}
			if dirty {
				a.Touch(now)
				if err := tx.Amphorae().Update(ctx, a); err != nil {
					return pairPlan{}, err
				}
			}
		}
		for _, a := range keep {
			e := eligible[a.AgentID]
			plan.members = append(plan.members, member{amp: a, agent: e.agent, seg: e.seg})
		}
		return plan, nil
	}
	var leaving *lb.Amphora
	switch {
	case len(lost) > 0:
		leaving = lost[0]
	case len(planned) > 0:
		leaving = planned[0]
	}
	if leaving == nil {
		// One member only: its peer was dropped earlier; give it one.
		leaving = &lb.Amphora{}
	}
	if leaving.ID != "" && leaving.Status == lb.AmphoraPendingDelete && eligible[leaving.AgentID].agent != nil && leaving.Role == lb.RoleMaster {
		// Planned failover of the live MASTER: hand the VIP over first.
		if survivor.Status != lb.AmphoraReady || survivor.Role != lb.RoleBackup && survivor.Role != lb.RoleMaster {
			// The survivor is not serving yet (a new member): wait for it.
			plan.wait = true
		} else if *survivor.VRRPPriority != promotePriority {
			survivor.VRRPPriority = intPtr(promotePriority)
			survivor.Touch(now)
			if err := tx.Amphorae().Update(ctx, survivor); err != nil {
				return pairPlan{}, err
			}
			n.log.Info("planned failover: promoting the BACKUP", "loadbalancer_id", l.ID, "agent", sm.agent.Name)
			plan.wait = true
		} else if survivor.Role != lb.RoleMaster || leaving.Role != lb.RoleBackup {
			plan.wait = true // promoted; the VIP has not moved yet
		}
		if plan.wait {
			e := eligible[leaving.AgentID]
			plan.members = []member{sm, {amp: leaving, agent: e.agent, seg: e.seg}}
			return plan, nil
		}
	}
	// Replace the leaving member by a new BACKUP on a third agent. The
	// survivor keeps its group (and the VIP) with the new peer.
	avoid := map[string]bool{survivor.AgentID: true, leaving.AgentID: true}
	target, err := n.third(ctx, tx, eligible, avoid, plan.segment, *survivor.VRRPID)
	if err != nil {
		return pairPlan{}, err
	}
	if target == nil {
		if leaving.ID != "" && leaving.Status == lb.AmphoraPendingDelete {
			return pairPlan{}, &controller.RefusedError{Reason: fmt.Sprintf("failover of amphora %s: no third agent is up on segment %s%s to replace it", leaving.ID, plan.segment, where(zone, group))}
		}
		// Nobody to replace it with: the survivor serves alone (the load
		// balancer shows DEGRADED) until an agent comes up.
		n.log.Warn("ACTIVE_STANDBY load balancer runs on one agent: no third agent to replace the lost member", "loadbalancer_id", l.ID, "agent", sm.agent.Name)
		if leaving.ID == "" {
			return pairPlan{}, &controller.RefusedError{Reason: fmt.Sprintf("ACTIVE_STANDBY needs two eligible agents on segment %s%s; 1 is up", plan.segment, where(zone, group))}
		}
		sm.peer = leaving.VRRPIP
		plan.members = []member{sm}
		return plan, nil
	}
	vrid := *survivor.VRRPID
	if target.vridTaken {
		// The survivor's VRID is in use on the new agent: the group gets
		// one free on both (keepalived starts it afresh: a short election).
		used, err := n.usedVRIDs(ctx, tx, survivor.AgentID, target.agent.ID)
		if err != nil {
			return pairPlan{}, err
		}
		if vrid, err = lowestFree(used); err != nil {
			return pairPlan{}, &controller.RefusedError{Reason: fmt.Sprintf("no free VRRP router id on agents %s and %s", sm.agent.Name, target.agent.Name)}
		}
	}
	if leaving.ID != "" {
		if err := n.dropAmphora(ctx, tx, leaving); err != nil {
			return pairPlan{}, err
		}
		n.log.Info("replacing a member of an ACTIVE_STANDBY pair", "loadbalancer_id", l.ID, "from", leaving.ComputeID, "to", target.agent.Name,
			"keeps_vip", sm.agent.Name, "planned", leaving.Status == lb.AmphoraPendingDelete)
	}
	survivor.VRRPID = intPtr(vrid)
	survivor.VRRPPriority = intPtr(hs.MasterPriority)
	survivor.Touch(now)
	if err := tx.Amphorae().Update(ctx, survivor); err != nil {
		return pairPlan{}, err
	}
	na, err := n.createMember(ctx, tx, l, target.agent, target.seg, lb.RoleBackup, vrid, hs.BackupPriority, now)
	if err != nil {
		return pairPlan{}, err
	}
	plan.members = []member{sm, {amp: na, agent: target.agent, seg: target.seg}}
	return plan, nil
}

// newPair places l on the two least loaded eligible agents.
func (n *Native) newPair(ctx context.Context, tx store.Tx, l *lb.LoadBalancer, eligible map[string]candidate, zone, group string, hs HASettings, now time.Time) (pairPlan, error) {
	list := make([]candidate, 0, len(eligible))
	for _, c := range eligible {
		list = append(list, c)
	}
	if err := n.sortByLoad(ctx, tx, list); err != nil {
		return pairPlan{}, err
	}
	// The first two of the same segment.
	var a, b *candidate
	for i := range list {
		if a == nil {
			a = &list[i]
			continue
		}
		if list[i].seg.Name == a.seg.Name {
			b = &list[i]
			break
		}
	}
	if a == nil || b == nil {
		seg := ""
		if a != nil {
			seg = " " + a.seg.Name
		}
		return pairPlan{}, &controller.RefusedError{Reason: fmt.Sprintf("ACTIVE_STANDBY needs two eligible agents on the segment%s of VIP %s%s; %d %s up",
			seg, l.VIP.Address, where(zone, group), len(list), plural(len(list), "is", "are"))}
	}
	used, err := n.usedVRIDs(ctx, tx, a.agent.ID, b.agent.ID)
	if err != nil {
		return pairPlan{}, err
	}
	vrid, err := lowestFree(used)
	if err != nil {
		return pairPlan{}, &controller.RefusedError{Reason: fmt.Sprintf("no free VRRP router id on agents %s and %s", a.agent.Name, b.agent.Name)}
	}
	ma, err := n.createMember(ctx, tx, l, a.agent, a.seg, lb.RoleMaster, vrid, hs.MasterPriority, now)
	if err != nil {
		return pairPlan{}, err
	}
	mb, err := n.createMember(ctx, tx, l, b.agent, b.seg, lb.RoleBackup, vrid, hs.BackupPriority, now)
	if err != nil {
		return pairPlan{}, err
	}
	n.log.Info("ACTIVE_STANDBY load balancer placed", "loadbalancer_id", l.ID, "master", a.agent.Name, "backup", b.agent.Name, "vrid", vrid)
	return pairPlan{segment: a.seg.Name, members: []member{{amp: ma, agent: a.agent, seg: a.seg}, {amp: mb, agent: b.agent, seg: b.seg}}}, nil
}

// candidate is an eligible agent and its address on the VIP's segment.
type candidate struct {
	agent     *lb.Agent
	seg       lb.AgentSegment
	vridTaken bool // (third) the survivor's VRID is used on it
}

// eligible returns the agents that may hold the VIP: up, not revoked, in the
// zone and group, advertising VRRP and running the load balancer's engine, with a segment
// whose subnet holds it (as their records say: what they last reported, kept across server
// restarts).
func (n *Native) eligible(ctx context.Context, tx store.Tx, zone, group, engine string, vip netip.Addr) (map[string]candidate, error) {
	agents, err := tx.Agents().List(ctx, store.Query{Filters: []store.Filter{store.F("status", lb.AgentUp), store.F("revoked", "false")}})
	if err != nil {
		return nil, err
	}
	out := map[string]candidate{}
	for _, a := range agents {
		if zone != "" && a.AvailabilityZone != zone || group != "" && a.Group != group {
			continue
		}
		if !slices.Contains(a.Capabilities, dataplane.CapabilityVRRP) || !runs(a, engine) {
			continue
		}
		for _, s := range a.Segments {
			p, err := netip.ParsePrefix(s.Address)
			if err == nil && p.Masked().Contains(vip) && p.Addr() != vip {
				out[a.ID] = candidate{agent: a, seg: s}
				break
			}
		}
	}
	return out, nil
}

// third picks the replacement member: an eligible agent on segment other
// than avoid, the least loaded, preferring one where vrid is free.
func (n *Native) third(ctx context.Context, tx store.Tx, eligible map[string]candidate, avoid map[string]bool, segment string, vrid int) (*candidate, error) {
	var list []candidate
	for id, c := range eligible {
		if !avoid[id] && c.seg.Name == segment {
			used, err := n.usedVRIDs(ctx, tx, id)
			if err != nil {
				return nil, err
			}
			c.vridTaken = used[vrid]
			list = append(list, c)
		}
	}
	if err := n.sortByLoad(ctx, tx, list); err != nil {
		return nil, err
	}
	sort.SliceStable(list, func(i, j int) bool { return !list[i].vridTaken && list[j].vridTaken })
	if len(list) == 0 {
		return nil, nil
	}
	return &list[0], nil
}

// sortByLoad orders candidates by their number of amphorae, then name.
func (n *Native) sortByLoad(ctx context.Context, tx store.Tx, list []candidate) error {
	idList := make([]string, len(list))
	for i, c := range list {
		idList[i] = c.agent.ID
	}
	load := map[string][]string{}
	if len(idList) > 0 {
		var err error
		if load, err = tx.Amphorae().Refs(ctx, "agent_id", idList); err != nil {
			return err
		}
	}
	sort.Slice(list, func(i, j int) bool {
		li, lj := len(load[list[i].agent.ID]), len(load[list[j].agent.ID])
		if li != lj {
			return li < lj
		}
		return list[i].agent.Name < list[j].agent.Name
	})
	return nil
}

// usedVRIDs returns the VRIDs of the amphorae on the agents.
func (n *Native) usedVRIDs(ctx context.Context, tx store.Tx, agentIDs ...string) (map[int]bool, error) {
	amps, err := tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.In("agent_id", agentIDs...)}})
	if err != nil {
		return nil, err
	}
	used := map[int]bool{}
	for _, a := range amps {
		if a.VRRPID != nil {
			used[*a.VRRPID] = true
		}
	}
	return used, nil
}

func lowestFree(used map[int]bool) (int, error) {
	for v := 1; v <= 255; v++ {
		if !used[v] {
			return v, nil
		}
	}
	return 0, errors.New("no free VRRP router id")
}

func (n *Native) createMember(ctx context.Context, tx store.Tx, l *lb.LoadBalancer, ag *lb.Agent, seg lb.AgentSegment, role string, vrid, prio int, now time.Time) (*lb.Amphora, error) {
	p, _ := netip.ParsePrefix(seg.Address)
	port, err := vrrpPort(ctx, tx, ag.ID, p.Addr().String())
	if err != nil {
		return nil, err
	}
	a := &lb.Amphora{ID: ids.New(), LoadBalancerID: l.ID, AgentID: ag.ID, Role: role, Status: lb.AmphoraAllocated,
		ComputeID: ag.Name, LBNetworkIP: ag.Address, VRRPIP: p.Addr().String(), VRRPInterface: seg.Interface, VRRPPortID: port,
		HAIP: l.VIP.Address, HAPortID: l.VIP.PortID, VRRPID: intPtr(vrid), VRRPPriority: intPtr(prio),
		CachedZone: ag.AvailabilityZone, Times: lb.Times{CreatedAt: now}}
	if err := tx.Amphorae().Create(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

// vrrpPort returns the IPAM port that reserves the agent's address ip (device owner
// fulcrum:agent, device id the agent; internal/network/agents.go), or "" if there is none
// (the address is in no subnet, or another port held it first).
func vrrpPort(ctx context.Context, tx store.Tx, agentID, ip string) (string, error) {
	allocs, err := tx.IPAllocations().List(ctx, store.Query{Filters: []store.Filter{store.F("ip_address", ip)}})
	if err != nil {
		return "", err
	}
	for _, al := range allocs {
		p, err := tx.Ports().Get(ctx, al.PortID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", err
		}
		if p.DeviceID == agentID {
			return p.ID, nil
		}
	}
	return "", nil
}

// dropAmphora removes a placement and withdraws the load balancer from its
// agent.
func (n *Native) dropAmphora(ctx context.Context, tx store.Tx, a *lb.Amphora) error {
	if a.AgentID != "" {
		if err := n.cache.Withdraw(ctx, tx, a.AgentID, a.LoadBalancerID); err != nil {
			return err
		}
	}
	err := tx.Amphorae().Delete(ctx, a.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

func where(zone, group string) string {
	var b strings.Builder
	if zone != "" {
		b.WriteString(" in agent zone " + zone)
	}
	if group != "" {
		b.WriteString(" in agent group " + group)
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func intPtr(v int) *int { return &v }
