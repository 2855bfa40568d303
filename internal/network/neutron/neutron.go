// Package neutron is the domain model of fulcrum's Neutron v2 subset:
// networks, subnets, ports with fixed IPs, floating IPs and QoS policies,
// plus the pure IPAM rules (allocation pools, lowest free address).
//
// It imports only the standard library. The HTTP service, the VIP allocator
// and the transactional IPAM live in internal/network; rows live in the store.
package neutron

import "time"

// Device owners fulcrum sets on the ports it creates.
const (
	OwnerLoadBalancerVIP = "Octavia"
	OwnerFloatingIP      = "network:floatingip"
	// OwnerAgent holds a data-plane agent's own address on a segment (device id: the
	// agent), so that IPAM never hands it out.
	OwnerAgent = "fulcrum:agent"
)

// Port statuses.
const (
	PortActive = "ACTIVE"
	PortDown   = "DOWN"
)

// Times are an object's creation and last-update instants (UTC).
type Times struct {
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Network is an L2 segment holding subnets.
type Network struct {
	ID           string
	ProjectID    string
	Name         string
	Description  string
	AdminStateUp bool
	Shared       bool
	// External networks ("router:external") hold floating IP addresses.
	External    bool
	MTU         int
	QoSPolicyID string
	Tags        []string
	Times
}

// Subnet is an address range of a network.
type Subnet struct {
	ID              string
	ProjectID       string
	NetworkID       string
	Name            string
	Description     string
	IPVersion       int    // 4 or 6
	CIDR            string // canonical form, e.g. "127.10.0.0/16"
	GatewayIP       string // "" = no gateway
	AllocationPools []AllocationPool
	EnableDHCP      bool
	DNSNameservers  []string
	Tags            []string
	Times
}

// AllocationPool is an inclusive range of addresses IPAM may hand out.
type AllocationPool struct {
	Start string
	End   string
}

// FixedIP is one address of a port on one subnet.
type FixedIP struct {
	SubnetID  string
	IPAddress string
}

// Port is an attachment point on a network with fixed IPs.
type Port struct {
	ID             string
	ProjectID      string
	NetworkID      string
	Name           string
	Description    string
	AdminStateUp   bool
	MACAddress     string
	FixedIPs       []FixedIP
	DeviceOwner    string
	DeviceID       string
	QoSPolicyID    string
	SecurityGroups []string
	Status         string
	Tags           []string
	Times
}

// IPAllocation records that PortID holds IPAddress on SubnetID. The store
// keeps (SubnetID, IPAddress) unique, which is what makes two concurrent
// allocations of one address impossible.
type IPAllocation struct {
	ID        string // SubnetID + "/" + IPAddress
	SubnetID  string
	NetworkID string
	PortID    string
	IPAddress string
}

// AllocationID is the id of the allocation of ip on subnet.
func AllocationID(subnetID, ip string) string { return subnetID + "/" + ip }

// FloatingIP is an address of an external network, optionally associated
// with a port's fixed IP.
type FloatingIP struct {
	ID                string
	ProjectID         string
	FloatingNetworkID string
	FloatingIPAddress string
	// FloatingPortID is the port on the external network that holds the
	// floating address (device owner network:floatingip).
	FloatingPortID string
	PortID         string // associated port; "" when not associated
	FixedIPAddress string
	Description    string
	Status         string // ACTIVE when associated, DOWN otherwise
	Tags           []string
	Times
}

// QoSPolicy is a named quality-of-service policy. fulcrum stores and
// validates it (for vip_qos_policy_id); it has no rules.
type QoSPolicy struct {
	ID          string
	ProjectID   string
	Name        string
	Description string
	Shared      bool
	IsDefault   bool
	Tags        []string
	Times
}
