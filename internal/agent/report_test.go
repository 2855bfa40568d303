package agent_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/agent"
	"github.com/fulcrumlb/fulcrum/internal/agentapi"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/healthmgr"
	"github.com/fulcrumlb/fulcrum/internal/snapshot"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// reportEngine is an engine stand-in whose statistics and health are set
// by the test.
type reportEngine struct {
	recorder
	mu     sync.Mutex
	stats  dataplane.Stats
	health dataplane.Health
}

func (r *reportEngine) Stats() dataplane.Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return dataplane.Stats{Listeners: append([]dataplane.ListenerStats(nil), r.stats.Listeners...)}
}

func (r *reportEngine) Health() dataplane.Health {
	r.mu.Lock()
	defer r.mu.Unlock()
	return dataplane.Health{Members: append([]dataplane.MemberHealth(nil), r.health.Members...)}
}

// seen is one heartbeat as it arrived: whether a delta, and how many
// listener statistics and member healths it listed.
type seen struct {
	base              uint64
	listeners, health int
}

// beats is a heartbeat sink recording what arrives before handing it to
// a health manager; with deltas false it is a server that does not read
// delta heartbeats.
type beats struct {
	mu     sync.Mutex
	hm     *healthmgr.Manager
	fresh  func() *healthmgr.Manager // a new manager over the same store (a restarted server)
	deltas bool
	got    []seen
}

func (b *beats) note(hb *dataplane.Heartbeat) {
	if hb.Ack {
		return
	}
	b.mu.Lock()
	b.got = append(b.got, seen{hb.Base, len(hb.Stats.Listeners), len(hb.Health.Members)})
	b.mu.Unlock()
}

func (b *beats) manager() *healthmgr.Manager {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hm
}

func (b *beats) Heartbeat(ctx context.Context, agentID string, hb *dataplane.Heartbeat) error {
	b.note(hb)
	return b.manager().Heartbeat(ctx, agentID, hb)
}

// since returns the heartbeats recorded from the n-th on.
func (b *beats) since(n int) []seen {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seen(nil), b.got[min(n, len(b.got)):]...)
}

type deltaBeats struct{ *beats }

func (b deltaBeats) HeartbeatDelta(ctx context.Context, agentID string, hb *dataplane.Heartbeat) (bool, error) {
	b.note(hb)
	return b.manager().HeartbeatDelta(ctx, agentID, hb)
}

// startReportServer is an agent API over a store and a health manager fed
// through b, telling agents to heartbeat every 20 ms.
func startReportServer(t *testing.T, b *beats) (url string, token string) {
	t.Helper()
	s := startAgentAPI(t, 20*time.Millisecond, func(st store.Store, cache *snapshot.Cache) agentapi.HeartbeatSink {
		newManager := func() *healthmgr.Manager {
			return healthmgr.New(healthmgr.Options{Store: st, Acker: cache, Enqueue: func(string) {}})
		}
		b.hm, b.fresh = newManager(), newManager
		if b.deltas {
			return deltaBeats{b}
		}
		return b
	})
	return s.url, s.token(t, "node-1")
}

func reportOf(n int, total int64) ([]dataplane.ListenerStats, []dataplane.MemberHealth) {
	var ls []dataplane.ListenerStats
	var hs []dataplane.MemberHealth
	for i := range n {
		ls = append(ls, dataplane.ListenerStats{ListenerID: fmt.Sprintf("l-%d", i), LoadBalancerID: fmt.Sprintf("lb-%d", i), TotalConnections: total})
		hs = append(hs, dataplane.MemberHealth{MemberID: fmt.Sprintf("m-%d", i), PoolID: fmt.Sprintf("p-%d", i), Status: dataplane.StatusUp})
	}
	return ls, hs
}

// To a server that reads them, an agent sends, after its first full
// heartbeat, only what changed since the last one answered: one listener's
// counter, one member's status; a server that lost the base (restarted)
// asks for a resync and gets a full heartbeat at once, deltas after it.
func TestHeartbeatsCarryOnlyWhatChanged(t *testing.T) {
	b := &beats{deltas: true}
	url, tok := startReportServer(t, b)
	eng := &reportEngine{}
	eng.stats.Listeners, eng.health.Members = reportOf(50, 1)
	runAgent(t, agent.Options{ServerURL: url, DataDir: t.TempDir(), Name: "node-1", JoinToken: tok, Engine: eng, Wait: time.Second})
	eventually(t, "a full heartbeat, then deltas", func() bool {
		got := b.since(0)
		return len(got) >= 3 && got[0].base == 0 && got[len(got)-1].base != 0
	})
	for _, s := range b.since(1) {
		if s.base == 0 && (s.listeners != 50 || s.health != 50) {
			t.Fatalf("a full heartbeat with %d listeners and %d members, want 50 and 50", s.listeners, s.health)
		}
		if s.base != 0 && (s.listeners != 0 || s.health != 0) {
			t.Fatalf("a delta of an unchanged report lists %d listeners and %d members, want none", s.listeners, s.health)
		}
	}
	eventually(t, "a full heartbeat again within DeltaFullEvery", func() bool {
		for _, s := range b.since(1) {
			if s.base == 0 {
				return true
			}
		}
		return false
	})
	eng.mu.Lock()
	eng.stats.Listeners[7].TotalConnections = 99
	eng.health.Members[3].Status = dataplane.StatusDown
	eng.health.Members[4].LastCheckDetail = "HTTP 200" // not read by the server: not a change
	eng.mu.Unlock()
	n := len(b.since(0))
	eventually(t, "a delta with the one listener and the one member that changed", func() bool {
		for _, s := range b.since(n) {
			if s.base != 0 && s.listeners == 1 && s.health == 1 {
				return true
			}
			if s.base != 0 && (s.listeners > 1 || s.health > 1) {
				t.Fatalf("a delta lists %d listeners and %d members, want at most 1 and 1", s.listeners, s.health)
			}
		}
		return false
	})
	// The server restarts: its manager holds no base.
	b.mu.Lock()
	b.hm = b.fresh()
	b.mu.Unlock()
	n = len(b.since(0))
	eventually(t, "a full heartbeat after the resync, then deltas", func() bool {
		got := b.since(n)
		full := -1
		for i, s := range got {
			if s.base == 0 {
				full = i
				break
			}
		}
		return full >= 0 && full <= 2 && len(got) > full+1 && got[len(got)-1].base != 0
	})
}

// To a server that does not say it reads deltas (an older one), every
// regular heartbeat is full.
func TestHeartbeatsToAnOlderServerAreFull(t *testing.T) {
	b := &beats{}
	url, tok := startReportServer(t, b)
	eng := &reportEngine{}
	eng.stats.Listeners, eng.health.Members = reportOf(20, 1)
	runAgent(t, agent.Options{ServerURL: url, DataDir: t.TempDir(), Name: "node-1", JoinToken: tok, Engine: eng, Wait: time.Second})
	eventually(t, "five heartbeats", func() bool { return len(b.since(0)) >= 5 })
	for _, s := range b.since(0) {
		if s.base != 0 || s.listeners != 20 || s.health != 20 {
			t.Fatalf("a heartbeat to an older server: base %d, %d listeners, %d members; want a full one (0, 20, 20)", s.base, s.listeners, s.health)
		}
	}
}
