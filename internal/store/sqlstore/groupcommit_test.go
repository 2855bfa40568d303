package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

func groupOpen(t *testing.T, path string) *sqlstore.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "fulcrum.db")
	}
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// One batch takes every queued writer however slow the machine is.
	sqlstore.SetMaxBatchTime(s, time.Minute)
	return s
}

func groupLB(name string) *lb.LoadBalancer {
	return &lb.LoadBalancer{ID: name, Name: name, ProjectID: "p", Provider: "noop", Times: lb.Times{CreatedAt: time.Now()}}
}

// groupBatch makes the n fns run as one batch: a first writer ("gate")
// holds the store's transaction until all n callers wait in the queue, so
// the next transaction takes them all. It returns what each caller's
// Update returned (a recovered panic as a *groupPanic) once all returned,
// and the number of commits the n took.
func groupBatch(t *testing.T, s *sqlstore.Store, ctxs []context.Context, fns []func(store.Tx) error) ([]error, int64) {
	t.Helper()
	ctx := context.Background()
	n := len(fns)
	inside := make(chan struct{})
	gate := make(chan error, 1)
	go func() {
		gate <- s.Update(ctx, func(tx store.Tx) error {
			close(inside)
			for deadline := time.Now().Add(60 * time.Second); sqlstore.Queued(s) < n; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					return fmt.Errorf("only %d of %d writers queued in 60s", sqlstore.Queued(s), n)
				}
			}
			// Only reads: it must commit even on a full disk.
			_, err := tx.LoadBalancers().Count(ctx)
			return err
		})
	}()
	<-inside
	before := sqlstore.Commits(s)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if v := recover(); v != nil {
					errs[i] = &groupPanic{v}
				}
			}()
			c := ctx
			if ctxs != nil && ctxs[i] != nil {
				c = ctxs[i]
			}
			errs[i] = s.Update(c, fn)
		}()
	}
	if err := <-gate; err != nil {
		t.Fatalf("gate: %v", err)
	}
	wg.Wait()
	// The gate's own commit came after before was read.
	return errs, sqlstore.Commits(s) - before - 1
}

type groupPanic struct{ v any }

func (p *groupPanic) Error() string { return fmt.Sprint("panic: ", p.v) }

func groupIDs(t *testing.T, s *sqlstore.Store) map[string]bool {
	t.Helper()
	ctx := context.Background()
	have := map[string]bool{}
	if err := s.View(ctx, func(tx store.Tx) error {
		all, err := tx.LoadBalancers().List(ctx, store.Query{})
		for _, l := range all {
			have[l.ID] = true
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return have
}

// TestGroupCommitSharesOneCommit: writers that queue while a transaction is
// open share the next one: 40 callers, one COMMIT, each fn seeing its own
// writes and those of the fns before it; every write is there after the
// store is reopened.
func TestGroupCommitSharesOneCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fulcrum.db")
	s := groupOpen(t, path)
	var sizes []int
	sqlstore.BeforeCommit(s, func(n int) { sizes = append(sizes, n) })
	const n = 40
	fns := make([]func(store.Tx) error, n)
	for i := range fns {
		id := fmt.Sprintf("w-%02d", i)
		fns[i] = func(tx store.Tx) error {
			if err := tx.LoadBalancers().Create(ctx, groupLB(id)); err != nil {
				return err
			}
			got, err := tx.LoadBalancers().Get(ctx, id)
			if err != nil {
				return fmt.Errorf("read own write: %w", err)
			}
			got.Description = "updated"
			return tx.LoadBalancers().Update(ctx, got)
		}
	}
	errs, commits := groupBatch(t, s, nil, fns)
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if commits != 1 || sizes[len(sizes)-1] != n {
		t.Fatalf("%d writers took %d commits (batch sizes %v), want 1 commit of %d", n, commits, sizes, n)
	}
	s.Close()
	s = groupOpen(t, path)
	have := groupIDs(t, s)
	for i := 0; i < n; i++ {
		if !have[fmt.Sprintf("w-%02d", i)] {
			t.Errorf("acknowledged w-%02d missing after reopen", i)
		}
	}
}

var errGroupBoom = errors.New("boom")

// TestGroupCommitFailuresStayTheirOwn: in one batch, writers that fail
// (their own error after writing, a conflict, a not-found, a panic after
// writing) roll back only their own writes and get their own error or
// panic; the others, before and after them in the batch, commit.
func TestGroupCommitFailuresStayTheirOwn(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fulcrum.db")
	s := groupOpen(t, path)
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.LoadBalancers().Create(ctx, groupLB("taken")) }); err != nil {
		t.Fatal(err)
	}
	const n = 48
	fns := make([]func(store.Tx) error, n)
	want := make([]func(error) bool, n)
	for i := range fns {
		id := fmt.Sprintf("w-%02d", i)
		create := func(tx store.Tx) error { return tx.LoadBalancers().Create(ctx, groupLB(id)) }
		switch i % 6 {
		case 1: // writes, then fails
			fns[i] = func(tx store.Tx) error {
				if err := create(tx); err != nil {
					return err
				}
				return fmt.Errorf("writer %d: %w", i, errGroupBoom)
			}
			want[i] = func(err error) bool { return errors.Is(err, errGroupBoom) }
		case 2: // writes, then a duplicate id
			fns[i] = func(tx store.Tx) error {
				if err := create(tx); err != nil {
					return err
				}
				return tx.LoadBalancers().Create(ctx, groupLB("taken"))
			}
			want[i] = func(err error) bool { return errors.Is(err, store.ErrConflict) }
		case 3: // writes, then updates what does not exist
			fns[i] = func(tx store.Tx) error {
				if err := create(tx); err != nil {
					return err
				}
				return tx.LoadBalancers().Update(ctx, groupLB("nope"))
			}
			want[i] = func(err error) bool { return errors.Is(err, store.ErrNotFound) }
		case 4: // writes, then panics
			fns[i] = func(tx store.Tx) error {
				if err := create(tx); err != nil {
					return err
				}
				panic(fmt.Sprintf("writer %d panics", i))
			}
			want[i] = func(err error) bool {
				var p *groupPanic
				return errors.As(err, &p) && p.v == fmt.Sprintf("writer %d panics", i)
			}
		default:
			fns[i] = create
			want[i] = func(err error) bool { return err == nil }
		}
	}
	errs, commits := groupBatch(t, s, nil, fns)
	if commits != 1 {
		t.Errorf("one batch took %d commits, want 1", commits)
	}
	s.Close()
	s = groupOpen(t, path)
	have := groupIDs(t, s)
	for i, err := range errs {
		id := fmt.Sprintf("w-%02d", i)
		if !want[i](err) {
			t.Errorf("writer %d (kind %d) returned %v", i, i%6, err)
		}
		if have[id] != (err == nil) {
			t.Errorf("writer %d returned %v and its row is stored: %v", i, err, have[id])
		}
	}
	if !have["taken"] {
		t.Error("the row written before the batch is gone")
	}
	// Alone (a batch of one), a panic reaches its caller, and the store
	// writes on.
	func() {
		defer func() {
			if v := recover(); v != "alone" {
				t.Errorf("a lone writer's panic: %v", v)
			}
		}()
		s.Update(ctx, func(tx store.Tx) error {
			if err := tx.LoadBalancers().Create(ctx, groupLB("alone")); err != nil {
				return err
			}
			panic("alone")
		})
	}()
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.LoadBalancers().Create(ctx, groupLB("after")) }); err != nil {
		t.Fatalf("write after a panic: %v", err)
	}
	if have := groupIDs(t, s); have["alone"] || !have["after"] {
		t.Errorf("after a lone panic: alone stored %v, after stored %v", have["alone"], have["after"])
	}
}

// TestGroupCommitCanceledCaller: a caller whose context ends while it
// waits in a batch gets the context's error and writes nothing; one whose
// context ends during its fn fails at its next statement and is rolled
// back; neither interrupts the transaction the others share.
func TestGroupCommitCanceledCaller(t *testing.T) {
	ctx := context.Background()
	s := groupOpen(t, "")
	const n = 6
	fns := make([]func(store.Tx) error, n)
	ctxs := make([]context.Context, n)
	cancels := make([]context.CancelFunc, n)
	for i := range fns {
		ctxs[i], cancels[i] = context.WithCancel(ctx)
		c, id := ctxs[i], fmt.Sprintf("w-%02d", i)
		fns[i] = func(tx store.Tx) error { return tx.LoadBalancers().Create(c, groupLB(id)) }
	}
	cancels[1]() // gave up while queued
	fns[3] = func(tx store.Tx) error {
		c := ctxs[3]
		if err := tx.LoadBalancers().Create(c, groupLB("w-03")); err != nil {
			return err
		}
		cancels[3]() // the client goes away mid-write
		return tx.LoadBalancers().Create(c, groupLB("w-03-b"))
	}
	errs, commits := groupBatch(t, s, ctxs, fns)
	have := groupIDs(t, s)
	for i, err := range errs {
		id := fmt.Sprintf("w-%02d", i)
		switch i {
		case 1, 3:
			if !errors.Is(err, context.Canceled) || have[id] {
				t.Errorf("canceled writer %d: %v, stored %v", i, err, have[id])
			}
		default:
			if err != nil || !have[id] {
				t.Errorf("writer %d: %v, stored %v", i, err, have[id])
			}
		}
	}
	if have["w-03-b"] {
		t.Error("a statement ran after its caller's context ended")
	}
	if commits != 1 {
		t.Errorf("one batch took %d commits", commits)
	}
	for _, c := range cancels {
		c()
	}
}

// TestGroupCommitManyWriters: 16 goroutines × 40 writes, a third of them
// failing after writing, with readers alongside: exactly the writes whose
// Update returned nil are stored, and they took fewer commits than writes
// (some are batched even though nothing holds them back).
func TestGroupCommitManyWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fulcrum.db")
	s, err := sqlstore.Open(ctx, sqlstore.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	const workers, each = 16, 40
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("w-%02d-%02d", w, i)
				fail := (w+i)%3 == 0
				err := s.Update(ctx, func(tx store.Tx) error {
					if err := tx.LoadBalancers().Create(ctx, groupLB(id)); err != nil {
						return err
					}
					if fail {
						return errGroupBoom
					}
					return nil
				})
				if fail != errors.Is(err, errGroupBoom) || (!fail && err != nil) {
					t.Errorf("%s (fail %v): %v", id, fail, err)
				}
				if err == nil {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			}
		}()
	}
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := s.View(ctx, func(tx store.Tx) error {
					_, err := tx.LoadBalancers().Count(ctx)
					return err
				}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	commits := sqlstore.Commits(s)
	t.Logf("%d successful writes in %d commits", len(acked), commits)
	if commits == 0 || commits >= int64(len(acked)) {
		t.Errorf("%d successful writes took %d commits: no batching", len(acked), commits)
	}
	s.Close()
	s, err = sqlstore.Open(ctx, sqlstore.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	have := groupIDs(t, s)
	for id := range acked {
		if !have[id] {
			t.Errorf("acknowledged %s lost", id)
		}
	}
	for id := range have {
		if !acked[id] {
			t.Errorf("%s stored but its Update failed", id)
		}
	}
}

// TestGroupCommitDiskFull: a batch on a full disk fails every writer with
// store.ErrCannotWrite (its own statement, or the transaction it shared
// rolled back), never another error; what any writer was told succeeded is
// there once space returns and the store is reopened.
func TestGroupCommitDiskFull(t *testing.T) {
	ctx := context.Background()
	dir := mountTmpfs(t, 4<<20)
	path := filepath.Join(dir, "fulcrum.db")
	s := groupOpen(t, path)
	var acked []string
	big := func(id string) *lb.LoadBalancer {
		l := groupLB(id)
		l.Description, l.Tags = strings.Repeat("d", 255), []string{strings.Repeat("t", 255)}
		return l
	}
	fill(t, filepath.Join(dir, "filler"))
	// Write alone until the disk refuses.
	for i := 0; ; i++ {
		id := fmt.Sprintf("solo-%05d", i)
		err := s.Update(ctx, func(tx store.Tx) error { return tx.LoadBalancers().Create(ctx, big(id)) })
		if err == nil {
			if i > 10000 {
				t.Fatal("10,000 writes succeeded on a full file system")
			}
			acked = append(acked, id)
			continue
		}
		if !errors.Is(err, store.ErrCannotWrite) {
			t.Fatalf("write on a full disk: %v", err)
		}
		break
	}
	const n = 24
	fns := make([]func(store.Tx) error, n)
	for i := range fns {
		id := fmt.Sprintf("batch-%02d", i)
		fns[i] = func(tx store.Tx) error {
			for j := 0; j < 8; j++ {
				if err := tx.LoadBalancers().Create(ctx, big(fmt.Sprintf("%s-%d", id, j))); err != nil {
					return err
				}
			}
			return nil
		}
	}
	errs, _ := groupBatch(t, s, nil, fns)
	failed := 0
	for i, err := range errs {
		if err == nil {
			for j := 0; j < 8; j++ {
				acked = append(acked, fmt.Sprintf("batch-%02d-%d", i, j))
			}
			continue
		}
		failed++
		t.Logf("batched writer %d: %v", i, err)
		if !errors.Is(err, store.ErrCannotWrite) {
			t.Errorf("batched writer %d on a full disk: %v, want store.ErrCannotWrite", i, err)
		}
	}
	if failed == 0 {
		t.Fatal("every batched writer succeeded on a full disk")
	}
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.LoadBalancers().Create(ctx, big("after")) }); err != nil {
		t.Fatalf("write after space returned: %v", err)
	}
	s.Close()
	s = groupOpen(t, path)
	have := groupIDs(t, s)
	for _, id := range acked {
		if !have[id] {
			t.Errorf("acknowledged %s lost", id)
		}
	}
}

// BenchmarkUpdate: one load balancer created per Update on a real file,
// one writer and eight, with group commit on and off.
func BenchmarkUpdate(b *testing.B) {
	for _, group := range []bool{true, false} {
		for _, writers := range []int{1, 8} {
			b.Run(fmt.Sprintf("group=%v/writers=%d", group, writers), func(b *testing.B) {
				ctx := context.Background()
				s, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(b.TempDir(), "fulcrum.db"), NoGroupCommit: !group})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				var n atomic.Int64
				b.SetParallelism(writers)
				b.ResetTimer()
				if writers == 1 {
					for b.Loop() {
						id := fmt.Sprint(n.Add(1))
						if err := s.Update(ctx, func(tx store.Tx) error { return tx.LoadBalancers().Create(ctx, groupLB(id)) }); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						id := fmt.Sprint(n.Add(1))
						if err := s.Update(ctx, func(tx store.Tx) error { return tx.LoadBalancers().Create(ctx, groupLB(id)) }); err != nil {
							b.Error(err)
							return
						}
					}
				})
				if group {
					b.ReportMetric(float64(n.Load())/float64(max(sqlstore.Commits(s), 1)), "writes/commit")
				}
			})
		}
	}
}
