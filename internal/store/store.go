// Package store is fulcrum's persistence contract: the interfaces every
// backend implements, the query model (filters, tags, sorting, keyset
// pagination) and the sentinel errors callers test with errors.Is.
//
// It contains no SQL. Backends live in subpackages (sqlstore) and prove
// themselves with the storetest conformance suite. Only cmd and test
// harnesses choose a backend.
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/fulcrumlb/fulcrum/internal/identity/keystone"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/secrets/barbican"
)

// Sentinel errors. Backends translate their driver errors into these.
var (
	// ErrNotFound: no object with that id.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write would break a uniqueness rule (duplicate id,
	// duplicate member address and port in a pool, ...).
	ErrConflict = errors.New("conflict")
	// ErrInvalidQuery: a query names an unknown field, a value that does not
	// parse as the field's type, or a marker that does not exist. The error
	// is a *QueryError saying which.
	ErrInvalidQuery = errors.New("invalid query")
	// ErrBusy: the backend could not get the locks it needed in time; the
	// caller may retry.
	ErrBusy = errors.New("store busy")
	// ErrCannotWrite: the backend could not write (its disk is full, its
	// files or database are read-only, or the write failed with an I/O
	// error). The transaction was not committed. Nothing committed before
	// is lost, and writes work again once the cause is gone; the caller may
	// retry later.
	ErrCannotWrite = errors.New("store cannot write")
)

// QueryError explains an ErrInvalidQuery.
type QueryError struct {
	Part  string // "filter", "sort", "marker"
	Field string // the field (filter, sort) or marker id
	Value string
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("invalid %s %q=%q", e.Part, e.Field, e.Value)
}

// Unwrap makes errors.Is(err, ErrInvalidQuery) true.
func (e *QueryError) Unwrap() error { return ErrInvalidQuery }

// Store is a transactional database of fulcrum's objects.
//
// Update runs fn in a read-write transaction: writers are serialised against
// each other (SQLite) or by row locks taken with Table.Lock (PostgreSQL), so a
// read-modify-write inside fn is safe. If fn returns an error the transaction
// rolls back and Update returns that error unchanged. View runs fn on a
// consistent read-only snapshot. Tx values must not be used after fn returns.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// Tx gives access to every table inside one transaction.
type Tx interface {
	LoadBalancers() Table[lb.LoadBalancer]
	Listeners() Table[lb.Listener]
	Pools() Table[lb.Pool]
	Members() Table[lb.Member]
	HealthMonitors() Table[lb.HealthMonitor]
	L7Policies() Table[lb.L7Policy]
	L7Rules() Table[lb.L7Rule]
	// Quotas are keyed by project id.
	Quotas() Table[lb.Quota]

	// The Keystone subset. Deleting a role, user or project removes its
	// assignments.
	Domains() Table[keystone.Domain]
	Projects() Table[keystone.Project]
	Users() Table[keystone.User]
	Roles() Table[keystone.Role]
	Assignments() Table[keystone.Assignment]
	Revocations() Table[keystone.Revocation]

	// The Neutron subset. (subnet_id, ip_address) is unique among
	// IPAllocations; deleting a port removes its allocations; a network
	// with subnets or ports, or a subnet with allocations, cannot be
	// deleted (ErrConflict).
	Networks() Table[neutron.Network]
	Subnets() Table[neutron.Subnet]
	Ports() Table[neutron.Port]
	IPAllocations() Table[neutron.IPAllocation]
	FloatingIPs() Table[neutron.FloatingIP]
	QoSPolicies() Table[neutron.QoSPolicy]
	// Deleting a security group removes its rules; a rule whose remote
	// group is deleted goes with it.
	SecurityGroups() Table[neutron.SecurityGroup]
	SecurityGroupRules() Table[neutron.SecurityGroupRule]
	// PortSecurityGroups go with their port; a group a port carries
	// cannot be deleted (ErrConflict).
	PortSecurityGroups() Table[neutron.PortSecurityGroup]
	// NetworkQuotas are keyed by project id.
	NetworkQuotas() Table[neutron.NetworkQuota]
	// IPReleases go with their subnet.
	IPReleases() Table[neutron.IPRelease]
	NetworkLocks() Table[neutron.Lock]

	// The Barbican subset. Deleting a secret or a container removes the
	// ContainerSecrets that name it; a ContainerSecret's container and
	// secret must exist (ErrConflict otherwise).
	Secrets() Table[barbican.Secret]
	Containers() Table[barbican.Container]
	ContainerSecrets() Table[barbican.ContainerSecret]

	// The provider catalog. Flavor names are unique; availability zones
	// are keyed by name (their store id is the name); a profile referenced
	// by a flavor or zone cannot be deleted (ErrConflict).
	Flavors() Table[lb.Flavor]
	FlavorProfiles() Table[lb.FlavorProfile]
	AvailabilityZones() Table[lb.AvailabilityZone]
	AvailabilityZoneProfiles() Table[lb.AvailabilityZoneProfile]

	Agents() Table[lb.Agent]
	JoinTokens() Table[lb.JoinToken]
	Amphorae() Table[lb.Amphora]
	ListenerStats() StatsTable
	MemberStats() MemberStatsTable

	// The LBaaS v1 translation: a V1Pool goes with its pool (and its load
	// balancer); V1HealthMonitors stand alone.
	V1Pools() Table[lb.V1Pool]
	V1HealthMonitors() Table[lb.V1HealthMonitor]
	// What servers sharing the store coordinate with (cluster.go).
	Leases() LeaseTable
	Publications() PublicationTable
	SealedKeys() SealedKeyTable
	// Notify sends payload on channel (see Broadcaster) when, and only
	// if, the transaction commits.
	Notify(ctx context.Context, channel, payload string) error
	// PoolListeners returns a pool's listeners in Octavia's sense, in one
	// statement: those using it as their default pool (in creation order),
	// then those owning an enabled L7 policy with at least one rule that
	// redirects to it (in creation order).
	PoolListeners(ctx context.Context, poolID string) ([]*lb.Listener, error)
	// LockPool returns a pool, its load balancer locked as
	// LoadBalancers().Lock locks it, and whether a health monitor watches
	// the pool: what a write under the pool reads first. ErrNotFound when
	// the pool or its load balancer does not exist.
	LockPool(ctx context.Context, poolID string) (*lb.Pool, *lb.LoadBalancer, bool, error)
	// Graph reads a load balancer and all its children, each kind in
	// creation order (L7 policies by listener, then position, then
	// creation): what LoadGraphByTables reads, in as few statements as the
	// store can. ErrNotFound when the load balancer does not exist.
	Graph(ctx context.Context, id string) (*lb.Graph, error)
}

// StatsTable stores listener counters per (listener, agent).
type StatsTable interface {
	// Put inserts or replaces the rows, keyed by (ListenerID, AgentID).
	Put(ctx context.Context, rows []*lb.ListenerStats) error
	// List returns the rows of the given listeners, or of every listener of
	// the given load balancer when listenerIDs is empty.
	List(ctx context.Context, loadBalancerID string, listenerIDs ...string) ([]*lb.ListenerStats, error)
	// Delete removes the rows of the given listeners, or of every listener of
	// the given load balancer when listenerIDs is empty.
	Delete(ctx context.Context, loadBalancerID string, listenerIDs ...string) error
}

// MemberStatsTable stores member counters per (member, agent).
type MemberStatsTable interface {
	// Put inserts or replaces the rows, keyed by (MemberID, AgentID).
	Put(ctx context.Context, rows []*lb.MemberStats) error
	// List returns the rows of the given members, or of every member of
	// the given load balancer when memberIDs is empty.
	List(ctx context.Context, loadBalancerID string, memberIDs ...string) ([]*lb.MemberStats, error)
	// Delete removes the rows of the given members, or of every member of
	// the given load balancer when memberIDs is empty.
	Delete(ctx context.Context, loadBalancerID string, memberIDs ...string) error
}

// Table is the storage of one object kind, keyed by id. Returned objects are
// owned by the caller.
type Table[T any] interface {
	// Get returns the object with id, or ErrNotFound.
	Get(ctx context.Context, id string) (*T, error)
	// Lock is Get that also locks the row until the transaction ends
	// (SELECT ... FOR UPDATE where the backend has row locks).
	Lock(ctx context.Context, id string) (*T, error)
	// List returns the objects matching q, in q's order.
	List(ctx context.Context, q Query) ([]*T, error)
	// Count returns how many objects match the filters.
	Count(ctx context.Context, filters ...Filter) (int, error)
	// Create inserts v. It fails with ErrConflict when the id or another
	// unique key is taken.
	Create(ctx context.Context, v *T) error
	// CreateIfAbsent inserts v unless an object with v's id exists, and
	// reports whether it inserted. A row another transaction is inserting
	// concurrently makes it wait for that transaction, then report false;
	// it never fails the transaction for that (Create on PostgreSQL would).
	// Another unique key taken is still ErrConflict.
	CreateIfAbsent(ctx context.Context, v *T) (bool, error)
	// Update replaces the stored object with v (matched by id), or returns
	// ErrNotFound. It fails with ErrConflict on a unique key.
	Update(ctx context.Context, v *T) error
	// Delete removes the object with id, or returns ErrNotFound.
	Delete(ctx context.Context, id string) error
	// DeleteWhere removes every object matching the filters (at least one
	// filter is required) and returns how many went.
	DeleteWhere(ctx context.Context, filters ...Filter) (int, error)
	// Refs returns, for each of values, the ids of the objects whose field
	// equals it, in creation order (values with no objects are absent). It
	// is how a list response renders child id lists without one query per
	// object, e.g. Listeners().Refs(ctx, "loadbalancer_id", lbIDs).
	Refs(ctx context.Context, field string, values []string) (map[string][]string, error)
}

// Filter is an exact-match condition on one field. Field is the API name of
// an attribute (snake_case, e.g. "loadbalancer_id", "admin_state_up"); Value
// is its string form, parsed by the backend as the field's type (booleans
// accept true/false/1/0/yes/no/on/off/t/f/y/n, case-insensitively). An empty
// Value on a nullable field matches NULL. When Values is non-nil the filter
// matches any of them instead (an empty non-nil Values matches nothing).
type Filter struct {
	Field  string
	Value  string
	Values []string
}

// F builds an exact-match Filter.
func F(field, value string) Filter { return Filter{Field: field, Value: value} }

// In builds a Filter matching any of values.
func In(field string, values ...string) Filter {
	if values == nil {
		values = []string{}
	}
	return Filter{Field: field, Values: values}
}

// Sort is one ordering key.
type Sort struct {
	Field string
	Desc  bool
}

// Tags selects objects by their tags (Octavia's tags, tags-any, not-tags,
// not-tags-any). Empty lists select nothing out.
type Tags struct {
	All    []string // has all of these
	Any    []string // has at least one of these
	NotAll []string // does not have all of these
	NotAny []string // has none of these
}

// Query selects, orders and pages a list.
//
// Sort keys are applied in order; the backend appends created_at and id (when
// the table has them and they are absent) so the order is total. Marker is
// the id of the last object of the previous page: results start strictly
// after it in sort order, or, with PageReverse, are the objects strictly
// before it (still returned in sort order: the Limit nearest ones). Limit <= 0
// means no limit.
type Query struct {
	Filters     []Filter
	Tags        Tags
	Sort        []Sort
	Limit       int
	Marker      string
	PageReverse bool
}
