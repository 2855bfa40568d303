package ha

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/vrrp"
	"github.com/fulcrumlb/fulcrum/internal/vrrp/vrrplab"
)

// TestMoveBetweenGroups moves one load balancer's VIP between VRRP groups while the client
// probes, make before break, as the controller will with one VRRP instance per ordered pair
// of agents rather than per load balancer:
//
//  1. across hosts: from the group that prefers a (a holds the VIP) to the group that prefers
//     b. b is pushed first (it plumbs the VIP and sends GARPs while a still holds it), then a
//     (it lets the VIP go). This is one load balancer changing hands inside its pair.
//  2. within a host: from that group to another group b is MASTER of, in one push to b (the
//     VIP stays on b), as when a dead peer's groups are replaced by groups with a new peer.
//
// Another load balancer's VIP stays in the a-preferred group and on a throughout.
func TestMoveBetweenGroups(t *testing.T) {
	ctx := context.Background()
	l := startLab(t, 0)
	a, b := l.Node("a"), l.Node("b")
	ab := l.Pair() // a preferred, holds the VIP
	if ab.Master.Addr != a.Host.Addr {
		t.Fatalf("pair starts with %v preferred, want a", ab.Master.Addr)
	}
	vip := netip.PrefixFrom(l.VIP, 32)
	stay := netip.PrefixFrom(l.Net.AddrAt(150), 32)
	ab.VIPs = []netip.Prefix{vip, stay}
	ba := vrrp.Pair{Name: "pair_b_a", VRID: 2, AdvertInterval: ab.AdvertInterval, Master: ab.Backup, Backup: ab.Master}
	ba2 := ba
	ba2.Name, ba2.VRID = "pair_b_a_2", 3

	// push gives n its instances of the groups.
	push := func(n *vrrplab.Node, groups ...vrrp.Pair) {
		t.Helper()
		cfg := vrrp.Config{RouterID: n.Host.Name}
		for _, g := range groups {
			m, bk := g.Instances()
			if g.Master.Addr == n.Host.Addr {
				cfg.Instances = append(cfg.Instances, m)
			} else {
				cfg.Instances = append(cfg.Instances, bk)
			}
		}
		if err := n.Apply(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	has := func(n *vrrplab.Node, p netip.Prefix) bool { ok, _ := n.Host.HasAddr(p.Addr()); return ok }
	check := func(step string, p *vrrplab.Probe) {
		t.Helper()
		res := vrrplab.Analyze(p.Stop())
		t.Logf("%s: %s; errors %v", step, res, res.Errors)
		if res.Failed > 3 {
			t.Errorf("%s: %d failed requests (%v), want at most the few in flight at the switch", step, res.Failed, res.Errors)
		}
		if a.StateOf(ab.Name) != vrrp.StateMaster || !has(a, stay) || has(b, stay) {
			t.Errorf("%s: the other load balancer's VIP moved: a %s, on a %v, on b %v", step, a.StateOf(ab.Name), has(a, stay), has(b, stay))
		}
	}

	// The b-preferred groups exist first, empty, and have elected b. With nopreempt the
	// first member to run a new instance keeps it, so the preferred member gets it first.
	push(b, ab, ba, ba2)
	until("b MASTER of the new b-preferred groups", func() bool {
		return b.StateOf(ba.Name) == vrrp.StateMaster && b.StateOf(ba2.Name) == vrrp.StateMaster
	})
	push(a, ab, ba, ba2)
	until("a BACKUP of the b-preferred groups", func() bool {
		return a.StateOf(ba.Name) == vrrp.StateBackup && a.StateOf(ba2.Name) == vrrp.StateBackup && has(a, vip) && has(a, stay)
	})

	// 1. Across hosts.
	p := l.StartProbe(ctx)
	until("requests served by a", func() bool { return p.Served("a", time.Time{}) >= 20 })
	ab.VIPs, ba.VIPs = []netip.Prefix{stay}, []netip.Prefix{vip}
	push(b, ab, ba, ba2) // make: b plumbs the VIP while a still has it
	until("VIP on b", func() bool { return has(b, vip) })
	push(a, ab, ba, ba2) // break: a lets it go
	until("b serving the moved VIP, a without it", func() bool { return p.Served("b", time.Time{}) >= 40 && !has(a, vip) })
	check("across hosts", p)

	// 2. Within b.
	p = l.StartProbe(ctx)
	until("requests served by b", func() bool { return p.Served("b", time.Time{}) >= 20 })
	t0 := time.Now()
	ba.VIPs, ba2.VIPs = nil, []netip.Prefix{vip}
	push(b, ab, ba, ba2)
	push(a, ab, ba, ba2)
	until("b serving after the move", func() bool { return p.Served("b", t0) >= 40 && has(b, vip) && !has(a, vip) })
	check("within b", p)
}
