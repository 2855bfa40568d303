package network

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// vipPortName is the name of the port fulcrum creates for a load
// balancer's VIP, as Octavia names it.
func vipPortName(lbID string) string { return "octavia-lb-" + lbID }

// vipPortID is the id of that port. Derived from the load balancer's id,
// it marks the port as fulcrum's (and so deleted with the load balancer)
// whatever its owner renames it to; a port the user handed in as
// vip_port_id is only unbound.
func vipPortID(lbID string) string { return derivedID("vip-port", lbID) }

// createdFor reports whether fulcrum created port for load balancer lbID
// (before ports had derived ids, the name was the only mark).
func createdFor(port *neutron.Port, lbID string) bool {
	return port.DeviceID == lbID && (port.ID == vipPortID(lbID) || port.Name == vipPortName(lbID))
}

// VIPs allocates load balancer VIPs from the Neutron subset's IPAM. Its
// methods run inside the caller's store transaction, so a VIP is allocated
// exactly when the load balancer is created and released exactly when it
// is removed. The caller (policy.CallerFrom) decides which subnets are
// usable: its own project's, shared or external ones, or any for admins.
type VIPs struct {
	store  store.Store
	now    func() time.Time
	space  addressSpace // loopback or segment mode (WithSegments)
	quotas QuotaLimits
}

// NewVIPs returns the allocator on st, counting VIP ports against
// Neutron's default port quota; now may be nil.
func NewVIPs(st store.Store, now func() time.Time) *VIPs {
	if now == nil {
		now = time.Now
	}
	return &VIPs{store: st, now: now, quotas: DefaultQuotas, space: addressSpace{hints: newIPHints()}}
}

// VIPs returns the allocator on the service's store, counting VIP ports
// against the service's port quotas.
func (s *Service) VIPs() *VIPs {
	return &VIPs{store: s.opts.Store, now: s.opts.Now, quotas: s.quotas, space: addressSpace{hints: newIPHints()}}
}

// AllocateVIPTx allocates the VIP described by req inside tx (the load
// balancer's create transaction) and returns it with the additional VIPs.
func (v *VIPs) AllocateVIPTx(ctx context.Context, tx store.Tx, req lb.VIPRequest) (lb.VIP, []lb.AdditionalVIP, error) {
	l := &lb.LoadBalancer{ID: req.LoadBalancerID, ProjectID: req.ProjectID, AdditionalVIPs: slices.Clone(req.Additional),
		VIP: lb.VIP{PortID: req.PortID, NetworkID: req.NetworkID, SubnetID: req.SubnetID, Address: req.Address,
			QoSPolicyID: req.QoSPolicyID, SGIDs: slices.Clone(req.SGIDs), VNICType: lb.VNICNormal}}
	if l.VIP.SGIDs == nil {
		l.VIP.SGIDs = []string{}
	}
	if err := v.Allocate(ctx, tx, l); err != nil {
		return lb.VIP{}, nil, err
	}
	return l.VIP, l.AdditionalVIPs, nil
}

// AllocateVIP is AllocateVIPTx in a transaction of its own, for callers that
// cannot share theirs; ReleaseVIP undoes it.
func (v *VIPs) AllocateVIP(ctx context.Context, req lb.VIPRequest) (vip lb.VIP, extra []lb.AdditionalVIP, err error) {
	err = v.store.Update(ctx, func(tx store.Tx) error {
		var err error
		vip, extra, err = v.AllocateVIPTx(ctx, tx, req)
		return err
	})
	return vip, extra, err
}

// ReleaseVIP releases the VIP of a load balancer that could not be stored.
func (v *VIPs) ReleaseVIP(ctx context.Context, loadBalancerID string, vip lb.VIP) error {
	return v.store.Update(ctx, func(tx store.Tx) error {
		return v.Release(ctx, tx, &lb.LoadBalancer{ID: loadBalancerID, VIP: vip})
	})
}

// loopback is the address space of the loopback network mode (VIPs made
// with NewVIPs; WithSegments adds the segment mode's).
var loopback = addressSpace{}

func subresourceNotFound(kind, id string) error {
	return &lb.ValidationError{Msg: fmt.Sprintf("%s %s not found.", kind, id)}
}

// usable reports whether the caller in ctx may put a VIP or member on an
// object of project on network n.
func usable(ctx context.Context, n *neutron.Network, project string) bool {
	c, ok := policy.CallerFrom(ctx)
	return !ok || isAdmin(c) || n.Shared || n.External || project == c.ProjectID
}

func (v *VIPs) subnet(ctx context.Context, tx store.Tx, id string) (*neutron.Subnet, *neutron.Network, error) {
	sub, err := tx.Subnets().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, subresourceNotFound("Subnet", id)
	}
	if err != nil {
		return nil, nil, err
	}
	n, err := tx.Networks().Get(ctx, sub.NetworkID)
	if err != nil {
		return nil, nil, err
	}
	if !usable(ctx, n, sub.ProjectID) {
		return nil, nil, subresourceNotFound("Subnet", id)
	}
	return sub, n, nil
}

// Allocate fills l.VIP (address, port, subnet, network) and the additional
// VIPs from the request's vip_port_id, vip_subnet_id, vip_network_id and
// vip_address, creating the VIP port with its fixed IPs. A requested
// address already in use is an *lb.ConflictError; a missing or unusable
// subnet, network, port or QoS policy is an *lb.ValidationError.
func (v *VIPs) Allocate(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) error {
	vip := &l.VIP
	if vip.QoSPolicyID != "" {
		if err := v.CheckQoSPolicy(ctx, tx, vip.QoSPolicyID); err != nil {
			return err
		}
	}
	if vip.PortID != "" {
		return v.adoptPort(ctx, tx, l)
	}
	var sub *neutron.Subnet
	var n *neutron.Network
	var err error
	switch {
	case vip.SubnetID != "":
		if sub, n, err = v.subnet(ctx, tx, vip.SubnetID); err != nil {
			return err
		}
		if vip.NetworkID != "" && vip.NetworkID != sub.NetworkID {
			return lb.Invalid("vip_subnet_id %s is not on vip_network_id %s.", vip.SubnetID, vip.NetworkID)
		}
	case vip.NetworkID != "":
		n, err = tx.Networks().Get(ctx, vip.NetworkID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !usable(ctx, n, n.ProjectID)) {
			return subresourceNotFound("Network", vip.NetworkID)
		}
		if err != nil {
			return err
		}
		if sub, err = pickVIPSubnet(ctx, tx, n.ID, vip.Address); err != nil {
			return err
		}
	default:
		return lb.Invalid("VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.")
	}
	if vip.Address != "" && !sub.Contains(vip.Address) {
		return lb.Invalid("The VIP address %s is not in subnet %s.", vip.Address, sub.ID)
	}
	if err := v.space.checkServable(sub.CIDR); err != nil {
		return vipErr(err) // a subnet made before the network mode refused it
	}
	now := v.now().UTC()
	// The VIP port counts against the project's port quota, as the port
	// Octavia makes in the project does.
	if c, ok := policy.CallerFrom(ctx); ok {
		if err := reserveQuota(ctx, tx, v.quotas, c, l.ProjectID, map[neutron.QuotaResource]int{neutron.QuotaPort: 1}); err != nil {
			return vipErr(err)
		}
	}
	// Its groups are vip_sg_ids (apiserver.VIPSecurityGroups puts them
	// on); without any, only the listeners' allowed_cidrs filter, as
	// Octavia's own group of the load balancer does.
	mac, err := freeMAC(ctx, tx, n.ID)
	if err != nil {
		return vipErr(err)
	}
	port := &neutron.Port{ID: vipPortID(l.ID), ProjectID: l.ProjectID, NetworkID: n.ID, Name: vipPortName(l.ID), AdminStateUp: false,
		MACAddress: mac, DeviceOwner: neutron.OwnerLoadBalancerVIP, DeviceID: l.ID, QoSPolicyID: vip.QoSPolicyID,
		SecurityGroups: []string{}, PortSecurityEnabled: true, Status: neutron.PortDown, Tags: []string{},
		Times: neutron.Times{CreatedAt: now, UpdatedAt: now}}
	if err := tx.Ports().Create(ctx, port); err != nil {
		return fmt.Errorf("create vip port: %w", err)
	}
	reqs := []IPRequest{{SubnetID: sub.ID, IPAddress: vip.Address}}
	for _, av := range l.AdditionalVIPs {
		reqs = append(reqs, IPRequest{SubnetID: av.SubnetID, IPAddress: av.IPAddress})
	}
	if err := v.checkAdditional(ctx, tx, sub, l.AdditionalVIPs); err != nil {
		return err
	}
	fixed, err := v.space.allocate(ctx, tx, n.ID, port.ID, reqs)
	if err != nil {
		return vipErr(err)
	}
	port.FixedIPs = fixed
	if err := tx.Ports().Update(ctx, port); err != nil {
		return fmt.Errorf("create vip port: %w", err)
	}
	vip.Address, vip.PortID, vip.SubnetID, vip.NetworkID = fixed[0].IPAddress, port.ID, sub.ID, n.ID
	for i := range l.AdditionalVIPs {
		l.AdditionalVIPs[i].IPAddress = fixed[i+1].IPAddress
		l.AdditionalVIPs[i].PortID = port.ID
		l.AdditionalVIPs[i].NetworkID = n.ID
	}
	return nil
}

func (v *VIPs) checkAdditional(ctx context.Context, tx store.Tx, primary *neutron.Subnet, extra []lb.AdditionalVIP) error {
	seen := []string{primary.ID}
	for _, av := range extra {
		sub, _, err := v.subnet(ctx, tx, av.SubnetID)
		if err != nil {
			return err
		}
		if slices.Contains(seen, sub.ID) {
			return lb.Invalid("Duplicate VIP subnet(s) specified. Only one IP can be bound per subnet.")
		}
		if sub.NetworkID != primary.NetworkID {
			return lb.Invalid("All VIP subnets must belong to the same network.")
		}
		seen = append(seen, sub.ID)
	}
	return nil
}

// vipErr turns IPAM's Neutron errors into what the load-balancer API
// answers.
func vipErr(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Type {
	case "IpAddressAlreadyAllocated":
		return &lb.ConflictError{Msg: "The VIP IP address is already in use: " + e.Message}
	case "IpAddressGenerationFailure":
		return &lb.ConflictError{Msg: "No free VIP address: " + e.Message}
	case "OverQuota": // Octavia passes Neutron's answer on
		return &lb.ConflictError{Msg: e.Message}
	}
	return &lb.ValidationError{Msg: "Validation failure: " + e.Message}
}

// pickVIPSubnet chooses, on a network, the subnet that contains address,
// or else the first subnet (IPv4 first) with at least two free addresses.
func pickVIPSubnet(ctx context.Context, tx store.Tx, networkID, address string) (*neutron.Subnet, error) {
	subs, err := subnetsOf(ctx, tx, networkID)
	if err != nil {
		return nil, err
	}
	for _, sub := range subs {
		if address != "" {
			if sub.Contains(address) {
				return sub, nil
			}
			continue
		}
		ok, err := hasFree(ctx, tx, sub, 2)
		if err != nil {
			return nil, err
		}
		if ok {
			return sub, nil
		}
	}
	if address != "" {
		return nil, lb.Invalid("No subnet on network %s contains the VIP address %s.", networkID, address)
	}
	return nil, lb.Invalid("No subnet on network %s has free addresses for the VIP.", networkID)
}

// adoptPort uses an existing, unbound port as the VIP port.
func (v *VIPs) adoptPort(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) error {
	vip := &l.VIP
	port, err := tx.Ports().Lock(ctx, vip.PortID)
	if errors.Is(err, store.ErrNotFound) {
		return subresourceNotFound("Port", vip.PortID)
	}
	if err != nil {
		return err
	}
	// Only the port's own project (or an admin) may hand it in: a port of
	// another project on a shared network is not the caller's to take.
	if c, ok := policy.CallerFrom(ctx); ok && !isAdmin(c) && port.ProjectID != c.ProjectID {
		return subresourceNotFound("Port", vip.PortID)
	}
	if port.DeviceID != "" && port.DeviceID != l.ID {
		return lb.Invalid("Port %s is already used by device %s.", port.ID, port.DeviceID)
	}
	if len(port.FixedIPs) == 0 {
		return lb.Invalid("Port %s has no fixed IPs.", port.ID)
	}
	chosen := port.FixedIPs[0]
	if vip.Address != "" {
		i := slices.IndexFunc(port.FixedIPs, func(f neutron.FixedIP) bool { return f.IPAddress == vip.Address })
		if i < 0 {
			return lb.Invalid("The VIP address %s is not on port %s.", vip.Address, port.ID)
		}
		chosen = port.FixedIPs[i]
	}
	if vip.SubnetID != "" && vip.SubnetID != chosen.SubnetID {
		return lb.Invalid("vip_subnet_id %s does not match the port's subnet %s.", vip.SubnetID, chosen.SubnetID)
	}
	sub, err := tx.Subnets().Get(ctx, chosen.SubnetID)
	if err != nil {
		return fmt.Errorf("subnet of port %s: %w", port.ID, err)
	}
	if err := v.space.checkServable(sub.CIDR); err != nil {
		return vipErr(err)
	}
	port.DeviceOwner, port.DeviceID = neutron.OwnerLoadBalancerVIP, l.ID
	if vip.QoSPolicyID == "" {
		vip.QoSPolicyID = port.QoSPolicyID
	} else {
		port.QoSPolicyID = vip.QoSPolicyID
	}
	// Octavia replaces the groups of a port it adopts with its own (and
	// vip_sg_ids, put on by apiserver.VIPSecurityGroups): a port made with
	// its project's default group would otherwise admit only that group's
	// ports.
	if err := setGroups(ctx, tx, port, nil, v.now().UTC()); err != nil {
		return err
	}
	vip.Address, vip.SubnetID, vip.NetworkID = chosen.IPAddress, chosen.SubnetID, port.NetworkID
	return nil
}

// Release frees l's VIP: a port fulcrum created is deleted with its
// addresses (and any floating IP association); a port the user supplied is
// unbound and kept.
func (v *VIPs) Release(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) error {
	port, err := vipPort(ctx, tx, l)
	if port == nil || err != nil {
		return err
	}
	if createdFor(port, l.ID) {
		if err := deletePort(ctx, tx, port.ID, v.now().UTC()); err != nil {
			return fmt.Errorf("release vip of %s: %w", l.ID, err)
		}
		return nil
	}
	if port.DeviceID == l.ID {
		port.DeviceOwner, port.DeviceID = "", ""
		port.UpdatedAt = v.now().UTC()
		if err := tx.Ports().Update(ctx, port); err != nil {
			return fmt.Errorf("release vip of %s: %w", l.ID, err)
		}
	}
	return nil
}

// vipPort returns l's VIP port, or nil when it has none (any more).
func vipPort(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) (*neutron.Port, error) {
	if l.VIP.PortID == "" {
		return nil, nil
	}
	port, err := tx.Ports().Get(ctx, l.VIP.PortID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vip port of %s: %w", l.ID, err)
	}
	return port, nil
}

// LoadBalancerDeleted releases the VIP; it is the controller's hook, run in
// the transaction that removes the load balancer.
func (v *VIPs) LoadBalancerDeleted(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) error {
	return v.Release(ctx, tx, l)
}

// UpdateQoS copies l's vip_qos_policy_id onto its VIP port after an
// update (the policy must exist).
func (v *VIPs) UpdateQoS(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) error {
	if l.VIP.QoSPolicyID != "" {
		if err := v.CheckQoSPolicy(ctx, tx, l.VIP.QoSPolicyID); err != nil {
			return err
		}
	}
	port, err := vipPort(ctx, tx, l)
	if port == nil || err != nil {
		return err
	}
	port.QoSPolicyID = l.VIP.QoSPolicyID
	port.UpdatedAt = v.now().UTC()
	return tx.Ports().Update(ctx, port)
}

// CheckQoSPolicy returns an *lb.ValidationError "qos_policy <id> not
// found." unless the policy exists and the caller may use it.
func (v *VIPs) CheckQoSPolicy(ctx context.Context, tx store.Tx, id string) error {
	q, err := tx.QoSPolicies().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return subresourceNotFound("qos_policy", id)
	}
	if err != nil {
		return err
	}
	if c, ok := policy.CallerFrom(ctx); ok && !isAdmin(c) && !q.Shared && q.ProjectID != c.ProjectID {
		return subresourceNotFound("qos_policy", id)
	}
	return nil
}

// CheckSubnet returns an *lb.ValidationError "Subnet <id> not found." unless
// the subnet exists and the caller may use it (member subnet_id).
func (v *VIPs) CheckSubnet(ctx context.Context, tx store.Tx, id string) error {
	_, _, err := v.subnet(ctx, tx, id)
	return err
}
