package dataplane

import "time"

// MemberStatus is the health of a member as the data plane sees it.
type MemberStatus string

// Member statuses. They map onto Octavia operating_status as UP→ONLINE, DOWN→ERROR,
// DRAIN→DRAINING, MAINT→OFFLINE, NO_CHECK→NO_MONITOR.
const (
	StatusUp      MemberStatus = "UP"       // health checks pass
	StatusDown    MemberStatus = "DOWN"     // health checks fail (fall threshold reached)
	StatusDrain   MemberStatus = "DRAIN"    // weight 0: no new connections, sessions continue
	StatusMaint   MemberStatus = "MAINT"    // admin_state_up false: no new connections
	StatusNoCheck MemberStatus = "NO_CHECK" // no (enabled) health monitor: assumed healthy
)

// ListenerStats are the counters of one listener since it was first applied on this node.
// Counters survive reconfiguration of the same listener id.
type ListenerStats struct {
	ListenerID     string `json:"listener_id"`
	LoadBalancerID string `json:"loadbalancer_id"`
	// ActiveConnections is the number of client connections open now.
	ActiveConnections int64 `json:"active_connections"`
	// TotalConnections counts client connections accepted (UDP: flows created).
	TotalConnections int64 `json:"total_connections"`
	// BytesIn counts bytes received from clients; BytesOut bytes sent to clients.
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
	// RequestErrors counts requests the engine answered with an error of its own (HTTP
	// 4xx/5xx it generated) and connections refused by limits or allowed_cidrs.
	RequestErrors int64 `json:"request_errors"`
}

// MemberStats are the counters of one member of one pool.
type MemberStats struct {
	PoolID   string `json:"pool_id"`
	MemberID string `json:"member_id"`
	// ActiveConnections is the number of connections (TCP) or requests in flight (HTTP,
	// UDP flows) on the member now.
	ActiveConnections int64 `json:"active_connections"`
	// TotalConnections counts connections (TCP), requests (HTTP) or flows (UDP) sent.
	TotalConnections int64 `json:"total_connections"`
	// ConnectErrors counts failed connection attempts to the member.
	ConnectErrors int64 `json:"connect_errors"`
}

// Stats is a snapshot of all counters of a node.
type Stats struct {
	// Version is the config version in force when the snapshot was taken.
	Version   uint64          `json:"version"`
	Time      time.Time       `json:"time"`
	Listeners []ListenerStats `json:"listeners"`
	Members   []MemberStats   `json:"members"`
}

// MemberHealth is the health of one member of one pool.
type MemberHealth struct {
	PoolID   string `json:"pool_id"`
	MemberID string `json:"member_id"`
	// Status is the member's status now.
	Status MemberStatus `json:"status"`
	// Since is when Status last changed (or when the member was first configured).
	Since time.Time `json:"since"`
	// LastCheck is when the last probe finished; zero when none ran.
	LastCheck time.Time `json:"last_check,omitzero"`
	// LastCheckDetail says what the last probe saw ("HTTP 200", "connect: connection
	// refused", ...); empty when none ran.
	LastCheckDetail string `json:"last_check_detail,omitempty"`
	// LastCheckOK is the outcome of the last probe.
	LastCheckOK bool `json:"last_check_ok"`
}

// Health is a snapshot of member health of a node.
type Health struct {
	Version uint64         `json:"version"`
	Time    time.Time      `json:"time"`
	Members []MemberHealth `json:"members"`
}

// HealthEvent is one health transition of a member, emitted when health checks move it
// between UP and DOWN.
type HealthEvent struct {
	Time     time.Time    `json:"time"`
	PoolID   string       `json:"pool_id"`
	MemberID string       `json:"member_id"`
	Address  string       `json:"address"` // address:port probed
	From     MemberStatus `json:"from"`
	To       MemberStatus `json:"to"`
	// Detail is the last probe's detail, which caused the transition.
	Detail string `json:"detail"`
}
