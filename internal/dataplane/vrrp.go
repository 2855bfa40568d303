package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"time"
)

// CapabilityVRRP is the capability an agent advertises (Heartbeat.Capabilities) when it
// runs VRRP groups: it has keepalived and at least one segment (Heartbeat.Segments). The
// server gives VRRP groups to such agents only.
const CapabilityVRRP = "vrrp"

// VRRPGroup is one VRRP instance on this node: two agents on one segment that hold the
// VIPs of the load balancers in VIPs, one at a time (docs/active-standby.md). Both members
// run the load balancers' listeners (in Config.Listeners, as for any load balancer), bound
// to the VIPs whether or not they hold them, so a takeover needs no configuration push.
type VRRPGroup struct {
	// Name is the instance name, the same on both members: letters, digits, '_', '.', '-',
	// at most 64.
	Name string `json:"name"`
	// Segment is the physical network; the agent maps it to its interface (--segment).
	Segment string `json:"segment"`
	// VRID is the virtual router id, 1–255, unique among the node's groups.
	VRID int `json:"vrid"`
	// Priority is this node's (Octavia's vrrp_priority), 1–254. Preempt lets it take the
	// VIPs from a member of lower priority: set only while a planned failover promotes this
	// node.
	Priority int  `json:"priority"`
	Preempt  bool `json:"preempt,omitempty"`
	// AdvertIntervalMS is how often the MASTER advertises: a multiple of 10 from 10 to 40950.
	AdvertIntervalMS int `json:"advert_interval_ms"`
	// SourceIP is this node's address on the segment (vrrp_ip); Peer the other member's.
	// IPv4.
	SourceIP string `json:"source_ip"`
	Peer     string `json:"peer"`
	// VIPs maps each load balancer of the group to its addresses with prefix length (the
	// VIP, additional VIPs): the MASTER plumbs them on the segment's interface.
	VIPs map[string][]string `json:"vips"`
}

// LoadBalancerIDs returns the load balancers of the group, sorted.
func (g *VRRPGroup) LoadBalancerIDs() []string {
	out := make([]string, 0, len(g.VIPs))
	for id := range g.VIPs {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Segment is one physical network an agent is attached to.
type Segment struct {
	// Name is the physical network's name (as in --segment NAME=IFACE).
	Name string `json:"name"`
	// Interface is the agent's interface on it (Octavia's vrrp_interface).
	Interface string `json:"interface"`
	// Address is the agent's address there with the segment's prefix length (vrrp_ip).
	Address string `json:"address"`
	// MAC is the interface's hardware address (a peer that yields the VIPs announces them
	// there). Optional.
	MAC string `json:"mac,omitempty"`
}

// VRRP states an agent reports (VRRPState.State).
const (
	VRRPMaster  = "MASTER"
	VRRPBackup  = "BACKUP"
	VRRPFault   = "FAULT"
	VRRPStop    = "STOP"
	VRRPStopped = "STOPPED" // keepalived is not running (being restarted)
)

// VRRPState is the state of one VRRP group on the reporting agent.
type VRRPState struct {
	Group    string    `json:"group"`
	State    string    `json:"state"`
	Priority int       `json:"priority"`
	Since    time.Time `json:"since"`
	// PeerHeard: the agent heard an advert of the group's peer (a MASTER's, priority above
	// 0) within the last three advert intervals. A healthy BACKUP hears its MASTER; a
	// MASTER hears nothing from a healthy BACKUP, which is silent.
	PeerHeard bool `json:"peer_heard,omitempty"`
	// Held: the agent keeps the group in FAULT because the server said so
	// (HeartbeatResponse.Hold).
	Held bool `json:"held,omitempty"`
}

var vrrpNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// maxVRRPGroups bounds the groups of one node: VRIDs are unique per node.
const maxVRRPGroups = 255

// vrrp checks c.VRRP (called by Validate).
func (v *validator) vrrp(c *Config) {
	if len(c.VRRP) > maxVRRPGroups {
		v.add("vrrp", "%d groups, at most %d (one virtual router id each)", len(c.VRRP), maxVRRPGroups)
		return
	}
	names := map[string]int{}
	vrids := map[int]int{}
	vips := map[netip.Addr]string{}
	for i := range c.VRRP {
		g := &c.VRRP[i]
		path := fmt.Sprintf("vrrp[%d]", i)
		if !vrrpNameRE.MatchString(g.Name) {
			v.add(path+".name", "%q: letters, digits, '_', '.', '-', 1 to 64", g.Name)
		} else if j, dup := names[g.Name]; dup {
			v.add(path+".name", "duplicate name %q (also vrrp[%d])", g.Name, j)
		} else {
			names[g.Name] = i
		}
		if g.Segment == "" || len(g.Segment) > 64 {
			v.add(path+".segment", "required, at most 64 bytes")
		}
		if g.VRID < 1 || g.VRID > 255 {
			v.add(path+".vrid", "%d is outside 1-255", g.VRID)
		} else if j, dup := vrids[g.VRID]; dup {
			v.add(path+".vrid", "%d is also the id of vrrp[%d]", g.VRID, j)
		} else {
			vrids[g.VRID] = i
		}
		if g.Priority < 1 || g.Priority > 254 {
			v.add(path+".priority", "%d is outside 1-254", g.Priority)
		}
		if a := g.AdvertIntervalMS; a < 10 || a > 40950 || a%10 != 0 {
			v.add(path+".advert_interval_ms", "%d: a multiple of 10 from 10 to 40950", a)
		}
		src, err := netip.ParseAddr(g.SourceIP)
		if err != nil || !src.Is4() || !src.IsGlobalUnicast() {
			v.add(path+".source_ip", "%q: an IPv4 unicast address is required", g.SourceIP)
		}
		peer, err := netip.ParseAddr(g.Peer)
		if err != nil || !peer.Is4() || !peer.IsGlobalUnicast() {
			v.add(path+".peer", "%q: an IPv4 unicast address is required", g.Peer)
		} else if peer == src {
			v.add(path+".peer", "%s is the source address", peer)
		}
		if len(g.VIPs) == 0 {
			v.add(path+".vips", "at least one load balancer required")
		}
		for _, id := range g.LoadBalancerIDs() {
			vp := fmt.Sprintf("%s.vips[%q]", path, id)
			if id == "" {
				v.add(vp, "load balancer id required")
			}
			if len(g.VIPs[id]) == 0 {
				v.add(vp, "at least one address required")
			}
			for j, s := range g.VIPs[id] {
				p, err := netip.ParsePrefix(s)
				if err != nil || p.Addr().Zone() != "" || !p.Addr().IsGlobalUnicast() {
					v.add(fmt.Sprintf("%s[%d]", vp, j), "%q: a unicast address with a prefix length is required", s)
					continue
				}
				a := p.Addr()
				if a == src || a == peer {
					v.add(fmt.Sprintf("%s[%d]", vp, j), "%s is the address of a member", a)
				} else if other, dup := vips[a]; dup {
					v.add(fmt.Sprintf("%s[%d]", vp, j), "%s is also a VIP of %s", a, other)
				} else {
					vips[a] = vp
				}
			}
		}
	}
}

// CheckVRRP checks what a heartbeat says about VRRP (capabilities, segments, states): at
// most 16 capabilities and 64 segments, names and interfaces of sane size, addresses with a
// prefix length, at most 255 states of known values.
func (hb *Heartbeat) CheckVRRP() error {
	if len(hb.Capabilities) > 16 {
		return fmt.Errorf("capabilities: %d, at most 16", len(hb.Capabilities))
	}
	for i, c := range hb.Capabilities {
		if c == "" || len(c) > 64 {
			return fmt.Errorf("capabilities[%d]: 1 to 64 bytes", i)
		}
	}
	if len(hb.Segments) > 64 {
		return fmt.Errorf("segments: %d, at most 64", len(hb.Segments))
	}
	for i, s := range hb.Segments {
		if s.Name == "" || len(s.Name) > 64 || s.Interface == "" || len(s.Interface) > 15 {
			return fmt.Errorf("segments[%d]: name (1 to 64 bytes) and interface (1 to 15) required", i)
		}
		if p, err := netip.ParsePrefix(s.Address); err != nil || !p.Addr().Is4() {
			return fmt.Errorf("segments[%d].address: %q: an IPv4 address with a prefix length is required", i, s.Address)
		}
		if hw, err := net.ParseMAC(s.MAC); s.MAC != "" && (err != nil || len(hw) != 6) {
			return fmt.Errorf("segments[%d].mac: %q: an Ethernet address is required", i, s.MAC)
		}
	}
	if len(hb.VRRP) > maxVRRPGroups {
		return fmt.Errorf("vrrp: %d states, at most %d", len(hb.VRRP), maxVRRPGroups)
	}
	for i, s := range hb.VRRP {
		if !vrrpNameRE.MatchString(s.Group) {
			return fmt.Errorf("vrrp[%d].group: %q is not a group name", i, s.Group)
		}
		switch s.State {
		case VRRPMaster, VRRPBackup, VRRPFault, VRRPStop, VRRPStopped:
		default:
			return fmt.Errorf("vrrp[%d].state: %q is not MASTER, BACKUP, FAULT, STOP or STOPPED", i, s.State)
		}
		if s.Priority < 0 || s.Priority > 255 {
			return fmt.Errorf("vrrp[%d].priority: %d is outside 0-255", i, s.Priority)
		}
	}
	return nil
}

// VRRPGroupName is the VRRP group of an ACTIVE_STANDBY load balancer: one group (keepalived
// instance) per load balancer, the name under which its members report its state.
func VRRPGroupName(lbID string) string { return "lb-" + lbID }
