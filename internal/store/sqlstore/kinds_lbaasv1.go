package sqlstore

import (
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// lbaasV1Kinds describe the tables of the LBaaS v1 translation: the marks
// of v1 pools and the shared v1 health monitors.
type lbaasV1Kinds struct {
	pools    *kind[lb.V1Pool]
	monitors *kind[lb.V1HealthMonitor]
}

func newLBaaSV1Kinds() lbaasV1Kinds {
	type P = lb.V1Pool
	type H = lb.V1HealthMonitor
	return lbaasV1Kinds{
		pools: newKind("lbaas_v1_pools",
			text("id", func(v *P) *string { return &v.ID }),
			text("project_id", func(v *P) *string { return &v.ProjectID }),
			text("loadbalancer_id", func(v *P) *string { return &v.LoadBalancerID }),
			text("subnet_id", func(v *P) *string { return &v.SubnetID }),
			timestamp("created_at", func(v *P) *time.Time { return &v.CreatedAt }),
		),
		monitors: newKind("lbaas_v1_health_monitors", cat(
			[]column[H]{
				text("id", func(v *H) *string { return &v.ID }),
				text("project_id", func(v *H) *string { return &v.ProjectID }),
				text("type", func(v *H) *string { return &v.Type }),
				integer("delay", func(v *H) *int { return &v.Delay }),
				integer("timeout", func(v *H) *int { return &v.Timeout }),
				integer("max_retries", func(v *H) *int { return &v.MaxRetries }),
				text("http_method", func(v *H) *string { return &v.HTTPMethod }),
				text("url_path", func(v *H) *string { return &v.URLPath }),
				text("expected_codes", func(v *H) *string { return &v.ExpectedCodes }),
				boolean("admin_state_up", func(v *H) *bool { return &v.AdminStateUp }),
			},
			timeCols(func(v *H) *lb.Times { return &v.Times }),
		)...),
	}
}

func (t *txn) V1Pools() store.Table[lb.V1Pool] {
	return &table[lb.V1Pool]{tx: t, k: t.s.kinds.lbaasV1.pools}
}

func (t *txn) V1HealthMonitors() store.Table[lb.V1HealthMonitor] {
	return &table[lb.V1HealthMonitor]{tx: t, k: t.s.kinds.lbaasV1.monitors}
}
