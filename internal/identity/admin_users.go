package identity

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/identity/keystone"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

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
