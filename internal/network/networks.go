package network

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/ids"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

type networkBody struct {
	owned
	common
	AdminStateUp *bool   `json:"admin_state_up"`
	Shared       *bool   `json:"shared"`
	External     *bool   `json:"router:external"`
	MTU          *int    `json:"mtu"`
	QoSPolicyID  *string `json:"qos_policy_id"`
}

// networkJSON is a network on the wire.
type networkJSON struct {
	owner
	AdminStateUp          bool     `json:"admin_state_up"`
	Status                string   `json:"status"`
	Subnets               []string `json:"subnets"`
	Shared                bool     `json:"shared"`
	External              bool     `json:"router:external"`
	MTU                   int      `json:"mtu"`
	QoSPolicyID           *string  `json:"qos_policy_id"`
	PortSecurityEnabled   bool     `json:"port_security_enabled"`
	IsDefault             bool     `json:"is_default"`
	AvailabilityZones     []string `json:"availability_zones"`
	AvailabilityZoneHints []string `json:"availability_zone_hints"`
	IPv4AddressScope      *string  `json:"ipv4_address_scope"`
	IPv6AddressScope      *string  `json:"ipv6_address_scope"`
	L2Adjacency           bool     `json:"l2_adjacency"`
	standard
}

var networkResource = &resource[neutron.Network]{
	name: "network", plural: "networks", title: "Network", notFound: "NetworkNotFound",
	table:   func(tx store.Tx) store.Table[neutron.Network] { return tx.Networks() },
	id:      func(n *neutron.Network) string { return n.ID },
	filters: listFilters("router:external=external", "shared", "admin_state_up", "mtu"),
	target: func(_ context.Context, _ *networks, n *neutron.Network) (policy.Target, error) {
		return networkTarget(n), nil
	},
	render: renderNetworks,
}

func renderNetworks(ctx context.Context, tx store.Tx, list []*neutron.Network) ([]any, error) {
	netIDs := make([]string, len(list))
	for i, n := range list {
		netIDs[i] = n.ID
	}
	subs, err := tx.Subnets().Refs(ctx, "network_id", netIDs)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(list))
	for i, n := range list {
		sids := subs[n.ID]
		if sids == nil {
			sids = []string{}
		}
		out[i] = networkJSON{owner: ownerOf(n.ID, n.Name, n.Description, n.ProjectID),
			AdminStateUp: n.AdminStateUp, Status: "ACTIVE", Subnets: sids, Shared: n.Shared, External: n.External, MTU: n.MTU,
			QoSPolicyID: nullable(n.QoSPolicyID), PortSecurityEnabled: true, AvailabilityZones: []string{},
			AvailabilityZoneHints: []string{}, L2Adjacency: true, standard: standardOf(n.Tags, n.Times)}
	}
	return out, nil
}

// checkFlags checks the admin-only attributes a network body sets: shared
// and router:external (on create only when true, as Neutron skips
// attributes left at their default).
func (s *Service) checkFlags(c policy.Caller, action string, b *networkBody, t policy.Target) error {
	for _, f := range []struct {
		name string
		v    *bool
	}{{"shared", b.Shared}, {"router:external", b.External}} {
		if f.v != nil && (action == "update" || *f.v) {
			if err := s.authorize(c, policy.Rule(action+"_network:"+f.name), t); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Service) createNetwork(ctx context.Context, c policy.Caller, project string, b *networkBody) (any, []string, error) {
	now := s.now()
	n := &neutron.Network{ID: ids.New(), ProjectID: project, Name: str(b.Name), Description: str(b.Description),
		AdminStateUp: b.AdminStateUp == nil || *b.AdminStateUp, Shared: b.Shared != nil && *b.Shared,
		External: b.External != nil && *b.External, MTU: 1500, QoSPolicyID: str(b.QoSPolicyID), Tags: []string{},
		Times: neutron.Times{CreatedAt: now, UpdatedAt: now}}
	t := networkTarget(n)
	if err := s.authorize(c, "create_network", t); err != nil {
		return nil, nil, err
	}
	if err := s.checkFlags(c, "create", b, t); err != nil {
		return nil, nil, err
	}
	set(&n.MTU, b.MTU)
	set(&n.Tags, b.Tags)
	if err := checkTags(n.Tags); err != nil {
		return nil, nil, err
	}
	var out any
	err := s.update(ctx, func(tx store.Tx) error {
		if err := s.usableQoS(ctx, tx, c, n.QoSPolicyID); err != nil {
			return err
		}
		if err := s.reserve(ctx, tx, c, project, map[neutron.QuotaResource]int{neutron.QuotaNetwork: 1}); err != nil {
			return err
		}
		if _, err := s.ensureDefaultGroup(ctx, tx, c, project); err != nil {
			return err
		}
		if err := tx.Networks().Create(ctx, n); err != nil {
			return err
		}
		var err error
		out, err = networkResource.one(ctx, tx, n)
		return err
	})
	return out, nil, err
}

func (s *Service) changeNetwork(ctx context.Context, tx store.Tx, c policy.Caller, n *neutron.Network, t policy.Target, b *networkBody) ([]string, error) {
	if err := s.checkFlags(c, "update", b, t); err != nil {
		return nil, err
	}
	if err := s.setQoS(ctx, tx, c, &n.QoSPolicyID, b.QoSPolicyID); err != nil {
		return nil, err
	}
	if b.Tags != nil {
		if err := checkTags(*b.Tags); err != nil {
			return nil, err
		}
	}
	b.apply(&n.Name, &n.Description, &n.Tags)
	set(&n.AdminStateUp, b.AdminStateUp)
	set(&n.Shared, b.Shared)
	set(&n.External, b.External)
	set(&n.MTU, b.MTU)
	n.UpdatedAt = s.now()
	return nil, nil
}

// deleteNetwork removes a network and its subnets; ports keep it: 409
// NetworkInUse.
func deleteNetwork(ctx context.Context, tx store.Tx, n *neutron.Network) ([]string, error) {
	ports, err := tx.Ports().Count(ctx, store.F("network_id", n.ID))
	if err != nil {
		return nil, err
	}
	if ports > 0 {
		return nil, conflict("NetworkInUse", fmt.Sprintf("Unable to complete operation on network %s. There are one or more ports still in use on the network.", n.ID))
	}
	if _, err := tx.Subnets().DeleteWhere(ctx, store.F("network_id", n.ID)); err != nil {
		return nil, err
	}
	return nil, tx.Networks().Delete(ctx, n.ID)
}

// setQoS sets *to to the QoS policy a body names (nil: unchanged), which
// must be usable by c.
func (s *Service) setQoS(ctx context.Context, tx store.Tx, c policy.Caller, to *string, id *string) error {
	if id == nil {
		return nil
	}
	if err := s.usableQoS(ctx, tx, c, *id); err != nil {
		return err
	}
	*to = *id
	return nil
}

// usableQoS checks that a QoS policy a body names ("" = none) exists and
// that c may see it.
func (s *Service) usableQoS(ctx context.Context, tx store.Tx, c policy.Caller, id string) error {
	if id == "" {
		return nil
	}
	_, _, err := qosResource.visible(ctx, s, newNetworks(tx), c, id)
	var e *Error
	if errors.As(err, &e) && e.Code == http.StatusNotFound {
		return notFound("QoS policy", "QosPolicyNotFound", id)
	}
	return err
}
