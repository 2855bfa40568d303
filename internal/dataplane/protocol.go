package dataplane

import (
	"encoding/json"
	"time"
)

// ProtocolVersion is the version of the controller⇄agent HTTP protocol
// (endpoints and the bodies below). Agents send it in the ProtocolHeader of
// every request; the server refuses versions it does not speak with 426.
// History:
//
//	1  enroll with a join token; watch the node config with a blocking GET;
//	   heartbeat with applied/refused versions, stats and member health.
//	   Compatible addition: ErrorResponse.Refused, which tells an agent the
//	   server refuses its identity (an agent that does not know the field
//	   keeps retrying, as before). Compatible addition: Heartbeat.Capabilities,
//	   Segments and VRRP (ACTIVE_STANDBY), which a server that does not know them
//	   ignores; the server sends Config.VRRP only to agents that advertise "vrrp".
//	   Compatible addition: VRRPState.PeerHeard and Held, and HeartbeatResponse.Hold
//	   (the split-brain rule, docs/active-standby.md): an older agent ignores Hold and
//	   keeps both MASTERs of a partition, as before; an older server sends none.
//	   Compatible addition: the incremental watch. An agent that adds delta=1 to
//	   its watch gets ConfigResponse.Delta instead of Config: the load balancers
//	   whose fragment changed since its version, and the ids of those withdrawn,
//	   or (Delta.Full) every load balancer when the server cannot answer from its
//	   version. A server that does not know the parameter ignores it and answers
//	   Config, which the agent takes as a full resync; an agent that does not
//	   send it gets Config, as before.
const ProtocolVersion = 1

// ProtocolHeader carries ProtocolVersion on every agent request.
const ProtocolHeader = "Fulcrum-Agent-Protocol"

// Agent API paths, served by the server over HTTPS. Enroll needs no client
// certificate (the join token authenticates); every other path requires
// the agent's certificate.
const (
	PathEnroll    = "/agent/v1/enroll"
	PathConfig    = "/agent/v1/config"    // GET ?version=<have>&wait=<duration>[&delta=1]
	PathHeartbeat = "/agent/v1/heartbeat" // POST Heartbeat
)

// EnrollRequest asks the server to sign the agent's certificate.
type EnrollRequest struct {
	// Token is the join token's string form.
	Token string `json:"token"`
	// Name is the agent's unique name (its certificate's common name).
	Name string `json:"name"`
	// CSR is a PEM certificate request for the agent's key.
	CSR string `json:"csr"`
	// Address is where the node is reachable. AvailabilityZone and Group
	// are what the agent expects to be placed in: the join token decides,
	// and the server refuses an enrollment asking for other values than
	// the token's ("" asks for nothing).
	Address          string `json:"address,omitempty"`
	AvailabilityZone string `json:"availability_zone,omitempty"`
	Group            string `json:"group,omitempty"`
}

// EnrollResponse returns the signed certificate.
type EnrollResponse struct {
	AgentID string `json:"agent_id"`
	// CertPEM is the agent's certificate; CAPEM the CA that signed it and the
	// server's certificate.
	CertPEM string `json:"cert_pem"`
	CAPEM   string `json:"ca_pem"`
}

// ConfigResponse answers a watch. When the server's version for the node
// equals the one the agent has when the wait ends, Changed is false and
// Config is omitted.
type ConfigResponse struct {
	Changed bool    `json:"changed"`
	Version uint64  `json:"version"`
	Config  *Config `json:"config,omitempty"`
	// Delta replaces Config when the agent asked for one (delta=1).
	Delta *ConfigDelta `json:"delta,omitempty"`
}

// ConfigDelta is an incremental answer to a watch: applied on top of the
// version the agent asked from (Since), it gives the node's config at
// ConfigResponse.Version. Full means LoadBalancers is every load balancer of
// the node (the server could not answer from the agent's version: too old,
// unknown to it, or its contract changed) and the agent drops any other.
type ConfigDelta struct {
	Full  bool   `json:"full"`
	Since uint64 `json:"since"`
	// NodeID is the agent's id, as in Config.
	NodeID string `json:"node_id,omitempty"`
	// LoadBalancers are the fragments added or changed since Since (all of
	// them when Full), sorted by id.
	LoadBalancers []LoadBalancerConfig `json:"loadbalancers"`
	// Deleted names the load balancers withdrawn since Since (tombstones),
	// sorted; empty when Full.
	Deleted []string `json:"deleted,omitempty"`
}

// LoadBalancerConfig is one load balancer's fragment of a node config: its
// listeners, the pools they use and its VRRP groups (Config's fields, with
// Version and NodeID unset), as it stands since Version.
type LoadBalancerConfig struct {
	ID      string          `json:"id"`
	Version uint64          `json:"version"`
	Config  json.RawMessage `json:"config"`
}

// MaxDeltaLoadBalancers bounds what an agent accepts in one delta (ids and
// fragments together).
const MaxDeltaLoadBalancers = 1 << 20

// Heartbeat is what an agent reports, by default every second.
type Heartbeat struct {
	// Name is the agent's name (also in its certificate).
	Name string `json:"name"`
	// Address may change between heartbeats. AvailabilityZone and Group
	// are informational: the server keeps the ones the agent's join token
	// gave it and logs a claim of others.
	Address          string `json:"address,omitempty"`
	AvailabilityZone string `json:"availability_zone,omitempty"`
	Group            string `json:"group,omitempty"`
	// AppliedVersion is the config version the engine runs. Load balancers
	// listed in Refused are not part of it.
	AppliedVersion uint64 `json:"applied_version"`
	// Refused lists the load balancers of AppliedVersion the agent left out
	// because they could not be applied, with the reason.
	Refused []Refusal `json:"refused,omitempty"`
	// Stats and Health are the engine's counters and member health now.
	Stats  Stats  `json:"stats"`
	Health Health `json:"health"`
	// Events are health transitions since the previous heartbeat.
	Events []HealthEvent `json:"events,omitempty"`
	// Time is the agent's clock when it sent the heartbeat.
	Time time.Time `json:"time"`
	// Capabilities the agent has (CapabilityVRRP). Segments: the physical networks it is
	// attached to, with its interface and address there. VRRP: the state of each VRRP group
	// it runs. All three are additions an older server ignores (CheckVRRP bounds them).
	Capabilities []string    `json:"capabilities,omitempty"`
	Segments     []Segment   `json:"segments,omitempty"`
	VRRP         []VRRPState `json:"vrrp,omitempty"`
	// Ack marks the heartbeat an agent sends right after applying a config
	// to acknowledge it: it carries the applied version, the refusals and
	// the agent's name and address, and no stats, health, events or VRRP
	// report (the next regular heartbeat does), so acknowledging one change
	// costs the same whatever the agent holds. An agent sends it only to a
	// server that said it reads it (HeartbeatResponse.Acks).
	Ack bool `json:"ack,omitempty"`
	// Seq numbers an agent's regular heartbeats (not acknowledgements),
	// from a random start per agent process. Base, when not 0, makes the
	// heartbeat a delta of heartbeat Base, the last one a server answered:
	// Stats.Listeners and Stats.Members list only the entries that differ
	// from Base's, Health.Members only the members whose pool or status
	// differs, and Gone names the entries Base listed that are gone. The
	// rest (events, applied version, refusals, capabilities, segments, VRRP)
	// is whole in every heartbeat. An agent sends a delta only to a server
	// that said it reads them (HeartbeatResponse.Deltas), and a full
	// heartbeat at least every DeltaFullEvery heartbeats. All three are
	// additions an older server ignores (it never asks for deltas).
	Seq  uint64 `json:"seq,omitempty"`
	Base uint64 `json:"base,omitempty"`
	Gone *Gone  `json:"gone,omitempty"`
}

// Gone names what the base of a delta heartbeat listed and the agent no
// longer reports: listener statistics, member statistics and member health,
// by listener or member id.
type Gone struct {
	Listeners     []string `json:"listeners,omitempty"`
	MemberStats   []string `json:"member_stats,omitempty"`
	MemberHealths []string `json:"member_healths,omitempty"`
}

// DeltaFullEvery is how many heartbeats an agent sends at most before a
// full one: whatever a server missed, it holds the agent's whole report
// again within that many intervals.
const DeltaFullEvery = 60

// Refusal is one load balancer an agent could not apply.
type Refusal struct {
	LoadBalancerID string `json:"loadbalancer_id"`
	Version        uint64 `json:"version"`
	Reason         string `json:"reason"`
}

// HeartbeatResponse tells the agent how often to report, and which of its VRRP groups it
// must keep out of MASTER.
type HeartbeatResponse struct {
	Interval string `json:"interval"` // a Go duration
	// Hold names VRRP groups the agent must not hold the VIPs of now (the split-brain rule,
	// docs/active-standby.md): the agent puts each in FAULT, unless it hears its peer's
	// adverts (the pair is whole again), and lets them go when a later answer no longer
	// names them or when it has had no answer for longer than its hold lease (the server
	// could no longer lift the order). At most 255.
	Hold []Hold `json:"hold,omitempty"`
	// Acks: the server reads Heartbeat.Ack (an older one would take an
	// acknowledgement for a heartbeat without stats or health).
	Acks bool `json:"acks,omitempty"`
	// Deltas: the server reads delta heartbeats (Heartbeat.Base). Resync:
	// the server does not hold the base of the delta it was sent (it
	// restarted, or another server answered the base): it took the
	// heartbeat as an acknowledgement only, and the agent sends a full
	// heartbeat at once.
	Deltas bool `json:"deltas,omitempty"`
	Resync bool `json:"resync,omitempty"`
}

// Hold is one VRRP group an agent must keep out of MASTER.
type Hold struct {
	Group string `json:"group"`
	// PeerMAC, if set, is the MAC address of the member that keeps the group's VIPs:
	// before it lets them go, the agent announces them there (gratuitous ARP), so that the
	// clients it still draws follow the member that keeps them at once.
	PeerMAC string `json:"peer_mac,omitempty"`
}

// ErrorResponse is the body of every agent API answer other than 200.
type ErrorResponse struct {
	Error string `json:"error"`
	// Refused is set, on a 403, when the server refuses the identity the
	// agent authenticated with: RefusedRevoked, RefusedUnknown or
	// RefusedSuperseded. It is an authenticated, final answer about that
	// certificate; an agent so refused stops serving.
	Refused string `json:"refused,omitempty"`
}

// Reasons for refusing an agent's identity (ErrorResponse.Refused).
const (
	RefusedRevoked    = "revoked"    // an administrator revoked the agent
	RefusedUnknown    = "unknown"    // no agent of that name is enrolled
	RefusedSuperseded = "superseded" // the name was re-enrolled (or released with --replace)
)
