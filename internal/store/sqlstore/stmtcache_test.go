package sqlstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// TestStmtCache: the statements writes and reads run are prepared once and
// reused with the same results; list queries a client varies at will do not
// grow the cache past its bound, and still answer right.
func TestStmtCache(t *testing.T) {
	ctx := context.Background()
	s := groupOpen(t, "")
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("lb-%d", i)
		if err := s.Update(ctx, func(tx store.Tx) error {
			if err := tx.LoadBalancers().Create(ctx, groupLB(id)); err != nil {
				return err
			}
			got, err := tx.LoadBalancers().Get(ctx, id)
			if err != nil {
				return err
			}
			got.Description = "again"
			return tx.LoadBalancers().Update(ctx, got)
		}); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := sqlstore.CachedStmts(s)
	if w == 0 {
		t.Fatal("no statement of the write path was prepared")
	}
	have := groupIDs(t, s)
	if len(have) != 5 {
		t.Fatalf("%d rows, want 5", len(have))
	}
	// Many distinct list queries (filters on 3 or 4 fields), each run
	// twice: unprepared the first time, prepared the second.
	fields := []string{"name", "description", "provider", "project_id", "vip_address", "vip_port_id", "vip_subnet_id",
		"vip_network_id", "flavor_id", "availability_zone", "provisioning_status", "operating_status", "admin_state_up", "id"}
	value := map[string]string{"name": "lb-3", "id": "lb-3", "project_id": "p", "provider": "noop", "description": "again", "admin_state_up": "false"}
	list := func(f []store.Filter) string {
		t.Helper()
		var got []string
		if err := s.View(ctx, func(tx store.Tx) error {
			ls, err := tx.LoadBalancers().List(ctx, store.Query{Filters: f})
			for _, l := range ls {
				got = append(got, l.ID)
			}
			return err
		}); err != nil {
			t.Fatalf("list %v: %v", f, err)
		}
		return fmt.Sprint(got)
	}
	queries, matched := 0, 0
	for a := 0; a < len(fields) && queries < 700; a++ {
		for b := a + 1; b < len(fields); b++ {
			for c := b + 1; c < len(fields); c++ {
				for d := c; d < len(fields); d++ {
					f := []store.Filter{store.F(fields[a], value[fields[a]]), store.F(fields[b], value[fields[b]]), store.F(fields[c], value[fields[c]])}
					if d > c {
						f = append(f, store.F(fields[d], value[fields[d]]))
					}
					first, second := list(f), list(f)
					if first != second {
						t.Fatalf("list %v: %s, then %s", f, first, second)
					}
					if first != "[]" {
						matched++
					}
					queries++
				}
			}
		}
	}
	_, r := sqlstore.CachedStmts(s)
	if queries <= sqlstore.MaxCachedStmts || r > sqlstore.MaxCachedStmts || matched == 0 {
		t.Fatalf("%d distinct queries (%d matching rows) left %d statements cached, bound %d", queries, matched, r, sqlstore.MaxCachedStmts)
	}
	t.Logf("%d distinct list queries (%d matching rows), %d statements cached", queries, matched, r)
}
