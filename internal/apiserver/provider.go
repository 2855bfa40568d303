package apiserver

import (
	"errors"
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/change"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Providers: the API lists the enabled providers, the HAProxy provider
// (always listed; runnable where the server enables it) and the Octavia names accepted as aliases,
// and serves each provider's flavor and availability zone capabilities,
// which also validate profile data.

// providerDescriptions are the descriptions of the providers fulcrum knows.
func providerDescriptions() map[string]string {
	return map[string]string{
		lb.ProviderFulcrum: "The fulcrum provider: load balancers run on fulcrum data-plane agents with the native engine, or HAProxy when the flavor says engine: haproxy.",
		lb.ProviderHAProxy: "fulcrum data-plane agents driving HAProxy (fulcrum agent --engine haproxy).",
		lb.ProviderNoop:    "The no-op provider: accepts everything and runs nothing (API only, for tests).",
	}
}

type providerWire struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// listedProviders returns the providers GET /providers shows, in order:
// the enabled ones, haproxy, then the aliases.
func (s *Server) listedProviders() []providerWire {
	desc := providerDescriptions()
	var out []providerWire
	add := func(name, d string) {
		if !slices.ContainsFunc(out, func(p providerWire) bool { return p.Name == name }) {
			out = append(out, providerWire{Name: name, Description: d})
		}
	}
	for _, p := range s.providers {
		add(p, desc[p])
	}
	add(lb.ProviderHAProxy, desc[lb.ProviderHAProxy])
	aliases := make([]string, 0, len(s.aliases))
	for a := range s.aliases {
		aliases = append(aliases, a)
	}
	slices.Sort(aliases)
	for _, a := range aliases {
		add(a, "Alias of the "+s.aliases[a]+" provider, for Octavia clients and scripts.")
	}
	return out
}

// resolveProvider maps a provider name as sent (an alias or a listed
// provider) to the provider it designates, or returns Octavia's 400
// "Provider '<p>' is not enabled.".
func (s *Server) resolveProvider(name string) (string, error) {
	if target, ok := s.aliases[name]; ok {
		name = target
	}
	if slices.Contains(s.providers, name) || name == lb.ProviderHAProxy {
		return name, nil
	}
	return "", badRequest("Provider '%s' is not enabled.", name)
}

// runnableProvider is resolveProvider for a load balancer: the provider
// must also be able to run it.
func (s *Server) runnableProvider(name string) (string, error) {
	p, err := s.resolveProvider(name)
	if err != nil {
		return "", err
	}
	if !slices.Contains(s.providers, p) {
		return "", badRequest("Provider '%s' is not enabled.", name)
	}
	return p, nil
}

// Metadata schemas go by the provider name as given. Octavia's names
// (amphora, octavia) list Octavia's amphora driver metadata first, exactly
// as Octavia does, so profiles written for Octavia carry over, then
// fulcrum's own keys; fulcrum's providers list their keys first, then
// Octavia's (the haproxy provider only its own). Either accepts both.

// engineSchema is fulcrum's flavor metadata for a resolved provider: the
// fulcrum provider runs either engine, the haproxy provider HAProxy only.
func engineSchema(resolved string) lb.MetadataSchema {
	switch resolved {
	case lb.ProviderHAProxy:
		return lb.FlavorSchema(lb.EngineHAProxy)
	case lb.ProviderFulcrum:
		return lb.FlavorSchema(lb.EngineNative, lb.EngineHAProxy)
	}
	return lb.FlavorSchema(lb.EngineNative)
}

// flavorSchema returns the flavor metadata provider (as named) accepts.
func (s *Server) flavorSchema(provider string) lb.MetadataSchema {
	own := engineSchema(s.aliasOf(provider))
	if lb.IsOctaviaProvider(provider) {
		return lb.OctaviaFlavorSchema().Union(own)
	}
	if s.aliasOf(provider) == lb.ProviderHAProxy {
		return own
	}
	return own.Union(lb.OctaviaFlavorSchema())
}

// azSchema returns the availability zone metadata provider (as named)
// accepts.
func (s *Server) azSchema(provider string) lb.MetadataSchema {
	if lb.IsOctaviaProvider(provider) {
		return lb.OctaviaAvailabilityZoneSchema().Union(lb.AvailabilityZoneSchema())
	}
	return lb.AvailabilityZoneSchema().Union(lb.OctaviaAvailabilityZoneSchema())
}

// validateMetadata parses and validates profile data for provider (as
// sent): 400 when it is not JSON, the provider is unknown or a value breaks
// its key's rule, 501 when the provider refuses it.
func (s *Server) validateMetadata(provider, data, option string, schema func(string) lb.MetadataSchema) error {
	v, err := lb.ParseMetadata(data, option)
	if err != nil {
		return err
	}
	if _, err := s.resolveProvider(provider); err != nil {
		return err
	}
	if err := schema(provider).Validate(v); err != nil {
		// A value outside a key's range is bad input (400, naming the key and the rule);
		// keys and types the provider does not know are Octavia's 501.
		var ve *lb.ValidationError
		if errors.As(err, &ve) {
			return lb.InvalidField(option, data, ve.Msg)
		}
		return lb.Unsupported(provider, err.Error())
	}
	return nil
}

func (s *Server) listProviders(q *request) error {
	if err := q.authorize(policy.Provider, policy.GetAll, q.caller.ProjectID); err != nil {
		return err
	}
	items := []any{}
	for _, p := range s.listedProviders() {
		items = append(items, p)
	}
	return s.writeBare(q, "providers", items)
}

// capabilities serves a provider's capability list with Octavia's exact
// name and description filters.
func (s *Server) capabilities(q *request, o policy.Object, key string, schema func(string) lb.MetadataSchema) error {
	if err := q.authorize(o, policy.GetAll, q.caller.ProjectID); err != nil {
		return err
	}
	provider := q.param("id")
	if _, err := s.resolveProvider(provider); err != nil {
		return err
	}
	name, desc := q.query.Get("name"), q.query.Get("description")
	items := []any{}
	for _, c := range schema(provider) {
		if (name != "" && c.Name != name) || (desc != "" && c.Description != desc) {
			continue
		}
		items = append(items, providerWire{Name: c.Name, Description: c.Description})
	}
	return s.writeBare(q, key, items)
}

func (s *Server) flavorCapabilities(q *request) error {
	return s.capabilities(q, policy.ProviderFlavor, "flavor_capabilities", s.flavorSchema)
}

func (s *Server) availabilityZoneCapabilities(q *request) error {
	return s.capabilities(q, policy.ProviderAZ, "availability_zone_capabilities", s.azSchema)
}

// Load balancer create with a flavor and an availability zone: both must
// exist and be enabled, the flavor's provider decides the provider unless
// one is given (then they must match), and the provider must still accept
// the profiles' metadata. The write path checks the flavor and the zone
// again in the create transaction. The scheduler of the fulcrum provider
// reads the flavor's agent_group and the zone's agent_zone.

// resolveCatalog checks the flavor_id, availability_zone and provider of a
// load balancer create body in Octavia's order and returns the provider the
// load balancer runs on and the name it was asked for (the same unless that
// was an alias).
func (s *Server) resolveCatalog(q *request, o *object) (resolved, asked string, err error) {
	flavorID, hasFlavor := o.str("flavor_id")
	azName, hasAZ := o.str("availability_zone")
	requested, hasProvider := o.str("provider")
	var fp *lb.FlavorProfile
	var zp *lb.AvailabilityZoneProfile
	err = s.store.View(q.ctx, func(tx store.Tx) error {
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
		return "", "", err
	}
	provider := s.provider
	switch {
	case hasProvider && fp != nil:
		if s.aliasOf(requested) != s.aliasOf(fp.ProviderName) {
			return "", "", badRequest("Flavor '%s' is not compatible with provider '%s'", flavorID, requested)
		}
		provider = requested
	case hasProvider:
		provider = requested
	case fp != nil:
		provider = fp.ProviderName
	}
	resolved, err = s.runnableProvider(provider)
	if err != nil {
		return "", "", err
	}
	if fp != nil {
		if err := s.validateMetadata(s.schemaName(provider, fp.ProviderName), fp.FlavorData, "flavor_data", s.flavorSchema); err != nil {
			return "", "", err
		}
	}
	if zp != nil {
		if err := s.validateMetadata(s.schemaName(provider, zp.ProviderName), zp.AvailabilityZoneData, "availability_zone_data", s.azSchema); err != nil {
			return "", "", err
		}
	}
	return resolved, provider, nil
}

// schemaName is the provider name a profile of a load balancer is checked
// against: the profile's own when it names the load balancer's provider
// (by another name, e.g. amphora for fulcrum: its data follows that name's
// schema), else the load balancer's.
func (s *Server) schemaName(provider, profileProvider string) string {
	if s.aliasOf(profileProvider) == s.aliasOf(provider) {
		return profileProvider
	}
	return provider
}

// aliasOf maps a provider alias to its target; other names map to
// themselves.
func (s *Server) aliasOf(name string) string {
	if t, ok := s.aliases[name]; ok {
		return t
	}
	return name
}

// providerFilter makes a list's provider filter match the name a load
// balancer shows: an alias selects the load balancers asked for by that
// name, any other name those running on it that were not asked for by an
// alias.
func (s *Server) providerFilter(p *listParams) {
	for i, f := range p.query.Filters {
		if f.Field != "provider" {
			continue
		}
		if _, alias := s.aliases[f.Value]; alias {
			p.query.Filters[i] = store.F("provider_name", f.Value)
		} else {
			p.query.Filters = append(p.query.Filters, store.F("provider_name", ""))
		}
		return
	}
}
