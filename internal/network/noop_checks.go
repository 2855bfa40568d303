package network

import (
	"context"
	"regexp"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

var uuidish = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

func checkID(field, id string) error {
	if !uuidish.MatchString(id) {
		return lb.InvalidField(field, id, "Value should be UUID format")
	}
	return nil
}

// CheckSubnet accepts any well-formed subnet id (noop network mode).
func (n *Noop) CheckSubnet(_ context.Context, _ store.Tx, id string) error {
	return checkID("subnet_id", id)
}

// CheckQoSPolicy accepts any well-formed QoS policy id (noop network mode).
func (n *Noop) CheckQoSPolicy(_ context.Context, _ store.Tx, id string) error {
	return checkID("vip_qos_policy_id", id)
}

// UpdateQoS checks the form of a changed vip_qos_policy_id (noop network
// mode).
func (n *Noop) UpdateQoS(_ context.Context, _ store.Tx, l *lb.LoadBalancer) error {
	if l.VIP.QoSPolicyID == "" {
		return nil
	}
	return checkID("vip_qos_policy_id", l.VIP.QoSPolicyID)
}
