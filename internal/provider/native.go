// Package provider holds the provider that runs load balancers on fulcrum's
// own data-plane agents (Octavia provider name "fulcrum"): it places each
// load balancer on an agent, compiles its graph into a data-plane fragment,
// publishes it in the agent's snapshot and reports a generation done once
// the agent acknowledges a config version containing it.
package provider

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/compile"
	"github.com/fulcrumlb/fulcrum/internal/controller"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/snapshot"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Addresses returns the extra addresses (floating IPs) a load balancer is
// served on, read inside the provider's transaction. May be nil.
type Addresses func(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) ([]string, error)

// Native is the "fulcrum" provider.
type Native struct {
	store     store.Store
	cache     *snapshot.Cache
	addresses Addresses
	log       *slog.Logger
	now       func() time.Time
}

// Options configure NewNative.
type Options struct {
	Store     store.Store
	Cache     *snapshot.Cache
	Addresses Addresses
	Logger    *slog.Logger
	Now       func() time.Time
}

// NewNative returns the native provider.
func NewNative(opts Options) *Native {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Native{store: opts.Store, cache: opts.Cache, addresses: opts.Addresses, log: opts.Logger.With("component", "provider"), now: opts.Now}
}

var _ controller.Provider = (*Native)(nil)

// Apply places g, publishes its fragment and reports whether the agent runs it.
func (n *Native) Apply(ctx context.Context, g *lb.Graph) (controller.Outcome, error) {
	l := g.LoadBalancer
	var extra []string
	var amp *lb.Amphora
	var agent *lb.Agent
	err := n.store.Update(ctx, func(tx store.Tx) error {
		var err error
		amp, agent, err = n.place(ctx, tx, l)
		if err != nil || n.addresses == nil {
			return err
		}
		extra, err = n.addresses(ctx, tx, l)
		return err
	})
	if err != nil {
		return controller.Outcome{}, err
	}
	frag, err := compile.LoadBalancer(g, compile.Options{ExtraAddresses: extra})
	var unsupported *compile.Unsupported
	if errors.As(err, &unsupported) {
		return controller.Outcome{}, &controller.RefusedError{Reason: err.Error()}
	}
	if err != nil {
		return controller.Outcome{}, err
	}
	n.cache.Put(agent.ID, l.ID, l.Generation, frag)
	switch st, reason := n.cache.State(agent.ID, l.ID, l.Generation); st {
	case snapshot.Applied:
		if amp.Status != lb.AmphoraReady {
			n.setAmphoraStatus(ctx, amp.ID, lb.AmphoraReady)
		}
		return controller.Outcome{Done: true}, nil
	case snapshot.Refused:
		return controller.Outcome{}, &controller.RefusedError{Reason: fmt.Sprintf("agent %s refused the configuration: %s", agent.Name, reason)}
	}
	return controller.Outcome{}, nil
}

// Remove withdraws the load balancer from every agent it is placed on.
func (n *Native) Remove(ctx context.Context, l *lb.LoadBalancer) (controller.Outcome, error) {
	var amps []*lb.Amphora
	agents := map[string]*lb.Agent{}
	err := n.store.View(ctx, func(tx store.Tx) error {
		var err error
		amps, err = tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.F("loadbalancer_id", l.ID)}})
		if err != nil {
			return err
		}
		for _, a := range amps {
			if a.AgentID == "" {
				continue
			}
			ag, err := tx.Agents().Get(ctx, a.AgentID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			agents[a.AgentID] = ag
		}
		return nil
	})
	if err != nil {
		return controller.Outcome{}, err
	}
	done := true
	for id, ag := range agents {
		n.cache.Delete(id, l.ID)
		// A down agent cannot acknowledge; when it comes back its watch
		// hands it the config without this load balancer.
		if ag.Status == lb.AgentUp && !n.cache.Removed(id, l.ID) {
			done = false
		}
	}
	return controller.Outcome{Done: done}, nil
}

// place returns the load balancer's placement, creating it on the least
// loaded healthy agent, or moving it there when its agent is down.
func (n *Native) place(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) (*lb.Amphora, *lb.Agent, error) {
	amps, err := tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.F("loadbalancer_id", l.ID)}})
	if err != nil {
		return nil, nil, err
	}
	var current *lb.Amphora
	for _, a := range amps {
		if a.Role == lb.RoleStandalone || current == nil {
			current = a
		}
	}
	// A placement marked PENDING_DELETE is being failed over: it moves to
	// another agent when there is one.
	failover := current != nil && current.Status == lb.AmphoraPendingDelete
	if current != nil && current.AgentID != "" && !failover {
		ag, err := tx.Agents().Get(ctx, current.AgentID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
		if err == nil && ag.Status == lb.AgentUp && !ag.Revoked {
			return current, ag, nil
		}
	}
	avoid := ""
	if failover {
		avoid = current.AgentID
	}
	target, err := n.choose(ctx, tx, l, avoid)
	if err != nil {
		return nil, nil, err
	}
	now := n.now().UTC().Truncate(time.Second)
	isNew := current == nil
	if isNew {
		current = &lb.Amphora{ID: newID(), LoadBalancerID: l.ID, Role: lb.RoleStandalone, Times: lb.Times{CreatedAt: now}}
	} else {
		if current.AgentID != "" && current.AgentID != target.ID {
			n.cache.Delete(current.AgentID, l.ID)
			n.log.Info("moving load balancer to another agent", "loadbalancer_id", l.ID, "from", current.ComputeID, "to", target.Name, "failover", failover)
		}
		current.Touch(now)
	}
	current.AgentID = target.ID
	current.ComputeID = target.Name
	current.LBNetworkIP = target.Address
	current.HAIP = l.VIP.Address
	current.HAPortID = l.VIP.PortID
	current.CachedZone = target.AvailabilityZone
	current.Status = lb.AmphoraAllocated
	if isNew {
		err = tx.Amphorae().Create(ctx, current)
	} else {
		err = tx.Amphorae().Update(ctx, current)
	}
	if err != nil {
		return nil, nil, err
	}
	return current, target, nil
}

// choose picks, among the healthy agents of the load balancer's agent zone
// (its availability zone profile's agent_zone) and agent group (its flavor
// profile's agent_group), the one with the fewest placements (ties by
// name), preferring any agent other than avoid.
func (n *Native) choose(ctx context.Context, tx store.Tx, l *lb.LoadBalancer, avoid string) (*lb.Agent, error) {
	zone, group, err := requirements(ctx, tx, l)
	if err != nil {
		return nil, err
	}
	agents, err := tx.Agents().List(ctx, store.Query{Filters: []store.Filter{store.F("status", lb.AgentUp), store.F("revoked", "false")}})
	if err != nil {
		return nil, err
	}
	var candidates []*lb.Agent
	for _, a := range agents {
		if (zone == "" || a.AvailabilityZone == zone) && (group == "" || a.Group == group) {
			candidates = append(candidates, a)
		}
	}
	if len(candidates) == 0 {
		where := ""
		if zone != "" {
			where += " in agent zone " + zone
		}
		if group != "" {
			where += " in agent group " + group
		}
		return nil, &controller.RefusedError{Reason: "no data-plane agent is up" + where}
	}
	ids := make([]string, len(candidates))
	for i, a := range candidates {
		ids[i] = a.ID
	}
	load, err := tx.Amphorae().Refs(ctx, "agent_id", ids)
	if err != nil {
		return nil, err
	}
	sort.Slice(candidates, func(i, j int) bool {
		ai, aj := candidates[i].ID == avoid, candidates[j].ID == avoid
		if ai != aj {
			return aj
		}
		li, lj := len(load[candidates[i].ID]), len(load[candidates[j].ID])
		if li != lj {
			return li < lj
		}
		return candidates[i].Name < candidates[j].Name
	})
	return candidates[0], nil
}

// requirements reads the agent zone and agent group a load balancer must
// run in from its availability zone and flavor profiles ("" = any). A zone
// without an agent_zone names the agents' zone itself.
func requirements(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) (zone, group string, err error) {
	if l.AvailabilityZone != "" {
		zone = l.AvailabilityZone
		z, err := tx.AvailabilityZones().Get(ctx, l.AvailabilityZone)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", "", err
		}
		if err == nil {
			p, err := tx.AvailabilityZoneProfiles().Get(ctx, z.AvailabilityZoneProfileID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return "", "", err
			}
			if err == nil {
				if m := lb.ParseAvailabilityZoneMetadata(p.AvailabilityZoneData); m.AgentZone != "" {
					zone = m.AgentZone
				}
			}
		}
	}
	if l.FlavorID != "" {
		f, err := tx.Flavors().Get(ctx, l.FlavorID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", "", err
		}
		if err == nil {
			p, err := tx.FlavorProfiles().Get(ctx, f.FlavorProfileID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return "", "", err
			}
			if err == nil {
				group = lb.ParseFlavorMetadata(p.FlavorData).AgentGroup
			}
		}
	}
	return zone, group, nil
}

func (n *Native) setAmphoraStatus(ctx context.Context, id, status string) {
	err := n.store.Update(ctx, func(tx store.Tx) error {
		a, err := tx.Amphorae().Get(ctx, id)
		if err != nil {
			return err
		}
		if a.Status == status {
			return nil
		}
		a.Status = status
		a.Touch(n.now())
		return tx.Amphorae().Update(ctx, a)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		n.log.Warn("update amphora status", "amphora_id", id, "err", err)
	}
}

func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("provider: crypto/rand failed: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
