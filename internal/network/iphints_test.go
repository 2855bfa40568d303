package network_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// IPAM remembers where the lowest never-used address of a subnet is, so
// that a VIP allocation does not read every allocation. Whatever happens
// around that memory — another server allocating on the same store, an
// address taken by request, a rolled-back transaction, releases, a pool
// change — each automatic allocation is the address the full read would
// choose (neutron.Subnet.Choose) and no address is held twice.
func TestVIPAllocationFollowsTheFullReadWhateverHappensAround(t *testing.T) {
	e := newEnv(t, network.Options{})
	ctx := context.Background()
	subnet, err := network.Bootstrap(ctx, e.st, "adm", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Two servers on one store: each has its own memory.
	servers := []*network.VIPs{network.NewVIPs(e.st, nil), network.NewVIPs(e.st, nil)}
	expected := func() string {
		t.Helper()
		var want string
		err := e.st.View(ctx, func(tx store.Tx) error {
			sub, err := tx.Subnets().Get(ctx, subnet)
			if err != nil {
				return err
			}
			allocs, err := tx.IPAllocations().List(ctx, store.Query{Filters: []store.Filter{store.F("subnet_id", subnet)}})
			if err != nil {
				return err
			}
			used := []string{sub.GatewayIP}
			for _, a := range allocs {
				used = append(used, a.IPAddress)
			}
			rels, err := tx.IPReleases().List(ctx, store.Query{Filters: []store.Filter{store.F("subnet_id", subnet)}})
			if err != nil {
				return err
			}
			var rel []neutron.IPRelease
			for _, r := range rels {
				rel = append(rel, *r)
			}
			want, err = sub.Choose(used, rel)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return want
	}
	held := map[string]*lb.LoadBalancer{} // by address
	n := 0
	alloc := func(srv int, vip lb.VIP, rollback bool) *lb.LoadBalancer {
		t.Helper()
		n++
		l := &lb.LoadBalancer{ID: fmt.Sprintf("lb%d", n), ProjectID: "demo", VIP: vip}
		errRollback := errors.New("rolled back")
		err := e.st.Update(ctx, func(tx store.Tx) error {
			if err := servers[srv].Allocate(ctx, tx, l); err != nil {
				return err
			}
			if rollback {
				return errRollback
			}
			return nil
		})
		if rollback {
			if !errors.Is(err, errRollback) {
				t.Fatalf("allocation %d: %v", n, err)
			}
			return l
		}
		if err != nil {
			t.Fatalf("allocation %d on server %d: %v", n, srv, err)
		}
		if held[l.VIP.Address] != nil {
			t.Fatalf("allocation %d: %s handed out twice", n, l.VIP.Address)
		}
		held[l.VIP.Address] = l
		return l
	}
	auto := func(srv int) {
		t.Helper()
		want := expected()
		if l := alloc(srv, lb.VIP{SubnetID: subnet}, false); l.VIP.Address != want {
			t.Fatalf("allocation %d on server %d: %s, the full read chooses %s", n, srv, l.VIP.Address, want)
		}
	}
	release := func(addr string) {
		t.Helper()
		l := held[addr]
		if err := servers[0].ReleaseVIP(ctx, l.ID, l.VIP); err != nil {
			t.Fatal(err)
		}
		delete(held, addr)
	}

	next := func(addr string, k int) string {
		a := netip.MustParseAddr(addr)
		for ; k > 0; k-- {
			a = a.Next()
		}
		return a.String()
	}
	setPools := func(change func(pools []neutron.AllocationPool) []neutron.AllocationPool) {
		t.Helper()
		if err := e.st.Update(ctx, func(tx store.Tx) error {
			sub, err := tx.Subnets().Get(ctx, subnet)
			if err != nil {
				return err
			}
			sub.AllocationPools = change(sub.AllocationPools)
			return tx.Subnets().Update(ctx, sub)
		}); err != nil {
			t.Fatal(err)
		}
	}
	// The pool starts 254 addresses up; it is widened at the end.
	var original []neutron.AllocationPool
	setPools(func(pools []neutron.AllocationPool) []neutron.AllocationPool {
		original = pools
		return []neutron.AllocationPool{{Start: next(pools[0].Start, 254), End: pools[0].End}}
	})
	for i := 0; i < 6; i++ {
		auto(i % 2) // the servers take turns, each past the other's addresses
	}
	// Addresses taken by request just above the lowest free one.
	low := expected()
	alloc(1, lb.VIP{SubnetID: subnet, Address: low}, false)
	alloc(1, lb.VIP{SubnetID: subnet, Address: next(low, 2)}, false)
	auto(0)
	auto(0)
	// A rolled-back allocation leaves its address the lowest free one.
	rolled := alloc(0, lb.VIP{SubnetID: subnet}, true)
	if want := expected(); rolled.VIP.Address != want {
		t.Fatalf("rolled back %s, but the full read now chooses %s", rolled.VIP.Address, want)
	}
	auto(0)
	// Released addresses wait until the never-used ones run out.
	first := netip.MustParseAddr(low).Prev().String()
	release(first)
	release(low)
	auto(1)
	auto(0)
	// The pool widened down opens never-used addresses below the
	// memory: they come first.
	setPools(func([]neutron.AllocationPool) []neutron.AllocationPool { return original })
	for i := 0; i < 4; i++ {
		auto(i % 2)
	}
	if l := held[original[0].Start]; l == nil {
		t.Errorf("%s, the widened pool's first address, not handed out", original[0].Start)
	}
	if len(held) < 15 {
		t.Fatalf("%d addresses held, want at least 15", len(held))
	}
}
