package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
)

// The agent's side of ACTIVE_STANDBY (docs/active-standby.md): it runs one keepalived
// (a vrrp.Supervisor, data in <data dir>/vrrp) for the VRRP groups of its configuration,
// started the first time the configuration has groups. keepalived plumbs the VIPs of the
// groups this node is MASTER of on the segment's interface; the engine serves the groups'
// listeners on both members, bound with IP_FREEBIND before the address is local. The
// engine's health feeds keepalived's track file: healthy once the engine runs the
// configuration, unhealthy when the agent stops (the VIPs leave before the listeners).
// State changes are reported in the next heartbeat, sent at once.
//
// The split-brain rule (docs/active-standby.md): the server names, in its heartbeat answer,
// the groups this node must not hold (Hold); the node keeps each in FAULT, through the
// group's hold file, for as long as the server keeps naming it, unless it hears its peer's
// adverts (the pair hears itself again: VRRP alone keeps one MASTER) or it has had no answer
// for longer than the hold lease (the server can no longer lift the order, and this member
// may be the lone survivor of its pair). A raw socket (vrrp.Adverts) tells which peers it
// hears.

// vrrpNode is the agent's keepalived and what it knows of its segments.
type vrrpNode struct {
	segments map[string]string // physical network → interface
	binary   string
	dir      string
	log      *slog.Logger
	advert   func()           // asks for a heartbeat now (a state changed)
	onEvent  func(vrrp.Event) // test hook, may be nil
	start    func(vrrp.Options, vrrp.Config) (*vrrp.Supervisor, error)

	listen   func() (*vrrp.Adverts, error)
	now      func() time.Time
	interval func() time.Duration // the heartbeat interval the server asks for

	mu       sync.Mutex
	sup      *vrrp.Supervisor
	adverts  *vrrp.Adverts // nil until keepalived runs, or when the raw socket cannot be had
	cfg      vrrp.Config
	announce func(ifc string, mac net.HardwareAddr, vips []netip.Prefix) error
	ordered  map[string]string // groups the server's last answer says to hold → the peer's MAC ("" = none)
	answer   time.Time         // when that answer came
	held     map[string]bool   // groups held now (Supervisor.Hold)
}

// holdCheck is how often the node looks at its holds (peer heard, lease expired).
const holdCheck = 50 * time.Millisecond

// holdLease is how long an order to hold lasts without a new heartbeat answer: four
// heartbeat intervals, at least 3 s (one heartbeat may time out without losing the order).
func holdLease(interval time.Duration) time.Duration { return max(4*interval, 3*time.Second) }

func newVRRPNode(a *Agent) *vrrpNode {
	if len(a.opts.Segments) == 0 {
		return nil
	}
	dir, err := filepath.Abs(a.path("vrrp"))
	if err != nil {
		dir = a.path("vrrp")
	}
	return &vrrpNode{segments: a.opts.Segments, binary: a.opts.Keepalived, dir: dir, start: vrrp.Start, log: a.log.With("component", "vrrp"),
		listen: vrrp.ListenAdverts, announce: vrrp.Announce, now: time.Now, interval: a.heartbeatInterval,
		ordered: map[string]string{}, held: map[string]bool{},
		advert: func() {
			select {
			case a.kick <- struct{}{}:
			default:
			}
		}}
}

// config builds keepalived's configuration for cfg's groups. An error names the group's
// field path (vrrp[i]...), so the agent refuses that group's load balancers only.
func (n *vrrpNode) config(cfg *dataplane.Config) (vrrp.Config, error) {
	out := vrrp.Config{RouterID: "fulcrum"}
	var errs []error
	for i, g := range cfg.VRRP {
		path := fmt.Sprintf("vrrp[%d]", i)
		ifc, ok := n.segments[g.Segment]
		if !ok {
			errs = append(errs, &dataplane.FieldError{Path: path + ".segment", Msg: fmt.Sprintf("this agent is not on segment %q (--segment)", g.Segment)})
			continue
		}
		src, err1 := netip.ParseAddr(g.SourceIP)
		peer, err2 := netip.ParseAddr(g.Peer)
		if err1 != nil || err2 != nil {
			errs = append(errs, &dataplane.FieldError{Path: path, Msg: "source_ip and peer must be addresses"})
			continue
		}
		in := vrrp.Instance{Name: g.Name, Interface: ifc, VRID: g.VRID, Priority: g.Priority, Preempt: g.Preempt,
			AdvertInterval: time.Duration(g.AdvertIntervalMS) * time.Millisecond, SourceIP: src, Peers: []netip.Addr{peer}}
		bad := false
		for _, id := range g.LoadBalancerIDs() {
			for _, s := range g.VIPs[id] {
				p, err := netip.ParsePrefix(s)
				if err != nil {
					errs = append(errs, &dataplane.FieldError{Path: path + ".vips", Msg: err.Error()})
					bad = true
					continue
				}
				in.VIPs = append(in.VIPs, p)
			}
		}
		if bad {
			continue // the group is refused whole, never run without a VIP it has
		}
		one := vrrp.Config{Instances: []vrrp.Instance{in}}
		if err := one.Validate(); err != nil {
			errs = append(errs, &dataplane.FieldError{Path: path, Msg: err.Error()})
			continue
		}
		out.Instances = append(out.Instances, in)
	}
	if err := out.Validate(); err != nil && len(errs) == 0 {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// apply runs keepalived with kc once the engine runs the configuration: it starts the
// supervisor the first time there are groups and declares the engine healthy.
func (n *vrrpNode) apply(kc vrrp.Config) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sup == nil {
		if len(kc.Instances) == 0 {
			return nil
		}
		sup, err := n.start(vrrp.Options{DataDir: n.dir, Binary: n.binary, Healthy: true,
			Logger: n.log, OnEvent: n.event}, kc)
		if err != nil {
			return fmt.Errorf("start keepalived: %w", err)
		}
		n.sup, n.cfg = sup, kc
		n.log.Info("keepalived started", "groups", len(kc.Instances))
		if ad, err := n.listen(); err != nil {
			// Without it a held group is let go only by the server (or the lease).
			n.log.Warn("cannot listen to VRRP adverts; held groups wait for the server", "err", err)
		} else {
			n.adverts = ad
		}
		n.watchLocked()
		return nil
	}
	if err := n.sup.Apply(kc); err != nil {
		return fmt.Errorf("keepalived: %w", err)
	}
	n.cfg = kc
	n.watchLocked()
	return n.sup.SetHealthy(true)
}

// withdraw stops the running groups kc no longer has, leaving the others as they run (apply
// brings them to kc afterwards). Nothing to do when none is dropped.
func (n *vrrpNode) withdraw(kc vrrp.Config) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sup == nil {
		return nil
	}
	keep := make(map[string]bool, len(kc.Instances))
	for _, in := range kc.Instances {
		keep[in.Name] = true
	}
	cur := n.cfg
	cur.Instances = nil
	for _, in := range n.cfg.Instances {
		if keep[in.Name] {
			cur.Instances = append(cur.Instances, in)
		}
	}
	if len(cur.Instances) == len(n.cfg.Instances) {
		return nil
	}
	if err := n.sup.Apply(cur); err != nil {
		return fmt.Errorf("keepalived: stop the groups this config drops: %w", err)
	}
	n.cfg = cur
	n.watchLocked()
	return nil
}

// watchLocked tells the advert listener the peers of the running groups. Callers hold n.mu.
func (n *vrrpNode) watchLocked() {
	if n.adverts == nil {
		return
	}
	keys := make([]vrrp.AdvertKey, 0, len(n.cfg.Instances))
	for _, in := range n.cfg.Instances {
		for _, p := range in.Peers {
			keys = append(keys, vrrp.AdvertKey{Peer: p, VRID: in.VRID})
		}
	}
	n.adverts.Watch(keys)
}

// answered records the groups a heartbeat answer says to hold, and applies them at once.
func (n *vrrpNode) answered(hold []dataplane.Hold) {
	n.mu.Lock()
	n.ordered = make(map[string]string, len(hold))
	for _, h := range hold {
		n.ordered[h.Group] = h.PeerMAC
	}
	n.answer = n.now()
	n.mu.Unlock()
	n.checkHolds()
}

// run checks the holds every holdCheck until ctx ends.
func (n *vrrpNode) run(ctx context.Context) {
	t := time.NewTicker(holdCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.checkHolds()
		}
	}
}

// checkHolds holds each group the server ordered held, unless its peer is heard or the
// order is older than the lease, and lets the others go. A change is reported at once.
func (n *vrrpNode) checkHolds() {
	n.mu.Lock()
	if n.sup == nil {
		n.mu.Unlock()
		return
	}
	now := n.now()
	fresh := now.Sub(n.answer) <= holdLease(n.interval())
	changed := false
	for _, in := range n.cfg.Instances {
		mac, ordered := n.ordered[in.Name]
		want := ordered && fresh && !n.peerHeardLocked(in, now)
		if want == n.held[in.Name] {
			continue
		}
		if hw, err := net.ParseMAC(mac); want && err == nil {
			// The clients this member still draws follow the one that keeps the VIPs
			// before they go from here.
			if err := n.announce(in.Interface, hw, in.VIPs); err != nil {
				n.log.Warn("cannot announce the VIPs at the peer's address before yielding them", "group", in.Name, "err", err)
			}
		}
		if err := n.sup.Hold(in.Name, want); err != nil {
			n.log.Error("cannot hold a VRRP group", "group", in.Name, "hold", want, "err", err)
			continue
		}
		if want {
			n.held[in.Name] = true
			n.log.Warn("holding a VRRP group in FAULT: the server sees two MASTERs and this one must yield (split brain)", "group", in.Name)
		} else {
			delete(n.held, in.Name)
			reason := "the server lifted the order"
			switch {
			case ordered && !fresh:
				reason = "no answer from the server within the hold lease"
			case ordered:
				reason = "the peer is heard again"
			}
			n.log.Info("VRRP group no longer held", "group", in.Name, "reason", reason)
		}
		changed = true
	}
	for name := range n.held {
		if !slices.ContainsFunc(n.cfg.Instances, func(in vrrp.Instance) bool { return in.Name == name }) {
			delete(n.held, name) // the group is gone; the supervisor dropped its hold
		}
	}
	n.mu.Unlock()
	if changed {
		n.advert()
	}
}

// peerHeardLocked reports whether an advert of in's peer, a MASTER's, came within the last
// three advert intervals. Callers hold n.mu.
func (n *vrrpNode) peerHeardLocked(in vrrp.Instance, now time.Time) bool {
	if n.adverts == nil || len(in.Peers) == 0 {
		return false
	}
	ad, ok := n.adverts.Last(vrrp.AdvertKey{Peer: in.Peers[0], VRID: in.VRID})
	adv := cmp.Or(in.AdvertInterval, vrrp.DefaultAdvertInterval)
	return ok && ad.Priority > 0 && now.Sub(ad.At) <= 3*adv
}

func (n *vrrpNode) event(ev vrrp.Event) {
	if n.onEvent != nil {
		n.onEvent(ev)
	}
	n.advert()
}

// states reports the state of each configured group (none before keepalived runs).
func (n *vrrpNode) states() []dataplane.VRRPState {
	n.mu.Lock()
	sup, cfg := n.sup, n.cfg
	now := n.now()
	heard := map[string]bool{}
	held := map[string]bool{}
	for _, in := range cfg.Instances {
		heard[in.Name] = n.peerHeardLocked(in, now)
		held[in.Name] = n.held[in.Name]
	}
	n.mu.Unlock()
	if sup == nil {
		return nil
	}
	evs := sup.States()
	out := make([]dataplane.VRRPState, 0, len(cfg.Instances))
	for _, in := range cfg.Instances {
		ev, ok := evs[in.Name]
		st := dataplane.VRRPBackup
		if !ok {
			// Not reported yet: a new instance starts as BACKUP (it is not
			// holding the VIP).
			out = append(out, dataplane.VRRPState{Group: in.Name, State: st, Priority: in.Priority,
				PeerHeard: heard[in.Name], Held: held[in.Name]})
			continue
		}
		switch ev.State {
		case vrrp.StateMaster:
			st = dataplane.VRRPMaster
		case vrrp.StateFault:
			st = dataplane.VRRPFault
		case vrrp.StateStop:
			st = dataplane.VRRPStop
		case vrrp.StateStopped:
			st = dataplane.VRRPStopped
		}
		out = append(out, dataplane.VRRPState{Group: in.Name, State: st, Priority: ev.Priority, Since: ev.At.UTC(),
			PeerHeard: heard[in.Name], Held: held[in.Name]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// segmentsNow reports the agent's segments with the interface's first IPv4 address and
// its hardware address.
func (n *vrrpNode) segmentsNow() []dataplane.Segment {
	names := make([]string, 0, len(n.segments))
	for s := range n.segments {
		names = append(names, s)
	}
	sort.Strings(names)
	var out []dataplane.Segment
	for _, s := range names {
		ifc, err := net.InterfaceByName(n.segments[s])
		if err != nil {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil || !ipn.IP.IsGlobalUnicast() {
				continue
			}
			ones, _ := ipn.Mask.Size()
			ip, _ := netip.AddrFromSlice(ipn.IP.To4())
			// keepalived's own VIPs are /32: the interface's address is the one with
			// the segment's prefix.
			if ones == 32 {
				continue
			}
			seg := dataplane.Segment{Name: s, Interface: ifc.Name, Address: netip.PrefixFrom(ip, ones).String()}
			if len(ifc.HardwareAddr) == 6 {
				seg.MAC = ifc.HardwareAddr.String()
			}
			out = append(out, seg)
			break
		}
	}
	return out
}

// close declares the engine unhealthy (the VIPs leave at once, the peer takes over) and
// stops keepalived.
func (n *vrrpNode) close() {
	n.mu.Lock()
	sup, ad := n.sup, n.adverts
	n.sup, n.adverts = nil, nil
	n.held = map[string]bool{}
	n.mu.Unlock()
	if sup != nil {
		_ = sup.SetHealthy(false)
		_ = sup.Close()
	}
	if ad != nil {
		_ = ad.Close()
	}
}

// withoutGroups drops the groups holding a VIP of a dropped load balancer: a node must not
// take the VIP of a load balancer its engine does not serve.
func withoutGroups(groups []dataplane.VRRPGroup, lbs map[string]string) []dataplane.VRRPGroup {
	var out []dataplane.VRRPGroup
	for _, g := range groups {
		keep := true
		for id := range g.VIPs {
			if _, drop := lbs[id]; drop {
				keep = false
			}
		}
		if keep {
			out = append(out, g)
		}
	}
	return out
}

// checkHold keeps the valid entries of a heartbeat answer's Hold (at most 255): a group
// name, and a MAC address or none (an invalid one is dropped, the hold kept).
func checkHold(hold []dataplane.Hold) []dataplane.Hold {
	var out []dataplane.Hold
	for _, h := range hold {
		if len(out) == 255 {
			break
		}
		if !vrrpGroupName.MatchString(h.Group) {
			continue
		}
		if hw, err := net.ParseMAC(h.PeerMAC); err != nil || len(hw) != 6 {
			h.PeerMAC = ""
		}
		out = append(out, h)
	}
	return out
}

var vrrpGroupName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
