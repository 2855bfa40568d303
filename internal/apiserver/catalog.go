package apiserver

import (
	"errors"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Flavors and availability zones (docs/octavia-behaviour.md, "Flavors,
// availability zones and their profiles") behave alike: admins create them
// naming a profile (profile.go), anyone lists them and uses the enabled
// ones, and one that a load balancer uses cannot be deleted (409). Zones
// are addressed by name. catalogAPI holds what differs between the two
// APIs.
type catalogAPI[T any] struct {
	object    policy.Object
	key       string // response wrapper: "flavor", "availability_zone"
	plural    string
	columns   map[string]bool
	post, put *body
	table     func(store.Tx) store.Table[T]
	id        func(*T) string
	// get loads one with the API's own not-found message.
	get func(q *request, tx store.Tx, id string) (*T, error)
	// build makes a new one from a create body; apply changes one as an
	// update body asks.
	build func(o *object) *T
	apply func(v *T, o *object)
	// profile checks that the profile a new one names exists.
	profile func(q *request, tx store.Tx, v *T) error
	// taken is the 409 of a name already used.
	taken func(v *T) error
	// usedBy is the load balancer attribute that names one; name names it
	// in the in-use 409.
	usedBy, name string
	wire         func(*T) any
}

const (
	nameFlavor = "Flavor"
	nameAZ     = "Availability Zone"
)

func (s *Server) flavorAPI() *catalogAPI[lb.Flavor] {
	return &catalogAPI[lb.Flavor]{
		object: policy.Flavor, key: "flavor", plural: "flavors", columns: s.schemas.flavorColumns,
		post: &s.schemas.flavorPost, put: &s.schemas.flavorPut, table: store.Tx.Flavors,
		id: func(f *lb.Flavor) string { return f.ID },
		get: func(q *request, tx store.Tx, id string) (*lb.Flavor, error) {
			return found(tx.Flavors().Get(q.ctx, id))(nameFlavor, id)
		},
		build: func(o *object) *lb.Flavor {
			f := &lb.Flavor{ID: s.newID(), Enabled: true}
			f.Name, _ = o.str("name")
			f.Description, _ = o.str("description")
			if v, set := o.flag("enabled"); set {
				f.Enabled = v
			}
			f.FlavorProfileID, _ = o.str("flavor_profile_id")
			return f
		},
		apply: func(f *lb.Flavor, o *object) {
			if o.has("name") {
				f.Name, _ = o.str("name")
			}
			if o.has("description") {
				f.Description, _ = o.str("description")
			}
			if v, set := o.flag("enabled"); set {
				f.Enabled = v
			}
		},
		profile: func(q *request, tx store.Tx, f *lb.Flavor) error {
			_, err := found(tx.FlavorProfiles().Get(q.ctx, f.FlavorProfileID))(nameFlavorProfile, f.FlavorProfileID)
			return err
		},
		taken:  func(f *lb.Flavor) error { return conflict("A flavor of %s already exists.", f.Name) },
		usedBy: "flavor_id", name: nameFlavor,
		wire: func(f *lb.Flavor) any { return toFlavorWire(f) },
	}
}

func (s *Server) zoneAPI() *catalogAPI[lb.AvailabilityZone] {
	return &catalogAPI[lb.AvailabilityZone]{
		object: policy.AvailabilityZone, key: "availability_zone", plural: "availability_zones", columns: s.schemas.azColumns,
		post: &s.schemas.azPost, put: &s.schemas.azPut, table: store.Tx.AvailabilityZones,
		id: func(z *lb.AvailabilityZone) string { return z.Name },
		get: func(q *request, tx store.Tx, name string) (*lb.AvailabilityZone, error) {
			if name == lb.NilUUID {
				return nil, notFound(nameAZ, name)
			}
			return found(tx.AvailabilityZones().Get(q.ctx, name))(nameAZ, name)
		},
		build: func(o *object) *lb.AvailabilityZone {
			z := &lb.AvailabilityZone{Enabled: true}
			z.Name, _ = o.str("name")
			z.Description, _ = o.str("description")
			if v, set := o.flag("enabled"); set {
				z.Enabled = v
			}
			z.AvailabilityZoneProfileID, _ = o.str("availability_zone_profile_id")
			return z
		},
		apply: func(z *lb.AvailabilityZone, o *object) {
			if o.has("description") {
				z.Description, _ = o.str("description")
			}
			if v, set := o.flag("enabled"); set {
				z.Enabled = v
			}
		},
		profile: func(q *request, tx store.Tx, z *lb.AvailabilityZone) error {
			_, err := getAZProfile(q, tx, z.AvailabilityZoneProfileID)
			return err
		},
		taken: func(z *lb.AvailabilityZone) error {
			return conflict("A availability zone of %s already exists.", z.Name)
		},
		usedBy: "availability_zone", name: nameAZ,
		wire: func(z *lb.AvailabilityZone) any { return toAZWire(z) },
	}
}

// listCatalog lists one catalog table with Octavia's paging (these objects
// have no owner: every caller that passes get_all sees all of them).
func listCatalog[T any](s *Server, q *request, o policy.Object, columns map[string]bool, pg page[T]) error {
	if err := q.authorize(o, policy.GetAll, q.caller.ProjectID); err != nil {
		return err
	}
	p, err := s.parseList(q.query, columns)
	if err != nil {
		return err
	}
	return pg.serve(s, q, p)
}

func (a *catalogAPI[T]) list(s *Server, q *request) error {
	return listCatalog(s, q, a.object, a.columns, page[T]{plural: a.plural, table: a.table, id: a.id, render: each(a.wire)})
}

func (a *catalogAPI[T]) show(s *Server, q *request) error {
	return showUnowned(s, q, a.object, a.key, a.get, a.wire)
}

// showUnowned serves GET of one catalog object: these have no owner, so
// the caller is authorized before the lookup.
func showUnowned[T any](s *Server, q *request, o policy.Object, key string, get func(*request, store.Tx, string) (*T, error), wire func(*T) any) error {
	id := q.param("id")
	if err := q.authorize(o, policy.GetOne, q.caller.ProjectID); err != nil {
		return err
	}
	var w any
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		v, err := get(q, tx, id)
		if err == nil {
			w = wire(v)
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.writeOne(q, key, w)
}

func (a *catalogAPI[T]) create(s *Server, q *request) error {
	o, _, err := s.decodeBody(q, a.post)
	if err != nil {
		return err
	}
	if err := q.authorize(a.object, policy.Post, q.caller.ProjectID); err != nil {
		return err
	}
	v := a.build(o)
	err = s.store.Update(q.ctx, func(tx store.Tx) error {
		if err := a.profile(q, tx, v); err != nil {
			return err
		}
		return a.nameFree(v, a.table(tx).Create(q.ctx, v))
	})
	if err != nil {
		return err
	}
	writeObject(q.w, http.StatusCreated, a.key, a.wire(v))
	return nil
}

// nameFree turns the store's conflict on a write of v into the taken 409.
func (a *catalogAPI[T]) nameFree(v *T, err error) error {
	if errors.Is(err, store.ErrConflict) {
		return a.taken(v)
	}
	return err
}

func (a *catalogAPI[T]) update(s *Server, q *request) error {
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
		v, err := a.get(q, tx, id)
		if err != nil {
			return err
		}
		a.apply(v, o)
		if err := a.nameFree(v, a.table(tx).Update(q.ctx, v)); err != nil {
			return err
		}
		w = a.wire(v)
		return nil
	})
	if err != nil {
		return err
	}
	writeObject(q.w, http.StatusOK, a.key, w)
	return nil
}

func (a *catalogAPI[T]) delete(s *Server, q *request) error {
	id := q.param("id")
	if err := q.authorize(a.object, policy.Delete, q.caller.ProjectID); err != nil {
		return err
	}
	err := s.store.Update(q.ctx, func(tx store.Tx) error {
		if _, err := a.get(q, tx, id); err != nil {
			return err
		}
		n, err := tx.LoadBalancers().Count(q.ctx, store.F(a.usedBy, id))
		if err != nil {
			return err
		}
		if n > 0 {
			return inUse(a.name, id)
		}
		return a.table(tx).Delete(q.ctx, id)
	})
	if err != nil {
		return err
	}
	writeEmpty(q.w, http.StatusNoContent)
	return nil
}

// inUse is Octavia's ObjectInUse 409.
func inUse(resource, id string) error {
	return conflict("%s %s is in use and cannot be modified.", resource, id)
}

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

func (s *Server) listFlavors(q *request) error  { return s.flavorAPI().list(s, q) }
func (s *Server) showFlavor(q *request) error   { return s.flavorAPI().show(s, q) }
func (s *Server) createFlavor(q *request) error { return s.flavorAPI().create(s, q) }
func (s *Server) updateFlavor(q *request) error { return s.flavorAPI().update(s, q) }
func (s *Server) deleteFlavor(q *request) error { return s.flavorAPI().delete(s, q) }

func (s *Server) listAvailabilityZones(q *request) error  { return s.zoneAPI().list(s, q) }
func (s *Server) showAvailabilityZone(q *request) error   { return s.zoneAPI().show(s, q) }
func (s *Server) createAvailabilityZone(q *request) error { return s.zoneAPI().create(s, q) }
func (s *Server) updateAvailabilityZone(q *request) error { return s.zoneAPI().update(s, q) }
func (s *Server) deleteAvailabilityZone(q *request) error { return s.zoneAPI().delete(s, q) }
