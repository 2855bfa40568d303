package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/ids"

	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// filters maps Neutron query parameters to store fields; a repeated
// parameter matches any of its values. Unknown parameters are ignored.
func filters(r *http.Request, fields map[string]string) ([]store.Filter, error) {
	var out []store.Filter
	q := r.URL.Query()
	for param, field := range fields {
		vals, ok := q[param]
		if !ok {
			continue
		}
		if len(vals) == 1 {
			out = append(out, store.F(field, vals[0]))
		} else {
			out = append(out, store.In(field, vals...))
		}
	}
	return out, nil
}

// visible reports whether c may see an object of project; shared objects
// (shared or external networks and what they hold) are visible to all.
func visible(c policy.Caller, project string, shared bool) bool {
	return shared || owns(c, project)
}

func tagsOr(t []string) []string {
	if t == nil {
		return []string{}
	}
	return t
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// projectFor is the project a new object belongs to: the body's
// project_id/tenant_id (admins only) or the caller's.
func projectFor(c policy.Caller, projectID, tenantID *string, resource string) (string, error) {
	want := ""
	if projectID != nil {
		want = *projectID
	} else if tenantID != nil {
		want = *tenantID
	}
	if want == "" {
		if c.ProjectID == "" {
			return "", badRequest(resource, "'project_id' is required")
		}
		return c.ProjectID, nil
	}
	if want != c.ProjectID && !isAdmin(c) {
		return "", forbidden("create_" + resource + ":project_id")
	}
	return want, nil
}

// ---- networks

type networkBody struct {
	Name         *string   `json:"name"`
	Description  *string   `json:"description"`
	AdminStateUp *bool     `json:"admin_state_up"`
	Shared       *bool     `json:"shared"`
	External     *bool     `json:"router:external"`
	MTU          *int      `json:"mtu"`
	QoSPolicyID  *string   `json:"qos_policy_id"`
	ProjectID    *string   `json:"project_id"`
	TenantID     *string   `json:"tenant_id"`
	Tags         *[]string `json:"tags"`
}

func (s *Service) networkJSON(ctx context.Context, tx store.Tx, n *neutron.Network) (map[string]any, error) {
	subs, err := tx.Subnets().Refs(ctx, "network_id", []string{n.ID})
	if err != nil {
		return nil, err
	}
	ids := subs[n.ID]
	if ids == nil {
		ids = []string{}
	}
	return map[string]any{
		"id": n.ID, "name": n.Name, "description": n.Description, "project_id": n.ProjectID, "tenant_id": n.ProjectID,
		"admin_state_up": n.AdminStateUp, "status": "ACTIVE", "subnets": ids, "shared": n.Shared, "router:external": n.External,
		"mtu": n.MTU, "qos_policy_id": nullable(n.QoSPolicyID), "port_security_enabled": true, "is_default": false,
		"availability_zones": []string{}, "availability_zone_hints": []string{}, "ipv4_address_scope": nil, "ipv6_address_scope": nil,
		"l2_adjacency": true, "tags": tagsOr(n.Tags), "revision_number": 0,
		"created_at": neutronTime(n.CreatedAt), "updated_at": neutronTime(n.UpdatedAt),
	}, nil
}

func (s *Service) listNetworks(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	f, _ := filters(r, map[string]string{"id": "id", "name": "name", "project_id": "project_id", "tenant_id": "project_id",
		"router:external": "external", "shared": "shared", "admin_state_up": "admin_state_up"})
	out := []map[string]any{}
	err := s.view(r.Context(), func(tx store.Tx) error {
		list, err := tx.Networks().List(r.Context(), store.Query{Filters: f})
		if err != nil {
			return badQuery(err)
		}
		for _, n := range list {
			if !visible(c, n.ProjectID, n.Shared || n.External) {
				continue
			}
			j, err := s.networkJSON(r.Context(), tx, n)
			if err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"networks": out})
	return nil
}

func badQuery(err error) error {
	if errors.Is(err, store.ErrInvalidQuery) {
		return &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest", Message: "Bad request: invalid filter value."}
	}
	return err
}

func (s *Service) getNetworkVisible(ctx context.Context, tx store.Tx, c policy.Caller, id string) (*neutron.Network, error) {
	n, err := tx.Networks().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !visible(c, n.ProjectID, n.Shared || n.External)) {
		return nil, notFound("Network", "NetworkNotFound", id)
	}
	return n, err
}

func (s *Service) getNetwork(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var out map[string]any
	err := s.view(r.Context(), func(tx store.Tx) error {
		n, err := s.getNetworkVisible(r.Context(), tx, c, r.PathValue("id"))
		if err != nil {
			return err
		}
		out, err = s.networkJSON(r.Context(), tx, n)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"network": out})
	return nil
}

func (s *Service) createNetwork(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var b networkBody
	if err := decode(r, "network", &b); err != nil {
		return err
	}
	project, err := projectFor(c, b.ProjectID, b.TenantID, "network")
	if err != nil {
		return err
	}
	if (b.Shared != nil && *b.Shared || b.External != nil && *b.External) && !isAdmin(c) {
		return forbidden("create_network:shared")
	}
	now := s.now()
	n := &neutron.Network{ID: ids.New(), ProjectID: project, Name: str(b.Name), Description: str(b.Description),
		AdminStateUp: b.AdminStateUp == nil || *b.AdminStateUp, Shared: b.Shared != nil && *b.Shared,
		External: b.External != nil && *b.External, MTU: 1500, QoSPolicyID: str(b.QoSPolicyID), Tags: []string{},
		Times: neutron.Times{CreatedAt: now, UpdatedAt: now}}
	if b.MTU != nil {
		n.MTU = *b.MTU
	}
	if b.Tags != nil {
		n.Tags = *b.Tags
	}
	var out map[string]any
	err = s.update(r.Context(), func(tx store.Tx) error {
		if n.QoSPolicyID != "" {
			if _, err := tx.QoSPolicies().Get(r.Context(), n.QoSPolicyID); err != nil {
				return qosNotFoundOr(err, n.QoSPolicyID)
			}
		}
		if err := tx.Networks().Create(r.Context(), n); err != nil {
			return err
		}
		out, err = s.networkJSON(r.Context(), tx, n)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"network": out})
	return nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func qosNotFoundOr(err error, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound("QoS policy", "QosPolicyNotFound", id)
	}
	return err
}

func (s *Service) updateNetwork(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var b networkBody
	if err := decode(r, "network", &b); err != nil {
		return err
	}
	var out map[string]any
	err := s.update(r.Context(), func(tx store.Tx) error {
		n, err := s.getNetworkVisible(r.Context(), tx, c, r.PathValue("id"))
		if err != nil {
			return err
		}
		if !owns(c, n.ProjectID) || ((b.Shared != nil || b.External != nil) && !isAdmin(c)) {
			return forbidden("update_network")
		}
		if b.Name != nil {
			n.Name = *b.Name
		}
		if b.Description != nil {
			n.Description = *b.Description
		}
		if b.AdminStateUp != nil {
			n.AdminStateUp = *b.AdminStateUp
		}
		if b.Shared != nil {
			n.Shared = *b.Shared
		}
		if b.External != nil {
			n.External = *b.External
		}
		if b.MTU != nil {
			n.MTU = *b.MTU
		}
		if b.Tags != nil {
			n.Tags = *b.Tags
		}
		if b.QoSPolicyID != nil {
			n.QoSPolicyID = *b.QoSPolicyID
			if n.QoSPolicyID != "" {
				if _, err := tx.QoSPolicies().Get(r.Context(), n.QoSPolicyID); err != nil {
					return qosNotFoundOr(err, n.QoSPolicyID)
				}
			}
		}
		n.UpdatedAt = s.now()
		if err := tx.Networks().Update(r.Context(), n); err != nil {
			return err
		}
		out, err = s.networkJSON(r.Context(), tx, n)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"network": out})
	return nil
}

// deleteNetwork removes a network and its subnets; ports other than the
// network's own keep it: 409 NetworkInUse.
func (s *Service) deleteNetwork(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	ctx := r.Context()
	id := r.PathValue("id")
	err := s.update(ctx, func(tx store.Tx) error {
		n, err := s.getNetworkVisible(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if !owns(c, n.ProjectID) {
			return forbidden("delete_network")
		}
		ports, err := tx.Ports().Count(ctx, store.F("network_id", id))
		if err != nil {
			return err
		}
		if ports > 0 {
			return conflict("NetworkInUse", fmt.Sprintf("Unable to complete operation on network %s. There are one or more ports still in use on the network.", id))
		}
		if _, err := tx.Subnets().DeleteWhere(ctx, store.F("network_id", id)); err != nil {
			return err
		}
		return tx.Networks().Delete(ctx, id)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- subnets

type subnetBody struct {
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
	NetworkID   *string   `json:"network_id"`
	IPVersion   *int      `json:"ip_version"`
	CIDR        *string   `json:"cidr"`
	GatewayIP   optString `json:"gateway_ip"`
	Pools       *[]struct {
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"allocation_pools"`
	EnableDHCP     *bool     `json:"enable_dhcp"`
	DNSNameservers *[]string `json:"dns_nameservers"`
	ProjectID      *string   `json:"project_id"`
	TenantID       *string   `json:"tenant_id"`
	Tags           *[]string `json:"tags"`
}

// optString distinguishes an absent key (Set false) from an explicit null
// (Null true) and a string value.
type optString struct {
	Set   bool
	Null  bool
	Value string
}

func (j *optString) UnmarshalJSON(b []byte) error {
	j.Set = true
	if string(b) == "null" {
		j.Null = true
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	j.Value = s
	return nil
}

func subnetJSON(sub *neutron.Subnet) map[string]any {
	pools := make([]map[string]string, 0, len(sub.AllocationPools))
	for _, p := range sub.AllocationPools {
		pools = append(pools, map[string]string{"start": p.Start, "end": p.End})
	}
	dns := sub.DNSNameservers
	if dns == nil {
		dns = []string{}
	}
	return map[string]any{
		"id": sub.ID, "name": sub.Name, "description": sub.Description, "project_id": sub.ProjectID, "tenant_id": sub.ProjectID,
		"network_id": sub.NetworkID, "ip_version": sub.IPVersion, "cidr": sub.CIDR, "gateway_ip": nullable(sub.GatewayIP),
		"allocation_pools": pools, "enable_dhcp": sub.EnableDHCP, "dns_nameservers": dns, "host_routes": []any{},
		"ipv6_ra_mode": nil, "ipv6_address_mode": nil, "subnetpool_id": nil, "service_types": []string{}, "segment_id": nil,
		"tags": tagsOr(sub.Tags), "revision_number": 0, "created_at": neutronTime(sub.CreatedAt), "updated_at": neutronTime(sub.UpdatedAt),
	}
}

// subnetVisible loads a subnet the caller may see (its own, or one on a
// shared or external network).
func (s *Service) subnetVisible(ctx context.Context, tx store.Tx, c policy.Caller, id string) (*neutron.Subnet, *neutron.Network, error) {
	sub, err := tx.Subnets().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, notFound("Subnet", "SubnetNotFound", id)
	}
	if err != nil {
		return nil, nil, err
	}
	n, err := tx.Networks().Get(ctx, sub.NetworkID)
	if err != nil {
		return nil, nil, err
	}
	if !visible(c, sub.ProjectID, n.Shared || n.External) {
		return nil, nil, notFound("Subnet", "SubnetNotFound", id)
	}
	return sub, n, nil
}

func (s *Service) listSubnets(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	f, _ := filters(r, map[string]string{"id": "id", "name": "name", "network_id": "network_id", "project_id": "project_id",
		"tenant_id": "project_id", "ip_version": "ip_version", "cidr": "cidr", "gateway_ip": "gateway_ip", "enable_dhcp": "enable_dhcp"})
	out := []map[string]any{}
	err := s.view(r.Context(), func(tx store.Tx) error {
		list, err := tx.Subnets().List(r.Context(), store.Query{Filters: f})
		if err != nil {
			return badQuery(err)
		}
		shared := map[string]bool{}
		for _, sub := range list {
			sh, ok := shared[sub.NetworkID]
			if !ok {
				n, err := tx.Networks().Get(r.Context(), sub.NetworkID)
				if err != nil {
					return err
				}
				sh = n.Shared || n.External
				shared[sub.NetworkID] = sh
			}
			if visible(c, sub.ProjectID, sh) {
				out = append(out, subnetJSON(sub))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"subnets": out})
	return nil
}

func (s *Service) getSubnet(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var out map[string]any
	err := s.view(r.Context(), func(tx store.Tx) error {
		sub, _, err := s.subnetVisible(r.Context(), tx, c, r.PathValue("id"))
		if err == nil {
			out = subnetJSON(sub)
		}
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"subnet": out})
	return nil
}

func (s *Service) createSubnet(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var b subnetBody
	if err := decode(r, "subnet", &b); err != nil {
		return err
	}
	if str(b.NetworkID) == "" {
		return badRequest("subnet", "Invalid input for network_id. Reason: 'None' is not a valid UUID")
	}
	if str(b.CIDR) == "" {
		return badRequest("subnet", "a cidr must be specified")
	}
	project, err := projectFor(c, b.ProjectID, b.TenantID, "subnet")
	if err != nil {
		return err
	}
	now := s.now()
	sub := &neutron.Subnet{ID: ids.New(), ProjectID: project, NetworkID: *b.NetworkID, Name: str(b.Name), Description: str(b.Description),
		CIDR: *b.CIDR, EnableDHCP: b.EnableDHCP == nil || *b.EnableDHCP, DNSNameservers: []string{}, Tags: []string{},
		Times: neutron.Times{CreatedAt: now, UpdatedAt: now}}
	if b.IPVersion != nil {
		sub.IPVersion = *b.IPVersion
		if sub.IPVersion != 4 && sub.IPVersion != 6 {
			return badRequest("subnet", fmt.Sprintf("Invalid input for ip_version. Reason: %d is not in valid_values", sub.IPVersion))
		}
	}
	noGateway := false
	if b.GatewayIP.Set {
		noGateway = b.GatewayIP.Null
		sub.GatewayIP = b.GatewayIP.Value
	}
	if b.Pools != nil {
		for _, p := range *b.Pools {
			sub.AllocationPools = append(sub.AllocationPools, neutron.AllocationPool{Start: p.Start, End: p.End})
		}
	}
	if b.DNSNameservers != nil {
		sub.DNSNameservers = *b.DNSNameservers
	}
	if b.Tags != nil {
		sub.Tags = *b.Tags
	}
	if err := neutron.ParseSubnet(sub, noGateway); err != nil {
		var bre *neutron.BadRequestError
		if errors.As(err, &bre) {
			return badRequest("subnet", bre.Msg)
		}
		return err
	}
	err = s.update(r.Context(), func(tx store.Tx) error {
		n, err := s.getNetworkVisible(r.Context(), tx, c, sub.NetworkID)
		if err != nil {
			return err
		}
		if !owns(c, n.ProjectID) {
			return forbidden("create_subnet")
		}
		others, err := tx.Subnets().List(r.Context(), store.Query{Filters: []store.Filter{store.F("network_id", n.ID)}})
		if err != nil {
			return err
		}
		mine := netip.MustParsePrefix(sub.CIDR)
		for _, o := range others {
			if p, err := netip.ParsePrefix(o.CIDR); err == nil && p.Overlaps(mine) {
				return invalidInput(fmt.Sprintf("Requested subnet with cidr: %s for network: %s overlaps with another subnet.", sub.CIDR, n.ID))
			}
		}
		return tx.Subnets().Create(r.Context(), sub)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"subnet": subnetJSON(sub)})
	return nil
}

func (s *Service) updateSubnet(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var b subnetBody
	if err := decode(r, "subnet", &b); err != nil {
		return err
	}
	if b.CIDR != nil || b.NetworkID != nil || b.IPVersion != nil {
		return badRequest("subnet", "Cannot update read-only attribute")
	}
	var out map[string]any
	err := s.update(r.Context(), func(tx store.Tx) error {
		sub, _, err := s.subnetVisible(r.Context(), tx, c, r.PathValue("id"))
		if err != nil {
			return err
		}
		if !owns(c, sub.ProjectID) {
			return forbidden("update_subnet")
		}
		if b.Name != nil {
			sub.Name = *b.Name
		}
		if b.Description != nil {
			sub.Description = *b.Description
		}
		if b.EnableDHCP != nil {
			sub.EnableDHCP = *b.EnableDHCP
		}
		if b.DNSNameservers != nil {
			sub.DNSNameservers = *b.DNSNameservers
		}
		if b.Tags != nil {
			sub.Tags = *b.Tags
		}
		if b.GatewayIP.Set {
			gw := b.GatewayIP.Value
			if gw != "" && !sub.Contains(gw) {
				return badRequest("subnet", fmt.Sprintf("Invalid input for gateway_ip. Reason: '%s' is not in the subnet", gw))
			}
			if gw != "" && sub.InPools(gw) {
				return badRequest("subnet", fmt.Sprintf("Gateway ip %s conflicts with allocation pool", gw))
			}
			sub.GatewayIP = gw
		}
		sub.UpdatedAt = s.now()
		if err := tx.Subnets().Update(r.Context(), sub); err != nil {
			return err
		}
		out = subnetJSON(sub)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"subnet": out})
	return nil
}

func (s *Service) deleteSubnet(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	ctx := r.Context()
	id := r.PathValue("id")
	err := s.update(ctx, func(tx store.Tx) error {
		sub, _, err := s.subnetVisible(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if !owns(c, sub.ProjectID) {
			return forbidden("delete_subnet")
		}
		n, err := tx.IPAllocations().Count(ctx, store.F("subnet_id", id))
		if err != nil {
			return err
		}
		if n > 0 {
			return conflict("SubnetInUse", fmt.Sprintf("Unable to complete operation on subnet %s: One or more ports have an IP allocation from this subnet.", id))
		}
		return tx.Subnets().Delete(ctx, id)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- ports

type portBody struct {
	Name           *string   `json:"name"`
	Description    *string   `json:"description"`
	NetworkID      *string   `json:"network_id"`
	AdminStateUp   *bool     `json:"admin_state_up"`
	MACAddress     *string   `json:"mac_address"`
	FixedIPs       *[]fixed  `json:"fixed_ips"`
	DeviceOwner    *string   `json:"device_owner"`
	DeviceID       *string   `json:"device_id"`
	QoSPolicyID    *string   `json:"qos_policy_id"`
	SecurityGroups *[]string `json:"security_groups"`
	ProjectID      *string   `json:"project_id"`
	TenantID       *string   `json:"tenant_id"`
	Tags           *[]string `json:"tags"`
}

type fixed struct {
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

func portJSON(p *neutron.Port) map[string]any {
	ips := make([]map[string]string, 0, len(p.FixedIPs))
	for _, f := range p.FixedIPs {
		ips = append(ips, map[string]string{"subnet_id": f.SubnetID, "ip_address": f.IPAddress})
	}
	sgs := p.SecurityGroups
	if sgs == nil {
		sgs = []string{}
	}
	return map[string]any{
		"id": p.ID, "name": p.Name, "description": p.Description, "network_id": p.NetworkID, "project_id": p.ProjectID,
		"tenant_id": p.ProjectID, "mac_address": p.MACAddress, "admin_state_up": p.AdminStateUp, "status": p.Status,
		"device_id": p.DeviceID, "device_owner": p.DeviceOwner, "fixed_ips": ips, "allowed_address_pairs": []any{},
		"extra_dhcp_opts": []any{}, "security_groups": sgs, "port_security_enabled": true, "qos_policy_id": nullable(p.QoSPolicyID),
		"binding:vnic_type": "normal", "tags": tagsOr(p.Tags), "revision_number": 0,
		"created_at": neutronTime(p.CreatedAt), "updated_at": neutronTime(p.UpdatedAt),
	}
}

func (s *Service) portVisible(ctx context.Context, tx store.Tx, c policy.Caller, id string) (*neutron.Port, error) {
	p, err := tx.Ports().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !owns(c, p.ProjectID)) {
		return nil, notFound("Port", "PortNotFound", id)
	}
	return p, err
}

func (s *Service) listPorts(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	f, _ := filters(r, map[string]string{"id": "id", "name": "name", "network_id": "network_id", "project_id": "project_id",
		"tenant_id": "project_id", "device_id": "device_id", "device_owner": "device_owner", "mac_address": "mac_address", "status": "status"})
	var subnetFilter, ipFilter string
	for _, v := range r.URL.Query()["fixed_ips"] {
		for _, kv := range splitKV(v) {
			switch kv[0] {
			case "subnet_id":
				subnetFilter = kv[1]
			case "ip_address":
				ipFilter = kv[1]
			}
		}
	}
	out := []map[string]any{}
	err := s.view(r.Context(), func(tx store.Tx) error {
		list, err := tx.Ports().List(r.Context(), store.Query{Filters: f})
		if err != nil {
			return badQuery(err)
		}
		for _, p := range list {
			if !owns(c, p.ProjectID) {
				continue
			}
			if subnetFilter != "" || ipFilter != "" {
				match := slices.ContainsFunc(p.FixedIPs, func(f neutron.FixedIP) bool {
					return (subnetFilter == "" || f.SubnetID == subnetFilter) && (ipFilter == "" || f.IPAddress == ipFilter)
				})
				if !match {
					continue
				}
			}
			out = append(out, portJSON(p))
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"ports": out})
	return nil
}

// splitKV parses "subnet_id=X" (or several joined by &).
func splitKV(s string) [][2]string {
	var out [][2]string
	for _, part := range splitAny(s, "&,") {
		for i := 0; i < len(part); i++ {
			if part[i] == '=' {
				out = append(out, [2]string{part[:i], part[i+1:]})
				break
			}
		}
	}
	return out
}

func splitAny(s, seps string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(seps); j++ {
			if s[i] == seps[j] {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func (s *Service) getPort(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var out map[string]any
	err := s.view(r.Context(), func(tx store.Tx) error {
		p, err := s.portVisible(r.Context(), tx, c, r.PathValue("id"))
		if err == nil {
			out = portJSON(p)
		}
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"port": out})
	return nil
}

func (s *Service) createPort(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var b portBody
	if err := decode(r, "port", &b); err != nil {
		return err
	}
	if str(b.NetworkID) == "" {
		return badRequest("port", "Invalid input for network_id. Reason: 'None' is not a valid UUID")
	}
	project, err := projectFor(c, b.ProjectID, b.TenantID, "port")
	if err != nil {
		return err
	}
	now := s.now()
	p := &neutron.Port{ID: ids.New(), ProjectID: project, NetworkID: *b.NetworkID, Name: str(b.Name), Description: str(b.Description),
		AdminStateUp: b.AdminStateUp == nil || *b.AdminStateUp, MACAddress: newMAC(), DeviceOwner: str(b.DeviceOwner),
		DeviceID: str(b.DeviceID), QoSPolicyID: str(b.QoSPolicyID), SecurityGroups: []string{}, Status: neutron.PortDown,
		Tags: []string{}, Times: neutron.Times{CreatedAt: now, UpdatedAt: now}}
	if b.MACAddress != nil {
		p.MACAddress = *b.MACAddress
	}
	if b.SecurityGroups != nil {
		p.SecurityGroups = *b.SecurityGroups
	}
	if b.Tags != nil {
		p.Tags = *b.Tags
	}
	if p.DeviceID != "" {
		p.Status = neutron.PortActive
	}
	var reqs []IPRequest
	if b.FixedIPs != nil {
		for _, f := range *b.FixedIPs {
			reqs = append(reqs, IPRequest(f))
		}
	}
	err = s.update(r.Context(), func(tx store.Tx) error {
		n, err := s.getNetworkVisible(r.Context(), tx, c, p.NetworkID)
		if err != nil {
			return err
		}
		if !owns(c, n.ProjectID) && !n.Shared {
			return forbidden("create_port:network")
		}
		if p.QoSPolicyID != "" {
			if _, err := tx.QoSPolicies().Get(r.Context(), p.QoSPolicyID); err != nil {
				return qosNotFoundOr(err, p.QoSPolicyID)
			}
		}
		if err := tx.Ports().Create(r.Context(), p); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return conflict("MacAddressInUse", fmt.Sprintf("Unable to complete operation for network %s. The mac address %s is in use.", p.NetworkID, p.MACAddress))
			}
			return err
		}
		if b.FixedIPs != nil && len(reqs) == 0 {
			return nil // fixed_ips: [] asks for a port without addresses
		}
		p.FixedIPs, err = allocate(r.Context(), tx, p.NetworkID, p.ID, reqs)
		if err != nil {
			return err
		}
		return tx.Ports().Update(r.Context(), p)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"port": portJSON(p)})
	return nil
}

func (s *Service) updatePort(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var b portBody
	if err := decode(r, "port", &b); err != nil {
		return err
	}
	if b.NetworkID != nil {
		return badRequest("port", "Cannot update read-only attribute network_id")
	}
	var out map[string]any
	err := s.update(r.Context(), func(tx store.Tx) error {
		ctx := r.Context()
		p, err := s.portVisible(ctx, tx, c, r.PathValue("id"))
		if err != nil {
			return err
		}
		if b.Name != nil {
			p.Name = *b.Name
		}
		if b.Description != nil {
			p.Description = *b.Description
		}
		if b.AdminStateUp != nil {
			p.AdminStateUp = *b.AdminStateUp
		}
		if b.DeviceOwner != nil {
			p.DeviceOwner = *b.DeviceOwner
		}
		if b.DeviceID != nil {
			p.DeviceID = *b.DeviceID
		}
		if b.SecurityGroups != nil {
			p.SecurityGroups = *b.SecurityGroups
		}
		if b.Tags != nil {
			p.Tags = *b.Tags
		}
		if b.QoSPolicyID != nil {
			if *b.QoSPolicyID != "" {
				if _, err := tx.QoSPolicies().Get(ctx, *b.QoSPolicyID); err != nil {
					return qosNotFoundOr(err, *b.QoSPolicyID)
				}
			}
			p.QoSPolicyID = *b.QoSPolicyID
		}
		if b.FixedIPs != nil {
			if _, err := tx.IPAllocations().DeleteWhere(ctx, store.F("port_id", p.ID)); err != nil {
				return err
			}
			var reqs []IPRequest
			for _, f := range *b.FixedIPs {
				reqs = append(reqs, IPRequest(f))
			}
			p.FixedIPs = nil
			if len(reqs) > 0 {
				if p.FixedIPs, err = allocate(ctx, tx, p.NetworkID, p.ID, reqs); err != nil {
					return err
				}
			}
		}
		p.UpdatedAt = s.now()
		if err := tx.Ports().Update(ctx, p); err != nil {
			return err
		}
		out = portJSON(p)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"port": out})
	return nil
}

func (s *Service) deletePort(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	ctx := r.Context()
	id := r.PathValue("id")
	err := s.update(ctx, func(tx store.Tx) error {
		p, err := s.portVisible(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if p.DeviceOwner == neutron.OwnerFloatingIP {
			return conflict("ServicePortInUse", fmt.Sprintf("Port %s cannot be deleted directly via the port API: has device owner network:floatingip.", id))
		}
		return deletePort(ctx, tx, id, s.now())
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
