// Package dataplane is the contract between fulcrum's controller and its data-plane agents: the
// versioned, immutable configuration of one node (listeners, pools, members, health monitors) and
// the observations an agent reports back (stats, member health, health-transition events).
//
// It imports only the standard library so that every side of the wire (controller, agent,
// native engine, HAProxy engine, tests) can depend on it. The JSON form is the wire form; field
// names mirror Octavia's. Changes to the shape are recorded against [ContractVersion].
package dataplane

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// ContractVersion is the version of this contract's shape. History:
//
//	1  first version: TCP, HTTP, HTTPS (pass-through) and UDP listeners; pools (TCP, HTTP,
//	   HTTPS, UDP, PROXY, PROXYV2) with the four Octavia
//	   algorithms, session persistence, members and health monitors. TLS termination and L7
//	   policies are described but refused by Validate.
//
//	2  Listener.Ingress: the clients a listener admits, from the security groups of the
//	   load balancer's VIP port (Neutron's ingress rules reduced to the listener's
//	   protocol and port). An engine of contract 1 would decode it as an unknown field,
//	   so a config carrying it says contract 2 (Config.NeededContract) and a server
//	   never sends it to an agent that announced an older contract (ContractHeader):
//	   such an agent is given its other load balancers only, and the one with the filter
//	   is reported refused ("upgrade the agent"), never served unfiltered.
//
//	3  Listener.ConnectionLogging: false turns the engine's access log off for the
//	   listener. A config carrying it says contract 3 (Config.NeededContract); the
//	   server sets it only when asked to, so agents of contract 2 keep getting every
//	   other config.
//
// L7 policies on HTTP listeners became carried without a change of shape: an engine built
// before that refuses them in Validate ("not supported by this engine yet"), which the
// agent reports as the load balancer's error, so the version stayed 1 then.
//
// Config.VRRP (ACTIVE_STANDBY load balancers) became carried without a change of shape
// either: the server sends VRRP groups only to agents that advertise the "vrrp"
// capability in their heartbeats (CapabilityVRRP), and an agent built before that never
// gets a config that has them.
const ContractVersion = 3

// ContractHeader carries, on every agent request, the highest ContractVersion the agent's
// engine understands. An agent that does not send it (built before contract 2) speaks
// contract 1.
const ContractHeader = "Fulcrum-Agent-Contract"

// MaxIngressPrefixes bounds Listener.Ingress.Allow.
const MaxIngressPrefixes = 10000

// Protocol is a listener or pool protocol, spelled as in Octavia.
type Protocol string

// Listener and pool protocols.
const (
	ProtocolTCP             Protocol = "TCP"
	ProtocolHTTP            Protocol = "HTTP"
	ProtocolHTTPS           Protocol = "HTTPS" // TLS pass-through: carried as TCP
	ProtocolTerminatedHTTPS Protocol = "TERMINATED_HTTPS"
	ProtocolUDP             Protocol = "UDP"
	ProtocolSCTP            Protocol = "SCTP"
	ProtocolPrometheus      Protocol = "PROMETHEUS"
	ProtocolProxy           Protocol = "PROXY"   // pool only: PROXY protocol v1 toward members
	ProtocolProxyV2         Protocol = "PROXYV2" // pool only: PROXY protocol v2 toward members
)

// Algorithm is a pool's load-balancing algorithm (Octavia's lb_algorithm).
type Algorithm string

// Load-balancing algorithms.
const (
	RoundRobin       Algorithm = "ROUND_ROBIN"
	LeastConnections Algorithm = "LEAST_CONNECTIONS"
	SourceIP         Algorithm = "SOURCE_IP"
	SourceIPPort     Algorithm = "SOURCE_IP_PORT"
)

// PersistenceType is the type of a pool's session persistence.
type PersistenceType string

// Session persistence types.
const (
	PersistSourceIP   PersistenceType = "SOURCE_IP"
	PersistHTTPCookie PersistenceType = "HTTP_COOKIE"
	PersistAppCookie  PersistenceType = "APP_COOKIE"
)

// MonitorType is a health monitor's probe type.
type MonitorType string

// Health monitor types.
const (
	MonitorHTTP       MonitorType = "HTTP"
	MonitorHTTPS      MonitorType = "HTTPS"
	MonitorTCP        MonitorType = "TCP"
	MonitorPing       MonitorType = "PING"
	MonitorTLSHello   MonitorType = "TLS-HELLO"
	MonitorUDPConnect MonitorType = "UDP-CONNECT"
	MonitorSCTP       MonitorType = "SCTP"
)

// Octavia's listener timeout defaults, in milliseconds, applied by Decode to absent fields.
const (
	DefaultTimeoutClientData    = 50000
	DefaultTimeoutMemberConnect = 5000
	DefaultTimeoutMemberData    = 50000
	DefaultTimeoutTCPInspect    = 0
	MaxTimeout                  = 2073600000
)

// Config is the whole desired data-plane state of one node. A Config is a value: once handed
// to an engine it must not be modified (use Clone to derive a new one).
type Config struct {
	// Contract is the ContractVersion the producer wrote; 0 means 1. Validate refuses a
	// contract newer than this package knows.
	Contract int `json:"contract,omitempty"`
	// Version increases monotonically per node with every change the controller publishes.
	// An engine refuses a version older than the one it runs; the same version with the same
	// content is a no-op.
	Version uint64 `json:"version"`
	// NodeID names the agent the config is for (informational; empty in standalone use).
	NodeID string `json:"node_id,omitempty"`
	// Listeners are the frontends. Order is irrelevant for traffic but field paths in
	// validation errors use the index.
	Listeners []Listener `json:"listeners"`
	// Pools are the backends, referenced by id from listeners (and later L7 policies).
	Pools []Pool `json:"pools"`
	// VRRP lists the VRRP groups this node is a member of (ACTIVE_STANDBY load balancers);
	// empty when it has none. See VRRPGroup.
	VRRP []VRRPGroup `json:"vrrp,omitempty"`
}

// Listener is one Octavia listener: a protocol on a port of one or more addresses.
type Listener struct {
	// ID is the Octavia listener id (a UUID); stats are reported under it.
	ID string `json:"id"`
	// LoadBalancerID is the Octavia load balancer owning the listener.
	LoadBalancerID string `json:"loadbalancer_id"`
	// Protocol is TCP, HTTP, HTTPS (pass-through), TERMINATED_HTTPS, UDP or PROMETHEUS
	// (an HTTP endpoint, GET /metrics, exposing the metrics of the listener's load balancer
	// in the Prometheus text format; no pool, L7 policies or TLS). SCTP is part of the
	// contract but refused by Validate until the engine has it.
	Protocol Protocol `json:"protocol"`
	// Addresses are the IP addresses to listen on: the VIP first, then extra addresses such as
	// floating or secondary IPs. At least one. Literal IPv4 or IPv6, no zone.
	Addresses []string `json:"addresses"`
	// ProtocolPort is the port, 1–65535.
	ProtocolPort int `json:"protocol_port"`
	// DefaultPoolID is the pool that gets traffic no L7 policy claims. Empty: no pool, and
	// the listener answers 503 (HTTP) or closes the connection (TCP, UDP drops).
	DefaultPoolID string `json:"default_pool_id,omitempty"`
	// ConnectionLimit caps concurrent client connections on the listener (all addresses
	// together). -1 or 0 means unlimited; Decode defaults an absent value to -1. Excess
	// connections are closed at once (HTTP listeners first answer 503).
	ConnectionLimit int `json:"connection_limit"`
	// TimeoutClientData is the client inactivity timeout in milliseconds, also the
	// keep-alive idle timeout of HTTP client connections. 0 means no timeout. Decode
	// defaults it to 50000.
	TimeoutClientData int64 `json:"timeout_client_data"`
	// TimeoutMemberConnect bounds one connection attempt to a member, in milliseconds.
	// 0 means the operating system's limit. Decode defaults it to 5000.
	TimeoutMemberConnect int64 `json:"timeout_member_connect"`
	// TimeoutMemberData is the member inactivity timeout in milliseconds: how long the
	// engine waits for a response (HTTP: 504 when it expires) or for more data. 0 means no
	// timeout. Decode defaults it to 50000.
	TimeoutMemberData int64 `json:"timeout_member_data"`
	// TimeoutTCPInspect is how long, in milliseconds, a TCP listener may wait for content
	// to inspect (for L7 rules on TCP). Unused by the current engine; 0 means none.
	TimeoutTCPInspect int64 `json:"timeout_tcp_inspect"`
	// AllowedCIDRs restricts clients to these networks (IPv4 or IPv6 CIDR). Empty allows
	// everyone. Connections from elsewhere are closed without a byte (UDP: dropped).
	AllowedCIDRs []string `json:"allowed_cidrs,omitempty"`
	// Ingress, when non-nil, admits only clients whose address is inside one of
	// Ingress.Allow: the security groups of the load balancer's VIP port (contract 2).
	// It applies with AllowedCIDRs (a client must pass both) to every protocol: TCP and
	// HTTP connections from elsewhere are closed without a byte at accept, UDP datagrams
	// from elsewhere are dropped. When it changes, established TCP connections and UDP
	// flows of clients it no longer admits are closed, as Neutron cuts the connections a
	// removed rule allowed. nil means no such filter.
	Ingress *Ingress `json:"ingress,omitempty"`
	// InsertHeaders asks HTTP listeners to add request headers toward members: keys
	// X-Forwarded-For, X-Forwarded-Port, X-Forwarded-Proto, X-Forwarded-IP, X-Real-IP, X-Client-IP with value
	// "true" (case-insensitive) to enable; other values disable. Only on HTTP listeners
	// (and TERMINATED_HTTPS, which adds the X-SSL-* keys later).
	InsertHeaders map[string]string `json:"insert_headers,omitempty"`
	// TLS terminates TLS on the listener (TERMINATED_HTTPS). Not supported by the engine yet:
	// Validate refuses a non-nil value.
	TLS *ListenerTLS `json:"tls,omitempty"`
	// ConnectionLogging false turns the engine's access log off for this listener; absent
	// (or true) logs its requests and flows when the engine has an access log (contract 3).
	ConnectionLogging *bool `json:"connection_logging,omitempty"`
	// L7Policies are evaluated per request in Position order (ties in list order) before
	// the default pool; the first whose rules all match decides. Only on HTTP (and
	// TERMINATED_HTTPS) listeners: Validate refuses them elsewhere.
	L7Policies []L7Policy `json:"l7policies,omitempty"`
}

// Ingress is a listener's client filter from security groups (Listener.Ingress).
type Ingress struct {
	// Allow lists the client networks admitted, IPv4 or IPv6 CIDRs (at most
	// MaxIngressPrefixes). Empty admits nobody: a VIP port whose groups allow nothing
	// toward this listener's port.
	Allow []string `json:"allow"`
}

// NeededContract is the lowest ContractVersion that carries c: 3 when a listener says
// connection_logging, 2 when a listener has an Ingress filter, else 1.
func (c *Config) NeededContract() int {
	need := 1
	for i := range c.Listeners {
		if c.Listeners[i].ConnectionLogging != nil {
			return 3
		}
		if c.Listeners[i].Ingress != nil {
			need = 2
		}
	}
	return need
}

// ListenerTLS is the TLS-termination part of a TERMINATED_HTTPS listener (contract only).
type ListenerTLS struct {
	// DefaultCertificate is served when no SNI certificate matches.
	DefaultCertificate *Certificate `json:"default_certificate,omitempty"`
	// SNICertificates are chosen by the client's server name, in order.
	SNICertificates []Certificate `json:"sni_certificates,omitempty"`
	// ClientCA is a PEM bundle to verify client certificates with.
	ClientCA string `json:"client_ca,omitempty"`
	// ClientAuthentication is NONE, OPTIONAL or MANDATORY.
	ClientAuthentication string `json:"client_authentication,omitempty"`
	// ClientCRL is a PEM certificate revocation list for client certificates.
	ClientCRL string `json:"client_crl,omitempty"`
	// Ciphers is an OpenSSL-style cipher list; empty means the engine's default.
	Ciphers string `json:"ciphers,omitempty"`
	// Versions are the TLS versions allowed (TLSv1.2, TLSv1.3, ...); empty means default.
	Versions []string `json:"versions,omitempty"`
	// ALPNProtocols are offered in order (h2, http/1.1, http/1.0); empty means default.
	ALPNProtocols []string `json:"alpn_protocols,omitempty"`
	// HSTSMaxAge in seconds adds Strict-Transport-Security when non-nil.
	HSTSMaxAge *int64 `json:"hsts_max_age,omitempty"`
	// HSTSIncludeSubdomains and HSTSPreload extend the HSTS header.
	HSTSIncludeSubdomains bool `json:"hsts_include_subdomains,omitempty"`
	HSTSPreload           bool `json:"hsts_preload,omitempty"`
}

// Certificate is a PEM certificate chain and its private key, resolved by the controller
// from the key manager.
type Certificate struct {
	// ID is the key-manager reference the certificate came from.
	ID string `json:"id,omitempty"`
	// CertPEM is the leaf certificate followed by intermediates.
	CertPEM string `json:"cert_pem"`
	// KeyPEM is the private key.
	KeyPEM string `json:"key_pem"`
}

// L7Policy is an ordered L7 policy of ANDed rules.
type L7Policy struct {
	// ID is the Octavia L7 policy id.
	ID string `json:"id"`
	// Position orders policies on the listener, lowest first.
	Position int `json:"position"`
	// Action is REDIRECT_TO_POOL, REDIRECT_TO_URL, REDIRECT_PREFIX or REJECT (403).
	Action string `json:"action"`
	// RedirectPoolID is the pool for REDIRECT_TO_POOL (and only for it): it must exist in
	// the Config and suit the listener's protocol. Its algorithm, session persistence and
	// health apply to the requests it takes.
	RedirectPoolID string `json:"redirect_pool_id,omitempty"`
	// RedirectURL is the Location of REDIRECT_TO_URL answers: an absolute http or https URL
	// without spaces or control characters.
	RedirectURL string `json:"redirect_url,omitempty"`
	// RedirectPrefix is prepended to the request's path and query to make the Location of
	// REDIRECT_PREFIX answers (same URL rules as RedirectURL).
	RedirectPrefix string `json:"redirect_prefix,omitempty"`
	// RedirectHTTPCode is 301, 302, 303, 307 or 308 for the redirect actions; 0 means 302.
	// Ignored for REDIRECT_TO_POOL and REJECT.
	RedirectHTTPCode int `json:"redirect_http_code,omitempty"`
	// Rules must all match (AND) for the policy to apply. At least one.
	Rules []L7Rule `json:"rules,omitempty"`
}

// L7Rule is one condition of an L7 policy. See MatchValue and Regexp for how Value is read.
type L7Rule struct {
	// ID is the Octavia L7 rule id.
	ID string `json:"id"`
	// Type is HOST_NAME, PATH, FILE_TYPE, HEADER, COOKIE or an SSL_* type.
	Type string `json:"type"`
	// CompareType is REGEX, STARTS_WITH, ENDS_WITH, CONTAINS or EQUAL_TO.
	CompareType string `json:"compare_type"`
	// Key names the header (case-insensitive) or cookie (case-sensitive) for HEADER and
	// COOKIE rules, the DN field for SSL_DN_FIELD; ignored by the other types.
	Key string `json:"key,omitempty"`
	// Value is compared against.
	Value string `json:"value"`
	// Invert negates the match.
	Invert bool `json:"invert,omitempty"`
}

// Pool is one Octavia pool: members and how to choose among them.
type Pool struct {
	// ID is the Octavia pool id; member stats and health are reported under it.
	ID string `json:"id"`
	// Protocol is the protocol spoken to members: TCP, HTTP, HTTPS, UDP, or PROXY /
	// PROXYV2 (the listener's protocol preceded by a PROXY protocol v1 / v2 header on each
	// member connection). SCTP is refused by Validate until the engine has it.
	// Must be compatible with each listener using the pool (Octavia's matrix).
	Protocol Protocol `json:"protocol"`
	// Algorithm is ROUND_ROBIN (smooth weighted), LEAST_CONNECTIONS (weighted), SOURCE_IP
	// or SOURCE_IP_PORT (consistent hash of the client address).
	Algorithm Algorithm `json:"lb_algorithm"`
	// SessionPersistence, when non-nil, keeps a client on the member it first reached.
	SessionPersistence *SessionPersistence `json:"session_persistence,omitempty"`
	// Members are the backends. May be empty (HTTP answers 503).
	Members []Member `json:"members"`
	// HealthMonitor, when non-nil and enabled, probes every member. Without one every
	// enabled member is considered healthy (status NO_CHECK).
	HealthMonitor *HealthMonitor `json:"healthmonitor,omitempty"`
	// TLS re-encrypts toward members. Not supported by the engine yet: Validate refuses it.
	TLS *PoolTLS `json:"tls,omitempty"`
	// H2C speaks cleartext HTTP/2 by prior knowledge to the members of a pool without TLS,
	// for the requests of HTTP/2 clients (docs/http2.md). The API sets it when a pool
	// without tls_enabled has alpn_protocols exactly ["h2"].
	H2C bool `json:"h2c,omitempty"`
}

// PoolTLS is backend re-encryption (contract only).
type PoolTLS struct {
	// ClientCertificate is presented to members.
	ClientCertificate *Certificate `json:"client_certificate,omitempty"`
	// CA is a PEM bundle to verify members with; empty means no verification.
	CA string `json:"ca,omitempty"`
	// CRL is a PEM revocation list for member certificates.
	CRL string `json:"crl,omitempty"`
	// Ciphers, Versions, ALPNProtocols as for listeners.
	Ciphers       string   `json:"ciphers,omitempty"`
	Versions      []string `json:"versions,omitempty"`
	ALPNProtocols []string `json:"alpn_protocols,omitempty"`
}

// SessionPersistence is Octavia's pool session_persistence.
type SessionPersistence struct {
	// Type is SOURCE_IP, HTTP_COOKIE or APP_COOKIE. HTTP_COOKIE and APP_COOKIE act only on
	// HTTP listeners.
	Type PersistenceType `json:"type"`
	// CookieName is the application's cookie for APP_COOKIE (required there, forbidden
	// otherwise).
	CookieName string `json:"cookie_name,omitempty"`
	// PersistenceTimeout is how long, in seconds, an idle persistence entry (SOURCE_IP,
	// APP_COOKIE) is kept. 0 means the engine default of 360 s.
	PersistenceTimeout int `json:"persistence_timeout,omitempty"`
	// PersistenceGranularity is an IPv4 netmask (e.g. 255.255.255.0) applied to client
	// addresses for SOURCE_IP. Empty means the whole address (IPv6 always uses the whole
	// address unless the mask is an IPv6 mask).
	PersistenceGranularity string `json:"persistence_granularity,omitempty"`
}

// Member is one backend server of a pool.
type Member struct {
	// ID is the Octavia member id.
	ID string `json:"id"`
	// Address is the member's IP address (IPv4 or IPv6 literal).
	Address string `json:"address"`
	// ProtocolPort is the member's port, 1–65535.
	ProtocolPort int `json:"protocol_port"`
	// Weight is 0–256, relative to the other members. 0 takes no new connections (existing
	// connections and persistent sessions continue: status DRAIN). Decode defaults an
	// absent weight to 1.
	Weight int `json:"weight"`
	// Backup members get traffic only when no primary member is healthy.
	Backup bool `json:"backup,omitempty"`
	// AdminStateUp false drains the member: no new connections, existing ones finish
	// (status MAINT). Decode defaults an absent value to true; the Go zero value is false.
	AdminStateUp bool `json:"admin_state_up"`
	// MonitorAddress is probed instead of Address when set.
	MonitorAddress string `json:"monitor_address,omitempty"`
	// MonitorPort is probed instead of ProtocolPort when non-zero.
	MonitorPort int `json:"monitor_port,omitempty"`
}

// HealthMonitor is Octavia's health monitor for one pool.
type HealthMonitor struct {
	// ID is the Octavia health monitor id.
	ID string `json:"id,omitempty"`
	// Type is HTTP, HTTPS, TCP, PING, TLS-HELLO or UDP-CONNECT (SCTP is refused for now).
	Type MonitorType `json:"type"`
	// Delay is the interval between probes of one member, in seconds. 0 is treated as 1.
	Delay int `json:"delay"`
	// Timeout bounds one probe, in seconds. 0 means Delay.
	Timeout int `json:"timeout"`
	// MaxRetries is the rise threshold: consecutive successes that bring a DOWN member UP
	// (1–10).
	MaxRetries int `json:"max_retries"`
	// MaxRetriesDown is the fall threshold: consecutive failures that take an UP member
	// DOWN (1–10). Decode defaults an absent value to 3.
	MaxRetriesDown int `json:"max_retries_down"`
	// HTTPMethod for HTTP/HTTPS probes; empty means GET.
	HTTPMethod string `json:"http_method,omitempty"`
	// URLPath for HTTP/HTTPS probes, starting with "/"; empty means "/".
	URLPath string `json:"url_path,omitempty"`
	// ExpectedCodes for HTTP/HTTPS probes: "200", "200-204" or "200,202"; empty means "200".
	ExpectedCodes string `json:"expected_codes,omitempty"`
	// HTTPVersion is "1.0" or "1.1"; empty means 1.0.
	HTTPVersion string `json:"http_version,omitempty"`
	// DomainName is sent as the Host header (requires HTTPVersion 1.1).
	DomainName string `json:"domain_name,omitempty"`
	// AdminStateUp false disables probing: members count as healthy (NO_CHECK). Decode
	// defaults an absent value to true.
	AdminStateUp bool `json:"admin_state_up"`
}

// Decode parses the JSON form of a Config strictly (unknown fields are errors) and applies
// Octavia's defaults to absent fields. It does not validate; call Validate.
func Decode(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decode data-plane config: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("decode data-plane config: trailing data after the object")
	}
	return &c, nil
}

// PoolIDs lists the pools the listener sends traffic to: its default pool, then the
// pools of its REDIRECT_TO_POOL policies (unique, in that order).
func (l *Listener) PoolIDs() []string {
	var out []string
	add := func(id string) {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	add(l.DefaultPoolID)
	for i := range l.L7Policies {
		add(l.L7Policies[i].RedirectPoolID)
	}
	return out
}

// UnmarshalJSON applies defaults to absent fields: connection_limit -1 and Octavia's
// timeouts.
func (l *Listener) UnmarshalJSON(b []byte) error {
	type plain Listener
	p := plain{
		ConnectionLimit:      -1,
		TimeoutClientData:    DefaultTimeoutClientData,
		TimeoutMemberConnect: DefaultTimeoutMemberConnect,
		TimeoutMemberData:    DefaultTimeoutMemberData,
		TimeoutTCPInspect:    DefaultTimeoutTCPInspect,
	}
	if err := strictUnmarshal(b, &p); err != nil {
		return err
	}
	*l = Listener(p)
	return nil
}

// UnmarshalJSON applies defaults to absent fields: weight 1, admin_state_up true.
func (m *Member) UnmarshalJSON(b []byte) error {
	type plain Member
	p := plain{Weight: 1, AdminStateUp: true}
	if err := strictUnmarshal(b, &p); err != nil {
		return err
	}
	*m = Member(p)
	return nil
}

// UnmarshalJSON applies defaults to absent fields: max_retries_down 3, admin_state_up true.
func (h *HealthMonitor) UnmarshalJSON(b []byte) error {
	type plain HealthMonitor
	p := plain{MaxRetriesDown: 3, AdminStateUp: true}
	if err := strictUnmarshal(b, &p); err != nil {
		return err
	}
	*h = HealthMonitor(p)
	return nil
}

// strictUnmarshal keeps DisallowUnknownFields in force inside custom unmarshalers.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("dataplane: marshal config: %v", err)) // only plain data: cannot fail
	}
	var out Config
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("dataplane: unmarshal config: %v", err))
	}
	return &out
}

// Pool returns the pool with the given id, or nil.
func (c *Config) Pool(id string) *Pool {
	for i := range c.Pools {
		if c.Pools[i].ID == id {
			return &c.Pools[i]
		}
	}
	return nil
}

// Transport is the transport a protocol listens on: "tcp" or "udp" ("sctp" later).
func (p Protocol) Transport() string {
	switch p {
	case ProtocolUDP:
		return "udp"
	case ProtocolSCTP:
		return "sctp"
	default:
		return "tcp"
	}
}
