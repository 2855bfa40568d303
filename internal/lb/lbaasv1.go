package lb

import "time"

// V1Pool records a pool made through the LBaaS v1 API (Neutron's first
// load-balancing API). A v1 pool is the pool with the same id, on a load
// balancer of its own; this record marks it as a v1 pool and keeps what v1
// has and v2 has not: the subnet its members are on.
type V1Pool struct {
	ID             string // the pool's id
	ProjectID      string
	LoadBalancerID string
	SubnetID       string
	CreatedAt      time.Time
}

// V1HealthMonitor is an LBaaS v1 health monitor: a definition of its own,
// which pools are associated with. Each associated pool has a health
// monitor made from it.
type V1HealthMonitor struct {
	ID            string
	ProjectID     string
	Type          string
	Delay         int
	Timeout       int
	MaxRetries    int
	HTTPMethod    string
	URLPath       string
	ExpectedCodes string
	AdminStateUp  bool
	Times
}
