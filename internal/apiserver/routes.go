package apiserver

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/policy"
)

// handler serves one API call; an error is answered as a fault.
type handler func(*request) error

// canonicalPath maps a request path to the form the routes are registered
// in: Octavia serves the API at /v2 and /v2.0, every resource both under
// lbaas/ and directly, the amphora API under octavia/, and ignores a .json
// suffix on the last element and slashes at either end. So /v2.0/pools.json
// and /v2/lbaas/pools/ are both /v2/lbaas/pools, and /v2 is /v2/lbaas. The
// root (/) stays itself. ok is false when no route can match: another
// version, an empty, "." or ".." element.
func canonicalPath(path string) (string, bool) {
	if path == "/" {
		return path, true
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	last := len(segs) - 1
	segs[last] = strings.TrimSuffix(segs[last], ".json")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return "", false
		}
	}
	if segs[0] != "v2" && segs[0] != "v2.0" {
		return "", false
	}
	area, rest := "lbaas", segs[1:]
	if len(rest) > 0 && (rest[0] == "lbaas" || rest[0] == "octavia") {
		area, rest = rest[0], rest[1:]
	}
	return "/v2/" + strings.Join(append([]string{area}, rest...), "/"), true
}

// withPath is r (same context) addressed to path.
func withPath(r *http.Request, path string) *http.Request {
	u := *r.URL
	u.Path, u.RawPath = path, ""
	routed := r.WithContext(r.Context())
	routed.URL = &u
	return routed
}

func errNoRoute() error {
	return &apiError{status: http.StatusNotFound, msg: "The resource could not be found."}
}

// routes registers every endpoint, in canonical form (canonicalPath), on
// one router whose misses are Octavia faults.
func (s *Server) routes(quotas QuotaAPI) *httpapi.Router {
	rt := &httpapi.Router{
		NotFound: func(w http.ResponseWriter, r *http.Request) { s.writeError(requestOf(r), errNoRoute()) },
		MethodNotAllowed: func(w http.ResponseWriter, r *http.Request, _ string) {
			s.writeError(requestOf(r), &apiError{status: http.StatusMethodNotAllowed,
				msg: "The method " + r.Method + " is not allowed for this resource."})
		},
	}
	rt.HandleFunc("GET /{$}", s.serveVersions)
	for _, area := range []string{"lbaas", "octavia"} {
		rt.Handle("GET /v2/"+area, s.endpoint(s.versionRoot))
	}
	type route struct {
		pattern string
		h       handler
	}
	const (
		lbs       = "/v2/lbaas/loadbalancers"
		listeners = "/v2/lbaas/listeners"
		pools     = "/v2/lbaas/pools"
		members   = pools + "/{pool_id}/members"
		monitors  = "/v2/lbaas/healthmonitors"
		policies  = "/v2/lbaas/l7policies"
		rules     = policies + "/{policy_id}/rules"
		flavors   = "/v2/lbaas/flavors"
		fps       = "/v2/lbaas/flavorprofiles"
		zones     = "/v2/lbaas/availabilityzones"
		zps       = "/v2/lbaas/availabilityzoneprofiles"
		providers = "/v2/lbaas/providers"
		amphorae  = "/v2/octavia/amphorae"
	)
	for _, r := range []route{
		{"GET " + lbs, s.listLoadBalancers},
		{"POST " + lbs, s.createLoadBalancer},
		{"GET " + lbs + "/{id}", s.showLoadBalancer},
		{"PUT " + lbs + "/{id}", s.updateLoadBalancer},
		{"DELETE " + lbs + "/{id}", s.deleteLoadBalancer},
		{"GET " + lbs + "/{id}/status", s.loadBalancerStatus},
		{"GET " + lbs + "/{id}/statuses", s.loadBalancerStatus},
		{"GET " + lbs + "/{id}/stats", s.loadBalancerStats},
		{"PUT " + lbs + "/{id}/failover", s.failoverLoadBalancer},

		{"GET " + listeners, s.listListeners},
		{"POST " + listeners, s.createListener},
		{"GET " + listeners + "/{id}", s.showListener},
		{"PUT " + listeners + "/{id}", s.updateListener},
		{"DELETE " + listeners + "/{id}", s.deleteListener},
		{"GET " + listeners + "/{id}/stats", s.listenerStats},

		{"GET " + pools, s.listPools},
		{"POST " + pools, s.createPool},
		{"GET " + pools + "/{id}", s.showPool},
		{"PUT " + pools + "/{id}", s.updatePool},
		{"DELETE " + pools + "/{id}", s.deletePool},
		{"GET " + members, s.listMembers},
		{"POST " + members, s.createMember},
		{"PUT " + members, s.batchUpdateMembers},
		{"GET " + members + "/{id}", s.showMember},
		{"GET " + members + "/{id}/stats", s.memberStats},
		{"PUT " + members + "/{id}", s.updateMember},
		{"DELETE " + members + "/{id}", s.deleteMember},

		{"GET " + monitors, s.listHealthMonitors},
		{"POST " + monitors, s.createHealthMonitor},
		{"GET " + monitors + "/{id}", s.showHealthMonitor},
		{"PUT " + monitors + "/{id}", s.updateHealthMonitor},
		{"DELETE " + monitors + "/{id}", s.deleteHealthMonitor},

		{"GET " + policies, s.listL7Policies},
		{"POST " + policies, s.createL7Policy},
		{"GET " + policies + "/{id}", s.showL7Policy},
		{"PUT " + policies + "/{id}", s.updateL7Policy},
		{"DELETE " + policies + "/{id}", s.deleteL7Policy},
		{"GET " + rules, s.listL7Rules},
		{"POST " + rules, s.createL7Rule},
		{"GET " + rules + "/{id}", s.showL7Rule},
		{"PUT " + rules + "/{id}", s.updateL7Rule},
		{"DELETE " + rules + "/{id}", s.deleteL7Rule},

		{"GET " + flavors, s.listFlavors},
		{"POST " + flavors, s.createFlavor},
		{"GET " + flavors + "/{id}", s.showFlavor},
		{"PUT " + flavors + "/{id}", s.updateFlavor},
		{"DELETE " + flavors + "/{id}", s.deleteFlavor},
		{"GET " + fps, s.listFlavorProfiles},
		{"POST " + fps, s.createFlavorProfile},
		{"GET " + fps + "/{id}", s.showFlavorProfile},
		{"PUT " + fps + "/{id}", s.updateFlavorProfile},
		{"DELETE " + fps + "/{id}", s.deleteFlavorProfile},
		{"GET " + zones, s.listAvailabilityZones},
		{"POST " + zones, s.createAvailabilityZone},
		{"GET " + zones + "/{id}", s.showAvailabilityZone},
		{"PUT " + zones + "/{id}", s.updateAvailabilityZone},
		{"DELETE " + zones + "/{id}", s.deleteAvailabilityZone},
		{"GET " + zps, s.listAvailabilityZoneProfiles},
		{"POST " + zps, s.createAvailabilityZoneProfile},
		{"GET " + zps + "/{id}", s.showAvailabilityZoneProfile},
		{"PUT " + zps + "/{id}", s.updateAvailabilityZoneProfile},
		{"DELETE " + zps + "/{id}", s.deleteAvailabilityZoneProfile},
		{"GET " + providers, s.listProviders},
		{"GET " + providers + "/{id}/flavor_capabilities", s.flavorCapabilities},
		{"GET " + providers + "/{id}/availability_zone_capabilities", s.availabilityZoneCapabilities},

		{"GET " + amphorae, s.listAmphorae},
		{"GET " + amphorae + "/{id}", s.showAmphora},
		{"DELETE " + amphorae + "/{id}", s.deleteAmphora},
		{"GET " + amphorae + "/{id}/stats", s.amphoraStats},
		{"PUT " + amphorae + "/{id}/failover", s.failoverAmphora},
		{"PUT " + amphorae + "/{id}/config", s.configAmphora},
	} {
		rt.Handle(r.pattern, s.endpoint(r.h))
	}
	if quotas != nil {
		quotas.Register(rt, "/v2/lbaas/quotas", s.authenticated)
	}
	return rt
}

// endpoint adapts an API handler to the router: the caller is
// authenticated, the query string parsed (strictly: a malformed one is a
// 400, never an unfiltered list), then the handler runs; its error is
// answered as a fault.
func (s *Server) endpoint(h handler) http.Handler {
	return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		q := requestOf(r)
		q.route = r
		ok, err := s.authenticate(q)
		if ok {
			if q.query, err = httpapi.Query(q.r); err != nil {
				err = badQuery(err)
			} else {
				err = h(q)
			}
		}
		if err != nil {
			s.writeError(q, apiErrorOf(err))
		}
	})
}

// authenticated adapts a handler of another package (the quota API) to the
// router: it runs with the caller in its request's context.
func (s *Server) authenticated(h http.Handler) http.Handler {
	return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		q := requestOf(r)
		q.route = r
		ok, err := s.authenticate(q)
		if err != nil {
			s.writeError(q, err)
		}
		if ok {
			h.ServeHTTP(q.w, r.WithContext(policy.WithCaller(r.Context(), q.caller)))
		}
	})
}

// badQuery is the 400 of a query string that cannot be parsed as a whole.
func badQuery(err error) error {
	if errors.Is(err, httpapi.ErrTooManyParameters) {
		return badRequest("The query string has more than 10000 parameters.")
	}
	return badRequest("The query string is not valid: %s.", err)
}

// first returns the first value of a query parameter ("" when absent).
func first(q url.Values, k string) string {
	if vs := q[k]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}
