package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// poolListenersSQL selects a pool's listeners in Octavia's sense in one
// statement: those with the pool as default pool, then those owning an
// enabled L7 policy with a rule that redirects to it (a listener may come
// twice). Neither an IN over a subquery nor an ORDER BY: on SQLite both
// build a temporary table at every run, which cost more than the rest of
// the statement; PoolListeners orders the few rows itself. The arguments:
// the pool id, the pool id, true.
var poolListenersSQL = sync.OnceValue(func() string {
	cols := prefixed(newKinds().listeners, "l")
	return "SELECT " + cols + ` FROM "listeners" l WHERE l."default_pool_id" = ?` +
		" UNION ALL SELECT " + cols + ` FROM "l7_policies" p JOIN "listeners" l ON l."id" = p."listener_id"` +
		` WHERE p."redirect_pool_id" = ? AND p."admin_state_up" = ?` +
		` AND EXISTS (SELECT 1 FROM "l7_rules" r WHERE r."l7policy_id" = p."id")`
})

// PoolListeners implements store.Tx.
func (t *txn) PoolListeners(ctx context.Context, poolID string) ([]*lb.Listener, error) {
	tb := &table[lb.Listener]{tx: t, k: t.s.kinds.listeners}
	rows, err := t.query(ctx, poolListenersSQL(), poolID, poolID, true)
	if err != nil {
		return nil, fmt.Errorf("listeners of pool %s: %w", poolID, err)
	}
	ls, err := tb.scanRows(rows)
	if err != nil {
		return nil, fmt.Errorf("listeners of pool %s: %w", poolID, err)
	}
	// The default pool's first, each group in creation order (as List
	// orders: created_at, then id); each listener once.
	group := func(l *lb.Listener) int {
		if l.DefaultPoolID == poolID {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(ls, func(a, b *lb.Listener) int {
		return cmp.Or(cmp.Compare(group(a), group(b)), a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	ls = slices.CompactFunc(ls, func(a, b *lb.Listener) bool { return a.ID == b.ID })
	tb.rememberRows(ls)
	return ls, nil
}
