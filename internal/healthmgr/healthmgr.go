// Package healthmgr turns agent heartbeats into what the API shows:
// operating statuses of members, pools, listeners and load balancers
// (rolled up as Octavia's health manager does), per-listener statistics,
// and agent liveness. An agent silent for longer than the dead window, or
// revoked or released for re-enrollment (at once), is marked DOWN and its
// load balancers are handed back to the controller, which reschedules them
// onto a healthy agent.
//
// A heartbeat speaks for the load balancers placed on its agent only:
// statuses and statistics it reports for anything else are ignored.
package healthmgr

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Acker records an agent's acknowledgements inside the heartbeat's
// transaction and returns the load balancers whose state on the agent
// changed (snapshot.Cache, or snapshot.Shared, which also tells the
// leader's controller).
type Acker interface {
	Acknowledge(ctx context.Context, tx store.Tx, agentID string, applied uint64, refused []dataplane.Refusal) ([]string, error)
}

// Options configure New.
type Options struct {
	Store   store.Store
	Acker   Acker
	Enqueue func(lbID string) // asks the controller to reconcile
	// AgentUp, if set, is called when an agent starts heartbeating or comes
	// back, so load balancers waiting for an agent are placed at once.
	AgentUp func()
	Logger  *slog.Logger
	Now     func() time.Time
	// DeadAfter is how long an agent may stay silent before it is marked
	// down (default 3 s).
	DeadAfter time.Duration
	// CheckInterval is how often Run looks for agents to mark down: silent
	// ones, and revoked or released ones, which go down at once (default
	// DeadAfter/6, at most 500 ms).
	CheckInterval time.Duration
	// ReserveAddresses, if set, is called in the heartbeat's transaction when the agent's
	// segment addresses change (the record already holds the new ones): IPAM keeps them
	// from being handed out (network.VIPs.ReserveAgentAddresses).
	ReserveAddresses func(ctx context.Context, tx store.Tx, agent *lb.Agent) error
}

// Manager processes heartbeats and watches agent liveness.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	agents map[string]*agentState
	start  time.Time
	// observed is, by agent id, the last heartbeat time the store held
	// when a liveness check looked, and when it first saw that value: a
	// heartbeat another server received moves it, so the leader counts
	// every server's heartbeats without trusting their clocks.
	observed map[string]observation
}

type observation struct {
	value, at time.Time
}

type agentState struct {
	// Guarded by Manager.mu.
	lastSeen time.Time
	wrote    int64 // the last heartbeat time this manager stored, in unix µs
	synced   bool  // statuses were computed for every placed LB at least once

	// beat serialises the agent's heartbeats; it guards the rest.
	beat    sync.Mutex
	members map[string]dataplane.MemberStatus // by member id, as last reported
	stats   map[string]dataplane.ListenerStats
	mstats  map[string]dataplane.MemberStats // by member id, as last stored
	// owner maps member and listener ids the agent reported to their load
	// balancer as the store has it ("" = the store knows no such id). An
	// id never changes load balancer, and the server makes its ids, so
	// neither answer goes stale; the cache spares the store a lookup per
	// id and heartbeat, also for ids an agent makes up.
	memberLB, listenerLB map[string]string
	reported             map[string]bool   // listener ids in the last heartbeat
	pairs                map[string][2]int // healthy and all members of pairs, as last rolled up
	// hold: the VRRP groups the last heartbeat's answer names (vrrp.go). Guarded by
	// Manager.mu.
	hold []dataplane.Hold
	// seq is the Seq of the last regular heartbeat processed (0: none, or
	// it failed), the base a delta must name; the raw maps are its report
	// as the agent sent it (only for an agent that numbers its heartbeats),
	// which a delta is applied to.
	seq       uint64
	rawHealth map[string]dataplane.MemberHealth
	rawStats  map[string]dataplane.ListenerStats
	rawMStats map[string]dataplane.MemberStats
	// caps and segs are the capabilities and segments that heartbeat
	// reported, as stored on the agent.
	caps []string
	segs []dataplane.Segment
}

// maxReportEntries bounds each list of an agent's report (listener stats,
// member stats, member health) that deltas may build up: about what the
// largest full heartbeat holds. A delta that would go beyond gets a resync.
const maxReportEntries = 1 << 18

// New returns a manager.
func New(opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DeadAfter <= 0 {
		opts.DeadAfter = 3 * time.Second
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = min(opts.DeadAfter/6, 500*time.Millisecond)
	}
	return &Manager{opts: opts, log: opts.Logger.With("component", "healthmgr"), agents: map[string]*agentState{}, start: opts.Now(),
		observed: map[string]observation{}}
}

// state returns agent agentID's state. Callers hold m.mu.
func (m *Manager) state(agentID string) *agentState {
	st, ok := m.agents[agentID]
	if !ok {
		st = &agentState{members: map[string]dataplane.MemberStatus{}, stats: map[string]dataplane.ListenerStats{},
			mstats:   map[string]dataplane.MemberStats{},
			memberLB: map[string]string{}, listenerLB: map[string]string{}, reported: map[string]bool{}, pairs: map[string][2]int{}}
		m.agents[agentID] = st
	}
	return st
}

// Heartbeat processes one heartbeat of agent agentID. It speaks for the
// load balancers placed on the agent only: member statuses and listener
// statistics of any other load balancer, and statistics of a listener
// that is not the named load balancer's, are ignored. The heartbeat of an
// agent that is revoked or released for re-enrollment (a request that
// passed authentication just before) is dropped: it does not bring the
// agent back up. Heartbeats of one agent are processed one at a time.
func (m *Manager) Heartbeat(ctx context.Context, agentID string, hb *dataplane.Heartbeat) error {
	_, err := m.HeartbeatDelta(ctx, agentID, hb)
	return err
}

// HeartbeatDelta is Heartbeat for a full heartbeat, an acknowledgement or a
// delta (dataplane.Heartbeat.Base). A delta of the last heartbeat this
// manager processed for the agent is applied to that one's report and then
// processed as a full heartbeat; any other delta (this server restarted,
// another one answered its base, the agent was marked down meanwhile) is
// taken as an acknowledgement only, and resync is true: the agent is to
// send a full heartbeat.
func (m *Manager) HeartbeatDelta(ctx context.Context, agentID string, hb *dataplane.Heartbeat) (resync bool, err error) {
	now := m.opts.Now()
	m.mu.Lock()
	st := m.state(agentID)
	// Heard from now, however long the store takes to record it.
	st.lastSeen = now
	m.mu.Unlock()
	st.beat.Lock()
	defer st.beat.Unlock()
	if hb.Ack {
		return false, m.ack(ctx, agentID, st, hb, now)
	}
	if hb.Base != 0 {
		m.mu.Lock()
		synced := st.synced
		m.mu.Unlock()
		if !synced || st.seq == 0 || st.seq != hb.Base {
			st.seq = 0
			return true, m.ack(ctx, agentID, st, hb, now)
		}
		if st.quiet(hb) {
			// Nothing the statuses are computed from changed: what is left
			// is an acknowledgement's (heard from, applied version and
			// refusals, the load balancers they settle), at a cost that
			// does not grow with what the agent holds.
			if err := m.ack(ctx, agentID, st, hb, now); err != nil {
				st.seq = 0
				return false, err
			}
			st.seq = hb.Seq
			return false, nil
		}
		if !st.expand(hb) {
			st.seq = 0
			return true, m.ack(ctx, agentID, st, hb, now)
		}
	}
	if err := m.full(ctx, agentID, st, hb, now); err != nil {
		st.seq = 0
		return false, err
	}
	st.seq = hb.Seq
	if hb.Seq == 0 {
		st.rawHealth, st.rawStats, st.rawMStats, st.caps, st.segs = nil, nil, nil, nil, nil
		return false, nil
	}
	st.caps, st.segs = slices.Clone(hb.Capabilities), slices.Clone(hb.Segments)
	st.rawHealth = make(map[string]dataplane.MemberHealth, len(hb.Health.Members))
	for _, h := range hb.Health.Members {
		st.rawHealth[h.MemberID] = h
	}
	st.rawStats = make(map[string]dataplane.ListenerStats, len(hb.Stats.Listeners))
	for _, l := range hb.Stats.Listeners {
		st.rawStats[l.ListenerID] = l
	}
	st.rawMStats = make(map[string]dataplane.MemberStats, len(hb.Stats.Members))
	for _, ms := range hb.Stats.Members {
		st.rawMStats[ms.MemberID] = ms
	}
	return false, nil
}

// quiet reports whether delta hb changes nothing the statuses are computed
// from: no counter, health or gone entry, no VRRP report, the capabilities
// and segments of the last full heartbeat, and no active-standby pair among
// the agent's load balancers as that heartbeat found them (the other
// member's agent changes a pair's status). The caller holds st.beat.
func (st *agentState) quiet(hb *dataplane.Heartbeat) bool {
	return len(hb.Stats.Listeners) == 0 && len(hb.Stats.Members) == 0 && len(hb.Health.Members) == 0 && hb.Gone == nil &&
		len(hb.VRRP) == 0 && len(st.pairs) == 0 && slices.Equal(hb.Capabilities, st.caps) && slices.Equal(hb.Segments, st.segs)
}

// expand makes delta hb the whole report it stands for: the last one's
// (st.raw*) with hb's entries put over it and its Gone ones taken out. It
// returns false, leaving hb as it was, when a list would exceed
// maxReportEntries. The caller holds st.beat.
func (st *agentState) expand(hb *dataplane.Heartbeat) bool {
	var gone dataplane.Gone
	if hb.Gone != nil {
		gone = *hb.Gone
	}
	health := overlay(st.rawHealth, gone.MemberHealths, hb.Health.Members, func(h dataplane.MemberHealth) string { return h.MemberID })
	stats := overlay(st.rawStats, gone.Listeners, hb.Stats.Listeners, func(l dataplane.ListenerStats) string { return l.ListenerID })
	mstats := overlay(st.rawMStats, gone.MemberStats, hb.Stats.Members, func(ms dataplane.MemberStats) string { return ms.MemberID })
	if health == nil || stats == nil || mstats == nil {
		return false
	}
	hb.Health.Members, hb.Stats.Listeners, hb.Stats.Members = health, stats, mstats
	hb.Base, hb.Gone = 0, nil
	return true
}

// overlay returns base's values with the ids of gone left out and changed
// put over them; nil when there would be more than
// maxReportEntries.
func overlay[V any](base map[string]V, gone []string, changed []V, id func(V) string) []V {
	if len(base)+len(changed) > maxReportEntries+len(gone) {
		return nil
	}
	all := make(map[string]V, len(base)+len(changed))
	for k, v := range base {
		all[k] = v
	}
	for _, k := range gone {
		delete(all, k)
	}
	for _, v := range changed {
		all[id(v)] = v
	}
	if len(all) > maxReportEntries {
		return nil
	}
	out := make([]V, 0, len(all))
	for _, v := range all {
		out = append(out, v)
	}
	return out
}

// full processes a whole heartbeat (hb.Ack false, hb.Base 0). The caller
// holds st.beat.
func (m *Manager) full(ctx context.Context, agentID string, st *agentState, hb *dataplane.Heartbeat, now time.Time) error {
	m.mu.Lock()
	full := !st.synced
	m.mu.Unlock()

	members := make(map[string]dataplane.MemberStatus, len(hb.Health.Members))
	for _, h := range hb.Health.Members {
		members[h.MemberID] = h.Status
	}
	dirtyMembers := map[string]bool{}
	for id, s := range members {
		if old, ok := st.members[id]; !ok || old != s {
			dirtyMembers[id] = true
		}
	}
	for id := range st.members {
		if _, ok := members[id]; !ok {
			dirtyMembers[id] = true
		}
	}
	reportedListeners := map[string]bool{}
	for _, s := range hb.Stats.Listeners {
		reportedListeners[s.ListenerID] = true
	}
	reportedMembers := map[string]bool{}
	for _, s := range hb.Stats.Members {
		reportedMembers[s.MemberID] = true
	}

	// Owners of what is reported now and of what was before (what vanished
	// changes statuses too), looked up in a read transaction: ids an agent
	// makes up cost reads, never the writer's time.
	var looks map[string]*look
	err := m.opts.Store.View(ctx, func(tx store.Tx) error {
		err := resolve(st.listenerLB, union(reportedListeners, st.stats), func(ids []string) (map[string]string, error) {
			list, err := tx.Listeners().List(ctx, store.Query{Filters: []store.Filter{store.In("id", ids...)}})
			out := map[string]string{}
			for _, l := range list {
				out[l.ID] = l.LoadBalancerID
			}
			return out, err
		})
		if err != nil {
			return err
		}
		err = resolve(st.memberLB, union(dirtyMembers, reportedMembers), func(ids []string) (map[string]string, error) {
			list, err := tx.Members().List(ctx, store.Query{Filters: []store.Filter{store.In("id", ids...)}})
			out := map[string]string{}
			for _, mm := range list {
				out[mm.ID] = mm.LoadBalancerID
			}
			return out, err
		})
		if err != nil || full {
			return err
		}
		// The load balancers this heartbeat will likely recompute, read
		// here rather than in the write transaction (look).
		candidates := map[string]bool{}
		for id := range dirtyMembers {
			candidates[st.memberLB[id]] = true
		}
		lookStats := map[string]dataplane.ListenerStats{}
		for _, s := range hb.Stats.Listeners {
			if st.listenerLB[s.ListenerID] == s.LoadBalancerID {
				lookStats[s.ListenerID] = s
				if _, ok := st.stats[s.ListenerID]; !ok {
					candidates[s.LoadBalancerID] = true
				}
			}
		}
		for id := range st.stats {
			if _, ok := lookStats[id]; !ok {
				candidates[st.listenerLB[id]] = true
			}
		}
		if pv, ok := m.opts.Acker.(AckPreviewer); ok {
			ids, err := pv.Acknowledging(ctx, tx, agentID, hb.AppliedVersion, hb.Refused)
			if err != nil {
				return err
			}
			for _, id := range ids {
				candidates[id] = true
			}
		}
		looks, err = m.lookAll(ctx, tx, candidates, members, lookStats, st.pairs)
		return err
	})
	if err != nil {
		return err
	}

	vrrpOK := true
	if err := hb.CheckVRRP(); err != nil {
		m.log.Warn("heartbeat's VRRP report ignored", "agent_id", agentID, "err", err)
		hb.Capabilities, hb.Segments, hb.VRRP = nil, nil, nil
		vrrpOK = false
	}
	var cameUp, dropped bool
	var stats map[string]dataplane.ListenerStats
	var mstats map[string]dataplane.MemberStats
	var vrrpChanged []string
	var hold []dataplane.Hold
	var pairs map[string][2]int
	err = m.opts.Store.Update(ctx, func(tx store.Tx) error {
		cameUp, dropped, vrrpChanged, hold = false, false, nil, nil
		agent, changed, err := m.admit(ctx, tx, agentID, hb)
		if err != nil || agent == nil {
			dropped = agent == nil && err == nil
			return err
		}
		placed, err := tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.F("agent_id", agentID)}})
		if err != nil {
			return err
		}
		lbIDs := map[string]bool{}
		var pairIDs []string
		for _, a := range placed {
			lbIDs[a.LoadBalancerID] = true
			if a.VRRPID != nil {
				pairIDs = append(pairIDs, a.LoadBalancerID)
			}
		}
		if vrrpChanged, err = vrrpStates(ctx, tx, placed, hb, now); err != nil {
			return err
		}
		pairAmps, err := pairMembers(ctx, tx, pairIDs)
		if err != nil {
			return err
		}
		pairs = pairHealth(pairAmps)
		if hold, err = holds(ctx, tx, agentID, placed, pairAmps, hb); err != nil {
			return err
		}
		// Statistics count only for a listener of a load balancer on this
		// agent, filed under that load balancer.
		stats = map[string]dataplane.ListenerStats{}
		for _, s := range hb.Stats.Listeners {
			if lbIDs[s.LoadBalancerID] && st.listenerLB[s.ListenerID] == s.LoadBalancerID {
				stats[s.ListenerID] = s
			}
		}
		// Member counters likewise: a member of a load balancer on this agent.
		mstats = map[string]dataplane.MemberStats{}
		var dirtyMemberStats []*lb.MemberStats
		for _, s := range hb.Stats.Members {
			owner := st.memberLB[s.MemberID]
			if owner == "" || !lbIDs[owner] {
				continue
			}
			mstats[s.MemberID] = s
			if old, ok := st.mstats[s.MemberID]; !ok || old != s {
				dirtyMemberStats = append(dirtyMemberStats, &lb.MemberStats{MemberID: s.MemberID, AgentID: agentID,
					LoadBalancerID: owner, ActiveConnections: s.ActiveConnections,
					TotalConnections: s.TotalConnections, ConnectErrors: s.ConnectErrors, UpdatedAt: now})
			}
		}
		var dirtyStats []dataplane.ListenerStats
		recompute := map[string]bool{}
		for id, s := range stats {
			old, ok := st.stats[id]
			if !ok || old != s {
				dirtyStats = append(dirtyStats, s)
			}
			if !ok {
				recompute[s.LoadBalancerID] = true
			}
		}
		for id := range st.stats {
			if _, ok := stats[id]; !ok {
				recompute[st.listenerLB[id]] = true
			}
		}
		for id := range dirtyMembers {
			recompute[st.memberLB[id]] = true
		}
		for _, id := range changed {
			recompute[id] = true
		}
		for id, h := range pairs {
			if old, ok := st.pairs[id]; !ok || old != h {
				recompute[id] = true
			}
		}
		// The other member's agent (maybe through another server) changes a pair's health
		// too: a stored status that does not fit it is recomputed.
		stale, err := stalePairs(ctx, tx, pairs)
		if err != nil {
			return err
		}
		for _, id := range stale {
			recompute[id] = true
		}
		if full {
			recompute = lbIDs
		}

		wasDown := heardFrom(agent, hb, now)
		cameUp = wasDown
		if vrrpOK {
			moved := !sameAddresses(agent.Segments, segments(hb.Segments))
			agent.Capabilities, agent.Segments = hb.Capabilities, segments(hb.Segments)
			if moved && m.opts.ReserveAddresses != nil {
				if err := m.opts.ReserveAddresses(ctx, tx, agent); err != nil {
					return err
				}
			}
		}
		if err := tx.Agents().Update(ctx, agent); err != nil {
			return err
		}
		if wasDown {
			m.log.Info("agent is up", "agent", agent.Name)
		}
		if err := m.putStats(ctx, tx, agentID, dirtyStats, now); err != nil {
			return err
		}
		if len(dirtyMemberStats) > 0 {
			if err := tx.MemberStats().Put(ctx, dirtyMemberStats); err != nil {
				return err
			}
		}
		ids := make([]string, 0, len(recompute))
		for id := range recompute {
			if lbIDs[id] {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		for _, id := range ids {
			if done, err := m.applyLooked(ctx, tx, id, looks[id], pairs[id]); err != nil || done {
				if err != nil {
					return err
				}
				continue
			}
			if err := m.apply(ctx, tx, id, members, stats, pairs[id]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || dropped {
		return err
	}
	m.mu.Lock()
	st.wrote = now.UnixMicro()
	m.mu.Unlock()
	for _, id := range vrrpChanged {
		m.opts.Enqueue(id)
	}
	st.pairs = pairs
	// Keep the owners of this heartbeat's ids and the last one's: an agent
	// alternating between two reports costs no lookups.
	prune(st.listenerLB, union(reportedListeners, st.reported))
	prune(st.memberLB, union(union(members, st.members), union(reportedMembers, st.mstats)))
	st.members, st.stats, st.reported, st.mstats = members, stats, reportedListeners, mstats
	m.mu.Lock()
	st.synced = true
	st.hold = hold
	m.mu.Unlock()
	if cameUp && m.opts.AgentUp != nil {
		m.opts.AgentUp()
	}
	return nil
}

// ack records a heartbeat that only acknowledges a config
// (dataplane.Heartbeat.Ack): the agent is heard from and up, its applied
// version and refusals are stored, and the load balancers the
// acknowledgement settles get their statuses from the health and stats of
// the last full heartbeat. It reads only those load balancers, so its cost
// does not grow with what the agent holds. The caller holds st.beat.
func (m *Manager) ack(ctx context.Context, agentID string, st *agentState, hb *dataplane.Heartbeat, now time.Time) error {
	// Without a full heartbeat of the agent yet (this server just started,
	// or the agent just moved here), there is no health to compute statuses
	// from: the next full heartbeat computes every one.
	m.mu.Lock()
	synced := st.synced
	m.mu.Unlock()
	var looks map[string]*look
	if pv, ok := m.opts.Acker.(AckPreviewer); ok && synced {
		// The graphs are read before the write transaction, which then
		// settles only what differs (look).
		err := m.opts.Store.View(ctx, func(tx store.Tx) error {
			ids, err := pv.Acknowledging(ctx, tx, agentID, hb.AppliedVersion, hb.Refused)
			if err != nil {
				return err
			}
			set := make(map[string]bool, len(ids))
			for _, id := range ids {
				set[id] = true
			}
			looks, err = m.lookAll(ctx, tx, set, st.members, st.stats, st.pairs)
			return err
		})
		if err != nil {
			return err
		}
	}
	var cameUp, dropped bool
	err := m.opts.Store.Update(ctx, func(tx store.Tx) error {
		cameUp, dropped = false, false
		agent, changed, err := m.admit(ctx, tx, agentID, hb)
		if err != nil || agent == nil {
			dropped = agent == nil && err == nil
			return err
		}
		cameUp = heardFrom(agent, hb, now)
		if err := tx.Agents().Update(ctx, agent); err != nil {
			return err
		}
		if cameUp {
			m.log.Info("agent is up", "agent", agent.Name)
		}
		if !synced {
			return nil
		}
		ids := slices.Clone(changed)
		sort.Strings(ids)
		for _, id := range slices.Compact(ids) {
			// Only a load balancer placed on this agent takes its word. By
			// the load balancer's placements (one or two rows): filtered by
			// agent too, SQLite may walk the agent's every placement.
			amps, err := tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.F("loadbalancer_id", id)}})
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(amps, func(a *lb.Amphora) bool { return a.AgentID == agentID }) {
				continue
			}
			if done, err := m.applyLooked(ctx, tx, id, looks[id], st.pairs[id]); err != nil || done {
				if err != nil {
					return err
				}
				continue
			}
			if err := m.apply(ctx, tx, id, st.members, st.stats, st.pairs[id]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || dropped {
		return err
	}
	m.mu.Lock()
	st.wrote = now.UnixMicro()
	m.mu.Unlock()
	if cameUp && m.opts.AgentUp != nil {
		m.opts.AgentUp()
	}
	return nil
}

// Holds returns the VRRP groups agent agentID must keep in FAULT, as its last heartbeat
// left them (the split-brain rule, vrrp.go): the agent API puts them in its answer.
func (m *Manager) Holds(agentID string) []dataplane.Hold {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st, ok := m.agents[agentID]; ok {
		return slices.Clone(st.hold)
	}
	return nil
}

// maxIn is how many values one IN filter carries: the store turns a filter
// into one expression per value, and SQLite bounds expression depth.
const maxIn = 200

// resolve adds to owner every id of ids it lacks, looked up with lookup
// (maxIn ids at a time); ids the lookup does not return map to "".
func resolve[V any](owner map[string]string, ids map[string]V, lookup func(ids []string) (map[string]string, error)) error {
	var missing []string
	for id := range ids {
		if _, ok := owner[id]; !ok {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	for len(missing) > 0 {
		n := min(len(missing), maxIn)
		found, err := lookup(missing[:n])
		if err != nil {
			return err
		}
		for _, id := range missing[:n] {
			owner[id] = found[id]
		}
		missing = missing[n:]
	}
	return nil
}

// prune drops from owner the ids not in keep.
func prune[V any](owner map[string]string, keep map[string]V) {
	for id := range owner {
		if _, ok := keep[id]; !ok {
			delete(owner, id)
		}
	}
}

// union returns the keys of a and b.
func union[A, B any](a map[string]A, b map[string]B) map[string]bool {
	out := make(map[string]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// apply recomputes and writes the operating statuses of one load balancer.
func (m *Manager) apply(ctx context.Context, tx store.Tx, lbID string, members map[string]dataplane.MemberStatus, stats map[string]dataplane.ListenerStats, pair [2]int) error {
	// Look first without a lock: most heartbeats change nothing, and a
	// load balancer's row lock is what writes and reconciles queue on.
	g, err := store.LoadGraph(ctx, tx, lbID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !differs(g, rollup(g, members, stats, pair)) {
		return nil
	}
	if _, err := tx.LoadBalancers().Lock(ctx, lbID); errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if g, err = store.LoadGraph(ctx, tx, lbID); err != nil {
		return err
	}
	want := rollup(g, members, stats, pair)
	now := m.opts.Now().UTC().Truncate(time.Second)
	set := func(id string, s *lb.Status, t *lb.Times, save func() error) error {
		w, ok := want[id]
		if !ok || s.Operating == w {
			return nil
		}
		s.Operating = w
		t.Touch(now)
		return save()
	}
	for _, x := range g.Members {
		if err := set(x.ID, &x.Status, &x.Times, func() error { return tx.Members().Update(ctx, x) }); err != nil {
			return err
		}
	}
	for _, x := range g.Pools {
		if err := set(x.ID, &x.Status, &x.Times, func() error { return tx.Pools().Update(ctx, x) }); err != nil {
			return err
		}
	}
	for _, x := range g.Listeners {
		if err := set(x.ID, &x.Status, &x.Times, func() error { return tx.Listeners().Update(ctx, x) }); err != nil {
			return err
		}
	}
	l := g.LoadBalancer
	return set(l.ID, &l.Status, &l.Times, func() error { return tx.LoadBalancers().Update(ctx, l) })
}

// rollup computes the operating statuses of g's objects from what the
// agent reports, and of a pair's load balancer from its members' health.
func rollup(g *lb.Graph, members map[string]dataplane.MemberStatus, stats map[string]dataplane.ListenerStats, pair [2]int) map[string]lb.OperatingStatus {
	obs := Observation{Members: map[string]dataplane.MemberStatus{}, Listeners: map[string]ListenerObs{}}
	for _, mm := range g.Members {
		if s, ok := members[mm.ID]; ok {
			obs.Members[mm.ID] = s
		}
	}
	for _, l := range g.Listeners {
		if s, ok := stats[l.ID]; ok {
			obs.Listeners[l.ID] = ListenerObs{Full: l.ConnectionLimit > 0 && s.ActiveConnections >= int64(l.ConnectionLimit)}
		}
	}
	want := Rollup(g, obs)
	if w, ok := want[g.LoadBalancer.ID]; ok {
		want[g.LoadBalancer.ID] = pairStatus(w, pair[0], pair[1])
	}
	return want
}

// differs reports whether want changes any operating status of g.
func differs(g *lb.Graph, want map[string]lb.OperatingStatus) bool {
	ne := func(id string, s lb.Status) bool {
		w, ok := want[id]
		return ok && w != s.Operating
	}
	for _, x := range g.Members {
		if ne(x.ID, x.Status) {
			return true
		}
	}
	for _, x := range g.Pools {
		if ne(x.ID, x.Status) {
			return true
		}
	}
	for _, x := range g.Listeners {
		if ne(x.ID, x.Status) {
			return true
		}
	}
	return ne(g.LoadBalancer.ID, g.LoadBalancer.Status)
}

// putStats stores the agent's changed listener statistics (already
// checked by ownStats).
func (m *Manager) putStats(ctx context.Context, tx store.Tx, agentID string, dirty []dataplane.ListenerStats, now time.Time) error {
	var rows []*lb.ListenerStats
	for _, s := range dirty {
		rows = append(rows, &lb.ListenerStats{ListenerID: s.ListenerID, AgentID: agentID, LoadBalancerID: s.LoadBalancerID,
			ActiveConnections: s.ActiveConnections, TotalConnections: s.TotalConnections, BytesIn: s.BytesIn,
			BytesOut: s.BytesOut, RequestErrors: s.RequestErrors, UpdatedAt: now})
	}
	if len(rows) == 0 {
		return nil
	}
	return tx.ListenerStats().Put(ctx, rows)
}

// Run marks agents down (CheckAgents every CheckInterval) until ctx ends.
func (m *Manager) Run(ctx context.Context) error { return m.RunLiveness(ctx, m.opts.Store) }

// RunLiveness is Run writing through st: on servers sharing a store, the
// leader runs it with the fenced store of its term, so that dead-agent
// detection runs once and a deposed leader's verdicts are refused.
func (m *Manager) RunLiveness(ctx context.Context, st store.Store) error {
	tick := time.NewTicker(m.opts.CheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := m.checkAgents(ctx, st); err != nil && ctx.Err() == nil {
				m.log.Warn("agent liveness check failed", "err", err)
			}
		}
	}
}

// downReason says why agent a, marked up, is to be marked down ("" if it
// is not): revoked or released agents go down at once, silent ones after
// the dead window. Callers hold m.mu.
func (m *Manager) downReason(a *lb.Agent, now time.Time) string {
	switch {
	case a.Revoked:
		return "revoked"
	case a.CertSerial == "":
		return "released for re-enrollment (--replace)"
	}
	if now.Sub(m.lastSeenLocked(a.ID)) > m.opts.DeadAfter {
		return "silent for longer than the dead window"
	}
	return ""
}

// observe notes the heartbeat time the store holds for a (the latest of
// any server's). Callers hold m.mu.
func (m *Manager) observe(a *lb.Agent, now time.Time) {
	if a.LastHeartbeat == nil {
		return
	}
	if o, ok := m.observed[a.ID]; ok && o.value.Equal(*a.LastHeartbeat) {
		return
	}
	at := now
	if st, ok := m.agents[a.ID]; ok && st.wrote == a.LastHeartbeat.UnixMicro() {
		at = st.lastSeen // a heartbeat this manager stored: its own clock says when
	}
	m.observed[a.ID] = observation{value: *a.LastHeartbeat, at: at}
}

// lastSeenLocked is when agentID was last heard from, by this server or,
// as far as the store showed, any other; the manager's start when never.
// Callers hold m.mu.
func (m *Manager) lastSeenLocked(agentID string) time.Time {
	last := m.start
	if st, ok := m.agents[agentID]; ok && st.lastSeen.After(last) {
		last = st.lastSeen
	}
	if o, ok := m.observed[agentID]; ok && o.at.After(last) {
		last = o.at
	}
	return last
}

// CheckAgents marks down every agent that is revoked or released for
// re-enrollment (`agent-revoke`, `agent-token --replace`), at once, and
// every agent silent for longer than the dead window, and enqueues their
// load balancers, which the controller moves to healthy agents. Agents
// never heard from since this manager started get the window counted from
// the start. It writes only when there is an agent to mark down.
func (m *Manager) CheckAgents(ctx context.Context) error { return m.checkAgents(ctx, m.opts.Store) }

func (m *Manager) checkAgents(ctx context.Context, st store.Store) error {
	now := m.opts.Now()
	var candidates []string
	err := st.View(ctx, func(tx store.Tx) error {
		candidates = nil
		agents, err := tx.Agents().List(ctx, store.Query{Filters: []store.Filter{store.F("status", lb.AgentUp)}})
		if err != nil {
			return err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, a := range agents {
			m.observe(a, now)
			if m.downReason(a, now) != "" {
				candidates = append(candidates, a.ID)
			}
		}
		return nil
	})
	if err != nil || len(candidates) == 0 {
		return err
	}
	type down struct {
		agent  *lb.Agent
		reason string
	}
	var downs []down
	var moved []string
	err = st.Update(ctx, func(tx store.Tx) error {
		downs, moved = nil, nil
		for _, id := range candidates {
			a, err := tx.Agents().Lock(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if a.Status != lb.AgentUp {
				continue
			}
			// Look again: a heartbeat may have come in meanwhile.
			m.mu.Lock()
			m.observe(a, now)
			reason := m.downReason(a, now)
			m.mu.Unlock()
			if reason == "" {
				continue
			}
			a.Status = lb.AgentDown
			a.Touch(now)
			if err := tx.Agents().Update(ctx, a); err != nil {
				return err
			}
			downs = append(downs, down{a, reason})
			placed, err := tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.F("agent_id", a.ID)}})
			if err != nil {
				return err
			}
			for _, p := range placed {
				p.Status = lb.AmphoraError
				p.Touch(now)
				if err := tx.Amphorae().Update(ctx, p); err != nil {
					return err
				}
				moved = append(moved, p.LoadBalancerID)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	for _, d := range downs {
		if st, ok := m.agents[d.agent.ID]; ok {
			st.synced = false
		}
	}
	m.mu.Unlock()
	for _, d := range downs {
		m.log.Warn("agent is down: moving its load balancers", "agent", d.agent.Name, "reason", d.reason,
			"silent_for", now.Sub(m.lastSeen(d.agent.ID)).Round(time.Millisecond))
	}
	for _, id := range moved {
		m.opts.Enqueue(id)
	}
	return nil
}

func (m *Manager) lastSeen(agentID string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastSeenLocked(agentID)
}

// AgentHealth is what the manager knows of one agent, for metrics.
type AgentHealth struct {
	Name   string
	Status string // lb.AgentUp or lb.AgentDown
	// HeartbeatAge is the time since the agent's last heartbeat processed by
	// this manager, or since the manager started when it has heard none.
	HeartbeatAge time.Duration
	// AppliedVersion is the newest config version the agent reported applied.
	AppliedVersion uint64
}

// Agents returns every enrolled agent with its status and heartbeat age, in
// the store's order.
func (m *Manager) Agents(ctx context.Context) ([]AgentHealth, error) {
	var agents []*lb.Agent
	err := m.opts.Store.View(ctx, func(tx store.Tx) error {
		var err error
		agents, err = tx.Agents().List(ctx, store.Query{})
		return err
	})
	if err != nil {
		return nil, err
	}
	now := m.opts.Now()
	out := make([]AgentHealth, 0, len(agents))
	for _, a := range agents {
		out = append(out, AgentHealth{Name: a.Name, Status: a.Status, HeartbeatAge: now.Sub(m.lastSeen(a.ID)), AppliedVersion: a.AppliedVersion})
	}
	return out, nil
}

// heardFrom records on agent what every heartbeat says, a full one or an
// acknowledgement: up, heard from now, its applied version, its last
// refusal, its address. It reports whether the agent was not up before.
func heardFrom(agent *lb.Agent, hb *dataplane.Heartbeat, now time.Time) (cameUp bool) {
	cameUp = agent.Status != lb.AgentUp
	agent.Status = lb.AgentUp
	t := now.UTC()
	agent.LastHeartbeat = &t
	agent.AppliedVersion = hb.AppliedVersion
	if len(hb.Refused) > 0 {
		r := hb.Refused[len(hb.Refused)-1]
		agent.RefusedVersion, agent.RefusedReason = r.Version, r.Reason
	}
	if hb.Address != "" {
		agent.Address = hb.Address
	}
	return cameUp
}

// admit reads the agent a heartbeat (full or an acknowledgement) comes from
// and records the configuration version it applied: nil without an error
// when the agent is revoked or has no certificate (its word is dropped).
func (m *Manager) admit(ctx context.Context, tx store.Tx, agentID string, hb *dataplane.Heartbeat) (*lb.Agent, []string, error) {
	agent, err := tx.Agents().Get(ctx, agentID)
	if err != nil {
		return nil, nil, err
	}
	if agent.Revoked || agent.CertSerial == "" {
		return nil, nil, nil
	}
	changed, err := m.opts.Acker.Acknowledge(ctx, tx, agentID, hb.AppliedVersion, hb.Refused)
	if err != nil {
		return nil, nil, err
	}
	return agent, changed, nil
}
