package main

import (
	"log/slog"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/controller"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/quota"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

type apiDeps struct {
	cfg   *serverConfig
	store store.Store
	ctrl  *controller.Controller
	log   *slog.Logger
	id    *identityParts
}

// newAPI builds the public API handler: Octavia v2 on the store, waking the
// controller after every write, with the configured authentication, RBAC,
// quotas, VIP allocation and member address policy.
func newAPI(d apiDeps) (http.Handler, error) {
	settings := lb.DefaultSettings()
	settings.MemberAddresses = d.id.member
	s := apiserver.New(apiserver.Options{
		Store:           d.store,
		Notifier:        d.ctrl,
		VIPs:            d.id.vips,
		Subnets:         d.id.vips,
		SecurityGroups:  d.id.neutron,
		KeyManager:      d.id.secrets,
		Auth:            d.id.authenticator(d.cfg.Auth),
		Authorizer:      d.id.authz,
		Quotas:          d.id.quotas,
		QuotaAPI:        quota.NewAPI(d.store, d.id.quotas, d.id.authz),
		Settings:        &settings,
		Logger:          d.log,
		Providers:       []string{"fulcrum", "noop"},
		DefaultProvider: d.cfg.Provider,
		ProviderAliases: map[string]string{"amphora": d.cfg.Provider, "octavia": d.cfg.Provider},
	})
	return s.Handler(), nil
}
