package main

import (
	"context"
	"log/slog"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/provider"
	"github.com/fulcrumlb/fulcrum/internal/secrets"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// newKeyManager returns the Barbican subset, its payloads sealed with the
// keys of the secrets ring (<data-dir>/keys/secrets, or the database's,
// sealed with the master key). Callers without a project (noauth
// without X-Project-Id) act in adminProject's answer; a change to a secret
// or container re-publishes the load balancers that use it.
func newKeyManager(cfg *serverConfig, st store.Store, rings *keyRings, log *slog.Logger, enqueue func(lbID string), adminProject func() string) (*secrets.Service, error) {
	keys, err := secrets.OpenKeyRingIn(rings.secrets)
	if err != nil {
		return nil, err
	}
	return secrets.New(secrets.Options{Store: st, Keys: keys, Logger: log, ExternalURL: cfg.Identity.ExternalURL,
		DefaultProject: adminProject,
		Changed:        func(ctx context.Context, ids []string) { republish(ctx, st, log, enqueue, ids) }})
}

// keyManager gives the native provider the Barbican subset's material, read
// as the load-balancer service of the load balancer's project.
type keyManager struct{ s *secrets.Service }

func (k keyManager) Certificate(ctx context.Context, tx store.Tx, project, ref string) (dataplane.Certificate, error) {
	c, err := k.s.CertificateIn(ctx, tx, secrets.Access{ProjectID: project}, ref)
	if err != nil {
		return dataplane.Certificate{}, err
	}
	return dataplane.Certificate{ID: ref, CertPEM: string(c.CertPEM), KeyPEM: string(c.KeyPEM)}, nil
}

func (k keyManager) PEM(ctx context.Context, tx store.Tx, project, ref string) (string, error) {
	b, err := k.s.SecretIn(ctx, tx, secrets.Access{ProjectID: project}, ref)
	return string(b), err
}

// republish enqueues the load balancers that reference a changed secret or
// container, so their data plane gets the new material (or, when it is
// gone, they report why).
func republish(ctx context.Context, st store.Store, log *slog.Logger, enqueue func(string), ids []string) {
	var lbs []string
	err := st.View(ctx, func(tx store.Tx) error {
		var err error
		lbs, err = provider.ReferencingLoadBalancers(ctx, tx, ids)
		return err
	})
	if err != nil {
		log.Error("find load balancers using changed key-manager objects", "ids", ids, "err", err)
		return
	}
	for _, id := range lbs {
		log.Info("key-manager material changed: reconciling", "loadbalancer_id", id)
		enqueue(id)
	}
}
