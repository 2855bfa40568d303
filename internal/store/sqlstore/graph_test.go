package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// TestGraphStatements: on SQLite, reading a load balancer's graph (each
// reconcile does, and the health manager's looks) is two statements, not
// one per table (seven), whatever the graph holds.
func TestGraphStatements(t *testing.T) {
	ctx := context.Background()
	s := groupOpen(t, "")
	now := time.Now()
	l := groupLB("lb-1")
	if err := s.Update(ctx, func(tx store.Tx) error {
		p := &lb.Pool{ID: "pool-1", ProjectID: "p", LoadBalancerID: l.ID, Protocol: lb.ProtocolHTTP, LBAlgorithm: lb.RoundRobin, Times: lb.Times{CreatedAt: now}}
		li := &lb.Listener{ID: "listener-1", ProjectID: "p", LoadBalancerID: l.ID, Protocol: lb.ProtocolHTTP, ProtocolPort: 80, DefaultPoolID: p.ID, Times: lb.Times{CreatedAt: now}}
		hm := &lb.HealthMonitor{ID: "hm-1", ProjectID: "p", PoolID: p.ID, LoadBalancerID: l.ID, Type: lb.MonitorTCP, Delay: 5, Timeout: 3, MaxRetries: 3, MaxRetriesDown: 3, Times: lb.Times{CreatedAt: now}}
		pol := &lb.L7Policy{ID: "policy-1", ProjectID: "p", ListenerID: li.ID, LoadBalancerID: l.ID, Action: lb.ActionReject, Position: 1, Times: lb.Times{CreatedAt: now}}
		rule := &lb.L7Rule{ID: "rule-1", ProjectID: "p", L7PolicyID: pol.ID, LoadBalancerID: l.ID, Type: lb.RulePath, CompareType: lb.CompareStartsWith, Value: "/", Times: lb.Times{CreatedAt: now}}
		errs := []error{tx.LoadBalancers().Create(ctx, l), tx.Pools().Create(ctx, p), tx.Listeners().Create(ctx, li),
			tx.HealthMonitors().Create(ctx, hm), tx.L7Policies().Create(ctx, pol), tx.L7Rules().Create(ctx, rule)}
		for i := range 3 {
			errs = append(errs, tx.Members().Create(ctx, &lb.Member{ID: fmt.Sprintf("member-%d", i), ProjectID: "p", PoolID: p.ID, LoadBalancerID: l.ID,
				Address: "127.0.0.1", ProtocolPort: 8000 + i, Weight: 1, Times: lb.Times{CreatedAt: now}}))
		}
		return errors.Join(errs...)
	}); err != nil {
		t.Fatal(err)
	}
	var g *lb.Graph
	before := sqlstore.Statements(s)
	if err := s.View(ctx, func(tx store.Tx) (err error) {
		g, err = store.LoadGraph(ctx, tx, l.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	n := sqlstore.Statements(s) - before
	if len(g.Listeners) != 1 || len(g.Pools) != 1 || len(g.Members) != 3 || len(g.HealthMonitors) != 1 || len(g.L7Policies) != 1 || len(g.L7Rules) != 1 {
		t.Fatalf("graph read: %d listeners, %d pools, %d members, %d health monitors, %d L7 policies, %d L7 rules",
			len(g.Listeners), len(g.Pools), len(g.Members), len(g.HealthMonitors), len(g.L7Policies), len(g.L7Rules))
	}
	if n > 2 {
		t.Errorf("reading a graph ran %d statements, want 2", n)
	}
}
