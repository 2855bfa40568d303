package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/identity"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/quota"
	"github.com/fulcrumlb/fulcrum/internal/secrets"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// identityConfig holds the settings of authentication, RBAC, quotas and
// the network subset.
type identityConfig struct {
	Network            string
	ExternalURL        string
	TokenExpiry        time.Duration
	TokenKeyRotation   time.Duration
	PolicyLegacyRoles  bool
	MemberAddressAllow []string
	MemberAddressDeny  []string
	Quota              [7]int
	NetworkQuota       network.QuotaLimits
	SubnetMinPrefix    int
}

func (c *identityConfig) register(s *config.Set) {
	s.String(&c.Network, "network", "loopback", "network mode: loopback (the Neutron subset allocates VIPs in 127.0.0.0/8 subnets) or noop (any well-formed id accepted, addresses invented)")
	s.String(&c.ExternalURL, "external-url", "", "scheme://host:port clients reach the API at, for the catalog and clouds.yaml (default: from each request)")
	s.Duration(&c.TokenExpiry, "token-expiry", 24*time.Hour, "lifetime of Keystone tokens")
	s.Duration(&c.TokenKeyRotation, "token-key-rotation", 24*time.Hour, "age at which the token-sealing key is replaced by a new one (the ring keeps the newest three, so it must be at least half of --token-expiry; 0 disables)")
	s.Bool(&c.PolicyLegacyRoles, "policy-legacy-roles", true, "also accept Octavia's legacy load-balancer_* roles (false: only admin, member, reader as with enforce_new_defaults)")
	s.List(&c.MemberAddressAllow, "member-address-allow", nil, "CIDRs member addresses must be in (empty: any)")
	s.List(&c.MemberAddressDeny, "member-address-deny", lb.DefaultMemberDeny, "CIDRs member addresses must not be in")
	for i, r := range lb.QuotaResources {
		name := map[lb.QuotaResource]string{lb.QuotaLoadBalancer: "load-balancer", lb.QuotaHealthMonitor: "health-monitor"}[r]
		if name == "" {
			name = r.Key()
		}
		s.Int(&c.Quota[i], "quota-"+name, lb.QuotaUnlimited, "default quota of "+r.DisplayName()+"s per project (-1 unlimited)")
	}
	for _, r := range neutron.QuotaResources {
		s.Int(&c.NetworkQuota[r], "quota-"+strings.ReplaceAll(r.Key(), "_", "-"), network.DefaultQuotas[r],
			"default network quota of "+r.Key()+"s per project (-1 unlimited; Neutron's default)")
	}
	s.Int(&c.SubnetMinPrefix, "subnet-min-prefix", network.DefaultSubnetMinPrefix,
		"loopback network mode: the shortest IPv4 prefix (largest subnet) a caller who is not an admin may create (8: any)")
}

func (c *identityConfig) check(auth string) error {
	switch c.Network {
	case "loopback", "noop":
	default:
		return fmt.Errorf("--network %q: want loopback or noop", c.Network)
	}
	for i, n := range c.Quota {
		if n < lb.QuotaUnlimited || n > lb.QuotaMax {
			return fmt.Errorf("quota of %s %d: want -1…%d", lb.QuotaResources[i].Key(), n, lb.QuotaMax)
		}
	}
	for _, r := range neutron.QuotaResources {
		if n := c.NetworkQuota[r]; n < -1 || n > math.MaxInt32 {
			return fmt.Errorf("--quota-%s %d: want -1…%d", strings.ReplaceAll(r.Key(), "_", "-"), n, math.MaxInt32)
		}
	}
	if c.SubnetMinPrefix < 8 || c.SubnetMinPrefix > 32 {
		return fmt.Errorf("--subnet-min-prefix %d: want 8…32", c.SubnetMinPrefix)
	}
	if _, err := lb.ParseMemberAddressPolicy(c.MemberAddressAllow, c.MemberAddressDeny); err != nil {
		return err
	}
	if c.TokenKeyRotation < 0 || (c.TokenKeyRotation > 0 && 2*c.TokenKeyRotation < c.TokenExpiry) {
		return fmt.Errorf("--token-key-rotation %v: want 0 (off) or at least half of --token-expiry (%v), or tokens would outlive their key", c.TokenKeyRotation, c.TokenExpiry)
	}
	switch auth {
	case "keystone", "noauth":
		return nil
	}
	return fmt.Errorf("--auth %q: want keystone or noauth", auth)
}

// vipAllocator is what both network modes offer: the API's VIP allocation,
// the member subnet check and the controller's VIP release hook.
type vipAllocator interface {
	apiserver.VIPAllocator
	apiserver.SubnetChecker
}

// identityParts are the Keystone, Neutron and quota services of one server.
type identityParts struct {
	keys     *identity.KeyRing
	keystone *identity.Service
	neutron  *network.Service
	secrets  *secrets.Service
	vips     vipAllocator
	hooks    interface {
		LoadBalancerDeleted(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) error
	}
	authz  *policy.Enforcer
	quotas *quota.Enforcer
	member lb.MemberAddressPolicy
	// adminProject is set by bootstrap, before the server serves.
	adminProject string
}

func newIdentityParts(cfg *serverConfig, st store.Store, log *slog.Logger, enqueue func(lbID string)) (*identityParts, error) {
	ic := &cfg.Identity
	keys, err := identity.OpenKeyRing(filepath.Join(cfg.DataDir, "keys"), 0, nil)
	if err != nil {
		return nil, err
	}
	ks, err := identity.New(identity.Options{Store: st, Keys: keys, Logger: log, TokenTTL: ic.TokenExpiry, ExternalURL: ic.ExternalURL})
	if err != nil {
		return nil, err
	}
	authz, err := policy.New(policy.Options{StrictNewDefaults: !ic.PolicyLegacyRoles})
	if err != nil {
		return nil, err
	}
	var defaults lb.QuotaLimits
	copy(defaults[:], ic.Quota[:])
	member, _ := lb.ParseMemberAddressPolicy(ic.MemberAddressAllow, ic.MemberAddressDeny)
	p := &identityParts{keys: keys, keystone: ks, authz: authz, quotas: quota.New(defaults), member: member,
		neutron: network.NewService(network.Options{Store: st, Logger: log, ExternalURL: ic.ExternalURL, Notify: enqueue,
			AnyAddress: ic.Network == "noop", Quotas: &ic.NetworkQuota, SubnetMinPrefix: ic.SubnetMinPrefix})}
	skeys, err := secrets.OpenKeyRing(filepath.Join(cfg.DataDir, "keys", "secrets"))
	if err != nil {
		return nil, err
	}
	p.secrets, err = secrets.New(secrets.Options{Store: st, Keys: skeys, Logger: log, ExternalURL: ic.ExternalURL,
		DefaultProject: func() string { return p.adminProject },
		Changed:        func(ctx context.Context, ids []string) { republish(ctx, st, log, enqueue, ids) }})
	if err != nil {
		return nil, err
	}
	if ic.Network == "noop" {
		n := network.NewNoop()
		p.vips, p.hooks = n, noHooks{}
	} else {
		v := p.neutron.VIPs()
		p.vips, p.hooks = v, v
	}
	return p, nil
}

// rotateKeys replaces the token-sealing key when it is older than every,
// checking a few times per period until ctx ends; replicas sharing the key
// directory pick up each other's rotations on the same checks.
func (p *identityParts) rotateKeys(ctx context.Context, wg *sync.WaitGroup, every time.Duration, log *slog.Logger) {
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
			if rotated, err := p.keys.RotateIfOlder(every); err != nil {
				log.Error("token key rotation failed", "err", err)
			} else if rotated {
				log.Info("token key rotated", "primary", p.keys.Primary())
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

type noHooks struct{}

func (noHooks) LoadBalancerDeleted(context.Context, store.Tx, *lb.LoadBalancer) error { return nil }

// authenticator returns the API's authentication: Keystone tokens, or
// noauth.
func (p *identityParts) authenticator(auth string) apiserver.Authenticator {
	if auth == "noauth" {
		return noAuth{p: p}
	}
	return keystoneAuth{v: p.keystone}
}

// noAuth is apiserver.NoAuth whose callers without a project header act in
// the bootstrap admin project, so that clients that cannot send headers
// (openstack --os-auth-type none) can create load balancers.
type noAuth struct{ p *identityParts }

func (a noAuth) Authenticate(r *http.Request) (policy.Caller, error) {
	c, err := apiserver.NoAuth{}.Authenticate(r)
	if err == nil && c.ProjectID == "" {
		c.ProjectID = a.p.adminProject
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

// mount adds the Keystone, Neutron and Barbican subsets to mux. Neutron
// and Barbican run behind the same authentication as the Octavia API.
func (p *identityParts) mount(mux *http.ServeMux, auth, externalURL string, log *slog.Logger) {
	mux.Handle("/identity", p.keystone)
	mux.Handle("/identity/", p.keystone)
	opts := identity.MiddlewareOptions{ExternalURL: externalURL, Logger: log}
	if auth != "noauth" {
		opts.Validator = p.keystone
	}
	neutron := identity.Middleware(p.neutron, opts)
	for _, path := range network.Paths {
		mux.Handle(path, neutron)
	}
	keyManager := identity.Middleware(p.secrets, opts)
	for _, path := range secrets.Paths {
		mux.Handle(path, keyManager)
	}
}

// bootstrap creates the admin account, roles and networks on first start
// and prints the clouds.yaml line.
func (p *identityParts) bootstrap(ctx context.Context, cfg *serverConfig, st store.Store, addr net.Addr, stdout, stderr io.Writer) error {
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
		return err
	}
	p.adminProject = res.AdminProjectID
	if _, err := network.Bootstrap(ctx, st, res.AdminProjectID, time.Now()); err != nil {
		return err
	}
	if cfg.Auth == "noauth" {
		return nil
	}
	if _, err := os.Stat(res.CloudsPath); err != nil {
		fmt.Fprintf(stderr, "fulcrum server: %s is missing and the admin user already exists; its password is not stored anywhere else\n", res.CloudsPath)
		return nil
	}
	fmt.Fprintln(stdout, res.Export)
	return nil
}
