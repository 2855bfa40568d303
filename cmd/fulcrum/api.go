package main

import (
	"log/slog"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/lbaasv1"
	"github.com/fulcrumlb/fulcrum/internal/quota"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// apiConfig holds the Octavia API's own settings.
type apiConfig struct {
	MemberAddressAllow []string
	MemberAddressDeny  []string
}

func (c *apiConfig) register(s *config.Set) {
	s.List(&c.MemberAddressAllow, "member-address-allow", nil, "CIDRs member addresses must be in (empty: any)")
	s.List(&c.MemberAddressDeny, "member-address-deny", lb.DefaultMemberDeny, "CIDRs member addresses must not be in")
}

func (c *apiConfig) check() error {
	_, err := lb.ParseMemberAddressPolicy(c.MemberAddressAllow, c.MemberAddressDeny)
	return err
}

type apiDeps struct {
	cfg      *serverConfig
	store    store.Store
	notifier apiserver.Notifier
	log      *slog.Logger
	id       *services
}

// loadBalancing are the load-balancing APIs the network endpoint serves
// besides the Neutron subset: Neutron-LBaaS v2 (the Octavia API, which
// authenticates itself), LBaaS v1 and the load-balancer quota keys (behind
// the network endpoint's authentication). services.mount mounts them.
type loadBalancing struct {
	v2     http.Handler
	v1     http.Handler
	quotas *quota.Enforcer
	store  store.Store
	rbac   quota.Authorizer
}

// newAPI builds the public API handler: Octavia v2 on the store, waking the
// controller after every write, with the configured authentication, RBAC,
// quotas, VIP allocation and member address policy. The APIs it lends the
// network endpoint are left in d.id for mount.
func newAPI(d apiDeps) (http.Handler, error) {
	settings := lb.DefaultSettings()
	member, err := lb.ParseMemberAddressPolicy(d.cfg.API.MemberAddressAllow, d.cfg.API.MemberAddressDeny)
	if err != nil {
		return nil, err
	}
	settings.MemberAddresses = member
	providers, aliases := []string{"fulcrum", "haproxy", "noop"}, map[string]string{"amphora": d.cfg.Provider, "octavia": d.cfg.Provider}
	s := apiserver.New(apiserver.Options{
		Store:           d.store,
		Notifier:        d.notifier,
		VIPs:            d.id.network.vips,
		Subnets:         d.id.network.vips,
		SecurityGroups:  d.id.network.neutron,
		KeyManager:      d.id.keyManager,
		Auth:            d.id.identity.authenticator(d.cfg.Auth),
		Authorizer:      d.id.rbac,
		Quotas:          d.id.quotas,
		QuotaAPI:        quota.NewAPI(d.store, d.id.quotas, d.id.rbac),
		Settings:        &settings,
		Logger:          d.log,
		Providers:       providers,
		DefaultProvider: d.cfg.Provider,
		ProviderAliases: aliases,
	})
	d.id.loadBalancing = &loadBalancing{
		v2: s.NeutronHandler(),
		v1: lbaasv1.New(lbaasv1.Options{Store: d.store, Writer: s.Writer(), Authorizer: d.id.rbac, Stats: s.Stats(),
			Providers: providers, DefaultProvider: d.cfg.Provider, ProviderAliases: aliases, Settings: &settings, Logger: d.log}),
		quotas: d.id.quotas, store: d.store, rbac: d.id.rbac,
	}
	return s.Handler(), nil
}
