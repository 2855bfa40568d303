package lbaasv1

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// v1Pool is one v1 pool as stored: its mark, its load balancer and pool,
// the listeners that are its VIPs (one, unless the v2 API added more),
// its members and the health monitor on it.
type v1Pool struct {
	mark    *lb.V1Pool
	lb      *lb.LoadBalancer
	pool    *lb.Pool
	vips    []*lb.Listener
	members []*lb.Member
	monitor *lb.HealthMonitor
}

// vip is the pool's VIP (the first listener using it), nil when it has
// none.
func (v *v1Pool) vip() *lb.Listener {
	if len(v.vips) == 0 {
		return nil
	}
	return v.vips[0]
}

// loadPools reads the v1 pools matching filters (on the marks: id,
// project_id, loadbalancer_id) with everything they are made of, in
// creation order. A mark whose pool is gone (being removed) is skipped.
func loadPools(ctx context.Context, tx store.Tx, filters ...store.Filter) ([]*v1Pool, error) {
	marks, err := tx.V1Pools().List(ctx, store.Query{Filters: filters})
	if err != nil || len(marks) == 0 {
		return nil, err
	}
	ids, lbIDs := make([]string, len(marks)), make([]string, len(marks))
	for i, m := range marks {
		ids[i], lbIDs[i] = m.ID, m.LoadBalancerID
	}
	pools, err := tx.Pools().List(ctx, store.Query{Filters: []store.Filter{store.In("id", ids...)}})
	if err != nil {
		return nil, err
	}
	lbs, err := tx.LoadBalancers().List(ctx, store.Query{Filters: []store.Filter{store.In("id", lbIDs...)}})
	if err != nil {
		return nil, err
	}
	listeners, err := tx.Listeners().List(ctx, store.Query{Filters: []store.Filter{store.In("default_pool_id", ids...)}})
	if err != nil {
		return nil, err
	}
	members, err := tx.Members().List(ctx, store.Query{Filters: []store.Filter{store.In("pool_id", ids...)}})
	if err != nil {
		return nil, err
	}
	monitors, err := tx.HealthMonitors().List(ctx, store.Query{Filters: []store.Filter{store.In("pool_id", ids...)}})
	if err != nil {
		return nil, err
	}
	poolByID := map[string]*lb.Pool{}
	for _, p := range pools {
		poolByID[p.ID] = p
	}
	lbByID := map[string]*lb.LoadBalancer{}
	for _, l := range lbs {
		lbByID[l.ID] = l
	}
	out := make([]*v1Pool, 0, len(marks))
	byID := map[string]*v1Pool{}
	for _, m := range marks {
		p, l := poolByID[m.ID], lbByID[m.LoadBalancerID]
		if p == nil || l == nil {
			continue
		}
		v := &v1Pool{mark: m, lb: l, pool: p}
		out = append(out, v)
		byID[m.ID] = v
	}
	for _, l := range listeners {
		// A VIP being deleted is gone for v1, which deleted it at once.
		if v := byID[l.DefaultPoolID]; v != nil && l.Status.Provisioning != lb.PendingDelete {
			v.vips = append(v.vips, l)
		}
	}
	for _, m := range members {
		if v := byID[m.PoolID]; v != nil {
			v.members = append(v.members, m)
		}
	}
	for _, h := range monitors {
		if v := byID[h.PoolID]; v != nil {
			v.monitor = h
		}
	}
	return out, nil
}

// loadPool reads one v1 pool (PoolNotFound when there is none).
func loadPool(ctx context.Context, tx store.Tx, id string) (*v1Pool, error) {
	ps, err := loadPools(ctx, tx, store.F("id", id))
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, poolNotFound(id)
	}
	return ps[0], nil
}

// monitorOnPool is the id of the health monitor a v1 health monitor has on
// a pool: derived from both ids (a UUID of version 5's layout), so the
// association needs no record of its own and the two can be found from
// each other.
func monitorOnPool(monitorID, poolID string) string {
	sum := sha1.Sum([]byte("lbaas-v1-health-monitor/" + monitorID + "/" + poolID))
	sum[6] = sum[6]&0x0f | 0x50
	sum[8] = sum[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}

// v1Monitor returns the v1 health monitor a pool's health monitor was made
// from, among monitors ("" when none: made through the v2 API).
func v1Monitor(v *v1Pool, monitors []*lb.V1HealthMonitor) string {
	if v.monitor == nil {
		return ""
	}
	for _, m := range monitors {
		if monitorOnPool(m.ID, v.pool.ID) == v.monitor.ID {
			return m.ID
		}
	}
	return ""
}

// status is an object's status in v1's words: its provisioning status.
func status(st lb.Status) string {
	switch st.Provisioning {
	case lb.Active:
		return "ACTIVE"
	case lb.Deleted:
		return string(lb.PendingDelete)
	}
	return string(st.Provisioning)
}

// memberStatus is a member's status in v1's words: INACTIVE when its
// health checks find it down.
func memberStatus(st lb.Status) string {
	if st.Provisioning == lb.Active && st.Operating == lb.OpError {
		return "INACTIVE"
	}
	return status(st)
}

// statusDescription is the reason of an ERROR (the load balancer's last
// refusal), null otherwise.
func statusDescription(st lb.Status, l *lb.LoadBalancer) any {
	if st.Provisioning == lb.Error && l != nil && l.LastError != "" {
		return l.LastError
	}
	return nil
}

// writable refuses a v1 write on an object being deleted, in v1's words.
func writableV1(id string, st lb.Status) error {
	if st.Provisioning == lb.PendingDelete || st.Provisioning == lb.Deleted {
		return stateInvalid(st.Provisioning, id)
	}
	return nil
}

// listScope is the project filter of a list: none for a caller who may
// read every project (its tenant_id filter, if any, applies as a filter),
// else the caller's own project.
func (a *API) listScope(c policy.Caller, o policy.Object) (string, error) {
	if a.opts.Authorizer.Authorize(c, policy.RuleFor(o, policy.GetAllGlobal), "") == nil {
		return "", nil
	}
	if c.ProjectID == "" {
		return "", policy.ErrDenied
	}
	if err := a.opts.Authorizer.Authorize(c, policy.RuleFor(o, policy.GetAll), c.ProjectID); err != nil {
		return "", err
	}
	return c.ProjectID, nil
}

// listControls are the query parameters of a list that are not filters.
var listControls = []string{"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse", "verbose"}

// formatted is a value as a Neutron filter compares it.
func formatted(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// matches reports whether item passes the filters of q: every filter on
// one of the resource's attributes (others are ignored, as Neutron's v1
// did) must match one of its values; booleans match any spelling.
func matches(item map[string]any, q url.Values, attrs []string) bool {
	for k, vs := range q {
		if slices.Contains(listControls, k) || !slices.Contains(attrs, k) {
			continue
		}
		got := formatted(item[k])
		ok := false
		for _, v := range vs {
			if _, isBool := item[k].(bool); isBool {
				if b, err := strconv.ParseBool(strings.ToLower(v)); err == nil && strconv.FormatBool(b) == got {
					ok = true
				}
			} else if v == got {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// only keeps the fields asked for (all when none).
func only(item map[string]any, fields []string) map[string]any {
	if len(fields) == 0 {
		return item
	}
	out := map[string]any{}
	for _, f := range fields {
		if v, ok := item[f]; ok {
			out[f] = v
		}
	}
	return out
}

// writeList answers a list: filtered, sorted (sort_key/sort_dir, then the
// creation order items come in), paged (limit, marker; a next link when
// the page is full) and cut to the fields asked for.
func writeList(w http.ResponseWriter, r *http.Request, plural string, items []map[string]any, attrs []string) error {
	q, err := httpapi.Query(r)
	if err != nil {
		return malformed("The query string is not valid: " + err.Error())
	}
	var kept []map[string]any
	for _, it := range items {
		if matches(it, q, attrs) {
			kept = append(kept, it)
		}
	}
	keys, dirs := q["sort_key"], q["sort_dir"]
	for i := len(keys) - 1; i >= 0; i-- {
		k, desc := keys[i], i < len(dirs) && strings.EqualFold(dirs[i], "desc")
		if !slices.Contains(attrs, k) {
			return malformed(fmt.Sprintf("%s is an invalid attribute for sort_keys", k))
		}
		slices.SortStableFunc(kept, func(x, y map[string]any) int {
			c := strings.Compare(formatted(x[k]), formatted(y[k]))
			if desc {
				return -c
			}
			return c
		})
	}
	if m := q.Get("marker"); m != "" {
		i := slices.IndexFunc(kept, func(it map[string]any) bool { return it["id"] == m })
		if i < 0 {
			return &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest", Message: "Marker " + m + " could not be found."}
		}
		kept = kept[i+1:]
	}
	out := map[string]any{}
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return badInput("limit", "'%s' is not an integer", raw)
		}
		if n > 0 && len(kept) > n {
			kept = kept[:n]
			next := url.Values{}
			for k, vs := range q {
				if k != "marker" {
					next[k] = vs
				}
			}
			next.Set("marker", formatted(kept[n-1]["id"]))
			out[plural+"_links"] = []map[string]string{{"rel": "next", "href": httpapi.BaseURL(r, "") + "/v2.0/lb/" + plural + "?" + next.Encode()}}
		}
	}
	list := make([]any, len(kept))
	for i, it := range kept {
		list[i] = only(it, q["fields"])
	}
	out[plural] = list
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// writeOne answers one object, cut to the fields asked for.
func writeOne(w http.ResponseWriter, r *http.Request, code int, key string, item map[string]any) error {
	q, err := httpapi.Query(r)
	if err != nil {
		return malformed("The query string is not valid: " + err.Error())
	}
	httpapi.WriteJSON(w, code, map[string]any{key: only(item, q["fields"])})
	return nil
}

// notFoundAs turns the write path's and the store's not-found into v1's.
func notFoundAs(err error, as func(string) error, id string) error {
	var nf *lb.NotFoundError
	if errors.As(err, &nf) || errors.Is(err, store.ErrNotFound) {
		return as(id)
	}
	return err
}

func itoa(n int) string { return strconv.Itoa(n) }
