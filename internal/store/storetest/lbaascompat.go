package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// testLBaaSCompat: the provider name a load balancer was asked for
// round-trips and filters (unset is NULL); a v1 pool mark needs its pool
// and goes with it; v1 health monitors round-trip.
func testLBaaSCompat(t *testing.T, s store.Store) {
	ctx := context.Background()
	aliased, plain := newLB(1, "p1"), newLB(2, "p1")
	aliased.ProviderName = "amphora"
	pool := &lb.Pool{ID: id("00000002", 9), ProjectID: "p1", LoadBalancerID: plain.ID, AdminStateUp: true,
		Status: lb.Status{Provisioning: lb.Active, Operating: lb.Online}, Protocol: lb.ProtocolHTTP, LBAlgorithm: lb.RoundRobin,
		Tags: []string{}, Times: lb.Times{CreatedAt: base}}
	mark := &lb.V1Pool{ID: pool.ID, ProjectID: "p1", LoadBalancerID: plain.ID, SubnetID: id("bbbbbbbb", 1), CreatedAt: base}
	hm := &lb.V1HealthMonitor{ID: id("00000009", 1), ProjectID: "p1", Type: lb.MonitorHTTP, Delay: 3, Timeout: 2, MaxRetries: 4,
		HTTPMethod: "GET", URLPath: "/hc", ExpectedCodes: "200-204", AdminStateUp: true,
		Times: lb.Times{CreatedAt: base, UpdatedAt: tp(base.Add(time.Minute))}}
	// A mark without its pool is refused.
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.LoadBalancers().Create(ctx, plain); err != nil {
			return err
		}
		return tx.V1Pools().Create(ctx, mark)
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("v1 pool mark without its pool: %v, want ErrConflict", err)
	}
	mustUpdate(t, s, func(tx store.Tx) error {
		for _, l := range []*lb.LoadBalancer{aliased, plain} {
			if err := tx.LoadBalancers().Create(ctx, l); err != nil {
				return err
			}
		}
		if err := tx.Pools().Create(ctx, pool); err != nil {
			return err
		}
		if err := tx.V1Pools().Create(ctx, mark); err != nil {
			return err
		}
		return tx.V1HealthMonitors().Create(ctx, hm)
	})
	_ = s.View(ctx, func(tx store.Tx) error {
		got, err := tx.LoadBalancers().Get(ctx, aliased.ID)
		if err != nil || got.ProviderName != "amphora" || got.Provider != "noop" {
			t.Errorf("aliased load balancer: %+v %v", got, err)
		}
		for value, want := range map[string]string{"amphora": aliased.ID, "": plain.ID} {
			l, err := tx.LoadBalancers().List(ctx, store.Query{Filters: []store.Filter{store.F("provider_name", value)}})
			if err != nil || len(l) != 1 || l[0].ID != want {
				t.Errorf("provider_name=%q: %v %v, want %s", value, l, err, want)
			}
		}
		gm, err := tx.V1Pools().Get(ctx, mark.ID)
		if err != nil || !reflect.DeepEqual(gm, mark) {
			t.Errorf("v1 pool mark: %+v %v, want %+v", gm, err, mark)
		}
		gh, err := tx.V1HealthMonitors().Get(ctx, hm.ID)
		if err != nil || !reflect.DeepEqual(gh, hm) {
			t.Errorf("v1 health monitor: %+v %v, want %+v", gh, err, hm)
		}
		if n, err := tx.V1HealthMonitors().Count(ctx, store.F("project_id", "p2")); err != nil || n != 0 {
			t.Errorf("v1 health monitors of p2: %d %v", n, err)
		}
		return nil
	})
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Pools().Delete(ctx, pool.ID) })
	_ = s.View(ctx, func(tx store.Tx) error {
		if n, err := tx.V1Pools().Count(ctx); err != nil || n != 0 {
			t.Errorf("v1 pool marks after the pool's delete: %d %v", n, err)
		}
		return nil
	})
}
