package lb

import "fmt"

// QuotaResource names one kind of object a quota limits.
type QuotaResource int

// Quota resources, in Octavia's order.
const (
	QuotaLoadBalancer QuotaResource = iota
	QuotaListener
	QuotaPool
	QuotaHealthMonitor
	QuotaMember
	QuotaL7Policy
	QuotaL7Rule
	numQuotaResources
)

// QuotaResources lists every resource, in Octavia's order.
var QuotaResources = []QuotaResource{QuotaLoadBalancer, QuotaListener, QuotaPool, QuotaHealthMonitor, QuotaMember, QuotaL7Policy, QuotaL7Rule}

// DisplayName is the resource name Octavia uses in messages ("Load Balancer").
func (r QuotaResource) DisplayName() string {
	return [...]string{"Load Balancer", "Listener", "Pool", "Health Monitor", "Member", "L7 Policy", "L7 Rule"}[r]
}

// Key is the preferred wire key ("loadbalancer").
func (r QuotaResource) Key() string {
	return [...]string{"loadbalancer", "listener", "pool", "healthmonitor", "member", "l7policy", "l7rule"}[r]
}

// QuotaUnlimited is the limit that allows any number.
const QuotaUnlimited = -1

// QuotaMax is the largest limit Octavia accepts.
const QuotaMax = 2000000000

// QuotaLimits holds one limit per resource; -1 is unlimited, 0 forbids.
type QuotaLimits [numQuotaResources]int

// UnlimitedQuotas returns limits of -1 everywhere (Octavia's defaults).
func UnlimitedQuotas() QuotaLimits {
	var l QuotaLimits
	for i := range l {
		l[i] = QuotaUnlimited
	}
	return l
}

// Quota is a project's stored quota row. A nil limit means "use the
// deployment default". Octavia creates the row on a project's first create
// attempt or first PUT.
type Quota struct {
	ProjectID string
	Limits    [numQuotaResources]*int
}

// Effective returns q's limits with nils replaced by defaults.
func (q *Quota) Effective(defaults QuotaLimits) QuotaLimits {
	out := defaults
	if q == nil {
		return out
	}
	for i, p := range q.Limits {
		if p != nil {
			out[i] = *p
		}
	}
	return out
}

// QuotaExceededError is a refused create: the API answers 403 with Error().
type QuotaExceededError struct {
	Resource QuotaResource
	Limit    int
	InUse    int
}

// Error is Octavia's faultstring followed by the limit and the usage:
// "Quota has been met for resources: Load Balancer (limit 2, in use 2)".
func (e *QuotaExceededError) Error() string {
	return fmt.Sprintf("Quota has been met for resources: %s (limit %d, in use %d)", e.Resource.DisplayName(), e.Limit, e.InUse)
}

// CheckQuota returns a *QuotaExceededError when inUse+requested exceeds limit.
func CheckQuota(r QuotaResource, limit, inUse, requested int) error {
	if limit == QuotaUnlimited || inUse+requested <= limit {
		return nil
	}
	return &QuotaExceededError{Resource: r, Limit: limit, InUse: inUse}
}
