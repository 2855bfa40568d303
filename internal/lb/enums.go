package lb

// Listener protocols.
const (
	ProtocolTCP             = "TCP"
	ProtocolHTTP            = "HTTP"
	ProtocolHTTPS           = "HTTPS"
	ProtocolTerminatedHTTPS = "TERMINATED_HTTPS"
	ProtocolUDP             = "UDP"
	ProtocolSCTP            = "SCTP"
	ProtocolPrometheus      = "PROMETHEUS"
	ProtocolProxy           = "PROXY"
	ProtocolProxyV2         = "PROXYV2"
)

// ListenerProtocols lists the listener protocols in Octavia's order.
var ListenerProtocols = []string{ProtocolTCP, ProtocolHTTP, ProtocolHTTPS, ProtocolTerminatedHTTPS, ProtocolUDP, ProtocolSCTP, ProtocolPrometheus}

// PoolProtocols lists the pool protocols in Octavia's order.
var PoolProtocols = []string{ProtocolTCP, ProtocolHTTP, ProtocolHTTPS, ProtocolProxy, ProtocolProxyV2, ProtocolUDP, ProtocolSCTP}

// Load-balancing algorithms.
const (
	RoundRobin       = "ROUND_ROBIN"
	LeastConnections = "LEAST_CONNECTIONS"
	SourceIP         = "SOURCE_IP"
	SourceIPPort     = "SOURCE_IP_PORT"
)

// Algorithms lists the pool lb_algorithm values.
var Algorithms = []string{RoundRobin, LeastConnections, SourceIP, SourceIPPort}

// Session persistence types.
const (
	PersistSourceIP   = "SOURCE_IP"
	PersistHTTPCookie = "HTTP_COOKIE"
	PersistAppCookie  = "APP_COOKIE"
)

// PersistenceTypes lists the session_persistence types.
var PersistenceTypes = []string{PersistSourceIP, PersistHTTPCookie, PersistAppCookie}

// Health monitor types.
const (
	MonitorHTTP       = "HTTP"
	MonitorHTTPS      = "HTTPS"
	MonitorPing       = "PING"
	MonitorTCP        = "TCP"
	MonitorTLSHello   = "TLS-HELLO"
	MonitorUDPConnect = "UDP-CONNECT"
	MonitorSCTP       = "SCTP"
)

// MonitorTypes lists the health monitor types in Octavia's order.
var MonitorTypes = []string{MonitorHTTP, MonitorHTTPS, MonitorPing, MonitorTCP, MonitorTLSHello, MonitorUDPConnect, MonitorSCTP}

// HTTPMethods lists the health monitor http_method values.
var HTTPMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"}

// L7 policy actions.
const (
	ActionRedirectToPool = "REDIRECT_TO_POOL"
	ActionRedirectToURL  = "REDIRECT_TO_URL"
	ActionRedirectPrefix = "REDIRECT_PREFIX"
	ActionReject         = "REJECT"
)

// L7Actions lists the L7 policy actions.
var L7Actions = []string{ActionRedirectToPool, ActionRedirectToURL, ActionRedirectPrefix, ActionReject}

// RedirectHTTPCodes lists the allowed redirect_http_code values.
var RedirectHTTPCodes = []int{301, 302, 303, 307, 308}

// L7 rule types.
const (
	RuleHostName        = "HOST_NAME"
	RulePath            = "PATH"
	RuleFileType        = "FILE_TYPE"
	RuleHeader          = "HEADER"
	RuleCookie          = "COOKIE"
	RuleSSLConnHasCert  = "SSL_CONN_HAS_CERT"
	RuleSSLVerifyResult = "SSL_VERIFY_RESULT"
	RuleSSLDNField      = "SSL_DN_FIELD"
)

// L7RuleTypes lists the L7 rule types.
var L7RuleTypes = []string{RuleHostName, RulePath, RuleFileType, RuleHeader, RuleCookie, RuleSSLConnHasCert, RuleSSLVerifyResult, RuleSSLDNField}

// L7 rule compare types.
const (
	CompareRegex      = "REGEX"
	CompareStartsWith = "STARTS_WITH"
	CompareEndsWith   = "ENDS_WITH"
	CompareContains   = "CONTAINS"
	CompareEqualTo    = "EQUAL_TO"
)

// CompareTypes lists the L7 rule compare types.
var CompareTypes = []string{CompareRegex, CompareStartsWith, CompareEndsWith, CompareContains, CompareEqualTo}

// Client authentication modes of TERMINATED_HTTPS listeners.
const (
	ClientAuthNone      = "NONE"
	ClientAuthOptional  = "OPTIONAL"
	ClientAuthMandatory = "MANDATORY"
)

// ClientAuthModes lists the listener client_authentication values.
var ClientAuthModes = []string{ClientAuthNone, ClientAuthOptional, ClientAuthMandatory}

// TLSVersions lists the TLS protocol versions, oldest first.
var TLSVersions = []string{"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}

// ALPNProtocols lists the accepted ALPN protocol ids.
var ALPNProtocols = []string{"h2", "http/1.1", "http/1.0"}

// Providers fulcrum knows (a load balancer's provider, Octavia's provider
// driver): fulcrum runs load balancers on its data-plane agents with the
// native engine, haproxy is announced and not runnable yet, noop runs
// nothing.
const (
	ProviderFulcrum = "fulcrum"
	ProviderHAProxy = "haproxy"
	ProviderNoop    = "noop"
)

// VNIC types.
const (
	VNICNormal = "normal"
	VNICDirect = "direct"
)

// Insert-header keys accepted on HTTP and TERMINATED_HTTPS listeners.
var InsertHeadersHTTP = []string{"X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Forwarded-IP", "X-Client-IP", "X-Real-IP"}

// InsertHeadersTLS lists the insert-header keys accepted only on TERMINATED_HTTPS listeners.
var InsertHeadersTLS = []string{"X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-DN", "X-SSL-Client-CN", "X-SSL-Issuer", "X-SSL-Client-SHA1", "X-SSL-Client-Not-Before", "X-SSL-Client-Not-After"}

// Numeric limits and defaults (Octavia 2.30).
const (
	MaxTimeout             = 2073600000 // ms, 24×24 h
	DefaultTimeoutClient   = 50000
	DefaultTimeoutConnect  = 5000
	DefaultTimeoutMember   = 50000
	DefaultTimeoutInspect  = 0
	DefaultConnectionLimit = -1
	MaxWeight              = 256
	DefaultWeight          = 1
	MinRetries             = 1
	MaxRetries             = 10
	DefaultRetriesDown     = 3
	MaxPosition            = 2147483647
	MaxRulesPerPolicy      = 50
	MaxNameLen             = 255
	DefaultHTTPMethod      = "GET"
	DefaultURLPath         = "/"
	DefaultExpectedCodes   = "200"
	MinUDPConnectDelay     = 3
)

// DefaultTLSCiphers is the OWASP suite-B cipher string Octavia uses as the
// default for listeners and pools.
const DefaultTLSCiphers = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"

// DefaultTLSVersions and DefaultALPNProtocols are the TLS defaults filled in
// for TERMINATED_HTTPS listeners and TLS-enabled pools.
var (
	DefaultTLSVersions   = []string{"TLSv1.2", "TLSv1.3"}
	DefaultALPNProtocols = []string{"h2", "http/1.1", "http/1.0"}
)

// Contains reports whether list holds v.
func Contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
