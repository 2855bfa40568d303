package vrrp

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/netlab"
)

// startPair runs pair on hosts a (preferred) and b, each under its own supervisor, healthy.
func startPair(t *testing.T, a, b *netlab.Host, pair Pair) (sa, sb *Supervisor) {
	t.Helper()
	ia, ib := pair.Instances()
	var err error
	sa, err = Start(Options{DataDir: filepath.Join(t.TempDir(), "a"), Wrap: a.Wrap(), Healthy: true, Logger: testLogger(t)}, Config{RouterID: "a", Instances: []Instance{ia}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sa.Close() })
	state := func(s *Supervisor) State { return s.States()[pair.Name].State }
	// a first, so that it is the one that elects itself (nopreempt).
	until(t, "a MASTER", func() bool { return state(sa) == StateMaster })
	sb, err = Start(Options{DataDir: filepath.Join(t.TempDir(), "b"), Wrap: b.Wrap(), Healthy: true, Logger: testLogger(t)}, Config{RouterID: "b", Instances: []Instance{ib}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	until(t, "b BACKUP", func() bool { return state(sb) == StateBackup })
	return sa, sb
}

// TestSupervisorHold: a held instance goes to FAULT and gives up its VIP while the other
// instances of the host run on; the peer takes the VIP over; let go, the held member comes
// back as BACKUP (nopreempt) without taking the VIP back. The hold files follow the
// configuration.
func TestSupervisorHold(t *testing.T) {
	l := newLab(t, "a", "b")
	a, b := l.Hosts[0], l.Hosts[1]
	vip, other := l.AddrAt(100), l.AddrAt(101)
	pair := Pair{Name: "held", VRID: 3, AdvertInterval: 50 * time.Millisecond,
		Master: Member{Interface: a.Interface, Addr: a.Addr}, Backup: Member{Interface: b.Interface, Addr: b.Addr},
		VIPs: []netip.Prefix{netip.PrefixFrom(vip, 32)}}
	sa, sb := startPair(t, a, b, pair)
	// A second instance on a, with a silent peer: it is MASTER and must stay so.
	lone := Instance{Name: "lone", Interface: a.Interface, VRID: 4, Priority: 100, AdvertInterval: 50 * time.Millisecond,
		SourceIP: a.Addr, Peers: []netip.Addr{l.AddrAt(150)}, VIPs: []netip.Prefix{netip.PrefixFrom(other, 32)}}
	ia, _ := pair.Instances()
	if err := sa.Apply(Config{RouterID: "a", Instances: []Instance{ia, lone}}); err != nil {
		t.Fatal(err)
	}
	state := func(s *Supervisor, n string) State { return s.States()[n].State }
	until(t, "a MASTER of both, with both VIPs", func() bool {
		return state(sa, "held") == StateMaster && state(sa, "lone") == StateMaster && hasAddr(t, a, vip) && hasAddr(t, a, other)
	})
	if hasAddr(t, b, vip) {
		t.Fatal("b holds the VIP of a pair a is MASTER of")
	}

	if err := sa.Hold("held", true); err != nil {
		t.Fatal(err)
	}
	until(t, "a FAULT for the held instance, b MASTER with the VIP", func() bool {
		return state(sa, "held") == StateFault && !hasAddr(t, a, vip) && state(sb, "held") == StateMaster && hasAddr(t, b, vip)
	})
	if state(sa, "lone") != StateMaster || !hasAddr(t, a, other) {
		t.Errorf("holding one instance disturbed another: lone %s", state(sa, "lone"))
	}
	if err := sa.Hold("held", true); err != nil { // unchanged: no-op
		t.Fatal(err)
	}

	if err := sa.Hold("held", false); err != nil {
		t.Fatal(err)
	}
	until(t, "a BACKUP again", func() bool { return state(sa, "held") == StateBackup })
	// Several advert intervals: a hears b and stays BACKUP (nopreempt).
	time.Sleep(500 * time.Millisecond)
	if state(sa, "held") != StateBackup || hasAddr(t, a, vip) || !hasAddr(t, b, vip) {
		t.Errorf("after the hold: a %s (VIP %v), b %s (VIP %v); want a BACKUP, the VIP on b",
			state(sa, "held"), hasAddr(t, a, vip), state(sb, "held"), hasAddr(t, b, vip))
	}

	// A hold set before the instance exists applies when it arrives; an instance that goes
	// takes its hold file and its hold with it.
	if err := sa.Hold("later", true); err != nil {
		t.Fatal(err)
	}
	later := lone
	later.Name, later.VRID, later.VIPs = "later", 5, []netip.Prefix{netip.PrefixFrom(l.AddrAt(102), 32)}
	if err := sa.Apply(Config{RouterID: "a", Instances: []Instance{ia, lone, later}}); err != nil {
		t.Fatal(err)
	}
	until(t, "the new instance in FAULT (held before it existed)", func() bool { return state(sa, "later") == StateFault })
	if hasAddr(t, a, l.AddrAt(102)) {
		t.Error("a held instance plumbed its VIP")
	}
	holdFile := sa.Files().HoldFile("later")
	if err := sa.Apply(Config{RouterID: "a", Instances: []Instance{ia, lone}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(holdFile); !os.IsNotExist(err) {
		t.Errorf("hold file of a removed instance: %v, want gone", err)
	}
	if err := sa.Apply(Config{RouterID: "a", Instances: []Instance{ia, lone, later}}); err != nil {
		t.Fatal(err)
	}
	until(t, "the re-added instance MASTER (its hold went with it)", func() bool {
		return state(sa, "later") == StateMaster && hasAddr(t, a, l.AddrAt(102))
	})
	if err := sa.Hold("bad name", true); err == nil {
		t.Error("Hold with an invalid instance name succeeded")
	}
}

// TestAdverts: a member records its peer's adverts (a MASTER's, with their priority) for the
// keys it watches, nothing for others, and the resignation of a MASTER (priority 0).
func TestAdverts(t *testing.T) {
	l := newLab(t, "a", "b")
	a, b := l.Hosts[0], l.Hosts[1]
	pair := Pair{Name: "heard", VRID: 7, AdvertInterval: 50 * time.Millisecond,
		Master: Member{Interface: a.Interface, Addr: a.Addr}, Backup: Member{Interface: b.Interface, Addr: b.Addr},
		VIPs: []netip.Prefix{netip.PrefixFrom(l.AddrAt(100), 32)}}
	var w *Adverts
	if err := b.Do(func() (err error) { w, err = ListenAdverts(); return err }); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	key := AdvertKey{Peer: a.Addr, VRID: 7}
	w.Watch([]AdvertKey{key})
	sa, _ := startPair(t, a, b, pair)
	until(t, "a's adverts heard on b", func() bool {
		ad, ok := w.Last(key)
		return ok && ad.Priority == DefaultMasterPriority && time.Since(ad.At) < time.Second
	})
	if _, ok := w.Last(AdvertKey{Peer: a.Addr, VRID: 8}); ok {
		t.Error("an advert recorded under a key nobody watches")
	}
	w.Watch(nil)
	time.Sleep(200 * time.Millisecond)
	if _, ok := w.Last(key); ok {
		t.Error("adverts still recorded after the key was unwatched")
	}
	w.Watch([]AdvertKey{key})
	if err := sa.SetHealthy(false); err != nil { // a resigns: priority 0
		t.Fatal(err)
	}
	until(t, "a's resignation heard (priority 0)", func() bool {
		ad, ok := w.Last(key)
		return ok && ad.Priority == 0
	})
}

func TestParseAdvert(t *testing.T) {
	for _, c := range []struct {
		name       string
		b          []byte
		vrid, prio int
		ok         bool
	}{
		{"v3 advert", []byte{0x31, 9, 100, 1, 0, 20, 0, 0}, 9, 100, true},
		{"v2 advert", []byte{0x21, 200, 0, 1, 1, 1, 0, 0}, 200, 0, true},
		{"short", []byte{0x31, 9, 100}, 0, 0, false},
		{"version 4", []byte{0x41, 9, 100, 1, 0, 20, 0, 0}, 0, 0, false},
		{"type 2", []byte{0x32, 9, 100, 1, 0, 20, 0, 0}, 0, 0, false},
		{"vrid 0", []byte{0x31, 0, 100, 1, 0, 20, 0, 0}, 0, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			vrid, prio, ok := parseAdvert(c.b)
			if vrid != c.vrid || prio != c.prio || ok != c.ok {
				t.Errorf("parseAdvert(% x) = %d, %d, %v; want %d, %d, %v", c.b, vrid, prio, ok, c.vrid, c.prio, c.ok)
			}
		})
	}
}

// TestAnnounce: a gratuitous ARP sent from one host moves a third host's entry for a VIP
// to the MAC it names, even right after that host resolved the VIP elsewhere (Linux takes
// gratuitous ARPs within its locktime).
func TestAnnounce(t *testing.T) {
	l := newLab(t, "a", "b", "c")
	a, b, c := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	vip := l.AddrAt(100)
	ctx := context.Background()
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	mac := func(h *netlab.Host) net.HardwareAddr {
		var hw net.HardwareAddr
		if err := h.Do(func() error {
			ifc, err := net.InterfaceByName(h.Interface)
			if err == nil {
				hw = ifc.HardwareAddr
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return hw
	}
	entry := func() string {
		f := strings.Fields(run("-n", c.Namespace, "neigh", "show", vip.String(), "dev", c.Interface))
		for i, w := range f {
			if w == "lladdr" && i+1 < len(f) {
				return f[i+1]
			}
		}
		return ""
	}
	run("-n", b.Namespace, "addr", "add", netip.PrefixFrom(vip, 32).String(), "dev", b.Interface)
	// c resolves the VIP: at b.
	_, _ = c.Dial(ctx, &net.Dialer{Timeout: time.Second}, "tcp", netip.AddrPortFrom(vip, 9).String())
	until(t, "c's entry for the VIP at b", func() bool { return entry() == mac(b).String() })
	// a announces the VIP at a's own MAC (as a yielding member announces its peer's).
	if err := a.Do(func() error { return Announce(a.Interface, mac(a), []netip.Prefix{netip.PrefixFrom(vip, 32)}) }); err != nil {
		t.Fatal(err)
	}
	until(t, "c's entry for the VIP moved to the announced MAC", func() bool { return entry() == mac(a).String() })
	if err := Announce(a.Interface, net.HardwareAddr{1, 2}, nil); err == nil {
		t.Error("Announce with a short MAC succeeded")
	}
}
