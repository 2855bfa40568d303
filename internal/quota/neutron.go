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

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Neutron-LBaaS kept its quotas in Neutron's quota API: `neutron
// quota-update --loadbalancer 25 --pool 50` and `neutron quota-show` go to
// the network endpoint's /v2.0/quotas. NeutronAPI serves the load-balancer
// keys there (loadbalancer, listener, pool, healthmonitor, member, and
// fulcrum's l7policy and l7rule) in Neutron's shapes. They are the same
// limits the Octavia quota API shows, under the same policy. The network
// service's own keys are merged in from Next, which serves the rest of the
// network endpoint: whatever quota API it has (or none: a 404) is asked
// for its part of each call, and its answer joins this one.

// NeutronAPI serves Neutron's quota API for the load-balancer keys, merged
// with Next's. The caller comes from policy.CallerFrom.
type NeutronAPI struct {
	store store.Store
	e     *Enforcer
	authz Authorizer
	next  http.Handler
}

// NewNeutronAPI returns the handler; next serves the network endpoint's
// other paths (its quota API, if any, answers the network keys).
func NewNeutronAPI(st store.Store, e *Enforcer, authz Authorizer, next http.Handler) *NeutronAPI {
	return &NeutronAPI{store: st, e: e, authz: authz, next: next}
}

// NeutronPaths are the mux patterns the handler is mounted at.
var NeutronPaths = []string{"/networking/v2.0/quotas", "/networking/v2.0/quotas/"}

// neutronError is an error answered with Neutron's body.
type neutronError struct {
	code int
	typ  string
	msg  string
}

func (e *neutronError) Error() string { return e.msg }

func badInput(format string, args ...any) error {
	return &neutronError{http.StatusBadRequest, "HTTPBadRequest", fmt.Sprintf(format, args...)}
}

func writeNeutronError(w http.ResponseWriter, err error) {
	var ne *neutronError
	switch {
	case errors.As(err, &ne):
	case errors.Is(err, policy.ErrDenied):
		ne = &neutronError{http.StatusForbidden, "PolicyNotAuthorized", policy.DeniedMessage}
	case errors.Is(err, store.ErrCannotWrite), errors.Is(err, store.ErrBusy):
		ne = &neutronError{http.StatusServiceUnavailable, "HTTPServiceUnavailable", "The service cannot store changes at the moment; nothing was changed. Please try again later."}
	default:
		ne = &neutronError{http.StatusInternalServerError, "HTTPInternalServerError", "Request Failed: internal server error while processing your request."}
	}
	type body struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Detail  string `json:"detail"`
	}
	httpapi.WriteJSON(w, ne.code, map[string]body{"NeutronError": {Type: ne.typ, Message: ne.msg}})
}

// ServeHTTP answers /networking/v2.0/quotas[/{project}[/default|/details]].
func (a *NeutronAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/networking"), "/v2.0/quotas")
	rest = strings.TrimSuffix(strings.Trim(rest, "/"), ".json")
	parts := strings.Split(rest, "/")
	if rest == "" {
		parts = nil
	}
	c, ok := policy.CallerFrom(r.Context())
	if !ok {
		a.next.ServeHTTP(w, r) // the network service answers the 401
		return
	}
	var err error
	switch {
	case len(parts) == 0 && r.Method == http.MethodGet:
		err = a.list(w, r, c)
	case len(parts) == 1 && parts[0] == "tenant" && r.Method == http.MethodGet:
		err = a.tenant(w, r, c)
	case len(parts) == 1 && r.Method == http.MethodGet:
		err = a.show(w, r, c, parts[0])
	case len(parts) == 1 && r.Method == http.MethodPut:
		err = a.update(w, r, c, parts[0])
	case len(parts) == 1 && r.Method == http.MethodDelete:
		err = a.reset(w, r, c, parts[0])
	case len(parts) == 2 && parts[1] == "default" && r.Method == http.MethodGet:
		err = a.defaults(w, r, c, parts[0])
	case len(parts) == 2 && parts[1] == "details" && r.Method == http.MethodGet:
		err = a.details(w, r, c, parts[0])
	default:
		a.next.ServeHTTP(w, r)
		return
	}
	if err != nil {
		writeNeutronError(w, err)
	}
}

// answer is a response of Next, read whole.
type answer struct {
	code   int
	header http.Header
	body   []byte
}

type capture struct {
	header http.Header
	code   int
	buf    bytes.Buffer
}

func (c *capture) Header() http.Header { return c.header }
func (c *capture) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return c.buf.Write(b)
}
func (c *capture) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
}

// ask sends Next a request of the caller's (same context and headers) with
// method, path and body.
func (a *NeutronAPI) ask(r *http.Request, method, path string, body []byte) *answer {
	req := r.Clone(r.Context())
	req.Method = method
	req.URL.Path, req.URL.RawPath = path, ""
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	c := &capture{header: http.Header{}}
	a.next.ServeHTTP(c, req)
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return &answer{code: c.code, header: c.header, body: c.buf.Bytes()}
}

// served reports whether Next has a quota API (it does not answer 404 or
// 405 for the path).
func (x *answer) served() bool {
	return x.code != http.StatusNotFound && x.code != http.StatusMethodNotAllowed
}

// relay writes Next's answer as it is.
func (x *answer) relay(w http.ResponseWriter) {
	for k, vs := range x.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(x.code)
	_, _ = w.Write(x.body)
}

// object decodes Next's {key: {...}} answer.
func (x *answer) object(key string) map[string]any {
	var m map[string]map[string]any
	if json.Unmarshal(x.body, &m) != nil || m[key] == nil {
		return map[string]any{}
	}
	return m[key]
}

func (a *NeutronAPI) authorize(c policy.Caller, action policy.Action, project string) error {
	return a.authz.Authorize(c, policy.RuleFor(policy.Quota, action), project)
}

// limits returns project's effective load-balancer limits.
func (a *NeutronAPI) limits(r *http.Request, project string) (lb.QuotaLimits, error) {
	var q *lb.Quota
	err := a.store.View(r.Context(), func(tx store.Tx) error {
		var err error
		q, err = tx.Quotas().Get(r.Context(), project)
		if errors.Is(err, store.ErrNotFound) {
			q, err = nil, nil
		}
		return err
	})
	return q.Effective(a.e.defaults), err
}

func addLimits(m map[string]any, l lb.QuotaLimits) map[string]any {
	for _, res := range lb.QuotaResources {
		m[res.Key()] = l[res]
	}
	return m
}

// merged answers GET path: Next's object under key (when Next serves the
// path; its refusal is relayed) with the load-balancer keys added.
func (a *NeutronAPI) merged(w http.ResponseWriter, r *http.Request, path string, lbPart map[string]any) {
	out := map[string]any{}
	if x := a.ask(r, http.MethodGet, path, nil); x.served() {
		if x.code != http.StatusOK {
			x.relay(w)
			return
		}
		out = x.object("quota")
	}
	for k, v := range lbPart {
		out[k] = v
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"quota": out})
}

func (a *NeutronAPI) show(w http.ResponseWriter, r *http.Request, c policy.Caller, project string) error {
	if err := a.authorize(c, policy.GetOne, project); err != nil {
		return err
	}
	l, err := a.limits(r, project)
	if err != nil {
		return err
	}
	a.merged(w, r, "/v2.0/quotas/"+project, addLimits(map[string]any{}, l))
	return nil
}

func (a *NeutronAPI) defaults(w http.ResponseWriter, r *http.Request, c policy.Caller, project string) error {
	if err := a.authorize(c, policy.GetDefaults, project); err != nil {
		return err
	}
	a.merged(w, r, "/v2.0/quotas/"+project+"/default", addLimits(map[string]any{}, a.e.defaults))
	return nil
}

func (a *NeutronAPI) details(w http.ResponseWriter, r *http.Request, c policy.Caller, project string) error {
	if err := a.authorize(c, policy.GetOne, project); err != nil {
		return err
	}
	l, err := a.limits(r, project)
	if err != nil {
		return err
	}
	part := map[string]any{}
	err = a.store.View(r.Context(), func(tx store.Tx) error {
		for _, res := range lb.QuotaResources {
			used, err := Usage(r.Context(), tx, project, res)
			if err != nil {
				return err
			}
			part[res.Key()] = map[string]int{"limit": l[res], "used": used, "reserved": 0}
		}
		return nil
	})
	if err != nil {
		return err
	}
	a.merged(w, r, "/v2.0/quotas/"+project+"/details", part)
	return nil
}

// tenant is Neutron's "which project am I".
func (a *NeutronAPI) tenant(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	if x := a.ask(r, http.MethodGet, "/v2.0/quotas/tenant", nil); x.served() {
		x.relay(w)
		return nil
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"tenant": map[string]string{"tenant_id": c.ProjectID}})
	return nil
}

// list answers the projects with a quota of their own that the caller may
// read, each with both services' keys.
func (a *NeutronAPI) list(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	byProject := map[string]map[string]any{}
	var order []string
	if x := a.ask(r, http.MethodGet, "/v2.0/quotas", nil); x.served() {
		if x.code != http.StatusOK {
			x.relay(w)
			return nil
		}
		var body struct {
			Quotas []map[string]any `json:"quotas"`
		}
		_ = json.Unmarshal(x.body, &body)
		for _, q := range body.Quotas {
			p, _ := q["project_id"].(string)
			if p == "" {
				p, _ = q["tenant_id"].(string)
			}
			if p != "" && byProject[p] == nil {
				byProject[p] = q
				order = append(order, p)
			}
		}
	}
	global := a.authz.Authorize(c, policy.RuleFor(policy.Quota, policy.GetAllGlobal), "") == nil
	err := a.store.View(r.Context(), func(tx store.Tx) error {
		rows, err := tx.Quotas().List(r.Context(), store.Query{})
		if err != nil {
			return err
		}
		for _, q := range rows {
			own := slices.ContainsFunc(q.Limits[:], func(p *int) bool { return p != nil })
			if !own || byProject[q.ProjectID] != nil {
				continue
			}
			byProject[q.ProjectID] = map[string]any{"project_id": q.ProjectID, "tenant_id": q.ProjectID}
			order = append(order, q.ProjectID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	out := []any{}
	for _, p := range order {
		if !global && (p != c.ProjectID || a.authorize(c, policy.GetAll, p) != nil) {
			continue
		}
		l, err := a.limits(r, p)
		if err != nil {
			return err
		}
		out = append(out, addLimits(byProject[p], l))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"quotas": out})
	return nil
}

// neutronLimit reads one limit of a Neutron quota update: an integer (or
// its string) from -1 to the largest limit.
func neutronLimit(key string, raw json.RawMessage) (int, error) {
	s := strings.TrimSpace(string(raw))
	v := strings.Trim(s, `"`)
	n, err := strconv.Atoi(v)
	switch {
	case err != nil || s == "null" || strings.HasPrefix(s, "[") || strings.HasPrefix(s, "{"):
		return 0, badInput("Invalid input for %s. Reason: '%s' is not an integer.", key, v)
	case n < lb.QuotaUnlimited:
		return 0, badInput("Invalid input for %s. Reason: '%d' is too small - must be at least '-1'.", key, n)
	case n > lb.QuotaMax:
		return 0, badInput("Invalid input for %s. Reason: '%d' is too large - must be no larger than '%d'.", key, n, lb.QuotaMax)
	}
	return n, nil
}

// update sets the load-balancer keys sent and has Next set the others;
// either refusing refuses the whole (the load-balancer keys are checked
// first and written last).
func (a *NeutronAPI) update(w http.ResponseWriter, r *http.Request, c policy.Caller, project string) error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 114688))
	if err != nil {
		return badInput("Request body is not valid.")
	}
	var outer map[string]json.RawMessage
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &outer) != nil || outer["quota"] == nil || json.Unmarshal(outer["quota"], &fields) != nil || fields == nil {
		return badInput("Resource body required")
	}
	keys := map[string]lb.QuotaResource{}
	for _, res := range lb.QuotaResources {
		keys[res.Key()] = res
	}
	set := map[lb.QuotaResource]int{}
	others := map[string]json.RawMessage{}
	checkLimit := false
	for k, v := range fields {
		res, ok := keys[k]
		if !ok {
			others[k] = v
			if k == "check_limit" {
				checkLimit = strings.TrimSpace(string(v)) == "true"
			}
			continue
		}
		n, err := neutronLimit(k, v)
		if err != nil {
			return err
		}
		set[res] = n
	}
	if len(set) > 0 {
		if err := a.authorize(c, policy.Put, project); err != nil {
			return err
		}
	}
	path := "/v2.0/quotas/" + project
	var network map[string]any
	if onlyFlags(others) {
		if x := a.ask(r, http.MethodGet, path, nil); x.served() && x.code == http.StatusOK {
			network = x.object("quota")
		}
	} else {
		body, _ := json.Marshal(map[string]any{"quota": others})
		x := a.ask(r, http.MethodPut, path, body)
		if !x.served() {
			var unknown []string
			for k := range others {
				unknown = append(unknown, k)
			}
			slices.Sort(unknown)
			return badInput("Unrecognized attribute(s) '%s'", strings.Join(unknown, ", "))
		}
		if x.code != http.StatusOK {
			x.relay(w)
			return nil
		}
		network = x.object("quota")
	}
	var limits lb.QuotaLimits
	err = a.store.Update(r.Context(), func(tx store.Tx) error {
		q, err := lockRow(r.Context(), tx, project)
		if err != nil {
			return err
		}
		for res, n := range set {
			if checkLimit && n >= 0 {
				used, err := Usage(r.Context(), tx, project, res)
				if err != nil {
					return err
				}
				if n < used {
					return &neutronError{http.StatusBadRequest, "InvalidQuotaValue",
						fmt.Sprintf("Change would make usage less than 0 for the following resources: %s. Quota limit %d is lower than the usage %d.", res.Key(), n, used)}
				}
			}
			v := n
			q.Limits[res] = &v
		}
		limits = q.Effective(a.e.defaults)
		if len(set) == 0 {
			return nil
		}
		return tx.Quotas().Update(r.Context(), q)
	})
	if err != nil {
		return err
	}
	if network == nil {
		network = map[string]any{}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"quota": addLimits(network, limits)})
	return nil
}

// onlyFlags reports whether a quota update names no resource of Next's
// (nothing, or only Neutron's check_limit and force flags).
func onlyFlags(fields map[string]json.RawMessage) bool {
	for k := range fields {
		if k != "check_limit" && k != "force" {
			return false
		}
	}
	return true
}

// reset returns the project's load-balancer limits to the defaults and
// has Next reset its own.
func (a *NeutronAPI) reset(w http.ResponseWriter, r *http.Request, c policy.Caller, project string) error {
	if err := a.authorize(c, policy.Delete, project); err != nil {
		return err
	}
	if x := a.ask(r, http.MethodDelete, "/v2.0/quotas/"+project, nil); x.served() && x.code >= 300 {
		x.relay(w)
		return nil
	}
	err := a.store.Update(r.Context(), func(tx store.Tx) error {
		q, err := tx.Quotas().Lock(r.Context(), project)
		if errors.Is(err, store.ErrNotFound) {
			return nil
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
	w.WriteHeader(http.StatusNoContent)
	return nil
}
