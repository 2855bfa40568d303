package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
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

// vrrpNode is the agent's keepalived and what it knows of its segments.
type vrrpNode struct {
	segments map[string]string // physical network → interface
	binary   string
	dir      string
	log      *slog.Logger
	advert   func()           // asks for a heartbeat now (a state changed)
	onEvent  func(vrrp.Event) // test hook, may be nil
	start    func(vrrp.Options, vrrp.Config) (*vrrp.Supervisor, error)

	mu  sync.Mutex
	sup *vrrp.Supervisor
	cfg vrrp.Config
}

func newVRRPNode(a *Agent) *vrrpNode {
	if len(a.opts.Segments) == 0 {
		return nil
	}
	dir, err := filepath.Abs(a.path("vrrp"))
	if err != nil {
		dir = a.path("vrrp")
	}
	return &vrrpNode{segments: a.opts.Segments, binary: a.opts.Keepalived, dir: dir, start: vrrp.Start, log: a.log.With("component", "vrrp"),
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
		for _, id := range g.LoadBalancerIDs() {
			for _, s := range g.VIPs[id] {
				p, err := netip.ParsePrefix(s)
				if err != nil {
					errs = append(errs, &dataplane.FieldError{Path: path + ".vips", Msg: err.Error()})
					continue
				}
				in.VIPs = append(in.VIPs, p)
			}
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
		return nil
	}
	if err := n.sup.Apply(kc); err != nil {
		return fmt.Errorf("keepalived: %w", err)
	}
	n.cfg = kc
	return n.sup.SetHealthy(true)
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
			out = append(out, dataplane.VRRPState{Group: in.Name, State: st, Priority: in.Priority})
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
		out = append(out, dataplane.VRRPState{Group: in.Name, State: st, Priority: ev.Priority, Since: ev.At.UTC()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// segmentsNow reports the agent's segments with the interface's first IPv4 address.
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
			out = append(out, dataplane.Segment{Name: s, Interface: ifc.Name, Address: netip.PrefixFrom(ip, ones).String()})
			break
		}
	}
	return out
}

// close declares the engine unhealthy (the VIPs leave at once, the peer takes over) and
// stops keepalived.
func (n *vrrpNode) close() {
	n.mu.Lock()
	sup := n.sup
	n.sup = nil
	n.mu.Unlock()
	if sup != nil {
		_ = sup.SetHealthy(false)
		_ = sup.Close()
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
