package apiserver

import (
	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Load balancer create with a flavor and an availability zone: both must
// exist and be enabled, the flavor's provider decides the provider unless
// one is given (then they must match), and the provider must still accept
// the profiles' metadata. The write path checks the flavor and the zone
// again in the create transaction. The scheduler of the fulcrum provider
// reads the flavor's agent_group and the zone's agent_zone.

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
			if fp, err = change.EnabledFlavor(q.ctx, tx, flavorID); err != nil {
				return err
			}
		}
		if hasAZ {
			zp, err = change.EnabledZone(q.ctx, tx, azName)
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
