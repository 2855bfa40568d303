package controller

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Noop is the API-only provider (Octavia's noop driver): it acknowledges
// every generation at once and reports the operating statuses Octavia's noop
// driver leaves behind — OFFLINE for load balancers, listeners and pools.
// Members keep the status they were created with (NO_MONITOR, or OFFLINE
// when their pool had a health monitor), as nothing ever reports on them;
// a member without one gets it from its pool.
//
// With a Store, it also records the amphorae Octavia's noop drivers record,
// so the amphora API (list, show, failover, configure) works in API-only
// deployments: one STANDALONE amphora per load balancer, or a MASTER and a
// BACKUP when its flavor's loadbalancer_topology is ACTIVE_STANDBY. They
// are ALLOCATED, carry the VIP as ha_ip and the flavor's compute_flavor,
// and run nowhere (no agent, no compute id). A failed-over amphora
// (PENDING_DELETE) is replaced in place. The zero Noop records none.
type Noop struct {
	Store store.Store
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Apply acknowledges g, recording its amphorae first when n has a store.
func (n Noop) Apply(ctx context.Context, g *lb.Graph) (Outcome, error) {
	if n.Store != nil {
		if err := n.recordAmphorae(ctx, g.LoadBalancer); err != nil {
			return Outcome{}, fmt.Errorf("record amphorae of %s: %w", g.LoadBalancer.ID, err)
		}
	}
	op := map[string]lb.OperatingStatus{g.LoadBalancer.ID: lb.Offline}
	for _, l := range g.Listeners {
		op[l.ID] = lb.Offline
	}
	monitored := map[string]bool{}
	for _, h := range g.HealthMonitors {
		monitored[h.PoolID] = true
	}
	for _, p := range g.Pools {
		op[p.ID] = lb.Offline
	}
	for _, m := range g.Members {
		if m.Status.Operating != "" {
			continue
		}
		if monitored[m.PoolID] {
			op[m.ID] = lb.Offline
		} else {
			op[m.ID] = lb.NoMonitor
		}
	}
	return Outcome{Done: true, Operating: op}, nil
}

// Remove acknowledges the deletion (the amphorae go with the load
// balancer's row).
func (Noop) Remove(context.Context, *lb.LoadBalancer) (Outcome, error) {
	return Outcome{Done: true}, nil
}

// noopAmphora is the amphora of load balancer l in role, as the noop
// provider records it.
func noopAmphora(l *lb.LoadBalancer, role, computeFlavor string, now time.Time) *lb.Amphora {
	a := &lb.Amphora{ID: derivedUUID("noop-amphora/" + l.ID + "/" + role), LoadBalancerID: l.ID, Role: role,
		Status: lb.AmphoraAllocated, HAIP: l.VIP.Address, HAPortID: l.VIP.PortID, ComputeFlavor: computeFlavor,
		Times: lb.Times{CreatedAt: now}}
	if role != lb.RoleStandalone {
		// Octavia's keepalived settings: one VRRP id per load balancer, the
		// MASTER preferred.
		id, prio := 1, 90
		if role == lb.RoleMaster {
			prio = 100
		}
		a.VRRPID, a.VRRPPriority = &id, &prio
	}
	return a
}

// recordAmphorae makes l's amphora rows match its topology: missing roles
// are created, roles the topology does not have are removed, failed-over
// ones are back in service.
func (n Noop) recordAmphorae(ctx context.Context, l *lb.LoadBalancer) error {
	now := time.Now
	if n.Now != nil {
		now = n.Now
	}
	return n.Store.Update(ctx, func(tx store.Tx) error {
		topology, computeFlavor, err := flavorOf(ctx, tx, l.FlavorID)
		if err != nil {
			return err
		}
		roles := []string{lb.RoleStandalone}
		if topology == lb.TopologyActiveStandby {
			roles = []string{lb.RoleMaster, lb.RoleBackup}
		}
		amps, err := tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.F("loadbalancer_id", l.ID)}})
		if err != nil {
			return err
		}
		have := map[string]*lb.Amphora{}
		for _, a := range amps {
			if !lb.Contains(roles, a.Role) || have[a.Role] != nil {
				if err := tx.Amphorae().Delete(ctx, a.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				continue
			}
			have[a.Role] = a
		}
		for _, role := range roles {
			a := have[role]
			if a == nil {
				if _, err := tx.Amphorae().CreateIfAbsent(ctx, noopAmphora(l, role, computeFlavor, now().UTC())); err != nil {
					return err
				}
				continue
			}
			if a.Status == lb.AmphoraAllocated && a.HAIP == l.VIP.Address {
				continue
			}
			a.Status, a.HAIP, a.HAPortID = lb.AmphoraAllocated, l.VIP.Address, l.VIP.PortID
			a.Touch(now())
			if err := tx.Amphorae().Update(ctx, a); err != nil {
				return err
			}
		}
		return nil
	})
}

// flavorOf returns the topology and compute flavor of a flavor's profile
// ("" for none).
func flavorOf(ctx context.Context, tx store.Tx, flavorID string) (topology, computeFlavor string, err error) {
	if flavorID == "" {
		return "", "", nil
	}
	f, err := tx.Flavors().Get(ctx, flavorID)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	p, err := tx.FlavorProfiles().Get(ctx, f.FlavorProfileID)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	m := lb.ParseFlavorMetadata(p.FlavorData)
	return m.Topology, m.ComputeFlavor, nil
}

// derivedUUID is a name-based UUID (version 5 layout) of key: the noop
// provider's amphora of a load balancer and role always has the same id.
func derivedUUID(key string) string {
	sum := sha1.Sum([]byte(key))
	sum[6] = sum[6]&0x0f | 0x50
	sum[8] = sum[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}
