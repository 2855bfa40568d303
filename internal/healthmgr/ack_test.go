package healthmgr

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// settledAcker says every acknowledgement settles the load balancers in ids.
type settledAcker struct {
	mu  sync.Mutex
	ids []string
}

func (a *settledAcker) Acknowledge(context.Context, store.Tx, string, uint64, []dataplane.Refusal) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.ids...), nil
}

// An acknowledgement (Heartbeat.Ack) carries no health or stats: the load
// balancers it settles keep the member health and listener statistics of
// the last full heartbeat, it speaks only for the agent's own load
// balancers, and it counts as being heard from.
func TestAckKeepsHealthAndStatsOfTheLastHeartbeat(t *testing.T) {
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	acker := &settledAcker{}
	e := &env{t: t, st: st, clk: &clock{t: time.Unix(1_000_000, 0)}}
	e.m = New(Options{Store: st, Acker: acker, Now: e.clk.now, DeadAfter: time.Minute, Enqueue: func(string) {}})
	a, b := e.agent("a"), e.agent("b")
	own, other := e.loadBalancer(a), e.loadBalancer(b)
	e.beat(b, dataplane.Heartbeat{Health: dataplane.Health{Members: []dataplane.MemberHealth{{MemberID: other.member, Status: dataplane.StatusUp}}}})
	e.beat(a, dataplane.Heartbeat{AppliedVersion: 1,
		Health: dataplane.Health{Members: []dataplane.MemberHealth{{MemberID: own.member, Status: dataplane.StatusUp}}},
		Stats:  dataplane.Stats{Listeners: []dataplane.ListenerStats{{ListenerID: own.listener, LoadBalancerID: own.lb, TotalConnections: 5}}}})
	if s := e.memberStatus(own); s != lb.Online {
		t.Fatalf("member after a full heartbeat: %s, want ONLINE", s)
	}
	acker.mu.Lock()
	acker.ids = []string{own.lb, other.lb}
	acker.mu.Unlock()
	e.clk.add(10 * time.Second)
	e.beat(a, dataplane.Heartbeat{AppliedVersion: 2, Ack: true})
	if s := e.memberStatus(own); s != lb.Online {
		t.Errorf("own member after an acknowledgement: %s, want ONLINE (the last heartbeat's health)", s)
	}
	if s := e.memberStatus(other); s != lb.Online {
		t.Errorf("another agent's member after an acknowledgement naming its load balancer: %s, want ONLINE", s)
	}
	row := e.agentRow(a.ID)
	if row.Status != lb.AgentUp || row.AppliedVersion != 2 || row.LastHeartbeat == nil || !row.LastHeartbeat.Equal(e.clk.now().UTC()) {
		t.Errorf("agent after an acknowledgement: status %s, applied %d, last heartbeat %v; want UP, 2, %v",
			row.Status, row.AppliedVersion, row.LastHeartbeat, e.clk.now().UTC())
	}
	e.view(func(ctx context.Context, tx store.Tx) error {
		rows, err := tx.ListenerStats().List(ctx, own.lb)
		if len(rows) != 1 || rows[0].TotalConnections != 5 {
			t.Errorf("listener statistics after an acknowledgement: %+v, want the 5 connections of the last heartbeat", rows)
		}
		return err
	})
	// The next full heartbeat still decides: the member went down.
	e.beat(a, dataplane.Heartbeat{AppliedVersion: 2,
		Health: dataplane.Health{Members: []dataplane.MemberHealth{{MemberID: own.member, Status: dataplane.StatusDown}}},
		Stats:  dataplane.Stats{Listeners: []dataplane.ListenerStats{{ListenerID: own.listener, LoadBalancerID: own.lb, TotalConnections: 5}}}})
	if s := e.memberStatus(own); s != lb.OpError {
		t.Errorf("own member after a full heartbeat saying DOWN: %s, want ERROR", s)
	}
}

// An acknowledgement reaching a server that has no full heartbeat of the
// agent yet (it just started, or the agent just moved to it) leaves the
// operating statuses alone: it has no health to compute them from.
func TestAckBeforeAnyHeartbeatLeavesStatusesAlone(t *testing.T) {
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	acker := &settledAcker{}
	e := &env{t: t, st: st, clk: &clock{t: time.Unix(1_000_000, 0)}}
	e.m = New(Options{Store: st, Acker: acker, Now: e.clk.now, DeadAfter: time.Minute, Enqueue: func(string) {}})
	a := e.agent("a")
	g := e.loadBalancer(a)
	e.update(func(tx store.Tx) error {
		m, err := tx.Members().Get(context.Background(), g.member)
		if err != nil {
			return err
		}
		m.Status.Operating = lb.Online
		return tx.Members().Update(context.Background(), m)
	})
	acker.ids = []string{g.lb}
	e.beat(a, dataplane.Heartbeat{AppliedVersion: 1, Ack: true})
	if s := e.memberStatus(g); s != lb.Online {
		t.Errorf("member after an acknowledgement to a server without the agent's health: %s, want ONLINE as stored", s)
	}
	if row := e.agentRow(a.ID); row.Status != lb.AgentUp || row.AppliedVersion != 1 {
		t.Errorf("agent after its acknowledgement: %s, applied %d; want UP, 1", row.Status, row.AppliedVersion)
	}
}
