package apiserver

import "net/http"

// withParams is the routing helper of resourceRoute for the routes below.
func withParams(method string, params *[]string, m map[string]handler, ids ...string) (handler, string, bool) {
	*params = ids
	h, allowed, _ := pick(method, m)
	return h, allowed, true
}

// moreRoute routes L7 policies and rules, flavors, flavor profiles,
// availability zones, their profiles and providers (under /v2 and
// /v2/lbaas, like the core resources).
func (s *Server) moreRoute(rest []string, method string, params *[]string) (handler, string, bool) {
	n := len(rest)
	with := func(m map[string]handler, ids ...string) (handler, string, bool) {
		return withParams(method, params, m, ids...)
	}
	switch rest[0] {
	case "l7policies":
		switch {
		case n == 1:
			return with(map[string]handler{http.MethodGet: s.listL7Policies, http.MethodPost: s.createL7Policy})
		case n == 2:
			return with(map[string]handler{http.MethodGet: s.showL7Policy, http.MethodPut: s.updateL7Policy, http.MethodDelete: s.deleteL7Policy}, rest[1])
		case n == 3 && rest[2] == "rules":
			return with(map[string]handler{http.MethodGet: s.listL7Rules, http.MethodPost: s.createL7Rule}, rest[1])
		case n == 4 && rest[2] == "rules":
			return with(map[string]handler{http.MethodGet: s.showL7Rule, http.MethodPut: s.updateL7Rule, http.MethodDelete: s.deleteL7Rule}, rest[1], rest[3])
		}
	case "flavors":
		switch n {
		case 1:
			return with(map[string]handler{http.MethodGet: s.listFlavors, http.MethodPost: s.createFlavor})
		case 2:
			return with(map[string]handler{http.MethodGet: s.showFlavor, http.MethodPut: s.updateFlavor, http.MethodDelete: s.deleteFlavor}, rest[1])
		}
	case "flavorprofiles":
		switch n {
		case 1:
			return with(map[string]handler{http.MethodGet: s.listFlavorProfiles, http.MethodPost: s.createFlavorProfile})
		case 2:
			return with(map[string]handler{http.MethodGet: s.showFlavorProfile, http.MethodPut: s.updateFlavorProfile, http.MethodDelete: s.deleteFlavorProfile}, rest[1])
		}
	case "availabilityzones":
		switch n {
		case 1:
			return with(map[string]handler{http.MethodGet: s.listAvailabilityZones, http.MethodPost: s.createAvailabilityZone})
		case 2:
			return with(map[string]handler{http.MethodGet: s.showAvailabilityZone, http.MethodPut: s.updateAvailabilityZone, http.MethodDelete: s.deleteAvailabilityZone}, rest[1])
		}
	case "availabilityzoneprofiles":
		switch n {
		case 1:
			return with(map[string]handler{http.MethodGet: s.listAvailabilityZoneProfiles, http.MethodPost: s.createAvailabilityZoneProfile})
		case 2:
			return with(map[string]handler{http.MethodGet: s.showAvailabilityZoneProfile, http.MethodPut: s.updateAvailabilityZoneProfile, http.MethodDelete: s.deleteAvailabilityZoneProfile}, rest[1])
		}
	case "providers":
		switch {
		case n == 1:
			return with(map[string]handler{http.MethodGet: s.listProviders})
		case n == 3 && rest[2] == "flavor_capabilities":
			return with(map[string]handler{http.MethodGet: s.flavorCapabilities}, rest[1])
		case n == 3 && rest[2] == "availability_zone_capabilities":
			return with(map[string]handler{http.MethodGet: s.availabilityZoneCapabilities}, rest[1])
		}
	}
	return nil, "", false
}

// amphoraRoute routes /v2/octavia/amphorae.
func (s *Server) amphoraRoute(rest []string, method string, params *[]string) (handler, string, bool) {
	n := len(rest)
	if rest[0] != "amphorae" {
		return nil, "", false
	}
	with := func(m map[string]handler, ids ...string) (handler, string, bool) {
		return withParams(method, params, m, ids...)
	}
	switch {
	case n == 1:
		return with(map[string]handler{http.MethodGet: s.listAmphorae})
	case n == 2:
		return with(map[string]handler{http.MethodGet: s.showAmphora, http.MethodDelete: s.deleteAmphora}, rest[1])
	case n == 3 && rest[2] == "stats":
		return with(map[string]handler{http.MethodGet: s.amphoraStats}, rest[1])
	case n == 3 && rest[2] == "failover":
		return with(map[string]handler{http.MethodPut: s.failoverAmphora}, rest[1])
	case n == 3 && rest[2] == "config":
		return with(map[string]handler{http.MethodPut: s.configAmphora}, rest[1])
	}
	return nil, "", false
}
