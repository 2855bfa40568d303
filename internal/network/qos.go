package network

import (
	"context"
	"fmt"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/ids"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

type qosBody struct {
	owned
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
	Shared      *bool     `json:"shared"`
	IsDefault   *bool     `json:"is_default"`
	Tags        *[]string `json:"tags"`
}

// qosJSON is a QoS policy on the wire.
type qosJSON struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Shared      bool     `json:"shared"`
	IsDefault   bool     `json:"is_default"`
	ProjectID   string   `json:"project_id"`
	TenantID    string   `json:"tenant_id"`
	Rules       []string `json:"rules"`
	standard
}

var qosResource = &resource[neutron.QoSPolicy]{
	name: "policy", plural: "policies", title: "QoS policy", notFound: "QosPolicyNotFound",
	table: func(tx store.Tx) store.Table[neutron.QoSPolicy] { return tx.QoSPolicies() },
	id:    func(q *neutron.QoSPolicy) string { return q.ID },
	filters: map[string]string{"id": "id", "name": "name", "description": "description", "project_id": "project_id",
		"tenant_id": "project_id", "shared": "shared", "is_default": "is_default"},
	target: func(_ context.Context, _ *networks, q *neutron.QoSPolicy) (policy.Target, error) {
		return qosTarget(q), nil
	},
	render: each(renderQoS),
}

func renderQoS(q *neutron.QoSPolicy) qosJSON {
	return qosJSON{ID: q.ID, Name: q.Name, Description: q.Description, Shared: q.Shared, IsDefault: q.IsDefault,
		ProjectID: q.ProjectID, TenantID: q.ProjectID, Rules: []string{}, standard: standardOf(q.Tags, q.Times)}
}

func (s *Service) createQoSPolicy(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	var b qosBody
	project, err := qosResource.decodeNew(r, c, &b, &b.owned)
	if err != nil {
		return err
	}
	now := s.now()
	q := &neutron.QoSPolicy{ID: ids.New(), ProjectID: project, Name: str(b.Name), Description: str(b.Description),
		Shared: b.Shared != nil && *b.Shared, IsDefault: b.IsDefault != nil && *b.IsDefault, Tags: []string{},
		Times: neutron.Times{CreatedAt: now, UpdatedAt: now}}
	set(&q.Tags, b.Tags)
	if err := s.authorize(c, "create_policy", qosTarget(q)); err != nil {
		return err
	}
	if err := s.update(r.Context(), func(tx store.Tx) error { return tx.QoSPolicies().Create(r.Context(), q) }); err != nil {
		return err
	}
	qosResource.created(w, renderQoS(q))
	return nil
}

func (s *Service) changeQoSPolicy(_ context.Context, _ store.Tx, _ policy.Caller, q *neutron.QoSPolicy, _ policy.Target, b *qosBody) ([]string, error) {
	set(&q.Name, b.Name)
	set(&q.Description, b.Description)
	set(&q.Shared, b.Shared)
	set(&q.IsDefault, b.IsDefault)
	set(&q.Tags, b.Tags)
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
