package snapshot

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// deltaIDs is what a delta carries: the load balancers sent, the deleted ones.
func deltaIDs(d *dataplane.ConfigDelta) (sent, deleted []string) {
	for _, lb := range d.LoadBalancers {
		sent = append(sent, lb.ID)
	}
	return sent, d.Deleted
}

func fragPort(t *testing.T, d *dataplane.ConfigDelta, lbID string) int {
	t.Helper()
	for _, lb := range d.LoadBalancers {
		if lb.ID == lbID {
			cfg, err := dataplane.Decode(lb.Config)
			if err != nil {
				t.Fatalf("fragment of %s: %v", lbID, err)
			}
			return cfg.Listeners[0].ProtocolPort
		}
	}
	t.Fatalf("%s not in the delta", lbID)
	return 0
}

func wantDelta(t *testing.T, d *dataplane.ConfigDelta, full bool, sent, deleted []string) {
	t.Helper()
	s, del := deltaIDs(d)
	if d.Full != full || !reflect.DeepEqual(s, sent) || !reflect.DeepEqual(del, deleted) {
		t.Fatalf("delta full=%v sent=%v deleted=%v, want full=%v sent=%v deleted=%v", d.Full, s, del, full, sent, deleted)
	}
}

// TestWatchDeltaCarriesOnlyWhatChanged: a delta watch answers the load
// balancers changed or added since the agent's version and tombstones for
// those withdrawn; a version older than a forgotten withdrawal, or one
// this cache never made (it restarted), gets everything.
func TestWatchDeltaCarriesOnlyWhatChanged(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	c := New(clk.now, nil)
	ctx := context.Background()
	for i, id := range []string{"lb1", "lb2", "lb3"} {
		c.Put("a1", id, 1, frag(id, 80+i))
	}
	v1, d, ok := c.WatchDelta(ctx, "a1", 0, 0)
	if !ok {
		t.Fatal("no answer to a first watch")
	}
	wantDelta(t, d, true, []string{"lb1", "lb2", "lb3"}, nil)

	clk.t = clk.t.Add(time.Second)
	c.Put("a1", "lb2", 2, frag("lb2", 90))
	c.Delete("a1", "lb3")
	c.Put("a1", "lb4", 1, frag("lb4", 84))
	c.Put("a1", "lb1", 2, frag("lb1", 80)) // identical content: not sent again
	v2, d, ok := c.WatchDelta(ctx, "a1", v1, time.Second)
	if !ok || v2 <= v1 {
		t.Fatalf("watch from %d: ok=%v version %d", v1, ok, v2)
	}
	wantDelta(t, d, false, []string{"lb2", "lb4"}, []string{"lb3"})
	if d.Since != v1 || fragPort(t, d, "lb2") != 90 {
		t.Fatalf("delta since %d with lb2 on %d, want since %d, port 90", d.Since, fragPort(t, d, "lb2"), v1)
	}
	// Nothing moved: the watch waits and says so.
	if _, _, ok := c.WatchDelta(ctx, "a1", v2, 10*time.Millisecond); ok {
		t.Fatal("a watch at the current version answered a change")
	}
	// The old, whole-config watch still answers the assembled config.
	cfg, ok := c.Watch(ctx, "a1", v1, 0)
	if !ok || !reflect.DeepEqual(lbIDs(cfg), []string{"lb1", "lb2", "lb4"}) {
		t.Fatalf("full watch: %v %v", ok, cfg)
	}

	// The agent acknowledges v2: the tombstone of lb3 is forgotten, so a
	// watch from v1 can no longer be answered with a delta.
	c.Ack("a1", v2, nil)
	clk.t = clk.t.Add(time.Second)
	c.Put("a1", "lb4", 2, frag("lb4", 94))
	_, d, _ = c.WatchDelta(ctx, "a1", v1, time.Second)
	wantDelta(t, d, true, []string{"lb1", "lb2", "lb4"}, nil)
	// From v2 it still can.
	v3, d, _ := c.WatchDelta(ctx, "a1", v2, time.Second)
	wantDelta(t, d, false, []string{"lb4"}, nil)

	// The server restarts (a new cache): a version from before is not its own.
	clk.t = clk.t.Add(time.Second)
	c2 := New(clk.now, nil)
	c2.Put("a1", "lb1", 1, frag("lb1", 80))
	_, d, _ = c2.WatchDelta(ctx, "a1", v3, time.Second)
	wantDelta(t, d, true, []string{"lb1"}, nil)
	// Ahead of it: a fresh version, and everything.
	_, d, _ = c2.WatchDelta(ctx, "a1", v3+1<<40, time.Second)
	wantDelta(t, d, true, []string{"lb1"}, nil)
}

// TestSharedDeltaIsTheSameFromEveryServer: deltas come from the store's
// versions and withdrawals, so any server, a restarted one too, answers
// the same; a version the store never handed out gets everything.
func TestSharedDeltaIsTheSameFromEveryServer(t *testing.T) {
	for name, st := range sharedStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			leader, other := startShared(t, st), startShared(t, st)
			if err := leader.MarkComplete(ctx); err != nil {
				t.Fatal(err)
			}
			publish := func(lbID string, gen int64, port int) {
				update(t, st, func(tx store.Tx) (State, error) {
					s, _, err := leader.Publish(ctx, tx, "a1", lbID, gen, frag(lbID, port))
					return s, err
				})
			}
			for i, id := range []string{"lb1", "lb2", "lb3"} {
				publish(id, 1, 80+i)
			}
			v1 := watchFor(t, other, "a1", 0, func(c *dataplane.Config) bool { return len(c.Listeners) == 3 }).Version
			if err := other.NoteSent(ctx, "a1", v1); err != nil {
				t.Fatal(err)
			}
			publish("lb2", 2, 90)
			update(t, st, func(tx store.Tx) (bool, error) { return true, leader.Withdraw(ctx, tx, "a1", "lb3") })
			v2 := watchFor(t, other, "a1", v1, func(c *dataplane.Config) bool { return len(c.Listeners) == 2 }).Version
			deltaFrom := func(s *Shared, have uint64) *dataplane.ConfigDelta {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for time.Now().Before(deadline) {
					v, d, ok := s.WatchDelta(ctx, "a1", have, time.Second)
					if ok && v == v2 {
						return d
					}
				}
				t.Fatalf("no delta up to version %d within 10 s", v2)
				return nil
			}
			a, b := deltaFrom(leader, v1), deltaFrom(other, v1)
			wantDelta(t, a, false, []string{"lb2"}, []string{"lb3"})
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("two servers answer different deltas from %d:\n%+v\n%+v", v1, a, b)
			}
			// A server started now reads the same from the store.
			if c := deltaFrom(startShared(t, st), v1); !reflect.DeepEqual(a, c) {
				t.Fatalf("a restarted server answers another delta from %d:\n%+v\n%+v", v1, a, c)
			}
			// A version no server handed this agent (below v2 but above
			// what was sent: the store came back from an older backup).
			if d := deltaFrom(other, v1+1); !d.Full {
				t.Fatalf("a version never sent got a delta: %+v", d)
			}
		})
	}
}
