// Package storetest is the conformance suite every store backend must pass
// unchanged. A backend's test calls Run with a function that opens a fresh,
// empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Opener returns a new empty store; the suite closes it.
type Opener func(t *testing.T) store.Store

// Run runs the whole conformance suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"NotFound", testNotFound},
		{"Conflicts", testConflicts},
		{"CreateIfAbsent", testCreateIfAbsent},
		{"UpdateAndDelete", testUpdateAndDelete},
		{"UpdatesInOneTransaction", testUpdatesInOneTransaction},
		{"Filters", testFilters},
		{"Tags", testTags},
		{"LongTagLists", testLongTagLists},
		{"LongInLists", testLongInLists},
		{"SortAndPaginate", testSortAndPaginate},
		{"NullableSortKeys", testNullableSortKeys},
		{"BadQueries", testBadQueries},
		{"RefsCountDeleteWhere", testRefsCountDeleteWhere},
		{"CascadeOnLoadBalancerDelete", testCascade},
		{"Rollback", testRollback},
		{"ConcurrentWriters", testConcurrentWriters},
		{"IdentityRoundTrip", testIdentityRoundTrip},
		{"IdentityConstraints", testIdentityConstraints},
		{"NetworkRoundTripAndConstraints", testNetworkRoundTripAndConstraints},
		{"NetworkSecurity", testNetworkSecurity},
		{"Quotas", testQuotas},
		{"AgentsAndPlacements", testAgentsAndPlacements},
		{"SecretsRoundTripAndConstraints", testSecretsRoundTripAndConstraints},
		{"Catalog", testCatalog},
		{"LBaaSCompat", testLBaaSCompat},
		{"Leases", testLeases},
		{"LeaseFence", testLeaseFence},
		{"Publications", testPublications},
		{"SealedKeys", testSealedKeys},
		{"Notifications", testNotifications},
		{"PoolListeners", testPoolListeners},
		{"LockPool", testLockPool},
		{"Graph", testGraph},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			tc.fn(t, s)
		})
	}
}

var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func sp(s string) *string       { return &s }
func ip(i int) *int             { return &i }
func fp(f float64) *float64     { return &f }
func tp(t time.Time) *time.Time { return &t }

func id(prefix string, n int) string {
	return fmt.Sprintf("%s-0000-0000-0000-%012d", prefix, n)
}

func newLB(n int, project string) *lb.LoadBalancer {
	return &lb.LoadBalancer{
		ID: id("aaaaaaaa", n), ProjectID: project, Name: fmt.Sprintf("lb%d", n), AdminStateUp: true,
		Status:   lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline, Gen: 1},
		VIP:      lb.VIP{Address: fmt.Sprintf("127.1.0.%d", n), SubnetID: id("bbbbbbbb", 1), NetworkID: id("cccccccc", 1), PortID: id("dddddddd", n), SGIDs: []string{}, VNICType: lb.VNICNormal},
		Provider: "noop", Tags: []string{}, Generation: 1,
		Times: lb.Times{CreatedAt: base.Add(time.Duration(n) * time.Second)},
	}
}

func mustUpdate(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func fullGraph() (*lb.LoadBalancer, *lb.Listener, *lb.Pool, *lb.Member, *lb.HealthMonitor, *lb.L7Policy, *lb.L7Rule) {
	l := newLB(1, "p1")
	l.VIP.QoSPolicyID = id("eeeeeeee", 1)
	l.AdditionalVIPs = []lb.AdditionalVIP{{SubnetID: id("bbbbbbbb", 2), IPAddress: "::1", PortID: id("dddddddd", 99)}}
	l.FlavorID = id("ffffffff", 1)
	l.AvailabilityZone = "az1"
	l.Tags = []string{"a", "b"}
	l.LastError = "boom"
	l.AppliedGeneration = 0
	l.UpdatedAt = tp(base.Add(time.Hour))
	pool := &lb.Pool{
		ID: id("00000002", 1), ProjectID: "p1", LoadBalancerID: l.ID, Name: "pool", Description: "d", AdminStateUp: true,
		Status: lb.Status{Provisioning: lb.Active, Operating: lb.Online, Gen: 3}, Protocol: lb.ProtocolHTTP, LBAlgorithm: lb.RoundRobin,
		SessionPersistence: &lb.SessionPersistence{Type: lb.PersistAppCookie, CookieName: sp("SESS")},
		TLSEnabled:         true, TLSContainerRef: sp("ref1"), CATLSContainerRef: sp("ref2"), CRLContainerRef: sp("ref3"),
		TLSCiphers: sp("A:B"), TLSVersions: []string{"TLSv1.3"}, ALPNProtocols: []string{}, Tags: []string{"x"},
		Times: lb.Times{CreatedAt: base},
	}
	lis := &lb.Listener{
		ID: id("00000001", 1), ProjectID: "p1", LoadBalancerID: l.ID, Name: "web", AdminStateUp: false,
		Status: lb.Status{Provisioning: lb.PendingUpdate, Operating: lb.Degraded, Gen: 2}, Protocol: lb.ProtocolTerminatedHTTPS, ProtocolPort: 443,
		ConnectionLimit: -1, DefaultPoolID: pool.ID, InsertHeaders: map[string]string{"X-Forwarded-For": "true"},
		TimeoutClientData: 1, TimeoutMemberConnect: 2, TimeoutMemberData: 3, TimeoutTCPInspect: 4,
		DefaultTLSContainerRef: sp("cert"), SNIContainerRefs: []string{"s1", "s2"}, ClientCATLSContainerRef: sp("ca"),
		ClientAuthentication: lb.ClientAuthOptional, ClientCRLContainerRef: sp("crl"), AllowedCIDRs: []string{"10.0.0.0/8"},
		TLSCiphers: sp("C"), TLSVersions: []string{"TLSv1.2"}, ALPNProtocols: []string{"h2"}, HSTSMaxAge: ip(0),
		HSTSIncludeSubdomains: true, HSTSPreload: true, Tags: []string{},
		Times: lb.Times{CreatedAt: base},
	}
	m := &lb.Member{
		ID: id("00000003", 1), ProjectID: "p1", PoolID: pool.ID, LoadBalancerID: l.ID, Name: "m", AdminStateUp: true,
		Status: lb.Status{Provisioning: lb.Active, Operating: lb.NoMonitor}, Address: "127.0.0.10", ProtocolPort: 8080,
		Weight: 0, Backup: true, SubnetID: id("bbbbbbbb", 1), MonitorAddress: "127.0.0.11", MonitorPort: ip(9090), VNICType: lb.VNICNormal,
		Tags: []string{"t"}, Times: lb.Times{CreatedAt: base},
	}
	hm := &lb.HealthMonitor{
		ID: id("00000004", 1), ProjectID: "p1", PoolID: pool.ID, LoadBalancerID: l.ID, AdminStateUp: true,
		Status: lb.Status{Provisioning: lb.Active, Operating: lb.Online}, Type: lb.MonitorHTTP, Delay: 5, Timeout: 3,
		MaxRetries: 3, MaxRetriesDown: 2, HTTPMethod: sp("GET"), URLPath: sp("/hc"), ExpectedCodes: sp("200-204"),
		HTTPVersion: fp(1.1), DomainName: sp("example.com"), Tags: []string{}, Times: lb.Times{CreatedAt: base},
	}
	pol := &lb.L7Policy{
		ID: id("00000005", 1), ProjectID: "p1", ListenerID: lis.ID, LoadBalancerID: l.ID, AdminStateUp: true,
		Status: lb.Status{Provisioning: lb.Active, Operating: lb.Online}, Action: lb.ActionRedirectToURL, Position: 1,
		RedirectURL: sp("http://x"), RedirectHTTPCode: ip(302), Tags: []string{}, Times: lb.Times{CreatedAt: base},
	}
	rule := &lb.L7Rule{
		ID: id("00000006", 1), ProjectID: "p1", L7PolicyID: pol.ID, LoadBalancerID: l.ID, AdminStateUp: true,
		Status: lb.Status{Provisioning: lb.Active, Operating: lb.Online}, Type: lb.RuleHeader, CompareType: lb.CompareEqualTo,
		Key: sp("X-A"), Value: "v", Invert: true, Tags: []string{}, Times: lb.Times{CreatedAt: base},
	}
	return l, lis, pool, m, hm, pol, rule
}

func createGraph(t *testing.T, s store.Store) (*lb.LoadBalancer, *lb.Listener, *lb.Pool, *lb.Member, *lb.HealthMonitor, *lb.L7Policy, *lb.L7Rule) {
	t.Helper()
	l, lis, pool, m, hm, pol, rule := fullGraph()
	ctx := context.Background()
	mustUpdate(t, s, func(tx store.Tx) error {
		return errors.Join(
			tx.LoadBalancers().Create(ctx, l),
			tx.Pools().Create(ctx, pool),
			tx.Listeners().Create(ctx, lis),
			tx.Members().Create(ctx, m),
			tx.HealthMonitors().Create(ctx, hm),
			tx.L7Policies().Create(ctx, pol),
			tx.L7Rules().Create(ctx, rule),
		)
	})
	return l, lis, pool, m, hm, pol, rule
}

func check[T any](t *testing.T, what string, got, want *T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s round trip:\n got  %+v\n want %+v", what, got, want)
	}
}

func testRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	l, lis, pool, m, hm, pol, rule := createGraph(t, s)
	err := s.View(ctx, func(tx store.Tx) error {
		gl, err := tx.LoadBalancers().Get(ctx, l.ID)
		if err != nil {
			return err
		}
		check(t, "load balancer", gl, l)
		glis, err := tx.Listeners().Get(ctx, lis.ID)
		if err != nil {
			return err
		}
		check(t, "listener", glis, lis)
		gp, err := tx.Pools().Get(ctx, pool.ID)
		if err != nil {
			return err
		}
		check(t, "pool", gp, pool)
		gm, err := tx.Members().Get(ctx, m.ID)
		if err != nil {
			return err
		}
		check(t, "member", gm, m)
		gh, err := tx.HealthMonitors().Get(ctx, hm.ID)
		if err != nil {
			return err
		}
		check(t, "health monitor", gh, hm)
		gpol, err := tx.L7Policies().Get(ctx, pol.ID)
		if err != nil {
			return err
		}
		check(t, "l7 policy", gpol, pol)
		gr, err := tx.L7Rules().Get(ctx, rule.ID)
		if err != nil {
			return err
		}
		check(t, "l7 rule", gr, rule)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Nil and empty collections stay distinct where the domain cares.
	l2 := newLB(2, "p1")
	l2.Tags = nil
	l2.VIP.SGIDs = nil
	mustUpdate(t, s, func(tx store.Tx) error { return tx.LoadBalancers().Create(ctx, l2) })
	_ = s.View(ctx, func(tx store.Tx) error {
		got, err := tx.LoadBalancers().Get(ctx, l2.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Tags != nil || got.VIP.SGIDs != nil {
			t.Errorf("nil lists came back as %#v / %#v", got.Tags, got.VIP.SGIDs)
		}
		return nil
	})
}

func testNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	err := s.Update(ctx, func(tx store.Tx) error {
		for name, err := range map[string]error{
			"get":    second(tx.LoadBalancers().Get(ctx, "nope")),
			"lock":   second(tx.Pools().Lock(ctx, "nope")),
			"update": tx.Listeners().Update(ctx, &lb.Listener{ID: "nope"}),
			"delete": tx.Members().Delete(ctx, "nope"),
		} {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s of a missing id: got %v, want ErrNotFound", name, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func second[T any](_ T, err error) error { return err }

func testConflicts(t *testing.T, s store.Store) {
	ctx := context.Background()
	l, _, pool, m, hm, _, _ := createGraph(t, s)
	cases := []struct {
		name string
		fn   func(tx store.Tx) error
	}{
		{"duplicate id", func(tx store.Tx) error { return tx.LoadBalancers().Create(ctx, l) }},
		{"duplicate member address and port", func(tx store.Tx) error {
			dup := *m
			dup.ID = id("00000003", 2)
			return tx.Members().Create(ctx, &dup)
		}},
		{"second health monitor on a pool", func(tx store.Tx) error {
			dup := *hm
			dup.ID = id("00000004", 2)
			return tx.HealthMonitors().Create(ctx, &dup)
		}},
		{"child of a missing load balancer", func(tx store.Tx) error {
			orphan := *pool
			orphan.ID = id("00000002", 9)
			orphan.LoadBalancerID = "missing"
			return tx.Pools().Create(ctx, &orphan)
		}},
	}
	for _, tc := range cases {
		err := s.Update(ctx, tc.fn)
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: got %v, want ErrConflict", tc.name, err)
		}
	}
	// Same address on another port is fine.
	mustUpdate(t, s, func(tx store.Tx) error {
		ok := *m
		ok.ID = id("00000003", 3)
		ok.ProtocolPort = 8081
		return tx.Members().Create(ctx, &ok)
	})
}

// testCreateIfAbsent: inserts once, then reports false without failing the
// transaction (later statements in it still work); a clash on another
// unique key is still ErrConflict.
func testCreateIfAbsent(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		mustUpdate(t, s, func(tx store.Tx) error {
			created, err := tx.Quotas().CreateIfAbsent(ctx, &lb.Quota{ProjectID: "p1"})
			if err != nil {
				return err
			}
			if created != want {
				t.Errorf("call %d: created %v, want %v", i+1, created, want)
			}
			// The transaction is still usable.
			_, err = tx.Quotas().Lock(ctx, "p1")
			return err
		})
	}
	_, _, _, m, _, _, _ := createGraph(t, s)
	err := s.Update(ctx, func(tx store.Tx) error {
		dup := *m
		dup.ID = id("00000003", 7) // new id, same address and port in the pool
		_, err := tx.Members().CreateIfAbsent(ctx, &dup)
		return err
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateIfAbsent clashing on another unique key: %v, want ErrConflict", err)
	}
}

func testUpdateAndDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	l, lis, pool, _, _, _, _ := createGraph(t, s)
	mustUpdate(t, s, func(tx store.Tx) error {
		got, err := tx.LoadBalancers().Lock(ctx, l.ID)
		if err != nil {
			return err
		}
		got.Name = "renamed"
		got.Generation++
		got.UpdatedAt = tp(base.Add(2 * time.Hour))
		got.VIP.QoSPolicyID = ""
		return tx.LoadBalancers().Update(ctx, got)
	})
	_ = s.View(ctx, func(tx store.Tx) error {
		got, err := tx.LoadBalancers().Get(ctx, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "renamed" || got.Generation != 2 || got.VIP.QoSPolicyID != "" || !got.UpdatedAt.Equal(base.Add(2*time.Hour)) {
			t.Errorf("update not stored: %+v", got)
		}
		return nil
	})
	// Deleting a pool clears listeners' default_pool_id and removes its members and monitor.
	mustUpdate(t, s, func(tx store.Tx) error {
		if _, err := tx.L7Policies().DeleteWhere(ctx, store.F("listener_id", lis.ID)); err != nil {
			return err
		}
		return tx.Pools().Delete(ctx, pool.ID)
	})
	_ = s.View(ctx, func(tx store.Tx) error {
		got, err := tx.Listeners().Get(ctx, lis.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.DefaultPoolID != "" {
			t.Errorf("default_pool_id after pool delete = %q, want empty", got.DefaultPoolID)
		}
		for name, tbl := range map[string]interface {
			Count(context.Context, ...store.Filter) (int, error)
		}{"members": tx.Members(), "health monitors": tx.HealthMonitors()} {
			if n, err := tbl.Count(ctx, store.F("pool_id", pool.ID)); err != nil || n != 0 {
				t.Errorf("%s of a deleted pool: %d, %v", name, n, err)
			}
		}
		return nil
	})
}

// seedLBs creates n load balancers with varied fields for list tests.
func seedLBs(t *testing.T, s store.Store, n int) []*lb.LoadBalancer {
	t.Helper()
	ctx := context.Background()
	var all []*lb.LoadBalancer
	mustUpdate(t, s, func(tx store.Tx) error {
		for i := 1; i <= n; i++ {
			l := newLB(i, fmt.Sprintf("p%d", i%3))
			l.Name = fmt.Sprintf("n%d", i%4)
			l.AdminStateUp = i%2 == 0
			if i%5 == 0 {
				l.FlavorID = id("ffffffff", i%2)
			}
			switch i % 4 {
			case 0:
				l.Tags = []string{"red"}
			case 1:
				l.Tags = []string{"red", "blue"}
			case 2:
				l.Tags = []string{"blue"}
			}
			if i%7 == 0 {
				l.CreatedAt = base // ties on created_at are broken by id
			}
			if err := tx.LoadBalancers().Create(ctx, l); err != nil {
				return err
			}
			all = append(all, l)
		}
		return nil
	})
	return all
}

func listLBs(t *testing.T, s store.Store, q store.Query) []*lb.LoadBalancer {
	t.Helper()
	var out []*lb.LoadBalancer
	err := s.View(context.Background(), func(tx store.Tx) error {
		var err error
		out, err = tx.LoadBalancers().List(context.Background(), q)
		return err
	})
	if err != nil {
		t.Fatalf("list %s: %v", describe(q), err)
	}
	return out
}

// describe prints a query with long lists cut short.
func describe(q store.Query) string {
	short := func(l []string) string {
		if len(l) > 6 {
			return fmt.Sprintf("%q… (%d values)", l[:6], len(l))
		}
		return fmt.Sprintf("%q", l)
	}
	var b strings.Builder
	for _, f := range q.Filters {
		if f.Values != nil {
			fmt.Fprintf(&b, "%s in %s; ", f.Field, short(f.Values))
		} else {
			fmt.Fprintf(&b, "%s=%q; ", f.Field, f.Value)
		}
	}
	fmt.Fprintf(&b, "tags all %s any %s not-all %s not-any %s; sort %v limit %d marker %q reverse %v",
		short(q.Tags.All), short(q.Tags.Any), short(q.Tags.NotAll), short(q.Tags.NotAny), q.Sort, q.Limit, q.Marker, q.PageReverse)
	return b.String()
}

func ids(list []*lb.LoadBalancer) []string {
	out := make([]string, len(list))
	for i, l := range list {
		out[i] = l.ID
	}
	return out
}

func want(all []*lb.LoadBalancer, keep func(*lb.LoadBalancer) bool) []string {
	var out []string
	for _, l := range all {
		if keep(l) {
			out = append(out, l.ID)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

func testFilters(t *testing.T, s store.Store) {
	all := seedLBs(t, s, 20)
	cases := []struct {
		name    string
		filters []store.Filter
		keep    func(*lb.LoadBalancer) bool
	}{
		{"text", []store.Filter{store.F("name", "n1")}, func(l *lb.LoadBalancer) bool { return l.Name == "n1" }},
		{"bool true", []store.Filter{store.F("admin_state_up", "true")}, func(l *lb.LoadBalancer) bool { return l.AdminStateUp }},
		{"bool spelled 0", []store.Filter{store.F("admin_state_up", "0")}, func(l *lb.LoadBalancer) bool { return !l.AdminStateUp }},
		{"and", []store.Filter{store.F("name", "n2"), store.F("project_id", "p1")}, func(l *lb.LoadBalancer) bool { return l.Name == "n2" && l.ProjectID == "p1" }},
		{"null", []store.Filter{store.F("flavor_id", "")}, func(l *lb.LoadBalancer) bool { return l.FlavorID == "" }},
		{"in", []store.Filter{store.In("project_id", "p0", "p2")}, func(l *lb.LoadBalancer) bool { return l.ProjectID != "p1" }},
		{"in one", []store.Filter{store.In("project_id", "p2")}, func(l *lb.LoadBalancer) bool { return l.ProjectID == "p2" }},
		{"in one with null", []store.Filter{store.In("flavor_id", "", id("ffffffff", 1))}, func(l *lb.LoadBalancer) bool { return l.FlavorID == "" || l.FlavorID == id("ffffffff", 1) }},
		{"in one bool", []store.Filter{store.In("admin_state_up", "false")}, func(l *lb.LoadBalancer) bool { return !l.AdminStateUp }},
		{"in empty", []store.Filter{store.In("project_id")}, func(l *lb.LoadBalancer) bool { return false }},
		{"int", []store.Filter{store.F("generation", "1")}, func(l *lb.LoadBalancer) bool { return true }},
		{"time", []store.Filter{store.F("created_at", "2026-01-02T03:04:06")}, func(l *lb.LoadBalancer) bool { return l.CreatedAt.Equal(base.Add(time.Second)) }},
	}
	for _, tc := range cases {
		got := ids(listLBs(t, s, store.Query{Filters: tc.filters}))
		if w := want(all, tc.keep); !sameSet(got, w) {
			t.Errorf("%s: got %v, want %v", tc.name, got, w)
		}
	}
}

func testTags(t *testing.T, s store.Store) {
	all := seedLBs(t, s, 12)
	has := func(l *lb.LoadBalancer, tag string) bool { return lb.Contains(l.Tags, tag) }
	cases := []struct {
		name string
		tags store.Tags
		keep func(*lb.LoadBalancer) bool
	}{
		{"all", store.Tags{All: []string{"red", "blue"}}, func(l *lb.LoadBalancer) bool { return has(l, "red") && has(l, "blue") }},
		{"any", store.Tags{Any: []string{"red", "blue"}}, func(l *lb.LoadBalancer) bool { return has(l, "red") || has(l, "blue") }},
		{"not all", store.Tags{NotAll: []string{"red", "blue"}}, func(l *lb.LoadBalancer) bool { return !(has(l, "red") && has(l, "blue")) }},
		{"not any", store.Tags{NotAny: []string{"red"}}, func(l *lb.LoadBalancer) bool { return !has(l, "red") }},
		{"combined", store.Tags{Any: []string{"blue"}, NotAny: []string{"red"}}, func(l *lb.LoadBalancer) bool { return has(l, "blue") && !has(l, "red") }},
	}
	for _, tc := range cases {
		got := ids(listLBs(t, s, store.Query{Tags: tc.tags}))
		if w := want(all, tc.keep); !sameSet(got, w) {
			t.Errorf("%s: got %v, want %v", tc.name, got, w)
		}
	}
}

// longList returns n values: n-len(real) made-up ones with the real ones
// spread among them (first, middle, last).
func longList(n int, prefix string, real ...string) []string {
	out := make([]string, 0, n)
	for i := 0; len(out) < n-len(real); i++ {
		out = append(out, fmt.Sprintf("%s-%d", prefix, i))
	}
	for i, r := range real {
		at := i * len(out) / max(1, len(real)-1)
		if i == len(real)-1 {
			at = len(out)
		}
		out = append(out[:at], append([]string{r}, out[at:]...)...)
	}
	return out
}

// testLongTagLists: tag filters with thousands of values answer like short
// ones (SQLite has an expression depth limit of 1,000: one condition per
// value breaks it).
func testLongTagLists(t *testing.T, s store.Store) {
	all := seedLBs(t, s, 12)
	ctx := context.Background()
	// One row with no tags at all (NULL): it has none of the tags.
	bare := newLB(99, "p9")
	bare.Tags = nil
	mustUpdate(t, s, func(tx store.Tx) error { return tx.LoadBalancers().Create(ctx, bare) })
	all = append(all, bare)
	has := func(l *lb.LoadBalancer, tag string) bool { return lb.Contains(l.Tags, tag) }
	for _, n := range []int{1000, 5000} {
		anyOf := longList(n, "nope", "red", "blue")
		allOf := longList(n, "nope", "red") // nobody has the made-up tags
		dup := append(longList(n-2, "red"), "red", "red")
		for i := range dup {
			dup[i] = "red" // n copies of one tag: all of them is "has red"
		}
		cases := []struct {
			name string
			tags store.Tags
			keep func(*lb.LoadBalancer) bool
		}{
			{"any", store.Tags{Any: anyOf}, func(l *lb.LoadBalancer) bool { return has(l, "red") || has(l, "blue") }},
			{"not any", store.Tags{NotAny: anyOf}, func(l *lb.LoadBalancer) bool { return !has(l, "red") && !has(l, "blue") }},
			{"all", store.Tags{All: allOf}, func(l *lb.LoadBalancer) bool { return false }},
			{"not all", store.Tags{NotAll: allOf}, func(l *lb.LoadBalancer) bool { return true }},
			{"all of one repeated", store.Tags{All: dup}, func(l *lb.LoadBalancer) bool { return has(l, "red") }},
			{"not all of one repeated", store.Tags{NotAll: dup}, func(l *lb.LoadBalancer) bool { return !has(l, "red") }},
			{"combined", store.Tags{Any: anyOf, NotAny: longList(n, "nope", "red")}, func(l *lb.LoadBalancer) bool { return has(l, "blue") && !has(l, "red") }},
		}
		for _, tc := range cases {
			got := ids(listLBs(t, s, store.Query{Tags: tc.tags}))
			if w := want(all, tc.keep); !sameSet(got, w) {
				t.Errorf("%s with %d values: got %v, want %v", tc.name, n, got, w)
			}
		}
	}
	// The same statement run many times (PostgreSQL switches prepared
	// statements to a generic plan after five runs) answers the same.
	for range 6 {
		got := ids(listLBs(t, s, store.Query{Tags: store.Tags{Any: longList(1000, "nope", "blue")}, Filters: []store.Filter{store.In("project_id", longList(1000, "nope", "p1", "p2")...)}}))
		if w := want(all, func(l *lb.LoadBalancer) bool { return has(l, "blue") && l.ProjectID != "p0" && l.ProjectID != "p9" }); !sameSet(got, w) {
			t.Fatalf("repeated any of 1,000 tags and project in 1,000 values: got %v, want %v", got, w)
		}
	}
	// Tag values are data, never syntax.
	odd := []string{`a"b`, `'`, `]`, `\`, "", "é", `{"x":1}`}
	mustUpdate(t, s, func(tx store.Tx) error {
		l := newLB(98, "p9")
		l.Tags = odd
		return tx.LoadBalancers().Create(ctx, l)
	})
	for _, tag := range odd {
		got := ids(listLBs(t, s, store.Query{Tags: store.Tags{All: longList(100, "x", tag), Any: []string{tag}}}))
		if len(got) != 0 {
			t.Errorf("all of 100 made-up tags plus %q matched %v", tag, got)
		}
		got = ids(listLBs(t, s, store.Query{Tags: store.Tags{Any: longList(100, "x", tag)}}))
		if !reflect.DeepEqual(got, []string{id("aaaaaaaa", 98)}) {
			t.Errorf("any of 100 tags with %q: got %v", tag, got)
		}
	}
}

// testLongInLists: store.In with thousands of values, on every column type,
// in List, Count and DeleteWhere.
func testLongInLists(t *testing.T, s store.Store) {
	all := seedLBs(t, s, 20)
	ctx := context.Background()
	for _, n := range []int{1000, 5000} {
		cases := []struct {
			name   string
			filter store.Filter
			keep   func(*lb.LoadBalancer) bool
		}{
			{"text", store.In("id", longList(n, "nope", all[0].ID, all[7].ID, all[19].ID)...),
				func(l *lb.LoadBalancer) bool { return l.ID == all[0].ID || l.ID == all[7].ID || l.ID == all[19].ID }},
			{"text with NULL", store.In("flavor_id", longList(n, "nope", "", id("ffffffff", 1))...),
				func(l *lb.LoadBalancer) bool { return l.FlavorID == "" || l.FlavorID == id("ffffffff", 1) }},
			{"int", store.In("generation", func() []string {
				v := make([]string, n)
				for i := range v {
					v[i] = fmt.Sprint(i + 2)
				}
				v[n/2] = "1"
				return v
			}()...), func(l *lb.LoadBalancer) bool { return true }},
			{"bool", store.In("admin_state_up", func() []string {
				v := make([]string, n)
				for i := range v {
					v[i] = []string{"true", "1", "on", "YES"}[i%4] // every spelling of true
				}
				return v
			}()...), func(l *lb.LoadBalancer) bool { return l.AdminStateUp }},
			{"time", store.In("created_at", func() []string {
				v := make([]string, n)
				for i := range v {
					v[i] = base.Add(time.Duration(1000+i) * time.Hour).Format(time.RFC3339)
				}
				v[n-1] = base.Add(2 * time.Second).Format(time.RFC3339)
				return v
			}()...), func(l *lb.LoadBalancer) bool { return l.CreatedAt.Equal(base.Add(2 * time.Second)) }},
			{"none", store.In("project_id", longList(n, "nope")...), func(l *lb.LoadBalancer) bool { return false }},
		}
		for _, tc := range cases {
			got := ids(listLBs(t, s, store.Query{Filters: []store.Filter{tc.filter}}))
			w := want(all, tc.keep)
			if !sameSet(got, w) {
				t.Errorf("%s in %d values: got %v, want %v", tc.name, n, got, w)
			}
			var count int
			if err := s.View(ctx, func(tx store.Tx) error {
				var err error
				count, err = tx.LoadBalancers().Count(ctx, tc.filter)
				return err
			}); err != nil || count != len(w) {
				t.Errorf("count %s in %d values: %d, %v; want %d", tc.name, n, count, err, len(w))
			}
		}
		// A bad value anywhere in a long list is the caller's error.
		bad := longList(n, "1", "x")
		for i := range bad[:n-1] {
			bad[i] = fmt.Sprint(i)
		}
		err := s.View(ctx, func(tx store.Tx) error {
			_, err := tx.LoadBalancers().List(ctx, store.Query{Filters: []store.Filter{store.In("generation", bad...)}})
			return err
		})
		if !errors.Is(err, store.ErrInvalidQuery) {
			t.Errorf("bad int in a list of %d: got %v, want ErrInvalidQuery", n, err)
		}
	}
	// DeleteWhere with a long list removes exactly the named rows.
	mustUpdate(t, s, func(tx store.Tx) error {
		n, err := tx.LoadBalancers().DeleteWhere(ctx, store.In("id", longList(5000, "nope", all[1].ID, all[2].ID)...))
		if err != nil || n != 2 {
			t.Errorf("delete where id in 5,000 values: %d, %v; want 2", n, err)
		}
		return err
	})
	if got := len(listLBs(t, s, store.Query{})); got != len(all)-2 {
		t.Errorf("%d rows left after deleting 2 of %d", got, len(all))
	}
}

func testSortAndPaginate(t *testing.T, s store.Store) {
	seedLBs(t, s, 23)
	sorts := [][]store.Sort{
		nil,
		{{Field: "name"}},
		{{Field: "name", Desc: true}},
		{{Field: "project_id", Desc: true}, {Field: "name"}},
		{{Field: "created_at", Desc: true}},
		{{Field: "admin_state_up"}, {Field: "id", Desc: true}},
	}
	for _, sort := range sorts {
		full := ids(listLBs(t, s, store.Query{Sort: sort}))
		if len(full) != 23 {
			t.Fatalf("sort %v: %d items", sort, len(full))
		}
		for _, limit := range []int{1, 4, 7, 23, 50} {
			// Forward pages concatenate to the full order.
			var got []string
			marker := ""
			for guard := 0; guard < 100; guard++ {
				page := ids(listLBs(t, s, store.Query{Sort: sort, Limit: limit, Marker: marker}))
				got = append(got, page...)
				if len(page) < limit {
					break
				}
				marker = page[len(page)-1]
			}
			if !reflect.DeepEqual(got, full) {
				t.Errorf("sort %v limit %d: pages %v, want %v", sort, limit, got, full)
			}
			// A reverse page from position k returns the limit items just before k, in order.
			for k := 0; k < len(full); k += 5 {
				page := ids(listLBs(t, s, store.Query{Sort: sort, Limit: limit, Marker: full[k], PageReverse: true}))
				start := max(0, k-limit)
				if w := full[start:k]; !reflect.DeepEqual(page, w) && !(len(page) == 0 && len(w) == 0) {
					t.Errorf("sort %v limit %d reverse from %d: %v, want %v", sort, limit, k, page, w)
				}
			}
		}
	}
	// Sorting is real: name ascending is non-decreasing.
	list := listLBs(t, s, store.Query{Sort: []store.Sort{{Field: "name"}}})
	for i := 1; i < len(list); i++ {
		if list[i-1].Name > list[i].Name {
			t.Fatalf("not sorted by name at %d: %q > %q", i, list[i-1].Name, list[i].Name)
		}
	}
}

func testNullableSortKeys(t *testing.T, s store.Store) {
	seedLBs(t, s, 15) // every fifth has a flavor_id, the rest NULL
	for _, desc := range []bool{false, true} {
		sort := []store.Sort{{Field: "flavor_id", Desc: desc}}
		full := ids(listLBs(t, s, store.Query{Sort: sort}))
		var got []string
		marker := ""
		for guard := 0; guard < 100; guard++ {
			page := ids(listLBs(t, s, store.Query{Sort: sort, Limit: 2, Marker: marker}))
			got = append(got, page...)
			if len(page) < 2 {
				break
			}
			marker = page[len(page)-1]
		}
		if !reflect.DeepEqual(got, full) {
			t.Errorf("nullable sort desc=%v: pages %v, want %v", desc, got, full)
		}
		first := listLBs(t, s, store.Query{Sort: sort, Limit: 1})[0]
		if (first.FlavorID == "") == desc {
			t.Errorf("desc=%v: first item flavor %q; NULL must sort first ascending and last descending", desc, first.FlavorID)
		}
	}
}

func testBadQueries(t *testing.T, s store.Store) {
	seedLBs(t, s, 3)
	ctx := context.Background()
	cases := []struct {
		name string
		q    store.Query
		part string
	}{
		{"unknown filter", store.Query{Filters: []store.Filter{store.F("bogus", "x")}}, "filter"},
		{"json filter", store.Query{Filters: []store.Filter{store.F("tags", "x")}}, "filter"},
		{"bad bool", store.Query{Filters: []store.Filter{store.F("admin_state_up", "maybe")}}, "filter"},
		{"bad int", store.Query{Filters: []store.Filter{store.F("generation", "x")}}, "filter"},
		{"unknown sort", store.Query{Sort: []store.Sort{{Field: "bogus"}}}, "sort"},
		{"unknown marker", store.Query{Marker: "nope", Limit: 1}, "marker"},
	}
	for _, tc := range cases {
		err := s.View(ctx, func(tx store.Tx) error {
			_, err := tx.LoadBalancers().List(ctx, tc.q)
			return err
		})
		var qe *store.QueryError
		if !errors.Is(err, store.ErrInvalidQuery) || !errors.As(err, &qe) || qe.Part != tc.part {
			t.Errorf("%s: got %v, want a %s QueryError", tc.name, err, tc.part)
		}
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		_, err := tx.LoadBalancers().DeleteWhere(ctx)
		return err
	})
	if !errors.Is(err, store.ErrInvalidQuery) {
		t.Errorf("DeleteWhere without filters: got %v, want ErrInvalidQuery", err)
	}
}

func testRefsCountDeleteWhere(t *testing.T, s store.Store) {
	ctx := context.Background()
	l, lis, pool, m, _, _, _ := createGraph(t, s)
	mustUpdate(t, s, func(tx store.Tx) error {
		for i := 2; i <= 4; i++ {
			mm := *m
			mm.ID = id("00000003", i)
			mm.ProtocolPort = 8080 + i
			mm.CreatedAt = base.Add(time.Duration(-i) * time.Second) // created earlier: sorts first
			if err := tx.Members().Create(ctx, &mm); err != nil {
				return err
			}
		}
		return nil
	})
	_ = s.View(ctx, func(tx store.Tx) error {
		refs, err := tx.Members().Refs(ctx, "pool_id", []string{pool.ID, "other"})
		if err != nil {
			t.Fatal(err)
		}
		wantRefs := map[string][]string{pool.ID: {id("00000003", 4), id("00000003", 3), id("00000003", 2), m.ID}}
		if !reflect.DeepEqual(refs, wantRefs) {
			t.Errorf("refs: got %v, want %v", refs, wantRefs)
		}
		lrefs, err := tx.Listeners().Refs(ctx, "loadbalancer_id", []string{l.ID})
		if err != nil || !reflect.DeepEqual(lrefs, map[string][]string{l.ID: {lis.ID}}) {
			t.Errorf("listener refs: %v, %v", lrefs, err)
		}
		if n, err := tx.Members().Count(ctx, store.F("pool_id", pool.ID), store.F("backup", "true")); err != nil || n != 4 {
			t.Errorf("count: %d, %v", n, err)
		}
		return nil
	})
	mustUpdate(t, s, func(tx store.Tx) error {
		n, err := tx.Members().DeleteWhere(ctx, store.F("pool_id", pool.ID), store.In("protocol_port", "8082", "8083"))
		if err != nil || n != 2 {
			t.Errorf("delete where: %d, %v", n, err)
		}
		return err
	})
}

func testCascade(t *testing.T, s store.Store) {
	ctx := context.Background()
	l, _, _, _, _, _, _ := createGraph(t, s)
	mustUpdate(t, s, func(tx store.Tx) error { return tx.LoadBalancers().Delete(ctx, l.ID) })
	_ = s.View(ctx, func(tx store.Tx) error {
		counts := map[string]func() (int, error){
			"listeners":       func() (int, error) { return tx.Listeners().Count(ctx) },
			"pools":           func() (int, error) { return tx.Pools().Count(ctx) },
			"members":         func() (int, error) { return tx.Members().Count(ctx) },
			"health monitors": func() (int, error) { return tx.HealthMonitors().Count(ctx) },
			"l7 policies":     func() (int, error) { return tx.L7Policies().Count(ctx) },
			"l7 rules":        func() (int, error) { return tx.L7Rules().Count(ctx) },
		}
		for name, count := range counts {
			if n, err := count(); err != nil || n != 0 {
				t.Errorf("%s left after load balancer delete: %d, %v", name, n, err)
			}
		}
		return nil
	})
}

func testRollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.LoadBalancers().Create(ctx, newLB(1, "p")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update returned %v, want the callback's error", err)
	}
	_ = s.View(ctx, func(tx store.Tx) error {
		if n, _ := tx.LoadBalancers().Count(ctx); n != 0 {
			t.Errorf("rolled-back create is visible: %d rows", n)
		}
		return nil
	})
}

func testConcurrentWriters(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := newLB(1, "p")
	mustUpdate(t, s, func(tx store.Tx) error { return tx.LoadBalancers().Create(ctx, l) })
	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				err := s.Update(ctx, func(tx store.Tx) error {
					got, err := tx.LoadBalancers().Lock(ctx, l.ID)
					if err != nil {
						return err
					}
					got.Generation++
					return tx.LoadBalancers().Update(ctx, got)
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// Readers run alongside the writers.
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				if err := s.View(ctx, func(tx store.Tx) error {
					_, err := tx.LoadBalancers().List(ctx, store.Query{})
					return err
				}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent update: %v", err)
	}
	_ = s.View(ctx, func(tx store.Tx) error {
		got, err := tx.LoadBalancers().Get(ctx, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Generation != 1+workers*rounds {
			t.Errorf("generation after %d locked increments = %d, want %d (lost updates)", workers*rounds, got.Generation, 1+workers*rounds)
		}
		return nil
	})
}
