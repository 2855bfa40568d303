package apiserver

import (
	"errors"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Flavors and flavor profiles (docs/octavia-behaviour.md, "Flavors, availability zones and their profiles"): admins define profiles
// (provider + metadata validated against the provider's capabilities) and
// flavors naming them; anyone lists flavors and uses enabled ones. A
// profile used by a flavor, or a flavor used by a load balancer, cannot be
// changed or deleted (409). The nil UUID is never an object.

const (
	nameFlavor        = "Flavor"
	nameFlavorProfile = "Flavor Profile"
	// nameNilFlavorProfile is how Octavia names a flavor profile in the
	// nil-UUID and in-use messages.
	nameNilFlavorProfile = "Flavor profile"
)

type flavorWire struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Description     string `json:"description"`
	Enabled         bool   `json:"enabled"`
	FlavorProfileID string `json:"flavor_profile_id"`
}

func toFlavorWire(f *lb.Flavor) *flavorWire {
	return &flavorWire{ID: f.ID, Name: f.Name, Description: f.Description, Enabled: f.Enabled, FlavorProfileID: f.FlavorProfileID}
}

type flavorProfileWire struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ProviderName string `json:"provider_name"`
	FlavorData   string `json:"flavor_data"`
}

func toFlavorProfileWire(p *lb.FlavorProfile) *flavorProfileWire {
	return &flavorProfileWire{ID: p.ID, Name: p.Name, ProviderName: p.ProviderName, FlavorData: p.FlavorData}
}

// inUse is Octavia's ObjectInUse 409.
func inUse(resource, id string) error {
	return conflict("%s %s is in use and cannot be modified.", resource, id)
}

// loadBalancersUsing counts the load balancers whose field is value.
func loadBalancersUsing(q *request, tx store.Tx, field, value string) (int, error) {
	return tx.LoadBalancers().Count(q.ctx, store.F(field, value))
}

// listCatalog lists one catalog table with Octavia's paging (these objects
// have no owner: every caller that passes get_all sees all of them).
func listCatalog[T any](s *Server, q *request, o policy.Object, columns map[string]bool, tbl func(store.Tx) store.Table[T],
	plural, linksKey string, render func(*T) (any, string)) error {
	// linksKey is an extra key for the links (Octavia's singular spelling).
	if err := q.authorize(o, policy.GetAll, q.caller.ProjectID); err != nil {
		return err
	}
	p, err := s.parseList(q.query, columns)
	if err != nil {
		return err
	}
	items := []any{}
	var ids []string
	err = s.store.View(q.ctx, func(tx store.Tx) error {
		list, err := tbl(tx).List(q.ctx, p.query)
		if err != nil {
			return queryError(err)
		}
		for _, x := range list {
			w, id := render(x)
			items = append(items, w)
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var extra []string
	if linksKey != "" {
		extra = append(extra, linksKey)
	}
	return s.writeList(q, p, plural, items, ids, extra...)
}

func (s *Server) listFlavors(q *request) error {
	return listCatalog(s, q, policy.Flavor, s.schemas.flavorColumns, store.Tx.Flavors, "flavors", "",
		func(f *lb.Flavor) (any, string) { return toFlavorWire(f), f.ID })
}

func (s *Server) showFlavor(q *request) error {
	id := q.param("id")
	if err := q.authorize(policy.Flavor, policy.GetOne, q.caller.ProjectID); err != nil {
		return err
	}
	var w *flavorWire
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		f, err := found(tx.Flavors().Get(q.ctx, id))(nameFlavor, id)
		if err == nil {
			w = toFlavorWire(f)
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.writeOne(q, "flavor", w)
}

func (s *Server) createFlavor(q *request) error {
	o, _, err := s.decodeBody(q, &s.schemas.flavorPost)
	if err != nil {
		return err
	}
	if err := q.authorize(policy.Flavor, policy.Post, q.caller.ProjectID); err != nil {
		return err
	}
	f := &lb.Flavor{ID: s.newID(), Enabled: true}
	f.Name, _ = o.str("name")
	f.Description, _ = o.str("description")
	if v, set := o.flag("enabled"); set {
		f.Enabled = v
	}
	f.FlavorProfileID, _ = o.str("flavor_profile_id")
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		if _, err := found(tx.FlavorProfiles().Get(q.ctx, f.FlavorProfileID))(nameFlavorProfile, f.FlavorProfileID); err != nil {
			return err
		}
		if err := tx.Flavors().Create(q.ctx, f); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return conflict("A flavor of %s already exists.", f.Name)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeObject(q.w, http.StatusCreated, "flavor", toFlavorWire(f))
	return nil
}

func (s *Server) updateFlavor(q *request) error {
	id := q.param("id")
	o, _, err := s.decodeBody(q, &s.schemas.flavorPut)
	if err != nil {
		return err
	}
	if err := q.authorize(policy.Flavor, policy.Put, q.caller.ProjectID); err != nil {
		return err
	}
	var w *flavorWire
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		f, err := found(tx.Flavors().Get(q.ctx, id))(nameFlavor, id)
		if err != nil {
			return err
		}
		if o.has("name") {
			f.Name, _ = o.str("name")
		}
		if o.has("description") {
			f.Description, _ = o.str("description")
		}
		if v, set := o.flag("enabled"); set {
			f.Enabled = v
		}
		if err := tx.Flavors().Update(q.ctx, f); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return conflict("A flavor of %s already exists.", f.Name)
			}
			return err
		}
		w = toFlavorWire(f)
		return nil
	})
	if err != nil {
		return err
	}
	writeObject(q.w, http.StatusOK, "flavor", w)
	return nil
}

func (s *Server) deleteFlavor(q *request) error {
	id := q.param("id")
	if err := q.authorize(policy.Flavor, policy.Delete, q.caller.ProjectID); err != nil {
		return err
	}
	err := s.store.Update(q.ctx, func(tx store.Tx) error {
		if _, err := found(tx.Flavors().Get(q.ctx, id))(nameFlavor, id); err != nil {
			return err
		}
		n, err := loadBalancersUsing(q, tx, "flavor_id", id)
		if err != nil {
			return err
		}
		if n > 0 {
			return inUse(nameFlavor, id)
		}
		return tx.Flavors().Delete(q.ctx, id)
	})
	if err != nil {
		return err
	}
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}

// getFlavorProfile loads a profile; the nil UUID is Octavia's "Flavor
// profile" 404.
func getFlavorProfile(q *request, tx store.Tx, id string) (*lb.FlavorProfile, error) {
	if id == lb.NilUUID {
		return nil, notFound(nameNilFlavorProfile, id)
	}
	return found(tx.FlavorProfiles().Get(q.ctx, id))(nameFlavorProfile, id)
}

func (s *Server) listFlavorProfiles(q *request) error {
	return listCatalog(s, q, policy.FlavorProfile, s.schemas.flavorProfileColumns, store.Tx.FlavorProfiles, "flavorprofiles", "flavorprofile_links",
		func(p *lb.FlavorProfile) (any, string) { return toFlavorProfileWire(p), p.ID })
}

func (s *Server) showFlavorProfile(q *request) error {
	id := q.param("id")
	if err := q.authorize(policy.FlavorProfile, policy.GetOne, q.caller.ProjectID); err != nil {
		return err
	}
	var w *flavorProfileWire
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		p, err := getFlavorProfile(q, tx, id)
		if err == nil {
			w = toFlavorProfileWire(p)
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.writeOne(q, "flavorprofile", w)
}

func (s *Server) createFlavorProfile(q *request) error {
	return createProfile(s, q, s.flavorProfileAPI())
}

func (s *Server) updateFlavorProfile(q *request) error {
	return updateProfile(s, q, s.flavorProfileAPI())
}

func (s *Server) deleteFlavorProfile(q *request) error {
	return deleteProfile(s, q, s.flavorProfileAPI())
}
