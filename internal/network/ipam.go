package network

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// IPRequest asks for one fixed IP: on SubnetID (or the subnet of the network
// containing IPAddress), at IPAddress (or the lowest free address).
type IPRequest struct {
	SubnetID  string
	IPAddress string
}

func ipInUse(ip, subnetID string) *Error {
	return conflict("IpAddressAlreadyAllocated", fmt.Sprintf("IP address %s already allocated in subnet %s", ip, subnetID))
}

// subnetsOf lists a network's subnets, IPv4 first, then in creation order.
func subnetsOf(ctx context.Context, tx store.Tx, networkID string) ([]*neutron.Subnet, error) {
	subs, err := tx.Subnets().List(ctx, store.Query{Filters: []store.Filter{store.F("network_id", networkID)}})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(subs, func(a, b *neutron.Subnet) int { return a.IPVersion - b.IPVersion })
	return subs, nil
}

// allocate reserves the requested fixed IPs for port on network and returns
// them. With no requests it takes an address (neutron.Subnet.Choose: never
// used before, else released longest ago) of the first subnet (IPv4
// first) that has one. The uniqueness of allocation ids in the
// store (per address in loopback mode, per subnet and address otherwise:
// addressSpace.allocationID) makes a concurrent double allocation fail
// with a conflict.
func (a addressSpace) allocate(ctx context.Context, tx store.Tx, networkID, portID string, reqs []IPRequest) ([]neutron.FixedIP, error) {
	subs, err := subnetsOf(ctx, tx, networkID)
	if err != nil {
		return nil, err
	}
	if len(reqs) == 0 {
		for _, sub := range subs {
			fixed, err := a.allocateOne(ctx, tx, sub, portID, "")
			if errors.Is(err, neutron.ErrNoFreeAddress) {
				continue
			}
			if err != nil {
				return nil, err
			}
			return []neutron.FixedIP{fixed}, nil
		}
		if len(subs) == 0 {
			return nil, nil
		}
		return nil, conflict("IpAddressGenerationFailure", fmt.Sprintf("No more IP addresses available on network %s.", networkID))
	}
	var out []neutron.FixedIP
	for _, rq := range reqs {
		sub, err := pickSubnet(subs, networkID, rq)
		if err != nil {
			return nil, err
		}
		fixed, err := a.allocateOne(ctx, tx, sub, portID, rq.IPAddress)
		if errors.Is(err, neutron.ErrNoFreeAddress) {
			return nil, conflict("IpAddressGenerationFailure", fmt.Sprintf("No more IP addresses available on network %s.", networkID))
		}
		if err != nil {
			return nil, err
		}
		out = append(out, fixed)
	}
	return out, nil
}

func pickSubnet(subs []*neutron.Subnet, networkID string, rq IPRequest) (*neutron.Subnet, error) {
	for _, sub := range subs {
		if rq.SubnetID != "" && sub.ID == rq.SubnetID {
			if rq.IPAddress != "" && !sub.Contains(rq.IPAddress) {
				return nil, badRequest("port", fmt.Sprintf("IP address %s is not a valid IP for the specified subnet", rq.IPAddress))
			}
			return sub, nil
		}
		if rq.SubnetID == "" && rq.IPAddress != "" && sub.Contains(rq.IPAddress) {
			return sub, nil
		}
	}
	if rq.SubnetID != "" {
		return nil, badRequest("port", fmt.Sprintf("Invalid input for operation: Failed to create port on network %s, because fixed_ips included invalid subnet %s", networkID, rq.SubnetID))
	}
	return nil, badRequest("port", fmt.Sprintf("IP address %s is not a valid IP for the specified subnet", rq.IPAddress))
}

func (a addressSpace) allocateOne(ctx context.Context, tx store.Tx, sub *neutron.Subnet, portID, ip string) (neutron.FixedIP, error) {
	if ip == "" {
		var err error
		if ip, err = a.chooseAddress(ctx, tx, sub); err != nil {
			return neutron.FixedIP{}, err
		}
	} else {
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return neutron.FixedIP{}, badRequest("port", fmt.Sprintf("Invalid input for operation: '%s' is not a valid IP address", ip))
		}
		ip = addr.String()
	}
	if !a.any {
		// Allocations made before addresses were keyed by themselves, on
		// subnets that overlap, are not caught by the key.
		n, err := tx.IPAllocations().Count(ctx, store.F("ip_address", ip))
		if err != nil {
			return neutron.FixedIP{}, err
		}
		if n > 0 {
			return neutron.FixedIP{}, ipInUse(ip, sub.ID)
		}
	}
	alloc := &neutron.IPAllocation{ID: a.allocationID(sub.ID, ip), SubnetID: sub.ID, NetworkID: sub.NetworkID, PortID: portID, IPAddress: ip}
	if err := tx.IPAllocations().Create(ctx, alloc); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return neutron.FixedIP{}, ipInUse(ip, sub.ID)
		}
		return neutron.FixedIP{}, fmt.Errorf("allocate %s on subnet %s: %w", ip, sub.ID, err)
	}
	return neutron.FixedIP{SubnetID: sub.ID, IPAddress: ip}, nil
}

func usedAddresses(ctx context.Context, tx store.Tx, sub *neutron.Subnet) ([]string, error) {
	allocs, err := tx.IPAllocations().List(ctx, store.Query{Filters: []store.Filter{store.F("subnet_id", sub.ID)}})
	if err != nil {
		return nil, err
	}
	used := make([]string, 0, len(allocs)+1)
	for _, a := range allocs {
		used = append(used, a.IPAddress)
	}
	if sub.GatewayIP != "" {
		used = append(used, sub.GatewayIP)
	}
	return used, nil
}

// hasFree reports whether sub has at least n free pool addresses.
func hasFree(ctx context.Context, tx store.Tx, sub *neutron.Subnet, n int) (bool, error) {
	used, err := usedAddresses(ctx, tx, sub)
	if err != nil {
		return false, err
	}
	inPools := 0
	for _, u := range used {
		if sub.InPools(u) {
			inPools++
		}
	}
	free := new(big.Int).Sub(sub.PoolSize(), big.NewInt(int64(inPools)))
	return free.Cmp(big.NewInt(int64(n))) >= 0, nil
}

// releaseAddresses frees every address portID holds, recording when, so
// that IPAM hands them out again only after addresses never used and those
// released before.
func releaseAddresses(ctx context.Context, tx store.Tx, portID string, now time.Time) error {
	allocs, err := tx.IPAllocations().List(ctx, store.Query{Filters: []store.Filter{store.F("port_id", portID)}})
	if err != nil {
		return err
	}
	for _, a := range allocs {
		rel := &neutron.IPRelease{ID: a.ID, SubnetID: a.SubnetID, IPAddress: a.IPAddress, ReleasedAt: now}
		made, err := tx.IPReleases().CreateIfAbsent(ctx, rel)
		if err == nil && !made {
			err = tx.IPReleases().Update(ctx, rel)
		}
		if err != nil {
			return fmt.Errorf("release %s: %w", a.IPAddress, err)
		}
	}
	_, err = tx.IPAllocations().DeleteWhere(ctx, store.F("port_id", portID))
	return err
}

// deletePort removes a port, its address allocations (recording their
// release) and the association of any floating IP with it.
func deletePort(ctx context.Context, tx store.Tx, portID string, now time.Time) error {
	if err := releaseAddresses(ctx, tx, portID, now); err != nil {
		return err
	}
	fips, err := tx.FloatingIPs().List(ctx, store.Query{Filters: []store.Filter{store.F("port_id", portID)}})
	if err != nil {
		return err
	}
	for _, f := range fips {
		f.PortID, f.FixedIPAddress, f.Status = "", "", neutron.PortDown
		f.UpdatedAt = now
		if err := tx.FloatingIPs().Update(ctx, f); err != nil {
			return err
		}
	}
	if err := tx.Ports().Delete(ctx, portID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound("Port", "PortNotFound", portID)
		}
		return err
	}
	return nil
}
