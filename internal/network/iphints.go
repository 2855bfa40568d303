package network

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// ipHints remembers, per subnet, an address below which every pool address
// has been handed out at least once (allocated now or released), so that
// the next "lowest address never handed out" is found by a few primary-key
// lookups from there instead of by reading every allocation and release of
// the subnet (which made one VIP allocation cost O(addresses in use)).
//
// A hint is only a starting point: the addresses at and above it are
// checked in the transaction, and the store's unique allocation key still
// refuses a double allocation. Having been handed out is permanent for a
// subnet (release records stay until the subnet goes), so a hint stays true
// whatever other servers allocate. The key holds what the walk depends on —
// the subnet's id, creation time, gateway and pools — so a changed subnet
// starts again from a full read.
type ipHints struct {
	mu sync.Mutex
	m  map[string]netip.Addr
}

// maxHints bounds the memory of the hints: past it they are dropped and
// rebuilt by a full read on the next allocation of each subnet.
const maxHints = 4096

// maxProbes bounds the addresses one allocation checks from its hint before
// it falls back to reading the subnet's allocations.
const maxProbes = 32

func newIPHints() *ipHints { return &ipHints{m: map[string]netip.Addr{}} }

func hintKey(sub *neutron.Subnet) string {
	var b strings.Builder
	b.WriteString(sub.ID)
	b.WriteByte('|')
	b.WriteString(sub.CreatedAt.UTC().String())
	b.WriteByte('|')
	b.WriteString(sub.GatewayIP)
	for _, p := range sub.AllocationPools {
		b.WriteByte('|')
		b.WriteString(p.Start)
		b.WriteByte('-')
		b.WriteString(p.End)
	}
	return b.String()
}

func (h *ipHints) get(key string) (netip.Addr, bool) {
	if h == nil {
		return netip.Addr{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	a, ok := h.m[key]
	return a, ok
}

func (h *ipHints) put(key string, a netip.Addr) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.m[key]; !ok && len(h.m) >= maxHints {
		clear(h.m)
	}
	h.m[key] = a
}

func (h *ipHints) drop(key string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, key)
}

// chooseAddress picks the address IPAM hands out next on sub, as
// neutron.Subnet.Choose does (the lowest pool address never handed out,
// else the one released longest ago), starting from the subnet's hint when
// there is one.
func (a addressSpace) chooseAddress(ctx context.Context, tx store.Tx, sub *neutron.Subnet) (string, error) {
	key := hintKey(sub)
	if from, ok := a.hints.get(key); ok {
		ip, found, err := a.probe(ctx, tx, sub, from)
		if err != nil {
			return "", err
		}
		if found {
			// The hint moves to the address, not past it: if this
			// transaction rolls back, the address is still the lowest
			// never handed out.
			a.hints.put(key, ip)
			return ip.String(), nil
		}
	}
	used, err := usedAddresses(ctx, tx, sub)
	if err != nil {
		return "", err
	}
	released, err := tx.IPReleases().List(ctx, store.Query{Filters: []store.Filter{store.F("subnet_id", sub.ID)}})
	if err != nil {
		return "", err
	}
	rel := make([]neutron.IPRelease, len(released))
	seen := slices.Clone(used)
	for i, r := range released {
		rel[i] = *r
		seen = append(seen, r.IPAddress)
	}
	if ip, err := sub.LowestFree(seen); err == nil {
		if addr, err := netip.ParseAddr(ip); err == nil {
			a.hints.put(key, addr)
		}
		return ip, nil
	}
	// Every pool address has been handed out: the released ones are
	// reused, oldest release first, from the full read each time.
	a.hints.drop(key)
	return sub.Choose(used, rel)
}

// probe walks sub's pools (in address order) from from and returns the
// first address never handed out on the subnet: not the gateway, not
// allocated (under this mode's key or the per-subnet key of older
// allocations) and without a release record of the subnet. found is false
// when maxProbes addresses were all taken or the pools end.
func (a addressSpace) probe(ctx context.Context, tx store.Tx, sub *neutron.Subnet, from netip.Addr) (ip netip.Addr, found bool, err error) {
	pools := slices.Clone(sub.AllocationPools)
	slices.SortFunc(pools, func(x, y neutron.AllocationPool) int {
		return netip.MustParseAddr(x.Start).Compare(netip.MustParseAddr(y.Start))
	})
	gw, _ := netip.ParseAddr(sub.GatewayIP)
	probes := 0
	for _, p := range pools {
		start, err1 := netip.ParseAddr(p.Start)
		end, err2 := netip.ParseAddr(p.End)
		if err1 != nil || err2 != nil || end.Less(from) || start.BitLen() != from.BitLen() {
			continue
		}
		if start.Less(from) {
			start = from
		}
		for c := start; c.IsValid() && !end.Less(c); c = c.Next() {
			if probes == maxProbes {
				return netip.Addr{}, false, nil
			}
			probes++
			if gw.IsValid() && c == gw {
				continue
			}
			taken, err := a.handedOut(ctx, tx, sub, c.String())
			if err != nil {
				return netip.Addr{}, false, err
			}
			if !taken {
				return c, true, nil
			}
		}
	}
	return netip.Addr{}, false, nil
}

// handedOut reports whether ip is allocated (under either key) or has a
// release record of sub.
func (a addressSpace) handedOut(ctx context.Context, tx store.Tx, sub *neutron.Subnet, ip string) (bool, error) {
	keys := []string{a.allocationID(sub.ID, ip)}
	if legacy := neutron.AllocationID(sub.ID, ip); legacy != keys[0] {
		keys = append(keys, legacy)
	}
	for _, k := range keys {
		if _, err := tx.IPAllocations().Get(ctx, k); err == nil {
			return true, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
		r, err := tx.IPReleases().Get(ctx, k)
		if err == nil && r.SubnetID == sub.ID {
			return true, nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
	}
	return false, nil
}
