package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/identity/keystone"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// listFilters turns the query parameters Keystone filters on into store
// filters; other parameters are ignored, as Keystone does.
func listFilters(r *http.Request, params ...string) ([]store.Filter, error) {
	var out []store.Filter
	q := r.URL.Query()
	for _, p := range params {
		if !q.Has(p) {
			continue
		}
		v := q.Get(p)
		if p == "enabled" {
			switch strings.ToLower(v) {
			case "", "0", "false", "f", "no", "n", "off":
				v = "false"
			default:
				v = "true"
			}
		}
		out = append(out, store.F(p, v))
	}
	return out, nil
}

func (s *Service) selfURL(r *http.Request, kind, id string) selfLink {
	return selfLink{Self: s.v3URL(r) + "/" + kind + "/" + id}
}

// conflictOrErr turns a store conflict into Keystone's 409.
func conflictOrErr(err error, kind, name string) error {
	if errors.Is(err, store.ErrConflict) {
		return errConflict(fmt.Sprintf("Conflict occurred attempting to store %s - Duplicate entry found with name %s.", kind, name))
	}
	return err
}

func notFoundOrErr(err error, kind, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound(kind, id)
	}
	return err
}

// ---- domains

func (s *Service) domainJSON(r *http.Request, d *keystone.Domain) domainView {
	return domainView{ID: d.ID, Name: d.Name, Description: d.Description, Enabled: d.Enabled,
		Tags: []string{}, Links: s.selfURL(r, "domains", d.ID)}
}

func (s *Service) listDomains(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r, "identity:list_domains"); err != nil {
		return err
	}
	filters, _ := listFilters(r, "name", "enabled")
	out := []domainView{}
	err := s.view(r.Context(), func(tx store.Tx) error {
		list, err := tx.Domains().List(r.Context(), store.Query{Filters: filters})
		for _, d := range list {
			out = append(out, s.domainJSON(r, d))
		}
		return err
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, domainList{Domains: out, Links: s.links(r)})
	return nil
}

func (s *Service) getDomain(w http.ResponseWriter, r *http.Request) error {
	p, err := s.caller(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	var d *keystone.Domain
	err = s.view(r.Context(), func(tx store.Tx) error {
		var err error
		d, err = tx.Domains().Get(r.Context(), id)
		return notFoundOrErr(err, "domain", id)
	})
	if err != nil {
		return err
	}
	if !p.HasRole(keystone.RoleAdmin) && p.DomainID != d.ID {
		return errForbidden("identity:get_domain")
	}
	httpapi.WriteJSON(w, http.StatusOK, domainReply{s.domainJSON(r, d)})
	return nil
}

func (s *Service) createDomain(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r, "identity:create_domain"); err != nil {
		return err
	}
	var req struct {
		Domain *struct {
			Name        string  `json:"name"`
			Description string  `json:"description"`
			Enabled     *bool   `json:"enabled"`
			ID          *string `json:"explicit_domain_id"`
		} `json:"domain"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Domain == nil || req.Domain.Name == "" {
		return errBadRequest("Invalid input for field 'name': 'name' is a required property")
	}
	d := &keystone.Domain{ID: newID(), Name: req.Domain.Name, Description: req.Domain.Description, Enabled: req.Domain.Enabled == nil || *req.Domain.Enabled, CreatedAt: s.now()}
	if req.Domain.ID != nil && *req.Domain.ID != "" {
		d.ID = *req.Domain.ID
	}
	err := s.update(r.Context(), func(tx store.Tx) error {
		return conflictOrErr(tx.Domains().Create(r.Context(), d), "domain", d.Name)
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, domainReply{s.domainJSON(r, d)})
	return nil
}

// ---- projects

func (s *Service) projectJSON(r *http.Request, p *keystone.Project) projectView {
	parent := p.ParentID
	if parent == "" {
		parent = p.DomainID
	}
	tags := p.Tags
	if tags == nil {
		tags = []string{}
	}
	return projectView{ID: p.ID, Name: p.Name, DomainID: p.DomainID, Description: p.Description,
		Enabled: p.Enabled, ParentID: parent, Tags: tags, Links: s.selfURL(r, "projects", p.ID)}
}

type projectBody struct {
	Name        *string   `json:"name"`
	DomainID    *string   `json:"domain_id"`
	ParentID    *string   `json:"parent_id"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
	Tags        *[]string `json:"tags"`
	IsDomain    *bool     `json:"is_domain"`
}

func (s *Service) listProjects(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r, "identity:list_projects"); err != nil {
		return err
	}
	filters, _ := listFilters(r, "name", "domain_id", "enabled", "parent_id")
	out := []projectView{}
	err := s.view(r.Context(), func(tx store.Tx) error {
		list, err := tx.Projects().List(r.Context(), store.Query{Filters: filters})
		for _, p := range list {
			out = append(out, s.projectJSON(r, p))
		}
		return err
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, projectList{Projects: out, Links: s.links(r)})
	return nil
}

func (s *Service) getProject(w http.ResponseWriter, r *http.Request) error {
	caller, err := s.caller(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if !caller.HasRole(keystone.RoleAdmin) && caller.ProjectID != id {
		return errForbidden("identity:get_project")
	}
	var p *keystone.Project
	err = s.view(r.Context(), func(tx store.Tx) error {
		var err error
		p, err = tx.Projects().Get(r.Context(), id)
		return notFoundOrErr(err, "project", id)
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, projectReply{s.projectJSON(r, p)})
	return nil
}

func (s *Service) createProject(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r, "identity:create_project"); err != nil {
		return err
	}
	var req struct {
		Project *projectBody `json:"project"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	b := req.Project
	if b == nil || str(b.Name) == "" {
		return errBadRequest("Invalid input for field 'name': 'name' is a required property")
	}
	if b.IsDomain != nil && *b.IsDomain {
		return errBadRequest("Projects acting as domains are not supported.")
	}
	ctx := r.Context()
	p := &keystone.Project{ID: newID(), Name: *b.Name, DomainID: str(b.DomainID), Description: str(b.Description),
		Enabled: b.Enabled == nil || *b.Enabled, Tags: []string{}, CreatedAt: s.now()}
	if b.Tags != nil {
		p.Tags = *b.Tags
	}
	err := s.update(ctx, func(tx store.Tx) error {
		if pid := str(b.ParentID); pid != "" {
			parent, err := tx.Projects().Get(ctx, pid)
			if err != nil {
				if _, derr := tx.Domains().Get(ctx, pid); derr == nil {
					if p.DomainID == "" {
						p.DomainID = pid
					}
				} else {
					return notFoundOrErr(err, "project", pid)
				}
			} else {
				p.ParentID = parent.ID
				if p.DomainID == "" {
					p.DomainID = parent.DomainID
				}
			}
		}
		if p.DomainID == "" {
			p.DomainID = keystone.DefaultDomainID
		}
		if _, err := tx.Domains().Get(ctx, p.DomainID); err != nil {
			return notFoundOrErr(err, "domain", p.DomainID)
		}
		err := tx.Projects().Create(ctx, p)
		if errors.Is(err, store.ErrConflict) {
			return errConflict(fmt.Sprintf("Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : %s.", p.Name))
		}
		return err
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, projectReply{s.projectJSON(r, p)})
	return nil
}

func (s *Service) updateProject(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r, "identity:update_project"); err != nil {
		return err
	}
	var req struct {
		Project *projectBody `json:"project"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Project == nil {
		return errBadRequest("Invalid input for field 'project': 'project' is a required property")
	}
	b := req.Project
	ctx := r.Context()
	id := r.PathValue("id")
	var p *keystone.Project
	err := s.update(ctx, func(tx store.Tx) error {
		var err error
		p, err = tx.Projects().Lock(ctx, id)
		if err != nil {
			return notFoundOrErr(err, "project", id)
		}
		if b.DomainID != nil && *b.DomainID != p.DomainID {
			return errBadRequest("Update of `domain_id` is not allowed.")
		}
		wasEnabled := p.Enabled
		if b.Name != nil {
			p.Name = *b.Name
		}
		if b.Description != nil {
			p.Description = *b.Description
		}
		if b.Enabled != nil {
			p.Enabled = *b.Enabled
		}
		if b.Tags != nil {
			p.Tags = *b.Tags
		}
		if err := conflictOrErr(tx.Projects().Update(ctx, p), "project", p.Name); err != nil {
			return err
		}
		if wasEnabled && !p.Enabled {
			return s.revoke(ctx, tx, "", p.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, projectReply{s.projectJSON(r, p)})
	return nil
}

func (s *Service) deleteProject(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r, "identity:delete_project"); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	err := s.update(ctx, func(tx store.Tx) error {
		if err := tx.Projects().Delete(ctx, id); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errConflict("Cannot delete a project that has child projects.")
			}
			return notFoundOrErr(err, "project", id)
		}
		return s.revoke(ctx, tx, "", id)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- users

func (s *Service) userJSON(r *http.Request, u *keystone.User) userView {
	return userView{ID: u.ID, Name: u.Name, DomainID: u.DomainID, Enabled: u.Enabled, Links: s.selfURL(r, "users", u.ID),
		Description: u.Description, Email: u.Email, DefaultProjectID: u.DefaultProjectID}
}

type userBody struct {
	Name             *string `json:"name"`
	DomainID         *string `json:"domain_id"`
	Password         *string `json:"password"`
	Enabled          *bool   `json:"enabled"`
	DefaultProjectID *string `json:"default_project_id"`
	Description      *string `json:"description"`
	Email            *string `json:"email"`
}

func (s *Service) listUsers(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r, "identity:list_users"); err != nil {
		return err
	}
	filters, _ := listFilters(r, "name", "domain_id", "enabled")
	out := []userView{}
	err := s.view(r.Context(), func(tx store.Tx) error {
		list, err := tx.Users().List(r.Context(), store.Query{Filters: filters})
		for _, u := range list {
			out = append(out, s.userJSON(r, u))
		}
		return err
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, userList{Users: out, Links: s.links(r)})
	return nil
}

// selfOrAdmin authenticates the caller and allows only the user id itself
// or an admin.
func (s *Service) selfOrAdmin(r *http.Request, userID, action string) (*Principal, error) {
	p, err := s.caller(r)
	if err != nil {
		return nil, err
	}
	if p.UserID != userID && !p.HasRole(keystone.RoleAdmin) {
		return nil, errForbidden(action)
	}
	return p, nil
}

func (s *Service) getUser(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.selfOrAdmin(r, id, "identity:get_user"); err != nil {
		return err
	}
	var u *keystone.User
	err := s.view(r.Context(), func(tx store.Tx) error {
		var err error
		u, err = tx.Users().Get(r.Context(), id)
		return notFoundOrErr(err, "user", id)
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, userReply{s.userJSON(r, u)})
	return nil
}

func (s *Service) createUser(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r, "identity:create_user"); err != nil {
		return err
	}
	var req struct {
		User *userBody `json:"user"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	b := req.User
	if b == nil || str(b.Name) == "" {
		return errBadRequest("Invalid input for field 'name': 'name' is a required property")
	}
	now := s.now()
	u := &keystone.User{ID: newID(), Name: *b.Name, DomainID: str(b.DomainID), Enabled: b.Enabled == nil || *b.Enabled,
		DefaultProjectID: str(b.DefaultProjectID), Description: str(b.Description), Email: str(b.Email), CreatedAt: now}
	if u.DomainID == "" {
		u.DomainID = keystone.DefaultDomainID
	}
	if b.Password != nil {
		hash, err := HashPassword(*b.Password, s.opts.Hash)
		if err != nil {
			return err
		}
		u.PasswordHash, u.PasswordChangedAt = hash, &now
	}
	ctx := r.Context()
	err := s.update(ctx, func(tx store.Tx) error {
		if _, err := tx.Domains().Get(ctx, u.DomainID); err != nil {
			return notFoundOrErr(err, "domain", u.DomainID)
		}
		if u.DefaultProjectID != "" {
			if _, err := tx.Projects().Get(ctx, u.DefaultProjectID); err != nil {
				return notFoundOrErr(err, "project", u.DefaultProjectID)
			}
		}
		err := tx.Users().Create(ctx, u)
		if errors.Is(err, store.ErrConflict) {
			return errConflict(fmt.Sprintf("Conflict occurred attempting to store user - Duplicate entry found with name %s at domain ID %s.", u.Name, u.DomainID))
		}
		return err
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, userReply{s.userJSON(r, u)})
	return nil
}

func (s *Service) updateUser(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r, "identity:update_user"); err != nil {
		return err
	}
	var req struct {
		User *userBody `json:"user"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.User == nil {
		return errBadRequest("Invalid input for field 'user': 'user' is a required property")
	}
	b := req.User
	now := s.now()
	var hash string
	if b.Password != nil {
		var err error
		if hash, err = HashPassword(*b.Password, s.opts.Hash); err != nil {
			return err
		}
	}
	ctx := r.Context()
	id := r.PathValue("id")
	var u *keystone.User
	err := s.update(ctx, func(tx store.Tx) error {
		var err error
		u, err = tx.Users().Lock(ctx, id)
		if err != nil {
			return notFoundOrErr(err, "user", id)
		}
		revoke := false
		if b.Name != nil {
			u.Name = *b.Name
		}
		if b.Description != nil {
			u.Description = *b.Description
		}
		if b.Email != nil {
			u.Email = *b.Email
		}
		if b.DefaultProjectID != nil {
			u.DefaultProjectID = *b.DefaultProjectID
		}
		if b.Enabled != nil {
			revoke = revoke || (u.Enabled && !*b.Enabled)
			u.Enabled = *b.Enabled
		}
		if b.Password != nil {
			u.PasswordHash, u.PasswordChangedAt = hash, &now
			revoke = true
		}
		if err := conflictOrErr(tx.Users().Update(ctx, u), "user", u.Name); err != nil {
			return err
		}
		if revoke {
			return s.revoke(ctx, tx, u.ID, "")
		}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, userReply{s.userJSON(r, u)})
	return nil
}

func (s *Service) deleteUser(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r, "identity:delete_user"); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	err := s.update(ctx, func(tx store.Tx) error {
		if err := tx.Users().Delete(ctx, id); err != nil {
			return notFoundOrErr(err, "user", id)
		}
		return s.revoke(ctx, tx, id, "")
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) changePassword(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	p, err := s.caller(r)
	if err != nil {
		return err
	}
	if p.UserID != id {
		return errForbidden("identity:change_password")
	}
	var req struct {
		User *struct {
			Password         *string `json:"password"`
			OriginalPassword *string `json:"original_password"`
		} `json:"user"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.User == nil || req.User.Password == nil || req.User.OriginalPassword == nil {
		return errBadRequest("Invalid input for field 'user': 'password' and 'original_password' are required properties")
	}
	ctx := r.Context()
	uid := id
	if _, err := s.passwordAuth(ctx, &idName{ID: &uid}, *req.User.OriginalPassword); err != nil {
		return err
	}
	hash, err := HashPassword(*req.User.Password, s.opts.Hash)
	if err != nil {
		return err
	}
	now := s.now()
	err = s.update(ctx, func(tx store.Tx) error {
		u, err := tx.Users().Lock(ctx, id)
		if err != nil {
			return notFoundOrErr(err, "user", id)
		}
		u.PasswordHash, u.PasswordChangedAt = hash, &now
		if err := tx.Users().Update(ctx, u); err != nil {
			return err
		}
		return s.revoke(ctx, tx, id, "")
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) userProjects(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.selfOrAdmin(r, id, "identity:list_user_projects"); err != nil {
		return err
	}
	return s.writeUserProjects(w, r, id)
}

func (s *Service) writeUserProjects(w http.ResponseWriter, r *http.Request, userID string) error {
	ctx := r.Context()
	out := []projectView{}
	err := s.view(ctx, func(tx store.Tx) error {
		as, err := tx.Assignments().List(ctx, store.Query{Filters: []store.Filter{store.F("user_id", userID)}})
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, a := range as {
			if a.ProjectID == "" || seen[a.ProjectID] {
				continue
			}
			seen[a.ProjectID] = true
			p, err := tx.Projects().Get(ctx, a.ProjectID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, s.projectJSON(r, p))
		}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, projectList{Projects: out, Links: s.links(r)})
	return nil
}

func (s *Service) userGroups(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.selfOrAdmin(r, r.PathValue("id"), "identity:list_groups_for_user"); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, groupList{Groups: []struct{}{}, Links: s.links(r)})
	return nil
}

// ---- roles

func (s *Service) roleJSON(r *http.Request, role *keystone.Role) roleView {
	return roleView{ID: role.ID, Name: role.Name, Description: role.Description, Links: s.selfURL(r, "roles", role.ID)}
}

func (s *Service) listRoles(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r, "identity:list_roles"); err != nil {
		return err
	}
	filters, _ := listFilters(r, "name")
	out := []roleView{}
	err := s.view(r.Context(), func(tx store.Tx) error {
		list, err := tx.Roles().List(r.Context(), store.Query{Filters: filters})
		for _, role := range list {
			out = append(out, s.roleJSON(r, role))
		}
		return err
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, roleList{Roles: out, Links: s.links(r)})
	return nil
}

func (s *Service) getRole(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r, "identity:get_role"); err != nil {
		return err
	}
	id := r.PathValue("id")
	var role *keystone.Role
	err := s.view(r.Context(), func(tx store.Tx) error {
		var err error
		role, err = tx.Roles().Get(r.Context(), id)
		return notFoundOrErr(err, "role", id)
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, roleReply{s.roleJSON(r, role)})
	return nil
}

type roleBody struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

func (s *Service) createRole(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r, "identity:create_role"); err != nil {
		return err
	}
	var req struct {
		Role *roleBody `json:"role"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Role == nil || str(req.Role.Name) == "" {
		return errBadRequest("Invalid input for field 'name': 'name' is a required property")
	}
	role := &keystone.Role{ID: newID(), Name: *req.Role.Name, Description: str(req.Role.Description), CreatedAt: s.now()}
	err := s.update(r.Context(), func(tx store.Tx) error {
		return conflictOrErr(tx.Roles().Create(r.Context(), role), "role", role.Name)
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, roleReply{s.roleJSON(r, role)})
	return nil
}

func (s *Service) updateRole(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r, "identity:update_role"); err != nil {
		return err
	}
	var req struct {
		Role *roleBody `json:"role"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Role == nil {
		return errBadRequest("Invalid input for field 'role': 'role' is a required property")
	}
	ctx := r.Context()
	id := r.PathValue("id")
	var role *keystone.Role
	err := s.update(ctx, func(tx store.Tx) error {
		var err error
		role, err = tx.Roles().Lock(ctx, id)
		if err != nil {
			return notFoundOrErr(err, "role", id)
		}
		if req.Role.Name != nil && *req.Role.Name != role.Name {
			// Tokens carry role names: a rename must not leave old tokens
			// holding a name that now means something else.
			if err := s.revokeHolders(ctx, tx, role.ID); err != nil {
				return err
			}
			role.Name = *req.Role.Name
		}
		if req.Role.Description != nil {
			role.Description = *req.Role.Description
		}
		return conflictOrErr(tx.Roles().Update(ctx, role), "role", role.Name)
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, roleReply{s.roleJSON(r, role)})
	return nil
}

// revokeHolders revokes the tokens of every assignment of role.
func (s *Service) revokeHolders(ctx context.Context, tx store.Tx, roleID string) error {
	as, err := tx.Assignments().List(ctx, store.Query{Filters: []store.Filter{store.F("role_id", roleID)}})
	if err != nil {
		return err
	}
	for _, a := range as {
		if err := s.revoke(ctx, tx, a.UserID, a.ProjectID); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) deleteRole(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r, "identity:delete_role"); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	err := s.update(ctx, func(tx store.Tx) error {
		if err := s.revokeHolders(ctx, tx, id); err != nil {
			return err
		}
		return notFoundOrErr(tx.Roles().Delete(ctx, id), "role", id)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

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
		err := s.update(ctx, func(tx store.Tx) error {
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
		})
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
