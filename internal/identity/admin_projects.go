package identity

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/identity/keystone"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

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
