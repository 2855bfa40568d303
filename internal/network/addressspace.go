package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Loopback network mode serves every subnet on this host's loopback
// interface: a VIP or floating address is bound where the data plane runs,
// so a subnet must be a range the host routes to itself, and all subnets,
// whatever their network or project, share one address space.
var (
	// LoopbackRanges are the ranges a subnet may take in loopback mode.
	LoopbackRanges = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	// HostRange is left to the host's own services (127.0.0.1, systemd's
	// 127.0.0.53, Debian's 127.0.1.1): a subnet there would let a tenant's
	// load balancer answer on the host's own addresses.
	HostRange = netip.MustParsePrefix("127.0.0.0/16")
)

// addressSpace holds the rules of the network mode for subnets and
// addresses.
type addressSpace struct {
	// any: subnets may take any range and overlap (noop network mode);
	// addresses are unique per subnet only.
	any bool
	// segments: segment network mode (segment.go).
	segments Segments
	// minPrefix is the shortest IPv4 prefix a caller who is not an admin
	// may give a subnet in loopback mode (0: any).
	minPrefix int
	// hints speed up the choice of the next address (iphints.go); nil:
	// every choice reads the subnet's allocations.
	hints *ipHints
}

// spaceLock is the lock row every subnet create of the loopback mode
// takes (migration 0055 makes it).
const spaceLock = "address-space"

// lock serialises the subnet creates whose ranges the overlap check
// compares: in loopback mode all of them (one address space), otherwise
// those of one network. On SQLite writers are serialised anyway; on
// PostgreSQL, without it, two transactions could each find no overlap and
// both commit.
func (a addressSpace) lock(ctx context.Context, tx store.Tx, networkID string) error {
	if a.any {
		_, err := tx.Networks().Lock(ctx, networkID)
		return err
	}
	_, err := tx.NetworkLocks().Lock(ctx, spaceLock)
	if errors.Is(err, store.ErrNotFound) {
		if _, err = tx.NetworkLocks().CreateIfAbsent(ctx, &neutron.Lock{ID: spaceLock}); err == nil {
			_, err = tx.NetworkLocks().Lock(ctx, spaceLock)
		}
	}
	if err != nil {
		return fmt.Errorf("lock the address space: %w", err)
	}
	return nil
}

// checkSize refuses, in loopback mode, an IPv4 subnet wider than
// minPrefix unless admin: subnets share the host's address space, and a
// member claiming 127.128.0.0/9 would keep every other project out of half
// of it.
func (a addressSpace) checkSize(cidr string, admin bool) error {
	if a.any || admin || a.minPrefix <= 0 {
		return nil
	}
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil || !pfx.Addr().Is4() || pfx.Bits() >= a.minPrefix {
		return nil
	}
	return invalidInput(fmt.Sprintf("Requested subnet with cidr: %s is larger than /%d: in loopback network mode every subnet shares this host's address space, and only an admin may create a subnet larger than /%d.",
		cidr, a.minPrefix, a.minPrefix))
}

// allocationID is the store id of the allocation of ip on subnet. In
// loopback mode it is the address alone, so the store's primary key keeps
// one address from being held twice anywhere, even by two transactions at
// once; otherwise it is unique per subnet, as in Neutron.
func (a addressSpace) allocationID(subnetID, ip string) string {
	if a.any {
		return neutron.AllocationID(subnetID, ip)
	}
	return "host/" + ip
}

// checkServable refuses, in loopback mode, a subnet the host cannot serve.
func (a addressSpace) checkServable(cidr string) error {
	if a.any {
		return nil
	}
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil {
		return invalidInput(fmt.Sprintf("'%s' is not a valid IP subnet.", cidr))
	}
	if a.segments.Of(pfx) != "" {
		return nil
	}
	if pfx.Overlaps(HostRange) {
		return invalidInput(fmt.Sprintf("Requested subnet with cidr: %s cannot be served in loopback network mode: %s is left to the host's own services.", cidr, HostRange))
	}
	for _, r := range LoopbackRanges {
		if r.Bits() <= pfx.Bits() && r.Contains(pfx.Addr()) {
			return nil
		}
	}
	if len(a.segments) > 0 {
		return a.segments.refusal(cidr)
	}
	return invalidInput(fmt.Sprintf("Requested subnet with cidr: %s cannot be served in loopback network mode: its addresses are bound on this host's loopback interface, so a subnet must lie inside 127.0.0.0/8 (outside %s) or be ::1/128.", cidr, HostRange))
}

// checkOverlap refuses a subnet whose range meets another's: on the same
// network always (Neutron's rule), on any network in loopback mode. The
// message names the other range, not its owner or ids.
func (a addressSpace) checkOverlap(ctx context.Context, tx store.Tx, sub *neutron.Subnet) error {
	var q store.Query
	if a.any {
		q.Filters = []store.Filter{store.F("network_id", sub.NetworkID)}
	}
	others, err := tx.Subnets().List(ctx, q)
	if err != nil {
		return err
	}
	mine := netip.MustParsePrefix(sub.CIDR)
	for _, o := range others {
		p, err := netip.ParsePrefix(o.CIDR)
		if err != nil || !p.Overlaps(mine) {
			continue
		}
		if o.NetworkID == sub.NetworkID {
			return invalidInput(fmt.Sprintf("Requested subnet with cidr: %s for network: %s overlaps with another subnet.", sub.CIDR, sub.NetworkID))
		}
		return invalidInput(fmt.Sprintf("Requested subnet with cidr: %s overlaps with subnet %s of another network: in loopback network mode every subnet shares this host's address space.", sub.CIDR, o.CIDR))
	}
	return nil
}
