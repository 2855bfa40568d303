package quota

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Authorizer is the policy check the quota API needs.
type Authorizer interface {
	Authorize(c policy.Caller, rule policy.Rule, ownerProject string) error
}

// API serves Octavia's quota endpoints: the quotas of every project
// (GET), the deployment defaults (GET defaults), one project's effective
// quota (GET, PUT, DELETE {project}) and its defaults (GET
// {project}/default). The caller comes from policy.CallerFrom.
type API struct {
	store store.Store
	e     *Enforcer
	authz Authorizer

	once       sync.Once
	standalone *httpapi.Router
}

// NewAPI returns the quota API handler.
func NewAPI(st store.Store, e *Enforcer, authz Authorizer) *API {
	return &API{store: st, e: e, authz: authz}
}

// Prefixes are the collection paths Octavia serves the quota API at.
var Prefixes = []string{"/v2/lbaas/quotas", "/v2.0/lbaas/quotas", "/v2/quotas", "/v2.0/quotas"}

// Register adds the API's routes below prefix (a collection path such as
// "/v2/lbaas/quotas") to rt, each handler wrapped by wrap (nil: none).
func (a *API) Register(rt *httpapi.Router, prefix string, wrap func(http.Handler) http.Handler) {
	if wrap == nil {
		wrap = func(h http.Handler) http.Handler { return h }
	}
	for _, r := range []struct {
		pattern string
		h       func(http.ResponseWriter, *http.Request, policy.Caller) error
	}{
		{"GET " + prefix, a.list},
		{"GET " + prefix + "/{project}", a.get},
		{"PUT " + prefix + "/{project}", a.put},
		{"DELETE " + prefix + "/{project}", a.reset},
		{"GET " + prefix + "/{project}/default", a.projectDefaults},
	} {
		rt.Handle(r.pattern, wrap(a.endpoint(r.h)))
	}
}

// ServeHTTP serves the API alone, below each of Prefixes.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.once.Do(func() {
		a.standalone = &httpapi.Router{
			NotFound: func(w http.ResponseWriter, _ *http.Request) {
				writeFault(w, &fault{http.StatusNotFound, "The resource could not be found."})
			},
			MethodNotAllowed: func(w http.ResponseWriter, _ *http.Request, _ string) {
				writeFault(w, &fault{http.StatusMethodNotAllowed, "Method not allowed."})
			},
		}
		for _, p := range Prefixes {
			a.Register(a.standalone, p, nil)
		}
	})
	a.standalone.ServeHTTP(w, r)
}

// endpoint runs h with the caller of the request and answers its error as
// a fault.
func (a *API) endpoint(h func(http.ResponseWriter, *http.Request, policy.Caller) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := policy.CallerFrom(r.Context())
		if !ok {
			writeFault(w, &fault{http.StatusUnauthorized, "Authentication required"})
			return
		}
		if err := h(w, r, c); err != nil {
			writeFault(w, err)
		}
	})
}

// fault is Octavia's error, answered with its body (faultBody).
type fault struct {
	code int
	msg  string
}

func (f *fault) Error() string { return f.msg }

type faultBody struct {
	FaultCode   string  `json:"faultcode"`
	FaultString string  `json:"faultstring"`
	DebugInfo   *string `json:"debuginfo"`
}

func writeFault(w http.ResponseWriter, err error) {
	var f *fault
	switch {
	case errors.As(err, &f):
	case errors.Is(err, store.ErrCannotWrite):
		f = &fault{http.StatusServiceUnavailable, "The service cannot store changes at the moment (the store cannot write); nothing was changed. Please try again later."}
	default:
		f = &fault{http.StatusInternalServerError, "An unknown exception occurred."}
	}
	code := "Client"
	if f.code >= 500 {
		code = "Server"
	}
	httpapi.WriteJSON(w, f.code, faultBody{FaultCode: code, FaultString: f.msg})
}

var errForbidden = &fault{http.StatusForbidden, policy.DeniedMessage}

func (a *API) authorize(c policy.Caller, action policy.Action, owner string) error {
	err := a.authz.Authorize(c, policy.RuleFor(policy.Quota, action), owner)
	if errors.Is(err, policy.ErrDenied) {
		return errForbidden
	}
	return err
}

// quotaWire is a project's quota with both spellings of the keys Octavia
// accepts (loadbalancer and load_balancer, healthmonitor and
// health_monitor); a nil limit (a stored row's default) is null. Fields are
// in the order Octavia's encoder writes the keys.
type quotaWire struct {
	HealthMonitor  *int   `json:"health_monitor"`
	HealthMonitor2 *int   `json:"healthmonitor"`
	L7Policy       *int   `json:"l7policy"`
	L7Rule         *int   `json:"l7rule"`
	Listener       *int   `json:"listener"`
	LoadBalancer   *int   `json:"load_balancer"`
	LoadBalancer2  *int   `json:"loadbalancer"`
	Member         *int   `json:"member"`
	Pool           *int   `json:"pool"`
	ProjectID      string `json:"project_id"`
	TenantID       string `json:"tenant_id"`
}

func toQuotaWire(project string, limits [len(lb.QuotaLimits{})]*int) quotaWire {
	return quotaWire{
		HealthMonitor: limits[lb.QuotaHealthMonitor], HealthMonitor2: limits[lb.QuotaHealthMonitor],
		L7Policy: limits[lb.QuotaL7Policy], L7Rule: limits[lb.QuotaL7Rule], Listener: limits[lb.QuotaListener],
		LoadBalancer: limits[lb.QuotaLoadBalancer], LoadBalancer2: limits[lb.QuotaLoadBalancer],
		Member: limits[lb.QuotaMember], Pool: limits[lb.QuotaPool], ProjectID: project, TenantID: project,
	}
}

type quotaBody struct {
	Quota quotaWire `json:"quota"`
}

type quotasBody struct {
	Quotas      []quotaWire `json:"quotas"`
	QuotasLinks []struct{}  `json:"quotas_links"`
}

func aliasOf(r lb.QuotaResource) string {
	switch r {
	case lb.QuotaLoadBalancer:
		return "load_balancer"
	case lb.QuotaHealthMonitor:
		return "health_monitor"
	}
	return ""
}

func ptrs(l lb.QuotaLimits) [len(lb.QuotaLimits{})]*int {
	var out [len(lb.QuotaLimits{})]*int
	for i := range l {
		v := l[i]
		out[i] = &v
	}
	return out
}

func writeQuota(w http.ResponseWriter, code int, project string, limits lb.QuotaLimits) {
	httpapi.WriteJSON(w, code, quotaBody{Quota: toQuotaWire(project, ptrs(limits))})
}

// badQuery is the 400 of a query string that cannot be parsed as a whole.
func badQuery(err error) error {
	if errors.Is(err, httpapi.ErrTooManyParameters) {
		return &fault{http.StatusBadRequest, "The query string has more than 10000 parameters."}
	}
	return &fault{http.StatusBadRequest, fmt.Sprintf("The query string is not valid: %s.", err)}
}

// list is GET /quotas: every stored quota the caller may see (its own
// project's unless it may read all), optionally of one project.
func (a *API) list(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	query, err := httpapi.Query(r)
	if err != nil {
		return badQuery(err)
	}
	project := query.Get("project_id")
	if project == "" {
		project = query.Get("tenant_id")
	}
	var filters []store.Filter
	if a.authz.Authorize(c, policy.RuleFor(policy.Quota, policy.GetAllGlobal), "") == nil {
		if project != "" {
			filters = append(filters, store.F("id", project))
		}
	} else {
		if project == "" {
			project = c.ProjectID
		}
		if project == "" {
			return errForbidden
		}
		if err := a.authorize(c, policy.GetAll, project); err != nil {
			return err
		}
		filters = append(filters, store.F("id", project))
	}
	out := quotasBody{Quotas: []quotaWire{}, QuotasLinks: []struct{}{}}
	err = a.store.View(r.Context(), func(tx store.Tx) error {
		rows, err := tx.Quotas().List(r.Context(), store.Query{Filters: filters})
		for _, q := range rows {
			out.Quotas = append(out.Quotas, toQuotaWire(q.ProjectID, q.Limits))
		}
		return err
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// projectDefaults is GET /quotas/{project}/default.
func (a *API) projectDefaults(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	project := r.PathValue("project")
	if err := a.authorize(c, policy.GetDefaults, project); err != nil {
		return err
	}
	writeQuota(w, http.StatusOK, project, a.e.defaults)
	return nil
}

// get is GET /quotas/{project}: the project's effective quota; GET
// /quotas/defaults is the deployment defaults, for anyone. ("defaults" is
// matched here rather than by a route of its own: a literal route beside
// the {project} routes of other methods would make the router's 405
// fallback for it ambiguous.)
func (a *API) get(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	project := r.PathValue("project")
	if project == "defaults" {
		writeQuota(w, http.StatusOK, "defaults", a.e.defaults)
		return nil
	}
	if err := a.authorize(c, policy.GetOne, project); err != nil {
		return err
	}
	var q *lb.Quota
	err := a.store.View(r.Context(), func(tx store.Tx) error {
		var err error
		q, err = tx.Quotas().Get(r.Context(), project)
		if errors.Is(err, store.ErrNotFound) {
			q, err = nil, nil
		}
		return err
	})
	if err != nil {
		return err
	}
	writeQuota(w, http.StatusOK, project, q.Effective(a.e.defaults))
	return nil
}

// put is PUT /quotas/{project}: 202 with the effective quota.
func (a *API) put(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	project := r.PathValue("project")
	if err := a.authorize(c, policy.Put, project); err != nil {
		return err
	}
	set, err := decodeQuota(r)
	if err != nil {
		return err
	}
	var q *lb.Quota
	err = a.store.Update(r.Context(), func(tx store.Tx) error {
		var err error
		if q, err = lockRow(r.Context(), tx, project); err != nil {
			return err
		}
		for res, v := range set {
			q.Limits[res] = v
		}
		return tx.Quotas().Update(r.Context(), q)
	})
	if err != nil {
		return err
	}
	writeQuota(w, http.StatusAccepted, project, q.Effective(a.e.defaults))
	return nil
}

// reset is DELETE /quotas/{project}: every limit back to the default.
func (a *API) reset(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	project := r.PathValue("project")
	if err := a.authorize(c, policy.Delete, project); err != nil {
		return err
	}
	err := a.store.Update(r.Context(), func(tx store.Tx) error {
		q, err := tx.Quotas().Lock(r.Context(), project)
		if errors.Is(err, store.ErrNotFound) {
			return &fault{http.StatusNotFound, fmt.Sprintf("Quotas %s not found.", project)}
		}
		if err != nil {
			return err
		}
		q.Limits = lb.Quota{}.Limits
		return tx.Quotas().Update(r.Context(), q)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// decodeQuota reads {"quota": {...}}: each key (either spelling) an integer
// -1…2000000000 (a JSON number or a numeric string) or null (= default).
// The map holds only the keys sent.
func decodeQuota(r *http.Request) (map[lb.QuotaResource]*int, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 114688))
	if err != nil {
		return nil, &fault{http.StatusBadRequest, "Request is not in valid JSON format"}
	}
	var outer map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&outer); err != nil {
		return nil, &fault{http.StatusBadRequest, "Request is not in valid JSON format"}
	}
	var unknownTop []string
	for k := range outer {
		if k != "quota" {
			unknownTop = append(unknownTop, k)
		}
	}
	if len(unknownTop) > 0 {
		slices.Sort(unknownTop)
		return nil, &fault{http.StatusBadRequest, "Unknown attribute for argument quotas: " + strings.Join(unknownTop, ", ")}
	}
	raw, ok := outer["quota"]
	if !ok {
		return nil, &fault{http.StatusBadRequest, "Invalid input for field/attribute quota. Value: 'None'. Mandatory field missing."}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, &fault{http.StatusBadRequest, "Request is not in valid JSON format"}
	}
	keys := map[string]lb.QuotaResource{}
	for _, res := range lb.QuotaResources {
		keys[res.Key()] = res
		if alias := aliasOf(res); alias != "" {
			keys[alias] = res
		}
	}
	out := map[lb.QuotaResource]*int{}
	var unknown []string
	for k, v := range fields {
		res, ok := keys[k]
		if !ok {
			unknown = append(unknown, k)
			continue
		}
		n, err := quotaValue(k, v)
		if err != nil {
			return nil, err
		}
		if prev, dup := out[res]; dup && !samePtr(prev, n) {
			return nil, &fault{http.StatusBadRequest, fmt.Sprintf("Invalid input for field/attribute %s. Value: '%s'. Conflicting values for %s and its alias.", k, string(v), res.Key())}
		}
		out[res] = n
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, &fault{http.StatusBadRequest, "Unknown attribute for argument quotas.quota: " + strings.Join(unknown, ", ")}
	}
	return out, nil
}

func samePtr(a, b *int) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func quotaValue(key string, v json.RawMessage) (*int, error) {
	s := strings.TrimSpace(string(v))
	if s == "null" {
		return nil, nil
	}
	s = strings.Trim(s, `"`)
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil, &fault{http.StatusBadRequest, fmt.Sprintf("Invalid input for field/attribute %s. Value: '%s'. Value should be integer", key, strings.Trim(string(v), `"`))}
	}
	if n < lb.QuotaUnlimited {
		return nil, &fault{http.StatusBadRequest, fmt.Sprintf("Invalid input for field/attribute %s. Value: '%d'. Value should be greater or equal to -1", key, n)}
	}
	if n > lb.QuotaMax {
		return nil, &fault{http.StatusBadRequest, fmt.Sprintf("Invalid input for field/attribute %s. Value: '%d'. Value should be lower or equal to %d", key, n, lb.QuotaMax)}
	}
	return &n, nil
}
