// Package snapshot keeps one versioned data-plane configuration per agent,
// assembled from per-load-balancer fragments, in the style of Envoy's
// go-control-plane snapshot cache: the controller puts and deletes
// fragments; agents watch their node's version with a blocking call and
// fetch the whole config when it moves; acknowledgements tell which
// load-balancer generations each agent runs.
//
// Versions are max(previous+1, now in unix microseconds), so they keep
// increasing across server restarts, which agents (refusing older versions)
// depend on.
package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// State is where one load balancer stands on one agent.
type State int

// States.
const (
	Pending State = iota // published, not yet acknowledged
	Applied              // the agent runs a version containing it
	Refused              // the agent refused it; Reason says why
	Absent               // not published on this agent
)

func (s State) String() string {
	return [...]string{"pending", "applied", "refused", "absent"}[s]
}

// Cache is the per-agent snapshot store. It is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	now   func() time.Time
	nodes map[string]*node
	// durable: the cache mirrors a store (Shared), whose versions and
	// withdrawals outlive this process, so a node it creates can answer a
	// delta from any version the store can (floor 0 until the store says).
	// Otherwise a node answers deltas only from versions it made itself.
	durable bool
	// notify is called, outside the lock, with the load balancers whose
	// state changed on some agent because of an acknowledgement.
	notify func(lbIDs []string)
}

type fragment struct {
	gen     int64
	cfg     *dataplane.Config
	raw     []byte // canonical JSON, to detect identical content
	version uint64 // first version containing this content
	need    int    // the data-plane contract it needs
}

type node struct {
	version uint64
	frags   map[string]*fragment
	removed map[string]uint64 // lb id → version that dropped it (the tombstones deltas carry)
	// floor is the oldest version a delta can start from: below it some
	// withdrawal is forgotten (acknowledged and pruned), or the version
	// was never this cache's (made before it started, or ahead of it).
	floor    uint64
	cfg      *dataplane.Config // assembled for version; nil = stale
	changed  chan struct{}     // closed when version moves
	applied  uint64
	refused  map[string]dataplane.Refusal
	lastSeen time.Time
	// contract is the data-plane contract the agent announced on its last
	// watch; 0 until it has watched. Fragments needing a newer one are not
	// sent to it.
	contract int
}

// New returns an empty cache. notify may be nil.
func New(now func() time.Time, notify func(lbIDs []string)) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{now: now, nodes: map[string]*node{}, notify: notify}
}

func (c *Cache) node(agentID string) *node {
	n, ok := c.nodes[agentID]
	if !ok {
		n = &node{frags: map[string]*fragment{}, removed: map[string]uint64{}, refused: map[string]dataplane.Refusal{},
			changed: make(chan struct{})}
		if !c.durable {
			// Versions are times: any this cache makes is at or above now,
			// any an agent holds from before is below.
			n.floor = uint64(c.now().UnixMicro())
		}
		c.nodes[agentID] = n
	}
	return n
}

// bump moves the node to a new version and wakes its watchers.
func (c *Cache) bump(n *node) {
	v := uint64(c.now().UnixMicro())
	if v <= n.version {
		v = n.version + 1
	}
	n.version = v
	n.cfg = nil
	close(n.changed)
	n.changed = make(chan struct{})
}

// Put publishes generation gen of load balancer lbID on agent agentID. A
// fragment identical to the one already published only records the new
// generation: its acknowledgement stands and no new version is made. It
// returns the node's version.
func (c *Cache) Put(agentID, lbID string, gen int64, frag *dataplane.Config) uint64 {
	raw, err := json.Marshal(frag)
	if err != nil {
		panic("snapshot: marshal fragment: " + err.Error()) // plain data: cannot fail
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.node(agentID)
	if f, ok := n.frags[lbID]; ok && bytes.Equal(f.raw, raw) {
		if gen > f.gen {
			f.gen = gen
		}
		return n.version
	}
	c.bump(n)
	n.frags[lbID] = &fragment{gen: gen, cfg: frag, raw: raw, version: n.version, need: frag.NeededContract()}
	delete(n.removed, lbID)
	return n.version
}

// Delete withdraws load balancer lbID from agent agentID.
func (c *Cache) Delete(agentID, lbID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[agentID]
	if !ok {
		return
	}
	if _, ok := n.frags[lbID]; !ok {
		return
	}
	c.bump(n)
	delete(n.frags, lbID)
	delete(n.refused, lbID)
	n.removed[lbID] = n.version
}

// State tells whether agent agentID runs generation gen (or newer) of
// load balancer lbID.
func (c *Cache) State(agentID, lbID string, gen int64) (State, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[agentID]
	if !ok {
		return Absent, ""
	}
	f, ok := n.frags[lbID]
	if !ok || f.gen < gen {
		return Absent, ""
	}
	if n.contract != 0 && f.need > n.contract {
		return Refused, n.held(f)
	}
	if r, ok := n.refused[lbID]; ok && r.Version >= f.version {
		return Refused, r.Reason
	}
	if n.applied >= f.version {
		return Applied, ""
	}
	return Pending, ""
}

// Removed reports whether agent agentID has acknowledged a version without
// load balancer lbID (true also when the agent never had it).
func (c *Cache) Removed(agentID, lbID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[agentID]
	if !ok {
		return true
	}
	if _, ok := n.frags[lbID]; ok {
		return false
	}
	v, ok := n.removed[lbID]
	return !ok || n.applied >= v
}

// Placed returns the load balancers published on agent agentID.
func (c *Cache) Placed(agentID string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[agentID]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(n.frags))
	for id := range n.frags {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// SetContract records the data-plane contract agent agentID announced
// (dataplane.ContractHeader; 1 when it sent none) before it watches: its
// config leaves out the fragments that need a newer contract, whose state
// is Refused with the reason, so an old agent never meets a field it cannot
// decode and never serves a load balancer without a filter it cannot
// enforce.
func (c *Cache) SetContract(agentID string, contract int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.node(agentID)
	before, after := max(n.contract, 1), max(contract, 1)
	n.contract = contract
	if before == after {
		return
	}
	bumped := false
	for _, f := range n.frags {
		if f.need <= min(before, after) {
			continue
		}
		if !bumped {
			c.bump(n) // the config it gets changes
			bumped = true
		}
		// Its content is in the agent's config from this version on: an
		// acknowledgement of an earlier one does not apply it.
		f.version = n.version
	}
}

// held is why fragment f is not sent to the node.
func (n *node) held(f *fragment) string { return heldReason(n.contract, f.need) }

// heldReason is why a fragment needing contract need is not sent to an
// agent that announced contract have.
func heldReason(have, need int) string {
	return fmt.Sprintf("the agent's engine speaks data-plane contract %d, and this load balancer needs contract %d (its VIP port's security groups): upgrade the agent",
		have, need)
}

// config assembles the node's whole config for its current version: the
// fragments its agent's contract carries (all but those needing a newer
// one; before the agent announced one, those of contract 1), and the
// lowest contract that carries them.
func (n *node) config(agentID string) *dataplane.Config {
	if n.cfg != nil {
		return n.cfg
	}
	ids := make([]string, 0, len(n.frags))
	for id := range n.frags {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	cfg := &dataplane.Config{Contract: 1, Version: n.version, NodeID: agentID,
		Listeners: []dataplane.Listener{}, Pools: []dataplane.Pool{}}
	for _, id := range ids {
		f := n.frags[id]
		if f.need > max(n.contract, 1) {
			continue
		}
		cfg.Contract = max(cfg.Contract, f.need)
		cfg.Listeners = append(cfg.Listeners, f.cfg.Listeners...)
		cfg.Pools = append(cfg.Pools, f.cfg.Pools...)
		cfg.VRRP = append(cfg.VRRP, f.cfg.VRRP...)
	}
	n.cfg = cfg
	return cfg
}

// Watch waits until agent agentID's version differs from have, ctx ends or
// wait passes, and returns the current config and whether it changed. An
// agent that has a version newer than the cache's (the server restarted)
// gets a fresh version at once, so it moves to the server's content.
// The returned config is shared: callers must not modify it.
func (c *Cache) Watch(ctx context.Context, agentID string, have uint64, wait time.Duration) (*dataplane.Config, bool) {
	a, ok := c.watch(ctx, agentID, have, wait, true, false, false)
	if !ok {
		return nil, false
	}
	return a.Config, true
}

// WatchDelta is Watch for an agent that takes deltas: when the version
// moves it returns what changed since have (the delta), or every load
// balancer (Delta.Full) when have is not a version the cache can answer
// from: 0, older than its floor (a withdrawal since then was forgotten;
// made before this cache started), or ahead of it.
// It returns the new version, the delta (shared: callers must not modify
// it) and whether the version moved.
func (c *Cache) WatchDelta(ctx context.Context, agentID string, have uint64, wait time.Duration) (uint64, *dataplane.ConfigDelta, bool) {
	return answerDelta(c.watch(ctx, agentID, have, wait, true, true, false))
}

func answerDelta(a *answer, ok bool) (uint64, *dataplane.ConfigDelta, bool) {
	if !ok || a == nil {
		return 0, nil, false
	}
	return a.Version, a.Delta, true
}

// answer is a watch's answer: Version and either the whole Config or a
// Delta. Both are shared: callers must not modify them.
type answer struct {
	Version uint64
	Config  *dataplane.Config
	Delta   *dataplane.ConfigDelta
}

// delta is what changed on the node since have, or all of it when have is
// not a version it can answer from. The fragments the agent's contract
// does not carry count as withdrawn. Callers hold the lock.
func (n *node) delta(agentID string, have uint64) *dataplane.ConfigDelta {
	full := have == 0 || have < n.floor || have > n.version
	d := &dataplane.ConfigDelta{Full: full, NodeID: agentID, LoadBalancers: []dataplane.LoadBalancerConfig{}}
	if !full {
		d.Since = have
	}
	for id, f := range n.frags {
		if !full && f.version <= have {
			continue
		}
		if f.need > max(n.contract, 1) {
			if !full {
				d.Deleted = append(d.Deleted, id)
			}
			continue
		}
		d.LoadBalancers = append(d.LoadBalancers, dataplane.LoadBalancerConfig{ID: id, Version: f.version, Config: f.raw})
	}
	if !full {
		for id, v := range n.removed {
			if v > have {
				d.Deleted = append(d.Deleted, id)
			}
		}
	}
	sort.Slice(d.LoadBalancers, func(i, j int) bool { return d.LoadBalancers[i].ID < d.LoadBalancers[j].ID })
	sort.Strings(d.Deleted)
	return d
}

// watch is Watch (delta: WatchDelta); without bump, a have above the
// node's version waits like any other (Shared settles that case against
// the store first); full makes a delta answer full whatever have is.
func (c *Cache) watch(ctx context.Context, agentID string, have uint64, wait time.Duration, bump, delta, full bool) (*answer, bool) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		c.mu.Lock()
		n := c.node(agentID)
		n.lastSeen = c.now()
		if bump && have > n.version {
			c.bump(n)
			// Make sure the fresh version is above what the agent has.
			if n.version <= have {
				n.version = have + 1
			}
			n.floor = max(n.floor, n.version) // what the agent has is unknown here
		}
		if n.version != have {
			if delta {
				from := have
				if full {
					from = 0
				}
				d := n.delta(agentID, from)
				v := n.version
				c.mu.Unlock()
				return &answer{Version: v, Delta: d}, true
			}
			cfg := n.config(agentID)
			c.mu.Unlock()
			return &answer{Version: cfg.Version, Config: cfg}, true
		}
		ch := n.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, false
		case <-timer.C:
			return nil, false
		}
	}
}

// mirror makes agent agentID's node what a store holds: version, with the
// fragments that changed since the node's version (a nil Config withdraws
// one); full replaces every fragment. Watchers wake when the version
// moves. Shared keeps its mirror with it.
func (c *Cache) mirror(agentID string, version, pruned uint64, contract int, changed []mirrored, full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.node(agentID)
	if contract != n.contract {
		n.contract = contract
		n.cfg = nil
	}
	if full {
		n.frags = map[string]*fragment{}
		n.removed = map[string]uint64{}
	}
	for _, m := range changed {
		if m.cfg == nil {
			delete(n.frags, m.lbID)
			n.removed[m.lbID] = m.version
			continue
		}
		n.frags[m.lbID] = &fragment{gen: m.gen, cfg: m.cfg, raw: m.raw, version: m.version, need: m.cfg.NeededContract()}
		delete(n.removed, m.lbID)
	}
	// The store keeps withdrawals above pruned: a delta can start there.
	n.floor = max(n.floor, pruned)
	for id, v := range n.removed {
		if v <= pruned {
			delete(n.removed, id)
		}
	}
	if version != n.version || full || len(changed) > 0 {
		n.version = version
		n.cfg = nil
		close(n.changed)
		n.changed = make(chan struct{})
	}
}

// mirrored is one fragment as a store holds it.
type mirrored struct {
	lbID    string
	gen     int64
	version uint64
	raw     []byte
	cfg     *dataplane.Config // nil: withdrawn
}

// version returns agent agentID's current version (0 if unknown).
func (c *Cache) version(agentID string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.nodes[agentID]; ok {
		return n.version
	}
	return 0
}

// Ack records what agent agentID reports: the version it runs and the load
// balancers it refused. Load balancers whose state changed (or whose
// removal became acknowledged) are passed to the notify callback and
// returned.
func (c *Cache) Ack(agentID string, applied uint64, refused []dataplane.Refusal) []string {
	c.mu.Lock()
	n := c.node(agentID)
	n.lastSeen = c.now()
	var changed []string
	if applied != n.applied || len(refused) != len(n.refused) || !sameRefusals(n.refused, refused) {
		before := map[string]State{}
		for id := range n.frags {
			before[id] = n.stateLocked(id)
		}
		removedBefore := map[string]bool{}
		for id, v := range n.removed {
			removedBefore[id] = n.applied >= v
		}
		n.applied = applied
		n.refused = map[string]dataplane.Refusal{}
		for _, r := range refused {
			n.refused[r.LoadBalancerID] = r
		}
		for id, st := range before {
			if n.stateLocked(id) != st {
				changed = append(changed, id)
			}
		}
		for id, v := range n.removed {
			if !removedBefore[id] && n.applied >= v {
				changed = append(changed, id)
				delete(n.removed, id)
				n.floor = max(n.floor, v) // a delta from below would miss this withdrawal
			}
		}
	}
	c.mu.Unlock()
	sort.Strings(changed)
	if len(changed) > 0 && c.notify != nil {
		c.notify(changed)
	}
	return changed
}

func (n *node) stateLocked(lbID string) State {
	f := n.frags[lbID]
	if r, ok := n.refused[lbID]; ok && r.Version >= f.version {
		return Refused
	}
	if n.applied >= f.version {
		return Applied
	}
	return Pending
}

func sameRefusals(have map[string]dataplane.Refusal, got []dataplane.Refusal) bool {
	for _, r := range got {
		if have[r.LoadBalancerID] != r {
			return false
		}
	}
	return true
}

// Version returns the node's current version and the one it acknowledged.
func (c *Cache) Version(agentID string) (current, applied uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[agentID]
	if !ok {
		return 0, 0
	}
	return n.version, n.applied
}

// newMirror returns the cache Shared keeps in step with the store.
func newMirror(now func() time.Time) *Cache {
	c := New(now, nil)
	c.durable = true
	return c
}
