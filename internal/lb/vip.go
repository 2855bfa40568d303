package lb

// VIPRequest asks the network layer for a load balancer's VIP. At least one
// of PortID, NetworkID and SubnetID is set; Address is the requested fixed
// IP ("" to let the network pick one). Additional lists the extra VIPs
// (SubnetID set, IPAddress and PortID optional).
type VIPRequest struct {
	LoadBalancerID string
	ProjectID      string
	PortID         string
	NetworkID      string
	SubnetID       string
	Address        string
	QoSPolicyID    string
	SGIDs          []string
	Additional     []AdditionalVIP
}

// Stats are the traffic counters of a load balancer or listener.
type Stats struct {
	BytesIn           int64
	BytesOut          int64
	ActiveConnections int64
	TotalConnections  int64
	RequestErrors     int64
}
