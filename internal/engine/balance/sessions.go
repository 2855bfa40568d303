package balance

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/engine/clock"
)

// DefaultSessionTimeout is how long an idle persistence entry lives when the pool's
// persistence_timeout is 0.
const DefaultSessionTimeout = 360 * time.Second

const (
	sessionShards   = 16
	maxShardEntries = 1 << 16 // 1 Mi entries per table in all
)

// Sessions is a persistence table: key → member id, each entry expiring after a period
// without use. It is sharded so that concurrent lookups rarely contend. Safe for concurrent
// use.
type Sessions[K comparable] struct {
	clk     clock.Clock
	timeout time.Duration
	seed    maphash.Seed
	shards  [sessionShards]sessionShard[K]
}

type sessionShard[K comparable] struct {
	mu      sync.Mutex
	m       map[K]sessionEntry
	inserts int
}

type sessionEntry struct {
	member  string
	expires int64 // unix nanoseconds
}

// NewSessions returns an empty table whose entries expire timeout after last use
// (DefaultSessionTimeout when timeout ≤ 0).
func NewSessions[K comparable](clk clock.Clock, timeout time.Duration) *Sessions[K] {
	if timeout <= 0 {
		timeout = DefaultSessionTimeout
	}
	s := &Sessions[K]{clk: clk, timeout: timeout, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[K]sessionEntry)
	}
	return s
}

// Timeout returns the idle lifetime of entries.
func (s *Sessions[K]) Timeout() time.Duration { return s.timeout }

func (s *Sessions[K]) shard(k K) *sessionShard[K] {
	return &s.shards[maphash.Comparable(s.seed, k)%sessionShards]
}

// Get returns the member id stored for k if the entry is live, refreshing its expiry.
func (s *Sessions[K]) Get(k K) (string, bool) {
	now := s.clk.Now().UnixNano()
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[k]
	if !ok {
		return "", false
	}
	if e.expires < now {
		delete(sh.m, k)
		return "", false
	}
	e.expires = now + int64(s.timeout)
	sh.m[k] = e
	return e.member, true
}

// Put stores k → member. When a shard is full, expired entries are swept first; if it is
// still full the entry is not stored (the client is then balanced normally next time).
func (s *Sessions[K]) Put(k K, member string) {
	now := s.clk.Now().UnixNano()
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.inserts++
	if len(sh.m) >= maxShardEntries || sh.inserts%4096 == 0 {
		for key, e := range sh.m {
			if e.expires < now {
				delete(sh.m, key)
			}
		}
	}
	if _, exists := sh.m[k]; !exists && len(sh.m) >= maxShardEntries {
		return
	}
	sh.m[k] = sessionEntry{member: member, expires: now + int64(s.timeout)}
}

// Len returns the number of entries, live or not yet swept.
func (s *Sessions[K]) Len() int {
	n := 0
	for i := range s.shards {
		s.shards[i].mu.Lock()
		n += len(s.shards[i].m)
		s.shards[i].mu.Unlock()
	}
	return n
}
