package lb

import (
	"fmt"
	"net/netip"
	"strings"
)

// DefaultMemberDeny is denied unless configured otherwise: the cloud
// metadata address (Octavia's [networking] reserved_ips).
var DefaultMemberDeny = []string{"169.254.169.254/32"}

// MemberAddressPolicy decides which member addresses are acceptable: an
// address must be inside an Allow prefix (any address when Allow is empty)
// and inside no Deny prefix. The zero value allows everything.
type MemberAddressPolicy struct {
	Allow []netip.Prefix
	Deny  []netip.Prefix
}

// ParseMemberAddressPolicy parses CIDRs or bare addresses (a bare address
// is a /32 or /128).
func ParseMemberAddressPolicy(allow, deny []string) (MemberAddressPolicy, error) {
	var p MemberAddressPolicy
	var err error
	if p.Allow, err = parsePrefixes(allow); err != nil {
		return p, fmt.Errorf("member address allow list: %w", err)
	}
	if p.Deny, err = parsePrefixes(deny); err != nil {
		return p, fmt.Errorf("member address deny list: %w", err)
	}
	return p, nil
}

func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is neither an address nor a CIDR", s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR", s)
		}
		out = append(out, pfx.Masked())
	}
	return out, nil
}

// Allowed reports whether addr passes the policy.
func (p MemberAddressPolicy) Allowed(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, d := range p.Deny {
		if d.Contains(a) {
			return false
		}
	}
	if len(p.Allow) == 0 {
		return true
	}
	for _, al := range p.Allow {
		if al.Contains(a) {
			return true
		}
	}
	return false
}

// Check returns Octavia's 400 "<ip> is not a valid option for member
// address" when the member's address (or its monitor_address, which the
// data plane probes too) fails the policy.
func (p MemberAddressPolicy) Check(m *Member) error {
	if !p.Allowed(m.Address) {
		return InvalidOption(shownAddress(m.Address), "member address")
	}
	if m.MonitorAddress != "" && !p.Allowed(m.MonitorAddress) {
		return InvalidOption(shownAddress(m.MonitorAddress), "member monitor_address")
	}
	return nil
}

// shownAddress renders an address as Octavia does in this message: IPv6
// expanded and upper case.
func shownAddress(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Is4In6() {
		return s
	}
	return strings.ToUpper(a.StringExpanded())
}
