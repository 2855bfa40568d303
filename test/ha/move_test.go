package ha

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/vrrp"
	"github.com/fulcrumlb/fulcrum/internal/vrrp/vrrplab"
)

// TestMoveBetweenGroups moves one load balancer's VIP from the pair's group that prefers a to
// the group that prefers b, with the client probing: the host that takes it is pushed first
// (it plumbs the VIP and sends GARPs while a still holds it), then the host that lets it go.
// This is how, with one VRRP instance per ordered pair rather than per load balancer, a
// single load balancer changes hands (planned failover of one amphora) while the other load
// balancers of the group stay where they are.
func TestMoveBetweenGroups(t *testing.T) {
	ctx := context.Background()
	l := startLab(t, 0)
	a, b := l.Node("a"), l.Node("b")
	ab := l.Pair() // a preferred, holds the VIP
	if ab.Master.Addr != a.Host.Addr {
		t.Fatalf("pair starts with %v preferred, want a", ab.Master.Addr)
	}
	// Another load balancer's VIP stays in the a-preferred group throughout.
	stay := netip.PrefixFrom(l.Net.AddrAt(150), 32)
	ab.VIPs = append(ab.VIPs, stay)
	ba := vrrp.Pair{Name: "pair_b_a", VRID: 2, AdvertInterval: ab.AdvertInterval, Master: ab.Backup, Backup: ab.Master}
	push := func(n *vrrplab.Node, ab, ba vrrp.Pair) {
		t.Helper()
		abM, abB := ab.Instances()
		baM, baB := ba.Instances()
		cfg := vrrp.Config{RouterID: n.Host.Name, Instances: []vrrp.Instance{abM, baB}}
		if n == b {
			cfg.Instances = []vrrp.Instance{abB, baM}
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

	// The b-preferred group exists first, empty, and has elected b. With nopreempt the first
	// member to run a new instance keeps it, so the preferred member gets it first.
	push(b, ab, ba)
	until("b MASTER of the new b-preferred group", func() bool { return b.StateOf(ba.Name) == vrrp.StateMaster })
	push(a, ab, ba)
	until("a BACKUP of the b-preferred group", func() bool {
		return b.StateOf(ba.Name) == vrrp.StateMaster && a.StateOf(ba.Name) == vrrp.StateBackup && has(a, stay)
	})

	p := l.StartProbe(ctx)
	until("requests served by a", func() bool { return p.Served("a", time.Time{}) >= 20 })
	vip := netip.PrefixFrom(l.VIP, 32)
	from, to := ab, ba
	from.VIPs = []netip.Prefix{stay}
	to.VIPs = []netip.Prefix{vip}
	push(b, from, to) // make: b plumbs the VIP while a still has it
	until("VIP on b", func() bool { return has(b, vip) })
	push(a, from, to) // break: a lets it go
	until("b serving the moved VIP, a without it", func() bool { return p.Served("b", time.Time{}) >= 40 && !has(a, vip) })
	res := vrrplab.Analyze(p.Stop())
	t.Logf("move: %s; errors %v", res, res.Errors)
	if res.Failed > 3 {
		t.Errorf("%d failed requests during the move (%v), want at most the few in flight at the switch", res.Failed, res.Errors)
	}
	if a.StateOf(ab.Name) != vrrp.StateMaster || !has(a, stay) || has(b, stay) {
		t.Errorf("the other load balancer's VIP moved: a %s, on a %v, on b %v", a.StateOf(ab.Name), has(a, stay), has(b, stay))
	}
}
