package cluster_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/cluster"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/pgtest"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// backends opens a store on each backend; both serve several electors.
func backends(t *testing.T) map[string]store.Store {
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
	return map[string]store.Store{"sqlite": lite, "postgres": pg}
}

// cuttable is a store one server reaches until cut: then every
// transaction fails, as for a server cut off from the database.
type cuttable struct {
	store.Store
	cut atomic.Bool
}

var errCut = errors.New("cut off from the database")

func (c *cuttable) Update(ctx context.Context, fn func(store.Tx) error) error {
	if c.cut.Load() {
		return errCut
	}
	return c.Store.Update(ctx, fn)
}

func (c *cuttable) View(ctx context.Context, fn func(store.Tx) error) error {
	if c.cut.Load() {
		return errCut
	}
	return c.Store.View(ctx, fn)
}

// server is one elector and the terms it led.
type server struct {
	name   string
	st     *cuttable
	cancel context.CancelFunc
	done   chan struct{}
	terms  chan cluster.Term
	ended  chan int64
}

func start(t *testing.T, st store.Store, name string, ttl time.Duration) *server {
	s := &server{name: name, st: &cuttable{Store: st}, done: make(chan struct{}), terms: make(chan cluster.Term, 16), ended: make(chan int64, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	e := cluster.NewElector(cluster.ElectorOptions{Store: s.st, Lease: "control", Holder: name, TTL: ttl})
	go func() {
		defer close(s.done)
		e.Run(ctx, func(ctx context.Context, term cluster.Term) {
			s.terms <- term
			<-ctx.Done()
			s.ended <- term.Epoch
		})
	}()
	t.Cleanup(func() { cancel(); <-s.done })
	return s
}

func (s *server) stop() { s.cancel(); <-s.done }

func waitTerm(t *testing.T, servers ...*server) (*server, cluster.Term) {
	t.Helper()
	cases := make(chan struct {
		s    *server
		term cluster.Term
	}, len(servers))
	stop := make(chan struct{})
	defer close(stop)
	for _, s := range servers {
		go func() {
			select {
			case term := <-s.terms:
				cases <- struct {
					s    *server
					term cluster.Term
				}{s, term}
			case <-stop:
			}
		}()
	}
	select {
	case c := <-cases:
		return c.s, c.term
	case <-time.After(20 * time.Second):
		t.Fatal("no server took the lease within 20 s")
	}
	return nil, cluster.Term{}
}

// TestOneLeaderAtATime: one of two servers leads; when it stops (the
// lease released) the other leads at once in a new epoch; when the leader
// is cut off from the database it steps down before its lease expires,
// the other takes over, and the deposed leader's writes through its
// term's store are refused.
func TestOneLeaderAtATime(t *testing.T) {
	for name, st := range backends(t) {
		t.Run(name, func(t *testing.T) {
			const ttl = 600 * time.Millisecond
			a, b := start(t, st, "a-"+name, ttl), start(t, st, "b-"+name, ttl)
			first, term1 := waitTerm(t, a, b)
			second := b
			if first == b {
				second = a
			}
			select {
			case <-second.terms:
				t.Fatal("both servers lead")
			case <-time.After(3 * ttl):
			}
			// A clean stop releases the lease: the other leads well before
			// the lease would have expired.
			stopped := time.Now()
			first.stop()
			s2, term2 := waitTerm(t, second)
			if took := time.Since(stopped); took > ttl+300*time.Millisecond {
				t.Errorf("takeover after a release took %s", took)
			}
			if s2 != second || term2.Epoch <= term1.Epoch {
				t.Fatalf("second term: epoch %d after %d", term2.Epoch, term1.Epoch)
			}
			// A third server joins; the leader is cut off from the
			// database: it steps down, the newcomer takes over.
			c := start(t, st, "c-"+name, ttl)
			second.st.cut.Store(true)
			cutAt := time.Now()
			select {
			case <-second.ended:
			case <-time.After(2 * ttl):
				t.Fatal("the cut-off leader did not step down")
			}
			if d := time.Since(cutAt); d > ttl+200*time.Millisecond {
				t.Errorf("the cut-off leader stepped down after %s, later than its lease could expire (%s)", d, ttl)
			}
			s3, term3 := waitTerm(t, c)
			if s3 != c || term3.Epoch <= term2.Epoch {
				t.Fatalf("third term: epoch %d after %d", term3.Epoch, term2.Epoch)
			}
			second.st.cut.Store(false)
			// The deposed leader's term store refuses its writes; the new
			// one's commits.
			ctx := context.Background()
			write := func(term cluster.Term) error {
				return term.Store.Update(ctx, func(tx store.Tx) error {
					return tx.Agents().Create(ctx, &lb.Agent{ID: time.Now().Format(time.RFC3339Nano), Name: time.Now().Format(time.RFC3339Nano), Status: lb.AgentDown,
						Times: lb.Times{CreatedAt: time.Now()}})
				})
			}
			if err := write(term2); !cluster.IsLeaseLost(err) {
				t.Errorf("a write of the deposed leader: %v, want the lease lost", err)
			}
			if err := write(term3); err != nil {
				t.Errorf("a write of the leader: %v", err)
			}
		})
	}
}

// TestSolo: on a store one server owns, the elector leads at once.
func TestSolo(t *testing.T) {
	st := backends(t)["sqlite"]
	e := cluster.NewElector(cluster.ElectorOptions{Store: st, Solo: true})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	led := make(chan cluster.Term, 1)
	go func() {
		defer wg.Done()
		e.Run(ctx, func(ctx context.Context, term cluster.Term) { led <- term; <-ctx.Done() })
	}()
	select {
	case term := <-led:
		if term.Store != st || !e.Leading() {
			t.Errorf("solo term: %+v leading %v", term, e.Leading())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("solo elector did not lead")
	}
	cancel()
	wg.Wait()
}

// TestBusReachesListeners: ids enqueued on one server arrive at every
// listener, coalesced while queued.
func TestBusReachesListeners(t *testing.T) {
	for name, st := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch, err := st.(store.Broadcaster).Listen(ctx, cluster.LoadBalancers)
			if err != nil {
				t.Fatal(err)
			}
			bus := cluster.NewBus(st.(store.Broadcaster), nil)
			for _, id := range []string{"lb-1", "lb-2", "lb-1"} {
				bus.Enqueue(id)
			}
			bus.ResyncAll()
			go bus.Run(ctx)
			got := map[string]int{}
			for deadline := time.After(10 * time.Second); len(got) < 3; {
				select {
				case n := <-ch:
					got[n.Payload]++
				case <-deadline:
					t.Fatalf("received %v", got)
				}
			}
			if got["lb-1"] != 1 || got["lb-2"] != 1 || got[cluster.ResyncAll] != 1 {
				t.Errorf("received %v, want lb-1, lb-2 and the resync once each", got)
			}
		})
	}
}

// TestLateRenewalLeadsOn: the leader's lease expires in the store before
// its renewal reaches it (a busy machine, a slow round trip) and no other
// server takes it meanwhile: the renewal starts the next epoch and the
// leader leads on — its work is not stopped and started again, and its
// term's writes commit, fenced by the new epoch.
func TestLateRenewalLeadsOn(t *testing.T) {
	dsn := pgtest.Start(t).NewDatabase(t)
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.Options{Driver: "postgres", DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	const ttl = time.Second
	a := start(t, st, "a", ttl)
	_, term := waitTerm(t, a)
	for round := range 3 {
		// The store forgets the term's time left, as if the renewals had
		// not reached it for longer than the lease lasts.
		var epoch int64
		if err := db.QueryRow(`UPDATE leases SET expires_at = 0 WHERE name = 'control' RETURNING epoch`).Scan(&epoch); err != nil {
			t.Fatal(err)
		}
		// The next renewal finds it expired and nobody holding it.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			var now int64
			if err := db.QueryRow(`SELECT epoch FROM leases WHERE name = 'control' AND holder = 'a' AND expires_at > 0`).Scan(&now); err == nil {
				if now != epoch+1 {
					t.Fatalf("round %d: renewed in epoch %d, want %d", round, now, epoch+1)
				}
				break
			} else if !errors.Is(err, sql.ErrNoRows) {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the lease was not renewed within 10 s", round)
			}
		}
		select {
		case e := <-a.ended:
			t.Fatalf("round %d: the term of epoch %d ended: a late renewal nobody contested demoted the leader", round, e)
		case term2 := <-a.terms:
			t.Fatalf("round %d: the work started again in epoch %d", round, term2.Epoch)
		case <-time.After(2 * ttl):
		}
		err := term.Store.Update(ctx, func(tx store.Tx) error {
			return tx.Agents().Create(ctx, &lb.Agent{ID: fmt.Sprintf("late-%d", round), Name: fmt.Sprintf("late-%d", round), Status: lb.AgentDown,
				Times: lb.Times{CreatedAt: time.Now()}})
		})
		if err != nil {
			t.Fatalf("round %d: a write of the term after the late renewal: %v", round, err)
		}
	}
	// Another server still cannot take the lease while the leader renews
	// it, and a deposed term's writes are still refused.
	b := start(t, st, "b", ttl)
	select {
	case <-b.terms:
		t.Fatal("a second server leads while the leader renews its lease")
	case <-time.After(2 * ttl):
	}
	a.stop()
	if _, term2 := waitTerm(t, b); term2.Epoch <= term.Epoch+3 {
		t.Errorf("the next leader's epoch %d, want above %d", term2.Epoch, term.Epoch+3)
	}
	err = term.Store.Update(ctx, func(tx store.Tx) error {
		return tx.Agents().Create(ctx, &lb.Agent{ID: "deposed", Name: "deposed", Status: lb.AgentDown, Times: lb.Times{CreatedAt: time.Now()}})
	})
	if !cluster.IsLeaseLost(err) {
		t.Errorf("a write of the deposed term: %v, want the lease lost", err)
	}
}

// TestRenewalsOnTheirOwnStore: the lease is renewed through LeaseStore
// alone: a leader whose work store cannot be reached (every connection
// busy, say) keeps its lease, for as long as the lease store answers.
func TestRenewalsOnTheirOwnStore(t *testing.T) {
	st := backends(t)["postgres"]
	work := &cuttable{Store: st}
	work.cut.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	const ttl = 600 * time.Millisecond
	e := cluster.NewElector(cluster.ElectorOptions{Store: work, LeaseStore: st, Lease: "control", Holder: "a", TTL: ttl})
	terms, ended := make(chan cluster.Term, 4), make(chan struct{}, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx, func(ctx context.Context, term cluster.Term) {
			terms <- term
			<-ctx.Done()
			ended <- struct{}{}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-terms:
	case <-time.After(20 * time.Second):
		t.Fatal("no term within 20 s")
	}
	select {
	case <-ended:
		t.Fatal("the term ended while the lease store answered")
	case <-time.After(5 * ttl):
	}
	if !e.Leading() {
		t.Error("not leading")
	}
}
