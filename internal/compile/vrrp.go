package compile

import (
	"net/netip"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// VRRP is one node's membership of an ACTIVE_STANDBY load balancer's VRRP group: what the
// placement decided (docs/active-standby.md). The fragment of each member carries the same
// listeners and its own group entry.
type VRRP struct {
	Group   string // instance name, the same on both members
	Segment string // physical network of the VIP
	VRID    int
	// Priority is this member's (100 MASTER, 90 BACKUP, 254 while promoted); Preempt only
	// while promoted by a planned failover.
	Priority         int
	Preempt          bool
	AdvertIntervalMS int
	// SourceIP is this member's address on the segment, Peer the other member's.
	SourceIP, Peer string
}

// vrrpGroup is the group entry of a fragment: the load balancer's VIP and additional VIPs
// (host prefixes) on the segment. Floating addresses are not plumbed by VRRP.
func vrrpGroup(l *lb.LoadBalancer, v *VRRP) []dataplane.VRRPGroup {
	var vips []string
	add := func(a string) {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return // the contract's validation names it
		}
		vips = append(vips, netip.PrefixFrom(ip, ip.BitLen()).String())
	}
	add(l.VIP.Address)
	for _, x := range l.AdditionalVIPs {
		add(x.IPAddress)
	}
	return []dataplane.VRRPGroup{{Name: v.Group, Segment: v.Segment, VRID: v.VRID, Priority: v.Priority, Preempt: v.Preempt,
		AdvertIntervalMS: v.AdvertIntervalMS, SourceIP: v.SourceIP, Peer: v.Peer, VIPs: map[string][]string{l.ID: vips}}}
}
