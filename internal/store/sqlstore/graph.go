package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// The kinds of graphSQL's rows, its first column.
const (
	graphLoadBalancer = iota
	graphListener
	graphPool
	graphHealthMonitor
	graphL7Policy
	graphL7Rule
)

// graphStmt is Graph's first statement on SQLite: the load balancer and
// its children but the members, as one UNION ALL whose rows hold their
// kind's number, then the kind's columns padded with NULLs to the widest
// kind's. Members, the many, have a statement of their own, so that their
// rows are not padded. Neither sorts: SQLite would copy every row through
// its sorter; Graph sorts in Go, by the keys List sorts by.
type graphStmt struct {
	sql     string
	width   int // columns after the kind's number
	members string
}

var graphSQL = sync.OnceValue(func() graphStmt {
	k := newKinds()
	type arm struct {
		n          int
		table      string
		selectList string
		cols       int
		where      string
	}
	byLB := `"loadbalancer_id" = ?1`
	arms := []arm{
		{graphLoadBalancer, k.loadBalancers.table, k.loadBalancers.selectList, len(k.loadBalancers.cols), `"id" = ?1`},
		{graphListener, k.listeners.table, k.listeners.selectList, len(k.listeners.cols), byLB},
		{graphPool, k.pools.table, k.pools.selectList, len(k.pools.cols), byLB},
		{graphHealthMonitor, k.healthMonitors.table, k.healthMonitors.selectList, len(k.healthMonitors.cols), byLB},
		{graphL7Policy, k.l7Policies.table, k.l7Policies.selectList, len(k.l7Policies.cols), byLB},
		{graphL7Rule, k.l7Rules.table, k.l7Rules.selectList, len(k.l7Rules.cols), byLB},
	}
	width := 0
	for _, a := range arms {
		width = max(width, a.cols)
	}
	parts := make([]string, len(arms))
	for i, a := range arms {
		parts[i] = "SELECT " + strconv.Itoa(a.n) + ", " + a.selectList + strings.Repeat(", NULL", width-a.cols) +
			" FROM " + q(a.table) + " WHERE " + a.where
	}
	return graphStmt{
		sql:     strings.Join(parts, " UNION ALL "),
		width:   width,
		members: "SELECT " + k.members.selectList + ` FROM "members" WHERE "loadbalancer_id" = ?`,
	}
})

// Graph implements store.Tx. On SQLite it is two statements (graphSQL),
// not one per table: a reconcile, and a health manager's look at a load
// balancer, read the graph, and each statement has a fixed cost. On
// PostgreSQL it is store.LoadGraphByTables.
func (t *txn) Graph(ctx context.Context, id string) (*lb.Graph, error) {
	if t.s.d.name != "sqlite" {
		return store.LoadGraphByTables(ctx, t, id)
	}
	k := t.s.kinds
	lbs := &table[lb.LoadBalancer]{tx: t, k: k.loadBalancers}
	listeners := &table[lb.Listener]{tx: t, k: k.listeners}
	pools := &table[lb.Pool]{tx: t, k: k.pools}
	members := &table[lb.Member]{tx: t, k: k.members}
	monitors := &table[lb.HealthMonitor]{tx: t, k: k.healthMonitors}
	policies := &table[lb.L7Policy]{tx: t, k: k.l7Policies}
	rules := &table[lb.L7Rule]{tx: t, k: k.l7Rules}

	st := graphSQL()
	rows, err := t.query(ctx, st.sql, id)
	if err != nil {
		return nil, fmt.Errorf("graph %s: %w", id, err)
	}
	defer rows.Close()
	raw := make([]any, st.width+1)
	dest := make([]any, len(raw))
	for i := range raw {
		dest[i] = &raw[i]
	}
	g := &lb.Graph{}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("graph %s: %w", id, err)
		}
		n, ok := raw[0].(int64)
		if !ok {
			return nil, fmt.Errorf("graph %s: kind %T", id, raw[0])
		}
		vals := raw[1:]
		switch n {
		case graphLoadBalancer:
			g.LoadBalancer, err = lbs.decode(vals)
		case graphListener:
			g.Listeners, err = appendDecoded(listeners, g.Listeners, vals)
		case graphPool:
			g.Pools, err = appendDecoded(pools, g.Pools, vals)
		case graphHealthMonitor:
			g.HealthMonitors, err = appendDecoded(monitors, g.HealthMonitors, vals)
		case graphL7Policy:
			g.L7Policies, err = appendDecoded(policies, g.L7Policies, vals)
		case graphL7Rule:
			g.L7Rules, err = appendDecoded(rules, g.L7Rules, vals)
		default:
			err = fmt.Errorf("kind %d", n)
		}
		if err != nil {
			return nil, fmt.Errorf("graph %s: %w", id, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("graph %s: %w", id, err)
	}
	rows.Close()
	if g.LoadBalancer == nil {
		return nil, fmt.Errorf("get %s %s: %w", k.loadBalancers.table, id, store.ErrNotFound)
	}
	mrows, err := t.query(ctx, st.members, id)
	if err != nil {
		return nil, fmt.Errorf("graph %s: list members: %w", id, err)
	}
	if g.Members, err = members.scanRows(mrows); err != nil {
		return nil, fmt.Errorf("graph %s: list members: %w", id, err)
	}

	// List's order: created_at, then id; L7 policies by listener and
	// position first.
	sortCreated(g.Listeners, func(x *lb.Listener) (time.Time, string) { return x.CreatedAt, x.ID })
	sortCreated(g.Pools, func(x *lb.Pool) (time.Time, string) { return x.CreatedAt, x.ID })
	sortCreated(g.Members, func(x *lb.Member) (time.Time, string) { return x.CreatedAt, x.ID })
	sortCreated(g.HealthMonitors, func(x *lb.HealthMonitor) (time.Time, string) { return x.CreatedAt, x.ID })
	sortCreated(g.L7Rules, func(x *lb.L7Rule) (time.Time, string) { return x.CreatedAt, x.ID })
	slices.SortFunc(g.L7Policies, func(a, b *lb.L7Policy) int {
		if c := strings.Compare(a.ListenerID, b.ListenerID); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Position, b.Position); c != 0 {
			return c
		}
		return cmpCreated(a.CreatedAt, a.ID, b.CreatedAt, b.ID)
	})

	lbs.rememberRows([]*lb.LoadBalancer{g.LoadBalancer})
	listeners.rememberRows(g.Listeners)
	pools.rememberRows(g.Pools)
	members.rememberRows(g.Members)
	monitors.rememberRows(g.HealthMonitors)
	policies.rememberRows(g.L7Policies)
	rules.rememberRows(g.L7Rules)
	return g, nil
}

func appendDecoded[T any](t *table[T], list []*T, raw []any) ([]*T, error) {
	v, err := t.decode(raw)
	if err != nil {
		return list, err
	}
	return append(list, v), nil
}

// sortCreated sorts list as List does by default: created_at (as stored, in
// microseconds), then id (SQLite compares text bytewise, as Go does).
func sortCreated[T any](list []*T, key func(*T) (time.Time, string)) {
	slices.SortFunc(list, func(a, b *T) int {
		ta, ia := key(a)
		tb, ib := key(b)
		return cmpCreated(ta, ia, tb, ib)
	})
}

func cmpCreated(ta time.Time, ia string, tb time.Time, ib string) int {
	if c := ta.Compare(tb); c != 0 {
		return c
	}
	return strings.Compare(ia, ib)
}
