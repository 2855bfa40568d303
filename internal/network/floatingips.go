package network

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/ids"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

type floatingIPBody struct {
	owned
	FloatingNetworkID *string   `json:"floating_network_id"`
	FloatingIPAddress *string   `json:"floating_ip_address"`
	SubnetID          *string   `json:"subnet_id"`
	PortID            optString `json:"port_id"`
	FixedIPAddress    *string   `json:"fixed_ip_address"`
	common                      // a name is ignored: floating IPs have none
}

// floatingIPJSON is a floating IP on the wire.
type floatingIPJSON struct {
	ID                string  `json:"id"`
	ProjectID         string  `json:"project_id"`
	TenantID          string  `json:"tenant_id"`
	FloatingNetworkID string  `json:"floating_network_id"`
	FloatingIPAddress string  `json:"floating_ip_address"`
	PortID            *string `json:"port_id"`
	FixedIPAddress    *string `json:"fixed_ip_address"`
	RouterID          *string `json:"router_id"`
	Status            string  `json:"status"`
	Description       string  `json:"description"`
	PortDetails       *string `json:"port_details"`
	DNSDomain         string  `json:"dns_domain"`
	DNSName           string  `json:"dns_name"`
	standard
}

var floatingIPResource = &resource[neutron.FloatingIP]{
	name: "floatingip", plural: "floatingips", title: "Floating IP", notFound: "FloatingIPNotFound",
	table:   func(tx store.Tx) store.Table[neutron.FloatingIP] { return tx.FloatingIPs() },
	id:      func(f *neutron.FloatingIP) string { return f.ID },
	filters: listFilters("floating_network_id", "port_id", "floating_ip_address", "fixed_ip_address", "status"),
	target: func(_ context.Context, _ *networks, f *neutron.FloatingIP) (policy.Target, error) {
		return ownerTarget(f.ProjectID), nil
	},
	render: each(renderFloatingIP),
}

func renderFloatingIP(f *neutron.FloatingIP) floatingIPJSON {
	return floatingIPJSON{ID: f.ID, ProjectID: f.ProjectID, TenantID: f.ProjectID, FloatingNetworkID: f.FloatingNetworkID,
		FloatingIPAddress: f.FloatingIPAddress, PortID: nullable(f.PortID), FixedIPAddress: nullable(f.FixedIPAddress),
		Status: f.Status, Description: f.Description, standard: standardOf(f.Tags, f.Times)}
}

// createFloatingIP allocates an address of an external network (held by a
// port owned by network:floatingip) and optionally associates it.
func (s *Service) createFloatingIP(ctx context.Context, c policy.Caller, project string, b *floatingIPBody) (any, []string, error) {
	if str(b.FloatingNetworkID) == "" {
		return nil, nil, badRequest("floatingip", "Invalid input for floating_network_id. Reason: 'None' is not a valid UUID")
	}
	if err := s.authorize(c, "create_floatingip", ownerTarget(project)); err != nil {
		return nil, nil, err
	}
	if str(b.FloatingIPAddress) != "" {
		if err := s.authorize(c, "create_floatingip:floating_ip_address", ownerTarget(project)); err != nil {
			return nil, nil, err
		}
	}
	now := s.now()
	var touched []string
	fip := &neutron.FloatingIP{ID: ids.New(), ProjectID: project, FloatingNetworkID: *b.FloatingNetworkID,
		Description: str(b.Description), Status: neutron.PortDown, Tags: []string{}, Times: neutron.Times{CreatedAt: now, UpdatedAt: now}}
	set(&fip.Tags, b.Tags)
	if err := checkTags(fip.Tags); err != nil {
		return nil, nil, err
	}
	err := s.update(ctx, func(tx store.Tx) error {
		n, _, err := networkResource.visible(ctx, s, newNetworks(tx), c, fip.FloatingNetworkID)
		if err != nil {
			return err
		}
		if !n.External {
			return badRequest("floatingip", fmt.Sprintf("Network %s is not a valid external network", n.ID))
		}
		if err := s.reserve(ctx, tx, c, project, map[neutron.QuotaResource]int{neutron.QuotaFloatingIP: 1}); err != nil {
			return err
		}
		mac, err := freeMAC(ctx, tx, n.ID)
		if err != nil {
			return err
		}
		port := &neutron.Port{ID: ids.New(), NetworkID: n.ID, MACAddress: mac, AdminStateUp: true,
			DeviceOwner: neutron.OwnerFloatingIP, DeviceID: fip.ID, Status: neutron.PortActive, SecurityGroups: []string{},
			Tags: []string{}, Times: fip.Times}
		if err := tx.Ports().Create(ctx, port); err != nil {
			return err
		}
		var reqs []IPRequest
		if str(b.FloatingIPAddress) != "" || str(b.SubnetID) != "" {
			reqs = []IPRequest{{SubnetID: str(b.SubnetID), IPAddress: str(b.FloatingIPAddress)}}
		}
		port.FixedIPs, err = s.space.allocate(ctx, tx, n.ID, port.ID, reqs)
		if err != nil {
			return err
		}
		if len(port.FixedIPs) == 0 {
			return conflict("ExternalIpAddressExhausted", fmt.Sprintf("Unable to find any IP address on external network %s.", n.ID))
		}
		if err := tx.Ports().Update(ctx, port); err != nil {
			return err
		}
		fip.FloatingPortID, fip.FloatingIPAddress = port.ID, port.FixedIPs[0].IPAddress
		if b.PortID.Value != "" {
			if err := s.associate(ctx, tx, c, fip, b.PortID.Value, str(b.FixedIPAddress)); err != nil {
				return err
			}
		}
		if err := tx.FloatingIPs().Create(ctx, fip); err != nil {
			return err
		}
		touched, err = touchVIPPorts(ctx, tx, now, fip.PortID)
		return err
	})
	return renderFloatingIP(fip), touched, err
}

// associate points fip at one fixed IP of portID (the first IPv4 one unless
// fixedIP says which). The port must be one the caller may see and, for
// all but admins, of the floating IP's project.
func (s *Service) associate(ctx context.Context, tx store.Tx, c policy.Caller, fip *neutron.FloatingIP, portID, fixedIP string) error {
	port, _, err := portResource.visible(ctx, s, newNetworks(tx), c, portID)
	if err != nil {
		return err
	}
	if port.ProjectID != fip.ProjectID && !s.allowed(c, "admin_only", nil) {
		return portResource.missing(portID)
	}
	chosen := ""
	for _, f := range port.FixedIPs {
		a, err := netip.ParseAddr(f.IPAddress)
		if err != nil {
			continue
		}
		if fixedIP != "" && f.IPAddress == fixedIP || fixedIP == "" && a.Is4() && chosen == "" {
			chosen = f.IPAddress
		}
	}
	if chosen == "" {
		if fixedIP != "" {
			return badRequest("floatingip", fmt.Sprintf("Port %s does not have fixed ip %s", portID, fixedIP))
		}
		return badRequest("floatingip", fmt.Sprintf("No IPv4 addresses found on port %s", portID))
	}
	others, err := tx.FloatingIPs().List(ctx, store.Query{Filters: []store.Filter{store.F("port_id", portID), store.F("fixed_ip_address", chosen)}})
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID != fip.ID && o.FloatingNetworkID == fip.FloatingNetworkID {
			return conflict("FloatingIPPortAlreadyAssociated", fmt.Sprintf("Cannot associate floating IP %s (%s) with port %s using fixed IP %s, as that fixed IP already has a floating IP on external network %s.",
				fip.FloatingIPAddress, fip.ID, portID, chosen, fip.FloatingNetworkID))
		}
	}
	fip.PortID, fip.FixedIPAddress, fip.Status = portID, chosen, neutron.PortActive
	fip.UpdatedAt = s.now()
	return nil
}

func (s *Service) changeFloatingIP(ctx context.Context, tx store.Tx, c policy.Caller, fip *neutron.FloatingIP, _ policy.Target, b *floatingIPBody) ([]string, error) {
	oldPort := fip.PortID
	set(&fip.Description, b.Description)
	fip.UpdatedAt = s.now()
	switch {
	case !b.PortID.Set:
		return nil, nil
	case b.PortID.Value == "":
		fip.PortID, fip.FixedIPAddress, fip.Status = "", "", neutron.PortDown
	default:
		if err := s.associate(ctx, tx, c, fip, b.PortID.Value, str(b.FixedIPAddress)); err != nil {
			return nil, err
		}
	}
	return touchVIPPorts(ctx, tx, s.now(), oldPort, fip.PortID)
}

func (s *Service) deleteFloatingIP(ctx context.Context, tx store.Tx, fip *neutron.FloatingIP) ([]string, error) {
	if err := tx.FloatingIPs().Delete(ctx, fip.ID); err != nil {
		return nil, err
	}
	if err := deletePort(ctx, tx, fip.FloatingPortID, s.now()); err != nil {
		return nil, err
	}
	return touchVIPPorts(ctx, tx, s.now(), fip.PortID)
}

// touchVIPPorts starts a new generation of every load balancer whose VIP
// port is among ports, because the addresses it is served on or the
// clients it admits changed. It returns their ids, to be enqueued after
// the commit.
func touchVIPPorts(ctx context.Context, tx store.Tx, now time.Time, ports ...string) ([]string, error) {
	var want []string
	for _, p := range ports {
		if p != "" {
			want = append(want, p)
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	list, err := tx.LoadBalancers().List(ctx, store.Query{Filters: []store.Filter{store.In("vip_port_id", dedupe(want)...)}})
	if err != nil {
		return nil, err
	}
	var lbIDs []string
	for _, l := range list {
		if l.Status.Provisioning == lb.PendingDelete {
			continue
		}
		l, err := tx.LoadBalancers().Lock(ctx, l.ID)
		if err != nil {
			return nil, err
		}
		l.NextGeneration()
		l.Touch(now)
		if err := tx.LoadBalancers().Update(ctx, l); err != nil {
			return nil, err
		}
		lbIDs = append(lbIDs, l.ID)
	}
	return lbIDs, nil
}

// FloatingAddresses returns the floating addresses associated with portID
// (a load balancer's VIP port): the public addresses the data plane also
// serves the VIP on.
func FloatingAddresses(ctx context.Context, tx store.Tx, portID string) ([]string, error) {
	list, err := tx.FloatingIPs().List(ctx, store.Query{Filters: []store.Filter{store.F("port_id", portID)}})
	if err != nil {
		return nil, fmt.Errorf("floating addresses of port %s: %w", portID, err)
	}
	out := make([]string, 0, len(list))
	for _, f := range list {
		out = append(out, f.FloatingIPAddress)
	}
	return out, nil
}
