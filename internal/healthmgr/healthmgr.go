// Package healthmgr turns agent heartbeats into what the API shows:
// operating statuses of members, pools, listeners and load balancers
// (rolled up as Octavia's health manager does), per-listener statistics,
// and agent liveness. An agent silent for longer than the dead window is
// marked DOWN and its load balancers are handed back to the controller,
// which reschedules them onto a healthy agent.
package healthmgr

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Acker records an agent's acknowledgements and returns the load balancers
// whose state on it changed (the snapshot cache).
type Acker interface {
	Ack(agentID string, applied uint64, refused []dataplane.Refusal) []string
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
}

// Manager processes heartbeats and watches agent liveness.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	agents map[string]*agentState
	start  time.Time
}

type agentState struct {
	lastSeen time.Time
	members  map[string]dataplane.MemberStatus // by member id
	stats    map[string]dataplane.ListenerStats
	synced   bool // statuses were computed for every placed LB at least once
}

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
	return &Manager{opts: opts, log: opts.Logger.With("component", "healthmgr"), agents: map[string]*agentState{}, start: opts.Now()}
}

func (m *Manager) state(agentID string) *agentState {
	st, ok := m.agents[agentID]
	if !ok {
		st = &agentState{members: map[string]dataplane.MemberStatus{}, stats: map[string]dataplane.ListenerStats{}}
		m.agents[agentID] = st
	}
	return st
}

// Heartbeat processes one heartbeat of agent agentID.
func (m *Manager) Heartbeat(ctx context.Context, agentID string, hb *dataplane.Heartbeat) error {
	now := m.opts.Now()
	changed := m.opts.Acker.Ack(agentID, hb.AppliedVersion, hb.Refused)

	members := make(map[string]dataplane.MemberStatus, len(hb.Health.Members))
	for _, h := range hb.Health.Members {
		members[h.MemberID] = h.Status
	}
	stats := make(map[string]dataplane.ListenerStats, len(hb.Stats.Listeners))
	for _, s := range hb.Stats.Listeners {
		stats[s.ListenerID] = s
	}

	m.mu.Lock()
	st := m.state(agentID)
	st.lastSeen = now
	full := !st.synced
	dirtyMembers := map[string]bool{}
	for id, s := range members {
		if st.members[id] != s {
			dirtyMembers[id] = true
		}
	}
	for id := range st.members {
		if _, ok := members[id]; !ok {
			dirtyMembers[id] = true
		}
	}
	var dirtyStats []dataplane.ListenerStats
	dirtyListeners := map[string]bool{}
	for id, s := range stats {
		old, ok := st.stats[id]
		if !ok || old != s {
			dirtyStats = append(dirtyStats, s)
		}
		if !ok {
			dirtyListeners[id] = true
		}
	}
	for id := range st.stats {
		if _, ok := stats[id]; !ok {
			dirtyListeners[id] = true
		}
	}
	m.mu.Unlock()

	var cameUp bool
	err := m.opts.Store.Update(ctx, func(tx store.Tx) error {
		agent, err := tx.Agents().Get(ctx, agentID)
		if err != nil {
			return err
		}
		wasDown := agent.Status != lb.AgentUp
		cameUp = wasDown
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
		if err := tx.Agents().Update(ctx, agent); err != nil {
			return err
		}
		if wasDown {
			m.log.Info("agent is up", "agent", agent.Name)
		}
		placed, err := tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.F("agent_id", agentID)}})
		if err != nil {
			return err
		}
		lbIDs := map[string]bool{}
		for _, a := range placed {
			lbIDs[a.LoadBalancerID] = true
		}
		if err := m.putStats(ctx, tx, agentID, lbIDs, dirtyStats, now); err != nil {
			return err
		}
		recompute := map[string]bool{}
		if full {
			recompute = lbIDs
		} else {
			for _, id := range changed {
				recompute[id] = true
			}
			if len(dirtyMembers) > 0 || len(dirtyListeners) > 0 {
				if err := m.affected(ctx, tx, lbIDs, dirtyMembers, dirtyListeners, recompute); err != nil {
					return err
				}
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
			if err := m.apply(ctx, tx, id, members, stats); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	st.members = members
	st.stats = stats
	st.synced = true
	m.mu.Unlock()
	if cameUp && m.opts.AgentUp != nil {
		m.opts.AgentUp()
	}
	return nil
}

// affected adds to out the placed load balancers owning a dirty member or listener.
func (m *Manager) affected(ctx context.Context, tx store.Tx, lbIDs, members, listeners map[string]bool, out map[string]bool) error {
	if len(members) > 0 {
		ids := keys(members)
		list, err := tx.Members().List(ctx, store.Query{Filters: []store.Filter{store.In("id", ids...)}})
		if err != nil {
			return err
		}
		for _, mm := range list {
			if lbIDs[mm.LoadBalancerID] {
				out[mm.LoadBalancerID] = true
			}
		}
	}
	if len(listeners) > 0 {
		list, err := tx.Listeners().List(ctx, store.Query{Filters: []store.Filter{store.In("id", keys(listeners)...)}})
		if err != nil {
			return err
		}
		for _, l := range list {
			if lbIDs[l.LoadBalancerID] {
				out[l.LoadBalancerID] = true
			}
		}
	}
	return nil
}

// apply recomputes and writes the operating statuses of one load balancer.
func (m *Manager) apply(ctx context.Context, tx store.Tx, lbID string, members map[string]dataplane.MemberStatus, stats map[string]dataplane.ListenerStats) error {
	if _, err := tx.LoadBalancers().Lock(ctx, lbID); errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	g, err := store.LoadGraph(ctx, tx, lbID)
	if err != nil {
		return err
	}
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

func (m *Manager) putStats(ctx context.Context, tx store.Tx, agentID string, lbIDs map[string]bool, dirty []dataplane.ListenerStats, now time.Time) error {
	var rows []*lb.ListenerStats
	for _, s := range dirty {
		if !lbIDs[s.LoadBalancerID] {
			continue
		}
		rows = append(rows, &lb.ListenerStats{ListenerID: s.ListenerID, AgentID: agentID, LoadBalancerID: s.LoadBalancerID,
			ActiveConnections: s.ActiveConnections, TotalConnections: s.TotalConnections, BytesIn: s.BytesIn,
			BytesOut: s.BytesOut, RequestErrors: s.RequestErrors, UpdatedAt: now})
	}
	if len(rows) == 0 {
		return nil
	}
	return tx.ListenerStats().Put(ctx, rows)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Run marks silent agents down until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	tick := time.NewTicker(m.opts.DeadAfter / 6)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := m.CheckAgents(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("agent liveness check failed", "err", err)
			}
		}
	}
}

// CheckAgents marks down every agent silent for longer than the dead window
// and enqueues its load balancers. Agents never heard from since this
// manager started get the window counted from the start.
func (m *Manager) CheckAgents(ctx context.Context) error {
	now := m.opts.Now()
	var down []*lb.Agent
	var moved []string
	err := m.opts.Store.Update(ctx, func(tx store.Tx) error {
		agents, err := tx.Agents().List(ctx, store.Query{Filters: []store.Filter{store.F("status", lb.AgentUp)}})
		if err != nil {
			return err
		}
		m.mu.Lock()
		for _, a := range agents {
			last := m.start
			if st, ok := m.agents[a.ID]; ok && st.lastSeen.After(last) {
				last = st.lastSeen
			}
			if now.Sub(last) > m.opts.DeadAfter {
				down = append(down, a)
			}
		}
		m.mu.Unlock()
		for _, a := range down {
			a.Status = lb.AgentDown
			a.Touch(now)
			if err := tx.Agents().Update(ctx, a); err != nil {
				return err
			}
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
	for _, a := range down {
		if st, ok := m.agents[a.ID]; ok {
			st.synced = false
		}
	}
	m.mu.Unlock()
	for _, a := range down {
		m.log.Warn("agent is down: moving its load balancers", "agent", a.Name, "silent_for", now.Sub(m.lastSeen(a.ID)).Round(time.Millisecond))
	}
	for _, id := range moved {
		m.opts.Enqueue(id)
	}
	return nil
}

func (m *Manager) lastSeen(agentID string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st, ok := m.agents[agentID]; ok && st.lastSeen.After(m.start) {
		return st.lastSeen
	}
	return m.start
}
