package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Neutron's quotas for the subset's resources: a project may hold at most
// so many networks, subnets, ports (VIP ports included), floating IPs,
// security groups and security group rules. Creates check the project's
// limits inside their transaction, holding the project's quota row, so
// concurrent creates never overshoot. Callers of a server without
// authentication are not limited.

// QuotaLimits holds one limit per network quota resource; -1 is unlimited.
type QuotaLimits [neutron.NumQuotaResources]int

// DefaultQuotas are Neutron's default limits.
var DefaultQuotas = QuotaLimits{
	neutron.QuotaNetwork:           100,
	neutron.QuotaSubnet:            100,
	neutron.QuotaPort:              500,
	neutron.QuotaFloatingIP:        50,
	neutron.QuotaSecurityGroup:     10,
	neutron.QuotaSecurityGroupRule: 100,
}

// maxQuota is the largest limit stored (Neutron's DB integer maximum).
const maxQuota = math.MaxInt32

// effective returns q's limits with defaults where q has none.
func effective(q *neutron.NetworkQuota, defaults QuotaLimits) QuotaLimits {
	out := defaults
	if q == nil {
		return out
	}
	for _, r := range neutron.QuotaResources {
		if q.Limits[r] != nil {
			out[r] = *q.Limits[r]
		}
	}
	return out
}

// usage counts what project holds of r.
func usage(ctx context.Context, tx store.Tx, project string, r neutron.QuotaResource) (int, error) {
	f := store.F("project_id", project)
	switch r {
	case neutron.QuotaNetwork:
		return tx.Networks().Count(ctx, f)
	case neutron.QuotaSubnet:
		return tx.Subnets().Count(ctx, f)
	case neutron.QuotaPort:
		return tx.Ports().Count(ctx, f)
	case neutron.QuotaFloatingIP:
		return tx.FloatingIPs().Count(ctx, f)
	case neutron.QuotaSecurityGroup:
		return tx.SecurityGroups().Count(ctx, f)
	case neutron.QuotaSecurityGroupRule:
		return tx.SecurityGroupRules().Count(ctx, f)
	}
	return 0, fmt.Errorf("usage: unknown network quota resource %d", r)
}

// lockQuota locks the project's quota row, creating an all-default one
// first when it has none: the lock every quota check of the project holds
// until its transaction ends.
func lockQuota(ctx context.Context, tx store.Tx, project string) (*neutron.NetworkQuota, error) {
	q, err := tx.NetworkQuotas().Lock(ctx, project)
	if err == nil {
		return q, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("lock network quota of %s: %w", project, err)
	}
	if _, err := tx.NetworkQuotas().CreateIfAbsent(ctx, &neutron.NetworkQuota{ProjectID: project}); err != nil {
		return nil, fmt.Errorf("create network quota of %s: %w", project, err)
	}
	if q, err = tx.NetworkQuotas().Lock(ctx, project); err != nil {
		return nil, fmt.Errorf("lock network quota of %s: %w", project, err)
	}
	return q, nil
}

// overQuota is Neutron's answer to a create over a limit.
func overQuota(resources []string) *Error {
	quoted := make([]string, len(resources))
	for i, r := range resources {
		quoted[i] = "'" + r + "'"
	}
	return &Error{Code: http.StatusConflict, Type: "OverQuota",
		Message: fmt.Sprintf("Quota exceeded for resources: [%s].", strings.Join(quoted, ", "))}
}

// reserveQuota checks, inside tx, that project may hold want[r] more of
// each resource r: a 409 OverQuota naming every resource over its limit
// otherwise. The caller's transaction holds the project's quota row.
func reserveQuota(ctx context.Context, tx store.Tx, defaults QuotaLimits, c policy.Caller, project string, want map[neutron.QuotaResource]int) error {
	if c.NoAuth || project == "" {
		return nil
	}
	q, err := lockQuota(ctx, tx, project)
	if err != nil {
		return err
	}
	limits := effective(q, defaults)
	var over []string
	for _, r := range neutron.QuotaResources {
		n := want[r]
		if n <= 0 || limits[r] < 0 {
			continue
		}
		used, err := usage(ctx, tx, project, r)
		if err != nil {
			return err
		}
		if used+n > limits[r] {
			over = append(over, r.Key())
		}
	}
	if len(over) > 0 {
		return overQuota(over)
	}
	return nil
}

func (s *Service) reserve(ctx context.Context, tx store.Tx, c policy.Caller, project string, want map[neutron.QuotaResource]int) error {
	return reserveQuota(ctx, tx, s.quotas, c, project, want)
}

// quotaJSON renders limits as Neutron does: {"network": 100, …}.
func quotaJSON(l QuotaLimits) map[string]any {
	out := make(map[string]any, len(l))
	for _, r := range neutron.QuotaResources {
		out[r.Key()] = l[r]
	}
	return out
}

func (s *Service) quotaRoutes() {
	s.handle("GET /v2.0/quotas", s.listQuotas)
	s.handle("GET /v2.0/quotas/{project}", s.showQuota)
	s.handle("GET /v2.0/quotas/{project}/default", s.showDefaultQuota)
	s.handle("GET /v2.0/quotas/{project}/details", s.showQuotaDetails)
	s.handle("PUT /v2.0/quotas/{project}", s.updateQuota)
	s.handle("DELETE /v2.0/quotas/{project}", s.deleteQuota)
}

// listQuotas answers the projects whose quotas differ from the defaults,
// those the caller may read.
func (s *Service) listQuotas(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	ctx := r.Context()
	out := []any{}
	err := s.view(ctx, func(tx store.Tx) error {
		rows, err := tx.NetworkQuotas().List(ctx, store.Query{})
		if err != nil {
			return err
		}
		for _, q := range rows {
			if !slices.ContainsFunc(q.Limits[:], func(p *int) bool { return p != nil }) ||
				!s.allowed(c, "get_quota", ownerTarget(q.ProjectID)) {
				continue
			}
			m := quotaJSON(effective(q, s.quotas))
			m["project_id"], m["tenant_id"] = q.ProjectID, q.ProjectID
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"quotas": out})
	return nil
}

// showQuota answers a project's limits; GET /quotas/tenant is Neutron's
// "which project am I" (the caller's project id).
func (s *Service) showQuota(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	project := r.PathValue("project")
	if project == "tenant" {
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"tenant": map[string]string{"tenant_id": c.ProjectID}})
		return nil
	}
	if err := s.authorize(c, "get_quota", ownerTarget(project)); err != nil {
		return err
	}
	ctx := r.Context()
	var limits QuotaLimits
	err := s.view(ctx, func(tx store.Tx) error {
		q, err := tx.NetworkQuotas().Get(ctx, project)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		limits = effective(q, s.quotas)
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"quota": quotaJSON(limits)})
	return nil
}

func (s *Service) showDefaultQuota(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	if err := s.authorize(c, "get_quota", ownerTarget(r.PathValue("project"))); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"quota": quotaJSON(s.quotas)})
	return nil
}

// showQuotaDetails answers Neutron's quota_details: limit, used and
// reserved (always 0: reservations live only inside a transaction).
func (s *Service) showQuotaDetails(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	project := r.PathValue("project")
	if err := s.authorize(c, "get_quota", ownerTarget(project)); err != nil {
		return err
	}
	ctx := r.Context()
	out := map[string]any{}
	err := s.view(ctx, func(tx store.Tx) error {
		q, err := tx.NetworkQuotas().Get(ctx, project)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		limits := effective(q, s.quotas)
		for _, res := range neutron.QuotaResources {
			used, err := usage(ctx, tx, project, res)
			if err != nil {
				return err
			}
			out[res.Key()] = map[string]int{"limit": limits[res], "used": used, "reserved": 0}
		}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"quota": out})
	return nil
}

// quotaValue reads one limit of a quota update: an integer (or its
// string) from -1 to Neutron's maximum.
func quotaValue(key string, raw json.RawMessage) (int, error) {
	v, ok := scalar(raw)
	reason := ""
	n, err := strconv.Atoi(v)
	switch {
	case !ok || v == "" || err != nil:
		reason = fmt.Sprintf("'%s' is not an integer", strings.Trim(string(raw), `"`))
	case n < -1:
		reason = fmt.Sprintf("'%d' is too small - must be at least '-1'", n)
	case n > maxQuota:
		reason = fmt.Sprintf("'%d' is too large - must be no larger than '%d'", n, maxQuota)
	default:
		return n, nil
	}
	return 0, &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest", Message: fmt.Sprintf("Invalid input for %s. Reason: %s.", key, reason)}
}

func (s *Service) updateQuota(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	project := r.PathValue("project")
	var body map[string]json.RawMessage
	if err := decode(r, "quota", &body); err != nil {
		return err
	}
	if err := s.authorize(c, "update_quota", ownerTarget(project)); err != nil {
		return err
	}
	set := map[neutron.QuotaResource]int{}
	checkLimit := false
	var unknown []string
	for k, raw := range body {
		if k == "check_limit" || k == "force" {
			var b bool
			if json.Unmarshal(raw, &b) != nil {
				return &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest", Message: fmt.Sprintf("Invalid input for %s. Reason: '%s' is not a valid boolean value.", k, raw)}
			}
			checkLimit = checkLimit || k == "check_limit" && b
			continue
		}
		i := slices.IndexFunc(neutron.QuotaResources, func(q neutron.QuotaResource) bool { return q.Key() == k })
		if i < 0 {
			unknown = append(unknown, k)
			continue
		}
		n, err := quotaValue(k, raw)
		if err != nil {
			return err
		}
		set[neutron.QuotaResources[i]] = n
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest",
			Message: fmt.Sprintf("Unrecognized attribute(s) '%s'", strings.Join(unknown, ", "))}
	}
	ctx := r.Context()
	var limits QuotaLimits
	err := s.update(ctx, func(tx store.Tx) error {
		q, err := lockQuota(ctx, tx, project)
		if err != nil {
			return err
		}
		for res, n := range set {
			if checkLimit && n >= 0 {
				used, err := usage(ctx, tx, project, res)
				if err != nil {
					return err
				}
				if n < used {
					return &Error{Code: http.StatusBadRequest, Type: "InvalidQuotaValue",
						Message: fmt.Sprintf("Change would make usage less than 0 for the following resources: %s. Quota limit %d is lower than the usage %d.", res.Key(), n, used)}
				}
			}
			v := n
			q.Limits[res] = &v
		}
		if err := tx.NetworkQuotas().Update(ctx, q); err != nil {
			return err
		}
		limits = effective(q, s.quotas)
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"quota": quotaJSON(limits)})
	return nil
}

// deleteQuota returns the project to the defaults.
func (s *Service) deleteQuota(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	project := r.PathValue("project")
	if err := s.authorize(c, "delete_quota", ownerTarget(project)); err != nil {
		return err
	}
	ctx := r.Context()
	err := s.update(ctx, func(tx store.Tx) error {
		err := tx.NetworkQuotas().Delete(ctx, project)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
