package healthmgr

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// previewAcker is a settledAcker that also previews (AckPreviewer).
type previewAcker struct{ settledAcker }

func (a *previewAcker) Acknowledging(ctx context.Context, tx store.Tx, agentID string, applied uint64, refused []dataplane.Refusal) ([]string, error) {
	return a.Acknowledge(ctx, tx, agentID, applied, refused)
}

// lookStore counts the graph reads (member and listener lists) of write
// transactions, and runs before, when set, as a write of its own just
// before the next write transaction.
type lookStore struct {
	store.Store
	graphReads *int
	before     func(tx store.Tx) error
}

func (s *lookStore) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	if b := s.before; b != nil {
		s.before = nil
		if err := s.Store.Update(ctx, b); err != nil {
			return err
		}
	}
	return s.Store.Update(ctx, func(tx store.Tx) error { return fn(graphTx{tx, s.graphReads}) })
}

type graphTx struct {
	store.Tx
	reads *int
}

func (t graphTx) Members() store.Table[lb.Member] {
	return graphTable[lb.Member]{t.Tx.Members(), t.reads}
}

func (t graphTx) Listeners() store.Table[lb.Listener] {
	return graphTable[lb.Listener]{t.Tx.Listeners(), t.reads}
}

type graphTable[T any] struct {
	store.Table[T]
	reads *int
}

func (g graphTable[T]) List(ctx context.Context, q store.Query) ([]*T, error) {
	*g.reads++
	return g.Table.List(ctx, q)
}

func newLookEnv(t *testing.T) (*env, *previewAcker, *lookStore) {
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	acker := &previewAcker{}
	ls := &lookStore{Store: st, graphReads: new(int)}
	e := &env{t: t, st: st, clk: &clock{t: time.Unix(1_000_000, 0)}}
	e.m = New(Options{Store: ls, Acker: acker, Now: e.clk.now, DeadAfter: time.Minute, Enqueue: func(string) {}})
	return e, acker, ls
}

func (e *env) setMember(id string, s lb.OperatingStatus) {
	e.update(func(tx store.Tx) error {
		m, err := tx.Members().Get(context.Background(), id)
		if err != nil {
			return err
		}
		m.Status.Operating = s
		return tx.Members().Update(context.Background(), m)
	})
}

// An acknowledgement reads the graphs it settles before its write
// transaction: the writer (one for the whole server on SQLite) spends its
// time on what changes, not on reading load balancers whole. The statuses
// come out the same.
func TestAckReadsGraphsOutsideTheWriteTransaction(t *testing.T) {
	e, acker, ls := newLookEnv(t)
	a := e.agent("a")
	g := e.loadBalancer(a)
	e.beat(a, dataplane.Heartbeat{AppliedVersion: 1,
		Health: dataplane.Health{Members: []dataplane.MemberHealth{{MemberID: g.member, Status: dataplane.StatusUp}}}})
	if s := e.memberStatus(g); s != lb.Online {
		t.Fatalf("member after a full heartbeat: %s, want ONLINE", s)
	}
	// As a member just created: OFFLINE until the agent's word settles it.
	e.setMember(g.member, lb.Offline)
	acker.mu.Lock()
	acker.ids = []string{g.lb}
	acker.mu.Unlock()
	*ls.graphReads = 0
	e.beat(a, dataplane.Heartbeat{AppliedVersion: 2, Ack: true})
	if s := e.memberStatus(g); s != lb.Online {
		t.Errorf("member after an acknowledgement: %s, want ONLINE", s)
	}
	if *ls.graphReads != 0 {
		t.Errorf("the acknowledgement's write transaction read members or listeners %d times, want 0", *ls.graphReads)
	}
	// Nothing to change: still no graph read in the writer.
	e.beat(a, dataplane.Heartbeat{AppliedVersion: 3, Ack: true})
	if *ls.graphReads != 0 {
		t.Errorf("an acknowledgement changing nothing read members or listeners %d times in its write transaction, want 0", *ls.graphReads)
	}
}

// A write to the load balancer between the read and the write transaction
// (here a member created, moving its generation) makes the heartbeat read
// the graph again under the lock: the new member gets the agent's word too.
func TestAckLookOvertakenByAWrite(t *testing.T) {
	e, acker, ls := newLookEnv(t)
	a := e.agent("a")
	g := e.loadBalancer(a)
	late := e.id("44444444")
	e.beat(a, dataplane.Heartbeat{AppliedVersion: 1,
		Health: dataplane.Health{Members: []dataplane.MemberHealth{{MemberID: g.member, Status: dataplane.StatusUp}, {MemberID: late, Status: dataplane.StatusUp}}}})
	e.setMember(g.member, lb.Offline)
	acker.mu.Lock()
	acker.ids = []string{g.lb}
	acker.mu.Unlock()
	ls.before = func(tx store.Tx) error {
		ctx := context.Background()
		l, err := tx.LoadBalancers().Lock(ctx, g.lb)
		if err != nil {
			return err
		}
		l.NextGeneration()
		if err := tx.LoadBalancers().Update(ctx, l); err != nil {
			return err
		}
		return tx.Members().Create(ctx, &lb.Member{ID: late, ProjectID: "p", PoolID: g.pool, LoadBalancerID: g.lb, AdminStateUp: true,
			Address: "127.0.0.2", ProtocolPort: 8080, Weight: 1, Status: lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline},
			Times: lb.Times{CreatedAt: e.clk.now()}})
	}
	e.beat(a, dataplane.Heartbeat{AppliedVersion: 2, Ack: true})
	if s := e.memberStatus(g); s != lb.Online {
		t.Errorf("member looked at: %s, want ONLINE", s)
	}
	if s := e.memberStatus(placedLB{member: late}); s != lb.Online {
		t.Errorf("member created after the look: %s, want ONLINE (the graph read again)", s)
	}
}

// A full heartbeat settles what changed the same way: a member that went
// down is marked so, with the graph read before the write transaction.
func TestHeartbeatReadsGraphsOutsideTheWriteTransaction(t *testing.T) {
	e, _, ls := newLookEnv(t)
	a := e.agent("a")
	g := e.loadBalancer(a)
	e.beat(a, dataplane.Heartbeat{Health: dataplane.Health{Members: []dataplane.MemberHealth{{MemberID: g.member, Status: dataplane.StatusUp}}}})
	*ls.graphReads = 0
	e.beat(a, dataplane.Heartbeat{Health: dataplane.Health{Members: []dataplane.MemberHealth{{MemberID: g.member, Status: dataplane.StatusDown}}}})
	if s := e.memberStatus(g); s != lb.OpError {
		t.Errorf("member after a heartbeat saying DOWN: %s, want ERROR", s)
	}
	if *ls.graphReads != 0 {
		t.Errorf("the heartbeat's write transaction read members or listeners %d times, want 0", *ls.graphReads)
	}
}

// The controller completing the load balancer between the read and the
// write transaction (PENDING_UPDATE to ACTIVE, no new generation) changes
// the rollup too: a listener the agent does not report is ERROR on an
// ACTIVE load balancer, not OFFLINE.
func TestAckLookOvertakenByCompletion(t *testing.T) {
	e, acker, ls := newLookEnv(t)
	ctx := context.Background()
	a := e.agent("a")
	g := e.loadBalancer(a)
	setProvisioning := func(tx store.Tx, p lb.ProvisioningStatus) error {
		l, err := tx.LoadBalancers().Lock(ctx, g.lb)
		if err != nil {
			return err
		}
		l.Status.Provisioning = p
		return tx.LoadBalancers().Update(ctx, l)
	}
	e.update(func(tx store.Tx) error { return setProvisioning(tx, lb.PendingUpdate) })
	e.beat(a, dataplane.Heartbeat{AppliedVersion: 1,
		Health: dataplane.Health{Members: []dataplane.MemberHealth{{MemberID: g.member, Status: dataplane.StatusUp}}}})
	listener := func() lb.OperatingStatus {
		var s lb.OperatingStatus
		e.view(func(ctx context.Context, tx store.Tx) error {
			l, err := tx.Listeners().Get(ctx, g.listener)
			if err == nil {
				s = l.Status.Operating
			}
			return err
		})
		return s
	}
	if s := listener(); s != lb.Offline {
		t.Fatalf("unreported listener of a PENDING_UPDATE load balancer: %s, want OFFLINE", s)
	}
	acker.mu.Lock()
	acker.ids = []string{g.lb}
	acker.mu.Unlock()
	ls.before = func(tx store.Tx) error { return setProvisioning(tx, lb.Active) }
	e.beat(a, dataplane.Heartbeat{AppliedVersion: 2, Ack: true})
	if s := listener(); s != lb.OpError {
		t.Errorf("unreported listener once the load balancer went ACTIVE meanwhile: %s, want ERROR", s)
	}
}
