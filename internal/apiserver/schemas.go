package apiserver

import (
	"math"
	"regexp"

	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// Upstream spellings of the patterns that appear in messages.
const (
	expectedCodesPattern = `^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$`
	cookieNamePattern    = `^[^\s,;\\]+$`
	domainNamePattern    = `^(?=.{1,253}\.?$)(?:(?!-|[^.]+_)[A-Za-z0-9-_]{1,63}(?<!-)(?:\.|$))+$`
)

func aStr(name string, max int) attr { return attr{name: name, kind: kString, maxLen: max} }
func aUUID(name string) attr         { return attr{name: name, kind: kUUID} }
func aIP(name string) attr           { return attr{name: name, kind: kIP} }
func aBool(name string) attr         { return attr{name: name, kind: kBool} }
func aURLPath(name string) attr      { return attr{name: name, kind: kURLPath} }
func aURL(name string) attr          { return attr{name: name, kind: kURL} }

func aEnum(name string, values ...string) attr { return attr{name: name, kind: kEnum, enum: values} }

// aInt is an integer attribute; math.MinInt64 / math.MaxInt64 mean "no
// bound".
func aInt(name string, min, max int64) attr {
	return attr{name: name, kind: kInt, min: min, max: max, hasMin: min != math.MinInt64, hasMax: max != math.MaxInt64}
}

func aList(name string, item attr) attr { return attr{name: name, kind: kList, item: &item} }
func aStrList(name string, max int) attr {
	return aList(name, attr{kind: kString, maxLen: max})
}
func aObj(name string, s *schema) attr { return attr{name: name, kind: kObject, sub: s} }
func aObjList(name string, s *schema) attr {
	return aList(name, attr{kind: kObject, sub: s})
}

func must(a attr) attr { a.mandatory = true; return a }

// mustNotNull marks a mandatory attribute whose explicit null is refused
// with "None is not a valid option for <name>" (Octavia's health monitor
// checks).
func mustNotNull(a attr) attr {
	a.nullMsg = "None is not a valid option for " + a.name
	return a
}

const (
	noMin = math.MinInt64
	noMax = math.MaxInt64
)

// schemas holds the request types of the API (Octavia's
// octavia/api/v2/types, 2.30) and the filterable and sortable attribute
// names of each collection, built once per Server and never modified.
type schemas struct {
	// The load balancer and its children (this file).
	lbPost, lbPut             body
	listenerPost, listenerPut body
	poolPost, poolPut         body
	memberPost, memberPut     body
	membersPut                body
	hmPost, hmPut             body

	lbColumns, listenerColumns, poolColumns, memberColumns, healthMonitorColumns map[string]bool

	// L7 policies and rules (schemas_l7.go).
	l7policyPost, l7policyPut body
	rulePost, rulePut         body

	l7policyColumns, ruleColumns map[string]bool

	// Flavors, availability zones, their profiles and amphorae
	// (schemas_catalog.go).
	flavorPost, flavorPut               body
	flavorProfilePost, flavorProfilePut body
	azPost, azPut                       body
	azProfilePost, azProfilePut         body

	flavorColumns, flavorProfileColumns, azColumns, azProfileColumns, amphoraColumns map[string]bool
}

func newSchemas() *schemas {
	s := loadBalancerSchemas()
	s.addL7()
	s.addCatalog()
	return s
}

// loadBalancerSchemas returns the types of load balancers and their
// children (the single-create forms included).
func loadBalancerSchemas() *schemas {
	name := aStr("name", lb.MaxNameLen)
	desc := aStr("description", lb.MaxNameLen)
	tags := aStrList("tags", lb.MaxNameLen)
	project := aStr("project_id", 36)
	port := aInt("protocol_port", 1, 65535)
	monitorPort := aInt("monitor_port", 1, 65535)
	ref := func(n string) attr { return aStr(n, 255) }
	ciphers := aStr("tls_ciphers", 2048)
	tlsVersions := aStrList("tls_versions", 32)
	alpn := aList("alpn_protocols", attr{kind: kALPN})
	timeout := func(n string) attr { return aInt(n, 0, lb.MaxTimeout) }
	retries := func(n string) attr { return aInt(n, lb.MinRetries, lb.MaxRetries) }
	expectedCodes := attr{name: "expected_codes", kind: kString, pattern: regexp.MustCompile(expectedCodesPattern), patternText: expectedCodesPattern}
	domainName := attr{name: "domain_name", kind: kString, minLen: 1, maxLen: 255, check: lb.ValidDomainName, patternText: domainNamePattern}
	httpVersion := attr{name: "http_version", kind: kFloatEnum, floats: []float64{1.0, 1.1}}
	cookieName := attr{name: "cookie_name", kind: kString, maxLen: 255, pattern: regexp.MustCompile(cookieNamePattern), patternText: cookieNamePattern}
	spType := aEnum("type", lb.PersistenceTypes...)

	spPost := newSchema(must(spType), cookieName, aInt("persistence_timeout", noMin, noMax), aIP("persistence_granularity"))
	spPut := newSchema(spType, cookieName, aInt("persistence_timeout", noMin, noMax), aIP("persistence_granularity"))

	memberFields := func(withProject, withSRIOV bool) *schema {
		attrs := []attr{name, aBool("admin_state_up"), must(aIP("address")), must(port),
			aInt("weight", 0, lb.MaxWeight), aBool("backup"), aUUID("subnet_id")}
		if withProject {
			attrs = append(attrs, project)
		}
		attrs = append(attrs, monitorPort, aIP("monitor_address"), tags)
		if withSRIOV {
			attrs = append(attrs, aBool("request_sriov"))
		}
		return newSchema(attrs...)
	}
	memberPost := memberFields(true, true)
	memberSingle := memberFields(false, true)
	memberPut := newSchema(name, aBool("admin_state_up"), aInt("weight", 0, lb.MaxWeight), aBool("backup"),
		monitorPort, aIP("monitor_address"), tags)

	hmFields := func(post, withPool bool) *schema {
		typ := aEnum("type", lb.MonitorTypes...)
		delay, to, mr := aInt("delay", 0, noMax), aInt("timeout", 0, noMax), retries("max_retries")
		if post {
			typ, delay, to, mr = mustNotNull(must(typ)), mustNotNull(must(delay)), mustNotNull(must(to)), mustNotNull(must(mr))
		} else {
			delay, to, mr = mustNotNull(delay), mustNotNull(to), mustNotNull(mr)
		}
		attrs := []attr{name}
		if post {
			attrs = append(attrs, typ)
		}
		attrs = append(attrs, delay, to, retries("max_retries_down"), mr,
			aEnum("http_method", lb.HTTPMethods...), aURLPath("url_path"), expectedCodes, aBool("admin_state_up"))
		if withPool {
			attrs = append(attrs, project, must(aUUID("pool_id")))
		}
		attrs = append(attrs, tags, httpVersion, domainName)
		return newSchema(attrs...)
	}
	hmPost := hmFields(true, true)
	hmSingle := hmFields(true, false)
	hmPut := hmFields(false, false)

	poolTLS := []attr{tags, ref("tls_container_ref"), ref("ca_tls_container_ref"), ref("crl_container_ref"),
		aBool("tls_enabled"), ciphers, tlsVersions, alpn}
	poolPost := newSchema(append([]attr{name, desc, aBool("admin_state_up"), aUUID("listener_id"), aUUID("loadbalancer_id"),
		must(aEnum("protocol", lb.PoolProtocols...)), must(aEnum("lb_algorithm", lb.Algorithms...)),
		aObj("session_persistence", spPost), project, aObj("healthmonitor", hmSingle), aObjList("members", memberSingle)},
		poolTLS...)...)
	poolSingle := newSchema(append([]attr{name, desc, aBool("admin_state_up"),
		aEnum("protocol", lb.PoolProtocols...), aEnum("lb_algorithm", lb.Algorithms...),
		aObj("session_persistence", spPost), aObj("healthmonitor", hmSingle), aObjList("members", memberSingle)},
		poolTLS...)...)
	poolPut := newSchema(append([]attr{name, desc, aBool("admin_state_up"), aEnum("lb_algorithm", lb.Algorithms...),
		aObj("session_persistence", spPut)}, poolTLS...)...)

	policySingle := newSchema(name, desc, aBool("admin_state_up"), must(aEnum("action", lb.L7Actions...)),
		aObj("redirect_pool", poolSingle), aURL("redirect_url"), aURL("redirect_prefix"),
		aInt("position", 1, lb.MaxPosition), aObjList("rules", ruleSchema(ruleEmbedded)), tags, redirectCodes())

	listenerTail := func(hstsMin int64) []attr {
		return []attr{timeout("timeout_client_data"), timeout("timeout_member_connect"), timeout("timeout_member_data"),
			timeout("timeout_tcp_inspect"), tags, ref("client_ca_tls_container_ref"),
			aEnum("client_authentication", lb.ClientAuthModes...), ref("client_crl_container_ref"),
			aList("allowed_cidrs", attr{kind: kCIDR}), ciphers, tlsVersions, alpn,
			aInt("hsts_max_age", hstsMin, noMax), aBool("hsts_include_subdomains"), aBool("hsts_preload")}
	}
	listenerHead := func(withProject bool) []attr {
		attrs := []attr{name, desc, aBool("admin_state_up"), must(aEnum("protocol", lb.ListenerProtocols...)), must(port),
			aInt("connection_limit", -1, noMax), ref("default_tls_container_ref"), aStrList("sni_container_refs", 255)}
		if withProject {
			attrs = append(attrs, project)
		}
		return append(attrs, aUUID("default_pool_id"), aObj("default_pool", poolSingle),
			aObjList("l7policies", policySingle), aDict("insert_headers", 255))
	}
	listenerPost := newSchema(append(append(listenerHead(true), must(aUUID("loadbalancer_id"))), listenerTail(0)...)...)
	listenerSingle := newSchema(append(listenerHead(false), listenerTail(noMin)...)...)
	listenerPut := newSchema(append([]attr{name, desc, aBool("admin_state_up"), aInt("connection_limit", -1, noMax),
		ref("default_tls_container_ref"), aStrList("sni_container_refs", 255), aUUID("default_pool_id"),
		aDict("insert_headers", 255)}, listenerTail(0)...)...)

	additionalVIP := newSchema(must(aUUID("subnet_id")), aIP("ip_address"), aUUID("port_id"))
	uuidList := func(n string) attr { return aList(n, attr{kind: kUUID}) }
	lbPost := newSchema(name, desc, aBool("admin_state_up"), aIP("vip_address"), aUUID("vip_port_id"),
		aUUID("vip_subnet_id"), aUUID("vip_network_id"), aUUID("vip_qos_policy_id"), uuidList("vip_sg_ids"),
		aObjList("additional_vips", additionalVIP), project, aObjList("listeners", listenerSingle),
		aObjList("pools", poolSingle), aStr("provider", 64), tags, aUUID("flavor_id"), aStr("availability_zone", 255))
	lbPut := newSchema(name, desc, aUUID("vip_qos_policy_id"), aBool("admin_state_up"), uuidList("vip_sg_ids"), tags)

	return &schemas{
		lbPost:       body{arg: "load_balancer", wrapper: "loadbalancer", inner: lbPost},
		lbPut:        body{arg: "load_balancer", wrapper: "loadbalancer", inner: lbPut},
		listenerPost: body{arg: "listener_", wrapper: "listener", inner: listenerPost},
		listenerPut:  body{arg: "listener_", wrapper: "listener", inner: listenerPut},
		poolPost:     body{arg: "pool_", wrapper: "pool", inner: poolPost},
		poolPut:      body{arg: "pool_", wrapper: "pool", inner: poolPut},
		memberPost:   body{arg: "member_", wrapper: "member", inner: memberPost},
		memberPut:    body{arg: "member_", wrapper: "member", inner: memberPut},
		membersPut:   body{arg: "members_", wrapper: "members", inner: memberPost, list: true},
		hmPost:       body{arg: "health_monitor_", wrapper: "healthmonitor", inner: hmPost},
		hmPut:        body{arg: "health_monitor_", wrapper: "healthmonitor", inner: hmPut},

		lbColumns:            columnSet(lbColumnNames),
		listenerColumns:      columnSet(listenerColumnNames),
		poolColumns:          columnSet(poolColumnNames),
		memberColumns:        columnSet(memberColumnNames),
		healthMonitorColumns: columnSet(healthMonitorColumnNames),
	}
}

func aDict(name string, max int) attr {
	return attr{name: name, kind: kDict, item: &attr{kind: kString, maxLen: max}}
}
