package apiserver

import (
	"errors"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Availability zones and their profiles (docs/octavia-behaviour.md, "Flavors, availability zones and their profiles"). Zones are addressed
// by name; a profile's availability_zone_data is validated against the
// provider's capabilities (agent_zone, or Octavia's compute_zone).

const (
	nameAZ        = "Availability Zone"
	nameAZProfile = "Availability Zone Profile"
)

type availabilityZoneWire struct {
	Name                      string `json:"name"`
	Description               string `json:"description"`
	Enabled                   bool   `json:"enabled"`
	AvailabilityZoneProfileID string `json:"availability_zone_profile_id"`
}

func toAZWire(z *lb.AvailabilityZone) *availabilityZoneWire {
	return &availabilityZoneWire{Name: z.Name, Description: z.Description, Enabled: z.Enabled,
		AvailabilityZoneProfileID: z.AvailabilityZoneProfileID}
}

type availabilityZoneProfileWire struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	ProviderName         string `json:"provider_name"`
	AvailabilityZoneData string `json:"availability_zone_data"`
}

func toAZProfileWire(p *lb.AvailabilityZoneProfile) *availabilityZoneProfileWire {
	return &availabilityZoneProfileWire{ID: p.ID, Name: p.Name, ProviderName: p.ProviderName, AvailabilityZoneData: p.AvailabilityZoneData}
}

func getAZ(q *request, tx store.Tx, name string) (*lb.AvailabilityZone, error) {
	if name == lb.NilUUID {
		return nil, notFound(nameAZ, name)
	}
	return found(tx.AvailabilityZones().Get(q.ctx, name))(nameAZ, name)
}

func getAZProfile(q *request, tx store.Tx, id string) (*lb.AvailabilityZoneProfile, error) {
	return found(tx.AvailabilityZoneProfiles().Get(q.ctx, id))(nameAZProfile, id)
}

func (s *Server) listAvailabilityZones(q *request) error {
	return listCatalog(s, q, policy.AvailabilityZone, s.schemas.azColumns, store.Tx.AvailabilityZones, "availability_zones", "",
		func(z *lb.AvailabilityZone) (any, string) { return toAZWire(z), z.Name })
}

func (s *Server) showAvailabilityZone(q *request) error {
	name := q.param("id")
	if err := q.authorize(policy.AvailabilityZone, policy.GetOne, q.caller.ProjectID); err != nil {
		return err
	}
	var w *availabilityZoneWire
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		z, err := getAZ(q, tx, name)
		if err == nil {
			w = toAZWire(z)
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.writeOne(q, "availability_zone", w)
}

func (s *Server) createAvailabilityZone(q *request) error {
	o, _, err := s.decodeBody(q, &s.schemas.azPost)
	if err != nil {
		return err
	}
	if err := q.authorize(policy.AvailabilityZone, policy.Post, q.caller.ProjectID); err != nil {
		return err
	}
	z := &lb.AvailabilityZone{Enabled: true}
	z.Name, _ = o.str("name")
	z.Description, _ = o.str("description")
	if v, set := o.flag("enabled"); set {
		z.Enabled = v
	}
	z.AvailabilityZoneProfileID, _ = o.str("availability_zone_profile_id")
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		if _, err := getAZProfile(q, tx, z.AvailabilityZoneProfileID); err != nil {
			return err
		}
		if err := tx.AvailabilityZones().Create(q.ctx, z); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return conflict("A availability zone of %s already exists.", z.Name)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeObject(q.w, http.StatusCreated, "availability_zone", toAZWire(z))
	return nil
}

func (s *Server) updateAvailabilityZone(q *request) error {
	name := q.param("id")
	o, _, err := s.decodeBody(q, &s.schemas.azPut)
	if err != nil {
		return err
	}
	if err := q.authorize(policy.AvailabilityZone, policy.Put, q.caller.ProjectID); err != nil {
		return err
	}
	var w *availabilityZoneWire
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		z, err := getAZ(q, tx, name)
		if err != nil {
			return err
		}
		if o.has("description") {
			z.Description, _ = o.str("description")
		}
		if v, set := o.flag("enabled"); set {
			z.Enabled = v
		}
		if err := tx.AvailabilityZones().Update(q.ctx, z); err != nil {
			return err
		}
		w = toAZWire(z)
		return nil
	})
	if err != nil {
		return err
	}
	writeObject(q.w, http.StatusOK, "availability_zone", w)
	return nil
}

func (s *Server) deleteAvailabilityZone(q *request) error {
	name := q.param("id")
	if err := q.authorize(policy.AvailabilityZone, policy.Delete, q.caller.ProjectID); err != nil {
		return err
	}
	err := s.store.Update(q.ctx, func(tx store.Tx) error {
		if _, err := getAZ(q, tx, name); err != nil {
			return err
		}
		n, err := loadBalancersUsing(q, tx, "availability_zone", name)
		if err != nil {
			return err
		}
		if n > 0 {
			return inUse(nameAZ, name)
		}
		return tx.AvailabilityZones().Delete(q.ctx, name)
	})
	if err != nil {
		return err
	}
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}

func (s *Server) listAvailabilityZoneProfiles(q *request) error {
	return listCatalog(s, q, policy.AvailabilityZoneProfile, s.schemas.azProfileColumns, store.Tx.AvailabilityZoneProfiles,
		"availability_zone_profiles", "availability_zone_profile_links",
		func(p *lb.AvailabilityZoneProfile) (any, string) { return toAZProfileWire(p), p.ID })
}

func (s *Server) showAvailabilityZoneProfile(q *request) error {
	id := q.param("id")
	if err := q.authorize(policy.AvailabilityZoneProfile, policy.GetOne, q.caller.ProjectID); err != nil {
		return err
	}
	var w *availabilityZoneProfileWire
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		p, err := getAZProfile(q, tx, id)
		if err == nil {
			w = toAZProfileWire(p)
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.writeOne(q, "availability_zone_profile", w)
}

func (s *Server) createAvailabilityZoneProfile(q *request) error {
	return createProfile(s, q, s.azProfileAPI())
}

func (s *Server) updateAvailabilityZoneProfile(q *request) error {
	return updateProfile(s, q, s.azProfileAPI())
}

func (s *Server) deleteAvailabilityZoneProfile(q *request) error {
	return deleteProfile(s, q, s.azProfileAPI())
}
