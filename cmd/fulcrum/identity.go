package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/identity"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// identityConfig holds the settings of the Keystone subset and of how every
// API authenticates its callers.
type identityConfig struct {
	ExternalURL      string
	TokenExpiry      time.Duration
	TokenKeyRotation time.Duration
}

func (c *identityConfig) register(s *config.Set) {
	s.String(&c.ExternalURL, "external-url", "", "scheme://host:port clients reach the API at, for the catalog and clouds.yaml (default: from each request)")
	s.Duration(&c.TokenExpiry, "token-expiry", 24*time.Hour, "lifetime of Keystone tokens")
	s.Duration(&c.TokenKeyRotation, "token-key-rotation", 24*time.Hour, "age at which the token-sealing key is replaced by a new one (the ring keeps the newest three, so it must be at least half of --token-expiry; 0 disables)")
}

func (c *identityConfig) check(auth string) error {
	if c.TokenKeyRotation < 0 || (c.TokenKeyRotation > 0 && 2*c.TokenKeyRotation < c.TokenExpiry) {
		return fmt.Errorf("--token-key-rotation %v: want 0 (off) or at least half of --token-expiry (%v), or tokens would outlive their key", c.TokenKeyRotation, c.TokenExpiry)
	}
	switch auth {
	case "keystone", "noauth":
		return nil
	}
	return fmt.Errorf("--auth %q: want keystone or noauth", auth)
}

// identityService is the Keystone subset of one server: its token key ring
// and service, and the admin project bootstrap creates.
type identityService struct {
	keys     *identity.KeyRing
	keystone *identity.Service
	// adminProject is set by bootstrap, before the server serves.
	adminProject string
}

func newIdentityService(cfg *serverConfig, st store.Store, rings *keyRings, log *slog.Logger) (*identityService, error) {
	ic := &cfg.Identity
	keys, err := identity.OpenKeyRingIn(rings.token, 0, nil)
	if err != nil {
		return nil, err
	}
	ks, err := identity.New(identity.Options{Store: st, Keys: keys, Logger: log, TokenTTL: ic.TokenExpiry, ExternalURL: ic.ExternalURL})
	if err != nil {
		return nil, err
	}
	return &identityService{keys: keys, keystone: ks}, nil
}

// rotateKeys replaces the token-sealing key when it is older than every,
// checking a few times per period until ctx ends; servers sharing the key
// ring pick up each other's rotations on the same checks, and the first to
// find the key old rotates it for all.
func (id *identityService) rotateKeys(ctx context.Context, wg *sync.WaitGroup, every time.Duration, log *slog.Logger) {
	if every <= 0 {
		return
	}
	check := min(every/10, time.Minute)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(check)
		defer t.Stop()
		for {
			if rotated, err := id.keys.RotateIfOlder(every); err != nil {
				log.Error("token key rotation failed", "err", err)
			} else if rotated {
				log.Info("token key rotated", "primary", id.keys.Primary())
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// authenticator returns the Octavia API's authentication: Keystone tokens,
// or noauth.
func (id *identityService) authenticator(auth string) apiserver.Authenticator {
	if auth == "noauth" {
		return noAuth{id: id}
	}
	return keystoneAuth{v: id.keystone}
}

// middleware is the authentication in front of the Neutron and Barbican
// subsets: the same as the Octavia API's.
func (id *identityService) middleware(next http.Handler, auth, externalURL string, log *slog.Logger) http.Handler {
	opts := identity.MiddlewareOptions{ExternalURL: externalURL, Logger: log}
	if auth != "noauth" {
		opts.Validator = id.keystone
	}
	return identity.Middleware(next, opts)
}

// noAuth is apiserver.NoAuth whose callers without a project header act in
// the bootstrap admin project, so that clients that cannot send headers
// (openstack --os-auth-type none) can create load balancers.
type noAuth struct{ id *identityService }

func (a noAuth) Authenticate(r *http.Request) (policy.Caller, error) {
	c, err := apiserver.NoAuth{}.Authenticate(r)
	if err == nil && c.ProjectID == "" {
		c.ProjectID = a.id.adminProject
	}
	return c, err
}

// keystoneAuth authenticates X-Auth-Token with the local Keystone subset.
type keystoneAuth struct{ v *identity.Service }

func (a keystoneAuth) Authenticate(r *http.Request) (policy.Caller, error) {
	tok := r.Header.Get("X-Auth-Token")
	if tok == "" {
		return policy.Caller{}, apiserver.ErrUnauthenticated
	}
	pr, err := a.v.Validate(r.Context(), tok)
	if err != nil {
		if identity.IsAuthFailure(err) {
			return policy.Caller{}, apiserver.ErrUnauthenticated
		}
		return policy.Caller{}, err
	}
	return policy.Caller{UserID: pr.UserID, ProjectID: pr.ProjectID, Roles: pr.Roles}, nil
}

// bootstrap creates the admin account and roles on first start, remembers
// the admin project and returns the line that points the OpenStack CLI at
// clouds.yaml ("" in noauth mode or when clouds.yaml is gone).
func (id *identityService) bootstrap(ctx context.Context, cfg *serverConfig, st store.Store, addr net.Addr, stderr io.Writer) (string, error) {
	base := strings.TrimSuffix(cfg.Identity.ExternalURL, "/")
	if base == "" {
		host := addr.String()
		if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
			host = net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
		}
		base = "http://" + host
	}
	res, err := identity.Bootstrap(ctx, identity.BootstrapOptions{Store: st, DataDir: cfg.DataDir, AuthURL: base + "/identity/v3"})
	if err != nil {
		return "", err
	}
	id.adminProject = res.AdminProjectID
	if cfg.Auth == "noauth" {
		return "", nil
	}
	if _, err := os.Stat(res.CloudsPath); err != nil {
		fmt.Fprintf(stderr, "fulcrum server: %s is missing and the admin user already exists; its password is not stored anywhere else\n", res.CloudsPath)
		return "", nil
	}
	return res.Export, nil
}
