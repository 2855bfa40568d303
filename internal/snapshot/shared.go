package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// The in-memory Cache answers the provider and the health manager too, so
// that one server needs nothing else; these are the same calls as Shared
// makes them (the transaction is not used).

// Publish is Put followed by State.
func (c *Cache) Publish(_ context.Context, _ store.Tx, agentID, lbID string, gen int64, frag *dataplane.Config) (State, string, error) {
	c.Put(agentID, lbID, gen, frag)
	st, reason := c.State(agentID, lbID, gen)
	return st, reason, nil
}

// Withdraw is Delete.
func (c *Cache) Withdraw(_ context.Context, _ store.Tx, agentID, lbID string) error {
	c.Delete(agentID, lbID)
	return nil
}

// Withdrawn is Removed.
func (c *Cache) Withdrawn(_ context.Context, _ store.Tx, agentID, lbID string) (bool, error) {
	return c.Removed(agentID, lbID), nil
}

// Acknowledge is Ack.
func (c *Cache) Acknowledge(_ context.Context, _ store.Tx, agentID string, applied uint64, refused []dataplane.Refusal) ([]string, error) {
	return c.Ack(agentID, applied, refused), nil
}

// SharedOptions configure NewShared.
type SharedOptions struct {
	Store       store.Store
	Broadcaster store.Broadcaster
	// ConfigChannel carries the ids of agents whose configuration
	// changed ("*": look at every agent); LoadBalancerChannel the load
	// balancers whose state on an agent an acknowledgement changed (for
	// the leader's controller).
	ConfigChannel, LoadBalancerChannel string
	Logger                             *slog.Logger
	Now                                func() time.Time
	// Poll is how often Run compares the mirror with the store, in case a
	// notification was lost (default 2 s).
	Poll time.Duration
}

// Shared is the per-agent configuration kept in the store, for servers
// sharing it: the leader's provider publishes fragments inside its own
// transactions (Publish, Withdraw; a deposed leader's are fenced with
// them), every server hands agents their configs from an in-memory mirror
// that follows the store (Run: notifications, and a periodic look), and
// the server an agent's heartbeat reaches records the acknowledgement
// (Acknowledge) and tells the leader which load balancers it changed. An
// agent therefore gets the same configuration, under the same version,
// from whichever server it watches.
//
// Versions are max(previous+1, now in unix microseconds), as in the
// Cache, and persist with the configuration.
type Shared struct {
	opts   SharedOptions
	log    *slog.Logger
	mirror *Cache

	syncMu sync.Mutex // serialises refreshes of the mirror

	mu       sync.Mutex
	loaded   bool
	complete bool
	ready    chan struct{} // closed once loaded and complete

	// What this server last found stored for each agent: the contract it
	// announced, so that a watch saying the same writes nothing.
	seenMu    sync.Mutex
	contracts map[string]int
}

// NewShared returns a Shared; Run keeps its mirror.
func NewShared(opts SharedOptions) *Shared {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Poll <= 0 {
		opts.Poll = 2 * time.Second
	}
	return &Shared{opts: opts, log: opts.Logger.With("component", "snapshot"), mirror: newMirror(opts.Now), ready: make(chan struct{}),
		contracts: map[string]int{}}
}

// Ready is closed once the mirror holds the store's configurations and
// they are complete (MarkComplete): until then a server restarted after an
// upgrade would hand agents partial configurations.
func (s *Shared) Ready() <-chan struct{} { return s.ready }

func (s *Shared) nextVersion(prev uint64) uint64 {
	v := uint64(s.opts.Now().UnixMicro())
	if v <= prev {
		v = prev + 1
	}
	return v
}

// stateOf tells where a fragment of version v, needing data-plane
// contract need, stands against head.
func stateOf(head *store.AgentConfig, lbID string, v uint64, need int) (State, string) {
	if head.Contract != 0 && need > head.Contract {
		return Refused, heldReason(head.Contract, need)
	}
	for _, r := range head.Refused {
		if r.LoadBalancerID == lbID && r.Version >= v {
			return Refused, r.Reason
		}
	}
	if head.Applied >= v {
		return Applied, ""
	}
	return Pending, ""
}

// Publish publishes generation gen of load balancer lbID on agent agentID
// inside tx, and returns where it stands there. Content identical to what
// is published makes no new version.
func (s *Shared) Publish(ctx context.Context, tx store.Tx, agentID, lbID string, gen int64, frag *dataplane.Config) (State, string, error) {
	raw, err := json.Marshal(frag)
	if err != nil {
		return Absent, "", fmt.Errorf("publish %s on agent %s: %w", lbID, agentID, err)
	}
	p := tx.Publications()
	cur, err := p.Fragment(ctx, agentID, lbID)
	if err == nil && cur.Config != nil && bytes.Equal(cur.Config, raw) {
		head, err := p.Head(ctx, agentID)
		if err != nil {
			return Absent, "", fmt.Errorf("publish %s on agent %s: %w", lbID, agentID, err)
		}
		st, reason := stateOf(head, lbID, cur.Version, frag.NeededContract())
		return st, reason, nil
	}
	if err != nil && !isNotFound(err) {
		return Absent, "", fmt.Errorf("publish %s on agent %s: %w", lbID, agentID, err)
	}
	head, err := s.put(ctx, tx, &store.Fragment{AgentID: agentID, LoadBalancerID: lbID, Generation: gen, Config: raw})
	if err != nil {
		return Absent, "", fmt.Errorf("publish %s on agent %s: %w", lbID, agentID, err)
	}
	st, reason := stateOf(head, lbID, head.Version, frag.NeededContract())
	return st, reason, nil
}

// Published tells, reading inside tx only, where frag stands on agent
// agentID when exactly frag is what is published there for load balancer
// lbID (ok); Publish would then write nothing. A reconcile that changes
// nothing so needs no write transaction.
func (s *Shared) Published(ctx context.Context, tx store.Tx, agentID, lbID string, frag *dataplane.Config) (st State, reason string, ok bool, err error) {
	raw, err := json.Marshal(frag)
	if err != nil {
		return Absent, "", false, fmt.Errorf("publish %s on agent %s: %w", lbID, agentID, err)
	}
	p := tx.Publications()
	cur, err := p.Fragment(ctx, agentID, lbID)
	if isNotFound(err) || (err == nil && (cur.Config == nil || !bytes.Equal(cur.Config, raw))) {
		return Absent, "", false, nil
	}
	if err != nil {
		return Absent, "", false, fmt.Errorf("publish %s on agent %s: %w", lbID, agentID, err)
	}
	head, err := p.Head(ctx, agentID)
	if err != nil {
		return Absent, "", false, fmt.Errorf("publish %s on agent %s: %w", lbID, agentID, err)
	}
	st, reason = stateOf(head, lbID, cur.Version, frag.NeededContract())
	return st, reason, true, nil
}

// put writes f under the agent's next version and notifies the servers.
func (s *Shared) put(ctx context.Context, tx store.Tx, f *store.Fragment) (*store.AgentConfig, error) {
	p := tx.Publications()
	head, err := p.LockHead(ctx, f.AgentID)
	if err != nil {
		return nil, err
	}
	head.Version = s.nextVersion(head.Version)
	f.Version = head.Version
	if err := p.PutFragment(ctx, f); err != nil {
		return nil, err
	}
	if err := p.PutHead(ctx, head); err != nil {
		return nil, err
	}
	return head, tx.Notify(ctx, s.opts.ConfigChannel, f.AgentID)
}

// Withdraw withdraws load balancer lbID from agent agentID inside tx.
func (s *Shared) Withdraw(ctx context.Context, tx store.Tx, agentID, lbID string) error {
	cur, err := tx.Publications().Fragment(ctx, agentID, lbID)
	if isNotFound(err) || (err == nil && cur.Config == nil) {
		return nil
	}
	if err == nil {
		_, err = s.put(ctx, tx, &store.Fragment{AgentID: agentID, LoadBalancerID: lbID, Generation: cur.Generation})
	}
	if err != nil {
		return fmt.Errorf("withdraw %s from agent %s: %w", lbID, agentID, err)
	}
	return nil
}

// Withdrawn reports whether agent agentID runs a version without load
// balancer lbID (true also when it never had it).
func (s *Shared) Withdrawn(ctx context.Context, tx store.Tx, agentID, lbID string) (bool, error) {
	p := tx.Publications()
	cur, err := p.Fragment(ctx, agentID, lbID)
	if isNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if cur.Config != nil {
		return false, nil
	}
	head, err := p.Head(ctx, agentID)
	if err != nil {
		return false, err
	}
	return head.Applied >= cur.Version, nil
}

// Acknowledge records, inside tx, what agent agentID reports running: the
// version it applied and the load balancers it refused. It returns the
// load balancers whose state on the agent changed (or whose withdrawal is
// now acknowledged) and tells the leader about them; an unchanged report
// writes nothing.
func (s *Shared) Acknowledge(ctx context.Context, tx store.Tx, agentID string, applied uint64, refused []dataplane.Refusal) ([]string, error) {
	p := tx.Publications()
	rs := make([]store.Refusal, 0, len(refused))
	for _, r := range refused {
		rs = append(rs, store.Refusal{LoadBalancerID: r.LoadBalancerID, Version: r.Version, Reason: r.Reason})
	}
	head, err := p.Head(ctx, agentID)
	if isNotFound(err) {
		return nil, nil // nothing was published for it: nothing to acknowledge
	}
	if err != nil {
		return nil, fmt.Errorf("acknowledge for agent %s: %w", agentID, err)
	}
	if head.Applied == applied && sameStoredRefusals(head.Refused, rs) {
		return nil, nil
	}
	if head, err = p.LockHead(ctx, agentID); err != nil {
		return nil, fmt.Errorf("acknowledge for agent %s: %w", agentID, err)
	}
	changed, err := ackChanges(ctx, p, agentID, head, applied, rs)
	if err != nil {
		return nil, fmt.Errorf("acknowledge for agent %s: %w", agentID, err)
	}
	head.Applied, head.Refused = applied, rs
	top, err := p.PruneWithdrawals(ctx, agentID, applied)
	if err != nil {
		return nil, fmt.Errorf("acknowledge for agent %s: %w", agentID, err)
	}
	head.Pruned = max(head.Pruned, top)
	if err := p.PutHead(ctx, head); err != nil {
		return nil, fmt.Errorf("acknowledge for agent %s: %w", agentID, err)
	}
	ids := make([]string, 0, len(changed))
	for id := range changed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := tx.Notify(ctx, s.opts.LoadBalancerChannel, id); err != nil {
			return nil, fmt.Errorf("acknowledge for agent %s: %w", agentID, err)
		}
	}
	if top > 0 {
		// Readers behind the pruned withdrawals read the agent again.
		if err := tx.Notify(ctx, s.opts.ConfigChannel, agentID); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// Acknowledging returns, reading inside tx only, the load balancers
// Acknowledge would report changed for the same report now
// (healthmgr.AckPreviewer).
func (s *Shared) Acknowledging(ctx context.Context, tx store.Tx, agentID string, applied uint64, refused []dataplane.Refusal) ([]string, error) {
	p := tx.Publications()
	rs := make([]store.Refusal, 0, len(refused))
	for _, r := range refused {
		rs = append(rs, store.Refusal{LoadBalancerID: r.LoadBalancerID, Version: r.Version, Reason: r.Reason})
	}
	head, err := p.Head(ctx, agentID)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if head.Applied == applied && sameStoredRefusals(head.Refused, rs) {
		return nil, nil
	}
	changed, err := ackChanges(ctx, p, agentID, head, applied, rs)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(changed))
	for id := range changed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// ackChanges is the set of load balancers whose state on agent agentID
// moves when its stored head takes applied and refusals rs: those with a
// fragment between the old and the new applied version, and those whose
// refusal appears, changes or goes.
func ackChanges(ctx context.Context, p store.PublicationTable, agentID string, head *store.AgentConfig, applied uint64, rs []store.Refusal) (map[string]bool, error) {
	changed := map[string]bool{}
	lo, hi := min(head.Applied, applied), max(head.Applied, applied)
	if lo != hi {
		frags, err := p.Fragments(ctx, agentID, lo)
		if err != nil {
			return nil, err
		}
		for _, f := range frags {
			if f.Version <= hi {
				changed[f.LoadBalancerID] = true
			}
		}
	}
	before := map[string]store.Refusal{}
	for _, r := range head.Refused {
		before[r.LoadBalancerID] = r
	}
	after := map[string]bool{}
	for _, r := range rs {
		after[r.LoadBalancerID] = true
		if before[r.LoadBalancerID] != r {
			changed[r.LoadBalancerID] = true
		}
	}
	for id := range before {
		if !after[id] {
			changed[id] = true
		}
	}
	return changed, nil
}

func sameStoredRefusals(a, b []store.Refusal) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]store.Refusal{}
	for _, r := range a {
		m[r.LoadBalancerID] = r
	}
	for _, r := range b {
		if m[r.LoadBalancerID] != r {
			return false
		}
	}
	return true
}

// storeTimeout bounds the store work of SetContract and Observe, which
// their callers give no context.
const storeTimeout = 10 * time.Second

// SetContract records the data-plane contract agent agentID announced
// (dataplane.ContractHeader; 1 when it sent none) before it watches, for
// every server and the leader's provider to see: the agent's
// configuration leaves out the fragments that need a newer contract, whose
// state is Refused with the reason (as the Cache's SetContract). A change
// that alters what the agent gets makes a new version, under which those
// fragments count again. A failure is logged: the watch goes on with what
// the store held.
func (s *Shared) SetContract(agentID string, contract int) {
	s.seenMu.Lock()
	known, ok := s.contracts[agentID]
	s.seenMu.Unlock()
	if ok && known == contract {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	err := s.opts.Store.Update(ctx, func(tx store.Tx) error {
		p := tx.Publications()
		head, err := p.LockHead(ctx, agentID)
		if err != nil || head.Contract == contract {
			return err
		}
		before, after := max(head.Contract, 1), max(contract, 1)
		head.Contract = contract
		if before != after {
			frags, err := p.Fragments(ctx, agentID, 0)
			if err != nil {
				return err
			}
			bumped := false
			for _, f := range frags {
				if f.Config == nil {
					continue
				}
				cfg := &dataplane.Config{}
				if err := json.Unmarshal(f.Config, cfg); err != nil {
					return fmt.Errorf("fragment %s of agent %s: %w", f.LoadBalancerID, agentID, err)
				}
				if cfg.NeededContract() <= min(before, after) {
					continue
				}
				if !bumped {
					head.Version = s.nextVersion(head.Version) // the config it gets changes
					bumped = true
				}
				// Its content is in the agent's config from this version
				// on: an acknowledgement of an earlier one does not apply it.
				f.Version = head.Version
				if err := p.PutFragment(ctx, f); err != nil {
					return err
				}
			}
		}
		if err := p.PutHead(ctx, head); err != nil {
			return err
		}
		return tx.Notify(ctx, s.opts.ConfigChannel, agentID)
	})
	if err == nil {
		err = s.refresh(ctx, agentID)
	}
	if err != nil {
		s.log.Warn("record an agent's data-plane contract", "agent_id", agentID, "contract", contract, "err", err)
		return
	}
	s.seenMu.Lock()
	s.contracts[agentID] = contract
	s.seenMu.Unlock()
}

// NoteSent records that version v of its configuration was handed to
// agent agentID, for every server to know (a heartbeat may reach another
// server than the watch).
func (s *Shared) NoteSent(ctx context.Context, agentID string, v uint64) error {
	return s.opts.Store.Update(ctx, func(tx store.Tx) error { return tx.Publications().RaiseSent(ctx, agentID, v) })
}

// Sent returns the newest version any server handed agent agentID.
func (s *Shared) Sent(ctx context.Context, agentID string) (uint64, error) {
	var sent uint64
	err := s.opts.Store.View(ctx, func(tx store.Tx) error {
		h, err := tx.Publications().Head(ctx, agentID)
		if err == nil {
			sent = h.Sent
		}
		if isNotFound(err) {
			return nil
		}
		return err
	})
	return sent, err
}

// MarkComplete records that every load balancer has been published once,
// so that servers hand agents their configurations (see Ready).
func (s *Shared) MarkComplete(ctx context.Context) error {
	return s.opts.Store.Update(ctx, func(tx store.Tx) error {
		done, err := tx.Publications().Complete(ctx)
		if err != nil || done {
			return err
		}
		if err := tx.Publications().MarkComplete(ctx, s.opts.Now()); err != nil {
			return err
		}
		return tx.Notify(ctx, s.opts.ConfigChannel, "*")
	})
}

// Watch waits until agent agentID's version differs from have, ctx ends or
// wait passes, and returns the current config and whether it changed. An
// agent ahead of the mirror makes it read the store; ahead of the store
// too (restored from an older backup), it gets a new version at once, so
// that it moves to the store's content. The returned config is shared:
// callers must not modify it.
func (s *Shared) Watch(ctx context.Context, agentID string, have uint64, wait time.Duration) (*dataplane.Config, bool) {
	a, ok := s.watch(ctx, agentID, have, wait, false)
	if !ok || a == nil {
		return nil, false
	}
	return a.Config, true
}

// WatchDelta is Watch for an agent that takes deltas (Cache.WatchDelta).
// Every server's mirror holds the store's fragments and withdrawals under
// the store's versions, so the same have gets the same delta from any
// server, restarted or not; a have the store cannot answer from (below
// the withdrawals it pruned, or moved past by overtake) gets a full one.
func (s *Shared) WatchDelta(ctx context.Context, agentID string, have uint64, wait time.Duration) (uint64, *dataplane.ConfigDelta, bool) {
	return answerDelta(s.watch(ctx, agentID, have, wait, true))
}

func (s *Shared) watch(ctx context.Context, agentID string, have uint64, wait time.Duration, delta bool) (*answer, bool) {
	if have > s.mirror.version(agentID) {
		if err := s.refresh(ctx, agentID); err != nil {
			s.log.Warn("read an agent's configuration", "agent_id", agentID, "err", err)
			return nil, false
		}
		if have > s.mirror.version(agentID) {
			if err := s.overtake(ctx, agentID, have); err != nil {
				s.log.Warn("move an agent's configuration past its version", "agent_id", agentID, "err", err)
				return nil, false
			}
		}
	}
	full := false
	if delta && have > 0 {
		// A version no server handed this agent (the store was restored
		// from a backup older than what the agent runs) is not the
		// store's, even when the store's versions have since moved past it.
		sent, err := s.Sent(ctx, agentID)
		if err != nil {
			s.log.Warn("read the versions sent to an agent", "agent_id", agentID, "err", err)
			return nil, false
		}
		full = have > sent
	}
	return s.mirror.watch(ctx, agentID, have, wait, false, delta, full)
}

// overtake gives agent agentID's configuration a version above have.
func (s *Shared) overtake(ctx context.Context, agentID string, have uint64) error {
	err := s.opts.Store.Update(ctx, func(tx store.Tx) error {
		head, err := tx.Publications().LockHead(ctx, agentID)
		if err != nil || head.Version > have {
			return err
		}
		head.Version = s.nextVersion(max(head.Version, have))
		// What the agent has is not the store's: no delta reaches it.
		head.Pruned = head.Version
		if err := tx.Publications().PutHead(ctx, head); err != nil {
			return err
		}
		return tx.Notify(ctx, s.opts.ConfigChannel, agentID)
	})
	if err != nil {
		return err
	}
	return s.refresh(ctx, agentID)
}

// refresh brings agent agentID's mirror up to the store.
func (s *Shared) refresh(ctx context.Context, agentID string) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	return s.refreshLocked(ctx, agentID, nil)
}

// refreshLocked reads agent agentID's head (or uses head) and the
// fragments that changed since the mirror's version. Callers hold syncMu.
//
// A withdrawal is a fragment row only until the agent acknowledges it
// (Acknowledge prunes it, on whichever server the heartbeat lands), so a
// mirror behind it may find it gone between its read of the head and its
// read of the fragments (a head read earlier by refreshAll, or PostgreSQL's
// READ COMMITTED, where each statement sees what committed before it). The
// pruned mark, read after the fragments, tells: then every fragment is
// read again, as for a mirror behind the mark from the start. Without that
// the mirror would go on serving the withdrawn load balancer under the
// head's version, for good.
func (s *Shared) refreshLocked(ctx context.Context, agentID string, head *store.AgentConfig) error {
	cur := s.mirror.version(agentID)
	if head != nil && head.Version < cur {
		head = nil // read before a newer refresh: read it again
	}
	var frags []*store.Fragment
	full := false
	err := s.opts.Store.View(ctx, func(tx store.Tx) error {
		p := tx.Publications()
		if head == nil {
			h, err := p.Head(ctx, agentID)
			if isNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			head = h
		}
		if head.Version == cur {
			return nil
		}
		full = cur < head.Pruned
		after := cur
		if full {
			after = 0
		}
		var err error
		if frags, err = p.Fragments(ctx, agentID, after); err != nil || full {
			return err
		}
		now, err := p.Head(ctx, agentID)
		if err != nil {
			return err
		}
		if cur < now.Pruned {
			head, full = now, true
			frags, err = p.Fragments(ctx, agentID, 0)
		}
		return err
	})
	if err != nil || head == nil || head.Version == cur {
		return err
	}
	version := head.Version
	changed := make([]mirrored, 0, len(frags))
	for _, f := range frags {
		if f.Version > head.Version {
			if !full {
				// Published after the head was read: the next refresh
				// brings it with the version that holds it.
				continue
			}
			// A full read replaces every fragment: leaving this one out
			// would withdraw a load balancer the store still publishes.
			// The store's content read holds every version up to it
			// (an agent's fragments are written under its locked head).
			version = max(version, f.Version)
		}
		m := mirrored{lbID: f.LoadBalancerID, gen: f.Generation, version: f.Version, raw: f.Config}
		if f.Config != nil {
			cfg := &dataplane.Config{}
			if err := json.Unmarshal(f.Config, cfg); err != nil {
				return fmt.Errorf("fragment %s of agent %s: %w", f.LoadBalancerID, agentID, err)
			}
			m.cfg = cfg
		}
		changed = append(changed, m)
	}
	s.mirror.mirror(agentID, version, head.Pruned, head.Contract, changed, full)
	return nil
}

// refreshAll brings every agent's mirror up to the store and reads
// whether the configurations are complete.
func (s *Shared) refreshAll(ctx context.Context) error {
	var heads []*store.AgentConfig
	complete := false
	err := s.opts.Store.View(ctx, func(tx store.Tx) error {
		var err error
		if heads, err = tx.Publications().Heads(ctx); err != nil {
			return err
		}
		complete, err = tx.Publications().Complete(ctx)
		return err
	})
	if err != nil {
		return err
	}
	s.syncMu.Lock()
	for _, h := range heads {
		if h.Version != s.mirror.version(h.AgentID) {
			if err := s.refreshLocked(ctx, h.AgentID, h); err != nil {
				s.syncMu.Unlock()
				return err
			}
		}
	}
	s.syncMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loaded = true
	if complete && !s.complete {
		s.complete = true
		close(s.ready)
	}
	return nil
}

// Run keeps the mirror until ctx ends: it reads every agent's
// configuration, then follows the notifications, and compares with the
// store every Poll in case one was lost.
func (s *Shared) Run(ctx context.Context) error {
	ch, err := s.opts.Broadcaster.Listen(ctx, s.opts.ConfigChannel)
	if err != nil {
		return fmt.Errorf("follow published configurations: %w", err)
	}
	for {
		err := s.refreshAll(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("read published configurations; retrying", "err", err)
		if !sleepCtx(ctx, time.Second) {
			return nil
		}
	}
	tick := time.NewTicker(s.opts.Poll)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return nil
		case n, ok := <-ch:
			if !ok {
				return nil
			}
			if n.Lost || n.Payload == "*" {
				err = s.refreshAll(ctx)
			} else {
				err = s.refresh(ctx, n.Payload)
			}
		case <-tick.C:
			err = s.refreshAll(ctx)
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("follow published configurations", "err", err)
		}
	}
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, store.ErrNotFound) }

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
