package apiserver

import (
	"context"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Flavor profiles and availability zone profiles (docs/octavia-behaviour.md,
// "Flavors, availability zones and their profiles") behave alike: admins
// create them with a provider and metadata validated against the provider's
// capabilities (a zone's agent_zone, or Octavia's compute_zone); a profile
// in use cannot change its provider or metadata, nor be deleted (409); the
// nil UUID is never one. profileAPI holds what differs between the two
// APIs.
type profileAPI[P any] struct {
	object policy.Object
	key    string // response wrapper: "flavorprofile", "availability_zone_profile"
	plural string // "flavorprofiles", "availability_zone_profiles"
	// linksKey is Octavia's singular links key, sent beside the plural.
	linksKey string
	columns  map[string]bool
	dataKey  string // "flavor_data", "availability_zone_data"
	// name names the profile in Octavia's in-use 409 and delete 404.
	name      string
	post, put *body
	metadata  func(provider string) lb.MetadataSchema
	table     func(store.Tx) store.Table[P]
	// users counts the flavors (zones) using profile id.
	users func(ctx context.Context, tx store.Tx, id string) (int, error)
	// get loads a profile with the API's own not-found message.
	get    func(q *request, tx store.Tx, id string) (*P, error)
	fields func(*P) profileFields
	wire   func(*P) any
}

// profileFields points into a profile.
type profileFields struct {
	id, name, provider, data *string
}

func (s *Server) flavorProfileAPI() *profileAPI[lb.FlavorProfile] {
	return &profileAPI[lb.FlavorProfile]{
		object: policy.FlavorProfile, key: "flavorprofile", dataKey: "flavor_data", name: nameNilFlavorProfile,
		plural: "flavorprofiles", linksKey: "flavorprofile_links", columns: s.schemas.flavorProfileColumns,
		post: &s.schemas.flavorProfilePost, put: &s.schemas.flavorProfilePut, metadata: s.flavorSchema,
		table: store.Tx.FlavorProfiles,
		users: func(ctx context.Context, tx store.Tx, id string) (int, error) {
			return tx.Flavors().Count(ctx, store.F("flavor_profile_id", id))
		},
		get: getFlavorProfile,
		fields: func(p *lb.FlavorProfile) profileFields {
			return profileFields{&p.ID, &p.Name, &p.ProviderName, &p.FlavorData}
		},
		wire: func(p *lb.FlavorProfile) any { return toFlavorProfileWire(p) },
	}
}

func (s *Server) azProfileAPI() *profileAPI[lb.AvailabilityZoneProfile] {
	return &profileAPI[lb.AvailabilityZoneProfile]{
		object: policy.AvailabilityZoneProfile, key: "availability_zone_profile", dataKey: "availability_zone_data", name: nameAZProfile,
		plural: "availability_zone_profiles", linksKey: "availability_zone_profile_links", columns: s.schemas.azProfileColumns,
		post: &s.schemas.azProfilePost, put: &s.schemas.azProfilePut, metadata: s.azSchema,
		table: store.Tx.AvailabilityZoneProfiles,
		users: func(ctx context.Context, tx store.Tx, id string) (int, error) {
			return tx.AvailabilityZones().Count(ctx, store.F("availability_zone_profile_id", id))
		},
		get: getAZProfile,
		fields: func(p *lb.AvailabilityZoneProfile) profileFields {
			return profileFields{&p.ID, &p.Name, &p.ProviderName, &p.AvailabilityZoneData}
		},
		wire: func(p *lb.AvailabilityZoneProfile) any { return toAZProfileWire(p) },
	}
}

func listProfiles[P any](s *Server, q *request, a *profileAPI[P]) error {
	return listCatalog(s, q, a.object, a.columns, page[P]{plural: a.plural, table: a.table, linkKeys: []string{a.linksKey},
		id: func(p *P) string { return *a.fields(p).id }, render: each(a.wire)})
}

func showProfile[P any](s *Server, q *request, a *profileAPI[P]) error {
	return showUnowned(s, q, a.object, a.key, a.get, a.wire)
}

func createProfile[P any](s *Server, q *request, a *profileAPI[P]) error {
	o, _, err := s.decodeBody(q, a.post)
	if err != nil {
		return err
	}
	if err := q.authorize(a.object, policy.Post, q.caller.ProjectID); err != nil {
		return err
	}
	p := new(P)
	f := a.fields(p)
	*f.id = s.newID()
	*f.name, _ = o.str("name")
	*f.provider, _ = o.str("provider_name")
	*f.data, _ = o.str(a.dataKey)
	if err := s.validateMetadata(*f.provider, *f.data, a.dataKey, a.metadata); err != nil {
		return err
	}
	if err := s.store.Update(q.ctx, func(tx store.Tx) error { return a.table(tx).Create(q.ctx, p) }); err != nil {
		return err
	}
	writeObject(q.w, http.StatusCreated, a.key, a.wire(p))
	return nil
}

func updateProfile[P any](s *Server, q *request, a *profileAPI[P]) error {
	id := q.param("id")
	o, _, err := s.decodeBody(q, a.put)
	if err != nil {
		return err
	}
	if err := q.authorize(a.object, policy.Put, q.caller.ProjectID); err != nil {
		return err
	}
	var w any
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		if o.has(a.dataKey) || o.has("provider_name") {
			n, err := a.users(q.ctx, tx, id)
			if err != nil {
				return err
			}
			if n > 0 {
				return inUse(a.name, id)
			}
		}
		p, err := a.get(q, tx, id)
		if err != nil {
			return err
		}
		f := a.fields(p)
		if v, ok := o.str("name"); ok {
			*f.name = v
		}
		if v, ok := o.str("provider_name"); ok {
			*f.provider = v
		}
		if v, ok := o.str(a.dataKey); ok {
			*f.data = v
		}
		if o.has(a.dataKey) {
			if err := s.validateMetadata(*f.provider, *f.data, a.dataKey, a.metadata); err != nil {
				return err
			}
		}
		if err := a.table(tx).Update(q.ctx, p); err != nil {
			return err
		}
		w = a.wire(p)
		return nil
	})
	if err != nil {
		return err
	}
	writeObject(q.w, http.StatusOK, a.key, w)
	return nil
}

func deleteProfile[P any](s *Server, q *request, a *profileAPI[P]) error {
	id := q.param("id")
	if err := q.authorize(a.object, policy.Delete, q.caller.ProjectID); err != nil {
		return err
	}
	err := s.store.Update(q.ctx, func(tx store.Tx) error {
		if id == lb.NilUUID {
			return notFound(a.name, id)
		}
		n, err := a.users(q.ctx, tx, id)
		if err != nil {
			return err
		}
		if n > 0 {
			return inUse(a.name, id)
		}
		if _, err := found(a.table(tx).Get(q.ctx, id))(a.name, id); err != nil {
			return err
		}
		return a.table(tx).Delete(q.ctx, id)
	})
	if err != nil {
		return err
	}
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}

const (
	nameFlavorProfile = "Flavor Profile"
	// nameNilFlavorProfile is how Octavia names a flavor profile in the
	// nil-UUID and in-use messages.
	nameNilFlavorProfile = "Flavor profile"
	nameAZProfile        = "Availability Zone Profile"
)

type flavorProfileWire struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ProviderName string `json:"provider_name"`
	FlavorData   string `json:"flavor_data"`
}

func toFlavorProfileWire(p *lb.FlavorProfile) *flavorProfileWire {
	return &flavorProfileWire{ID: p.ID, Name: p.Name, ProviderName: p.ProviderName, FlavorData: p.FlavorData}
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

// getFlavorProfile loads a profile; the nil UUID is Octavia's "Flavor
// profile" 404.
func getFlavorProfile(q *request, tx store.Tx, id string) (*lb.FlavorProfile, error) {
	if id == lb.NilUUID {
		return nil, notFound(nameNilFlavorProfile, id)
	}
	return found(tx.FlavorProfiles().Get(q.ctx, id))(nameFlavorProfile, id)
}

func getAZProfile(q *request, tx store.Tx, id string) (*lb.AvailabilityZoneProfile, error) {
	return found(tx.AvailabilityZoneProfiles().Get(q.ctx, id))(nameAZProfile, id)
}

func (s *Server) listFlavorProfiles(q *request) error {
	return listProfiles(s, q, s.flavorProfileAPI())
}
func (s *Server) showFlavorProfile(q *request) error { return showProfile(s, q, s.flavorProfileAPI()) }
func (s *Server) createFlavorProfile(q *request) error {
	return createProfile(s, q, s.flavorProfileAPI())
}
func (s *Server) updateFlavorProfile(q *request) error {
	return updateProfile(s, q, s.flavorProfileAPI())
}
func (s *Server) deleteFlavorProfile(q *request) error {
	return deleteProfile(s, q, s.flavorProfileAPI())
}

func (s *Server) listAvailabilityZoneProfiles(q *request) error {
	return listProfiles(s, q, s.azProfileAPI())
}
func (s *Server) showAvailabilityZoneProfile(q *request) error {
	return showProfile(s, q, s.azProfileAPI())
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
