package apiserver

import (
	"net/http"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/policy"
)

type handler func(*request) error

// route maps a path and method to a handler. It returns the handler (nil
// when the path exists but the method does not), the methods the path
// allows ("" when the path is unknown) and the path parameters.
//
// Octavia mounts the same API at /v2 and /v2.0, each resource both under
// lbaas/ and directly, and ignores a .json suffix on the last element.
func (s *Server) route(path, method string) (handler, string, []string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if last := len(segs) - 1; strings.HasSuffix(segs[last], ".json") {
		segs[last] = strings.TrimSuffix(segs[last], ".json")
	}
	for _, s := range segs {
		if s == "" {
			return nil, "", nil
		}
	}
	if segs[0] != "v2" && segs[0] != "v2.0" {
		return nil, "", nil
	}
	rest := segs[1:]
	octavia := false
	if len(rest) > 0 && rest[0] == "lbaas" {
		rest = rest[1:]
	} else if len(rest) > 0 && rest[0] == "octavia" {
		rest, octavia = rest[1:], true
	}
	if len(rest) == 0 {
		return pick(method, map[string]handler{http.MethodGet: s.versionRoot})
	}
	var params []string
	var h handler
	var allowed string
	if octavia {
		// Only the amphora API lives under octavia/.
		h, allowed, _ = s.amphoraRoute(rest, method, &params)
	} else {
		h, allowed, _ = s.resourceRoute(rest, method, &params)
		if allowed == "" {
			h, allowed, _ = s.moreRoute(rest, method, &params)
		}
	}
	return h, allowed, params
}

func (s *Server) resourceRoute(rest []string, method string, params *[]string) (handler, string, bool) {
	n := len(rest)
	with := func(m map[string]handler, ids ...string) (handler, string, bool) {
		*params = ids
		h, allowed, _ := pick(method, m)
		return h, allowed, true
	}
	switch rest[0] {
	case "loadbalancers":
		switch {
		case n == 1:
			return with(map[string]handler{http.MethodGet: s.listLoadBalancers, http.MethodPost: s.createLoadBalancer})
		case n == 2:
			return with(map[string]handler{http.MethodGet: s.showLoadBalancer, http.MethodPut: s.updateLoadBalancer, http.MethodDelete: s.deleteLoadBalancer}, rest[1])
		case n == 3 && (rest[2] == "status" || rest[2] == "statuses"):
			return with(map[string]handler{http.MethodGet: s.loadBalancerStatus}, rest[1])
		case n == 3 && rest[2] == "stats":
			return with(map[string]handler{http.MethodGet: s.loadBalancerStats}, rest[1])
		case n == 3 && rest[2] == "failover":
			return with(map[string]handler{http.MethodPut: s.failoverLoadBalancer}, rest[1])
		}
	case "listeners":
		switch {
		case n == 1:
			return with(map[string]handler{http.MethodGet: s.listListeners, http.MethodPost: s.createListener})
		case n == 2:
			return with(map[string]handler{http.MethodGet: s.showListener, http.MethodPut: s.updateListener, http.MethodDelete: s.deleteListener}, rest[1])
		case n == 3 && rest[2] == "stats":
			return with(map[string]handler{http.MethodGet: s.listenerStats}, rest[1])
		}
	case "pools":
		switch {
		case n == 1:
			return with(map[string]handler{http.MethodGet: s.listPools, http.MethodPost: s.createPool})
		case n == 2:
			return with(map[string]handler{http.MethodGet: s.showPool, http.MethodPut: s.updatePool, http.MethodDelete: s.deletePool}, rest[1])
		case n == 3 && rest[2] == "members":
			return with(map[string]handler{http.MethodGet: s.listMembers, http.MethodPost: s.createMember, http.MethodPut: s.batchUpdateMembers}, rest[1])
		case n == 4 && rest[2] == "members":
			return with(map[string]handler{http.MethodGet: s.showMember, http.MethodPut: s.updateMember, http.MethodDelete: s.deleteMember}, rest[1], rest[3])
		}
	case "quotas":
		if s.quotaAPI != nil && n <= 3 {
			serve := func(q *request) error {
				s.quotaAPI.ServeHTTP(q.w, q.r.WithContext(q.ctx))
				return nil
			}
			return with(map[string]handler{http.MethodGet: serve, http.MethodPut: serve, http.MethodDelete: serve})
		}
	case "healthmonitors":
		switch {
		case n == 1:
			return with(map[string]handler{http.MethodGet: s.listHealthMonitors, http.MethodPost: s.createHealthMonitor})
		case n == 2:
			return with(map[string]handler{http.MethodGet: s.showHealthMonitor, http.MethodPut: s.updateHealthMonitor, http.MethodDelete: s.deleteHealthMonitor}, rest[1])
		}
	}
	return nil, "", false
}

func pick(method string, m map[string]handler) (handler, string, []string) {
	var allowed []string
	for _, name := range [...]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		if _, ok := m[name]; ok {
			allowed = append(allowed, name)
		}
	}
	return m[method], strings.Join(allowed, ", "), nil
}

// versionRoot answers GET /v2 (and /v2.0, /v2/lbaas, /v2/octavia) with the
// JSON string "v2", as Octavia does.
func (s *Server) versionRoot(q *request) error {
	writeRaw(q.w, http.StatusOK, []byte(`"v2"`))
	return nil
}

// versionDates returns the v2.N release dates of Octavia's version document.
func versionDates() [31]string {
	return [...]string{
		"2016-12-11T00:00:00Z", "2018-04-20T00:00:00Z", "2018-07-31T00:00:00Z", "2018-12-18T00:00:00Z",
		"2018-12-19T00:00:00Z", "2019-01-21T00:00:00Z", "2019-01-25T00:00:00Z", "2018-01-25T12:00:00Z",
		"2019-02-12T00:00:00Z", "2019-03-04T00:00:00Z", "2019-03-05T00:00:00Z", "2019-06-24T00:00:00Z",
		"2019-09-11T00:00:00Z", "2019-09-13T00:00:00Z", "2019-11-10T00:00:00Z", "2020-03-10T00:00:00Z",
		"2020-03-15T00:00:00Z", "2020-04-29T00:00:00Z", "2020-04-29T01:00:00Z", "2020-05-12T00:00:00Z",
		"2020-08-02T00:00:00Z", "2020-09-03T00:00:00Z", "2020-09-04T00:00:00Z", "2020-09-07T00:00:00Z",
		"2020-10-15T00:00:00Z", "2021-10-02T00:00:00Z", "2022-08-29T00:00:00Z", "2023-05-05T00:00:00Z",
		"2023-11-08T00:00:00Z", "2024-10-15T00:00:00Z", "2025-02-26T00:00:00Z",
	}
}

type versionLink struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

type version struct {
	ID      string        `json:"id"`
	Status  string        `json:"status"`
	Updated string        `json:"updated"`
	Links   []versionLink `json:"links"`
}

// versions builds the document served at /: v2.0 to v2.30, the last one
// CURRENT, every link pointing at <request URL of />v2.
func (s *Server) versions(r *http.Request) map[string][]version {
	href := requestBase(r) + "/v2"
	dates := versionDates()
	out := make([]version, len(dates))
	for i, d := range dates {
		status := "SUPPORTED"
		if i == len(dates)-1 {
			status = "CURRENT"
		}
		out[i] = version{ID: "v2." + itoa(i), Status: status, Updated: d, Links: []versionLink{{Href: href, Rel: "self"}}}
	}
	return map[string][]version{"versions": out}
}

// requestBase is scheme://host of the request.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// NoAuth is Octavia's noauth strategy: the caller's project comes from
// X-Project-Id (or X-Tenant-Id, X-Tenant), the user from X-User-Id, roles
// from X-Roles, and every caller is admin; quotas are not enforced.
type NoAuth struct{}

// Authenticate never fails.
func (NoAuth) Authenticate(r *http.Request) (policy.Caller, error) {
	c := policy.Caller{IsAdmin: true, NoAuth: true, UserID: r.Header.Get("X-User-Id")}
	for _, h := range []string{"X-Project-Id", "X-Tenant-Id", "X-Tenant"} {
		if v := strings.TrimSpace(r.Header.Get(h)); v != "" {
			c.ProjectID = v
			break
		}
	}
	for _, role := range strings.Split(r.Header.Get("X-Roles"), ",") {
		if role = strings.TrimSpace(role); role != "" {
			c.Roles = append(c.Roles, role)
		}
	}
	return c, nil
}
