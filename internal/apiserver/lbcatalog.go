package apiserver

import (
	"errors"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Load balancer create with a flavor and an availability zone (§5.1): both
// must exist and be enabled, the flavor's provider decides the provider
// unless one is given (then they must match), and the provider must still
// accept the profiles' metadata. The scheduler of the fulcrum provider
// reads the flavor's agent_group and the zone's agent_zone.

const (
	msgInvalidFlavor = "Invalid flavor_id."
	msgInvalidAZ     = "Invalid availability zone."
)

// resolveCatalog checks the flavor_id, availability_zone and provider of a
// load balancer create body in Octavia's order and returns the provider the
// load balancer runs on.
func (s *Server) resolveCatalog(q *request, o *object) (string, error) {
	flavorID, hasFlavor := o.str("flavor_id")
	azName, hasAZ := o.str("availability_zone")
	requested, hasProvider := o.str("provider")
	var fp *lb.FlavorProfile
	var zp *lb.AvailabilityZoneProfile
	err := s.store.View(q.ctx, func(tx store.Tx) error {
		var err error
		if hasFlavor {
			if fp, err = flavorProfileOf(q, tx, flavorID); err != nil {
				return err
			}
		}
		if hasAZ {
			zp, err = zoneProfileOf(q, tx, azName)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	provider := s.provider
	switch {
	case hasProvider && fp != nil:
		if s.aliasOf(requested) != s.aliasOf(fp.ProviderName) {
			return "", badRequest("Flavor '%s' is not compatible with provider '%s'", flavorID, requested)
		}
		provider = requested
	case hasProvider:
		provider = requested
	case fp != nil:
		provider = fp.ProviderName
	}
	resolved, err := s.runnableProvider(provider)
	if err != nil {
		return "", err
	}
	if fp != nil {
		if err := s.validateMetadata(provider, fp.FlavorData, "flavor_data", flavorSchema); err != nil {
			return "", err
		}
	}
	if zp != nil {
		if err := s.validateMetadata(provider, zp.AvailabilityZoneData, "availability_zone_data", azSchema); err != nil {
			return "", err
		}
	}
	return resolved, nil
}

// aliasOf maps a provider alias to its target; other names map to
// themselves.
func (s *Server) aliasOf(name string) string {
	if t, ok := s.aliases[name]; ok {
		return t
	}
	return name
}

// flavorProfileOf returns the profile of an enabled flavor, or the 400s of
// an unknown or disabled one.
func flavorProfileOf(q *request, tx store.Tx, flavorID string) (*lb.FlavorProfile, error) {
	f, err := tx.Flavors().Get(q.ctx, flavorID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, lb.Invalid(msgInvalidFlavor)
	}
	if err != nil {
		return nil, err
	}
	if !f.Enabled {
		return nil, lb.NotAllowed("flavor", flavorID)
	}
	fp, err := tx.FlavorProfiles().Get(q.ctx, f.FlavorProfileID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, lb.Invalid(msgInvalidFlavor)
	}
	return fp, err
}

// zoneProfileOf returns the profile of an enabled availability zone, or the
// 400s of an unknown or disabled one.
func zoneProfileOf(q *request, tx store.Tx, name string) (*lb.AvailabilityZoneProfile, error) {
	z, err := tx.AvailabilityZones().Get(q.ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, lb.Invalid(msgInvalidAZ)
	}
	if err != nil {
		return nil, err
	}
	if !z.Enabled {
		return nil, lb.NotAllowed("availability_zone", name)
	}
	zp, err := tx.AvailabilityZoneProfiles().Get(q.ctx, z.AvailabilityZoneProfileID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, lb.Invalid(msgInvalidAZ)
	}
	return zp, err
}

// recheckCatalog repeats the flavor and zone checks inside the create
// transaction, so a flavor or zone deleted meanwhile is not referenced.
func recheckCatalog(q *request, tx store.Tx, l *lb.LoadBalancer) error {
	if l.FlavorID != "" {
		if _, err := flavorProfileOf(q, tx, l.FlavorID); err != nil {
			return err
		}
	}
	if l.AvailabilityZone != "" {
		if _, err := zoneProfileOf(q, tx, l.AvailabilityZone); err != nil {
			return err
		}
	}
	return nil
}
