package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/lbaasv1"
	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/quota"
	"github.com/fulcrumlb/fulcrum/internal/secrets"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// services are the OpenStack subsets one server runs beside the Octavia API
// (Keystone, Neutron, Barbican) and the RBAC and quota enforcers the APIs
// share. Each is wired in the file named after it; this file builds them in
// order, mounts them and bootstraps them.
type services struct {
	identity   *identityService
	network    *networkService
	keyManager *secrets.Service
	rbac       *policy.Enforcer
	quotas     *quota.Enforcer
	// loadBalancing is set by newAPI: what the network endpoint serves of
	// load balancing.
	loadBalancing *loadBalancing
}

func newServices(cfg *serverConfig, st store.Store, rings *keyRings, log *slog.Logger, enqueue func(lbID string)) (*services, error) {
	id, err := newIdentityService(cfg, st, rings, log)
	if err != nil {
		return nil, err
	}
	rbac, err := newPolicy(&cfg.Policy)
	if err != nil {
		return nil, err
	}
	km, err := newKeyManager(cfg, st, rings, log, enqueue, func() string { return id.adminProject })
	if err != nil {
		return nil, err
	}
	return &services{identity: id, rbac: rbac, keyManager: km, quotas: newQuotas(&cfg.Quota),
		network: newNetworkService(cfg, st, log, enqueue)}, nil
}

// mount adds the Keystone, Neutron and Barbican subsets to mux. Neutron
// and Barbican run behind the same authentication as the Octavia API. The
// network endpoint also serves what Neutron served of load balancing:
// Neutron-LBaaS v2 (/networking/v2.0/lbaas, the Octavia API's handlers),
// LBaaS v1 (/v2.0/lb, there and at the root) and the load-balancer quota
// keys merged into the network quota API.
func (s *services) mount(mux *http.ServeMux, auth, externalURL string, log *slog.Logger) {
	mux.Handle("/identity", s.identity.keystone)
	mux.Handle("/identity/", s.identity.keystone)
	neutron := s.identity.middleware(s.network.neutron, auth, externalURL, log)
	for _, path := range network.Paths {
		mux.Handle(path, neutron)
	}
	if lbs := s.loadBalancing; lbs != nil {
		mux.Handle(apiserver.NeutronPrefix, lbs.v2)
		mux.Handle(apiserver.NeutronPrefix+"/", lbs.v2)
		v1 := s.identity.middleware(lbs.v1, auth, externalURL, log)
		for _, path := range lbaasv1.Paths {
			mux.Handle(path, v1)
		}
		quotas := s.identity.middleware(quota.NewNeutronAPI(lbs.store, lbs.quotas, lbs.rbac, s.network.neutron), auth, externalURL, log)
		for _, path := range quota.NeutronPaths {
			mux.Handle(path, quotas)
		}
	}
	keyManager := s.identity.middleware(s.keyManager, auth, externalURL, log)
	for _, path := range secrets.Paths {
		mux.Handle(path, keyManager)
	}
}

// bootstrap creates the admin account, roles and networks on first start
// and prints the clouds.yaml line.
func (s *services) bootstrap(ctx context.Context, cfg *serverConfig, st store.Store, addr net.Addr, stdout, stderr io.Writer) error {
	export, err := s.identity.bootstrap(ctx, cfg, st, addr, stderr)
	if err != nil {
		return err
	}
	if err := s.network.bootstrap(ctx, st, s.identity.adminProject); err != nil {
		return err
	}
	if export != "" {
		_, err = io.WriteString(stdout, export+"\n")
	}
	return err
}

// rotateKeys rotates the identity service's token keys (see
// identityService.rotateKeys).
func (s *services) rotateKeys(ctx context.Context, wg *sync.WaitGroup, every time.Duration, log *slog.Logger) {
	s.identity.rotateKeys(ctx, wg, every, log)
}
