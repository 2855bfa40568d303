package network

import (
	"context"
	"errors"
	"fmt"

	"github.com/fulcrumlb/fulcrum/internal/ids"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

type subnetBody struct {
	owned
	common
	NetworkID      *string          `json:"network_id"`
	IPVersion      *int             `json:"ip_version"`
	CIDR           *string          `json:"cidr"`
	GatewayIP      optString        `json:"gateway_ip"`
	Pools          *[]allocationSet `json:"allocation_pools"`
	EnableDHCP     *bool            `json:"enable_dhcp"`
	DNSNameservers *[]string        `json:"dns_nameservers"`
}

// allocationSet is an allocation pool on the wire.
type allocationSet struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// subnetJSON is a subnet on the wire.
type subnetJSON struct {
	owner
	NetworkID       string          `json:"network_id"`
	IPVersion       int             `json:"ip_version"`
	CIDR            string          `json:"cidr"`
	GatewayIP       *string         `json:"gateway_ip"`
	AllocationPools []allocationSet `json:"allocation_pools"`
	EnableDHCP      bool            `json:"enable_dhcp"`
	DNSNameservers  []string        `json:"dns_nameservers"`
	HostRoutes      []string        `json:"host_routes"`
	IPv6RAMode      *string         `json:"ipv6_ra_mode"`
	IPv6AddressMode *string         `json:"ipv6_address_mode"`
	SubnetPoolID    *string         `json:"subnetpool_id"`
	ServiceTypes    []string        `json:"service_types"`
	SegmentID       *string         `json:"segment_id"`
	standard
}

var subnetResource = &resource[neutron.Subnet]{
	name: "subnet", plural: "subnets", title: "Subnet", notFound: "SubnetNotFound",
	table:   func(tx store.Tx) store.Table[neutron.Subnet] { return tx.Subnets() },
	id:      func(s *neutron.Subnet) string { return s.ID },
	filters: listFilters("network_id", "ip_version", "cidr", "gateway_ip", "enable_dhcp"),
	target:  onItsNetwork(func(sub *neutron.Subnet) (string, string) { return sub.ProjectID, sub.NetworkID }),
	render:  each(renderSubnet),
}

func renderSubnet(sub *neutron.Subnet) subnetJSON {
	pools := make([]allocationSet, 0, len(sub.AllocationPools))
	for _, p := range sub.AllocationPools {
		pools = append(pools, allocationSet(p))
	}
	dns := sub.DNSNameservers
	if dns == nil {
		dns = []string{}
	}
	return subnetJSON{owner: ownerOf(sub.ID, sub.Name, sub.Description, sub.ProjectID),
		NetworkID: sub.NetworkID, IPVersion: sub.IPVersion, CIDR: sub.CIDR, GatewayIP: nullable(sub.GatewayIP),
		AllocationPools: pools, EnableDHCP: sub.EnableDHCP, DNSNameservers: dns, HostRoutes: []string{},
		ServiceTypes: []string{}, standard: standardOf(sub.Tags, sub.Times)}
}

// createSubnet adds a subnet to a network the caller owns (or any, for
// admins). The range must suit the network mode (addressSpace): in loopback
// mode inside the host's loopback ranges and apart from every other subnet.
func (s *Service) createSubnet(ctx context.Context, c policy.Caller, project string, b *subnetBody) (any, []string, error) {
	if str(b.NetworkID) == "" {
		return nil, nil, badRequest("subnet", "Invalid input for network_id. Reason: 'None' is not a valid UUID")
	}
	if str(b.CIDR) == "" {
		return nil, nil, badRequest("subnet", "a cidr must be specified")
	}
	now := s.now()
	sub := &neutron.Subnet{ID: ids.New(), ProjectID: project, NetworkID: *b.NetworkID, Name: str(b.Name), Description: str(b.Description),
		CIDR: *b.CIDR, EnableDHCP: b.EnableDHCP == nil || *b.EnableDHCP, DNSNameservers: []string{}, Tags: []string{},
		Times: neutron.Times{CreatedAt: now, UpdatedAt: now}}
	if b.IPVersion != nil {
		sub.IPVersion = *b.IPVersion
		if sub.IPVersion != 4 && sub.IPVersion != 6 {
			return nil, nil, badRequest("subnet", fmt.Sprintf("Invalid input for ip_version. Reason: %d is not in valid_values", sub.IPVersion))
		}
	}
	noGateway := false
	if b.GatewayIP.Set {
		noGateway = b.GatewayIP.Null
		sub.GatewayIP = b.GatewayIP.Value
	}
	if b.Pools != nil {
		for _, p := range *b.Pools {
			sub.AllocationPools = append(sub.AllocationPools, neutron.AllocationPool(p))
		}
	}
	set(&sub.DNSNameservers, b.DNSNameservers)
	set(&sub.Tags, b.Tags)
	if err := checkTags(sub.Tags); err != nil {
		return nil, nil, err
	}
	if err := neutron.ParseSubnet(sub, noGateway); err != nil {
		var bre *neutron.BadRequestError
		if errors.As(err, &bre) {
			return nil, nil, badRequest("subnet", bre.Msg)
		}
		return nil, nil, err
	}
	var out any
	err := s.update(ctx, func(tx store.Tx) error {
		n, _, err := networkResource.visible(ctx, s, newNetworks(tx), c, sub.NetworkID)
		if err != nil {
			return err
		}
		if err := s.authorize(c, "create_subnet", onNetwork(project, n)); err != nil {
			return err
		}
		if err := s.space.checkServable(sub.CIDR); err != nil {
			return err
		}
		if err := s.reserve(ctx, tx, c, project, map[neutron.QuotaResource]int{neutron.QuotaSubnet: 1}); err != nil {
			return err
		}
		if err := s.space.lock(ctx, tx, sub.NetworkID); err != nil {
			return err
		}
		if err := s.space.checkOverlap(ctx, tx, sub); err != nil {
			return err
		}
		if err := s.space.checkSize(sub.CIDR, s.allowed(c, "admin_only", nil)); err != nil {
			return err
		}
		if err := tx.Subnets().Create(ctx, sub); err != nil {
			return err
		}
		// Agents' addresses inside it are never handed out (agents.go).
		if err := reserveAgentsIn(ctx, tx, s.space, sub, now); err != nil {
			return err
		}
		out = renderSubnet(sub)
		return nil
	})
	return out, nil, err
}

func (s *Service) changeSubnet(ctx context.Context, tx store.Tx, c policy.Caller, sub *neutron.Subnet, t policy.Target, b *subnetBody) ([]string, error) {
	if b.CIDR != nil || b.NetworkID != nil || b.IPVersion != nil {
		return nil, badRequest("subnet", "Cannot update read-only attribute")
	}
	if b.GatewayIP.Set {
		gw := b.GatewayIP.Value
		if gw != "" && !sub.Contains(gw) {
			return nil, badRequest("subnet", fmt.Sprintf("Invalid input for gateway_ip. Reason: '%s' is not in the subnet", gw))
		}
		if gw != "" && sub.InPools(gw) {
			return nil, badRequest("subnet", fmt.Sprintf("Gateway ip %s conflicts with allocation pool", gw))
		}
		sub.GatewayIP = gw
	}
	b.apply(&sub.Name, &sub.Description, &sub.Tags)
	set(&sub.EnableDHCP, b.EnableDHCP)
	set(&sub.DNSNameservers, b.DNSNameservers)
	sub.UpdatedAt = s.now()
	return nil, nil
}

func deleteSubnet(ctx context.Context, tx store.Tx, sub *neutron.Subnet) ([]string, error) {
	n, err := tx.IPAllocations().Count(ctx, store.F("subnet_id", sub.ID))
	if err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, conflict("SubnetInUse", fmt.Sprintf("Unable to complete operation on subnet %s: One or more ports have an IP allocation from this subnet.", sub.ID))
	}
	return nil, tx.Subnets().Delete(ctx, sub.ID)
}
