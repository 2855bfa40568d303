// Package neutron is the domain model of fulcrum's Neutron v2 subset:
// networks, subnets, ports with fixed IPs, floating IPs, QoS policies,
// security groups and their rules, network quotas, plus the pure IPAM rules
// (allocation pools, address choice) and the security-group rule rules.
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
	// PortSecurityEnabled false turns the port's filtering off; a port
	// with security groups must have it on.
	PortSecurityEnabled bool
	Status              string
	Tags                []string
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

// Security group rule directions and ethertypes.
const (
	Ingress = "ingress"
	Egress  = "egress"
	IPv4    = "IPv4"
	IPv6    = "IPv6"
)

// DefaultSecurityGroupName is the name of the group Neutron makes for every
// project on first use.
const DefaultSecurityGroupName = "default"

// SecurityGroup is a named set of rules that filter the traffic of the
// ports that carry it: what is not allowed by a rule of one of a port's
// groups is dropped.
type SecurityGroup struct {
	ID          string
	ProjectID   string
	Name        string
	Description string
	Stateful    bool
	// IsDefault marks the project's "default" group, made on first use.
	IsDefault      bool
	RevisionNumber int
	Tags           []string
	Times
}

// SecurityGroupRule allows one kind of traffic to or from the ports of its
// group: a direction, an ethertype, a protocol (any when empty), a port
// range (TCP, UDP, SCTP, DCCP, UDP-Lite) or ICMP type and code, and a remote
// end: an address prefix or the ports of a group (any when both are empty).
type SecurityGroupRule struct {
	ID              string
	ProjectID       string
	SecurityGroupID string
	Description     string
	Direction       string // Ingress or Egress
	EtherType       string // IPv4 or IPv6
	// Protocol is a protocol name Neutron knows (lower case) or a number
	// 0–255 in decimal; "" is any protocol.
	Protocol string
	// PortRangeMin and PortRangeMax bound the destination ports (ICMP: type
	// and code); nil is unbounded.
	PortRangeMin   *int
	PortRangeMax   *int
	RemoteIPPrefix string // canonical CIDR; "" = none
	RemoteGroupID  string // "" = none
	RevisionNumber int
	Times
}

// NetworkQuota is a project's stored quota row of the Neutron subset. A nil
// limit means "use the deployment default".
type NetworkQuota struct {
	ProjectID string
	Limits    [NumQuotaResources]*int
}

// QuotaResource names one kind of object a network quota limits.
type QuotaResource int

// Network quota resources, in the order of their store columns.
const (
	QuotaNetwork QuotaResource = iota
	QuotaSubnet
	QuotaPort
	QuotaFloatingIP
	QuotaSecurityGroup
	QuotaSecurityGroupRule
	NumQuotaResources
)

// QuotaResources lists every network quota resource.
var QuotaResources = []QuotaResource{QuotaNetwork, QuotaSubnet, QuotaPort, QuotaFloatingIP, QuotaSecurityGroup, QuotaSecurityGroupRule}

// Key is the resource's name in Neutron's quota API ("security_group_rule").
func (r QuotaResource) Key() string {
	return [...]string{"network", "subnet", "port", "floatingip", "security_group", "security_group_rule"}[r]
}

// IPRelease records when an address was last given back: IPAM hands out
// addresses never used before those released, and among released ones the
// least recently released first. ID is the allocation's id.
type IPRelease struct {
	ID         string
	SubnetID   string
	IPAddress  string
	ReleasedAt time.Time
}

// Lock is a row a transaction locks to serialise a check that spans rows no
// single row guards, such as "no two subnets of one address space overlap".
type Lock struct {
	ID string
}

// PortSecurityGroup records that a port carries a security group (the
// port's SecurityGroups, indexed both ways). ID is PortSecurityGroupID.
type PortSecurityGroup struct {
	ID              string
	PortID          string
	SecurityGroupID string
}

// PortSecurityGroupID is the id of the binding of group to port.
func PortSecurityGroupID(portID, groupID string) string { return portID + "/" + groupID }
