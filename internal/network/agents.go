package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Agents' own addresses (segment network mode). A data-plane agent reports its address on
// each segment it is attached to (`fulcrum agent --segment NAME=IFACE`; its vrrp_ip). Such
// an address is reserved in IPAM as a port of device owner fulcrum:agent (device id: the
// agent, name fulcrum-agent-<name>), so that no VIP and no port is ever given it, whatever
// the allocation pools say:
//
//   - when the agent reports it (ReserveAgentAddresses, from the health manager), in the
//     subnet that holds it;
//   - when a subnet is created that holds an address an agent reported earlier;
//   - an address some other port already holds stays with that port (the caller logs it:
//     the agent cannot be a pair member on that address until it is freed);
//   - the agent's reservations of addresses it no longer reports are released.
//
// The port is a service port: it cannot be deleted or re-addressed through the port API
// while the agent exists, and its subnet cannot be deleted while it holds the address.

// agentPortID is the id of the port reserving addr for agent agentID.
func agentPortID(agentID string, addr netip.Addr) string {
	return derivedID("agent-port", agentID+"/"+addr.String())
}

// ReserveAgentAddresses reserves addrs for the agent (see above) and releases its
// reservations of other addresses. It returns the addresses another port holds.
func (v *VIPs) ReserveAgentAddresses(ctx context.Context, tx store.Tx, agentID, agentName string, addrs []netip.Addr) (taken []netip.Addr, err error) {
	if v.space.any {
		return nil, nil
	}
	ports, err := tx.Ports().List(ctx, store.Query{Filters: []store.Filter{store.F("device_owner", neutron.OwnerAgent), store.F("device_id", agentID)}})
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, a := range addrs {
		keep[agentPortID(agentID, a)] = true
	}
	for _, p := range ports {
		if !keep[p.ID] {
			if err := deletePort(ctx, tx, p.ID, v.now().UTC()); err != nil {
				return nil, fmt.Errorf("release the address of agent %s: %w", agentName, err)
			}
		}
	}
	if len(addrs) == 0 {
		return nil, nil
	}
	subs, err := tx.Subnets().List(ctx, store.Query{})
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		for _, sub := range subs {
			if !sub.Contains(a.String()) {
				continue
			}
			ok, err := reserveAgentAddress(ctx, tx, v.space, sub, agentID, agentName, a, v.now().UTC())
			if err != nil {
				return nil, err
			}
			if !ok {
				taken = append(taken, a)
			}
		}
	}
	return taken, nil
}

// reserveAgentsIn reserves, in a new subnet, the addresses agents reported inside it.
func reserveAgentsIn(ctx context.Context, tx store.Tx, space addressSpace, sub *neutron.Subnet, now time.Time) error {
	if space.any {
		return nil
	}
	agents, err := tx.Agents().List(ctx, store.Query{})
	if err != nil {
		return err
	}
	for _, ag := range agents {
		for _, seg := range ag.Segments {
			p, err := netip.ParsePrefix(seg.Address)
			if err != nil || !sub.Contains(p.Addr().String()) {
				continue
			}
			if _, err := reserveAgentAddress(ctx, tx, space, sub, ag.ID, ag.Name, p.Addr(), now); err != nil {
				return err
			}
		}
	}
	return nil
}

// reserveAgentAddress makes addr, in sub, an allocation of the agent's port for it. It
// reports false when another port holds the address.
func reserveAgentAddress(ctx context.Context, tx store.Tx, space addressSpace, sub *neutron.Subnet, agentID, agentName string, addr netip.Addr, now time.Time) (bool, error) {
	id := agentPortID(agentID, addr)
	if _, err := tx.Ports().Get(ctx, id); err == nil {
		return true, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	held, err := tx.IPAllocations().Count(ctx, store.F("ip_address", addr.String()))
	if err != nil {
		return false, err
	}
	if held > 0 {
		return false, nil
	}
	mac, err := freeMAC(ctx, tx, sub.NetworkID)
	if err != nil {
		return false, err
	}
	port := &neutron.Port{ID: id, ProjectID: sub.ProjectID, NetworkID: sub.NetworkID, Name: "fulcrum-agent-" + agentName,
		Description: "the address of data-plane agent " + agentName + " on this segment (vrrp_ip)", AdminStateUp: true,
		MACAddress: mac, DeviceOwner: neutron.OwnerAgent, DeviceID: agentID, SecurityGroups: []string{},
		Status: neutron.PortActive, Tags: []string{}, Times: neutron.Times{CreatedAt: now, UpdatedAt: now}}
	if err := tx.Ports().Create(ctx, port); err != nil {
		return false, fmt.Errorf("reserve the address of agent %s: %w", agentName, err)
	}
	fixed, err := space.allocateOne(ctx, tx, sub, port.ID, addr.String())
	var ne *Error
	if errors.As(err, &ne) && strings.Contains(ne.Type, "IpAddressAlreadyAllocated") {
		return false, tx.Ports().Delete(ctx, port.ID)
	}
	if err != nil {
		return false, err
	}
	port.FixedIPs = []neutron.FixedIP{fixed}
	return true, tx.Ports().Update(ctx, port)
}

// AgentAddresses lists the addresses an agent record says it has on segments.
func AgentAddresses(a *lb.Agent) []netip.Addr {
	var out []netip.Addr
	for _, s := range a.Segments {
		if p, err := netip.ParsePrefix(s.Address); err == nil && !slices.Contains(out, p.Addr()) {
			out = append(out, p.Addr())
		}
	}
	return out
}
