package snapshot

import (
	"context"
	"reflect"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// TestSharedOldContractAgentNeverGetsAFilter: the contract an agent
// announces on one server holds on every server and for the leader's
// provider. A contract-1 agent never receives a load balancer whose
// listener carries an ingress filter: the leader sees it Refused with the
// reason, the others flow. Once the agent announces contract 2 (on another
// server) the load balancer is sent under a new version and counts as
// applied only when that version is acknowledged.
func TestSharedOldContractAgentNeverGetsAFilter(t *testing.T) {
	for name, st := range sharedStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			leader, a, b := NewShared(SharedOptions{Store: st, ConfigChannel: "cfg", LoadBalancerChannel: "lb"}), startShared(t, st), startShared(t, st)
			update(t, st, func(tx store.Tx) (bool, error) { return true, tx.Publications().MarkComplete(ctx, leader.opts.Now()) })
			filtered := frag("lb1", 80)
			filtered.Listeners[0].Ingress = &dataplane.Ingress{Allow: []string{"127.0.0.2/32"}}
			publish := func(lbID string, f *dataplane.Config) (State, string) {
				t.Helper()
				type res struct {
					st     State
					reason string
				}
				r := update(t, st, func(tx store.Tx) (res, error) {
					s, reason, err := leader.Publish(ctx, tx, "a1", lbID, 1, f)
					return res{s, reason}, err
				})
				return r.st, r.reason
			}
			publish("lb1", filtered)
			publish("lb2", frag("lb2", 81))

			a.SetContract("a1", 1)
			cfg := watchFor(t, a, "a1", 0, func(c *dataplane.Config) bool { return len(c.Listeners) > 0 })
			if cfg.Contract != 1 || !reflect.DeepEqual(lbIDs(cfg), []string{"lb2"}) {
				t.Fatalf("contract-1 agent got contract %d with %v", cfg.Contract, lbIDs(cfg))
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("config for a contract-1 agent: %v", err)
			}
			// Server b hands out the same.
			if got := watchFor(t, b, "a1", 0, func(c *dataplane.Config) bool { return c.Version == cfg.Version }); !reflect.DeepEqual(lbIDs(got), []string{"lb2"}) {
				t.Fatalf("server b hands the contract-1 agent %v", lbIDs(got))
			}
			update(t, st, func(tx store.Tx) ([]string, error) { return b.Acknowledge(ctx, tx, "a1", cfg.Version, nil) })
			if s, reason := publish("lb1", filtered); s != Refused || reason == "" {
				t.Errorf("filtered load balancer on a contract-1 agent: %v %q", s, reason)
			}
			if s, _ := publish("lb2", frag("lb2", 81)); s != Applied {
				t.Errorf("the other load balancer: %v", s)
			}

			b.SetContract("a1", 2)
			cfg2 := watchFor(t, a, "a1", cfg.Version, func(c *dataplane.Config) bool { return len(c.Listeners) == 2 })
			if cfg2.Contract != 2 {
				t.Fatalf("contract-2 agent got contract %d", cfg2.Contract)
			}
			if s, _ := publish("lb1", filtered); s != Pending {
				t.Errorf("after the upgrade, before its acknowledgement: %v", s)
			}
			update(t, st, func(tx store.Tx) ([]string, error) { return a.Acknowledge(ctx, tx, "a1", cfg2.Version, nil) })
			if s, _ := publish("lb1", filtered); s != Applied {
				t.Errorf("after the upgrade: %v", s)
			}
		})
	}
}
