package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Group commit (SQLite). One connection writes and every COMMIT waits for
// the disk (synchronous=FULL), so writers taking turns each pay a whole
// sync. Instead, the writers that arrive while a transaction is committing
// queue up, and the next transaction runs all of them, each fn inside a
// SAVEPOINT of its own, then commits once: one sync for the batch.
//
// What each caller sees is unchanged:
//   - Its fn runs alone (fns of a batch run one after the other, on the one
//     connection), so a read-modify-write is as safe as before, and it sees
//     the writes of the fns before it in the batch, as it would have seen
//     them committed.
//   - A fn that returns an error, or panics, is rolled back to its
//     savepoint: nothing it wrote remains, the others of the batch go on,
//     and its caller gets its own error (or its panic) unchanged.
//   - Update returns nil only after the COMMIT holding the fn's writes
//     returned, with synchronous=FULL as before: what Update acknowledged
//     is on disk. A failed COMMIT fails every caller of the batch, with the
//     commit's error. Notifications go out after the commit, as before.
//
// No writer waits for others to arrive: the first writer of an idle store
// runs at once as a batch of one (without a savepoint: its transaction is
// its own). A batch holds at most maxBatch writers
// and stops taking more after maxBatchTime of running fns; the rest run in
// the next one. The writer that runs a batch is one of its callers (the
// first in the queue), so no goroutine is left behind when the store is
// idle, and once done it hands the queue to the next waiting caller.
const (
	maxBatch     = 64
	maxBatchTime = 10 * time.Millisecond
)

// noGroupCommitEnv, set to 1, turns group commit off: each Update runs in a
// transaction of its own, as before group commit. It exists for the api
// benchmark's comparison (bench/README.md), not for operators.
const noGroupCommitEnv = "FULCRUM_BENCH_NO_GROUP_COMMIT"

// group is the queue of writers waiting for a transaction.
type group struct {
	mu      sync.Mutex
	queue   []*pending
	leading bool // a caller is running a batch (or about to)

	commits atomic.Int64 // batches committed
	// beforeCommit, when set (tests), runs with the batch's size just
	// before its COMMIT.
	beforeCommit func(n int)
	// maxTime replaces maxBatchTime when set (tests).
	maxTime time.Duration
}

// pending is one Update call waiting in the group.
type pending struct {
	ctx context.Context
	fn  func(store.Tx) error
	// turn receives true when this caller is to run the next batch,
	// false when its result is ready.
	turn     chan bool
	err      error
	panicked bool
	panicVal any
	notes    []store.Notification
}

// updateGrouped is Update with group commit.
func (s *Store) updateGrouped(ctx context.Context, fn func(store.Tx) error) error {
	p := &pending{ctx: ctx, fn: fn, turn: make(chan bool, 1)}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, p)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	// The queue is empty whenever nobody leads, so a new leader's call is
	// at its head; a leader hands over to the head of what is left. Either
	// way this caller's fn is in the batch it runs.
	if lead || <-p.turn {
		s.runBatch()
	}
	if p.panicked {
		panic(p.panicVal)
	}
	return p.err
}

// runBatch takes the head of the queue, runs it as one transaction, hands
// the queue to the next caller and gives every finished caller its result.
func (s *Store) runBatch() {
	g := &s.group
	g.mu.Lock()
	n := min(len(g.queue), maxBatch)
	batch := make([]*pending, n)
	copy(batch, g.queue)
	g.queue = g.queue[n:]
	g.mu.Unlock()

	rest := s.commitBatch(batch)
	// The connection is free again: prepare what the batch learned.
	s.writeStmts.prepareLearned()

	g.mu.Lock()
	if len(rest) > 0 {
		g.queue = append(rest[:len(rest):len(rest)], g.queue...)
	}
	var next *pending
	if len(g.queue) > 0 {
		next = g.queue[0]
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	for _, p := range batch[:len(batch)-len(rest)] {
		p.turn <- false
	}
	if next != nil {
		next.turn <- true
	}
}

// commitBatch runs the fns of batch in one transaction and commits it,
// setting each caller's result. It returns the callers it did not run
// (the batch ran out of time, or its transaction broke), which go first in
// the next batch. It always finishes batch[0].
func (s *Store) commitBatch(batch []*pending) (rest []*pending) {
	// No caller's context governs the transaction: one caller giving up
	// must not roll back the others' writes. Each fn's own statements
	// still stop when its caller's context ends (txn.exec).
	tx, err := s.write.BeginTx(context.Background(), nil)
	if err != nil {
		err = fmt.Errorf("begin: %w", s.translate(err))
		for _, p := range batch {
			p.err = err
		}
		return nil
	}
	start, limit := time.Now(), maxBatchTime
	if s.group.maxTime > 0 {
		limit = s.group.maxTime
	}
	// sp runs the savepoint statements (prepared once, like the fns').
	sp := &txn{s: s, tx: tx, stmts: s.writeStmts}
	bg := context.Background()
	var done []*pending // fns that succeeded
	// broken ends the batch when the transaction can no longer be used:
	// SQLite rolled it back whole (a full disk, an I/O error) so the
	// savepoint is gone. The fns that had succeeded lose their writes and
	// fail with cause; those not yet run go to the next batch.
	broken := func(cause error, unrun []*pending) []*pending {
		tx.Rollback()
		err := fmt.Errorf("the transaction shared with other writes was rolled back: %w", cause)
		for _, p := range done {
			p.err, p.notes = err, nil
		}
		return unrun
	}
	if len(batch) == 1 {
		// Alone: the fn's transaction is its own, as without group
		// commit; no savepoint to pay for.
		p := batch[0]
		if err := p.ctx.Err(); err != nil {
			p.err = err
			tx.Rollback()
			return nil
		}
		t := &txn{s: s, tx: tx, detached: true, stmts: s.writeStmts}
		if !s.callFn(p, t) {
			tx.Rollback()
			return nil
		}
		p.notes = t.notes
		done = append(done, p)
	}
	for i, p := range batch {
		if len(batch) == 1 {
			break
		}
		if i > 0 && time.Since(start) > limit {
			rest = batch[i:]
			break
		}
		if err := p.ctx.Err(); err != nil {
			p.err = err
			continue
		}
		if _, err := sp.exec(bg, `SAVEPOINT fulcrum_write`); err != nil {
			if i == 0 {
				p.err = fmt.Errorf("savepoint: %w", err)
				return broken(err, batch[1:])
			}
			return broken(err, batch[i:])
		}
		t := &txn{s: s, tx: tx, detached: true, stmts: s.writeStmts}
		if s.callFn(p, t) {
			if _, err := sp.exec(bg, `RELEASE fulcrum_write`); err != nil {
				p.err = fmt.Errorf("release savepoint: %w", err)
				return broken(err, batch[i+1:])
			}
			p.notes = t.notes
			done = append(done, p)
			continue
		}
		if _, err := sp.exec(bg, `ROLLBACK TO fulcrum_write`); err != nil {
			return broken(rollbackCause(p.err, err), batch[i+1:])
		}
		if _, err := sp.exec(bg, `RELEASE fulcrum_write`); err != nil {
			return broken(rollbackCause(p.err, err), batch[i+1:])
		}
	}
	if len(done) == 0 {
		tx.Rollback()
		return rest
	}
	if s.group.beforeCommit != nil {
		s.group.beforeCommit(len(done))
	}
	if err := tx.Commit(); err != nil {
		err = fmt.Errorf("commit: %w", s.translate(err))
		for _, p := range done {
			p.err, p.notes = err, nil
		}
		return rest
	}
	s.group.commits.Add(1)
	for _, p := range done {
		s.hub.deliver(p.notes)
	}
	return rest
}

// callFn runs p's fn and reports whether it succeeded; otherwise p holds
// its error or its panic.
func (s *Store) callFn(p *pending, t *txn) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			// The caller panics with v once the batch is done; the stack
			// is this goroutine's, so it is logged here.
			s.log.Error("store write panicked", "panic", v, "stack", string(debug.Stack()))
			p.panicked, p.panicVal, ok = true, v, false
		}
	}()
	if err := p.fn(t); err != nil {
		p.err = err
		return false
	}
	return true
}

// rollbackCause is what the other writes of a batch are told when a fn's
// failure took the transaction down: the fn's own error when it says the
// store cannot write or is busy (their writes fail for the same reason,
// and their callers answer it the same way), else the rollback's error.
func rollbackCause(fnErr, rollbackErr error) error {
	if errors.Is(fnErr, store.ErrCannotWrite) || errors.Is(fnErr, store.ErrBusy) {
		return fnErr
	}
	return rollbackErr
}
