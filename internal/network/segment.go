package network

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
)

// Segment network mode (`--network segment --segment NAME=CIDR`): VIPs are served on the
// named physical networks the data-plane agents are attached to (`fulcrum agent --segment
// NAME=INTERFACE`), where ACTIVE_STANDBY pairs move them between agents by VRRP
// (docs/active-standby.md), instead of on each host's loopback interface. A subnet must lie
// inside the range of one segment, or in the loopback mode's ranges (served on loopback, by
// SINGLE load balancers only); subnets still share one address space and never overlap.
// The agents' own addresses on a segment are the operator's to keep out of the subnets'
// allocation pools: the provider refuses a pair whose VIP is a member's address.

// Segment is one physical network VIP subnets may be made on.
type Segment struct {
	Name   string
	Ranges []netip.Prefix
}

// Segments are the segments of segment network mode, by name.
type Segments []Segment

var segmentNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ParseSegments reads --segment values: NAME=CIDR, a name (letters, digits, '_', '.', '-',
// at most 64) and a canonical IPv4 or IPv6 range; a name given twice gets both ranges.
// Ranges may not overlap each other or the loopback ranges.
func ParseSegments(values []string) (Segments, error) {
	byName := map[string]*Segment{}
	var all []netip.Prefix
	for _, v := range values {
		name, cidr, ok := strings.Cut(v, "=")
		if !ok || !segmentNameRE.MatchString(name) {
			return nil, fmt.Errorf("%q: want NAME=CIDR with a name of letters, digits, '_', '.', '-' (at most 64)", v)
		}
		p, err := netip.ParsePrefix(cidr)
		if err != nil || p != p.Masked() {
			return nil, fmt.Errorf("%q: %q is not a canonical CIDR", v, cidr)
		}
		for _, r := range append(append([]netip.Prefix(nil), LoopbackRanges...), all...) {
			if r.Overlaps(p) {
				return nil, fmt.Errorf("%q: %s overlaps %s", v, p, r)
			}
		}
		all = append(all, p)
		s := byName[name]
		if s == nil {
			s = &Segment{Name: name}
			byName[name] = s
		}
		s.Ranges = append(s.Ranges, p)
	}
	out := make(Segments, 0, len(byName))
	for _, s := range byName {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Of returns the segment whose range holds pfx entirely, or "".
func (ss Segments) Of(pfx netip.Prefix) string {
	for _, s := range ss {
		for _, r := range s.Ranges {
			if r.Bits() <= pfx.Bits() && r.Contains(pfx.Addr()) {
				return s.Name
			}
		}
	}
	return ""
}

// refusal is the 400 for a subnet no segment (nor loopback) can serve.
func (ss Segments) refusal(cidr string) error {
	var names []string
	for _, s := range ss {
		for _, r := range s.Ranges {
			names = append(names, fmt.Sprintf("%s (%s)", r, s.Name))
		}
	}
	return invalidInput(fmt.Sprintf("Requested subnet with cidr: %s cannot be served in segment network mode: a subnet must lie inside a segment's range, %s, or inside 127.0.0.0/8 (outside %s) for load balancers served on loopback.",
		cidr, strings.Join(names, ", "), HostRange))
}

// WithSegments makes v allocate in segment network mode: subnets of the segments are
// servable too.
func (v *VIPs) WithSegments(ss Segments) *VIPs {
	v.space.segments = ss
	return v
}
