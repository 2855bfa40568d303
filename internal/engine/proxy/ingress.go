package proxy

import (
	"net/netip"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// AddrSet is a set of client networks: host prefixes (/32, /128) in a map,
// wider ones in a list, so that a security group resolved to many member
// addresses costs one map lookup per connection. The zero value admits
// nobody. It is immutable once built.
type AddrSet struct {
	hosts    map[netip.Addr]struct{}
	prefixes []netip.Prefix
}

// NewAddrSet builds the set of in (CIDRs that do not parse are skipped:
// dataplane.Config.Validate refuses them).
func NewAddrSet(in []string) *AddrSet {
	s := &AddrSet{hosts: map[netip.Addr]struct{}{}}
	for _, c := range in {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			continue
		}
		p = p.Masked()
		if p.IsSingleIP() {
			s.hosts[p.Addr().Unmap()] = struct{}{}
			continue
		}
		s.prefixes = append(s.prefixes, p)
	}
	return s
}

// Contains reports whether addr (an IPv4-mapped IPv6 address counts as
// IPv4) is in the set.
func (s *AddrSet) Contains(addr netip.Addr) bool {
	addr = addr.Unmap()
	if _, ok := s.hosts[addr]; ok {
		return true
	}
	for _, p := range s.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func ingressSet(in *dataplane.Ingress) *AddrSet {
	if in == nil {
		return nil
	}
	return NewAddrSet(in.Allow)
}

// IngressAdmits reports whether the listener's security-group filter
// (dataplane.Listener.Ingress) admits a client at addr; true when it has
// none.
func (f *Frontend) IngressAdmits(addr netip.Addr) bool {
	return f.Ingress == nil || f.Ingress.Contains(addr)
}
