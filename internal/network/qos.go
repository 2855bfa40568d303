package network

import (
	"context"
	"fmt"

	"github.com/fulcrumlb/fulcrum/internal/ids"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

type qosBody struct {
	owned
	common
	Shared    *bool `json:"shared"`
	IsDefault *bool `json:"is_default"`
}

// qosJSON is a QoS policy on the wire.
type qosJSON struct {
	owner
	Shared    bool     `json:"shared"`
	IsDefault bool     `json:"is_default"`
	Rules     []string `json:"rules"`
	standard
}

var qosResource = &resource[neutron.QoSPolicy]{
	name: "policy", plural: "policies", title: "QoS policy", notFound: "QosPolicyNotFound",
	table:   func(tx store.Tx) store.Table[neutron.QoSPolicy] { return tx.QoSPolicies() },
	id:      func(q *neutron.QoSPolicy) string { return q.ID },
	filters: listFilters("shared", "is_default"),
	target: func(_ context.Context, _ *networks, q *neutron.QoSPolicy) (policy.Target, error) {
		return qosTarget(q), nil
	},
	render: each(renderQoS),
}

func renderQoS(q *neutron.QoSPolicy) qosJSON {
	return qosJSON{owner: ownerOf(q.ID, q.Name, q.Description, q.ProjectID),
		Shared: q.Shared, IsDefault: q.IsDefault,
		Rules: []string{}, standard: standardOf(q.Tags, q.Times)}
}

func (s *Service) createQoSPolicy(ctx context.Context, c policy.Caller, project string, b *qosBody) (any, []string, error) {
	now := s.now()
	q := &neutron.QoSPolicy{ID: ids.New(), ProjectID: project, Name: str(b.Name), Description: str(b.Description),
		Shared: b.Shared != nil && *b.Shared, IsDefault: b.IsDefault != nil && *b.IsDefault, Tags: []string{},
		Times: neutron.Times{CreatedAt: now, UpdatedAt: now}}
	set(&q.Tags, b.Tags)
	if err := s.authorize(c, "create_policy", qosTarget(q)); err != nil {
		return nil, nil, err
	}
	err := s.update(ctx, func(tx store.Tx) error { return tx.QoSPolicies().Create(ctx, q) })
	return renderQoS(q), nil, err
}

func (s *Service) changeQoSPolicy(_ context.Context, _ store.Tx, _ policy.Caller, q *neutron.QoSPolicy, _ policy.Target, b *qosBody) ([]string, error) {
	b.apply(&q.Name, &q.Description, &q.Tags)
	set(&q.Shared, b.Shared)
	set(&q.IsDefault, b.IsDefault)
	q.UpdatedAt = s.now()
	return nil, nil
}

// deleteQoSPolicy removes a policy no port or network uses: 409
// QosPolicyInUse otherwise.
func deleteQoSPolicy(ctx context.Context, tx store.Tx, q *neutron.QoSPolicy) ([]string, error) {
	for _, users := range []struct {
		kind string
		refs func(context.Context, string, []string) (map[string][]string, error)
	}{{"port", tx.Ports().Refs}, {"network", tx.Networks().Refs}} {
		refs, err := users.refs(ctx, "qos_policy_id", []string{q.ID})
		if err != nil {
			return nil, err
		}
		if list := refs[q.ID]; len(list) > 0 {
			return nil, conflict("QosPolicyInUse", fmt.Sprintf("QoS Policy %s is used by %s %s.", q.ID, users.kind, list[0]))
		}
	}
	return nil, tx.QoSPolicies().Delete(ctx, q.ID)
}
