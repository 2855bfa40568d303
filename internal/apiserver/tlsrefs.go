package apiserver

import (
	"context"
	"errors"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// KeyManager checks key-manager references inside the API's transaction, on
// behalf of the caller, for a load balancer of project: certs must name
// readable certificates, ca a PEM CA and crl a PEM CRL signed by it. A
// refusal is an error with a BadRequest() string method (Octavia's 400
// message); other errors are failures.
type KeyManager interface {
	CheckRefs(ctx context.Context, tx store.Tx, c policy.Caller, project string, certs []string, ca, crl string) error
}

// callerKeyManager is a KeyManager as the write path asks it: on behalf of
// the caller the request context carries, refusals as 400s.
type callerKeyManager struct{ km KeyManager }

func (k callerKeyManager) CheckRefs(ctx context.Context, tx store.Tx, project string, certs []string, ca, crl string) error {
	c, _ := policy.CallerFrom(ctx)
	err := k.km.CheckRefs(ctx, tx, c, project, certs, ca, crl)
	var br interface{ BadRequest() string }
	if errors.As(err, &br) {
		return lb.Errorf("%s", br.BadRequest())
	}
	return err
}
