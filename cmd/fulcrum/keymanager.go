package main

import (
	"context"
	"log/slog"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/provider"
	"github.com/fulcrumlb/fulcrum/internal/secrets"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

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
