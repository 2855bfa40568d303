package lb

import "time"

// Agent statuses.
const (
	AgentUp   = "UP"   // heartbeating within the dead-agent window
	AgentDown = "DOWN" // silent for longer than the window: its load balancers move
)

// Agent is a data-plane node: a `fulcrum agent` process (or the server's
// embedded one) that runs load balancers placed on it.
type Agent struct {
	ID               string
	Name             string // unique; the common name of its certificate
	Address          string // where the node is reachable (informational, VRRP peers)
	AvailabilityZone string // "" = any
	Group            string // agent group (Avi's "service engine group"); "" = default
	CertSerial       string // serial of the certificate it authenticates with
	Revoked          bool   // a revoked agent's certificate is refused
	Status           string // AgentUp or AgentDown
	// AppliedVersion is the newest data-plane config version the agent
	// reported applied; RefusedVersion/RefusedReason the newest it refused.
	AppliedVersion uint64
	RefusedVersion uint64
	RefusedReason  string
	LastHeartbeat  *time.Time
	// Capabilities and Segments are what the agent last said about itself in a heartbeat
	// (dataplane.CapabilityVRRP; the physical networks it is attached to, with its
	// interface and address there). Kept in the store so that a restarted server, or
	// another server, places ACTIVE_STANDBY pairs and keeps agent addresses out of VIP
	// allocation without waiting for the agent to report again.
	Capabilities []string
	Segments     []AgentSegment
	Times
}

// AgentSegment is one physical network an agent is attached to.
type AgentSegment struct {
	Name      string `json:"name"`          // the physical network (fulcrum agent --segment NAME=IFACE)
	Interface string `json:"interface"`     // Octavia's vrrp_interface
	Address   string `json:"address"`       // the agent's address there with its prefix length (vrrp_ip)
	MAC       string `json:"mac,omitempty"` // the interface's hardware address
}

// JoinToken is a stored, unused or used, agent enrollment token (the secret
// itself is never stored, only its hash).
type JoinToken struct {
	ID         string
	SecretHash string
	AgentName  string // "" = any name
	// AvailabilityZone and Group are what the enrolled agent gets ("" =
	// the defaults): the agent cannot choose them.
	AvailabilityZone string
	Group            string
	ExpiresAt        time.Time
	UsedAt           *time.Time
	Times
}

// Amphora roles and statuses (Octavia's names for a load balancer's
// placement on a data-plane node).
const (
	RoleStandalone = "STANDALONE"
	RoleMaster     = "MASTER"
	RoleBackup     = "BACKUP"

	AmphoraAllocated     = "ALLOCATED"
	AmphoraPendingCreate = "PENDING_CREATE"
	AmphoraPendingDelete = "PENDING_DELETE"
	AmphoraReady         = "READY"
	AmphoraError         = "ERROR"
	AmphoraBooting       = "BOOTING"
)

// Amphora is one placement of a load balancer on an agent, shown by the
// amphorae API.
type Amphora struct {
	ID             string
	LoadBalancerID string
	AgentID        string // "" when the agent is gone
	Role           string // RoleStandalone, RoleMaster, RoleBackup
	Status         string
	ComputeID      string // the agent's name (there is no VM)
	LBNetworkIP    string // the agent's address
	VRRPIP         string
	HAIP           string // the VIP
	VRRPPortID     string
	HAPortID       string
	VRRPInterface  string
	VRRPID         *int
	VRRPPriority   *int
	CachedZone     string
	ImageID        string
	ComputeFlavor  string
	CertExpiration *time.Time
	CertBusy       bool
	// RoleSince is when the member's agent says its VRRP instance entered the live Role
	// (MASTER or BACKUP), nil before it said so. Of two members both MASTER, the one that
	// became MASTER earlier is the one the clients no longer follow (the split-brain rule).
	RoleSince *time.Time
	Times
}

// ListenerStats are the counters one agent reported for one listener.
// A listener's statistics are the sum over agents; active connections count
// only on agents that currently host it.
type ListenerStats struct {
	ListenerID        string
	AgentID           string
	LoadBalancerID    string
	ActiveConnections int64
	TotalConnections  int64
	BytesIn           int64
	BytesOut          int64
	RequestErrors     int64
	UpdatedAt         time.Time
}

// MemberStats are the counters one agent reported for one member of a pool.
// A member's statistics are the sum over agents; active connections count
// only on agents that currently host its load balancer.
type MemberStats struct {
	MemberID          string
	AgentID           string
	LoadBalancerID    string
	ActiveConnections int64
	TotalConnections  int64
	ConnectErrors     int64
	UpdatedAt         time.Time
}
