package identity

import (
	"context"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/identity/keystone"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

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
