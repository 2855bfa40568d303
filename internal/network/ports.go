package network

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/ids"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

type portBody struct {
	owned
	common
	NetworkID      *string    `json:"network_id"`
	AdminStateUp   *bool      `json:"admin_state_up"`
	MACAddress     *string    `json:"mac_address"`
	FixedIPs       *[]fixedIP `json:"fixed_ips"`
	DeviceOwner    *string    `json:"device_owner"`
	DeviceID       *string    `json:"device_id"`
	QoSPolicyID    *string    `json:"qos_policy_id"`
	SecurityGroups optList    `json:"security_groups"`
	PortSecurity   *bool      `json:"port_security_enabled"`
}

// fixedIP is a port's address on the wire (in a body, either part may be
// left out).
type fixedIP struct {
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

// portJSON is a port on the wire.
type portJSON struct {
	owner
	NetworkID           string    `json:"network_id"`
	MACAddress          string    `json:"mac_address"`
	AdminStateUp        bool      `json:"admin_state_up"`
	Status              string    `json:"status"`
	DeviceID            string    `json:"device_id"`
	DeviceOwner         string    `json:"device_owner"`
	FixedIPs            []fixedIP `json:"fixed_ips"`
	AllowedAddressPairs []string  `json:"allowed_address_pairs"`
	ExtraDHCPOpts       []string  `json:"extra_dhcp_opts"`
	SecurityGroups      []string  `json:"security_groups"`
	PortSecurityEnabled bool      `json:"port_security_enabled"`
	QoSPolicyID         *string   `json:"qos_policy_id"`
	VNICType            string    `json:"binding:vnic_type"`
	standard
}

var portResource = &resource[neutron.Port]{
	name: "port", plural: "ports", title: "Port", notFound: "PortNotFound",
	table:   func(tx store.Tx) store.Table[neutron.Port] { return tx.Ports() },
	id:      func(p *neutron.Port) string { return p.ID },
	filters: listFilters("network_id", "device_id", "device_owner", "mac_address", "status", "admin_state_up"),
	target:  onItsNetwork(func(p *neutron.Port) (string, string) { return p.ProjectID, p.NetworkID }),
	render:  each(renderPort),
}

func renderPort(p *neutron.Port) portJSON {
	ips := make([]fixedIP, 0, len(p.FixedIPs))
	for _, f := range p.FixedIPs {
		ips = append(ips, fixedIP(f))
	}
	sgs := p.SecurityGroups
	if sgs == nil {
		sgs = []string{}
	}
	return portJSON{owner: ownerOf(p.ID, p.Name, p.Description, p.ProjectID),
		NetworkID: p.NetworkID, MACAddress: p.MACAddress, AdminStateUp: p.AdminStateUp, Status: p.Status, DeviceID: p.DeviceID,
		DeviceOwner: p.DeviceOwner, FixedIPs: ips, AllowedAddressPairs: []string{}, ExtraDHCPOpts: []string{},
		SecurityGroups: sgs, PortSecurityEnabled: p.PortSecurityEnabled, QoSPolicyID: nullable(p.QoSPolicyID), VNICType: "normal",
		standard: standardOf(p.Tags, p.Times)}
}

// listPorts is the shared list plus Neutron's fixed_ips filter
// (fixed_ips=subnet_id=X, fixed_ips=ip_address=Y).
func (s *Service) listPorts(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	lq, err := parseList(r, portResource.filters)
	if err != nil {
		return err
	}
	var subnetFilter, ipFilter string
	for _, v := range lq.raw["fixed_ips"] {
		for _, kv := range strings.FieldsFunc(v, func(r rune) bool { return r == '&' || r == ',' }) {
			k, val, _ := strings.Cut(kv, "=")
			switch k {
			case "subnet_id":
				subnetFilter = val
			case "ip_address":
				ipFilter = val
			}
		}
	}
	var keep func(*neutron.Port) bool
	if subnetFilter != "" || ipFilter != "" {
		keep = func(p *neutron.Port) bool {
			return slices.ContainsFunc(p.FixedIPs, func(f neutron.FixedIP) bool {
				return (subnetFilter == "" || f.SubnetID == subnetFilter) && (ipFilter == "" || f.IPAddress == ipFilter)
			})
		}
	}
	return portResource.listMatching(s, w, r, c, lq, keep)
}

// checkPortAttrs checks the rules of the attributes a port body sets
// (action "create" or "update"): a network device owner, a MAC address,
// fixed IPs by subnet or by address.
func (s *Service) checkPortAttrs(c policy.Caller, action string, b *portBody, old *neutron.Port, t policy.Target) error {
	rule := func(attr string) policy.Rule { return policy.Rule(action + "_port:" + attr) }
	if b.DeviceOwner != nil && (isNetworkDevice(*b.DeviceOwner) || old != nil && isNetworkDevice(old.DeviceOwner)) {
		if err := s.authorize(c, rule("device_owner"), t); err != nil {
			return err
		}
	}
	if b.MACAddress != nil && action == "create" {
		if err := s.authorize(c, rule("mac_address"), t); err != nil {
			return err
		}
	}
	if b.FixedIPs == nil {
		return nil
	}
	if action == "update" {
		if err := s.authorize(c, rule("fixed_ips"), t); err != nil {
			return err
		}
	}
	for _, f := range *b.FixedIPs {
		if f.SubnetID != "" {
			if err := s.authorize(c, rule("fixed_ips:subnet_id"), t); err != nil {
				return err
			}
		}
		if f.IPAddress != "" {
			if err := s.authorize(c, rule("fixed_ips:ip_address"), t); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Service) createPort(ctx context.Context, c policy.Caller, project string, b *portBody) (any, []string, error) {
	if str(b.NetworkID) == "" {
		return nil, nil, badRequest("port", "Invalid input for network_id. Reason: 'None' is not a valid UUID")
	}
	now := s.now()
	p := &neutron.Port{ID: ids.New(), ProjectID: project, NetworkID: *b.NetworkID, Name: str(b.Name), Description: str(b.Description),
		AdminStateUp: b.AdminStateUp == nil || *b.AdminStateUp, MACAddress: newMAC(), DeviceOwner: str(b.DeviceOwner),
		DeviceID: str(b.DeviceID), QoSPolicyID: str(b.QoSPolicyID), SecurityGroups: []string{}, Status: neutron.PortDown,
		PortSecurityEnabled: b.PortSecurity == nil || *b.PortSecurity, Tags: []string{}, Times: neutron.Times{CreatedAt: now, UpdatedAt: now}}
	set(&p.MACAddress, b.MACAddress)
	set(&p.Tags, b.Tags)
	if err := checkTags(p.Tags); err != nil {
		return nil, nil, err
	}
	if !p.PortSecurityEnabled && len(b.SecurityGroups.Values) > 0 {
		return nil, nil, portSecurityRequired()
	}
	if p.DeviceID != "" {
		p.Status = neutron.PortActive
	}
	var out any
	var touched []string
	err := s.update(ctx, func(tx store.Tx) error {
		n, _, err := networkResource.visible(ctx, s, newNetworks(tx), c, p.NetworkID)
		if err != nil {
			return err
		}
		t := onNetwork(project, n)
		if err := s.authorize(c, "create_port", t); err != nil {
			return err
		}
		if err := s.checkPortAttrs(c, "create", b, nil, t); err != nil {
			return err
		}
		if err := s.usableQoS(ctx, tx, c, p.QoSPolicyID); err != nil {
			return err
		}
		if err := s.reserve(ctx, tx, c, project, map[neutron.QuotaResource]int{neutron.QuotaPort: 1}); err != nil {
			return err
		}
		switch {
		case !p.PortSecurityEnabled:
		case b.SecurityGroups.Set:
			if p.SecurityGroups, err = s.portGroups(ctx, tx, c, project, b.SecurityGroups.Values); err != nil {
				return err
			}
		case !isNetworkDevice(p.DeviceOwner):
			// As Neutron: a port that names no group gets its project's
			// default group.
			def, err := s.ensureDefaultGroup(ctx, tx, c, project)
			if err != nil {
				return err
			}
			if def != "" {
				p.SecurityGroups = []string{def}
			}
		}
		if b.MACAddress == nil {
			if p.MACAddress, err = freeMAC(ctx, tx, p.NetworkID); err != nil {
				return err
			}
		}
		if err := tx.Ports().Create(ctx, p); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return conflict("MacAddressInUse", fmt.Sprintf("Unable to complete operation for network %s. The mac address %s is in use.", p.NetworkID, p.MACAddress))
			}
			return err
		}
		if b.FixedIPs == nil || len(*b.FixedIPs) > 0 { // fixed_ips: [] asks for a port without addresses
			if p.FixedIPs, err = s.space.allocate(ctx, tx, p.NetworkID, p.ID, requests(b.FixedIPs)); err != nil {
				return err
			}
			if err := tx.Ports().Update(ctx, p); err != nil {
				return err
			}
		}
		if err := bindGroups(ctx, tx, p); err != nil {
			return err
		}
		// A new member of groups other groups' rules admit.
		if touched, err = s.touchGroups(ctx, tx, p.SecurityGroups); err != nil {
			return err
		}
		out = renderPort(p)
		return nil
	})
	return out, touched, err
}

// portSecurityRequired is Neutron's refusal of groups on a port without
// port security.
func portSecurityRequired() *Error {
	return &Error{Code: http.StatusBadRequest, Type: "PortSecurityAndIPRequiredForSecurityGroups",
		Message: "Port security must be enabled and port must have an IP address in order to use security groups."}
}

func requests(fixed *[]fixedIP) []IPRequest {
	if fixed == nil {
		return nil
	}
	out := make([]IPRequest, 0, len(*fixed))
	for _, f := range *fixed {
		out = append(out, IPRequest(f))
	}
	return out
}

func (s *Service) changePort(ctx context.Context, tx store.Tx, c policy.Caller, p *neutron.Port, t policy.Target, b *portBody) ([]string, error) {
	if b.NetworkID != nil {
		return nil, readOnly("port", "network_id")
	}
	if err := s.checkPortAttrs(c, "update", b, p, t); err != nil {
		return nil, err
	}
	if b.FixedIPs != nil || b.DeviceOwner != nil && *b.DeviceOwner != p.DeviceOwner || b.DeviceID != nil && *b.DeviceID != p.DeviceID {
		if err := checkNotServicePort(ctx, tx, p, "updated"); err != nil {
			return nil, err
		}
	}
	if err := s.setQoS(ctx, tx, c, &p.QoSPolicyID, b.QoSPolicyID); err != nil {
		return nil, err
	}
	if b.Tags != nil {
		if err := checkTags(*b.Tags); err != nil {
			return nil, err
		}
	}
	before := slices.Clone(p.SecurityGroups)
	beforeSecurity := p.PortSecurityEnabled
	set(&p.PortSecurityEnabled, b.PortSecurity)
	if b.SecurityGroups.Set {
		var err error
		if p.SecurityGroups, err = s.portGroups(ctx, tx, c, p.ProjectID, b.SecurityGroups.Values); err != nil {
			return nil, err
		}
	}
	if !p.PortSecurityEnabled && len(p.SecurityGroups) > 0 {
		if b.SecurityGroups.Set {
			return nil, portSecurityRequired()
		}
		return nil, conflict("PortSecurityPortHasSecurityGroup", "Port has security group associated. Cannot disable port security or IP address until security group is removed.")
	}
	b.apply(&p.Name, &p.Description, &p.Tags)
	set(&p.AdminStateUp, b.AdminStateUp)
	set(&p.DeviceOwner, b.DeviceOwner)
	set(&p.DeviceID, b.DeviceID)
	if b.FixedIPs != nil {
		if err := releaseAddresses(ctx, tx, p.ID, s.now()); err != nil {
			return nil, err
		}
		p.FixedIPs = nil
		if len(*b.FixedIPs) > 0 {
			var err error
			if p.FixedIPs, err = s.space.allocate(ctx, tx, p.NetworkID, p.ID, requests(b.FixedIPs)); err != nil {
				return nil, err
			}
		}
	}
	p.UpdatedAt = s.now()
	if !b.SecurityGroups.Set && b.FixedIPs == nil && beforeSecurity == p.PortSecurityEnabled {
		return nil, nil
	}
	if b.SecurityGroups.Set {
		if err := bindGroups(ctx, tx, p); err != nil {
			return nil, err
		}
	}
	// The port's own filter (a VIP port) and the groups whose members'
	// addresses changed.
	touched, err := touchVIPPorts(ctx, tx, s.now(), p.ID)
	if err != nil {
		return nil, err
	}
	more, err := s.touchGroups(ctx, tx, append(before, p.SecurityGroups...))
	return append(touched, more...), err
}

func (s *Service) deletePortCall(ctx context.Context, tx store.Tx, p *neutron.Port) ([]string, error) {
	if err := checkNotServicePort(ctx, tx, p, "deleted"); err != nil {
		return nil, err
	}
	if err := deletePort(ctx, tx, p.ID, s.now()); err != nil {
		return nil, err
	}
	return s.touchGroups(ctx, tx, p.SecurityGroups)
}

// checkNotServicePort refuses to delete or re-address a port that holds a
// service's address while the service lives: a load balancer's VIP port
// (device owner Octavia) while the load balancer exists, a floating IP's
// port while the floating IP exists, an agent's address (fulcrum:agent,
// agents.go) while the agent exists. Freeing such a port through the port
// API would hand a live address to the next allocation. The answer is
// Neutron's for ports of its own services: 409 ServicePortInUse.
func checkNotServicePort(ctx context.Context, tx store.Tx, p *neutron.Port, what string) error {
	if p.DeviceID == "" {
		return nil
	}
	var err error
	switch p.DeviceOwner {
	case neutron.OwnerLoadBalancerVIP:
		_, err = tx.LoadBalancers().Get(ctx, p.DeviceID)
	case neutron.OwnerFloatingIP:
		_, err = tx.FloatingIPs().Get(ctx, p.DeviceID)
	case neutron.OwnerAgent:
		_, err = tx.Agents().Get(ctx, p.DeviceID)
	default:
		return nil
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil // the service is gone: the port is an ordinary one
	}
	if err != nil {
		return err
	}
	return conflict("ServicePortInUse", fmt.Sprintf("Port %s cannot be %s directly via the port API: has device owner %s.", p.ID, what, p.DeviceOwner))
}
