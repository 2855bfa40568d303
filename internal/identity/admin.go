package identity

import (
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
