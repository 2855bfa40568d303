package sqlstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// poolListenersSQL selects a pool's listeners in Octavia's sense in one
// statement: those with the pool as default pool first, then those owning
// an enabled L7 policy with a rule that redirects to it, each group in
// creation order. The arguments: the pool id twice, true, the pool id.
var poolListenersSQL = sync.OnceValue(func() string {
	return "SELECT " + newKinds().listeners.selectList + ` FROM "listeners" WHERE "default_pool_id" = ? OR "id" IN (` +
		`SELECT p."listener_id" FROM "l7_policies" p WHERE p."redirect_pool_id" = ? AND p."admin_state_up" = ?` +
		` AND EXISTS (SELECT 1 FROM "l7_rules" r WHERE r."l7policy_id" = p."id"))` +
		` ORDER BY CASE WHEN "default_pool_id" = ? THEN 0 ELSE 1 END, "created_at", "id"`
})

// PoolListeners implements store.Tx.
func (t *txn) PoolListeners(ctx context.Context, poolID string) ([]*lb.Listener, error) {
	tb := &table[lb.Listener]{tx: t, k: t.s.kinds.listeners}
	rows, err := t.query(ctx, poolListenersSQL(), poolID, poolID, true, poolID)
	if err != nil {
		return nil, fmt.Errorf("listeners of pool %s: %w", poolID, err)
	}
	ls, err := tb.scanRows(rows)
	if err != nil {
		return nil, fmt.Errorf("listeners of pool %s: %w", poolID, err)
	}
	tb.rememberRows(ls)
	return ls, nil
}
