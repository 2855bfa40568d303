package vrrp

import (
	"bytes"
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Files are the paths a rendered configuration refers to (the Supervisor's, in its data
// directory). They must not contain whitespace or quotes.
type Files struct {
	// NotifyFIFO receives one line per state change.
	NotifyFIFO string
	// Health is the engine health file every instance tracks: "0" healthy, anything else
	// puts the instances in FAULT.
	Health string
	// HoldDir, if set, holds one file per instance, named after it, that the instance
	// tracks besides Health: "0" lets it run, anything else keeps that instance alone in
	// FAULT (Supervisor.Hold: the split-brain rule).
	HoldDir string
}

// HoldFile is the hold file of an instance (Files.HoldDir).
func (f Files) HoldFile(instance string) string { return f.HoldDir + "/" + instance }

// healthTrack is the name of the track_file fed by Supervisor.SetHealthy.
const healthTrack = "fulcrum_engine"

// GARP behaviour, the same for every instance. On becoming MASTER keepalived sends two
// gratuitous ARPs (unsolicited NAs for IPv6) per VIP at once and two more one second later
// (clients whose ARP entry was refreshed less than a second earlier ignore the first ones:
// Linux's locktime); a MASTER that hears a lower-priority advert (a partition has healed)
// sends two more, and a MASTER that yields to a higher priority first sends one advert so the
// winner re-announces. No periodic refresh: during a partition it would make clients flap
// between the two masters.
const (
	garpMasterDelay     = 1
	garpMasterRepeat    = 2
	garpLowerPrioRepeat = 2
)

// Render returns keepalived's configuration for cfg, which must be valid (Validate). The
// output depends only on the arguments: instances and scripts are sorted by name, VIPs by
// address, so an unchanged configuration renders the same bytes.
func Render(cfg Config, files Files) ([]byte, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	paths := []string{files.NotifyFIFO, files.Health}
	if files.HoldDir != "" {
		paths = append(paths, files.HoldDir)
	}
	for _, p := range paths {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\r\n\"'\\{}#!") {
			return nil, fmt.Errorf("%w: file path %q must be absolute, without whitespace, quotes or braces", ErrInvalid, p)
		}
	}
	var b bytes.Buffer
	w := func(indent int, format string, args ...any) {
		b.WriteString(strings.Repeat("    ", indent))
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	rid := cfg.RouterID
	if rid == "" {
		rid = "fulcrum"
	}
	w(0, "# Rendered by fulcrum (internal/vrrp) and rewritten on every change: do not edit.")
	w(0, "global_defs {")
	w(1, "router_id %s", rid)
	// script_user first: keepalived resolves the default script user when it parses the FIFO.
	w(1, "script_user root")
	w(1, "enable_script_security")
	w(1, "vrrp_notify_fifo %s", files.NotifyFIFO)
	w(1, "fifo_write_vrrp_states_on_reload")
	w(1, "vrrp_version 3")
	w(1, "vrrp_check_unicast_src")
	w(1, "vrrp_garp_master_delay %d", garpMasterDelay)
	w(1, "vrrp_garp_master_repeat %d", garpMasterRepeat)
	w(1, "vrrp_garp_lower_prio_repeat %d", garpLowerPrioRepeat)
	w(1, "vrrp_higher_prio_send_advert true")
	w(0, "}")
	w(0, "")
	w(0, "track_file %s {", healthTrack)
	w(1, "file %q", files.Health)
	w(1, "weight 0")
	w(0, "}")

	instances := slices.Clone(cfg.Instances)
	slices.SortFunc(instances, func(a, b Instance) int { return cmp.Compare(a.Name, b.Name) })
	if files.HoldDir != "" {
		for _, in := range instances {
			w(0, "")
			w(0, "track_file %s {", holdTrack(in.Name))
			w(1, "file %q", files.HoldFile(in.Name))
			w(1, "weight 0")
			w(0, "}")
		}
	}

	scripts := slices.Clone(cfg.Scripts)
	slices.SortFunc(scripts, func(a, b Script) int { return cmp.Compare(a.Name, b.Name) })
	for _, s := range scripts {
		timeout := s.Timeout
		if timeout == 0 {
			timeout = s.Interval
		}
		w(0, "")
		w(0, "vrrp_script %s {", s.Name)
		w(1, "script %q", strings.Join(s.Command, " "))
		w(1, "interval %d", int(s.Interval/time.Second))
		w(1, "timeout %d", int(timeout/time.Second))
		w(1, "fall %d", orDefault(s.Fall, 2))
		w(1, "rise %d", orDefault(s.Rise, 2))
		w(0, "}")
	}

	for _, in := range instances {
		adv := in.AdvertInterval
		if adv == 0 {
			adv = DefaultAdvertInterval
		}
		w(0, "")
		w(0, "vrrp_instance %s {", in.Name)
		// Every member starts as BACKUP: the election (by priority) decides, and nopreempt
		// requires it.
		w(1, "state BACKUP")
		w(1, "interface %s", in.Interface)
		w(1, "virtual_router_id %d", in.VRID)
		w(1, "priority %d", in.Priority)
		if !in.Preempt {
			w(1, "nopreempt")
		}
		w(1, "advert_int %d.%02d", adv/time.Second, (adv%time.Second)/(10*time.Millisecond))
		w(1, "unicast_src_ip %s", in.SourceIP)
		w(1, "unicast_peer {")
		peers := slices.Clone(in.Peers)
		slices.SortFunc(peers, netip.Addr.Compare)
		for _, p := range peers {
			w(2, "%s", p)
		}
		w(1, "}")
		// keepalived compares the addresses of virtual_ipaddress with those listed in each
		// advert it receives and ignores adverts that differ, so the VIPs, which change with
		// the load balancers on the pair and reach the two hosts at different moments, go
		// to virtual_ipaddress_excluded (not advertised), and virtual_ipaddress holds one
		// fixed anchor both hosts agree on: an address from 127.0.0.0/8 on lo, invisible
		// on the segment, untracked (no_track) so that instances sharing it on one host do
		// not disturb each other.
		w(1, "virtual_ipaddress {")
		w(2, "%s dev lo scope host no_track", anchor(in.VRID))
		w(1, "}")
		if len(in.VIPs) > 0 {
			w(1, "virtual_ipaddress_excluded {")
			vips := slices.Clone(in.VIPs)
			slices.SortFunc(vips, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
			for _, v := range vips {
				w(2, "%s dev %s", v, in.Interface)
			}
			w(1, "}")
		}
		w(1, "track_file {")
		w(2, "%s", healthTrack)
		if files.HoldDir != "" {
			w(2, "%s", holdTrack(in.Name))
		}
		w(1, "}")
		if len(in.Scripts) > 0 {
			w(1, "track_script {")
			names := slices.Clone(in.Scripts)
			slices.Sort(names)
			for _, s := range slices.Compact(names) {
				w(2, "%s", s)
			}
			w(1, "}")
		}
		// A removed instance reports DELETED rather than FAULT.
		w(1, "notify_deleted")
		w(0, "}")
	}
	return b.Bytes(), nil
}

// holdTrack is the name of the track_file that holds one instance (Files.HoldDir).
func holdTrack(instance string) string { return "hold_" + instance }

// anchor is the advertised address of an instance (see Render).
func anchor(vrid int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 254, 0, byte(vrid)}), 32)
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
