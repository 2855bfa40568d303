package apiserver

import (
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// Wire types: the JSON shapes of Octavia v2 responses, and their conversion
// from domain objects. Key sets follow Octavia 2.30 exactly: tenant_id
// mirrors project_id, name/description are never null, child lists are
// [{"id": ...}], timestamps carry no zone, updated_at is null until the
// first update.

type idRef struct {
	ID string `json:"id"`
}

func idRefs(ids []string) []idRef {
	out := make([]idRef, len(ids))
	for i, id := range ids {
		out[i] = idRef{ID: id}
	}
	return out
}

// timeLayout is Octavia's naive UTC ISO-8601 format.
const timeLayout = "2006-01-02T15:04:05"

func wireTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func wireTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := wireTime(*t)
	return &s
}

// optional renders "" as null.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nonNil[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

// pyFloat64 marshals like Python's json (1.0 stays 1.0).
type pyFloat64 float64

func (f pyFloat64) MarshalJSON() ([]byte, error) { return []byte(pyFloatRepr(float64(f))), nil }

type additionalVIPWire struct {
	SubnetID  string  `json:"subnet_id"`
	IPAddress *string `json:"ip_address"`
	PortID    *string `json:"port_id"`
}

type loadBalancerWire struct {
	ID                 string                `json:"id"`
	Name               string                `json:"name"`
	Description        string                `json:"description"`
	ProvisioningStatus lb.ProvisioningStatus `json:"provisioning_status"`
	OperatingStatus    lb.OperatingStatus    `json:"operating_status"`
	AdminStateUp       bool                  `json:"admin_state_up"`
	ProjectID          string                `json:"project_id"`
	CreatedAt          string                `json:"created_at"`
	UpdatedAt          *string               `json:"updated_at"`
	VIPAddress         *string               `json:"vip_address"`
	VIPPortID          *string               `json:"vip_port_id"`
	VIPSubnetID        *string               `json:"vip_subnet_id"`
	VIPNetworkID       *string               `json:"vip_network_id"`
	VIPSGIDs           []string              `json:"vip_sg_ids"`
	AdditionalVIPs     []additionalVIPWire   `json:"additional_vips"`
	Listeners          any                   `json:"listeners"`
	Pools              any                   `json:"pools"`
	Provider           string                `json:"provider"`
	FlavorID           *string               `json:"flavor_id"`
	VIPQoSPolicyID     *string               `json:"vip_qos_policy_id"`
	Tags               []string              `json:"tags"`
	AvailabilityZone   *string               `json:"availability_zone"`
	VIPVNICType        string                `json:"vip_vnic_type"`
	TenantID           string                `json:"tenant_id"`
	// Fault is fulcrum's addition: the provider's reason for refusing the
	// load balancer's newest generation, present only while it is ERROR
	// (Octavia has no such field; clients ignore keys they do not know).
	Fault string `json:"fault,omitempty"`
}

// toLoadBalancerWire renders l; listeners and pools are the id lists (or,
// for the create response, full objects).
func toLoadBalancerWire(l *lb.LoadBalancer, listeners, pools any) *loadBalancerWire {
	w := &loadBalancerWire{
		ID: l.ID, Name: l.Name, Description: l.Description,
		ProvisioningStatus: l.Status.Provisioning, OperatingStatus: l.Status.Operating,
		AdminStateUp: l.AdminStateUp, ProjectID: l.ProjectID, TenantID: l.ProjectID,
		CreatedAt: wireTime(l.CreatedAt), UpdatedAt: wireTimePtr(l.UpdatedAt),
		VIPAddress: optional(l.VIP.Address), VIPPortID: optional(l.VIP.PortID),
		VIPSubnetID: optional(l.VIP.SubnetID), VIPNetworkID: optional(l.VIP.NetworkID),
		VIPSGIDs: nonNil(l.VIP.SGIDs), AdditionalVIPs: []additionalVIPWire{},
		Listeners: listeners, Pools: pools, Provider: l.Provider,
		FlavorID: optional(l.FlavorID), VIPQoSPolicyID: optional(l.VIP.QoSPolicyID),
		Tags: nonNil(l.Tags), AvailabilityZone: optional(l.AvailabilityZone),
		VIPVNICType: l.VIP.VNICType,
	}
	if l.ProviderName != "" {
		w.Provider = l.ProviderName
	}
	if w.Provider == "" {
		w.Provider = "octavia"
	}
	if l.Status.Provisioning == lb.Error {
		w.Fault = l.LastError
	}
	if w.VIPVNICType == "" {
		w.VIPVNICType = lb.VNICNormal
	}
	for _, a := range l.AdditionalVIPs {
		w.AdditionalVIPs = append(w.AdditionalVIPs, additionalVIPWire{SubnetID: a.SubnetID, IPAddress: optional(a.IPAddress), PortID: optional(a.PortID)})
	}
	return w
}

type listenerWire struct {
	ID                      string                `json:"id"`
	Name                    string                `json:"name"`
	Description             string                `json:"description"`
	ProvisioningStatus      lb.ProvisioningStatus `json:"provisioning_status"`
	OperatingStatus         lb.OperatingStatus    `json:"operating_status"`
	AdminStateUp            bool                  `json:"admin_state_up"`
	Protocol                string                `json:"protocol"`
	ProtocolPort            int                   `json:"protocol_port"`
	ConnectionLimit         int                   `json:"connection_limit"`
	DefaultTLSContainerRef  *string               `json:"default_tls_container_ref"`
	SNIContainerRefs        []string              `json:"sni_container_refs"`
	ProjectID               string                `json:"project_id"`
	DefaultPoolID           *string               `json:"default_pool_id"`
	L7Policies              any                   `json:"l7policies"`
	InsertHeaders           map[string]string     `json:"insert_headers"`
	CreatedAt               string                `json:"created_at"`
	UpdatedAt               *string               `json:"updated_at"`
	LoadBalancers           []idRef               `json:"loadbalancers,omitempty"`
	TimeoutClientData       int                   `json:"timeout_client_data"`
	TimeoutMemberConnect    int                   `json:"timeout_member_connect"`
	TimeoutMemberData       int                   `json:"timeout_member_data"`
	TimeoutTCPInspect       int                   `json:"timeout_tcp_inspect"`
	Tags                    []string              `json:"tags"`
	ClientCATLSContainerRef *string               `json:"client_ca_tls_container_ref"`
	ClientAuthentication    string                `json:"client_authentication"`
	ClientCRLContainerRef   *string               `json:"client_crl_container_ref"`
	AllowedCIDRs            []string              `json:"allowed_cidrs"`
	TLSCiphers              *string               `json:"tls_ciphers"`
	TLSVersions             []string              `json:"tls_versions"`
	ALPNProtocols           []string              `json:"alpn_protocols"`
	HSTSMaxAge              *int                  `json:"hsts_max_age"`
	HSTSIncludeSubdomains   bool                  `json:"hsts_include_subdomains"`
	HSTSPreload             bool                  `json:"hsts_preload"`
	TenantID                string                `json:"tenant_id"`
}

func toListenerWire(l *lb.Listener, policies []string) *listenerWire {
	w := &listenerWire{
		ID: l.ID, Name: l.Name, Description: l.Description,
		ProvisioningStatus: l.Status.Provisioning, OperatingStatus: l.Status.Operating,
		AdminStateUp: l.AdminStateUp, Protocol: l.Protocol, ProtocolPort: l.ProtocolPort,
		ConnectionLimit: l.ConnectionLimit, DefaultTLSContainerRef: l.DefaultTLSContainerRef,
		SNIContainerRefs: nonNil(l.SNIContainerRefs), ProjectID: l.ProjectID, TenantID: l.ProjectID,
		DefaultPoolID: optional(l.DefaultPoolID), L7Policies: idRefs(policies),

		InsertHeaders: l.InsertHeaders, CreatedAt: wireTime(l.CreatedAt), UpdatedAt: wireTimePtr(l.UpdatedAt),
		LoadBalancers:     []idRef{{ID: l.LoadBalancerID}},
		TimeoutClientData: l.TimeoutClientData, TimeoutMemberConnect: l.TimeoutMemberConnect,
		TimeoutMemberData: l.TimeoutMemberData, TimeoutTCPInspect: l.TimeoutTCPInspect,
		Tags: nonNil(l.Tags), ClientCATLSContainerRef: l.ClientCATLSContainerRef,
		ClientAuthentication: l.ClientAuthentication, ClientCRLContainerRef: l.ClientCRLContainerRef,
		TLSCiphers: l.TLSCiphers, TLSVersions: l.TLSVersions, ALPNProtocols: l.ALPNProtocols,
		HSTSMaxAge: l.HSTSMaxAge, HSTSIncludeSubdomains: l.HSTSIncludeSubdomains, HSTSPreload: l.HSTSPreload,
	}
	if w.InsertHeaders == nil {
		w.InsertHeaders = map[string]string{}
	}
	if len(l.AllowedCIDRs) > 0 {
		w.AllowedCIDRs = l.AllowedCIDRs
	}
	if w.ClientAuthentication == "" {
		w.ClientAuthentication = lb.ClientAuthNone
	}
	return w
}

type sessionPersistenceWire struct {
	Type                   string  `json:"type"`
	CookieName             *string `json:"cookie_name"`
	PersistenceTimeout     *int    `json:"persistence_timeout"`
	PersistenceGranularity *string `json:"persistence_granularity"`
}

type poolWire struct {
	ID                 string                  `json:"id"`
	Name               string                  `json:"name"`
	Description        string                  `json:"description"`
	ProvisioningStatus lb.ProvisioningStatus   `json:"provisioning_status"`
	OperatingStatus    lb.OperatingStatus      `json:"operating_status"`
	AdminStateUp       bool                    `json:"admin_state_up"`
	Protocol           string                  `json:"protocol"`
	LBAlgorithm        string                  `json:"lb_algorithm"`
	SessionPersistence *sessionPersistenceWire `json:"session_persistence"`
	ProjectID          string                  `json:"project_id"`
	LoadBalancers      []idRef                 `json:"loadbalancers,omitempty"`
	Listeners          []idRef                 `json:"listeners"`
	CreatedAt          string                  `json:"created_at"`
	UpdatedAt          *string                 `json:"updated_at"`
	HealthMonitorID    string                  `json:"healthmonitor_id,omitempty"`
	Members            any                     `json:"members"`
	Tags               []string                `json:"tags"`
	TLSContainerRef    *string                 `json:"tls_container_ref"`
	CATLSContainerRef  *string                 `json:"ca_tls_container_ref"`
	CRLContainerRef    *string                 `json:"crl_container_ref"`
	TLSEnabled         bool                    `json:"tls_enabled"`
	TLSCiphers         *string                 `json:"tls_ciphers"`
	TLSVersions        []string                `json:"tls_versions"`
	ALPNProtocols      []string                `json:"alpn_protocols"`
	TenantID           string                  `json:"tenant_id"`
}

// poolRefs are the child and back references of a pool.
type poolRefs struct {
	listeners []string
	members   []string
	monitor   string
}

func toPoolWire(p *lb.Pool, refs poolRefs) *poolWire {
	w := &poolWire{
		ID: p.ID, Name: p.Name, Description: p.Description,
		ProvisioningStatus: p.Status.Provisioning, OperatingStatus: p.Status.Operating,
		AdminStateUp: p.AdminStateUp, Protocol: p.Protocol, LBAlgorithm: p.LBAlgorithm,
		ProjectID: p.ProjectID, TenantID: p.ProjectID, LoadBalancers: []idRef{{ID: p.LoadBalancerID}},
		Listeners: idRefs(refs.listeners), CreatedAt: wireTime(p.CreatedAt), UpdatedAt: wireTimePtr(p.UpdatedAt),
		HealthMonitorID: refs.monitor, Members: idRefs(refs.members), Tags: nonNil(p.Tags),
		TLSContainerRef: p.TLSContainerRef, CATLSContainerRef: p.CATLSContainerRef, CRLContainerRef: p.CRLContainerRef,
		TLSEnabled: p.TLSEnabled, TLSCiphers: p.TLSCiphers, TLSVersions: p.TLSVersions, ALPNProtocols: p.ALPNProtocols,
	}
	if sp := p.SessionPersistence; sp != nil {
		w.SessionPersistence = &sessionPersistenceWire{Type: sp.Type, CookieName: sp.CookieName,
			PersistenceTimeout: sp.PersistenceTimeout, PersistenceGranularity: sp.PersistenceGranularity}
	}
	return w
}

type memberWire struct {
	ID                 string                `json:"id"`
	Name               string                `json:"name"`
	OperatingStatus    lb.OperatingStatus    `json:"operating_status"`
	ProvisioningStatus lb.ProvisioningStatus `json:"provisioning_status"`
	AdminStateUp       bool                  `json:"admin_state_up"`
	Address            string                `json:"address"`
	ProtocolPort       int                   `json:"protocol_port"`
	Weight             int                   `json:"weight"`
	Backup             bool                  `json:"backup"`
	SubnetID           *string               `json:"subnet_id"`
	ProjectID          string                `json:"project_id"`
	CreatedAt          string                `json:"created_at"`
	UpdatedAt          *string               `json:"updated_at"`
	MonitorAddress     *string               `json:"monitor_address"`
	MonitorPort        *int                  `json:"monitor_port"`
	Tags               []string              `json:"tags"`
	VNICType           string                `json:"vnic_type"`
	TenantID           string                `json:"tenant_id"`
}

func toMemberWire(m *lb.Member) *memberWire {
	w := &memberWire{
		ID: m.ID, Name: m.Name, OperatingStatus: m.Status.Operating, ProvisioningStatus: m.Status.Provisioning,
		AdminStateUp: m.AdminStateUp, Address: m.Address, ProtocolPort: m.ProtocolPort, Weight: m.Weight,
		Backup: m.Backup, SubnetID: optional(m.SubnetID), ProjectID: m.ProjectID, TenantID: m.ProjectID,
		CreatedAt: wireTime(m.CreatedAt), UpdatedAt: wireTimePtr(m.UpdatedAt),
		MonitorAddress: optional(m.MonitorAddress), MonitorPort: m.MonitorPort, Tags: nonNil(m.Tags),
		VNICType: m.VNICType,
	}
	if w.VNICType == "" {
		w.VNICType = lb.VNICNormal
	}
	return w
}

type healthMonitorWire struct {
	ID                 string                `json:"id"`
	Name               string                `json:"name"`
	Type               string                `json:"type"`
	Delay              int                   `json:"delay"`
	Timeout            int                   `json:"timeout"`
	MaxRetries         int                   `json:"max_retries"`
	MaxRetriesDown     int                   `json:"max_retries_down"`
	HTTPMethod         *string               `json:"http_method"`
	URLPath            *string               `json:"url_path"`
	ExpectedCodes      *string               `json:"expected_codes"`
	AdminStateUp       bool                  `json:"admin_state_up"`
	ProjectID          string                `json:"project_id"`
	Pools              []idRef               `json:"pools"`
	ProvisioningStatus lb.ProvisioningStatus `json:"provisioning_status"`
	OperatingStatus    lb.OperatingStatus    `json:"operating_status"`
	CreatedAt          string                `json:"created_at"`
	UpdatedAt          *string               `json:"updated_at"`
	Tags               []string              `json:"tags"`
	HTTPVersion        *pyFloat64            `json:"http_version"`
	DomainName         *string               `json:"domain_name"`
	TenantID           string                `json:"tenant_id"`
}

func toHealthMonitorWire(h *lb.HealthMonitor) *healthMonitorWire {
	w := &healthMonitorWire{
		ID: h.ID, Name: h.Name, Type: h.Type, Delay: h.Delay, Timeout: h.Timeout,
		MaxRetries: h.MaxRetries, MaxRetriesDown: h.MaxRetriesDown,
		HTTPMethod: h.HTTPMethod, URLPath: h.URLPath, ExpectedCodes: h.ExpectedCodes,
		AdminStateUp: h.AdminStateUp, ProjectID: h.ProjectID, TenantID: h.ProjectID,
		Pools:              []idRef{{ID: h.PoolID}},
		ProvisioningStatus: h.Status.Provisioning, OperatingStatus: h.Status.Operating,
		CreatedAt: wireTime(h.CreatedAt), UpdatedAt: wireTimePtr(h.UpdatedAt),
		Tags: nonNil(h.Tags), DomainName: h.DomainName,
	}
	if h.HTTPVersion != nil {
		v := pyFloat64(*h.HTTPVersion)
		w.HTTPVersion = &v
	}
	return w
}

type statsWire struct {
	BytesIn           int64 `json:"bytes_in"`
	BytesOut          int64 `json:"bytes_out"`
	ActiveConnections int64 `json:"active_connections"`
	TotalConnections  int64 `json:"total_connections"`
	RequestErrors     int64 `json:"request_errors"`
}

// statsBody is the body of the stats endpoints: {"stats": {...}}.
type statsBody struct {
	Stats statsWire `json:"stats"`
}

func toStatsWire(st lb.Stats) statsBody {
	return statsBody{Stats: statsWire{BytesIn: st.BytesIn, BytesOut: st.BytesOut,
		ActiveConnections: st.ActiveConnections, TotalConnections: st.TotalConnections, RequestErrors: st.RequestErrors}}
}

// memberStatsBody is the body of a member's counters (a fulcrum extension):
// {"stats": {...}}, the sum over the agents that reported the member.
type memberStatsBody struct {
	Stats memberStatsWire `json:"stats"`
}

type memberStatsWire struct {
	ActiveConnections int64 `json:"active_connections"`
	TotalConnections  int64 `json:"total_connections"`
	ConnectErrors     int64 `json:"connect_errors"`
}

// Status tree (GET /loadbalancers/{id}/status): loadbalancer → listeners →
// pools → {health_monitor, members}.

type statusMemberWire struct {
	ID                 string                `json:"id"`
	Name               string                `json:"name"`
	OperatingStatus    lb.OperatingStatus    `json:"operating_status"`
	ProvisioningStatus lb.ProvisioningStatus `json:"provisioning_status"`
	Address            string                `json:"address"`
	ProtocolPort       int                   `json:"protocol_port"`
}

type statusMonitorWire struct {
	ID                 string                `json:"id"`
	Name               string                `json:"name"`
	Type               string                `json:"type"`
	ProvisioningStatus lb.ProvisioningStatus `json:"provisioning_status"`
	OperatingStatus    lb.OperatingStatus    `json:"operating_status"`
}

type statusPoolWire struct {
	ID                 string                `json:"id"`
	Name               string                `json:"name"`
	ProvisioningStatus lb.ProvisioningStatus `json:"provisioning_status"`
	OperatingStatus    lb.OperatingStatus    `json:"operating_status"`
	HealthMonitor      *statusMonitorWire    `json:"health_monitor"`
	Members            []statusMemberWire    `json:"members"`
}

type statusListenerWire struct {
	ID                 string                `json:"id"`
	Name               string                `json:"name"`
	OperatingStatus    lb.OperatingStatus    `json:"operating_status"`
	ProvisioningStatus lb.ProvisioningStatus `json:"provisioning_status"`
	Pools              []statusPoolWire      `json:"pools"`
}

// statusBody is the body of the status tree: {"statuses": {"loadbalancer":
// {...}}}.
type statusBody struct {
	Statuses statusesWire `json:"statuses"`
}

type statusesWire struct {
	LoadBalancer statusLoadBalancerWire `json:"loadbalancer"`
}

type statusLoadBalancerWire struct {
	ID                 string                `json:"id"`
	Name               string                `json:"name"`
	OperatingStatus    lb.OperatingStatus    `json:"operating_status"`
	ProvisioningStatus lb.ProvisioningStatus `json:"provisioning_status"`
	Listeners          []statusListenerWire  `json:"listeners"`
}

type pageLink struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

type l7RuleWire struct {
	ID                 string                `json:"id"`
	Type               string                `json:"type"`
	CompareType        string                `json:"compare_type"`
	Key                *string               `json:"key"`
	Value              string                `json:"value"`
	Invert             bool                  `json:"invert"`
	ProvisioningStatus lb.ProvisioningStatus `json:"provisioning_status"`
	OperatingStatus    lb.OperatingStatus    `json:"operating_status"`
	CreatedAt          string                `json:"created_at"`
	UpdatedAt          *string               `json:"updated_at"`
	ProjectID          string                `json:"project_id"`
	AdminStateUp       bool                  `json:"admin_state_up"`
	Tags               []string              `json:"tags"`
	TenantID           string                `json:"tenant_id"`
}

func toL7RuleWire(r *lb.L7Rule) *l7RuleWire {
	return &l7RuleWire{ID: r.ID, Type: r.Type, CompareType: r.CompareType, Key: r.Key, Value: r.Value, Invert: r.Invert,
		ProvisioningStatus: r.Status.Provisioning, OperatingStatus: r.Status.Operating,
		CreatedAt: wireTime(r.CreatedAt), UpdatedAt: wireTimePtr(r.UpdatedAt), ProjectID: r.ProjectID, TenantID: r.ProjectID,
		AdminStateUp: r.AdminStateUp, Tags: nonNil(r.Tags)}
}

type l7PolicyWire struct {
	ID                 string                `json:"id"`
	Name               string                `json:"name"`
	Description        string                `json:"description"`
	ProvisioningStatus lb.ProvisioningStatus `json:"provisioning_status"`
	OperatingStatus    lb.OperatingStatus    `json:"operating_status"`
	AdminStateUp       bool                  `json:"admin_state_up"`
	ProjectID          string                `json:"project_id"`
	Action             string                `json:"action"`
	ListenerID         string                `json:"listener_id"`
	RedirectPoolID     *string               `json:"redirect_pool_id"`
	RedirectURL        *string               `json:"redirect_url"`
	RedirectPrefix     *string               `json:"redirect_prefix"`
	Position           int                   `json:"position"`
	Rules              any                   `json:"rules"`
	CreatedAt          string                `json:"created_at"`
	UpdatedAt          *string               `json:"updated_at"`
	Tags               []string              `json:"tags"`
	RedirectHTTPCode   *int                  `json:"redirect_http_code"`
	TenantID           string                `json:"tenant_id"`
}

// toL7PolicyWire renders p; rules are id references or full rule objects.
func toL7PolicyWire(p *lb.L7Policy, rules any) *l7PolicyWire {
	return &l7PolicyWire{ID: p.ID, Name: p.Name, Description: p.Description,
		ProvisioningStatus: p.Status.Provisioning, OperatingStatus: p.Status.Operating, AdminStateUp: p.AdminStateUp,
		ProjectID: p.ProjectID, TenantID: p.ProjectID, Action: p.Action, ListenerID: p.ListenerID,
		RedirectPoolID: optional(p.RedirectPoolID), RedirectURL: p.RedirectURL, RedirectPrefix: p.RedirectPrefix,
		Position: p.Position, Rules: rules, CreatedAt: wireTime(p.CreatedAt), UpdatedAt: wireTimePtr(p.UpdatedAt),
		Tags: nonNil(p.Tags), RedirectHTTPCode: p.RedirectHTTPCode}
}

// poolFullWire is a pool inside a fully populated load balancer response:
// full members and health monitor (null when none), no back references.
type poolFullWire struct {
	*poolWire
	HealthMonitor *healthMonitorWire `json:"healthmonitor"`
}
