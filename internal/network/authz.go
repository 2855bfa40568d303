package network

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// The Neutron subset enforces Neutron's default policy
// (policy.NetworkRules). As Neutron does, an object the caller may not see
// (get_<resource>) does not exist for it: 404; a call on an object it may
// see but not change is 403 PolicyNotAuthorized naming the rule.

// authorize checks rule for c on target.
func (s *Service) authorize(c policy.Caller, rule policy.Rule, t policy.Target) error {
	err := s.policy.AuthorizeTarget(c, rule, t)
	if errors.Is(err, policy.ErrDenied) {
		return denied(rule)
	}
	return err
}

// allowed is authorize as a boolean.
func (s *Service) allowed(c policy.Caller, rule policy.Rule, t policy.Target) bool {
	return s.policy.AllowedTarget(c, rule, t)
}

func flag(b bool) string { return strconv.FormatBool(b) }

func networkTarget(n *neutron.Network) policy.Target {
	return policy.Target{"project_id": n.ProjectID, "network:project_id": n.ProjectID,
		"networks:shared": flag(n.Shared), "networks:router:external": flag(n.External)}
}

// onNetwork is the target of an object of project on network n (a subnet
// or a port): it carries the network's owner and flags.
func onNetwork(project string, n *neutron.Network) policy.Target {
	t := policy.Target{"project_id": project}
	if n != nil {
		t["network:project_id"] = n.ProjectID
		t["networks:shared"] = flag(n.Shared)
		t["networks:router:external"] = flag(n.External)
		t["subnets:router:external"] = flag(n.External)
	}
	return t
}

func qosTarget(q *neutron.QoSPolicy) policy.Target {
	return policy.Target{"project_id": q.ProjectID, "policies:shared": flag(q.Shared)}
}

func ownerTarget(project string) policy.Target { return policy.Target{"project_id": project} }

// networks memoises network and security group lookups of one transaction
// (a list of subnets, ports or rules asks for the same few again and
// again).
type networks struct {
	tx     store.Tx
	seen   map[string]*neutron.Network
	groups map[string]*neutron.SecurityGroup
}

func newNetworks(tx store.Tx) *networks {
	return &networks{tx: tx, seen: map[string]*neutron.Network{}, groups: map[string]*neutron.SecurityGroup{}}
}

// group returns the security group, or nil when it does not exist.
func (ns *networks) group(ctx context.Context, id string) (*neutron.SecurityGroup, error) {
	if g, ok := ns.groups[id]; ok {
		return g, nil
	}
	g, err := ns.tx.SecurityGroups().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		g, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	ns.groups[id] = g
	return g, nil
}

// get returns the network, or nil when it does not exist.
func (ns *networks) get(ctx context.Context, id string) (*neutron.Network, error) {
	if n, ok := ns.seen[id]; ok {
		return n, nil
	}
	n, err := ns.tx.Networks().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		n, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	ns.seen[id] = n
	return n, nil
}

// isNetworkDevice is Neutron's network_device rule: device owners of the
// form "network:…" belong to the network service (routers, DHCP, floating
// IPs), and only admins and the network's owner may set them.
func isNetworkDevice(owner string) bool { return strings.HasPrefix(owner, "network:") }

// isAdmin: Neutron's context_is_admin, for the VIP allocator, which checks
// usability the way the load-balancer API does rather than by policy.
func isAdmin(c policy.Caller) bool {
	return c.IsAdmin || c.HasRole("admin")
}
