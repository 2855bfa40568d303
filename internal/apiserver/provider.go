package apiserver

import (
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
)

// Providers: the API lists the enabled providers, the HAProxy provider
// (announced, not runnable yet) and the Octavia names accepted as aliases,
// and serves each provider's flavor and availability zone capabilities,
// which also validate profile data.

// providerDescriptions are the descriptions of the providers fulcrum knows.
func providerDescriptions() map[string]string {
	return map[string]string{
		lb.ProviderFulcrum: "The fulcrum provider: load balancers run on fulcrum data-plane agents with the native engine.",
		lb.ProviderHAProxy: "fulcrum agents driving HAProxy. Arriving later: load balancers cannot use it yet.",
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
		return "", badRequest("Provider '%s' is not available yet: fulcrum's HAProxy engine arrives in a later release. Use the fulcrum provider.", name)
	}
	return p, nil
}

// flavorSchema returns the flavor metadata a resolved provider accepts.
func flavorSchema(provider string) lb.MetadataSchema {
	if provider == lb.ProviderHAProxy {
		return lb.FlavorSchema(lb.EngineHAProxy)
	}
	return lb.FlavorSchema(lb.EngineNative)
}

// validateMetadata parses and validates profile data for provider (as
// sent): 400 when it is not JSON, 501 when the provider refuses it.
func (s *Server) validateMetadata(provider, data, option string, schema func(string) lb.MetadataSchema) error {
	v, err := lb.ParseMetadata(data, option)
	if err != nil {
		return err
	}
	resolved, err := s.resolveProvider(provider)
	if err != nil {
		return err
	}
	if err := schema(resolved).Validate(v); err != nil {
		return lb.Unsupported(provider, err.Error())
	}
	return nil
}

func azSchema(string) lb.MetadataSchema { return lb.AvailabilityZoneSchema() }

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
	provider, err := s.resolveProvider(q.param("id"))
	if err != nil {
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
	return s.capabilities(q, policy.ProviderFlavor, "flavor_capabilities", flavorSchema)
}

func (s *Server) availabilityZoneCapabilities(q *request) error {
	return s.capabilities(q, policy.ProviderAZ, "availability_zone_capabilities", azSchema)
}
