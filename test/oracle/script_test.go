//go:build oracle

package oracle

import (
	"fmt"
	"strings"
)

// reasons explain the differences the script expects, each documented in
// docs/octavia-differences.md.
var reasons = map[string]string{
	"versions":         "the oracle is Octavia 11, older than v2.27; fulcrum serves v2.30",
	"providers":        "fulcrum lists its own providers (fulcrum, haproxy, noop) and the Octavia names as aliases",
	"capabilities":     "under amphora and octavia fulcrum lists Octavia's capabilities first, then its own (engine, agent group, Avi's se_group_ref; agent zone), and accepts both",
	"links-keys":       "fulcrum emits both the upstream singular links key and the plural one gophercloud reads",
	"regex-dialect":    "REGEX rule values are compiled as Go RE2 expressions, not Python re: different accepted set and messages",
	"rule-in-path":     "a rule is only found under its own policy (Octavia does not check the policy in the path)",
	"graph-bug":        "Octavia 11 leaves the children of a single-call create PENDING_CREATE for ever (fixed in 12.0.0)",
	"amphorae":         "fulcrum's noop provider records its amphorae as Octavia's noop drivers do, but they run nowhere: no compute_id, lb_network_ip, VRRP port or certificate; failover puts an amphora back in place where Octavia builds a replacement",
	"routing":          "routing errors use the fault body; Octavia answers WebOb's {code,title,description}",
	"rules-embedded":   "a standalone L7 policy create with embedded rules creates them; Octavia 11 fails with a 500",
	"missing-parent":   "a flavor or zone naming a missing profile is a 404; Octavia's database refuses it with a 500",
	"null-name":        "a flavor PUT with name null is refused (400 None is not a valid option for name); Octavia's database refuses it with a 500",
	"limit-bug":        "a negative limit means no limit; Octavia 11 answers 500 (upstream bug)",
	"octavia-alias":    "the Octavia names amphora and octavia are aliases of fulcrum's default provider",
	"decode-message":   "type-conversion errors name the field and its value; Octavia names the whole body",
	"octavia-500":      "values Octavia crashes on (500) are 400s",
	"lookup-404":       "a missing parent in a sub-resource path (rules of an unknown policy) is a fault-body 404; Octavia's router answers WebOb's body with the same text",
	"webob-400":        "pagination and sort errors use the fault body; Octavia raises them before WSME and answers WebOb's {code,title,description} with the same text",
	"bool-filter":      "boolean filters are parsed (invert=true selects inverted rules); Octavia compares the column with the string and selects the opposite",
	"rules-order":      "a policy's rules are listed in creation order; Octavia lists them in database (random id) order",
	"graph-updated-at": "a single-call create shows updated_at null on every new object; Octavia's position reordering touches listeners and policies",
	"graph-no-monitor": "members of a pool without a health monitor start NO_MONITOR in a single-call create too; Octavia shows OFFLINE there",
	"octavia-cast-bug": "Octavia casts a policy update to its worker before checking that the redirect pool belongs to the load balancer: the API answers 404, then the worker fails and leaves the policy and its listener ERROR",
	"graph-hm-null":    "Octavia's single-call create response shows healthmonitor null for a pool defined inline as a listener's default_pool (the monitor is created)",
	"rule-key":         "HOST_NAME, PATH and FILE_TYPE rules drop a key at once; Octavia keeps it until its worker's completion update clears it",
	"dup-tags":         "a repeated tag is kept once; Octavia's database refuses it with 409 \"Already an entity with that specified id.\"",
}

const lbBody = `{"loadbalancer": {"name": "%s", "vip_subnet_id": "` + subnetA + `"%s}}`

func lbCreate(name, extra string) string { return fmt.Sprintf(lbBody, name, extra) }

func listener(lbLabel, proto string, port int) string {
	return fmt.Sprintf(`{"listener": {"loadbalancer_id": "{%s}", "protocol": "%s", "protocol_port": %d, "name": "%s%d"}}`, lbLabel, proto, port, strings.ToLower(proto), port)
}

func policy(fields string) string { return `{"l7policy": {` + fields + `}}` }
func rule(fields string) string   { return `{"rule": {` + fields + `}}` }

// script is the request sequence: every resource, the success paths and the
// error cases, waiting for the load balancers to settle between writes (as
// Terraform does) so that Octavia's immutable 409s do not hide the rest.
func script() []*step {
	var s []*step
	add := func(steps ...*step) { s = append(s, steps...) }

	// Discovery.
	add(c("GET", "/", "").because("versions"),
		c("GET", "/v2", ""), c("GET", "/v2.0/lbaas", ""), c("GET", "/v2/octavia", ""))

	// Providers and capabilities.
	add(c("GET", "/v2/lbaas/providers", "").because("providers"),
		c("GET", "/v2.0/lbaas/providers?fields=name", "").because("providers"),
		c("GET", "/v2/lbaas/providers/amphora/flavor_capabilities", "").because("capabilities"),
		c("GET", "/v2/lbaas/providers/amphora/flavor_capabilities?name=loadbalancer_topology&fields=name", ""),
		c("GET", "/v2/lbaas/providers/amphora/flavor_capabilities?name=nothing", ""),
		c("GET", "/v2/lbaas/providers/amphora/availability_zone_capabilities", "").because("capabilities"),
		c("GET", "/v2/lbaas/providers/amphora/availability_zone_capabilities?name=compute_zone&fields=name", ""),
		c("GET", "/v2/lbaas/providers/bogus/flavor_capabilities", ""),
		c("GET", "/v2/lbaas/providers/bogus/availability_zone_capabilities", ""))

	// Flavor profiles.
	fp := func(fields string) string { return `{"flavorprofile": {` + fields + `}}` }
	add(c("POST", "/v2/lbaas/flavorprofiles", fp(`"name": "fp1", "provider_name": "amphora", "flavor_data": "{\"loadbalancer_topology\": \"SINGLE\"}"`)).as("fp1"),
		c("POST", "/v2/lbaas/flavorprofiles", fp(`"name": "fp2", "provider_name": "amphora", "flavor_data": "{}"`)).as("fp2"),
		c("POST", "/v2/lbaas/flavorprofiles", fp(`"name": "bad", "provider_name": "amphora", "flavor_data": "notjson"`)),
		c("POST", "/v2/lbaas/flavorprofiles", fp(`"name": "bad", "provider_name": "amphora", "flavor_data": "{\"foo\": 1}"`)),
		c("POST", "/v2/lbaas/flavorprofiles", fp(`"name": "bad", "provider_name": "amphora", "flavor_data": "{\"loadbalancer_topology\": \"BAD\"}"`)),
		c("POST", "/v2/lbaas/flavorprofiles", fp(`"name": "bad", "provider_name": "amphora", "flavor_data": "{\"loadbalancer_topology\": 1}"`)),
		c("POST", "/v2/lbaas/flavorprofiles", fp(`"name": "bad", "provider_name": "amphora", "flavor_data": "[1]"`)),
		c("POST", "/v2/lbaas/flavorprofiles", fp(`"name": "bad", "provider_name": "bogus", "flavor_data": "{}"`)),
		c("POST", "/v2/lbaas/flavorprofiles", fp(`"name": "cf", "provider_name": "amphora", "flavor_data": "{\"compute_flavor\": \"m1\"}"`)),
		c("POST", "/v2/lbaas/flavorprofiles", fp(`"name": "octavia-keys", "provider_name": "amphora", "flavor_data": "{\"loadbalancer_topology\": \"ACTIVE_STANDBY\", \"compute_flavor\": \"m1.amphora\", \"amp_image_tag\": \"amphora\"}"`)),
		c("POST", "/v2/lbaas/flavorprofiles", fp(`"name": "bad", "provider_name": "amphora", "flavor_data": "{\"compute_flavor\": 1}"`)),
		c("POST", "/v2/lbaas/flavorprofiles", fp(`"name": "bad", "provider_name": "amphora", "flavor_data": "{\"amp_image_tag\": [\"a\"]}"`)),
		c("POST", "/v2/lbaas/flavorprofiles", fp(`"name": "sriov", "provider_name": "amphora", "flavor_data": "{\"sriov_vip\": true}"`)).as("fpsriov").because("versions"),
		c("DELETE", "/v2/lbaas/flavorprofiles/{fpsriov}", "").because("versions"),
		c("POST", "/v2/lbaas/flavorprofiles", fp(`"provider_name": "amphora", "flavor_data": "{}"`)),
		c("POST", "/v2/lbaas/flavorprofiles", fp(`"name": "x", "provider_name": "amphora", "flavor_data": "{}", "foo": 1`)),
		c("POST", "/v2/lbaas/flavorprofiles", `{"flavor_profile": {}}`),
		c("GET", "/v2/lbaas/flavorprofiles", "").sorted().because("links-keys"),
		c("GET", "/v2/lbaas/flavorprofiles?name=fp1&fields=id&fields=name", "").because("links-keys"),
		c("GET", "/v2/lbaas/flavorprofiles/{fp1}", ""),
		c("GET", "/v2/lbaas/flavorprofiles/00000000-0000-0000-0000-000000000000", ""),
		c("GET", "/v2/lbaas/flavorprofiles/"+otherUUID, ""),
		c("PUT", "/v2/lbaas/flavorprofiles/{fp2}", fp(`"name": "fp2-renamed"`)),
		c("PUT", "/v2/lbaas/flavorprofiles/{fp2}", fp(`"flavor_data": "{\"loadbalancer_topology\": \"ACTIVE_STANDBY\"}"`)),
		c("PUT", "/v2/lbaas/flavorprofiles/{fp2}", fp(`"name": null`)),
		c("PUT", "/v2/lbaas/flavorprofiles/{fp2}", fp(`"flavor_data": "nope"`)),
		c("PUT", "/v2/lbaas/flavorprofiles/{fp2}", fp(`"flavor_data": "{\"bar\": true}"`)),
		c("PUT", "/v2/lbaas/flavorprofiles/"+otherUUID, fp(`"name": "x"`)),
		c("DELETE", "/v2/lbaas/flavorprofiles/00000000-0000-0000-0000-000000000000", ""),
	)

	// Flavors.
	fl := func(fields string) string { return `{"flavor": {` + fields + `}}` }
	add(c("POST", "/v2/lbaas/flavors", fl(`"name": "f1", "description": "small", "flavor_profile_id": "{fp1}"`)).as("f1"),
		c("POST", "/v2/lbaas/flavors", fl(`"name": "f2", "enabled": false, "flavor_profile_id": "{fp1}"`)).as("f2"),
		c("POST", "/v2/lbaas/flavors", fl(`"name": "f3", "flavor_profile_id": "{fp2}"`)).as("f3"),
		c("POST", "/v2/lbaas/flavors", fl(`"name": "f1", "flavor_profile_id": "{fp1}"`)),
		c("POST", "/v2/lbaas/flavors", fl(`"name": "f9", "flavor_profile_id": "`+otherUUID+`"`)).because("missing-parent"),
		c("POST", "/v2/lbaas/flavors", fl(`"name": "f9"`)),
		c("POST", "/v2/lbaas/flavors", fl(`"name": "f9", "flavor_profile_id": "not-a-uuid"`)),
		c("POST", "/v2/lbaas/flavors", fl(`"name": "f9", "flavor_profile_id": "{fp1}", "provider": "x"`)),
		c("GET", "/v2/lbaas/flavors", "").sorted(),
		c("GET", "/v2/lbaas/flavors?name=f1", ""),
		c("GET", "/v2/lbaas/flavors?enabled=false", ""),
		c("GET", "/v2/lbaas/flavors?sort=name:desc&fields=name", ""),
		c("GET", "/v2/lbaas/flavors?limit=1&sort_key=name", ""),
		c("GET", "/v2/lbaas/flavors?bogus=1", ""),
		c("GET", "/v2/lbaas/flavors/{f1}", ""),
		c("GET", "/v2/lbaas/flavors/{f1}?fields=enabled", ""),
		c("GET", "/v2/lbaas/flavors/00000000-0000-0000-0000-000000000000", ""),
		c("GET", "/v2/lbaas/flavors/"+otherUUID, ""),
		c("PUT", "/v2/lbaas/flavors/{f3}", fl(`"description": "renamed", "enabled": false`)),
		c("PUT", "/v2/lbaas/flavors/{f3}", fl(``)),
		c("PUT", "/v2/lbaas/flavors/{f3}", fl(`"flavor_profile_id": "{fp1}"`)),
		c("PUT", "/v2/lbaas/flavors/{f3}", fl(`"name": null`)).because("null-name"),
		c("PUT", "/v2/lbaas/flavorprofiles/{fp1}", fp(`"flavor_data": "{}"`)),
		c("PUT", "/v2/lbaas/flavorprofiles/{fp1}", fp(`"name": "fp1-renamed"`)),
		c("DELETE", "/v2/lbaas/flavorprofiles/{fp1}", ""),
		c("DELETE", "/v2/lbaas/flavors/{f3}", ""),
		c("GET", "/v2/lbaas/flavors/{f3}", ""),
		c("DELETE", "/v2/lbaas/flavors/{f3}", ""),
		c("DELETE", "/v2/lbaas/flavorprofiles/{fp2}", ""),
	)

	// Availability zone profiles and zones.
	azp := func(fields string) string { return `{"availability_zone_profile": {` + fields + `}}` }
	az := func(fields string) string { return `{"availability_zone": {` + fields + `}}` }
	add(c("POST", "/v2/lbaas/availabilityzoneprofiles", azp(`"name": "azp1", "provider_name": "amphora", "availability_zone_data": "{\"compute_zone\": \"nova\"}"`)).as("azp1"),
		c("POST", "/v2/lbaas/availabilityzoneprofiles", azp(`"name": "bad", "provider_name": "amphora", "availability_zone_data": "{\"agent_zone\": \"r1\"}"`)).because("capabilities"),
		c("POST", "/v2/lbaas/availabilityzoneprofiles", azp(`"name": "bad", "provider_name": "amphora", "availability_zone_data": "{\"compute_zone\": 3}"`)),
		c("POST", "/v2/lbaas/availabilityzoneprofiles", azp(`"name": "octavia-keys", "provider_name": "amphora", "availability_zone_data": "{\"compute_zone\": \"nova\", \"management_network\": \"`+networkUUID+`\", \"valid_vip_networks\": [\"`+networkUUID+`\"]}"`)),
		c("POST", "/v2/lbaas/availabilityzoneprofiles", azp(`"name": "bad", "provider_name": "amphora", "availability_zone_data": "{\"valid_vip_networks\": \"`+networkUUID+`\"}"`)),
		c("POST", "/v2/lbaas/availabilityzoneprofiles", azp(`"name": "bad", "provider_name": "amphora", "availability_zone_data": "{\"management_network\": 7}"`)),
		c("POST", "/v2/lbaas/availabilityzoneprofiles", azp(`"name": "vz", "provider_name": "amphora", "availability_zone_data": "{\"volume_zone\": \"cinder\"}"`)).as("azpvz").because("versions"),
		c("DELETE", "/v2/lbaas/availabilityzoneprofiles/{azpvz}", "").because("versions"),
		c("POST", "/v2/lbaas/availabilityzoneprofiles", azp(`"name": "bad", "provider_name": "amphora", "availability_zone_data": "{"`)),
		c("POST", "/v2/lbaas/availabilityzoneprofiles", azp(`"name": "bad", "provider_name": "nope", "availability_zone_data": "{}"`)),
		c("POST", "/v2/lbaas/availabilityzoneprofiles", azp(`"name": "bad"`)),
		c("GET", "/v2/lbaas/availabilityzoneprofiles", "").because("links-keys"),
		c("GET", "/v2/lbaas/availabilityzoneprofiles/{azp1}", ""),
		c("GET", "/v2/lbaas/availabilityzoneprofiles/"+otherUUID, ""),
		c("PUT", "/v2/lbaas/availabilityzoneprofiles/{azp1}", azp(`"name": "azp1-renamed"`)),
		c("PUT", "/v2/lbaas/availabilityzoneprofiles/{azp1}", azp(`"availability_zone_data": null`)),
		c("POST", "/v2/lbaas/availabilityzones", az(`"name": "az1", "description": "first", "availability_zone_profile_id": "{azp1}"`)).asName("az1"),
		c("POST", "/v2/lbaas/availabilityzones", az(`"name": "az2", "enabled": false, "availability_zone_profile_id": "{azp1}"`)).asName("az2"),
		c("POST", "/v2/lbaas/availabilityzones", az(`"name": "az1", "availability_zone_profile_id": "{azp1}"`)),
		c("POST", "/v2/lbaas/availabilityzones", az(`"name": "az9", "availability_zone_profile_id": "`+otherUUID+`"`)).because("missing-parent"),
		c("POST", "/v2/lbaas/availabilityzones", az(`"description": "x"`)),
		c("GET", "/v2/lbaas/availabilityzones", "").sorted(),
		c("GET", "/v2/lbaas/availabilityzones?enabled=true", ""),
		c("GET", "/v2/lbaas/availabilityzones/az1", ""),
		c("GET", "/v2/lbaas/availabilityzones/nope", ""),
		c("PUT", "/v2/lbaas/availabilityzones/az1", az(`"description": "changed"`)),
		c("PUT", "/v2/lbaas/availabilityzones/az1", az(`"name": "az7"`)),
		c("PUT", "/v2/lbaas/availabilityzoneprofiles/{azp1}", azp(`"provider_name": "amphora"`)),
		c("DELETE", "/v2/lbaas/availabilityzoneprofiles/{azp1}", ""),
	)

	// Load balancers with flavors and zones.
	add(c("POST", "/v2/lbaas/loadbalancers", lbCreate("lbf", `, "flavor_id": "{f1}"`)).as("lbf").wait("lbf"),
		c("POST", "/v2/lbaas/loadbalancers", lbCreate("x", `, "flavor_id": "{f2}"`)),
		c("POST", "/v2/lbaas/loadbalancers", lbCreate("x", `, "flavor_id": "`+otherUUID+`"`)),
		c("POST", "/v2/lbaas/loadbalancers", lbCreate("x", `, "flavor_id": "{f1}", "provider": "bogus"`)),
		c("POST", "/v2/lbaas/loadbalancers", lbCreate("x", `, "provider": "bogus"`)),
		c("POST", "/v2/lbaas/loadbalancers", lbCreate("lbz", `, "availability_zone": "az1"`)).as("lbz").wait("lbz"),
		c("POST", "/v2/lbaas/loadbalancers", lbCreate("x", `, "availability_zone": "az2"`)),
		c("POST", "/v2/lbaas/loadbalancers", lbCreate("x", `, "availability_zone": "nowhere"`)),
		c("GET", "/v2/lbaas/loadbalancers?flavor_id={f1}", ""),
		c("GET", "/v2/lbaas/loadbalancers?availability_zone=az1", ""),
		c("DELETE", "/v2/lbaas/flavors/{f1}", ""),
		c("DELETE", "/v2/lbaas/availabilityzones/az1", ""),
		c("PUT", "/v2/lbaas/flavors/{f1}", fl(`"enabled": false`)),
		c("PUT", "/v2/lbaas/flavors/{f1}", fl(`"enabled": true`)),
	)

	// The provider a load balancer shows is the name it was asked for
	// (an alias in fulcrum, the driver in Octavia), directly or through a
	// flavor whose profile names it.
	add(c("GET", "/v2/lbaas/loadbalancers/{lbf}", "").providerShown(),
		c("POST", "/v2/lbaas/loadbalancers", lbCreate("lbp", `, "provider": "amphora"`)).as("lbp").wait("lbp").providerShown(),
		c("GET", "/v2/lbaas/loadbalancers/{lbp}", "").providerShown(),
		c("GET", "/v2/lbaas/loadbalancers?provider=amphora&name=lbp&fields=name&fields=provider", "").providerShown(),
		c("DELETE", "/v2/lbaas/loadbalancers/{lbp}", "").waitGone("/v2/lbaas/loadbalancers/{lbp}"),
	)

	// The L7 fixture: a load balancer with HTTP, TCP and PROMETHEUS
	// listeners and pools.
	add(c("POST", "/v2/lbaas/loadbalancers", lbCreate("lb1", `, "tags": ["blue"]`)).as("lb1").wait("lb1"),
		c("POST", "/v2/lbaas/listeners", listener("lb1", "HTTP", 80)).as("l1").wait("lb1"),
		c("POST", "/v2/lbaas/listeners", listener("lb1", "TCP", 81)).as("l2").wait("lb1"),
		c("POST", "/v2/lbaas/listeners", listener("lb1", "PROMETHEUS", 9100)).as("lprom").wait("lb1"),
		c("POST", "/v2/lbaas/pools", `{"pool": {"loadbalancer_id": "{lb1}", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "name": "p1"}}`).as("p1").wait("lb1"),
		c("POST", "/v2/lbaas/pools", `{"pool": {"loadbalancer_id": "{lb1}", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN", "name": "p2"}}`).as("p2").wait("lb1"),
		c("POST", "/v2/lbaas/pools", `{"pool": {"loadbalancer_id": "{lbf}", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "name": "pf"}}`).as("pf").wait("lbf"),
	)

	// L7 policies: actions, implied actions, positions, errors.
	add(c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REJECT", "name": "reject"`)).as("pol1").wait("lb1"),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REDIRECT_TO_POOL", "redirect_pool_id": "{p1}", "position": 1, "name": "pool"`)).as("pol2").wait("lb1"),
		c("GET", "/v2/lbaas/l7policies/{pol1}", ""),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REDIRECT_PREFIX", "redirect_prefix": "https://example.com", "description": "prefix"`)).as("pol3").wait("lb1"),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REDIRECT_TO_URL", "redirect_url": "http://example.com/a?b=c", "redirect_http_code": 301, "position": 2`)).as("pol4").wait("lb1"),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REJECT", "redirect_url": "http://example.com", "position": 99`)).as("pol5").wait("lb1"),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REJECT", "redirect_prefix": "http://example.com", "redirect_http_code": 307`)).as("pol6").wait("lb1"),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REJECT", "redirect_http_code": 303`)).as("pol7").wait("lb1"),
		c("GET", "/v2/lbaas/l7policies?listener_id={l1}&sort=position", ""),
		c("GET", "/v2/lbaas/listeners/{l1}", ""),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REDIRECT_TO_URL"`)),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REDIRECT_PREFIX"`)),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REDIRECT_TO_POOL"`)),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REDIRECT_TO_POOL", "redirect_pool_id": "{p1}", "redirect_url": "http://x.com"`)).as("pol8"),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REDIRECT_TO_URL", "redirect_pool_id": "{p1}", "redirect_url": "http://x.com"`)),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REDIRECT_TO_POOL", "redirect_pool_id": "{p2}"`)),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REDIRECT_TO_POOL", "redirect_pool_id": "{pf}"`)),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REDIRECT_TO_POOL", "redirect_pool_id": "`+otherUUID+`"`)),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "`+otherUUID+`", "action": "REJECT"`)),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{lprom}", "action": "REJECT"`)),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "DROP"`)),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}"`)),
		c("POST", "/v2/lbaas/l7policies", policy(`"action": "REJECT"`)),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REJECT", "position": 0`)),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REJECT", "position": "abc"`)).because("decode-message"),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REDIRECT_TO_URL", "redirect_url": "ftp://example.com"`)),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REDIRECT_TO_URL", "redirect_url": "http://a b"`)),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REDIRECT_TO_URL", "redirect_url": "http://x.com", "redirect_http_code": 304`)),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REJECT", "listener": "x"`)),
		c("POST", "/v2/lbaas/l7policies", `{"l7policy": "x"}`).because("octavia-500"),
		c("POST", "/v2/lbaas/l7policies", `not json`),
		c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l2}", "action": "REJECT", "name": "on-tcp"`)).because("octavia-alias"),
	)
	add(c("PUT", "/v2/lbaas/l7policies/{pol4}", policy(`"position": 1`)).wait("lb1"),
		c("GET", "/v2/lbaas/l7policies?listener_id={l1}&sort=position&fields=id&fields=position", ""),
		c("PUT", "/v2/lbaas/l7policies/{pol1}", policy(`"position": 5`)).wait("lb1"),
		c("PUT", "/v2/lbaas/l7policies/{pol1}", policy(`"position": 50`)).wait("lb1"),
		c("GET", "/v2/lbaas/l7policies?listener_id={l1}&sort=position&fields=id&fields=position", ""),
		c("PUT", "/v2/lbaas/l7policies/{pol1}", policy(`"action": "REDIRECT_TO_URL"`)),
		c("PUT", "/v2/lbaas/l7policies/{pol1}", policy(`"redirect_url": "https://example.org"`)).wait("lb1"),
		c("PUT", "/v2/lbaas/l7policies/{pol1}", policy(`"action": "REJECT"`)).wait("lb1"),
		c("PUT", "/v2/lbaas/l7policies/{pol3}", policy(`"redirect_http_code": 308, "name": "p3", "admin_state_up": false`)).wait("lb1"),
		c("PUT", "/v2/lbaas/l7policies/{pol3}", policy(`"redirect_prefix": "https://example.net"`)).wait("lb1"),
		c("PUT", "/v2/lbaas/l7policies/{pol4}", policy(`"redirect_pool_id": "{p1}"`)).wait("lb1"),
		c("PUT", "/v2/lbaas/l7policies/{pol4}", policy(`"action": "REDIRECT_PREFIX", "redirect_prefix": "http://p.example"`)).wait("lb1"),
		c("PUT", "/v2/lbaas/l7policies/{pol4}", policy(`"redirect_http_code": 301`)).wait("lb1"),
		c("PUT", "/v2/lbaas/l7policies/{pol5}", policy(`"redirect_http_code": 301`)).wait("lb1"),
		c("PUT", "/v2/lbaas/l7policies/{pol2}", policy(`"redirect_pool_id": "{pf}"`)),
		c("PUT", "/v2/lbaas/l7policies/{pol2}", policy(`"redirect_pool_id": "{p2}"`)),
		c("PUT", "/v2/lbaas/l7policies/{pol2}", policy(`"action": "BOGUS"`)),
		c("PUT", "/v2/lbaas/l7policies/{pol2}", policy(`"action": null`)),
		c("PUT", "/v2/lbaas/l7policies/{pol2}", policy(`"listener_id": "{l2}"`)),
		c("PUT", "/v2/lbaas/l7policies/{pol2}", policy(`"tags": ["a", "b"], "description": "tagged"`)).wait("lb1"),
		c("PUT", "/v2/lbaas/l7policies/{pol3}", policy(`"tags": ["b"]`)).wait("lb1"),
		c("PUT", "/v2/lbaas/l7policies/"+otherUUID, policy(`"name": "x"`)),
		c("GET", "/v2/lbaas/l7policies?tags=a", "").because("octavia-cast-bug"),
		c("GET", "/v2/lbaas/l7policies?tags-any=a,b&sort=name", "").because("octavia-cast-bug"),
		c("GET", "/v2/lbaas/l7policies?not-tags=a&listener_id={l1}&sort=position", ""),
		c("GET", "/v2/lbaas/l7policies?not-tags-any=b&listener_id={l1}&sort=position", ""),
		c("GET", "/v2/lbaas/l7policies?action=REJECT&sort=created_at:desc&fields=id", ""),
		c("GET", "/v2/lbaas/l7policies?limit=2&sort=position", "").because("octavia-cast-bug"),
		c("GET", "/v2/lbaas/l7policies?loadbalancer_id={lb1}", ""),
		c("GET", "/v2/lbaas/l7policies/"+otherUUID, ""),
		c("DELETE", "/v2/lbaas/l7policies/{pol8}", ""),
		c("DELETE", "/v2/lbaas/pools/{p1}", ""),
	)

	// L7 rules: every type and compare type, keys, values, invert.
	r := "/v2/lbaas/l7policies/{pol3}/rules"
	add(c("POST", r, rule(`"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"`)).as("r1").wait("lb1"),
		c("POST", r, rule(`"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "www.example.com", "invert": true, "tags": ["t1"]`)).as("r2").wait("lb1"),
		c("POST", r, rule(`"type": "HEADER", "key": "X-Test", "compare_type": "CONTAINS", "value": "\"a b\""`)).as("r3").wait("lb1"),
		c("POST", r, rule(`"type": "COOKIE", "key": "sess", "compare_type": "REGEX", "value": "^a+$"`)).as("r4").wait("lb1"),
		c("POST", r, rule(`"type": "FILE_TYPE", "compare_type": "EQUAL_TO", "value": "jpg", "key": "ignored"`)).as("r5").wait("lb1").because("rule-key"),
		c("POST", r, rule(`"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "True"`)).as("r6").wait("lb1"),
		c("POST", r, rule(`"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "0"`)).as("r7").wait("lb1"),
		c("POST", r, rule(`"type": "SSL_DN_FIELD", "key": "CN", "compare_type": "ENDS_WITH", "value": "example.com", "admin_state_up": false`)).as("r8").wait("lb1"),
		c("POST", r, rule(`"type": "HEADER", "compare_type": "EQUAL_TO", "value": "x"`)),
		c("POST", r, rule(`"type": "HEADER", "key": "X Bad", "compare_type": "EQUAL_TO", "value": "x"`)),
		c("POST", r, rule(`"type": "HEADER", "key": "X-A", "compare_type": "STARTS_WITH", "value": "a b"`)),
		c("POST", r, rule(`"type": "COOKIE", "key": "c", "compare_type": "EQUAL_TO", "value": "a;b"`)),
		c("POST", r, rule(`"type": "COOKIE", "key": "c", "compare_type": "EQUAL_TO", "value": "a,b"`)).as("r9").wait("lb1"),
		c("POST", r, rule(`"type": "FILE_TYPE", "compare_type": "STARTS_WITH", "value": "jpg"`)),
		c("POST", r, rule(`"type": "PATH", "compare_type": "CONTAINS", "value": ""`)),
		c("POST", r, rule(`"type": "PATH", "compare_type": "CONTAINS", "value": "a\nb"`)),
		c("POST", r, rule(`"type": "PATH", "compare_type": "CONTAINS", "value": "`+strings.Repeat("a", 256)+`"`)),
		c("POST", r, rule(`"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "yes"`)),
		c("POST", r, rule(`"type": "SSL_CONN_HAS_CERT", "compare_type": "STARTS_WITH", "value": "true"`)),
		c("POST", r, rule(`"type": "SSL_CONN_HAS_CERT", "key": "k", "compare_type": "EQUAL_TO", "value": "true"`)),
		c("POST", r, rule(`"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "-1"`)),
		c("POST", r, rule(`"type": "SSL_VERIFY_RESULT", "compare_type": "CONTAINS", "value": "1"`)),
		c("POST", r, rule(`"type": "SSL_DN_FIELD", "compare_type": "EQUAL_TO", "value": "x"`)),
		c("POST", r, rule(`"type": "SSL_DN_FIELD", "key": "1CN", "compare_type": "EQUAL_TO", "value": "x"`)),
		c("POST", r, rule(`"type": "URL", "compare_type": "EQUAL_TO", "value": "x"`)),
		c("POST", r, rule(`"type": "PATH", "compare_type": "LIKE", "value": "x"`)),
		c("POST", r, rule(`"type": "PATH", "value": "x"`)),
		c("POST", r, rule(`"type": "PATH", "compare_type": "EQUAL_TO", "value": "x", "name": "r"`)),
		c("POST", "/v2/lbaas/l7policies/"+otherUUID+"/rules", rule(`"type": "PATH", "compare_type": "EQUAL_TO", "value": "x"`)).because("lookup-404"),
		c("GET", r, "").sorted(),
		c("GET", r+"?type=PATH", ""),
		c("GET", r+"?invert=true&fields=id&fields=type", "").because("bool-filter"),
		c("GET", r+"?tags=t1", ""),
		c("GET", r+"?not-tags-any=t1&sort=type", ""),
		c("GET", r+"?bogus=1", ""),
		c("GET", r+"/{r1}", ""),
		c("GET", r+"/"+otherUUID, ""),
		c("GET", "/v2/lbaas/l7policies/{pol1}/rules/{r1}", "").because("rule-in-path"),
		c("GET", "/v2/lbaas/l7policies/"+otherUUID+"/rules", "").because("lookup-404"),
		c("GET", "/v2/lbaas/l7policies/{pol3}", "").because("rules-order"),
		c("PUT", r+"/{r1}", rule(`"compare_type": "REGEX", "value": "^/api/v[0-9]+"`)).wait("lb1"),
		c("PUT", r+"/{r1}", rule(`"type": "HEADER"`)),
		c("PUT", r+"/{r3}", rule(`"type": "PATH"`)).wait("lb1"),
		c("PUT", r+"/{r2}", rule(`"invert": null, "key": "k"`)).wait("lb1"),
		c("PUT", r+"/{r2}", rule(`"value": null`)).wait("lb1"),
		c("PUT", r+"/{r4}", rule(`"key": null`)),
		c("PUT", r+"/{r4}", rule(`"value": "b c", "compare_type": "EQUAL_TO"`)),
		c("PUT", r+"/{r8}", rule(`"admin_state_up": true, "tags": ["t2"]`)).wait("lb1"),
		c("PUT", r+"/{r8}", rule(`"l7policy_id": "{pol1}"`)),
		c("DELETE", r+"/{r5}", "").wait("lb1"),
		c("GET", r+"/{r5}", ""),
		c("DELETE", r+"/"+otherUUID, ""),
		c("GET", "/v2/lbaas/l7policies/{pol3}", "").because("rules-order"),
		c("GET", "/v2/lbaas/loadbalancers/{lb1}/status", "").sorted().because("octavia-cast-bug"),
	)

	// REGEX values: Python re upstream, RE2 here (on a scratch policy, so
	// the rule only Octavia accepts does not show up in later lists).
	add(c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REJECT", "name": "regex"`)).as("polrx"),
		c("POST", "/v2/lbaas/l7policies/{polrx}/rules", rule(`"type": "PATH", "compare_type": "REGEX", "value": "a(b"`)).because("regex-dialect"),
		c("POST", "/v2/lbaas/l7policies/{polrx}/rules", rule(`"type": "PATH", "compare_type": "REGEX", "value": "^/(?=api)"`)).because("regex-dialect"),
		c("POST", "/v2/lbaas/l7policies/{polrx}/rules", rule(`"type": "PATH", "compare_type": "REGEX", "value": "^/(api|v[0-9]+)/.*\\.json$"`)).settles("/v2/lbaas/l7policies/{polrx}", "l7policy"),
		c("DELETE", "/v2/lbaas/l7policies/{polrx}", ""),
	)

	// The 50-rule limit.
	add(c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{l1}", "action": "REJECT", "name": "full"`)).as("polfull").wait("lb1"))
	for i := 0; i < 50; i++ {
		add(c("POST", "/v2/lbaas/l7policies/{polfull}/rules", rule(fmt.Sprintf(`"type": "PATH", "compare_type": "EQUAL_TO", "value": "/r%d"`, i))).
			settles("/v2/lbaas/l7policies/{polfull}", "l7policy"))
	}
	add(c("POST", "/v2/lbaas/l7policies/{polfull}/rules", rule(`"type": "PATH", "compare_type": "EQUAL_TO", "value": "/one-too-many"`)),
		c("GET", "/v2/lbaas/l7policies/{polfull}/rules?limit=2&sort=value", ""),
		c("DELETE", "/v2/lbaas/l7policies/{polfull}", "").wait("lb1"),
		c("GET", "/v2/lbaas/l7policies/{polfull}/rules", "").because("lookup-404"),
	)

	// Deleting policies compacts positions; the redirect pool is free again.
	add(c("DELETE", "/v2/lbaas/l7policies/{pol2}", "").wait("lb1"),
		c("GET", "/v2/lbaas/l7policies?listener_id={l1}&sort=position&fields=id&fields=position", ""),
		c("DELETE", "/v2/lbaas/l7policies/{pol2}", ""),
		c("DELETE", "/v2/lbaas/l7policies/{pol4}", "").wait("lb1"),
		c("DELETE", "/v2/lbaas/pools/{p1}", "").wait("lb1"),
		c("GET", "/v2/lbaas/l7policies?listener_id={l1}&sort=position&fields=id&fields=position", ""),
		c("DELETE", "/v2/lbaas/listeners/{l2}", "").wait("lb1"),
	)

	// Single-call create with L7 policies and rules.
	graph := `{"loadbalancer": {"name": "graph", "vip_subnet_id": "` + subnetA + `", "listeners": [{"name": "http", "protocol": "HTTP", "protocol_port": 80,
	  "default_pool": {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [{"address": "192.0.2.10", "protocol_port": 8080}],
	    "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}},
	  "l7policies": [
	    {"name": "api", "action": "REDIRECT_TO_POOL", "redirect_pool": {"name": "api"}, "position": 1,
	     "rules": [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}, {"type": "HEADER", "key": "X-V", "compare_type": "EQUAL_TO", "value": "2"}]},
	    {"name": "old", "action": "REDIRECT_TO_URL", "redirect_url": "https://example.com", "position": 1, "rules": [{"type": "HOST_NAME", "compare_type": "ENDS_WITH", "value": ".old"}]},
	    {"name": "deny", "action": "REJECT", "rules": [{"type": "PATH", "compare_type": "REGEX", "value": "^/admin"}]}]}],
	  "pools": [{"name": "api", "protocol": "HTTP", "lb_algorithm": "LEAST_CONNECTIONS", "members": [{"address": "192.0.2.20", "protocol_port": 9000}]}]}}`
	add(c("POST", "/v2/lbaas/loadbalancers", graph).as("graphlb").sorted().because("rules-order", "graph-updated-at", "graph-hm-null"),
		c("POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "`+subnetA+`", "listeners": [{"protocol": "HTTP", "protocol_port": 80,
		  "l7policies": [{"action": "REDIRECT_TO_POOL", "redirect_pool": {"name": "missing"}}]}]}}`),
		c("POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "`+subnetA+`", "listeners": [{"protocol": "HTTP", "protocol_port": 80,
		  "l7policies": [{"action": "REDIRECT_TO_URL"}]}]}}`),
		c("POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "`+subnetA+`", "listeners": [{"protocol": "HTTP", "protocol_port": 80,
		  "l7policies": [{"action": "REJECT", "rules": [{"type": "COOKIE", "compare_type": "EQUAL_TO", "value": "x"}]}]}]}}`),
		c("POST", "/v2/lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "`+subnetA+`", "listeners": [{"protocol": "HTTP", "protocol_port": 80,
		  "l7policies": [{"action": "REJECT", "redirect_pool_id": "`+otherUUID+`"}]}]}}`),
		c("GET", "/v2/lbaas/healthmonitors?fields=type&fields=delay", ""),
		c("GET", "/v2/lbaas/l7policies?name=deny&fields=position&fields=action&fields=name&fields=provisioning_status", "").because("graph-bug"),
		c("GET", "/v2/lbaas/l7policies?name=old&fields=position&fields=redirect_http_code", ""),
	)

	// Tags and their four filters on every taggable resource.
	add(c("POST", "/v2/lbaas/loadbalancers", lbCreate("lbt", `, "tags": ["red", "green"]`)).as("lbt").wait("lbt"),
		c("POST", "/v2/lbaas/listeners", `{"listener": {"loadbalancer_id": "{lbt}", "protocol": "HTTP", "protocol_port": 80, "tags": ["red"]}}`).as("lt").wait("lbt"),
		c("POST", "/v2/lbaas/pools", `{"pool": {"listener_id": "{lt}", "protocol": "HTTP", "lb_algorithm": "SOURCE_IP", "tags": ["green"]}}`).as("pt").wait("lbt"),
		c("POST", "/v2/lbaas/pools/{pt}/members", `{"member": {"address": "192.0.2.30", "protocol_port": 80, "tags": ["red", "blue"]}}`).as("mt").wait("lbt"),
		c("POST", "/v2/lbaas/pools/{pt}/members", `{"member": {"address": "192.0.2.31", "protocol_port": 80, "backup": true, "monitor_port": 81, "monitor_address": "192.0.2.131"}}`).as("mt2").wait("lbt"),
		c("POST", "/v2/lbaas/healthmonitors", `{"healthmonitor": {"pool_id": "{pt}", "type": "TCP", "delay": 3, "timeout": 2, "max_retries": 2, "tags": ["red"]}}`).as("ht").wait("lbt"),
	)
	for _, q := range []string{"tags=red", "tags=red,green", "tags=red&tags=green", "tags-any=green,blue", "not-tags=red", "not-tags-any=red,green", "tags=nothing"} {
		add(c("GET", "/v2/lbaas/loadbalancers?"+q+"&fields=name", "").sorted(),
			c("GET", "/v2/lbaas/listeners?"+q+"&fields=id", "").sorted(),
			c("GET", "/v2/lbaas/pools?"+q+"&fields=id", "").sorted(),
			c("GET", "/v2/lbaas/pools/{pt}/members?"+q+"&fields=id", "").sorted(),
			c("GET", "/v2/lbaas/healthmonitors?"+q+"&fields=id", "").sorted())
	}
	add(c("GET", "/v2/lbaas/pools/{pt}/members/{mt2}", ""),
		c("PUT", "/v2/lbaas/pools/{pt}/members/{mt2}", `{"member": {"backup": null, "monitor_port": null, "weight": 0}}`).wait("lbt"),
		c("PUT", "/v2/lbaas/pools/{pt}/members", `{"members": [{"address": "192.0.2.30", "protocol_port": 80, "weight": 5}, {"address": "192.0.2.32", "protocol_port": 80}]}`).wait("lbt"),
		c("GET", "/v2/lbaas/pools/{pt}/members?fields=address&fields=weight&fields=provisioning_status&sort=address", ""),
		c("GET", "/v2/lbaas/loadbalancers/{lbt}/status", ""),
	)

	add(c("POST", "/v2/lbaas/l7policies", policy(`"listener_id": "{lt}", "action": "REJECT", "name": "embedded", "rules": [{"type": "PATH", "compare_type": "EQUAL_TO", "value": "/e"}]`)).because("rules-embedded"))
	add(c("POST", "/v2/lbaas/loadbalancers", lbCreate("dup", `, "tags": ["a", "b", "a"]`)).because("dup-tags"))

	// Amphorae: Octavia's noop drivers and fulcrum's noop provider both
	// record one amphora per load balancer.
	add(c("GET", "/v2/octavia/amphorae?loadbalancer_id={lbt}&fields=loadbalancer_id&fields=role&fields=status", ""),
		c("GET", "/v2/octavia/amphorae?loadbalancer_id={lbt}", "").asFirst("amp").because("amphorae"),
		c("GET", "/v2/octavia/amphorae/{amp}?fields=role&fields=status&fields=loadbalancer_id", ""),
		c("PUT", "/v2/octavia/amphorae/{amp}/config", "").wait("lbt"),
		c("PUT", "/v2/octavia/amphorae/{amp}/failover", "").wait("lbt"),
		c("GET", "/v2/octavia/amphorae?loadbalancer_id={lbt}&fields=role&fields=status", "").because("amphorae"),
		c("GET", "/v2/octavia/amphorae", "").because("amphorae"),
		c("GET", "/v2/octavia/amphorae?loadbalancer_id="+otherUUID, ""),
		c("GET", "/v2/octavia/amphorae?bogus=1", ""),
		c("GET", "/v2/octavia/amphorae/"+otherUUID, ""),
		c("GET", "/v2/octavia/amphorae/"+otherUUID+"/stats", ""),
		c("PUT", "/v2/octavia/amphorae/"+otherUUID+"/failover", ""),
		c("PUT", "/v2/octavia/amphorae/"+otherUUID+"/config", ""),
		c("DELETE", "/v2/octavia/amphorae/"+otherUUID, ""),
		c("GET", "/v2/lbaas/amphorae", "").because("routing"),
		c("PUT", "/v2/lbaas/loadbalancers/{lbt}/failover", "").wait("lbt"),
		c("GET", "/v2/lbaas/loadbalancers/{lbt}", ""),
	)

	// Errors of every resource.
	for _, res := range []string{"loadbalancers", "listeners", "pools", "healthmonitors", "l7policies", "flavors", "flavorprofiles", "availabilityzoneprofiles"} {
		add(c("GET", "/v2/lbaas/"+res+"/"+otherUUID, ""),
			c("DELETE", "/v2/lbaas/"+res+"/"+otherUUID, ""),
			c("POST", "/v2/lbaas/"+res, `{"bogus": {}}`),
			c("GET", "/v2/lbaas/"+res+"?limit=abc", "").because("webob-400"),
			c("GET", "/v2/lbaas/"+res+"?sort=name:up", "").because("webob-400"),
			c("GET", "/v2/lbaas/"+res+"?marker="+otherUUID, ""))
	}
	add(c("GET", "/v2/lbaas/loadbalancers?limit=-3", "").because("limit-bug"),
		c("GET", "/v2/lbaas/nothing", "").because("routing"))

	// Cascade delete and catalog clean-up.
	add(c("DELETE", "/v2/lbaas/loadbalancers/{lb1}", ""),
		c("DELETE", "/v2/lbaas/loadbalancers/{lb1}?cascade=true", "").waitGone("/v2/lbaas/loadbalancers/{lb1}"),
		c("GET", "/v2/lbaas/l7policies/{pol3}", ""),
		c("GET", "/v2/lbaas/l7policies/{pol3}/rules", "").because("lookup-404"),
		c("DELETE", "/v2/lbaas/loadbalancers/{lbf}?cascade=true", "").waitGone("/v2/lbaas/loadbalancers/{lbf}"),
		c("DELETE", "/v2/lbaas/loadbalancers/{lbz}", "").waitGone("/v2/lbaas/loadbalancers/{lbz}"),
		c("DELETE", "/v2/lbaas/flavors/{f1}", ""),
		c("DELETE", "/v2/lbaas/flavors/{f2}", ""),
		c("DELETE", "/v2/lbaas/availabilityzones/az1", ""),
		c("DELETE", "/v2/lbaas/availabilityzones/az2", ""),
		c("GET", "/v2/lbaas/availabilityzones", ""),
	)
	return s
}
