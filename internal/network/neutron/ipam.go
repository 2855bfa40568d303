package neutron

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
)

// Errors of the IPAM rules. Messages are Neutron's where a client sees them.
var (
	ErrNoFreeAddress = errors.New("no more IP addresses available")
	ErrOutOfRange    = errors.New("address not in subnet")
)

// BadRequestError is a rule violation whose message is the complete,
// user-safe Neutron message; the API answers it with 400 BadRequest.
type BadRequestError struct{ Msg string }

func (e *BadRequestError) Error() string { return e.Msg }

func invalid(format string, args ...any) error {
	return &BadRequestError{Msg: fmt.Sprintf(format, args...)}
}

// ParseSubnet validates a subnet's addressing and fills in defaults: the
// canonical CIDR, the IP version, the gateway (the first host address unless
// noGateway) and the allocation pools (every host address but the gateway;
// IPv4 also excludes the network and broadcast addresses). It returns a
// user-safe error naming the offending field.
func ParseSubnet(s *Subnet, noGateway bool) error {
	pfx, err := netip.ParsePrefix(s.CIDR)
	if err != nil {
		return invalid("Invalid input for cidr. Reason: '%s' is not a valid IP subnet.", s.CIDR)
	}
	if pfx.Masked() != pfx {
		return invalid("Invalid input for cidr. Reason: '%s' isn't a recommended CIDR, did you mean '%s'?", s.CIDR, pfx.Masked())
	}
	version := 4
	if pfx.Addr().Is6() {
		version = 6
	}
	if s.IPVersion != 0 && s.IPVersion != version {
		return invalid("Invalid input for operation: Cidr %s does not match ip_version %d.", s.CIDR, s.IPVersion)
	}
	s.IPVersion = version
	s.CIDR = pfx.String()
	first, last := hostRange(pfx)
	if !first.IsValid() {
		return invalid("Invalid input for cidr. Reason: subnet %s has no usable addresses.", s.CIDR)
	}
	switch {
	case noGateway:
		s.GatewayIP = ""
	case s.GatewayIP == "":
		s.GatewayIP = first.String()
	default:
		gw, err := netip.ParseAddr(s.GatewayIP)
		if err != nil || gw.Is4() != pfx.Addr().Is4() {
			return invalid("Invalid input for gateway_ip. Reason: '%s' is not a valid IP address.", s.GatewayIP)
		}
		s.GatewayIP = gw.String()
	}
	if len(s.AllocationPools) == 0 {
		s.AllocationPools = defaultPools(first, last, s.GatewayIP)
		return nil
	}
	var ranges [][2]netip.Addr
	for _, p := range s.AllocationPools {
		a, err1 := netip.ParseAddr(p.Start)
		b, err2 := netip.ParseAddr(p.End)
		if err1 != nil || err2 != nil || !pfx.Contains(a) || !pfx.Contains(b) || b.Less(a) {
			return invalid("The allocation pool %s-%s spans beyond the subnet cidr %s.", p.Start, p.End, s.CIDR)
		}
		if s.GatewayIP != "" {
			gw := netip.MustParseAddr(s.GatewayIP)
			if !gw.Less(a) && !b.Less(gw) {
				return invalid("Gateway ip %s conflicts with allocation pool %s-%s.", s.GatewayIP, p.Start, p.End)
			}
		}
		for _, r := range ranges {
			if !b.Less(r[0]) && !r[1].Less(a) {
				return invalid("Found overlapping allocation pools: %s-%s and %s-%s for subnet %s.", r[0], r[1], a, b, s.CIDR)
			}
		}
		ranges = append(ranges, [2]netip.Addr{a, b})
	}
	for i := range s.AllocationPools {
		s.AllocationPools[i] = AllocationPool{Start: ranges[i][0].String(), End: ranges[i][1].String()}
	}
	return nil
}

// hostRange is the first and last assignable address of pfx: IPv4 leaves
// out the network and broadcast addresses (except for /31 and /32), IPv6
// leaves out the subnet-router anycast address (except for /127 and /128).
func hostRange(pfx netip.Prefix) (first, last netip.Addr) {
	first = pfx.Addr()
	last = lastAddr(pfx)
	bits := pfx.Addr().BitLen()
	if pfx.Bits() >= bits-1 {
		return first, last
	}
	first = first.Next()
	if pfx.Addr().Is4() {
		last = last.Prev()
	}
	return first, last
}

func lastAddr(pfx netip.Prefix) netip.Addr {
	b := pfx.Addr().AsSlice()
	for i := range b {
		keep := pfx.Bits() - 8*i
		switch {
		case keep >= 8:
		case keep <= 0:
			b[i] = 0xff
		default:
			b[i] |= byte(0xff >> keep)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func defaultPools(first, last netip.Addr, gateway string) []AllocationPool {
	if gateway == "" {
		return []AllocationPool{{Start: first.String(), End: last.String()}}
	}
	gw := netip.MustParseAddr(gateway)
	if gw.Less(first) || last.Less(gw) {
		return []AllocationPool{{Start: first.String(), End: last.String()}}
	}
	var out []AllocationPool
	if first.Less(gw) {
		out = append(out, AllocationPool{Start: first.String(), End: gw.Prev().String()})
	}
	if gw.Less(last) {
		out = append(out, AllocationPool{Start: gw.Next().String(), End: last.String()})
	}
	return out
}

// Contains reports whether ip is inside the subnet's CIDR.
func (s *Subnet) Contains(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	pfx, err := netip.ParsePrefix(s.CIDR)
	return err == nil && pfx.Contains(a.Unmap())
}

// InPools reports whether ip is inside one of the subnet's allocation pools.
func (s *Subnet) InPools(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	for _, p := range s.AllocationPools {
		start, err1 := netip.ParseAddr(p.Start)
		end, err2 := netip.ParseAddr(p.End)
		if err1 == nil && err2 == nil && !a.Less(start) && !end.Less(a) {
			return true
		}
	}
	return false
}

// LowestFree returns the lowest address of the subnet's allocation pools
// (pools in address order) that is not in used, or ErrNoFreeAddress. used
// holds canonical address strings.
func (s *Subnet) LowestFree(used []string) (string, error) {
	taken := make([]netip.Addr, 0, len(used))
	for _, u := range used {
		if a, err := netip.ParseAddr(u); err == nil {
			taken = append(taken, a)
		}
	}
	slices.SortFunc(taken, func(a, b netip.Addr) int { return a.Compare(b) })
	pools := slices.Clone(s.AllocationPools)
	slices.SortFunc(pools, func(a, b AllocationPool) int {
		return netip.MustParseAddr(a.Start).Compare(netip.MustParseAddr(b.Start))
	})
	i := 0
	for _, p := range pools {
		start, err1 := netip.ParseAddr(p.Start)
		end, err2 := netip.ParseAddr(p.End)
		if err1 != nil || err2 != nil {
			continue
		}
		for a := start; a.IsValid() && !end.Less(a); a = a.Next() {
			for i < len(taken) && taken[i].Less(a) {
				i++
			}
			if i < len(taken) && taken[i] == a {
				continue
			}
			return a.String(), nil
		}
	}
	return "", ErrNoFreeAddress
}

// PoolSize is the number of addresses in the subnet's allocation pools.
func (s *Subnet) PoolSize() *big.Int {
	n := new(big.Int)
	for _, p := range s.AllocationPools {
		a, err1 := netip.ParseAddr(p.Start)
		b, err2 := netip.ParseAddr(p.End)
		if err1 != nil || err2 != nil {
			continue
		}
		d := new(big.Int).Sub(new(big.Int).SetBytes(b.AsSlice()), new(big.Int).SetBytes(a.AsSlice()))
		n.Add(n, d.Add(d, big.NewInt(1)))
	}
	return n
}

// Choose picks the address IPAM hands out next on the subnet: the lowest
// address of the allocation pools never handed out before (not in used,
// never released), else the free pool address released longest ago (ties
// by address). used holds the canonical addresses allocated now (and the
// gateway); released the subnet's release records. It returns
// ErrNoFreeAddress when every pool address is in use.
func (s *Subnet) Choose(used []string, released []IPRelease) (string, error) {
	seen := make([]string, 0, len(used)+len(released))
	seen = append(seen, used...)
	for _, r := range released {
		seen = append(seen, r.IPAddress)
	}
	if ip, err := s.LowestFree(seen); err == nil {
		return ip, nil
	}
	inUse := make(map[netip.Addr]bool, len(used))
	for _, u := range used {
		if a, err := netip.ParseAddr(u); err == nil {
			inUse[a] = true
		}
	}
	order := slices.Clone(released)
	slices.SortFunc(order, func(a, b IPRelease) int {
		if c := a.ReleasedAt.Compare(b.ReleasedAt); c != 0 {
			return c
		}
		x, _ := netip.ParseAddr(a.IPAddress)
		y, _ := netip.ParseAddr(b.IPAddress)
		return x.Compare(y)
	})
	for _, r := range order {
		a, err := netip.ParseAddr(r.IPAddress)
		if err != nil || inUse[a] || !s.InPools(r.IPAddress) {
			continue
		}
		return a.String(), nil
	}
	return "", ErrNoFreeAddress
}
