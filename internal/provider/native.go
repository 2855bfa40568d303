// Package provider holds the provider that runs load balancers on fulcrum's
// own data-plane agents (Octavia provider name "fulcrum"): it places each
// load balancer on an agent, compiles its graph into a data-plane fragment,
// publishes it in the agent's snapshot and reports a generation done once
// the agent acknowledges a config version containing it.
package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/ids"

	"github.com/fulcrumlb/fulcrum/internal/compile"
	"github.com/fulcrumlb/fulcrum/internal/controller"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/snapshot"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Addresses returns the extra addresses (floating IPs) a load balancer is
// served on, read inside the provider's transaction. May be nil.
type Addresses func(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) ([]string, error)

// TLSResolver reads key-manager material inside the provider's transaction,
// as the load-balancer service of project (the load balancer's project).
type TLSResolver interface {
	Certificate(ctx context.Context, tx store.Tx, project, ref string) (dataplane.Certificate, error)
	PEM(ctx context.Context, tx store.Tx, project, ref string) (string, error)
}

// Publisher publishes compiled fragments to agents and tells what the
// agents run: snapshot.Cache (one server, in memory) or snapshot.Shared
// (in the store, for every server sharing it). Publish and Withdraw run
// inside the provider's transaction, so that the store of a deposed
// leader refuses them with its other writes.
type Publisher interface {
	// Publish publishes generation gen of load balancer lbID's fragment on
	// agent agentID and returns where it stands there.
	Publish(ctx context.Context, tx store.Tx, agentID, lbID string, gen int64, frag *dataplane.Config) (snapshot.State, string, error)
	// Withdraw withdraws load balancer lbID from agent agentID.
	Withdraw(ctx context.Context, tx store.Tx, agentID, lbID string) error
	// Withdrawn reports whether agent agentID runs a version without lbID.
	Withdrawn(ctx context.Context, tx store.Tx, agentID, lbID string) (bool, error)
}

// Peeker is a Publisher that can tell in a read transaction whether a
// fragment is published as it is, and where it stands (snapshot.Shared):
// then Apply publishes nothing and needs no write transaction.
type Peeker interface {
	Published(ctx context.Context, tx store.Tx, agentID, lbID string, frag *dataplane.Config) (snapshot.State, string, bool, error)
}

// IngressResolver reads, inside the provider's transaction, the client
// filter of a load balancer's VIP port: the ingress rules of its security
// groups (nil: no filter).
type IngressResolver func(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) (*compile.Ingress, error)

// Native is the "fulcrum" provider.
type Native struct {
	store     store.Store
	cache     Publisher
	addresses Addresses
	tls       TLSResolver
	ingress   IngressResolver
	log       *slog.Logger
	now       func() time.Time
	ha        HASettings
}

// Options configure NewNative.
type Options struct {
	// Store is where the provider reads and writes: on a server that
	// shares its store, the leader's fenced store of its term.
	Store     store.Store
	Cache     Publisher
	Addresses Addresses
	// TLS resolves the certificates of TERMINATED_HTTPS listeners and
	// re-encrypting pools; nil refuses them.
	TLS TLSResolver
	// Ingress reads the VIP port's security groups; nil is no filter.
	Ingress IngressResolver
	Logger  *slog.Logger
	Now     func() time.Time
	// HA are the VRRP settings of ACTIVE_STANDBY load balancers (pairs.go).
	HA HASettings
}

// NewNative returns the native provider.
func NewNative(opts Options) *Native {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Native{store: opts.Store, cache: opts.Cache, addresses: opts.Addresses, tls: opts.TLS, ingress: opts.Ingress,
		log: opts.Logger.With("component", "provider"), now: opts.Now, ha: opts.HA}
}

var _ controller.Provider = (*Native)(nil)

// Apply places g, compiles and validates its fragment, publishes it and
// reports whether the agent runs it. A graph that does not compile, or whose
// fragment fails the data-plane contract's validation, is refused
// (*controller.RefusedError) and nothing is published.
func (n *Native) Apply(ctx context.Context, g *lb.Graph) (controller.Outcome, error) {
	var a *applying
	err := n.store.View(ctx, func(tx store.Tx) (err error) {
		a, err = n.read(ctx, tx, g)
		return err
	})
	if err != nil {
		return controller.Outcome{}, err
	}
	return n.finish(ctx, a)
}

var _ controller.Preparer = (*Native)(nil)

// Prepare does Apply's reads inside tx, the controller's read transaction
// that loaded g (controller.Preparer): a reconcile then takes one read
// transaction, not two.
func (n *Native) Prepare(ctx context.Context, tx store.Tx, g *lb.Graph) (any, error) {
	return n.read(ctx, tx, g)
}

// ApplyPrepared finishes Apply with what Prepare read.
func (n *Native) ApplyPrepared(ctx context.Context, g *lb.Graph, prepared any) (controller.Outcome, error) {
	a, ok := prepared.(*applying)
	if !ok || a.g != g {
		return n.Apply(ctx, g)
	}
	return n.finish(ctx, a)
}

// applying is one Apply in progress: what its read transaction found.
type applying struct {
	g        *lb.Graph
	md       lb.FlavorMetadata
	extra    []string
	amp      *lb.Amphora
	agent    *lb.Agent
	material compile.TLSMaterial
	refused  *controller.RefusedError
	ingress  *compile.Ingress
	engine   string
	// kept is false when the load balancer must be placed, in a write
	// transaction (or its key-manager material read there, as before).
	kept bool
	// frag is the compiled fragment, buildErr why it cannot run.
	frag     *dataplane.Config
	buildErr error
	// published tells that frag is published as it is, standing at st.
	published bool
	st        snapshot.State
	reason    string
}

// prepare places the load balancer and reads what its fragment needs. A
// load balancer that stays where it is (most reconciles) is prepared in a
// read transaction: placing it writes nothing, and the writer (one for the
// whole server on SQLite) is spared the reads. Without write, a.kept turns
// false when it must be placed, in a write transaction.
func (n *Native) prepare(ctx context.Context, tx store.Tx, a *applying, write bool) error {
	var err error
	l := a.g.LoadBalancer
	a.refused = nil
	if a.engine, err = engineOf(ctx, tx, l); err != nil {
		return err
	}
	if write {
		a.amp, a.agent, err = n.place(ctx, tx, l)
	} else {
		var keep bool
		a.amp, a.agent, keep, err = placement(ctx, tx, l)
		if err == nil && !keep {
			a.kept = false
			return nil
		}
	}
	if errors.As(err, &a.refused) {
		// Nowhere to go: commit what placing withdrew (an agent that no
		// longer fits keeps nothing it may not serve).
		return nil
	}
	if err != nil {
		return err
	}
	if n.addresses != nil {
		if a.extra, err = n.addresses(ctx, tx, l); err != nil {
			return err
		}
	}
	if n.ingress != nil {
		if a.ingress, err = n.ingress(ctx, tx, l); err != nil {
			return err
		}
	}
	a.material, err = n.resolve(ctx, tx, a.g)
	return err
}

// build compiles and checks the fragment once prepare has read what it
// needs; a fragment that cannot run is the load balancer's refusal
// (a.buildErr), any other error a failure to retry.
func (n *Native) build(a *applying) {
	l := a.g.LoadBalancer
	frag, err := compile.LoadBalancer(a.g, compile.Options{ExtraAddresses: a.extra, TLS: a.material, Ingress: a.ingress})
	a.frag = frag
	var unsupported *compile.Unsupported
	switch {
	case errors.As(err, &unsupported):
		a.buildErr = &controller.RefusedError{Reason: err.Error()}
		return
	case err != nil:
		a.buildErr = err
		return
	}
	// The agent would refuse a fragment the contract rejects, and with it
	// (when the refusal cannot be attributed) every changed load balancer
	// on the node: an invalid fragment is this load balancer's refusal and
	// is never published.
	if err := frag.Validate(); err != nil {
		n.log.Error("compiled data-plane configuration is invalid; not published", "loadbalancer_id", l.ID, "generation", l.Generation, "err", err)
		a.buildErr = &controller.RefusedError{Reason: "the compiled data-plane configuration is invalid: " + err.Error()}
		return
	}
	a.buildErr = refuseForEngine(frag, a.engine)
}

// read is Apply's read transaction: it reads the flavor, prepares a load
// balancer that stays where it is, compiles its fragment and tells whether
// it is published as it is. A reconcile that changes nothing (most of them)
// then writes nothing, and one that publishes writes once.
func (n *Native) read(ctx context.Context, tx store.Tx, g *lb.Graph) (*applying, error) {
	a := &applying{g: g}
	var err error
	if a.md, err = flavorOf(ctx, tx, g.LoadBalancer); err != nil {
		return nil, err
	}
	// Key-manager reads stay in the write transaction, as before.
	certs, pems := compile.TLSRefs(g)
	a.kept = len(certs)+len(pems) == 0
	if a.md.Topology == lb.TopologyActiveStandby || !a.kept {
		return a, nil
	}
	if err := n.prepare(ctx, tx, a, false); err != nil {
		return nil, err
	}
	if !a.kept || a.refused != nil {
		return a, nil
	}
	n.build(a)
	if pk, ok := n.cache.(Peeker); ok && a.buildErr == nil {
		a.st, a.reason, a.published, err = pk.Published(ctx, tx, a.agent.ID, g.LoadBalancer.ID, a.frag)
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// finish completes Apply after read: it places the load balancer if it
// must move, publishes its fragment if it changed, and tells where it
// stands.
func (n *Native) finish(ctx context.Context, a *applying) (controller.Outcome, error) {
	g, l := a.g, a.g.LoadBalancer
	if a.md.Topology == lb.TopologyActiveStandby {
		return n.applyPair(ctx, g, a.md)
	}
	if !a.kept {
		// Placed, compiled and, by a publisher that writes in the store
		// (one that peeks: its publication commits or rolls back with the
		// placement), published in one write transaction. What placing
		// wrote is committed even when the fragment is refused.
		_, transactional := n.cache.(Peeker)
		err := n.store.Update(ctx, func(tx store.Tx) (err error) {
			a.published = false
			if err := n.prepare(ctx, tx, a, true); err != nil || a.refused != nil {
				return err
			}
			if n.build(a); a.buildErr != nil || !transactional {
				return nil
			}
			a.st, a.reason, err = n.cache.Publish(ctx, tx, a.agent.ID, l.ID, l.Generation, a.frag)
			a.published = err == nil
			return err
		})
		if err != nil {
			return controller.Outcome{}, err
		}
	}
	if a.refused != nil {
		return controller.Outcome{}, a.refused
	}
	if a.buildErr != nil {
		return controller.Outcome{}, a.buildErr
	}
	if !a.published {
		err := n.store.Update(ctx, func(tx store.Tx) (err error) {
			a.st, a.reason, err = n.cache.Publish(ctx, tx, a.agent.ID, l.ID, l.Generation, a.frag)
			return err
		})
		if err != nil {
			return controller.Outcome{}, err
		}
	}
	switch a.st {
	case snapshot.Applied:
		out := controller.Outcome{Done: true}
		if a.amp.Status != lb.AmphoraReady {
			// Recorded with the generation done, in the controller's
			// write transaction, not in one of its own.
			id := a.amp.ID
			out.Record = func(ctx context.Context, tx store.Tx) error { return n.amphoraReady(ctx, tx, id) }
		}
		return out, nil
	case snapshot.Refused:
		return controller.Outcome{}, &controller.RefusedError{Reason: fmt.Sprintf("agent %s refused the configuration: %s", a.agent.Name, a.reason)}
	}
	return controller.Outcome{}, nil
}

// resolve reads the key-manager material g references. A reference that
// cannot be read is recorded with its reason (compiling refuses the load
// balancer when it needs it); a store failure is returned.
func (n *Native) resolve(ctx context.Context, tx store.Tx, g *lb.Graph) (compile.TLSMaterial, error) {
	m := compile.TLSMaterial{Certificates: map[string]dataplane.Certificate{}, PEM: map[string]string{}, Errors: map[string]string{}}
	certs, pems := compile.TLSRefs(g)
	if len(certs)+len(pems) == 0 {
		return m, nil
	}
	project := g.LoadBalancer.ProjectID
	fail := func(ref string, err error) error {
		if errors.Is(err, store.ErrBusy) || ctx.Err() != nil {
			return err
		}
		m.Errors[ref] = err.Error()
		return nil
	}
	for _, ref := range certs {
		if n.tls == nil {
			m.Errors[ref] = "no key manager"
			continue
		}
		c, err := n.tls.Certificate(ctx, tx, project, ref)
		if err != nil {
			if err := fail(ref, err); err != nil {
				return m, err
			}
			continue
		}
		m.Certificates[ref] = c
	}
	for _, ref := range pems {
		if n.tls == nil {
			m.Errors[ref] = "no key manager"
			continue
		}
		p, err := n.tls.PEM(ctx, tx, project, ref)
		if err != nil {
			if err := fail(ref, err); err != nil {
				return m, err
			}
			continue
		}
		m.PEM[ref] = p
	}
	return m, nil
}

// ReferencingLoadBalancers returns the load balancers whose listeners or
// pools reference a key-manager object with one of ids (an href ending in
// /<id>, or the bare id): those to re-publish when the object changes.
func ReferencingLoadBalancers(ctx context.Context, tx store.Tx, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	matches := func(ref *string) bool {
		if ref == nil {
			return false
		}
		r := strings.TrimSuffix(*ref, "/")
		for _, id := range ids {
			if strings.EqualFold(r, id) || len(r) > len(id) && strings.EqualFold(r[len(r)-len(id)-1:], "/"+id) {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	var out []string
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	listeners, err := tx.Listeners().List(ctx, store.Query{Filters: []store.Filter{store.In("protocol", lb.ProtocolTerminatedHTTPS, lb.ProtocolPrometheus)}})
	if err != nil {
		return nil, err
	}
	for _, l := range listeners {
		hit := matches(l.DefaultTLSContainerRef) || matches(l.ClientCATLSContainerRef) || matches(l.ClientCRLContainerRef)
		for i := range l.SNIContainerRefs {
			hit = hit || matches(&l.SNIContainerRefs[i])
		}
		if hit {
			add(l.LoadBalancerID)
		}
	}
	pools, err := tx.Pools().List(ctx, store.Query{Filters: []store.Filter{store.F("tls_enabled", "true")}})
	if err != nil {
		return nil, err
	}
	for _, p := range pools {
		if matches(p.TLSContainerRef) || matches(p.CATLSContainerRef) || matches(p.CRLContainerRef) {
			add(p.LoadBalancerID)
		}
	}
	return out, nil
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
	err = n.store.Update(ctx, func(tx store.Tx) error {
		done = true
		for id, ag := range agents {
			if err := n.cache.Withdraw(ctx, tx, id, l.ID); err != nil {
				return err
			}
			// A down agent cannot acknowledge; when it comes back its
			// watch hands it the config without this load balancer.
			if ag.Status != lb.AgentUp {
				continue
			}
			gone, err := n.cache.Withdrawn(ctx, tx, id, l.ID)
			if err != nil {
				return err
			}
			done = done && gone
		}
		return nil
	})
	if err != nil {
		return controller.Outcome{}, err
	}
	return controller.Outcome{Done: done}, nil
}

// place returns the load balancer's placement, creating it on the least
// loaded healthy agent, or moving it there when its agent is down.
func (n *Native) place(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) (*lb.Amphora, *lb.Agent, error) {
	current, ag, keep, err := placement(ctx, tx, l)
	if err != nil {
		return nil, nil, err
	}
	if keep {
		return current, ag, nil
	}
	// A placement marked PENDING_DELETE is being failed over: it moves to
	// another agent when there is one.
	failover := current != nil && current.Status == lb.AmphoraPendingDelete
	if ag != nil {
		// Its agent is up but no longer fits.
		if err := n.cache.Withdraw(ctx, tx, ag.ID, l.ID); err != nil {
			return nil, nil, err
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
		current = &lb.Amphora{ID: ids.New(), LoadBalancerID: l.ID, Role: lb.RoleStandalone, Times: lb.Times{CreatedAt: now}}
	} else {
		if current.AgentID != "" && current.AgentID != target.ID {
			if err := n.cache.Withdraw(ctx, tx, current.AgentID, l.ID); err != nil {
				return nil, nil, err
			}
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

// placement reads where l is placed (current, nil if nowhere) and whether
// it stays there (keep, with its agent ag). Without keep, a non-nil ag is
// an agent that is up but no longer fits l, which place withdraws it from.
// It only reads.
func placement(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) (current *lb.Amphora, ag *lb.Agent, keep bool, err error) {
	amps, err := tx.Amphorae().List(ctx, store.Query{Filters: []store.Filter{store.F("loadbalancer_id", l.ID)}})
	if err != nil {
		return nil, nil, false, err
	}
	for _, a := range amps {
		if a.Role == lb.RoleStandalone || current == nil {
			current = a
		}
	}
	// A placement marked PENDING_DELETE is being failed over.
	if current == nil || current.AgentID == "" || current.Status == lb.AmphoraPendingDelete {
		return current, nil, false, nil
	}
	ag, err = tx.Agents().Get(ctx, current.AgentID)
	if errors.Is(err, store.ErrNotFound) {
		return current, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	if ag.Status != lb.AgentUp || ag.Revoked {
		return current, nil, false, nil
	}
	// An agent re-enrolled into another zone or group no longer serves
	// the load balancer, even if none other can.
	zone, group, engine, err := requirements(ctx, tx, l)
	if err != nil {
		return nil, nil, false, err
	}
	keep = (zone == "" || ag.AvailabilityZone == zone) && (group == "" || ag.Group == group) && mayKeep(ag, engine)
	return current, ag, keep, nil
}

// choose picks, among the healthy agents of the load balancer's agent zone
// (its availability zone profile's agent_zone) and agent group (its flavor
// profile's agent_group), the one with the fewest placements (ties by
// name), preferring any agent other than avoid.
func (n *Native) choose(ctx context.Context, tx store.Tx, l *lb.LoadBalancer, avoid string) (*lb.Agent, error) {
	zone, group, engine, err := requirements(ctx, tx, l)
	if err != nil {
		return nil, err
	}
	agents, err := tx.Agents().List(ctx, store.Query{Filters: []store.Filter{store.F("status", lb.AgentUp), store.F("revoked", "false")}})
	if err != nil {
		return nil, err
	}
	var candidates []*lb.Agent
	for _, a := range agents {
		if (zone == "" || a.AvailabilityZone == zone) && (group == "" || a.Group == group) && runs(a, engine) {
			candidates = append(candidates, a)
		}
	}
	if len(candidates) == 0 {
		where := ""
		if engine == dataplane.EngineHAProxy {
			where += " running the haproxy engine (fulcrum agent --engine haproxy)"
		}
		if zone != "" {
			where += " in agent zone " + zone
		}
		if group != "" {
			where += " in agent group " + group
		}
		return nil, &controller.RefusedError{Reason: "no data-plane agent is up" + where}
	}
	if len(candidates) == 1 {
		return candidates[0], nil
	}
	// Counted per agent (an index count), not listed: an agent holds up to
	// tens of thousands of placements and a placement is made per create.
	load := make(map[string]int, len(candidates))
	for _, a := range candidates {
		c, err := tx.Amphorae().Count(ctx, store.F("agent_id", a.ID))
		if err != nil {
			return nil, err
		}
		load[a.ID] = c
	}
	sort.Slice(candidates, func(i, j int) bool {
		ai, aj := candidates[i].ID == avoid, candidates[j].ID == avoid
		if ai != aj {
			return aj
		}
		li, lj := load[candidates[i].ID], load[candidates[j].ID]
		if li != lj {
			return li < lj
		}
		return candidates[i].Name < candidates[j].Name
	})
	return candidates[0], nil
}

// requirements reads the agent zone and agent group a load balancer must
// run in from its availability zone and flavor profiles ("" = any), and the
// engine its agents must run (engineOf). A zone without an agent_zone names
// the agents' zone itself.
func requirements(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) (zone, group, engine string, err error) {
	zone, group, err = zoneAndGroup(ctx, tx, l)
	if err != nil {
		return "", "", "", err
	}
	engine, err = engineOf(ctx, tx, l)
	return zone, group, engine, err
}

// engineOf returns the data-plane engine that runs l: HAProxy for the
// haproxy provider and for a flavor saying engine: haproxy, else native.
func engineOf(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) (string, error) {
	if l.Provider == lb.ProviderHAProxy {
		return dataplane.EngineHAProxy, nil
	}
	if l.FlavorID == "" {
		return dataplane.EngineNative, nil
	}
	f, err := tx.Flavors().Get(ctx, l.FlavorID)
	if errors.Is(err, store.ErrNotFound) {
		return dataplane.EngineNative, nil
	}
	if err != nil {
		return "", err
	}
	p, err := tx.FlavorProfiles().Get(ctx, f.FlavorProfileID)
	if errors.Is(err, store.ErrNotFound) {
		return dataplane.EngineNative, nil
	}
	if err != nil {
		return "", err
	}
	if lb.ParseFlavorMetadata(p.FlavorData).Engine == lb.EngineHAProxy {
		return dataplane.EngineHAProxy, nil
	}
	return dataplane.EngineNative, nil
}

// runs reports whether agent a runs engine, as its record says (the capabilities of its
// last heartbeat, kept in the store: dataplane.EngineCapability). An agent that has not
// reported one counts as native: it runs no HAProxy load balancer until it says it can.
func runs(a *lb.Agent, engine string) bool {
	haproxy := slices.Contains(a.Capabilities, dataplane.CapabilityEngineHAProxy)
	return haproxy == (engine == dataplane.EngineHAProxy)
}

// mayKeep reports whether a load balancer of engine stays on agent a, where it is placed:
// when the agent runs that engine, or has never sent a heartbeat (nothing is known of it
// yet; moving its load balancers would be an outage). What an agent reported survives a
// server restart in its record, so a restarted server needs no grace period.
func mayKeep(a *lb.Agent, engine string) bool {
	if a.LastHeartbeat == nil {
		return true
	}
	return runs(a, engine)
}

// refuseForEngine refuses (before anything is published) a fragment the
// load balancer's engine cannot carry, naming the field and the reason.
func refuseForEngine(frag *dataplane.Config, engine string) error {
	if err := frag.CheckEngine(engine); err != nil {
		return &controller.RefusedError{Reason: "the " + engine + " engine cannot run this load balancer: " + strings.ReplaceAll(err.Error(), "\n", "; ")}
	}
	return nil
}

// zoneAndGroup reads the agent zone and agent group part of requirements.
func zoneAndGroup(ctx context.Context, tx store.Tx, l *lb.LoadBalancer) (zone, group string, err error) {
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

// amphoraReady marks placement id READY inside tx (gone: nothing to do).
func (n *Native) amphoraReady(ctx context.Context, tx store.Tx, id string) error {
	a, err := tx.Amphorae().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && a.Status == lb.AmphoraReady {
		return nil
	}
	if err != nil {
		return err
	}
	a.Status = lb.AmphoraReady
	a.Touch(n.now())
	return tx.Amphorae().Update(ctx, a)
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
