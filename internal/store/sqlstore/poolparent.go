package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// prefixed is the select list of k with each column qualified by alias.
func prefixed[T any](k *kind[T], alias string) string {
	names := make([]string, len(k.cols))
	for i, c := range k.cols {
		names[i] = alias + "." + q(c.name)
	}
	return strings.Join(names, ", ")
}

// decode makes an object of the stored values raw (one per column).
func (t *table[T]) decode(raw []any) (*T, error) {
	v := new(T)
	for i := range t.k.cols {
		if err := t.k.cols[i].set(v, raw[i]); err != nil {
			return nil, fmt.Errorf("decode %s.%s: %w", t.k.table, t.k.cols[i].name, err)
		}
	}
	return v, nil
}

// lockPoolSQL is LockPool's statement on SQLite: the pool's columns, its
// load balancer's, and whether a health monitor watches the pool.
var lockPoolSQL = sync.OnceValue(func() string {
	k := newKinds()
	return "SELECT " + prefixed(k.pools, "p") + ", " + prefixed(k.loadBalancers, "l") +
		`, EXISTS (SELECT 1 FROM "health_monitors" h WHERE h."pool_id" = p."id")` +
		` FROM "pools" p JOIN "load_balancers" l ON l."id" = p."loadbalancer_id" WHERE p."id" = ?`
})

// LockPool implements store.Tx. On SQLite, where one connection writes
// and nothing can change between statements, it is one statement; on
// PostgreSQL it is the statements it replaces, in their order (the pool
// read, the load balancer locked, then the health monitors counted), so
// that what it reads is what they read.
func (t *txn) LockPool(ctx context.Context, poolID string) (*lb.Pool, *lb.LoadBalancer, bool, error) {
	pools := &table[lb.Pool]{tx: t, k: t.s.kinds.pools}
	lbs := &table[lb.LoadBalancer]{tx: t, k: t.s.kinds.loadBalancers}
	if t.s.d.name != "sqlite" {
		p, err := pools.Get(ctx, poolID)
		if err != nil {
			return nil, nil, false, err
		}
		l, err := lbs.Lock(ctx, p.LoadBalancerID)
		if err != nil {
			return nil, nil, false, err
		}
		n, err := t.HealthMonitors().Count(ctx, store.F("pool_id", poolID))
		if err != nil {
			return nil, nil, false, err
		}
		return p, l, n > 0, nil
	}
	rows, err := t.query(ctx, lockPoolSQL(), poolID)
	if err != nil {
		return nil, nil, false, fmt.Errorf("lock pool %s: %w", poolID, err)
	}
	defer rows.Close()
	np, nl := len(pools.k.cols), len(lbs.k.cols)
	raw := make([]any, np+nl+1)
	dest := make([]any, len(raw))
	for i := range raw {
		dest[i] = &raw[i]
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, nil, false, fmt.Errorf("lock pool %s: %w", poolID, err)
		}
		return nil, nil, false, fmt.Errorf("lock pool %s: %w", poolID, store.ErrNotFound)
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, nil, false, fmt.Errorf("lock pool %s: %w", poolID, err)
	}
	p, err := pools.decode(raw[:np])
	if err != nil {
		return nil, nil, false, fmt.Errorf("lock pool %s: %w", poolID, err)
	}
	l, err := lbs.decode(raw[np : np+nl])
	if err != nil {
		return nil, nil, false, fmt.Errorf("lock pool %s: %w", poolID, err)
	}
	monitored, ok := raw[np+nl].(int64)
	if !ok {
		return nil, nil, false, fmt.Errorf("lock pool %s: health monitor test: unexpected %T", poolID, raw[np+nl])
	}
	if err := rows.Close(); err != nil {
		return nil, nil, false, fmt.Errorf("lock pool %s: %w", poolID, err)
	}
	pools.rememberRows([]*lb.Pool{p})
	lbs.rememberRows([]*lb.LoadBalancer{l})
	return p, l, monitored != 0, nil
}
