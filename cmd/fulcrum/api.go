package main

import (
	"log/slog"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/controller"
	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

type apiDeps struct {
	cfg   *serverConfig
	store store.Store
	ctrl  *controller.Controller
	log   *slog.Logger
}

// newAPI builds the public API handler: Octavia v2 on the store, waking the
// controller after every write, with noop VIP allocation until the Neutron
// subset exists.
func newAPI(d apiDeps) (http.Handler, error) {
	s := apiserver.New(apiserver.Options{
		Store:           d.store,
		Notifier:        d.ctrl,
		VIPs:            network.NewNoop(),
		Auth:            apiserver.NoAuth{},
		Logger:          d.log,
		Providers:       []string{"fulcrum", "noop"},
		DefaultProvider: d.cfg.Provider,
		ProviderAliases: map[string]string{"amphora": d.cfg.Provider, "octavia": d.cfg.Provider},
	})
	return s.Handler(), nil
}
