package apiserver

import "github.com/fulcrumlb/fulcrum/internal/lb"

// Request types and list columns of flavors, flavor profiles, availability
// zones, their profiles and amphorae.

// addCatalog adds the flavor, availability zone and profile types and the
// amphora columns.
func (s *schemas) addCatalog() {
	name, desc := aStr("name", lb.MaxNameLen), aStr("description", lb.MaxNameLen)
	notNull := func(a attr) attr { a.nullMsg = "None is not a valid option for " + a.name; return a }
	// A null flavor name would break the unique name (Octavia fails with a
	// 500 there): refused like a null profile name.
	s.flavorPost = body{arg: "flavor_", wrapper: "flavor",
		inner: newSchema(must(name), desc, aBool("enabled"), must(aUUID("flavor_profile_id")))}
	s.flavorPut = body{arg: "flavor_", wrapper: "flavor", inner: newSchema(notNull(name), desc, aBool("enabled"))}
	profile := func(data string, post bool) *schema {
		n, p, d := aStr("name", 255), aStr("provider_name", 255), aStr(data, 4096)
		if post {
			return newSchema(must(n), must(p), must(d))
		}
		return newSchema(notNull(n), notNull(p), notNull(d))
	}
	s.flavorProfilePost = body{arg: "flavor_profile_", wrapper: "flavorprofile", inner: profile("flavor_data", true)}
	s.flavorProfilePut = body{arg: "flavor_profile_", wrapper: "flavorprofile", inner: profile("flavor_data", false)}
	s.azPost = body{arg: "availability_zone_", wrapper: "availability_zone",
		inner: newSchema(must(name), desc, aBool("enabled"), must(aUUID("availability_zone_profile_id")))}
	s.azPut = body{arg: "availability_zone_", wrapper: "availability_zone", inner: newSchema(desc, aBool("enabled"))}
	s.azProfilePost = body{arg: "availability_zone_profile_", wrapper: "availability_zone_profile",
		inner: profile("availability_zone_data", true)}
	s.azProfilePut = body{arg: "availability_zone_profile_", wrapper: "availability_zone_profile",
		inner: profile("availability_zone_data", false)}

	s.flavorColumns = columnSet("id name description enabled flavor_profile_id")
	s.flavorProfileColumns = columnSet("id name provider_name flavor_data")
	s.azColumns = columnSet("name description enabled availability_zone_profile_id")
	s.azProfileColumns = columnSet("id name provider_name availability_zone_data")
	s.amphoraColumns = columnSet("id project_id loadbalancer_id compute_id lb_network_ip vrrp_ip ha_ip vrrp_port_id ha_port_id " +
		"cert_expiration cert_busy role status vrrp_interface vrrp_id vrrp_priority cached_zone image_id compute_flavor " +
		"created_at updated_at")
}
