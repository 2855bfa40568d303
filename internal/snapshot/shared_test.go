package snapshot

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/pgtest"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

func sharedStores(t *testing.T) map[string]*sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	lite, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(t.TempDir(), "fulcrum.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	pg, err := sqlstore.Open(ctx, sqlstore.Options{Driver: "postgres", DSN: pgtest.Start(t).NewDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	return map[string]*sqlstore.Store{"sqlite": lite, "postgres": pg}
}

// server is one Shared following the store, as one fulcrum server runs it.
func startShared(t *testing.T, st *sqlstore.Store) *Shared {
	t.Helper()
	s := NewShared(SharedOptions{Store: st, Broadcaster: st, ConfigChannel: "cfg", LoadBalancerChannel: "lb", Poll: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func update[T any](t *testing.T, st store.Store, fn func(tx store.Tx) (T, error)) T {
	t.Helper()
	var out T
	if err := st.Update(context.Background(), func(tx store.Tx) error {
		var err error
		out, err = fn(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func watchFor(t *testing.T, s *Shared, agentID string, have uint64, cond func(*dataplane.Config) bool) *dataplane.Config {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		cfg, changed := s.Watch(context.Background(), agentID, have, time.Second)
		if changed {
			if cond(cfg) {
				return cfg
			}
			have = cfg.Version
		}
	}
	t.Fatalf("agent %s: no config matching within 10 s (have %d)", agentID, have)
	return nil
}

func lbIDs(cfg *dataplane.Config) []string {
	var out []string
	for _, l := range cfg.Listeners {
		out = append(out, l.LoadBalancerID)
	}
	return out
}

// TestSharedServesEveryServerTheSameConfig: what the leader publishes
// through one server's store reaches agents watching another server under
// the same version; an acknowledgement through a third tells the leader
// which load balancers it applied; withdrawals are acknowledged and
// pruned, and a server that starts afterwards reads the same config.
func TestSharedServesEveryServerTheSameConfig(t *testing.T) {
	for name, st := range sharedStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			leader, watched, beat := startShared(t, st), startShared(t, st), startShared(t, st)
			lbs, err := st.Listen(ctx, "lb")
			if err != nil {
				t.Fatal(err)
			}
			if err := leader.MarkComplete(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case <-watched.Ready():
			case <-time.After(10 * time.Second):
				t.Fatal("a follower never became ready after MarkComplete")
			}
			publish := func(lbID string, gen int64, port int) State {
				return update(t, st, func(tx store.Tx) (State, error) {
					s, _, err := leader.Publish(ctx, tx, "a1", lbID, gen, frag(lbID, port))
					return s, err
				})
			}
			if s := publish("lb1", 1, 80); s != Pending {
				t.Fatalf("first publication: %v", s)
			}
			publish("lb2", 1, 81)
			cfg := watchFor(t, watched, "a1", 0, func(c *dataplane.Config) bool { return len(c.Listeners) == 2 })
			if got := lbIDs(cfg); !reflect.DeepEqual(got, []string{"lb1", "lb2"}) {
				t.Fatalf("config %v", got)
			}
			if other := watchFor(t, beat, "a1", 0, func(c *dataplane.Config) bool { return c.Version == cfg.Version }); !reflect.DeepEqual(other, cfg) {
				t.Fatalf("two servers hand out different configs under version %d", cfg.Version)
			}
			// Identical content: no new version, the state stands.
			if s := publish("lb1", 2, 80); s != Pending {
				t.Fatalf("republished identical content: %v", s)
			}
			changed := update(t, st, func(tx store.Tx) ([]string, error) {
				return beat.Acknowledge(ctx, tx, "a1", cfg.Version, []dataplane.Refusal{{LoadBalancerID: "lb2", Version: cfg.Version, Reason: "port in use"}})
			})
			if !reflect.DeepEqual(changed, []string{"lb1", "lb2"}) {
				t.Fatalf("acknowledgement changed %v, want lb1 and lb2", changed)
			}
			got := map[string]bool{}
			for len(got) < 2 {
				select {
				case n := <-lbs:
					got[n.Payload] = true
				case <-time.After(10 * time.Second):
					t.Fatalf("the leader heard of %v, want lb1 and lb2", got)
				}
			}
			if s := publish("lb1", 3, 80); s != Applied {
				t.Errorf("lb1 after the acknowledgement: %v", s)
			}
			if s := publish("lb2", 2, 81); s != Refused {
				t.Errorf("lb2 after its refusal: %v", s)
			}
			if again := update(t, st, func(tx store.Tx) ([]string, error) {
				return beat.Acknowledge(ctx, tx, "a1", cfg.Version, []dataplane.Refusal{{LoadBalancerID: "lb2", Version: cfg.Version, Reason: "port in use"}})
			}); len(again) != 0 {
				t.Errorf("an unchanged acknowledgement changed %v", again)
			}
			// Withdraw lb2: pending until acknowledged, then pruned.
			update(t, st, func(tx store.Tx) (any, error) { return nil, leader.Withdraw(ctx, tx, "a1", "lb2") })
			withdrawn := func() bool {
				return update(t, st, func(tx store.Tx) (bool, error) { return leader.Withdrawn(ctx, tx, "a1", "lb2") })
			}
			if withdrawn() {
				t.Fatal("withdrawal acknowledged before the agent ran it")
			}
			cfg2 := watchFor(t, watched, "a1", cfg.Version, func(c *dataplane.Config) bool { return len(c.Listeners) == 1 })
			update(t, st, func(tx store.Tx) ([]string, error) { return beat.Acknowledge(ctx, tx, "a1", cfg2.Version, nil) })
			if !withdrawn() {
				t.Fatal("withdrawal not acknowledged after the agent ran it")
			}
			if _, err := func() (*store.Fragment, error) {
				var f *store.Fragment
				err := st.View(ctx, func(tx store.Tx) error {
					var err error
					f, err = tx.Publications().Fragment(ctx, "a1", "lb2")
					return err
				})
				return f, err
			}(); !isNotFound(err) {
				t.Errorf("an acknowledged withdrawal is still recorded: %v", err)
			}
			// A server started now reads the same configuration.
			late := startShared(t, st)
			if c := watchFor(t, late, "a1", 0, func(c *dataplane.Config) bool { return true }); c.Version != cfg2.Version || !reflect.DeepEqual(lbIDs(c), []string{"lb1"}) {
				t.Errorf("late server: version %d %v, want %d [lb1]", c.Version, lbIDs(c), cfg2.Version)
			}
			// An agent ahead of the store moves to the store's content under a new version.
			ahead := cfg2.Version + 1000
			if c := watchFor(t, late, "a1", ahead, func(c *dataplane.Config) bool { return true }); c.Version <= ahead || !reflect.DeepEqual(lbIDs(c), []string{"lb1"}) {
				t.Errorf("agent ahead: version %d %v, want above %d with [lb1]", c.Version, lbIDs(c), ahead)
			}
		})
	}
}

// TestSharedNotReadyUntilComplete: configurations are not handed out
// until every load balancer was published once.
func TestSharedNotReadyUntilComplete(t *testing.T) {
	st := sharedStores(t)["sqlite"]
	s := startShared(t, st)
	select {
	case <-s.Ready():
		t.Fatal("ready before MarkComplete")
	case <-time.After(300 * time.Millisecond):
	}
	if err := s.MarkComplete(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after MarkComplete")
	}
}
