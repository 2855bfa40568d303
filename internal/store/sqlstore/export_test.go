package sqlstore

import "time"

// Commits returns how many group-commit batches s has committed.
func Commits(s *Store) int64 { return s.group.commits.Load() }

// Queued returns how many writers wait for s's next batch.
func Queued(s *Store) int {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return len(s.group.queue)
}

// BeforeCommit makes s call fn with each batch's size before its COMMIT.
func BeforeCommit(s *Store, fn func(n int)) { s.group.beforeCommit = fn }

// SetMaxBatchTime sets how long a batch takes writers for (tests that need
// one batch whatever the machine's speed).
func SetMaxBatchTime(s *Store, d time.Duration) { s.group.maxTime = d }

// CachedStmts returns how many statements the write and the read pools
// have prepared (stmtcache.go).
func CachedStmts(s *Store) (write, read int) {
	n := func(c *stmtCache) int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.stmts) + len(c.learned)
	}
	return n(s.writeStmts), n(s.readStmts)
}

// MaxCachedStmts is the bound of each pool's statement cache.
const MaxCachedStmts = maxCachedStmts

// Statements returns how many statements s's transactions have run.
func Statements(s *Store) int64 { return s.statements.Load() }
