package apiserver_test

import (
	"strings"
	"testing"
)

// fixture is a load balancer (VIP 192.0.2.100) with an HTTP listener on 80
// whose default pool is an HTTP pool, a UDP listener on 53 with a UDP pool, a
// TERMINATED_HTTPS listener on 443 and a PROMETHEUS listener on 9100.
type fixture struct {
	lb, http, udp, https, prom, pool, udpPool, freePool string
}

func newFixture(h *harness) fixture {
	h.t.Helper()
	var f fixture
	f.lb = h.must(201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "fixture", "vip_subnet_id": uuidA, "vip_address": "192.0.2.100"}}).obj("loadbalancer")["id"].(string)
	listener := func(proto string, port int, extra map[string]any) string {
		body := map[string]any{"loadbalancer_id": f.lb, "protocol": proto, "protocol_port": port}
		for k, v := range extra {
			body[k] = v
		}
		return h.must(201, "POST", "/v2/lbaas/listeners", map[string]any{"listener": body}).obj("listener")["id"].(string)
	}
	f.http = listener("HTTP", 80, nil)
	f.udp = listener("UDP", 53, nil)
	f.https = listener("TERMINATED_HTTPS", 443, map[string]any{"default_tls_container_ref": "https://barbican/v1/containers/c1"})
	f.prom = listener("PROMETHEUS", 9100, nil)
	pool := func(body map[string]any) string {
		return h.must(201, "POST", "/v2/lbaas/pools", map[string]any{"pool": body}).obj("pool")["id"].(string)
	}
	f.pool = pool(map[string]any{"listener_id": f.http, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"})
	f.udpPool = pool(map[string]any{"listener_id": f.udp, "protocol": "UDP", "lb_algorithm": "SOURCE_IP"})
	f.freePool = pool(map[string]any{"loadbalancer_id": f.lb, "protocol": "TCP", "lb_algorithm": "LEAST_CONNECTIONS"})
	return f
}

func (f fixture) expand(s string) string {
	return strings.NewReplacer("{lb}", f.lb, "{http}", f.http, "{udp}", f.udp, "{https}", f.https,
		"{prom}", f.prom, "{pool}", f.pool, "{udppool}", f.udpPool, "{freepool}", f.freePool).Replace(s)
}

const (
	uuidA = "6a0a707c-45ef-4758-b533-e55adddba8ce"
	uuidB = "0b8e5b0f-6c1a-4a63-9f5e-6d2f8e2b1a11"
)

// TestValidationFaults runs Octavia's semantic rules of the five resources
// through the whole stack and compares status and faultstring exactly.
func TestValidationFaults(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	f := newFixture(h)
	tests := []struct {
		name    string
		method  string
		path    string
		body    string
		headers []string
		status  int
		fault   string
	}{
		// load balancers
		{"lb needs a VIP", "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"name": "x"}}`, nil, 400,
			"Validation failure: VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id."},
		{"lb needs a project", "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + uuidA + `"}}`, []string{"X-Project-Id", ""}, 400,
			"Validation failure: Missing project ID in request where one is required. An administrator should check the keystone settings in the Octavia configuration."},
		{"lb provider must be enabled", "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + uuidA + `", "provider": "amphora"}}`, nil, 400,
			"Provider 'amphora' is not enabled."},
		{"lb flavor_id unknown", "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + uuidA + `", "flavor_id": "` + uuidB + `"}}`, nil, 400,
			"Validation failure: Invalid flavor_id."},
		{"lb availability_zone unknown", "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + uuidA + `", "availability_zone": "az1"}}`, nil, 400,
			"Validation failure: Invalid availability zone."},
		{"lb duplicate VIP subnet", "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + uuidA + `", "additional_vips": [{"subnet_id": "` + uuidA + `"}]}}`, nil, 400,
			"Validation failure: Duplicate VIP subnet(s) specified. Only one IP can be bound per subnet."},
		{"lb vip_address not an IP", "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + uuidA + `", "vip_address": "x"}}`, nil, 400,
			"Invalid input for field/attribute vip_address. Value: 'x'. Value should be IPv4 or IPv6 format"},
		{"graph pools must be named", "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + uuidA + `", "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}]}}`, nil, 400,
			"Validation failure: Pools must be named when creating a fully populated loadbalancer."},
		{"graph pool names unique", "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + uuidA + `", "pools": [{"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}, {"name": "p", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}]}}`, nil, 400,
			"Validation failure: Pool names must be unique when creating a fully populated loadbalancer."},
		{"graph pool reference unresolved", "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + uuidA + `", "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "nope"}}]}}`, nil, 400,
			"Validation failure: Pool 'nope' was referenced but no full definition was found."},
		{"graph pool missing algorithm", "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + uuidA + `", "pools": [{"name": "p", "protocol": "HTTP"}]}}`, nil, 400,
			"Validation failure: Pool definition for 'p' missing required attribute: lb_algorithm"},
		{"graph listener pool protocol", "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + uuidA + `", "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p", "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN"}}]}}`, nil, 400,
			"Validation failure: The pool protocol 'UDP' is invalid while the listener protocol is 'HTTP'."},
		{"graph duplicate listener port", "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + uuidA + `", "listeners": [{"protocol": "HTTP", "protocol_port": 80}, {"protocol": "TCP", "protocol_port": 80}]}}`, nil, 409,
			"Another Listener on this Load Balancer is already using protocol HTTP and protocol_port 80"},
		{"graph duplicate member", "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + uuidA + `", "pools": [{"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [{"address": "192.0.2.1", "protocol_port": 80}, {"address": "192.0.2.1", "protocol_port": "80"}]}]}}`, nil, 409,
			"Another member on this pool is already using ip 192.0.2.1 on protocol_port 80"},
		{"graph L7 rule invalid", "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + uuidA + `", "listeners": [{"protocol": "HTTP", "protocol_port": 80, "l7policies": [{"action": "REJECT", "rules": [{"type": "SSL_CONN_HAS_CERT", "compare_type": "STARTS_WITH", "value": "true"}]}]}]}}`, nil, 400,
			"Error parsing L7Rule: Invalid L7 Rule: L7rule type SSL_CONN_HAS_CERT only supports the EQUAL_TO compare type."},
		{"graph L7 policy on PROMETHEUS", "POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + uuidA + `", "listeners": [{"protocol": "PROMETHEUS", "protocol_port": 9100, "l7policies": [{"action": "REJECT"}]}]}}`, nil, 400,
			"Protocol PROMETHEUS listeners cannot have child objects."},
		{"lb unknown id", "GET", "/v2/lbaas/loadbalancers/" + uuidB, ``, nil, 404, "Load Balancer " + uuidB + " not found."},
		{"lb update read-only vip", "PUT", "/v2/lbaas/loadbalancers/{lb}", `{"loadbalancer": {"vip_address": "192.0.2.1"}}`, nil, 400,
			"Unknown attribute for argument load_balancer.loadbalancer: vip_address"},
		{"lb delete with children", "DELETE", "/v2/lbaas/loadbalancers/{lb}", ``, nil, 400,
			"Validation failure: Cannot delete Load Balancer {lb} - it has children"},

		// listeners
		{"listener on unknown lb", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "` + uuidB + `", "protocol": "HTTP", "protocol_port": 81}}`, nil, 404,
			"Load Balancer " + uuidB + " not found."},
		{"listener port taken", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "TCP", "protocol_port": 80}}`, nil, 409,
			"Another Listener on this Load Balancer is already using protocol HTTP and protocol_port 80"},
		{"listener port taken by PROMETHEUS", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "HTTPS", "protocol_port": 9100}}`, nil, 409,
			"Another Listener on this Load Balancer is already using protocol PROMETHEUS and protocol_port 9100"},
		{"listener insert_headers on TCP", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "TCP", "protocol_port": 81, "insert_headers": {"X-Forwarded-For": "true"}}}`, nil, 400,
			"insert-headers is not a valid option for a TCP protocol listener."},
		{"listener unknown header", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "HTTP", "protocol_port": 81, "insert_headers": {"X-Foo": "true"}}}`, nil, 400,
			"['X-Foo'] is not a valid option for insert_headers"},
		{"listener SSL header on HTTP", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "HTTP", "protocol_port": 81, "insert_headers": {"X-SSL-Client-DN": "true"}}}`, nil, 400,
			"['X-SSL-Client-DN'] is not a valid option for HTTP protocol listener."},
		{"listener UDP with headers", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "UDP", "protocol_port": 81, "insert_headers": {"X-Forwarded-For": "true"}}}`, nil, 400,
			"Validation failure: UDP protocol listener does not support TLS."},
		{"listener cert on HTTP", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "HTTP", "protocol_port": 81, "default_tls_container_ref": "c"}}`, nil, 400,
			"Validation failure: Certificate container references are not allowed on HTTP protocol listeners."},
		{"listener TERMINATED_HTTPS without cert", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "TERMINATED_HTTPS", "protocol_port": 8443}}`, nil, 400,
			"Validation failure: An SNI or default certificate container reference must be provided for TERMINATED_HTTPS protocol listeners."},
		{"listener client CA without cert", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "TERMINATED_HTTPS", "protocol_port": 8443, "client_ca_tls_container_ref": "ca"}}`, nil, 400,
			"Validation failure: An SNI or default certificate container reference must be provided with a client CA container reference."},
		{"listener client auth without CA", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "TERMINATED_HTTPS", "protocol_port": 8443, "default_tls_container_ref": "c", "client_authentication": "MANDATORY"}}`, nil, 400,
			"Validation failure: Client authentication setting MANDATORY requires a client CA container reference."},
		{"listener CRL without CA", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "TERMINATED_HTTPS", "protocol_port": 8443, "default_tls_container_ref": "c", "client_crl_container_ref": "crl"}}`, nil, 400,
			"Validation failure: A client authentication CA reference is required to specify a client authentication revocation list."},
		{"listener HSTS on HTTP", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "HTTP", "protocol_port": 81, "hsts_max_age": 10}}`, nil, 400,
			"Validation failure: The HSTS feature can only be used for listeners using the TERMINATED_HTTPS protocol."},
		{"listener HSTS flags without max age", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "TERMINATED_HTTPS", "protocol_port": 8443, "default_tls_container_ref": "c", "hsts_preload": true}}`, nil, 400,
			"Validation failure: hsts_include_subdomains and hsts_preload only make sense if hsts_max_age is set as well."},
		{"listener empty TLS versions", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "TERMINATED_HTTPS", "protocol_port": 8443, "default_tls_container_ref": "c", "tls_versions": []}}`, nil, 400,
			"Validation failure: Empty TLS version list. Either specify at least one TLS version or remove this parameter to use the default."},
		{"listener bad TLS version", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "TERMINATED_HTTPS", "protocol_port": 8443, "default_tls_container_ref": "c", "tls_versions": ["TLSv9"]}}`, nil, 400,
			"Validation failure: Invalid TLS versions: TLSv9"},
		{"listener bad cipher characters", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "TERMINATED_HTTPS", "protocol_port": 8443, "default_tls_container_ref": "c", "tls_ciphers": "A B"}}`, nil, 400,
			"Validation failure: Invalid characters in cipher string. Only alphanumeric, -, +, !, :, @, =, _, and . are allowed."},
		{"listener empty ALPN", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "TERMINATED_HTTPS", "protocol_port": 8443, "default_tls_container_ref": "c", "alpn_protocols": []}}`, nil, 400,
			"Validation failure: Empty ALPN protocol list. Either specify at least one ALPN protocol or remove this parameter to use the default."},
		{"listener CIDR family", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "HTTP", "protocol_port": 81, "allowed_cidrs": ["2001:db8::/32"]}}`, nil, 400,
			"Validation failure: CIDR 2001:db8::/32 IP version incompatible with all VIPs ['192.0.2.100'] IP version."},
		{"listener PROMETHEUS default pool", "PUT", "/v2/lbaas/listeners/{prom}", `{"listener": {"default_pool_id": "{freepool}"}}`, nil, 400,
			"Protocol PROMETHEUS listeners cannot have child objects."},
		{"listener default pool protocol", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "HTTP", "protocol_port": 81, "default_pool_id": "{udppool}"}}`, nil, 400,
			"Validation failure: The pool protocol 'UDP' is invalid while the listener protocol is 'HTTP'."},
		{"listener default pool unknown", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "HTTP", "protocol_port": 81, "default_pool_id": "` + uuidB + `"}}`, nil, 404,
			"Pool " + uuidB + " not found."},
		{"listener graph-only default_pool", "POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lb}", "protocol": "HTTP", "protocol_port": 81, "default_pool": {"name": "x"}}}`, nil, 400,
			"Validation failure: default_pool can only be specified when creating a fully populated load balancer."},
		{"listener update UDP with headers", "PUT", "/v2/lbaas/listeners/{udp}", `{"listener": {"insert_headers": {"X-Forwarded-For": "true"}}}`, nil, 400,
			"Validation failure: UDP protocol listener does not support TLS or header insertion."},
		{"listener update HSTS flags", "PUT", "/v2/lbaas/listeners/{https}", `{"listener": {"hsts_include_subdomains": true}}`, nil, 400,
			"Validation failure: Cannot enable hsts_include_subdomains or hsts_preload if hsts_max_age was not set as well."},
		{"listener unknown id", "PUT", "/v2/lbaas/listeners/" + uuidB, `{"listener": {}}`, nil, 404, "Listener " + uuidB + " not found."},

		// pools
		{"pool needs a parent", "POST", "/v2/lbaas/pools", `{"pool": {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}`, nil, 400,
			"Validation failure: Must provide at least one of: loadbalancer_id, listener_id"},
		{"pool listener has a default pool", "POST", "/v2/lbaas/pools", `{"pool": {"listener_id": "{http}", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}`, nil, 409,
			"This listener already has a default pool"},
		{"pool protocol vs listener", "POST", "/v2/lbaas/pools", `{"pool": {"listener_id": "{https}", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}`, nil, 400,
			"Validation failure: The pool protocol 'TCP' is invalid while the listener protocol is 'TERMINATED_HTTPS'."},
		{"pool on PROMETHEUS listener", "POST", "/v2/lbaas/pools", `{"pool": {"listener_id": "{prom}", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}`, nil, 400,
			"Protocol PROMETHEUS listeners cannot have child objects."},
		{"pool listener on another lb", "POST", "/v2/lbaas/pools", `{"pool": {"loadbalancer_id": "` + uuidB + `", "listener_id": "{https}", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}`, nil, 404,
			"Listener {https} not found."},
		{"pool APP_COOKIE needs cookie", "POST", "/v2/lbaas/pools", `{"pool": {"loadbalancer_id": "{lb}", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "session_persistence": {"type": "APP_COOKIE"}}}`, nil, 400,
			`Validation failure: Field "cookie_name" must be specified when using the "APP_COOKIE" session persistence type.`},
		{"pool cookie only for APP_COOKIE", "POST", "/v2/lbaas/pools", `{"pool": {"loadbalancer_id": "{lb}", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "session_persistence": {"type": "HTTP_COOKIE", "cookie_name": "c"}}}`, nil, 400,
			`Validation failure: Field "cookie_name" can only be specified with session persistence of type "APP_COOKIE".`},
		{"pool bad cookie name", "POST", "/v2/lbaas/pools", `{"pool": {"loadbalancer_id": "{lb}", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "session_persistence": {"type": "APP_COOKIE", "cookie_name": "a=b"}}}`, nil, 400,
			`Validation failure: Supplied "cookie_name" is invalid.`},
		{"pool persistence timeout on TCP", "POST", "/v2/lbaas/pools", `{"pool": {"loadbalancer_id": "{lb}", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN", "session_persistence": {"type": "SOURCE_IP", "persistence_timeout": 30}}}`, nil, 400,
			"Validation failure: persistence_timeout and persistence_granularity is only for UDP and SCTP protocol pools."},
		{"pool HTTP_COOKIE on UDP", "POST", "/v2/lbaas/pools", `{"pool": {"loadbalancer_id": "{lb}", "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN", "session_persistence": {"type": "HTTP_COOKIE"}}}`, nil, 400,
			"Validation failure: Session persistence of type HTTP_COOKIE is not supported for UDP/SCTP protocol pools."},
		{"pool CRL without CA", "POST", "/v2/lbaas/pools", `{"pool": {"loadbalancer_id": "{lb}", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "crl_container_ref": "crl"}}`, nil, 400,
			"Validation failure: A CA certificate reference is required to specify a revocation list."},
		{"pool graph-only members", "POST", "/v2/lbaas/pools", `{"pool": {"loadbalancer_id": "{lb}", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [{"address": "192.0.2.1", "protocol_port": 80}]}}`, nil, 400,
			"Validation failure: members can only be specified when creating a fully populated load balancer."},
		{"pool update algorithm null", "PUT", "/v2/lbaas/pools/{pool}", `{"pool": {"lb_algorithm": null}}`, nil, 400,
			"None is not a valid option for lb_algorithm"},
		{"pool update persistence timeout on HTTP", "PUT", "/v2/lbaas/pools/{pool}", `{"pool": {"session_persistence": {"type": "SOURCE_IP", "persistence_granularity": "255.255.255.0"}}}`, nil, 400,
			"Validation failure: persistence_timeout and persistence_granularity is only for UDP protocol pools."},
		{"pool update persistence without type", "PUT", "/v2/lbaas/pools/{pool}", `{"pool": {"session_persistence": {"cookie_name": "x"}}}`, nil, 400,
			"Invalid input for field/attribute type. Value: 'None'. Mandatory field missing."},
		{"pool unknown id", "DELETE", "/v2/lbaas/pools/" + uuidB, ``, nil, 404, "Pool " + uuidB + " not found."},

		// members
		{"member reserved address", "POST", "/v2/lbaas/pools/{pool}/members", `{"member": {"address": "169.254.169.254", "protocol_port": 80}}`, nil, 400,
			"169.254.169.254 is not a valid option for member address"},
		{"member SR-IOV", "POST", "/v2/lbaas/pools/{pool}/members", `{"member": {"address": "192.0.2.9", "protocol_port": 80, "request_sriov": true}}`, nil, 400,
			"The load balancer flavor does not allow SR-IOV member ports."},
		{"member weight range", "POST", "/v2/lbaas/pools/{pool}/members", `{"member": {"address": "192.0.2.9", "protocol_port": 80, "weight": 257}}`, nil, 400,
			"Invalid input for field/attribute weight. Value: '257'. Value should be lower or equal to 256"},
		{"member unknown pool", "POST", "/v2/lbaas/pools/" + uuidB + "/members", `{"member": {"address": "192.0.2.9", "protocol_port": 80}}`, nil, 404,
			"Pool " + uuidB + " not found."},
		{"member unknown id", "GET", "/v2/lbaas/pools/{pool}/members/" + uuidB, ``, nil, 404, "Member " + uuidB + " not found."},

		// health monitors
		{"hm unknown pool", "POST", "/v2/lbaas/healthmonitors", `{"healthmonitor": {"pool_id": "` + uuidB + `", "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}}`, nil, 404,
			"Pool " + uuidB + " not found."},
		{"hm UDP-CONNECT on HTTP pool", "POST", "/v2/lbaas/healthmonitors", `{"healthmonitor": {"pool_id": "{pool}", "type": "UDP-CONNECT", "delay": 5, "timeout": 3, "max_retries": 3}}`, nil, 400,
			"Validation failure: The UDP-CONNECT type is only supported for pools of type UDP/SCTP."},
		{"hm HTTPS on UDP pool", "POST", "/v2/lbaas/healthmonitors", `{"healthmonitor": {"pool_id": "{udppool}", "type": "HTTPS", "delay": 5, "timeout": 3, "max_retries": 3}}`, nil, 400,
			"Validation failure: The associated pool protocol is UDP, so only a UDP-CONNECT/SCTP/TCP/HTTP health monitor is supported."},
		{"hm UDP-CONNECT delay", "POST", "/v2/lbaas/healthmonitors", `{"healthmonitor": {"pool_id": "{udppool}", "type": "UDP-CONNECT", "delay": 2, "timeout": 1, "max_retries": 3}}`, nil, 400,
			"Validation failure: The request delay value 2 should be larger than 3 for UDP-CONNECT health monitor type."},
		{"hm url_path on TCP", "POST", "/v2/lbaas/healthmonitors", `{"healthmonitor": {"pool_id": "{pool}", "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3, "url_path": "/x"}}`, nil, 400,
			"url_path is not a valid option for health monitors of type TCP"},
		{"hm domain without version", "POST", "/v2/lbaas/healthmonitors", `{"healthmonitor": {"pool_id": "{pool}", "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3, "domain_name": "example.com"}}`, nil, 400,
			"Validation failure: 'http_version' must be specified when 'domain_name' is provided."},
		{"hm domain with HTTP/1.0", "POST", "/v2/lbaas/healthmonitors", `{"healthmonitor": {"pool_id": "{pool}", "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3, "domain_name": "example.com", "http_version": 1.0}}`, nil, 400,
			"http_version 1.0 is not a valid option for health monitors HTTP 1.1 domain name health check"},
		{"hm max_retries range", "POST", "/v2/lbaas/healthmonitors", `{"healthmonitor": {"pool_id": "{pool}", "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 11}}`, nil, 400,
			"Invalid input for field/attribute max_retries. Value: '11'. Value should be lower or equal to 10"},
		{"hm unknown id", "GET", "/v2/lbaas/healthmonitors/" + uuidB, ``, nil, 404, "Health Monitor " + uuidB + " not found."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.body != "" {
				body = f.expand(tt.body)
			}
			r := h.do(tt.method, f.expand(tt.path), body, tt.headers...)
			want := f.expand(tt.fault)
			if r.status != tt.status || r.fault() != want {
				t.Errorf("%s %s %s\n got: %d %s\nwant: %d %s", tt.method, tt.path, tt.body, r.status, r.fault(), tt.status, want)
			}
		})
	}
}
