package change

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// LoadBalancerCreate is a new load balancer, alone or with its children
// (Octavia's fully populated create).
type LoadBalancerCreate struct {
	// Graph holds the new load balancer (id, project, provider and
	// attributes set; status, generation and times are the write's) and,
	// for a fully populated create, its children, validated, with ids and
	// linked to each other and to the load balancer. The write stamps them
	// all PENDING_CREATE with the load balancer's first generation.
	Graph *lb.Graph
	// VIP is what the load balancer's VIP is allocated from.
	VIP lb.VIPRequest
}

// CreateLoadBalancer stores a new load balancer and its children in one
// transaction: the VIP is allocated (inside the transaction when the
// allocator can), the flavor and availability zone are checked again, the
// project's quota is reserved for every object, members' subnets and the
// key-manager references of listeners and pools are checked. The caller
// authorizes the create beforehand: the owner is the project it names. An
// id already taken is a 409.
func (w *Writer) CreateLoadBalancer(ctx context.Context, in LoadBalancerCreate) error {
	g, l := in.Graph, in.Graph.LoadBalancer
	l.CreatedAt = w.now()
	l.Status = lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline}
	gen := l.NextGeneration()
	stampGraph(g, gen, l.CreatedAt)
	req := in.VIP
	req.LoadBalancerID = l.ID
	// An allocator that can join the create transaction allocates there;
	// otherwise the VIP is allocated first and released if the create fails.
	txVIPs, inTx := w.vips.(TxVIPAllocator)
	var vip lb.VIP
	if !inTx {
		var additional []lb.AdditionalVIP
		var err error
		if vip, additional, err = w.vips.AllocateVIP(ctx, req); err != nil {
			return fmt.Errorf("allocate vip of load balancer %s: %w", l.ID, err)
		}
		l.VIP, l.AdditionalVIPs = vip, additional
	}
	err := w.write(ctx, func(t *txn) error {
		if inTx {
			v, additional, err := txVIPs.AllocateVIPTx(ctx, t.tx, req)
			if err != nil {
				return fmt.Errorf("allocate vip of load balancer %s: %w", l.ID, err)
			}
			l.VIP, l.AdditionalVIPs = v, additional
		}
		if w.sgs != nil && req.SGIDs != nil {
			if err := w.sgs.SetVIPSecurityGroups(ctx, t.tx, l); err != nil {
				return err
			}
		}
		t.lb, t.gen, t.now = l, gen, l.CreatedAt
		if err := t.storeGraph(g); err != nil {
			return err
		}
		t.wake = l.ID
		return nil
	})
	if err == nil {
		return nil
	}
	if !inTx {
		if rerr := w.vips.ReleaseVIP(ctx, l.ID, vip); rerr != nil {
			w.log.Error("release vip after failed create", "loadbalancer_id", l.ID, "err", rerr)
		}
	}
	if errors.Is(err, store.ErrConflict) {
		return lb.Conflict("Already an entity with that specified id.")
	}
	return fmt.Errorf("create load balancer %s: %w", l.ID, err)
}

// stampGraph gives every object of a new graph its create status and time;
// members of pools without a health monitor are NO_MONITOR.
func stampGraph(g *lb.Graph, gen int64, created time.Time) {
	st := lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline, Gen: gen}
	now := lb.Times{CreatedAt: created}
	monitored := map[string]bool{}
	for _, h := range g.HealthMonitors {
		h.Status, h.Times = st, now
		monitored[h.PoolID] = true
	}
	for _, p := range g.Pools {
		p.Status, p.Times = st, now
	}
	for _, m := range g.Members {
		m.Status, m.Times = st, now
		if !monitored[m.PoolID] {
			m.Status.Operating = lb.NoMonitor
		}
	}
	for _, l := range g.Listeners {
		l.Status, l.Times = st, now
	}
	for _, p := range g.L7Policies {
		p.Status, p.Times = st, now
	}
	for _, r := range g.L7Rules {
		r.Status, r.Times = st, now
	}
}

// storeGraph runs the create checks that need the store and writes the
// graph in dependency order.
func (t *txn) storeGraph(g *lb.Graph) error {
	l := g.LoadBalancer
	if err := recheckCatalog(t.ctx, t.tx, l); err != nil {
		return err
	}
	if err := t.reserve(map[lb.QuotaResource]int{lb.QuotaLoadBalancer: 1, lb.QuotaListener: len(g.Listeners),
		lb.QuotaPool: len(g.Pools), lb.QuotaHealthMonitor: len(g.HealthMonitors), lb.QuotaMember: len(g.Members),
		lb.QuotaL7Policy: len(g.L7Policies), lb.QuotaL7Rule: len(g.L7Rules)}); err != nil {
		return err
	}
	for _, m := range g.Members {
		if err := t.checkSubnet(m); err != nil {
			return err
		}
	}
	if err := t.tx.LoadBalancers().Create(t.ctx, l); err != nil {
		return err
	}
	for _, li := range g.Listeners {
		if err := t.checkListenerRefs(li); err != nil {
			return err
		}
	}
	for _, p := range g.Pools {
		if err := t.checkPoolRefs(p); err != nil {
			return err
		}
	}
	return t.createAll(g)
}

// createAll creates a graph's children: pools before their monitors and
// members, listeners after the pools they use, policies after their
// listeners, rules last.
func (t *txn) createAll(g *lb.Graph) error {
	for _, p := range g.Pools {
		if err := t.tx.Pools().Create(t.ctx, p); err != nil {
			return fmt.Errorf("create pool %s: %w", p.ID, err)
		}
	}
	for _, h := range g.HealthMonitors {
		if err := t.tx.HealthMonitors().Create(t.ctx, h); err != nil {
			return fmt.Errorf("create health monitor %s: %w", h.ID, err)
		}
	}
	for _, m := range g.Members {
		if err := t.tx.Members().Create(t.ctx, m); err != nil {
			return fmt.Errorf("create member %s: %w", m.ID, err)
		}
	}
	for _, l := range g.Listeners {
		if err := t.tx.Listeners().Create(t.ctx, l); err != nil {
			return fmt.Errorf("create listener %s: %w", l.ID, err)
		}
	}
	for _, p := range g.L7Policies {
		if err := t.tx.L7Policies().Create(t.ctx, p); err != nil {
			return fmt.Errorf("create l7 policy %s: %w", p.ID, err)
		}
	}
	for _, r := range g.L7Rules {
		if err := t.tx.L7Rules().Create(t.ctx, r); err != nil {
			return fmt.Errorf("create l7 rule %s: %w", r.ID, err)
		}
	}
	return nil
}

// EnabledFlavor returns the profile of an enabled flavor, or the 400s of an
// unknown or disabled one.
func EnabledFlavor(ctx context.Context, tx store.Tx, flavorID string) (*lb.FlavorProfile, error) {
	f, err := tx.Flavors().Get(ctx, flavorID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, lb.Invalid(msgInvalidFlavor)
	}
	if err != nil {
		return nil, err
	}
	if !f.Enabled {
		return nil, lb.NotAllowed("flavor", flavorID)
	}
	fp, err := tx.FlavorProfiles().Get(ctx, f.FlavorProfileID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, lb.Invalid(msgInvalidFlavor)
	}
	return fp, err
}

// EnabledZone returns the profile of an enabled availability zone, or the
// 400s of an unknown or disabled one.
func EnabledZone(ctx context.Context, tx store.Tx, name string) (*lb.AvailabilityZoneProfile, error) {
	z, err := tx.AvailabilityZones().Get(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, lb.Invalid(msgInvalidAZ)
	}
	if err != nil {
		return nil, err
	}
	if !z.Enabled {
		return nil, lb.NotAllowed("availability_zone", name)
	}
	zp, err := tx.AvailabilityZoneProfiles().Get(ctx, z.AvailabilityZoneProfileID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, lb.Invalid(msgInvalidAZ)
	}
	return zp, err
}

const (
	msgInvalidFlavor = "Invalid flavor_id."
	msgInvalidAZ     = "Invalid availability zone."
)

// recheckCatalog repeats the flavor and zone checks inside the create
// transaction, so a flavor or zone deleted meanwhile is not referenced.
func recheckCatalog(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) error {
	if l.FlavorID != "" {
		if _, err := EnabledFlavor(ctx, tx, l.FlavorID); err != nil {
			return err
		}
	}
	if l.AvailabilityZone != "" {
		if _, err := EnabledZone(ctx, tx, l.AvailabilityZone); err != nil {
			return err
		}
	}
	return nil
}

// LoadBalancerUpdate changes a load balancer's own attributes.
type LoadBalancerUpdate struct {
	ID    string
	Allow Allow
	// Apply changes the load balancer as the request asks; an error refuses
	// the write.
	Apply func(*lb.LoadBalancer) error
	// Sent: a request that sends vip_qos_policy_id has it validated and
	// applied to the VIP port (VIPQoSUpdater); one that sends vip_sg_ids,
	// its security groups (Options.SecurityGroups).
	Sent Sent
}

// UpdateLoadBalancer changes a load balancer: PENDING_UPDATE at a new
// generation.
func (w *Writer) UpdateLoadBalancer(ctx context.Context, in LoadBalancerUpdate) (*lb.LoadBalancer, error) {
	var out *lb.LoadBalancer
	err := w.write(ctx, func(t *txn) error {
		l, err := t.lock(in.ID, in.Allow)
		if err != nil {
			return err
		}
		if err := writable(resLoadBalancer, l.ID, l.Status); err != nil {
			return err
		}
		if err := in.Apply(l); err != nil {
			return err
		}
		if u, ok := w.vips.(VIPQoSUpdater); ok && in.Sent.has("vip_qos_policy_id") {
			if err := u.UpdateQoS(t.ctx, t.tx, l); err != nil {
				return err
			}
		}
		if w.sgs != nil && in.Sent.has("vip_sg_ids") {
			if err := w.sgs.SetVIPSecurityGroups(t.ctx, t.tx, l); err != nil {
				return err
			}
		}
		out = l
		return t.begin(lb.PendingUpdate)
	})
	return out, err
}

// DeleteLoadBalancer marks a load balancer PENDING_DELETE; the controller
// removes it with all its children once its provider has. Without cascade a
// load balancer that has listeners or pools is refused (400, as Octavia).
func (w *Writer) DeleteLoadBalancer(ctx context.Context, id string, cascade bool, allow Allow) error {
	return w.write(ctx, func(t *txn) error {
		l, err := t.lock(id, allow)
		if err != nil {
			return err
		}
		if !cascade {
			nl, err := t.tx.Listeners().Count(t.ctx, store.F("loadbalancer_id", id))
			if err != nil {
				return err
			}
			np, err := t.tx.Pools().Count(t.ctx, store.F("loadbalancer_id", id))
			if err != nil {
				return err
			}
			if nl+np > 0 {
				return lb.Invalid("Cannot delete Load Balancer %s - it has children", id)
			}
		}
		if err := writable(resLoadBalancer, id, l.Status); err != nil {
			return err
		}
		return t.begin(lb.PendingDelete)
	})
}

// TxVIPReleaser is a VIPAllocator that can release a load balancer's VIP
// inside a transaction (the network's VIP allocator; the noop network
// holds nothing to release).
type TxVIPReleaser interface {
	Release(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) error
}

// MoveVIP gives a load balancer another VIP: the one req describes (a
// subnet or network, and an address or none), in its project, with the
// old VIP's QoS policy and security groups. The old VIP is released and
// the new one allocated in the same transaction (a refused address changes
// nothing), and the load balancer starts a generation (PENDING_UPDATE):
// its listeners move to the new address. LBaaS v1 needs it: there, the
// address is chosen when a pool gets its VIP, long after the load balancer
// that holds the pool was created. Additional VIPs are dropped.
func (w *Writer) MoveVIP(ctx context.Context, id string, req lb.VIPRequest, allow Allow) (*lb.LoadBalancer, error) {
	var out *lb.LoadBalancer
	err := w.write(ctx, func(t *txn) error {
		l, err := t.lock(id, allow)
		if err != nil {
			return err
		}
		if err := writable(resLoadBalancer, id, l.Status); err != nil {
			return err
		}
		req.LoadBalancerID, req.ProjectID = l.ID, l.ProjectID
		req.QoSPolicyID, req.SGIDs, req.Additional = l.VIP.QoSPolicyID, l.VIP.SGIDs, nil
		if rel, ok := w.vips.(TxVIPReleaser); ok {
			if err := rel.Release(ctx, t.tx, l); err != nil {
				return err
			}
		}
		var vip lb.VIP
		if txVIPs, ok := w.vips.(TxVIPAllocator); ok {
			vip, _, err = txVIPs.AllocateVIPTx(ctx, t.tx, req)
		} else {
			vip, _, err = w.vips.AllocateVIP(ctx, req)
		}
		if err != nil {
			return fmt.Errorf("move vip of load balancer %s: %w", id, err)
		}
		l.VIP, l.AdditionalVIPs = vip, nil
		if err := t.begin(lb.PendingUpdate); err != nil {
			return err
		}
		out = l
		return nil
	})
	return out, err
}

// FailoverLoadBalancer replaces every placement of a load balancer: they
// are marked for replacement at a new generation and the provider moves the
// load balancer to other agents when there are any.
func (w *Writer) FailoverLoadBalancer(ctx context.Context, id string, allow Allow) error {
	return w.write(ctx, func(t *txn) error {
		l, err := t.lock(id, allow)
		if err != nil {
			return err
		}
		if err := writable(resLoadBalancer, id, l.Status); err != nil {
			return err
		}
		if err := t.begin(lb.PendingUpdate); err != nil {
			return err
		}
		amps, err := t.tx.Amphorae().List(t.ctx, store.Query{Filters: []store.Filter{store.F("loadbalancer_id", id)}})
		if err != nil {
			return err
		}
		for _, a := range amps {
			if err := t.markFailover(a); err != nil {
				return err
			}
		}
		return nil
	})
}
