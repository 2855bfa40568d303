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

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Authorizer is the policy check the quota API needs.
type Authorizer interface {
	Authorize(c policy.Caller, rule policy.Rule, ownerProject string) error
}

// API serves /v2/lbaas/quotas, /v2.0/lbaas/quotas, /v2/quotas and
// /v2.0/quotas (Octavia §5.8). The caller comes from policy.CallerFrom.
type API struct {
	store store.Store
	e     *Enforcer
	authz Authorizer
}

// NewAPI returns the quota API handler.
func NewAPI(st store.Store, e *Enforcer, authz Authorizer) *API {
	return &API{store: st, e: e, authz: authz}
}

// Prefixes are the collection paths the API answers; mount each with and
// without a trailing slash.
var Prefixes = []string{"/v2/lbaas/quotas", "/v2.0/lbaas/quotas", "/v2/quotas", "/v2.0/quotas"}

// fault is Octavia's error body.
type fault struct {
	code int
	msg  string
}

func (f *fault) Error() string { return f.msg }

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
	writeJSON(w, f.code, map[string]any{"faultcode": code, "faultstring": f.msg, "debuginfo": nil})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

var errForbidden = &fault{http.StatusForbidden, policy.DeniedMessage}

func (a *API) authorize(c policy.Caller, action policy.Action, owner string) error {
	err := a.authz.Authorize(c, policy.RuleFor(policy.Quota, action), owner)
	if errors.Is(err, policy.ErrDenied) {
		return errForbidden
	}
	return err
}

// ServeHTTP routes on the path below one of Prefixes.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := ""
	for _, p := range Prefixes {
		if tail, ok := strings.CutPrefix(r.URL.Path, p); ok && (tail == "" || tail[0] == '/') {
			rest = strings.Trim(tail, "/")
			break
		}
	}
	rest = strings.TrimSuffix(rest, ".json")
	c, ok := policy.CallerFrom(r.Context())
	if !ok {
		writeFault(w, &fault{http.StatusUnauthorized, "Authentication required"})
		return
	}
	parts := strings.Split(rest, "/")
	var err error
	switch {
	case rest == "" && r.Method == http.MethodGet:
		err = a.list(w, r, c)
	case rest == "defaults" && r.Method == http.MethodGet:
		err = a.writeQuota(w, http.StatusOK, "defaults", a.e.defaults)
	case len(parts) == 1 && r.Method == http.MethodGet:
		err = a.get(w, r, c, parts[0])
	case len(parts) == 1 && r.Method == http.MethodPut:
		err = a.put(w, r, c, parts[0])
	case len(parts) == 1 && r.Method == http.MethodDelete:
		err = a.reset(w, r, c, parts[0])
	case len(parts) == 2 && parts[1] == "default" && r.Method == http.MethodGet:
		if err = a.authorize(c, policy.GetDefaults, parts[0]); err == nil {
			err = a.writeQuota(w, http.StatusOK, parts[0], a.e.defaults)
		}
	case len(parts) <= 2:
		err = &fault{http.StatusMethodNotAllowed, "Method not allowed."}
	default:
		err = &fault{http.StatusNotFound, "The resource could not be found."}
	}
	if err != nil {
		writeFault(w, err)
	}
}

// quotaJSON renders limits with both key spellings; nil limits (raw rows)
// render as null.
func quotaJSON(project string, limits [len(lb.QuotaLimits{})]*int) map[string]any {
	out := map[string]any{"project_id": project, "tenant_id": project}
	for _, r := range lb.QuotaResources {
		var v any
		if p := limits[r]; p != nil {
			v = *p
		}
		out[r.Key()] = v
		if alias := aliasOf(r); alias != "" {
			out[alias] = v
		}
	}
	return out
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

func (a *API) writeQuota(w http.ResponseWriter, code int, project string, limits lb.QuotaLimits) error {
	writeJSON(w, code, map[string]any{"quota": quotaJSON(project, ptrs(limits))})
	return nil
}

func (a *API) list(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	project := r.URL.Query().Get("project_id")
	if project == "" {
		project = r.URL.Query().Get("tenant_id")
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
	out := []map[string]any{}
	err := a.store.View(r.Context(), func(tx store.Tx) error {
		rows, err := tx.Quotas().List(r.Context(), store.Query{Filters: filters})
		for _, q := range rows {
			out = append(out, quotaJSON(q.ProjectID, q.Limits))
		}
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"quotas": out, "quotas_links": []any{}})
	return nil
}

func (a *API) get(w http.ResponseWriter, r *http.Request, c policy.Caller, project string) error {
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
	return a.writeQuota(w, http.StatusOK, project, q.Effective(a.e.defaults))
}

// put is PUT /quotas/{project}: 202 with the effective quota.
func (a *API) put(w http.ResponseWriter, r *http.Request, c policy.Caller, project string) error {
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
	return a.writeQuota(w, http.StatusAccepted, project, q.Effective(a.e.defaults))
}

// reset is DELETE /quotas/{project}: every limit back to the default.
func (a *API) reset(w http.ResponseWriter, r *http.Request, c policy.Caller, project string) error {
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
