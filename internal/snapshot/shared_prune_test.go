package snapshot

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/store"
)

// pruneHook is a store whose read transactions run before(), once, just
// before their first read of fragments: the moment an acknowledgement
// reaching another server can commit between a mirror's read of an agent's
// head and its read of the fragments.
type pruneHook struct {
	store.Store
	mu     sync.Mutex
	before func()
	// afterHeads runs, once, when a read of every agent's head returns.
	afterHeads func()
}

func (h *pruneHook) arm(fn func()) {
	h.mu.Lock()
	h.before = fn
	h.mu.Unlock()
}

func (h *pruneHook) take() func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	fn := h.before
	h.before = nil
	return fn
}

func (h *pruneHook) View(ctx context.Context, fn func(store.Tx) error) error {
	return h.Store.View(ctx, func(tx store.Tx) error { return fn(hookedTx{Tx: tx, h: h}) })
}

type hookedTx struct {
	store.Tx
	h *pruneHook
}

func (t hookedTx) Publications() store.PublicationTable {
	return hookedPubs{PublicationTable: t.Tx.Publications(), h: t.h}
}

type hookedPubs struct {
	store.PublicationTable
	h *pruneHook
}

func (p hookedPubs) Heads(ctx context.Context) ([]*store.AgentConfig, error) {
	hs, err := p.PublicationTable.Heads(ctx)
	p.h.mu.Lock()
	fn := p.h.afterHeads
	p.h.afterHeads = nil
	p.h.mu.Unlock()
	if fn != nil {
		fn()
	}
	return hs, err
}

func (p hookedPubs) Fragments(ctx context.Context, agentID string, after uint64) ([]*store.Fragment, error) {
	if fn := p.h.take(); fn != nil {
		fn()
	}
	return p.PublicationTable.Fragments(ctx, agentID, after)
}

// TestSharedMirrorKeepsAWithdrawalPrunedWhileItReads: a server's mirror
// that is behind a withdrawal, and reads the agent's configuration while
// the agent's acknowledgement of that withdrawal (through another server)
// prunes it, still drops the load balancer. Before, the mirror read the
// fragments changed since its version without the pruned withdrawal, took
// the head's version and kept serving the withdrawn load balancer under
// it, for good: an agent that moved to that server ran the load balancer
// again while another agent of the host was given it (issue 11's
// "bind: address already in use" that lasted 90 s).
func TestSharedMirrorKeepsAWithdrawalPrunedWhileItReads(t *testing.T) {
	for name, st := range sharedStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			update(t, st, func(tx store.Tx) (bool, error) { return true, tx.Publications().MarkComplete(ctx, time.Now()) })
			leader := NewShared(SharedOptions{Store: st, ConfigChannel: "cfg", LoadBalancerChannel: "lb"})
			beat := NewShared(SharedOptions{Store: st, ConfigChannel: "cfg", LoadBalancerChannel: "lb"})
			// The path a notification or a watch takes (refresh, which
			// reads the head itself), and the periodic look (refreshAll,
			// with the heads it read before).
			ports := map[string]int{"lb1": 80, "lb2": 81}
			paths := map[string]func(s *Shared) error{
				"refresh":    func(s *Shared) error { return s.refresh(ctx, "a1") },
				"refreshAll": func(s *Shared) error { return s.refreshAll(ctx) },
			}
			for path, read := range paths {
				t.Run(path, func(t *testing.T) {
					agent := "a1"
					hook := &pruneHook{Store: st}
					lagging := NewShared(SharedOptions{Store: hook, ConfigChannel: "cfg", LoadBalancerChannel: "lb"})
					for _, id := range []string{"lb1", "lb2"} {
						update(t, st, func(tx store.Tx) (State, error) {
							s, _, err := leader.Publish(ctx, tx, agent, id, 1, frag(id, ports[id]))
							return s, err
						})
					}
					if err := read(lagging); err != nil {
						t.Fatal(err)
					}
					if cfg, _ := lagging.Watch(ctx, agent, 0, 0); !reflect.DeepEqual(lbIDs(cfg), []string{"lb1", "lb2"}) {
						t.Fatalf("mirror before the withdrawal: %v", lbIDs(cfg))
					}
					// lb1 moves away: withdrawn from a1. The agent runs the
					// withdrawal (from another server) and acknowledges it
					// just as the lagging server reads.
					update(t, st, func(tx store.Tx) (any, error) { return nil, leader.Withdraw(ctx, tx, agent, "lb1") })
					head := update(t, st, func(tx store.Tx) (*store.AgentConfig, error) { return tx.Publications().Head(ctx, agent) })
					hook.arm(func() {
						update(t, st, func(tx store.Tx) ([]string, error) { return beat.Acknowledge(ctx, tx, agent, head.Version, nil) })
					})
					if err := read(lagging); err != nil {
						t.Fatal(err)
					}
					if hook.take() != nil {
						t.Fatal("the acknowledgement never ran: the test no longer provokes the race")
					}
					if err := read(lagging); err != nil { // and any later look
						t.Fatal(err)
					}
					cfg, _ := lagging.Watch(ctx, agent, 0, 0)
					if got := lbIDs(cfg); !reflect.DeepEqual(got, []string{"lb2"}) {
						t.Errorf("the lagging server hands agent %s version %d with %v, want [lb2] (lb1 was withdrawn at %d)", agent, cfg.Version, got, head.Version)
					}
					// Clean up for the next path: lb1 back, acknowledged.
					update(t, st, func(tx store.Tx) (State, error) {
						s, _, err := leader.Publish(ctx, tx, agent, "lb1", 1, frag("lb1", ports["lb1"]))
						return s, err
					})
				})
			}
		})
	}
}

// TestSharedMirrorFullReadKeepsWhatIsPublishedMeanwhile: a mirror behind
// pruned withdrawals reads every fragment again; a load balancer
// republished between its read of the head and its read of the fragments
// stays in the configuration it hands out. Before, the full read left out
// every fragment newer than the head it had read, so the agent was handed
// a configuration without that load balancer (an outage) until the next
// refresh.
func TestSharedMirrorFullReadKeepsWhatIsPublishedMeanwhile(t *testing.T) {
	for name, st := range sharedStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			update(t, st, func(tx store.Tx) (bool, error) { return true, tx.Publications().MarkComplete(ctx, time.Now()) })
			leader := NewShared(SharedOptions{Store: st, ConfigChannel: "cfg", LoadBalancerChannel: "lb"})
			paths := map[string]func(s *Shared) error{
				"refresh":    func(s *Shared) error { return s.refresh(ctx, "a1") },
				"refreshAll": func(s *Shared) error { return s.refreshAll(ctx) },
			}
			port := 90
			publish := func(id string) {
				port++
				update(t, st, func(tx store.Tx) (State, error) {
					s, _, err := leader.Publish(ctx, tx, "a1", id, 1, frag(id, port))
					return s, err
				})
			}
			for path, read := range paths {
				t.Run(path, func(t *testing.T) {
					hook := &pruneHook{Store: st}
					lagging := NewShared(SharedOptions{Store: hook, ConfigChannel: "cfg", LoadBalancerChannel: "lb"})
					publish("lb1")
					publish("lb2")
					if err := read(lagging); err != nil {
						t.Fatal(err)
					}
					// lb1 withdrawn and its withdrawal acknowledged (pruned)
					// while this server was not looking: it must read
					// everything again.
					update(t, st, func(tx store.Tx) (any, error) { return nil, leader.Withdraw(ctx, tx, "a1", "lb1") })
					head := update(t, st, func(tx store.Tx) (*store.AgentConfig, error) { return tx.Publications().Head(ctx, "a1") })
					update(t, st, func(tx store.Tx) ([]string, error) { return leader.Acknowledge(ctx, tx, "a1", head.Version, nil) })
					hook.arm(func() { publish("lb2") })
					if err := read(lagging); err != nil {
						t.Fatal(err)
					}
					if hook.take() != nil {
						t.Fatal("the publication never ran: the test no longer provokes the race")
					}
					cfg, _ := lagging.Watch(ctx, "a1", 0, 0)
					if got := lbIDs(cfg); !reflect.DeepEqual(got, []string{"lb2"}) {
						t.Errorf("the lagging server hands agent a1 version %d with %v, want [lb2]", cfg.Version, got)
					}
					publish("lb1") // for the next path
				})
			}
		})
	}
}

// TestSharedMirrorNeverGoesBackAVersion: the periodic look reads every
// agent's head, then each agent's fragments; a notification or a watch
// that brought the agent's mirror further meanwhile is not undone. Before,
// the look set the mirror back to the older head's version with the newer
// content, so an agent already holding that older version was not woken
// for the change until the next one.
func TestSharedMirrorNeverGoesBackAVersion(t *testing.T) {
	for name, st := range sharedStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			update(t, st, func(tx store.Tx) (bool, error) { return true, tx.Publications().MarkComplete(ctx, time.Now()) })
			leader := NewShared(SharedOptions{Store: st, ConfigChannel: "cfg", LoadBalancerChannel: "lb"})
			hook := &pruneHook{Store: st}
			s := NewShared(SharedOptions{Store: hook, ConfigChannel: "cfg", LoadBalancerChannel: "lb"})
			publish := func(id string, port int) uint64 {
				return update(t, st, func(tx store.Tx) (uint64, error) {
					if _, _, err := leader.Publish(ctx, tx, "a1", id, 1, frag(id, port)); err != nil {
						return 0, err
					}
					h, err := tx.Publications().Head(ctx, "a1")
					return h.Version, err
				})
			}
			v1 := publish("lb1", 80)
			if err := s.refreshAll(ctx); err != nil {
				t.Fatal(err)
			}
			// An agent runs v1 (from any server). lb2 is published and this
			// server's notification brings it while its periodic look,
			// which read the heads at v1, goes on.
			var v2 uint64
			hook.mu.Lock()
			hook.afterHeads = func() {
				v2 = publish("lb2", 81)
				if err := s.refresh(ctx, "a1"); err != nil {
					t.Error(err)
				}
			}
			hook.mu.Unlock()
			if err := s.refreshAll(ctx); err != nil {
				t.Fatal(err)
			}
			if v := s.mirror.version("a1"); v != v2 {
				t.Errorf("mirror of a1 at version %d after the look, want %d (v1 %d)", v, v2, v1)
			}
			cfg, changed := s.Watch(ctx, "a1", v1, 0)
			if !changed || !reflect.DeepEqual(lbIDs(cfg), []string{"lb1", "lb2"}) {
				t.Errorf("an agent at %d watching: changed %v, %v; want [lb1 lb2] at %d", v1, changed, lbIDs(cfg), v2)
			}
		})
	}
}
