package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// networkConfig holds the settings of the Neutron subset and VIP allocation.
type networkConfig struct {
	Mode            string
	Segment         []string
	segments        network.Segments
	Quota           network.QuotaLimits
	SubnetMinPrefix int
}

func (c *networkConfig) register(s *config.Set) {
	s.String(&c.Mode, "network", "loopback", "network mode: loopback (the Neutron subset allocates VIPs in 127.0.0.0/8 subnets), segment (VIP subnets also on the physical networks of --segment, where agents started with --segment serve them; ACTIVE_STANDBY needs it) or noop (any well-formed id accepted, addresses invented)")
	s.List(&c.Segment, "segment", nil, "segment network mode: a physical network and the range its subnets may take, as NAME=CIDR (comma-separated or repeated)")
	for _, r := range neutron.QuotaResources {
		s.Int(&c.Quota[r], "quota-"+strings.ReplaceAll(r.Key(), "_", "-"), network.DefaultQuotas[r],
			"default quota per project of Neutron's "+r.Key()+" resource (-1 unlimited; the default is Neutron's)")
	}
	s.Int(&c.SubnetMinPrefix, "subnet-min-prefix", network.DefaultSubnetMinPrefix,
		"loopback network mode: the shortest IPv4 prefix (largest subnet) a caller who is not an admin may create (8: any)")
}

func (c *networkConfig) check() error {
	for _, r := range neutron.QuotaResources {
		if n := c.Quota[r]; n < -1 || n > math.MaxInt32 {
			return fmt.Errorf("--quota-%s %d: want -1…%d", strings.ReplaceAll(r.Key(), "_", "-"), n, math.MaxInt32)
		}
	}
	if c.SubnetMinPrefix < 8 || c.SubnetMinPrefix > 32 {
		return fmt.Errorf("--subnet-min-prefix %d: want 8…32", c.SubnetMinPrefix)
	}
	switch c.Mode {
	case "loopback", "noop":
		if len(c.Segment) > 0 {
			return fmt.Errorf("--segment needs --network segment")
		}
		return nil
	case "segment":
		ss, err := network.ParseSegments(c.Segment)
		if err != nil {
			return fmt.Errorf("--segment: %w", err)
		}
		if len(ss) == 0 {
			return fmt.Errorf("--network segment needs at least one --segment NAME=CIDR")
		}
		c.segments = ss
		return nil
	}
	return fmt.Errorf("--network %q: want loopback, segment or noop", c.Mode)
}

// vipAllocator is what both network modes offer: the API's VIP allocation
// and member subnet check.
type vipAllocator interface {
	apiserver.VIPAllocator
	apiserver.SubnetChecker
}

// networkService is the Neutron subset of one server and the VIP
// allocation of its network mode, with the controller's hook that releases
// a deleted load balancer's VIP.
type networkService struct {
	neutron *network.Service
	vips    vipAllocator
	agents  *network.VIPs // reserves agents' segment addresses; nil in noop mode
	log     *slog.Logger
	hooks   interface {
		LoadBalancerDeleted(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) error
	}
}

func newNetworkService(cfg *serverConfig, st store.Store, log *slog.Logger, enqueue func(lbID string)) *networkService {
	n := &networkService{neutron: network.NewService(network.Options{Store: st, Logger: log, ExternalURL: cfg.Identity.ExternalURL, Notify: enqueue,
		AnyAddress: cfg.Network.Mode == "noop", Segments: cfg.Network.segments, Quotas: &cfg.Network.Quota,
		SubnetMinPrefix: cfg.Network.SubnetMinPrefix})}
	if cfg.Network.Mode == "noop" {
		noop := network.NewNoop()
		n.vips, n.hooks = noop, noHooks{}
	} else {
		// The service's VIPs count VIP ports against the project's port quota.
		v := n.neutron.VIPs().WithSegments(cfg.Network.segments)
		n.vips, n.hooks, n.agents = v, v, v
	}
	n.log = log
	return n
}

// reserveAgent keeps the agent's segment addresses out of VIP and port allocation (the
// health manager calls it when they change).
func (n *networkService) reserveAgent(ctx context.Context, tx store.Tx, a *lb.Agent) error {
	if n.agents == nil {
		return nil
	}
	taken, err := n.agents.ReserveAgentAddresses(ctx, tx, a.ID, a.Name, network.AgentAddresses(a))
	if len(taken) > 0 {
		n.log.Warn("an agent's segment address is held by another port: it cannot be reserved for the agent", "agent", a.Name, "addresses", taken)
	}
	return err
}

// bootstrap creates the networks and subnets VIPs come from on first start.
func (n *networkService) bootstrap(ctx context.Context, st store.Store, adminProject string) error {
	_, err := network.Bootstrap(ctx, st, adminProject, time.Now())
	return err
}

type noHooks struct{}

func (noHooks) LoadBalancerDeleted(context.Context, store.Tx, *lb.LoadBalancer) error { return nil }

// floatingAddresses are the floating IPs associated with a load balancer's
// VIP port: the data plane serves the VIP's listeners on them too.
func floatingAddresses(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) ([]string, error) {
	if l.VIP.PortID == "" {
		return nil, nil
	}
	return network.FloatingAddresses(ctx, tx, l.VIP.PortID)
}
