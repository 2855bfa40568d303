package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements of one SQLite pool, so that the
// statements a transaction runs again and again are parsed and planned once
// per connection rather than at every call (parsing was about a fifth of
// the server's CPU under a stream of API writes).
//
// A statement can only be prepared for the pool outside a transaction
// (database/sql prepares on a connection of the pool, and the write pool
// has one, held by the transaction). So a transaction records the texts
// it ran that the cache lacks ("learned"), and once its connection is
// back, prepareLearned prepares them; later transactions run them through
// Tx.StmtContext, which reuses the statement already prepared on the
// transaction's connection (or prepares it on that connection once).
//
// The cache is bounded: list queries are built from the filters a client
// sends, and a client must not grow the server's memory by varying them.
// Past maxCachedStmts texts, new ones run unprepared, as before.
type stmtCache struct {
	db      *sql.DB
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt // nil value: preparing failed, run unprepared
	learned map[string]bool
}

const maxCachedStmts = 512

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, learned: map[string]bool{}}
}

// get returns the prepared statement for q, or nil (then q is learned,
// while there is room).
func (c *stmtCache) get(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.stmts[q]
	if !ok && !c.learned[q] && len(c.stmts)+len(c.learned) < maxCachedStmts {
		c.learned[q] = true
	}
	return st
}

// prepareLearned prepares what transactions learned. The caller must hold
// no transaction of the pool (it would wait for its own connection).
func (c *stmtCache) prepareLearned() {
	c.mu.Lock()
	if len(c.learned) == 0 {
		c.mu.Unlock()
		return
	}
	var todo []string
	for q := range c.learned {
		todo = append(todo, q)
	}
	c.mu.Unlock()
	for _, q := range todo {
		st, err := c.db.PrepareContext(context.Background(), q)
		if err != nil {
			st = nil
		}
		c.mu.Lock()
		if _, done := c.stmts[q]; done {
			if st != nil {
				st.Close() // another caller prepared it meanwhile
			}
		} else {
			c.stmts[q] = st
		}
		delete(c.learned, q)
		c.mu.Unlock()
	}
}

// close closes every prepared statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		if st != nil {
			st.Close()
		}
		delete(c.stmts, q)
	}
}
