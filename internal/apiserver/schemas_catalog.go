package apiserver

import "github.com/fulcrumlb/fulcrum/internal/lb"

// Request types and list columns of L7 policies and rules, flavors, flavor
// profiles, availability zones, their profiles and amphorae (Octavia's
// octavia/api/v2/types, 2.30).

// moreSchemas completes schemas with the resources beyond the core five.
type moreSchemas struct {
	l7policyPost, l7policyPut           body
	rulePost, rulePut                   body
	flavorPost, flavorPut               body
	flavorProfilePost, flavorProfilePut body
	azPost, azPut                       body
	azProfilePost, azProfilePut         body

	l7policyColumns, ruleColumns, flavorColumns, flavorProfileColumns map[string]bool
	azColumns, azProfileColumns, amphoraColumns                       map[string]bool
}

// noCRLF is the pattern Octavia puts on L7 rule keys and values of
// standalone requests.
const noCRLF = `^[^\r\n]*$`

// ruleSchema is an L7 rule request type: POST (project_id, key and value
// without CR/LF), PUT (nothing mandatory) or the single-create form
// embedded in policies.
func ruleSchema(kind string) *schema {
	typ := aEnum("type", lb.L7RuleTypes...)
	cmp := aEnum("compare_type", lb.CompareTypes...)
	key, value := aStr("key", 255), aStr("value", 255)
	if kind != "single" {
		for _, a := range []*attr{&key, &value} {
			a.check = func(s string) bool { return !containsCRLF(s) }
			a.patternText = noCRLF
		}
	}
	if kind == "put" {
		return newSchema(typ, cmp, key, value, aBool("invert"), aBool("admin_state_up"), aStrList("tags", lb.MaxNameLen))
	}
	attrs := []attr{must(typ), must(cmp), key, must(value), aBool("invert"), aBool("admin_state_up")}
	if kind == "post" {
		attrs = append(attrs, aStr("project_id", 36))
	}
	return newSchema(append(attrs, aStrList("tags", lb.MaxNameLen))...)
}

func containsCRLF(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' {
			return true
		}
	}
	return false
}

func redirectCodes() attr {
	codes := make([]int64, len(lb.RedirectHTTPCodes))
	for i, c := range lb.RedirectHTTPCodes {
		codes[i] = int64(c)
	}
	return attr{name: "redirect_http_code", kind: kIntEnum, ints: codes}
}

func newMoreSchemas() *moreSchemas {
	name, desc := aStr("name", lb.MaxNameLen), aStr("description", lb.MaxNameLen)
	tags := aStrList("tags", lb.MaxNameLen)
	position := aInt("position", 1, lb.MaxPosition)
	l7policyPost := newSchema(name, desc, aBool("admin_state_up"), aStr("project_id", 36),
		must(aEnum("action", lb.L7Actions...)), aUUID("redirect_pool_id"), aURL("redirect_url"), aURL("redirect_prefix"),
		position, must(aUUID("listener_id")), aObjList("rules", ruleSchema("single")), tags, redirectCodes())
	l7policyPut := newSchema(name, desc, aBool("admin_state_up"), aEnum("action", lb.L7Actions...),
		aUUID("redirect_pool_id"), aURL("redirect_url"), aURL("redirect_prefix"), position, tags, redirectCodes())

	notNull := func(a attr) attr { a.nullMsg = "None is not a valid option for " + a.name; return a }
	flavorPost := newSchema(must(name), desc, aBool("enabled"), must(aUUID("flavor_profile_id")))
	// A null flavor name would break the unique name (Octavia fails with a
	// 500 there): refused like a null profile name.
	flavorPut := newSchema(notNull(name), desc, aBool("enabled"))
	profile := func(data string, post bool) *schema {
		n, p, d := aStr("name", 255), aStr("provider_name", 255), aStr(data, 4096)
		if post {
			return newSchema(must(n), must(p), must(d))
		}
		return newSchema(notNull(n), notNull(p), notNull(d))
	}
	azPost := newSchema(must(name), desc, aBool("enabled"), must(aUUID("availability_zone_profile_id")))
	azPut := newSchema(desc, aBool("enabled"))

	return &moreSchemas{
		l7policyPost:      body{arg: "l7policy_", wrapper: "l7policy", inner: l7policyPost},
		l7policyPut:       body{arg: "l7policy_", wrapper: "l7policy", inner: l7policyPut},
		rulePost:          body{arg: "rule_", wrapper: "rule", inner: ruleSchema("post")},
		rulePut:           body{arg: "l7rule_", wrapper: "rule", inner: ruleSchema("put")},
		flavorPost:        body{arg: "flavor_", wrapper: "flavor", inner: flavorPost},
		flavorPut:         body{arg: "flavor_", wrapper: "flavor", inner: flavorPut},
		flavorProfilePost: body{arg: "flavor_profile_", wrapper: "flavorprofile", inner: profile("flavor_data", true)},
		flavorProfilePut:  body{arg: "flavor_profile_", wrapper: "flavorprofile", inner: profile("flavor_data", false)},
		azPost:            body{arg: "availability_zone_", wrapper: "availability_zone", inner: azPost},
		azPut:             body{arg: "availability_zone_", wrapper: "availability_zone", inner: azPut},
		azProfilePost:     body{arg: "availability_zone_profile_", wrapper: "availability_zone_profile", inner: profile("availability_zone_data", true)},
		azProfilePut:      body{arg: "availability_zone_profile_", wrapper: "availability_zone_profile", inner: profile("availability_zone_data", false)},

		l7policyColumns: columnSet("id project_id listener_id name description admin_state_up provisioning_status operating_status " +
			"action position redirect_pool_id redirect_url redirect_prefix redirect_http_code created_at updated_at"),
		ruleColumns: columnSet("id project_id l7policy_id admin_state_up provisioning_status operating_status " +
			"type compare_type key value invert created_at updated_at"),
		flavorColumns:        columnSet("id name description enabled flavor_profile_id"),
		flavorProfileColumns: columnSet("id name provider_name flavor_data"),
		azColumns:            columnSet("name description enabled availability_zone_profile_id"),
		azProfileColumns:     columnSet("id name provider_name availability_zone_data"),
		amphoraColumns: columnSet("id project_id loadbalancer_id compute_id lb_network_ip vrrp_ip ha_ip vrrp_port_id ha_port_id " +
			"cert_expiration cert_busy role status vrrp_interface vrrp_id vrrp_priority cached_zone image_id compute_flavor " +
			"created_at updated_at"),
	}
}
