package identity

import (
	"context"
	"errors"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/identity/keystone"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// ---- grants: /v3/{projects|domains}/{target}/users/{user}/roles[/{role}]

func grantFilters(scope, target, user, role string) []store.Filter {
	f := []store.Filter{store.F("user_id", user)}
	if scope == "projects" {
		f = append(f, store.F("project_id", target))
	} else {
		f = append(f, store.F("domain_id", target))
	}
	if role != "" {
		f = append(f, store.F("role_id", role))
	}
	return f
}

// grantTargets checks that the target, user and (when given) role exist.
func (s *Service) grantTargets(ctx context.Context, tx store.Tx, scope, target, user, role string) error {
	if scope == "projects" {
		if _, err := tx.Projects().Get(ctx, target); err != nil {
			return notFoundOrErr(err, "project", target)
		}
	} else if _, err := tx.Domains().Get(ctx, target); err != nil {
		return notFoundOrErr(err, "domain", target)
	}
	if _, err := tx.Users().Get(ctx, user); err != nil {
		return notFoundOrErr(err, "user", user)
	}
	if role != "" {
		if _, err := tx.Roles().Get(ctx, role); err != nil {
			return notFoundOrErr(err, "role", role)
		}
	}
	return nil
}

func (s *Service) listGrants(scope string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		target, user := r.PathValue("target"), r.PathValue("user")
		if _, err := s.requireAdmin(r, "identity:list_grants"); err != nil {
			return err
		}
		ctx := r.Context()
		out := []roleView{}
		err := s.view(ctx, func(tx store.Tx) error {
			if err := s.grantTargets(ctx, tx, scope, target, user, ""); err != nil {
				return err
			}
			as, err := tx.Assignments().List(ctx, store.Query{Filters: grantFilters(scope, target, user, "")})
			if err != nil {
				return err
			}
			for _, a := range as {
				role, err := tx.Roles().Get(ctx, a.RoleID)
				if err == nil {
					out = append(out, s.roleJSON(r, role))
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, roleList{Roles: out, Links: s.links(r)})
		return nil
	}
}

func (s *Service) putGrant(scope string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		target, user, role := r.PathValue("target"), r.PathValue("user"), r.PathValue("role")
		if _, err := s.requireAdmin(r, "identity:create_grant"); err != nil {
			return err
		}
		ctx := r.Context()
		grant := func(tx store.Tx) error {
			if err := s.grantTargets(ctx, tx, scope, target, user, role); err != nil {
				return err
			}
			n, err := tx.Assignments().Count(ctx, grantFilters(scope, target, user, role)...)
			if err != nil || n > 0 {
				return err
			}
			a := &keystone.Assignment{ID: newID(), RoleID: role, UserID: user, CreatedAt: s.now()}
			if scope == "projects" {
				a.ProjectID = target
			} else {
				a.DomainID = target
			}
			return tx.Assignments().Create(ctx, a)
		}
		err := s.update(ctx, grant)
		if errors.Is(err, store.ErrConflict) {
			// The same grant, made at once through another server,
			// committed first (the assignment's unique index refused this
			// one): granting is idempotent, so look again — the second
			// attempt finds it (or finds the user, role or target gone).
			err = s.update(ctx, grant)
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Service) checkGrant(scope string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		target, user, role := r.PathValue("target"), r.PathValue("user"), r.PathValue("role")
		if _, err := s.requireAdmin(r, "identity:check_grant"); err != nil {
			return err
		}
		ctx := r.Context()
		err := s.view(ctx, func(tx store.Tx) error {
			if err := s.grantTargets(ctx, tx, scope, target, user, role); err != nil {
				return err
			}
			n, err := tx.Assignments().Count(ctx, grantFilters(scope, target, user, role)...)
			if err != nil {
				return err
			}
			if n == 0 {
				return errNotFound("role assignment", role)
			}
			return nil
		})
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Service) deleteGrant(scope string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		target, user, role := r.PathValue("target"), r.PathValue("user"), r.PathValue("role")
		if _, err := s.requireAdmin(r, "identity:revoke_grant"); err != nil {
			return err
		}
		ctx := r.Context()
		err := s.update(ctx, func(tx store.Tx) error {
			if err := s.grantTargets(ctx, tx, scope, target, user, role); err != nil {
				return err
			}
			n, err := tx.Assignments().DeleteWhere(ctx, grantFilters(scope, target, user, role)...)
			if err != nil {
				return err
			}
			if n == 0 {
				return errNotFound("role assignment", role)
			}
			project := ""
			if scope == "projects" {
				project = target
			}
			return s.revoke(ctx, tx, user, project)
		})
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// listAssignments is GET /v3/role_assignments with Keystone's filters
// user.id, role.id, scope.project.id, scope.domain.id and include_names.
// Only direct assignments exist (no groups, no inheritance), so effective
// changes nothing.
func (s *Service) listAssignments(w http.ResponseWriter, r *http.Request) error {
	caller, err := s.caller(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if !caller.HasRole(keystone.RoleAdmin) && q.Get("user.id") != caller.UserID {
		return errForbidden("identity:list_role_assignments")
	}
	var filters []store.Filter
	for param, field := range map[string]string{"user.id": "user_id", "role.id": "role_id", "scope.project.id": "project_id", "scope.domain.id": "domain_id"} {
		if q.Has(param) {
			filters = append(filters, store.F(field, q.Get(param)))
		}
	}
	names := q.Has("include_names") && q.Get("include_names") != "false" && q.Get("include_names") != "0"
	ctx := r.Context()
	out := []assignmentView{}
	err = s.view(ctx, func(tx store.Tx) error {
		as, err := tx.Assignments().List(ctx, store.Query{Filters: filters})
		if err != nil {
			return err
		}
		for _, a := range as {
			v := assignmentView{Role: named{ID: a.RoleID}, User: named{ID: a.UserID}}
			link := s.v3URL(r)
			if a.ProjectID != "" {
				v.Scope.Project = &named{ID: a.ProjectID}
				link += "/projects/" + a.ProjectID
			} else {
				v.Scope.Domain = &named{ID: a.DomainID}
				link += "/domains/" + a.DomainID
			}
			v.Links.Assignment = link + "/users/" + a.UserID + "/roles/" + a.RoleID
			if names {
				if err := s.addNames(ctx, tx, a, &v); err != nil {
					return err
				}
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, assignmentList{RoleAssignments: out, Links: s.links(r)})
	return nil
}

func (s *Service) addNames(ctx context.Context, tx store.Tx, a *keystone.Assignment, v *assignmentView) error {
	if rl, err := tx.Roles().Get(ctx, a.RoleID); err == nil {
		v.Role.Name = &rl.Name
	}
	if u, err := tx.Users().Get(ctx, a.UserID); err == nil {
		v.User.Name = &u.Name
		d, err := s.domainRef(ctx, tx, u.DomainID)
		if err != nil {
			return err
		}
		v.User.Domain = &d
	}
	if a.ProjectID != "" {
		if p, err := tx.Projects().Get(ctx, a.ProjectID); err == nil {
			d, err := s.domainRef(ctx, tx, p.DomainID)
			if err != nil {
				return err
			}
			v.Scope.Project = &named{ID: p.ID, Name: &p.Name, Domain: &d}
		}
	} else if d, err := s.domainRef(ctx, tx, a.DomainID); err == nil {
		v.Scope.Domain = &named{ID: d.ID, Name: &d.Name}
	}
	return nil
}

// ---- catalog administration (read-only views of the built-in catalog)

func (s *Service) listServices(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.caller(r); err != nil {
		return err
	}
	typ := r.URL.Query().Get("type")
	out := []serviceView{}
	for _, svc := range s.opts.Catalog {
		if typ != "" && typ != svc.Type {
			continue
		}
		id := stableID("service", svc.Type)
		out = append(out, serviceView{ID: id, Type: svc.Type, Name: svc.Name, Enabled: true, Links: s.selfURL(r, "services", id)})
	}
	httpapi.WriteJSON(w, http.StatusOK, serviceList{Services: out, Links: s.links(r)})
	return nil
}

func (s *Service) listEndpoints(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.caller(r); err != nil {
		return err
	}
	q := r.URL.Query()
	out := []endpointView{}
	for _, svc := range s.opts.Catalog {
		sid := stableID("service", svc.Type)
		if q.Has("service_id") && q.Get("service_id") != sid {
			continue
		}
		for _, iface := range []string{"public", "internal", "admin"} {
			if q.Has("interface") && q.Get("interface") != iface {
				continue
			}
			id := stableID("endpoint", svc.Type, iface)
			out = append(out, endpointView{ID: id, ServiceID: sid, Interface: iface, Region: s.opts.Region,
				RegionID: s.opts.Region, URL: s.baseURL(r) + svc.Path, Enabled: true, Links: s.selfURL(r, "endpoints", id)})
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, endpointList{Endpoints: out, Links: s.links(r)})
	return nil
}

func (s *Service) listRegions(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.caller(r); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, regionList{Regions: []regionView{{ID: s.opts.Region, Links: s.selfURL(r, "regions", s.opts.Region)}},
		Links: s.links(r)})
	return nil
}
