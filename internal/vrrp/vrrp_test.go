package vrrp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func mustPrefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

var (
	addrA = netip.MustParseAddr("198.18.0.1")
	addrB = netip.MustParseAddr("198.18.0.2")
)

// samplePair is the pair the golden file and several tests use.
func samplePair() Pair {
	return Pair{
		Name: "lb_pair_a_b", VRID: 7,
		Master: Member{Interface: "eth0", Addr: addrA}, Backup: Member{Interface: "eth0", Addr: addrB},
		VIPs: mustPrefixes("198.18.0.101/32", "198.18.0.100/32", "2001:db8::10/128"),
	}
}

func sampleConfig() Config {
	m, _ := samplePair().Instances()
	second := Pair{
		Name: "lb_pair_a_c", VRID: 1, AdvertInterval: 50 * time.Millisecond,
		Master: Member{Interface: "eth1", Addr: netip.MustParseAddr("198.18.1.1")},
		Backup: Member{Interface: "eth1", Addr: netip.MustParseAddr("198.18.1.3")},
		VIPs:   mustPrefixes("198.18.1.200/32"), Scripts: []string{"engine_alive"},
	}
	_, b := second.Instances()
	b.Preempt = true
	// A third group, with no VIPs yet (made ready before VIPs move into it).
	empty, _ := Pair{
		Name: "lb_pair_a_d", VRID: 2,
		Master: Member{Interface: "eth0", Addr: addrA}, Backup: Member{Interface: "eth0", Addr: netip.MustParseAddr("198.18.0.4")},
	}.Instances()
	return Config{
		RouterID:  "agent-a",
		Instances: []Instance{m, b, empty},
		Scripts:   []Script{{Name: "engine_alive", Command: []string{"/usr/bin/test", "-e", "/run/engine.ok"}, Interval: time.Second, Fall: 3}},
	}
}

var sampleFiles = Files{NotifyFIFO: "/var/lib/fulcrum/vrrp/notify.fifo", Health: "/var/lib/fulcrum/vrrp/engine-health", HoldDir: "/var/lib/fulcrum/vrrp/hold"}

// TestRenderGolden: the rendered keepalived.conf of a host in two pairs (one preempting, one
// with a script). Run with -update to rewrite testdata/keepalived.conf.golden.
func TestRenderGolden(t *testing.T) {
	got, err := Render(sampleConfig(), sampleFiles)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "keepalived.conf.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("rendered config differs from %s (rerun with -update if intended):\n%s", golden, got)
	}
	// Order of instances, scripts, peers and VIPs does not matter.
	cfg := sampleConfig()
	cfg.Instances[0], cfg.Instances[1] = cfg.Instances[1], cfg.Instances[0]
	v := cfg.Instances[1].VIPs
	v[0], v[2] = v[2], v[0]
	again, err := Render(cfg, sampleFiles)
	if err != nil || string(again) != string(got) {
		t.Errorf("reordered input renders differently (%v)", err)
	}
}

// TestRenderAcceptedByKeepalived: keepalived's own config test accepts the rendered file
// and refuses a broken one (so the check the Supervisor relies on is real). keepalived checks
// that interfaces exist: the test runs in a lab host whose interface is eth0.
func TestRenderAcceptedByKeepalived(t *testing.T) {
	h := newLab(t, "a").Hosts[0]
	cfg := sampleConfig()
	for i := range cfg.Instances {
		cfg.Instances[i].Interface = h.Interface
	}
	dir := t.TempDir()
	text, err := Render(cfg, Files{NotifyFIFO: filepath.Join(dir, "fifo"), Health: filepath.Join(dir, "health"), HoldDir: filepath.Join(dir, "hold")})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(p, text, 0o600); err != nil {
		t.Fatal(err)
	}
	check := func() ([]byte, error) {
		return h.Command(context.Background(), DefaultBinary, "--config-test", "--use-file", p).CombinedOutput()
	}
	if out, err := check(); err != nil {
		t.Fatalf("keepalived --config-test: %v\n%s\n%s", err, out, text)
	}
	for _, bad := range [][2]string{{"virtual_router_id 7", "virtual_router_id 300"}, {"interface eth0", "interface eth9"}} {
		os.WriteFile(p, []byte(strings.Replace(string(text), bad[0], bad[1], 1)), 0o600)
		if out, err := check(); err == nil {
			t.Errorf("keepalived --config-test accepted %q:\n%s", bad[1], out)
		}
	}
}

// TestValidate: each rule, with the field it names.
func TestValidate(t *testing.T) {
	base := func() Config { return sampleConfig() }
	for _, tc := range []struct {
		name  string
		mut   func(*Config)
		field string
	}{
		{"ok", func(*Config) {}, ""},
		{"no instances", func(c *Config) { c.Instances = nil; c.Scripts = nil }, ""},
		{"router id", func(c *Config) { c.RouterID = "a b" }, "router_id"},
		{"instance name", func(c *Config) { c.Instances[0].Name = "x y" }, "instances[0].name"},
		{"duplicate name", func(c *Config) { c.Instances[1].Name = c.Instances[0].Name }, "instances[1].name"},
		{"interface", func(c *Config) { c.Instances[0].Interface = "eth0/1" }, "instances[0].interface"},
		{"long interface", func(c *Config) { c.Instances[0].Interface = "abcdefghijklmnop" }, "instances[0].interface"},
		{"vrid 0", func(c *Config) { c.Instances[0].VRID = 0 }, "instances[0].vrid"},
		{"vrid 256", func(c *Config) { c.Instances[0].VRID = 256 }, "instances[0].vrid"},
		{"priority 255", func(c *Config) { c.Instances[0].Priority = 255 }, "instances[0].priority"},
		{"priority 0", func(c *Config) { c.Instances[0].Priority = 0 }, "instances[0].priority"},
		{"advert 5ms", func(c *Config) { c.Instances[0].AdvertInterval = 5 * time.Millisecond }, "instances[0].advert_interval"},
		{"advert 15ms", func(c *Config) { c.Instances[0].AdvertInterval = 15 * time.Millisecond }, "instances[0].advert_interval"},
		{"advert 41s", func(c *Config) { c.Instances[0].AdvertInterval = 41 * time.Second }, "instances[0].advert_interval"},
		{"source ipv6", func(c *Config) { c.Instances[0].SourceIP = netip.MustParseAddr("2001:db8::1") }, "instances[0].source_ip"},
		{"source missing", func(c *Config) { c.Instances[0].SourceIP = netip.Addr{} }, "instances[0].source_ip"},
		{"source loopback", func(c *Config) { c.Instances[0].SourceIP = netip.MustParseAddr("127.0.0.1") }, "instances[0].source_ip"},
		{"no peers", func(c *Config) { c.Instances[0].Peers = nil }, "instances[0].peers"},
		{"peer is self", func(c *Config) { c.Instances[0].Peers = []netip.Addr{addrA} }, "instances[0].peers[0]"},
		{"peer twice", func(c *Config) { c.Instances[0].Peers = []netip.Addr{addrB, addrB} }, "instances[0].peers[1]"},
		{"peer multicast", func(c *Config) { c.Instances[0].Peers = []netip.Addr{netip.MustParseAddr("224.0.0.18")} }, "instances[0].peers[0]"},
		{"vrid shared with a peer", func(c *Config) {
			c.Instances[1].Interface, c.Instances[1].VRID, c.Instances[1].Peers = "eth0", 7, []netip.Addr{addrB}
		}, "instances[1].vrid"},
		{"no vips (a group made ready for a move)", func(c *Config) { c.Instances[0].VIPs = nil }, ""},
		{"vip loopback", func(c *Config) { c.Instances[0].VIPs = mustPrefixes("127.0.0.2/32") }, "instances[0].vips[0]"},
		{"vip link-local", func(c *Config) { c.Instances[0].VIPs = mustPrefixes("fe80::1/128") }, "instances[0].vips[0]"},
		{"vip is source", func(c *Config) { c.Instances[0].VIPs = mustPrefixes("198.18.0.1/32") }, "instances[0].vips[0]"},
		{"vip is peer", func(c *Config) { c.Instances[0].VIPs = mustPrefixes("198.18.0.2/32") }, "instances[0].vips[0]"},
		{"vip in two instances", func(c *Config) { c.Instances[1].VIPs = mustPrefixes("198.18.0.100/32") }, "instances[1].vips[0]"},
		{"unknown script", func(c *Config) { c.Instances[0].Scripts = []string{"nope"} }, "instances[0].scripts[0]"},
		{"script relative", func(c *Config) { c.Scripts[0].Command[0] = "test" }, "scripts[0].command"},
		{"script quote", func(c *Config) { c.Scripts[0].Command[2] = `a"b` }, "scripts[0].command[2]"},
		{"script space", func(c *Config) { c.Scripts[0].Command[2] = "a b" }, "scripts[0].command[2]"},
		{"script interval", func(c *Config) { c.Scripts[0].Interval = 500 * time.Millisecond }, "scripts[0].interval"},
		{"script timeout", func(c *Config) { c.Scripts[0].Timeout = 1500 * time.Millisecond }, "scripts[0].timeout"},
		{"script name twice", func(c *Config) { c.Scripts = append(c.Scripts, c.Scripts[0]) }, "scripts[1].name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mut(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), ": "+tc.field+": ") {
				t.Fatalf("Validate: %v, want ErrInvalid naming %s", err, tc.field)
			}
		})
	}
}

// TestPair: the two instances of a pair mirror each other; Handover preempts with 254.
func TestPair(t *testing.T) {
	p := samplePair()
	m, b := p.Instances()
	if m.Priority != DefaultMasterPriority || b.Priority != DefaultBackupPriority || m.Preempt || b.Preempt {
		t.Errorf("priorities %d/%d preempt %v/%v", m.Priority, b.Priority, m.Preempt, b.Preempt)
	}
	if m.SourceIP != addrA || b.SourceIP != addrB || m.Peers[0] != addrB || b.Peers[0] != addrA || m.VRID != 7 || b.VRID != 7 || m.Name != b.Name {
		t.Errorf("instances do not mirror: %+v / %+v", m, b)
	}
	h := p.Handover()
	if h.Priority != PromotePriority || !h.Preempt || h.SourceIP != addrB {
		t.Errorf("handover instance %+v", h)
	}
	m.VIPs[0] = netip.MustParsePrefix("198.18.9.9/32")
	if p.VIPs[0].Addr() == netip.MustParseAddr("198.18.9.9") {
		t.Error("instances share the pair's VIP slice")
	}
}

// TestAllocateVRID: the lowest ID free on every host; none left is ErrNoVRID.
func TestAllocateVRID(t *testing.T) {
	all := make([]int, 0, 255)
	for i := 1; i <= 255; i++ {
		all = append(all, i)
	}
	for _, tc := range []struct {
		name string
		used [][]int
		want int
		err  error
	}{
		{"nothing used", nil, 1, nil},
		{"union of both hosts", [][]int{{1, 2, 4}, {3}}, 5, nil},
		{"gap", [][]int{{2, 3}}, 1, nil},
		{"out of range ignored", [][]int{{0, 256, -1, 1}}, 2, nil},
		{"full on one host", [][]int{all, nil}, 0, ErrNoVRID},
		{"last one", [][]int{all[:254]}, 255, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AllocateVRID(tc.used...)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("AllocateVRID(%v) = %d, %v; want %d, %v", tc.used, got, err, tc.want, tc.err)
			}
		})
	}
}

// TestParseNotify: keepalived's FIFO lines.
func TestParseNotify(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Event
		ok   bool
	}{
		{`INSTANCE "g1" MASTER 100`, Event{Instance: "g1", State: StateMaster, Priority: 100}, true},
		{`INSTANCE "lb_pair_a_b" BACKUP 90`, Event{Instance: "lb_pair_a_b", State: StateBackup, Priority: 90}, true},
		{`  INSTANCE "g1" FAULT 0`, Event{Instance: "g1", State: StateFault}, true},
		{`INSTANCE "g1" STOP 100`, Event{Instance: "g1", State: StateStop, Priority: 100}, true},
		{`INSTANCE "g1" DELETED 100`, Event{Instance: "g1", State: StateDeleted, Priority: 100}, true},
		{`INSTANCE "g1" MASTER_RX_LOWER_PRI 110`, Event{Instance: "g1", State: StateMasterRxLowerPri, Priority: 110}, true},
		{`GROUP "sg" MASTER`, Event{}, false},
		{`INSTANCE "g1" MASTER_PRIORITY 100`, Event{}, false},
		{`INSTANCE "g1" MASTER`, Event{}, false},
		{`INSTANCE "g1" MASTER x`, Event{}, false},
		{`INSTANCE "g1" MASTER 999`, Event{}, false},
		{`INSTANCE "" MASTER 1`, Event{}, false},
		{`INSTANCE g1 MASTER 1`, Event{}, false},
		{``, Event{}, false},
	} {
		got, ok := parseNotify(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseNotify(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseNotify(f *testing.F) {
	f.Add(`INSTANCE "g1" MASTER 100`)
	f.Add(`INSTANCE "a" "b" FAULT 1`)
	f.Fuzz(func(t *testing.T, line string) {
		ev, ok := parseNotify(line)
		if ok && (ev.Instance == "" || ev.Priority < 0 || ev.Priority > 255) {
			t.Fatalf("parseNotify(%q) = %+v", line, ev)
		}
	})
}

// TestCheckBinary: a missing keepalived and one too old are refused with a message saying
// what is needed; Debian's is accepted.
func TestCheckBinary(t *testing.T) {
	dir := t.TempDir()
	fake := func(name, output string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(fmt.Sprintf("#!/bin/sh\necho '%s' >&2\n", output)), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope"), "not found at"},
		{"too old", fake("old", "Keepalived v2.1.5 (07/13,2020)"), "2.1.5 at " + dir + "/old is too old: fulcrum needs 2.2.0 or newer"},
		{"not keepalived", fake("other", "something else"), "cannot read its version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckBinary(tc.path)
			if !errors.Is(err, ErrKeepalived) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckBinary: %v, want %q", err, tc.want)
			}
			// Start refuses the same way, before touching anything.
			_, err = Start(Options{DataDir: filepath.Join(dir, "data-"+strings.ReplaceAll(tc.name, " ", "-")), Binary: tc.path}, Config{})
			if !errors.Is(err, ErrKeepalived) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start: %v, want %q", err, tc.want)
			}
		})
	}
	if err := CheckBinary(fake("new", "Keepalived v2.3.1 (06/03,2024)")); err != nil {
		t.Errorf("2.3.1: %v", err)
	}
	if err := CheckBinary(DefaultBinary); err != nil {
		t.Errorf("Debian's keepalived: %v", err)
	}
}
