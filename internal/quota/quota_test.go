package quota_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/quota"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/pgtest"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newLB(project string, n int) *lb.LoadBalancer {
	return &lb.LoadBalancer{ID: fmt.Sprintf("%s-lb-%d", project, n), ProjectID: project, AdminStateUp: true, Provider: "noop",
		Status: lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline}, Tags: []string{},
		Times: lb.Times{CreatedAt: time.Now()}}
}

// TestConcurrentCreatesNeverOvershoot races 40 creates against a limit of
// 7, on SQLite and on PostgreSQL: exactly 7 succeed and the rest get a
// QuotaExceededError, because the count and the insert share a transaction
// that holds the project's quota row lock. No attempt fails with "busy":
// the race to create the project's first quota row is resolved in the
// store (insert-if-absent, then lock).
func TestConcurrentCreatesNeverOvershoot(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { concurrentCreates(t, openStore(t)) })
	t.Run("postgres", func(t *testing.T) {
		pg := pgtest.Start(t)
		st, err := sqlstore.Open(context.Background(), sqlstore.Options{Driver: "postgres", DSN: pg.NewDatabase(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		concurrentCreates(t, st)
	})
}

func concurrentCreates(t *testing.T, st store.Store) {
	defaults := lb.UnlimitedQuotas()
	defaults[lb.QuotaLoadBalancer] = 7
	e := quota.New(defaults)
	ctx := policy.WithCaller(context.Background(), policy.Caller{ProjectID: "p", Roles: []string{"member"}})
	const attempts = 40
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < attempts; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			err := st.Update(ctx, func(tx store.Tx) error {
				if err := e.ReserveOne(ctx, tx, "p", lb.QuotaLoadBalancer); err != nil {
					return err
				}
				return tx.LoadBalancers().Create(ctx, newLB("p", i))
			})
			var qe *lb.QuotaExceededError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &qe):
				refused.Add(1)
				if qe.Limit != 7 || qe.InUse != 7 || qe.Resource != lb.QuotaLoadBalancer {
					t.Errorf("quota error %+v", qe)
				}
			default:
				t.Errorf("create %d: %v", i, err)
			}
		}(i)
	}
	close(start)
	wg.Wait()
	var n int
	_ = st.View(ctx, func(tx store.Tx) error { n, _ = tx.LoadBalancers().Count(ctx, store.F("project_id", "p")); return nil })
	t.Logf("%d concurrent creates against a limit of 7: %d created, %d refused, %d stored", attempts, ok.Load(), refused.Load(), n)
	if ok.Load() != 7 || refused.Load() != attempts-7 || n != 7 {
		t.Errorf("created %d, refused %d, stored %d; want 7, %d, 7", ok.Load(), refused.Load(), n, attempts-7)
	}
}

func TestReserveRules(t *testing.T) {
	st := openStore(t)
	e := quota.New(lb.UnlimitedQuotas())
	member := policy.WithCaller(context.Background(), policy.Caller{ProjectID: "p"})
	noauth := policy.WithCaller(context.Background(), policy.Caller{IsAdmin: true, NoAuth: true})
	zero := 0
	two := 2
	mustUpdate := func(ctx context.Context, fn func(tx store.Tx) error) error { return st.Update(ctx, fn) }
	_ = mustUpdate(member, func(tx store.Tx) error {
		q := &lb.Quota{ProjectID: "p"}
		q.Limits[lb.QuotaListener] = &zero
		q.Limits[lb.QuotaMember] = &two
		return tx.Quotas().Create(member, q)
	})
	tests := []struct {
		name string
		ctx  context.Context
		want map[lb.QuotaResource]int
		err  bool
	}{
		{"unlimited default", member, map[lb.QuotaResource]int{lb.QuotaLoadBalancer: 1000}, false},
		{"zero forbids", member, map[lb.QuotaResource]int{lb.QuotaListener: 1}, true},
		{"within limit", member, map[lb.QuotaResource]int{lb.QuotaMember: 2}, false},
		{"graph over limit", member, map[lb.QuotaResource]int{lb.QuotaMember: 3}, true},
		{"noauth is never limited", noauth, map[lb.QuotaResource]int{lb.QuotaListener: 5}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := st.Update(tc.ctx, func(tx store.Tx) error { return e.Reserve(tc.ctx, tx, "p", tc.want) })
			var qe *lb.QuotaExceededError
			if tc.err != errors.As(err, &qe) || (!tc.err && err != nil) {
				t.Errorf("Reserve(%v) = %v, want error %v", tc.want, err, tc.err)
			}
			if qe != nil && !strings.HasPrefix(qe.Error(), "Quota has been met for resources: ") {
				t.Errorf("message %q", qe.Error())
			}
		})
	}
	// A project's first create makes its quota row (listed afterwards).
	_ = st.Update(member, func(tx store.Tx) error { return e.ReserveOne(member, tx, "fresh", lb.QuotaPool) })
	_ = st.View(member, func(tx store.Tx) error {
		if _, err := tx.Quotas().Get(member, "fresh"); err != nil {
			t.Errorf("no quota row after a first create: %v", err)
		}
		return nil
	})
}

type apiEnv struct {
	t   *testing.T
	srv *httptest.Server
}

func newAPI(t *testing.T) *apiEnv {
	st := openStore(t)
	defaults := lb.UnlimitedQuotas()
	defaults[lb.QuotaMember] = 50
	enf, err := policy.New(policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	api := quota.NewAPI(st, quota.New(defaults), enf)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := policy.Caller{ProjectID: r.Header.Get("X-Project-Id"), Roles: strings.Split(r.Header.Get("X-Roles"), ",")}
		api.ServeHTTP(w, r.WithContext(policy.WithCaller(r.Context(), c)))
	}))
	t.Cleanup(srv.Close)
	return &apiEnv{t: t, srv: srv}
}

func (e *apiEnv) do(method, path, project, roles, body string) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.Header.Set("X-Project-Id", project)
	req.Header.Set("X-Roles", roles)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func TestQuotaAPI(t *testing.T) {
	e := newAPI(t)
	admin := func(method, path, body string) (int, map[string]any) { return e.do(method, path, "adm", "admin", body) }
	steps := []struct {
		name   string
		code   int
		do     func() (int, map[string]any)
		checks map[string]any // quota key → value
	}{
		{"effective of an unknown project are the defaults", 200, func() (int, map[string]any) { return admin("GET", "/v2/lbaas/quotas/p1", "") },
			map[string]any{"loadbalancer": -1.0, "load_balancer": -1.0, "member": 50.0, "project_id": "p1", "tenant_id": "p1"}},
		{"defaults", 200, func() (int, map[string]any) { return e.do("GET", "/v2.0/lbaas/quotas/defaults", "p1", "reader", "") },
			map[string]any{"member": 50.0, "project_id": "defaults"}},
		{"per-project default", 200, func() (int, map[string]any) { return admin("GET", "/v2/lbaas/quotas/p1/default", "") },
			map[string]any{"healthmonitor": -1.0, "project_id": "p1"}},
		{"put with both spellings and a numeric string", 202, func() (int, map[string]any) {
			return admin("PUT", "/v2.0/quotas/p1", `{"quota": {"load_balancer": 3, "healthmonitor": "4", "l7rule": null}}`)
		}, map[string]any{"loadbalancer": 3.0, "load_balancer": 3.0, "health_monitor": 4.0, "l7rule": -1.0}},
		{"get after put", 200, func() (int, map[string]any) { return admin("GET", "/v2/quotas/p1", "") },
			map[string]any{"loadbalancer": 3.0, "healthmonitor": 4.0, "member": 50.0}},
		{"out of range", 400, func() (int, map[string]any) { return admin("PUT", "/v2/lbaas/quotas/p1", `{"quota": {"pool": -2}}`) }, nil},
		{"unknown key", 400, func() (int, map[string]any) { return admin("PUT", "/v2/lbaas/quotas/p1", `{"quota": {"pools": 2}}`) }, nil},
		{"member reads its own", 200, func() (int, map[string]any) { return e.do("GET", "/v2/lbaas/quotas/p1", "p1", "member", "") },
			map[string]any{"loadbalancer": 3.0}},
		{"member cannot read another project's", 403, func() (int, map[string]any) { return e.do("GET", "/v2/lbaas/quotas/p2", "p1", "member", "") }, nil},
		{"member cannot write", 403, func() (int, map[string]any) {
			return e.do("PUT", "/v2/lbaas/quotas/p1", "p1", "member", `{"quota": {"pool": 2}}`)
		}, nil},
		{"legacy quota admin writes any", 202, func() (int, map[string]any) {
			return e.do("PUT", "/v2/lbaas/quotas/p2", "p1", "load-balancer_quota_admin", `{"quota": {"pool": 2}}`)
		}, map[string]any{"pool": 2.0, "project_id": "p2"}},
		{"delete resets", 202, func() (int, map[string]any) { return admin("DELETE", "/v2/lbaas/quotas/p1", "") }, nil},
		{"after reset", 200, func() (int, map[string]any) { return admin("GET", "/v2/lbaas/quotas/p1", "") }, map[string]any{"loadbalancer": -1.0}},
		{"delete without a row", 404, func() (int, map[string]any) { return admin("DELETE", "/v2/lbaas/quotas/p9", "") }, nil},
	}
	for _, st := range steps {
		code, body := st.do()
		if code != st.code {
			t.Fatalf("%s: status %d, want %d (%v)", st.name, code, st.code, body)
		}
		if code >= 400 && (body["faultstring"] == nil || body["faultcode"] != "Client") {
			t.Errorf("%s: fault body %v", st.name, body)
		}
		q, _ := body["quota"].(map[string]any)
		for k, v := range st.checks {
			if q[k] != v {
				t.Errorf("%s: %s = %v, want %v (%v)", st.name, k, q[k], v, q)
			}
		}
	}
	// Listing: admins see every row (raw values), members only theirs.
	_, all := admin("GET", "/v2/lbaas/quotas", "")
	if n := len(all["quotas"].([]any)); n != 2 {
		t.Errorf("admin list: %d rows, want 2: %v", n, all)
	}
	_, own := e.do("GET", "/v2/lbaas/quotas", "p2", "member", "")
	if rows := own["quotas"].([]any); len(rows) != 1 || rows[0].(map[string]any)["pool"] != 2.0 || rows[0].(map[string]any)["listener"] != nil {
		t.Errorf("member list: %v", own)
	}
	if code, _ := e.do("GET", "/v2/lbaas/quotas?project_id=p1", "p2", "member", ""); code != 403 {
		t.Errorf("member listing another project: %d", code)
	}
}
