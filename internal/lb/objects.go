package lb

// LoadBalancer is a VIP with listeners and pools, owned by one project.
//
// Generation is the desired-state version: every write to the load balancer or
// any of its children increments it in the same transaction. AppliedGeneration
// is the newest generation its provider has acknowledged.
type LoadBalancer struct {
	ID             string
	ProjectID      string
	Name           string
	Description    string
	AdminStateUp   bool
	Status         Status
	VIP            VIP
	AdditionalVIPs []AdditionalVIP
	// Provider is the provider that runs the load balancer; ProviderName
	// is the name the client asked for when that was an alias of it
	// (Octavia's "amphora" or "octavia"), "" otherwise. The API shows
	// ProviderName when set, so a client sees the name it sent.
	Provider          string
	ProviderName      string
	FlavorID          string // "" when none
	AvailabilityZone  string // name; "" when none
	Tags              []string
	Generation        int64
	AppliedGeneration int64
	// LastError is the provider's reason for the last refused generation, ""
	// when the last apply succeeded.
	LastError string
	Times
}

// VIP is a load balancer's virtual IP and the network objects behind it.
// Empty strings mean "not set".
type VIP struct {
	Address     string
	PortID      string
	SubnetID    string
	NetworkID   string
	QoSPolicyID string
	SGIDs       []string
	VNICType    string
}

// AdditionalVIP is an extra VIP on another subnet of the VIP network.
type AdditionalVIP struct {
	SubnetID  string
	NetworkID string
	IPAddress string
	PortID    string
}

// Listener is a protocol and port on a load balancer's VIPs.
type Listener struct {
	ID                      string
	ProjectID               string
	LoadBalancerID          string
	Name                    string
	Description             string
	AdminStateUp            bool
	Status                  Status
	Protocol                string
	ProtocolPort            int
	ConnectionLimit         int // -1 = unlimited
	DefaultPoolID           string
	InsertHeaders           map[string]string
	TimeoutClientData       int // ms
	TimeoutMemberConnect    int // ms
	TimeoutMemberData       int // ms
	TimeoutTCPInspect       int // ms
	DefaultTLSContainerRef  *string
	SNIContainerRefs        []string
	ClientCATLSContainerRef *string
	ClientAuthentication    string
	ClientCRLContainerRef   *string
	AllowedCIDRs            []string
	TLSCiphers              *string
	TLSVersions             []string // nil = null
	ALPNProtocols           []string // nil = null
	HSTSMaxAge              *int
	HSTSIncludeSubdomains   bool
	HSTSPreload             bool
	Tags                    []string
	Times
}

// Pool is a set of members with an algorithm, on one load balancer.
type Pool struct {
	ID                 string
	ProjectID          string
	LoadBalancerID     string
	Name               string
	Description        string
	AdminStateUp       bool
	Status             Status
	Protocol           string
	LBAlgorithm        string
	SessionPersistence *SessionPersistence
	TLSEnabled         bool
	TLSContainerRef    *string
	CATLSContainerRef  *string
	CRLContainerRef    *string
	TLSCiphers         *string
	TLSVersions        []string // nil = null
	ALPNProtocols      []string // nil = null
	Tags               []string
	Times
}

// SessionPersistence binds a client to a member.
type SessionPersistence struct {
	Type                   string
	CookieName             *string
	PersistenceTimeout     *int    // seconds
	PersistenceGranularity *string // netmask, e.g. 255.255.255.0
}

// Member is one backend server of a pool.
type Member struct {
	ID             string
	ProjectID      string
	PoolID         string
	LoadBalancerID string
	Name           string
	AdminStateUp   bool
	Status         Status
	Address        string
	ProtocolPort   int
	Weight         int
	Backup         bool
	SubnetID       string
	MonitorAddress string // "" = null
	MonitorPort    *int
	VNICType       string
	Tags           []string
	Times
}

// HealthMonitor probes the members of one pool.
type HealthMonitor struct {
	ID             string
	ProjectID      string
	PoolID         string
	LoadBalancerID string
	Name           string
	AdminStateUp   bool
	Status         Status
	Type           string
	Delay          int // seconds
	Timeout        int // seconds
	MaxRetries     int // rise
	MaxRetriesDown int // fall
	HTTPMethod     *string
	URLPath        *string
	ExpectedCodes  *string
	HTTPVersion    *float64
	DomainName     *string
	Tags           []string
	Times
}

// L7Policy is one ordered rule set of a listener with an action.
type L7Policy struct {
	ID               string
	ProjectID        string
	ListenerID       string
	LoadBalancerID   string
	Name             string
	Description      string
	AdminStateUp     bool
	Status           Status
	Action           string
	Position         int
	RedirectPoolID   string
	RedirectURL      *string
	RedirectPrefix   *string
	RedirectHTTPCode *int
	Tags             []string
	Times
}

// L7Rule is one condition of an L7 policy.
type L7Rule struct {
	ID             string
	ProjectID      string
	L7PolicyID     string
	LoadBalancerID string
	AdminStateUp   bool
	Status         Status
	Type           string
	CompareType    string
	Key            *string
	Value          string
	Invert         bool
	Tags           []string
	Times
}

// Graph is a load balancer with all its children, as the controller hands it
// to a provider. Slices are ordered by creation (policies by position).
type Graph struct {
	LoadBalancer   *LoadBalancer
	Listeners      []*Listener
	Pools          []*Pool
	Members        []*Member
	HealthMonitors []*HealthMonitor
	L7Policies     []*L7Policy
	L7Rules        []*L7Rule
}
