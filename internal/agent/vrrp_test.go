package agent

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/netlab"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
)

func group(name, segment string, vrid int, src, peer string, vips map[string][]string) dataplane.VRRPGroup {
	return dataplane.VRRPGroup{Name: name, Segment: segment, VRID: vrid, Priority: 100, AdvertIntervalMS: 50, SourceIP: src, Peer: peer, VIPs: vips}
}

// TestVRRPConfig: the agent's groups become keepalived instances on the segment's
// interface, VIPs of every load balancer of a group in order; a group the agent cannot run
// is an error naming its field path (so that only its load balancers are refused), and a
// refused load balancer takes its group out.
func TestVRRPConfig(t *testing.T) {
	n := &vrrpNode{segments: map[string]string{"physnet": "eth7"}}
	cfg := &dataplane.Config{VRRP: []dataplane.VRRPGroup{
		group("lb-b", "physnet", 2, "198.18.0.2", "198.18.0.3", map[string][]string{"b": {"198.18.0.101/32", "198.18.0.102/32"}, "a": {"198.18.0.100/32"}}),
	}}
	kc, err := n.config(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(kc.Instances) != 1 {
		t.Fatalf("instances %+v", kc.Instances)
	}
	in := kc.Instances[0]
	var vips []string
	for _, v := range in.VIPs {
		vips = append(vips, v.String())
	}
	if in.Name != "lb-b" || in.Interface != "eth7" || in.VRID != 2 || in.Priority != 100 || in.AdvertInterval != 50*time.Millisecond ||
		in.SourceIP.String() != "198.18.0.2" || len(in.Peers) != 1 || in.Peers[0].String() != "198.18.0.3" ||
		!slices.Equal(vips, []string{"198.18.0.100/32", "198.18.0.101/32", "198.18.0.102/32"}) {
		t.Errorf("instance %+v (VIPs %v)", in, vips)
	}

	for _, c := range []struct {
		name string
		g    dataplane.VRRPGroup
		path string
	}{
		{"unknown segment", group("lb-x", "other", 3, "198.18.0.2", "198.18.0.3", map[string][]string{"x": {"198.18.0.110/32"}}), "vrrp[1].segment"},
		{"bad peer", group("lb-x", "physnet", 3, "198.18.0.2", "nope", map[string][]string{"x": {"198.18.0.110/32"}}), "vrrp[1]"},
		{"bad VIP", group("lb-x", "physnet", 3, "198.18.0.2", "198.18.0.3", map[string][]string{"x": {"198.18.0.110"}}), "vrrp[1].vips"},
		{"VIP is the source", group("lb-x", "physnet", 3, "198.18.0.2", "198.18.0.3", map[string][]string{"x": {"198.18.0.2/32"}}), "vrrp[1]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := &dataplane.Config{VRRP: append(slices.Clone(cfg.VRRP), c.g)}
			kc, err := n.config(bad)
			var fe *dataplane.FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(fe.Path, c.path) {
				t.Fatalf("config: %v, want a field error at %s", err, c.path)
			}
			if len(kc.Instances) != 1 || kc.Instances[0].Name != "lb-b" {
				t.Errorf("the good group did not survive: %+v", kc.Instances)
			}
			if got := attribute(bad, err); got["x"] == "" || len(got) != 1 {
				t.Errorf("attributed to %v, want load balancer x only", got)
			}
		})
	}
	if g := withoutGroups(cfg.VRRP, map[string]string{"a": "refused"}); len(g) != 0 {
		t.Errorf("a refused load balancer's group kept: %+v", g)
	}
	if g := withoutGroups(cfg.VRRP, map[string]string{"z": "refused"}); len(g) != 1 {
		t.Errorf("a group dropped for another load balancer: %+v", g)
	}
	long := strings.Repeat("x", 65)
	many := make([]dataplane.Hold, 300)
	for i := range many {
		many[i].Group = "g"
	}
	if got := checkHold([]dataplane.Hold{{Group: "lb-1", PeerMAC: "02:00:00:00:00:01"}, {Group: "bad name"}, {Group: long}, {Group: "lb-2", PeerMAC: "nope"}}); !slices.Equal(got,
		[]dataplane.Hold{{Group: "lb-1", PeerMAC: "02:00:00:00:00:01"}, {Group: "lb-2"}}) {
		t.Errorf("checkHold kept %v", got)
	}
	if got := checkHold(many); len(got) != 255 {
		t.Errorf("checkHold kept %d names, want 255", len(got))
	}
}

// skewClock is the real clock moved forward by what Add adds: the hold lease can pass in
// an instant, and adverts (stamped with the real clock) still age.
type skewClock struct {
	mu   sync.Mutex
	skew time.Duration
}

func (c *skewClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.skew) }
func (c *skewClock) Add(d time.Duration) {
	c.mu.Lock()
	c.skew += d
	c.mu.Unlock()
}

// TestVRRPNodeHolds runs the agent's VRRP side with a real keepalived in a lab host a, its
// peer (a plain supervisor) in host b: the states it reports (with whether the peer is
// heard), a hold ordered while the peer is heard (nothing to hold: released at once), a hold
// during a partition (FAULT, the VIP gone, kept while the order lasts), its end when the
// peer is heard again, and the lease that lets a hold go when the server stops answering.
func TestVRRPNodeHolds(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("needs root for network namespaces and keepalived (CI runs as root); uid %d", os.Geteuid())
	}
	ctx := context.Background()
	lab, err := netlab.Create(ctx, netlab.Spec{Hosts: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	ha, hb := lab.Hosts[0], lab.Hosts[1]
	vip := lab.AddrAt(100)
	const name = "lb-x"

	clk := &skewClock{}
	var kmu, amu sync.Mutex
	kicked := 0
	var announced []string
	n := &vrrpNode{segments: map[string]string{"physnet": ha.Interface}, dir: filepath.Join(t.TempDir(), "vrrp"), log: slog.New(slog.DiscardHandler),
		start: func(o vrrp.Options, c vrrp.Config) (*vrrp.Supervisor, error) {
			o.Wrap = ha.Wrap()
			return vrrp.Start(o, c)
		},
		listen: func() (w *vrrp.Adverts, err error) {
			err = ha.Do(func() error { w, err = vrrp.ListenAdverts(); return err })
			return w, err
		},
		announce: func(ifc string, mac net.HardwareAddr, vips []netip.Prefix) error {
			amu.Lock()
			announced = append(announced, mac.String())
			amu.Unlock()
			return ha.Do(func() error { return vrrp.Announce(ifc, mac, vips) })
		},
		now: clk.Now, interval: func() time.Duration { return 250 * time.Millisecond },
		ordered: map[string]string{}, held: map[string]bool{},
		advert: func() { kmu.Lock(); kicked++; kmu.Unlock() }}
	defer n.close()
	kc, err := n.config(&dataplane.Config{VRRP: []dataplane.VRRPGroup{
		group(name, "physnet", 9, ha.Addr.String(), hb.Addr.String(), map[string][]string{"x": {netip.PrefixFrom(vip, 32).String()}})}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.apply(kc); err != nil {
		t.Fatal(err)
	}
	state := func() dataplane.VRRPState {
		for _, s := range n.states() {
			if s.Group == name {
				return s
			}
		}
		return dataplane.VRRPState{}
	}
	holds := func(h *netlab.Host) bool { ok, _ := h.HasAddr(vip); return ok }
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; state %+v", what, state())
			}
			n.checkHolds()
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait("a MASTER with the VIP", func() bool { return state().State == dataplane.VRRPMaster && holds(ha) })
	if s := state(); s.PeerHeard || s.Held || s.Since.IsZero() {
		t.Errorf("MASTER with a silent peer: %+v", s)
	}
	var segs []dataplane.Segment
	if err := ha.Do(func() error { segs = n.segmentsNow(); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(segs) != 1 || segs[0].Name != "physnet" || segs[0].Interface != ha.Interface || segs[0].Address != ha.Prefix.String() {
		t.Errorf("segments %+v, want physnet on %s with %s (not the /32 VIP)", segs, ha.Interface, ha.Prefix)
	}

	// The peer, b, with a lower priority.
	in := kc.Instances[0]
	in.Priority, in.SourceIP, in.Peers = 90, hb.Addr, []netip.Addr{ha.Addr}
	sb, err := vrrp.Start(vrrp.Options{DataDir: filepath.Join(t.TempDir(), "b"), Wrap: hb.Wrap(), Healthy: true}, vrrp.Config{Instances: []vrrp.Instance{in}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	bState := func() vrrp.State { return sb.States()[name].State }
	wait("b BACKUP", func() bool { return bState() == vrrp.StateBackup })

	// Ordered to hold while the pair hears itself: a yields, hears b's adverts, and is let
	// go at once: it is BACKUP, b MASTER with the VIP.
	n.answered([]dataplane.Hold{{Group: name}})
	wait("b MASTER, a BACKUP hearing it", func() bool {
		s := state()
		return bState() == vrrp.StateMaster && holds(hb) && s.State == dataplane.VRRPBackup && s.PeerHeard && !s.Held
	})
	if holds(ha) {
		t.Error("a holds the VIP as BACKUP")
	}

	// Partition: a stops hearing b and takes the VIP; a hold keeps it in FAULT, away from
	// the VIP, as long as the order lasts.
	for _, h := range []*netlab.Host{ha, hb} {
		if err := h.SetIsolated(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	n.answered(nil)
	wait("a MASTER in the partition", func() bool { return state().State == dataplane.VRRPMaster && holds(ha) })
	kmu.Lock()
	before := kicked
	kmu.Unlock()
	n.answered([]dataplane.Hold{{Group: name, PeerMAC: "02:00:00:00:00:0b"}})
	wait("a held in FAULT without the VIP", func() bool {
		s := state()
		return s.State == dataplane.VRRPFault && s.Held && !holds(ha)
	})
	kmu.Lock()
	if kicked == before {
		t.Error("no heartbeat asked for when the hold began")
	}
	kmu.Unlock()
	amu.Lock()
	if !slices.Equal(announced, []string{"02:00:00:00:00:0b"}) {
		t.Errorf("announced %v before yielding, want the peer's MAC once", announced)
	}
	amu.Unlock()
	for range 10 { // answers keep coming: still held
		n.answered([]dataplane.Hold{{Group: name}})
		time.Sleep(50 * time.Millisecond)
		n.checkHolds()
	}
	if s := state(); !s.Held || holds(ha) {
		t.Errorf("a let go while the order lasts: %+v", s)
	}

	// The path comes back: a hears b and is let go (the server's order notwithstanding).
	for _, h := range []*netlab.Host{ha, hb} {
		if err := h.SetIsolated(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	wait("a BACKUP again, hearing b", func() bool {
		s := state()
		return s.State == dataplane.VRRPBackup && s.PeerHeard && !s.Held
	})
	if !holds(hb) || holds(ha) {
		t.Errorf("after the heal: VIP on a %v, on b %v; want on b", holds(ha), holds(hb))
	}

	// Partition again, held; then the server stops answering: past the lease a is let go
	// (it may be the lone survivor) and takes the VIP.
	for _, h := range []*netlab.Host{ha, hb} {
		if err := h.SetIsolated(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	n.answered([]dataplane.Hold{{Group: name}})
	wait("a held during the second partition", func() bool { return state().State == dataplane.VRRPFault && state().Held })
	clk.Add(holdLease(250*time.Millisecond) + time.Second)
	wait("a let go after the lease, MASTER", func() bool {
		s := state()
		return !s.Held && s.State == dataplane.VRRPMaster && holds(ha)
	})
	// A later answer without the group: nothing held.
	n.answered(nil)
	if s := state(); s.Held {
		t.Errorf("held after an answer without the group: %+v", s)
	}
}

// groupsAtApply is an engine that records, at each Apply, the VRRP groups keepalived runs.
type groupsAtApply struct {
	n    *vrrpNode
	mu   sync.Mutex
	seen [][]string
}

func (e *groupsAtApply) Apply(_ context.Context, _ *dataplane.Config) error {
	e.n.mu.Lock()
	var names []string
	for _, in := range e.n.cfg.Instances {
		names = append(names, in.Name)
	}
	e.n.mu.Unlock()
	slices.Sort(names)
	e.mu.Lock()
	e.seen = append(e.seen, names)
	e.mu.Unlock()
	return nil
}
func (e *groupsAtApply) Stats() dataplane.Stats   { return dataplane.Stats{} }
func (e *groupsAtApply) Health() dataplane.Health { return dataplane.Health{} }

// TestEngineApplyWithdrawsFirst: a config that drops a VRRP group stops it in keepalived
// before the engine drops its listeners (a member leaving a pair must not take the VIP
// without them while its peer, pushed at the same time, no longer advertises to it); a
// group that comes starts after the engine has its listeners.
func TestEngineApplyWithdrawsFirst(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("needs root for network namespaces and keepalived (CI runs as root); uid %d", os.Geteuid())
	}
	ctx := context.Background()
	lab, err := netlab.Create(ctx, netlab.Spec{Hosts: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	ha, hb := lab.Hosts[0], lab.Hosts[1]
	n := &vrrpNode{segments: map[string]string{"physnet": ha.Interface}, dir: filepath.Join(t.TempDir(), "vrrp"), log: slog.New(slog.DiscardHandler),
		start: func(o vrrp.Options, c vrrp.Config) (*vrrp.Supervisor, error) {
			o.Wrap = ha.Wrap()
			return vrrp.Start(o, c)
		},
		listen:   func() (*vrrp.Adverts, error) { return nil, errors.New("not in this test") },
		announce: func(string, net.HardwareAddr, []netip.Prefix) error { return nil },
		now:      time.Now, interval: func() time.Duration { return 250 * time.Millisecond },
		ordered: map[string]string{}, held: map[string]bool{}, advert: func() {}}
	defer n.close()
	eng := &groupsAtApply{n: n}
	a := &Agent{opts: Options{Engine: eng}, log: slog.New(slog.DiscardHandler), vrrp: n}
	cfg := func(names ...string) *dataplane.Config {
		c := &dataplane.Config{}
		for i, name := range names {
			vip := netip.PrefixFrom(lab.AddrAt(100+i), 32).String()
			c.VRRP = append(c.VRRP, group(name, "physnet", 10+i, ha.Addr.String(), hb.Addr.String(), map[string][]string{name: {vip}}))
		}
		return c
	}
	for _, c := range []*dataplane.Config{cfg("lb-1", "lb-2"), cfg("lb-2"), cfg("lb-2", "lb-3"), cfg()} {
		if err := a.engineApply(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	want := [][]string{nil, {"lb-2"}, {"lb-2"}, nil}
	eng.mu.Lock()
	defer eng.mu.Unlock()
	if len(eng.seen) != len(want) {
		t.Fatalf("engine applied %d times, want %d", len(eng.seen), len(want))
	}
	for i := range want {
		if !slices.Equal(eng.seen[i], want[i]) {
			t.Errorf("apply %d: keepalived ran %v while the engine applied, want %v (all: %v)", i, eng.seen[i], want[i], eng.seen)
		}
	}
}
