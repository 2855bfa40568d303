// Package lb is fulcrum's domain model: load balancers, listeners, pools,
// members, health monitors, L7 policies and rules, flavors, availability
// zones and their profiles, agents and amphorae, with Octavia's vocabulary,
// enums, status rules and semantic validation.
//
// It imports only the standard library. Wire types (JSON), rows (store) and
// data-plane configs are separate types owned by other packages; conversions
// live with them.
package lb

import "time"

// ProvisioningStatus is where an object is in its life cycle (Octavia's
// provisioning_status).
type ProvisioningStatus string

// Provisioning statuses.
const (
	Active        ProvisioningStatus = "ACTIVE"
	PendingCreate ProvisioningStatus = "PENDING_CREATE"
	PendingUpdate ProvisioningStatus = "PENDING_UPDATE"
	PendingDelete ProvisioningStatus = "PENDING_DELETE"
	Error         ProvisioningStatus = "ERROR"
	Deleted       ProvisioningStatus = "DELETED"
)

// IsPending reports whether s is one of the PENDING_* statuses.
func (s ProvisioningStatus) IsPending() bool {
	return s == PendingCreate || s == PendingUpdate || s == PendingDelete
}

// OperatingStatus is what the data plane observes (Octavia's operating_status).
type OperatingStatus string

// Operating statuses.
const (
	Online    OperatingStatus = "ONLINE"
	Draining  OperatingStatus = "DRAINING"
	Offline   OperatingStatus = "OFFLINE"
	Degraded  OperatingStatus = "DEGRADED"
	OpError   OperatingStatus = "ERROR"
	NoMonitor OperatingStatus = "NO_MONITOR"
)

// Status is the pair every load-balancer object carries, plus the load
// balancer generation at which the provisioning status was last set. The
// controller completes a PENDING_* status only once the provider has
// acknowledged a generation at least as new as Gen.
type Status struct {
	Provisioning ProvisioningStatus
	Operating    OperatingStatus
	Gen          int64
}

// Change records a change of kind p (PendingCreate, PendingUpdate or
// PendingDelete) made at load balancer generation gen. An object still
// awaiting its creation stays PENDING_CREATE when it is updated again, and an
// object being deleted stays PENDING_DELETE.
func (s *Status) Change(p ProvisioningStatus, gen int64) {
	if p == PendingUpdate && (s.Provisioning == PendingCreate || s.Provisioning == PendingDelete) {
		s.Gen = gen
		return
	}
	s.Provisioning = p
	s.Gen = gen
}

// NextGeneration starts a new desired generation of the load balancer after a
// change to it or to one of its children, marks the load balancer itself
// PENDING_UPDATE (unless it is still being created or deleted) and returns
// the new generation. The caller stamps the changed objects with it.
func (l *LoadBalancer) NextGeneration() int64 {
	l.Generation++
	l.Status.Change(PendingUpdate, l.Generation)
	return l.Generation
}

// Times are an object's creation and last-update instants (UTC). UpdatedAt is
// nil until the first update.
type Times struct {
	CreatedAt time.Time
	UpdatedAt *time.Time
}

// Touch records an update at now.
func (t *Times) Touch(now time.Time) {
	now = now.UTC()
	t.UpdatedAt = &now
}
