package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/compile"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// SetVIPSecurityGroups validates a load balancer's vip_sg_ids inside its
// create or update transaction and puts them on its VIP port, where the
// port exists (not in the noop network mode): the port carries exactly
// those groups, whose ingress rules then filter the clients of every
// listener (VIPIngress). Each group must exist and belong to the load
// balancer's project, for admins too (a port carries only groups of its
// project): otherwise Octavia's 400, an *lb.ValidationError "Security
// Group <id> not found.". It implements apiserver.VIPSecurityGroups.
func (s *Service) SetVIPSecurityGroups(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) error {
	stateful := map[bool]bool{}
	for _, id := range l.VIP.SGIDs {
		g, err := tx.SecurityGroups().Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) || err == nil && g.ProjectID != l.ProjectID {
			return subresourceNotFound("Security Group", id)
		}
		if err != nil {
			return err
		}
		stateful[g.Stateful] = true
	}
	if len(stateful) > 1 {
		return lb.Invalid("Cannot apply both stateful and stateless security groups on the same port at the same time.")
	}
	if l.VIP.PortID == "" {
		return nil
	}
	port, err := tx.Ports().Lock(ctx, l.VIP.PortID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("vip port of %s: %w", l.ID, err)
	}
	if port.DeviceID != l.ID {
		return nil
	}
	return setGroups(ctx, tx, port, l.VIP.SGIDs, s.now())
}

// setGroups makes port carry exactly groups (checked by the caller),
// turning its port security on when it gets any.
func setGroups(ctx context.Context, tx store.Tx, port *neutron.Port, groups []string, now time.Time) error {
	groups = dedupe(slices.Clone(groups))
	if groups == nil {
		groups = []string{}
	}
	port.SecurityGroups = groups
	if len(groups) > 0 {
		port.PortSecurityEnabled = true
	}
	port.UpdatedAt = now
	if err := tx.Ports().Update(ctx, port); err != nil {
		return err
	}
	return bindGroups(ctx, tx, port)
}

// VIPIngress reads, in the provider's transaction, the client filter of
// l's VIP port (provider.IngressResolver): the ingress rules of the groups
// the port carries, a remote group resolved to the addresses of the ports
// carrying it. nil when there is no filter: no VIP port (noop network
// mode), port security off, or no groups (then only the listeners'
// allowed_cidrs filter, as Octavia's own group of the load balancer does).
func VIPIngress(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) (*compile.Ingress, error) {
	port, err := vipPort(ctx, tx, l)
	if err != nil || port == nil || !port.PortSecurityEnabled || len(port.SecurityGroups) == 0 {
		return nil, err
	}
	rules, err := tx.SecurityGroupRules().List(ctx, store.Query{Filters: []store.Filter{
		store.In("security_group_id", port.SecurityGroups...), store.F("direction", neutron.Ingress)}})
	if err != nil {
		return nil, fmt.Errorf("security group rules of the vip port of %s: %w", l.ID, err)
	}
	members := map[string][]netip.Prefix{}
	out := &compile.Ingress{Rules: make([]compile.IngressRule, 0, len(rules))}
	for _, r := range rules {
		ir := compile.IngressRule{IPv6: r.EtherType == neutron.IPv6, Protocol: neutron.ProtocolNumber(r.Protocol)}
		if r.PortRangeMin != nil && r.PortRangeMax != nil && neutron.HasPorts(ir.Protocol) {
			ir.PortMin, ir.PortMax = *r.PortRangeMin, *r.PortRangeMax
		}
		switch {
		case r.RemoteIPPrefix != "":
			p, err := netip.ParsePrefix(r.RemoteIPPrefix)
			if err != nil {
				continue // stored by CheckRule: cannot happen
			}
			ir.Remote = []netip.Prefix{p.Masked()}
		case r.RemoteGroupID != "":
			list, ok := members[r.RemoteGroupID]
			if !ok {
				if list, err = groupAddresses(ctx, tx, r.RemoteGroupID); err != nil {
					return nil, err
				}
				members[r.RemoteGroupID] = list
			}
			ir.Remote = list
		}
		out.Rules = append(out.Rules, ir)
	}
	return out, nil
}

// groupAddresses lists the fixed addresses of the ports carrying group, as
// host prefixes; an empty, non-nil list when it has no members.
func groupAddresses(ctx context.Context, tx store.Tx, group string) ([]netip.Prefix, error) {
	refs, err := tx.PortSecurityGroups().Refs(ctx, "security_group_id", []string{group})
	if err != nil {
		return nil, fmt.Errorf("members of security group %s: %w", group, err)
	}
	ports := make([]string, 0, len(refs[group]))
	for _, b := range refs[group] {
		p, _, _ := strings.Cut(b, "/")
		ports = append(ports, p)
	}
	out := []netip.Prefix{}
	if len(ports) == 0 {
		return out, nil
	}
	allocs, err := tx.IPAllocations().List(ctx, store.Query{Filters: []store.Filter{store.In("port_id", ports...)}})
	if err != nil {
		return nil, fmt.Errorf("members of security group %s: %w", group, err)
	}
	for _, a := range allocs {
		if ip, err := netip.ParseAddr(a.IPAddress); err == nil {
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	return out, nil
}
