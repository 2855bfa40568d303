// Package quota enforces Octavia's per-project quotas on load balancers,
// listeners, pools, health monitors, members, L7 policies and L7 rules, and
// serves the quota API (/v2/lbaas/quotas and its aliases).
//
// Reserve runs inside the create transaction: it locks the project's quota
// row (creating it on first use, as Octavia does), counts what the project
// has and refuses with *lb.QuotaExceededError when the create would go over
// the limit. Because the count and the insert share one transaction, whose
// writers the store serialises per quota row, concurrent creates can never
// overshoot. Callers under noauth (policy.Caller.NoAuth) are not limited.
package quota

import (
	"context"
	"errors"
	"fmt"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Enforcer checks and serves quotas. It is immutable and safe for
// concurrent use.
type Enforcer struct {
	defaults lb.QuotaLimits
}

// New returns an enforcer with the deployment's default limits (-1 =
// unlimited).
func New(defaults lb.QuotaLimits) *Enforcer { return &Enforcer{defaults: defaults} }

// Defaults returns the deployment defaults.
func (e *Enforcer) Defaults() lb.QuotaLimits { return e.defaults }

// Reserve checks that project may create want[r] more objects of each
// resource r, inside tx. It returns *lb.QuotaExceededError for the first
// resource over its limit.
func (e *Enforcer) Reserve(ctx context.Context, tx store.Tx, project string, want map[lb.QuotaResource]int) error {
	if c, ok := policy.CallerFrom(ctx); ok && c.NoAuth {
		return nil
	}
	q, err := lockRow(ctx, tx, project)
	if err != nil {
		return err
	}
	limits := q.Effective(e.defaults)
	for _, r := range lb.QuotaResources {
		n := want[r]
		if n <= 0 || limits[r] == lb.QuotaUnlimited {
			continue
		}
		inUse, err := Usage(ctx, tx, project, r)
		if err != nil {
			return err
		}
		if err := lb.CheckQuota(r, limits[r], inUse, n); err != nil {
			return err
		}
	}
	return nil
}

// ReserveOne is Reserve for a single object of r.
func (e *Enforcer) ReserveOne(ctx context.Context, tx store.Tx, project string, r lb.QuotaResource) error {
	return e.Reserve(ctx, tx, project, map[lb.QuotaResource]int{r: 1})
}

// lockRow locks the project's quota row, creating an all-default one first
// when the project has none. Two first creates of a project racing both
// insert-if-absent; the loser waits for the winner's row and locks it.
func lockRow(ctx context.Context, tx store.Tx, project string) (*lb.Quota, error) {
	q, err := tx.Quotas().Lock(ctx, project)
	if err == nil {
		return q, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("lock quota of %s: %w", project, err)
	}
	if _, err := tx.Quotas().CreateIfAbsent(ctx, &lb.Quota{ProjectID: project}); err != nil {
		return nil, fmt.Errorf("create quota of %s: %w", project, err)
	}
	q, err = tx.Quotas().Lock(ctx, project)
	if err != nil {
		return nil, fmt.Errorf("lock quota of %s: %w", project, err)
	}
	return q, nil
}

// Usage counts the project's objects of resource r. Objects being deleted
// count until they are gone, as in Octavia.
func Usage(ctx context.Context, tx store.Tx, project string, r lb.QuotaResource) (int, error) {
	f := store.F("project_id", project)
	var n int
	var err error
	switch r {
	case lb.QuotaLoadBalancer:
		n, err = tx.LoadBalancers().Count(ctx, f)
	case lb.QuotaListener:
		n, err = tx.Listeners().Count(ctx, f)
	case lb.QuotaPool:
		n, err = tx.Pools().Count(ctx, f)
	case lb.QuotaHealthMonitor:
		n, err = tx.HealthMonitors().Count(ctx, f)
	case lb.QuotaMember:
		n, err = tx.Members().Count(ctx, f)
	case lb.QuotaL7Policy:
		n, err = tx.L7Policies().Count(ctx, f)
	case lb.QuotaL7Rule:
		n, err = tx.L7Rules().Count(ctx, f)
	default:
		return 0, fmt.Errorf("usage: unknown quota resource %d", r)
	}
	if err != nil {
		return 0, fmt.Errorf("count %s of %s: %w", r.Key(), project, err)
	}
	return n, nil
}
