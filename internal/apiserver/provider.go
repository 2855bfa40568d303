package apiserver

import (
	"net/http"
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
)

// Providers (§5.9): the API lists the enabled providers, the HAProxy
// provider (announced, not runnable yet) and the Octavia names accepted as
// aliases, and serves each provider's flavor and availability zone
// capabilities, which also validate profile data.

// Provider names fulcrum knows.
const (
	ProviderFulcrum = "fulcrum"
	ProviderHAProxy = "haproxy"
	ProviderNoop    = "noop"
)

// providerDescriptions are the descriptions of the providers fulcrum knows.
func providerDescriptions() map[string]string {
	return map[string]string{
		ProviderFulcrum: "The fulcrum provider: load balancers run on fulcrum data-plane agents with the native engine.",
		ProviderHAProxy: "fulcrum agents driving HAProxy. Arriving later: load balancers cannot use it yet.",
		ProviderNoop:    "The no-op provider: accepts everything and runs nothing (API only, for tests).",
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
	add(ProviderHAProxy, desc[ProviderHAProxy])
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
	if slices.Contains(s.providers, name) || name == ProviderHAProxy {
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
	if provider == ProviderHAProxy {
		return lb.FlavorSchema(lb.EngineHAProxy)
	}
	return lb.FlavorSchema(lb.EngineNative)
}

// providerOption is Octavia's 501 for an option a provider refuses.
func providerOption(provider, msg string) error {
	return &apiError{status: http.StatusNotImplemented, msg: "Provider '" + provider + "' does not support a requested option: " + msg}
}

// checkProtocol refuses, with Octavia's 501, a listener or pool protocol
// the load balancer's provider cannot carry: the native engine has no SCTP
// (Go has no SCTP sockets; the kernel module is often absent), and
// accepting it would only leave the load balancer ERROR later.
func checkProtocol(provider, protocol string) error {
	if provider == ProviderFulcrum && protocol == lb.ProtocolSCTP {
		return providerOption(provider, "The native engine does not support the SCTP protocol.")
	}
	return nil
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
		return providerOption(provider, err.Error())
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

// writeBare writes {"<key>": items} with fields= applied and no links
// (providers and capability lists).
func (s *Server) writeBare(q *request, key string, items []any) error {
	if fields, ok := q.r.URL.Query()["fields"]; ok {
		for i, it := range items {
			sel, err := selectFields(it, fields)
			if err != nil {
				return err
			}
			items[i] = sel
		}
	}
	writeJSON(q.w, http.StatusOK, map[string]any{key: items})
	return nil
}

// capabilities serves a provider's capability list with Octavia's exact
// name and description filters.
func (s *Server) capabilities(q *request, o policy.Object, key string, schema func(string) lb.MetadataSchema) error {
	if err := q.authorize(o, policy.GetAll, q.caller.ProjectID); err != nil {
		return err
	}
	provider, err := s.resolveProvider(q.params[0])
	if err != nil {
		return err
	}
	query := q.r.URL.Query()
	name, desc := query.Get("name"), query.Get("description")
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
