package apiserver

import (
	"fmt"
	"slices"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Fully populated ("single-call") load balancer create (Octavia §5.1.1): the
// POST body may embed listeners, pools, their members and health monitors,
// and the listeners' L7 policies and rules. Pools are defined in the
// top-level list or inline under default_pool / redirect_pool and referred
// to by name; everything is validated as for standalone creates and stored
// in one transaction.

// graph is the objects of a fully populated create, ready to store.
type graph struct {
	pools     []*lb.Pool
	monitors  []*lb.HealthMonitor
	members   []*lb.Member
	listeners []*lb.Listener
	policies  []*lb.L7Policy
	rules     []*lb.L7Rule
}

// graphPool is a pool definition with its source object.
type graphPool struct {
	name string
	o    *object
}

// isPoolReference reports whether an inline pool only names a pool defined
// elsewhere: Octavia treats a pool object carrying nothing but name and the
// two defaulted keys (admin_state_up, tls_enabled) as a reference.
func isPoolReference(o *object) bool {
	for i, a := range o.s.attrs {
		if o.vals[i].set && a.name != "name" && a.name != "admin_state_up" && a.name != "tls_enabled" {
			return false
		}
	}
	return true
}

const msgPoolsNamed = "Pools must be named when creating a fully populated loadbalancer."

// buildGraph converts and validates the embedded objects of a load balancer
// create body. parent is the (not yet stored) load balancer.
func (s *Server) buildGraph(parent *lb.LoadBalancer, o *object, now time.Time) (*graph, error) {
	listeners, _ := o.objs("listeners")
	topPools, _ := o.objs("pools")
	var defs []graphPool
	for _, p := range topPools {
		name, _ := p.str("name")
		defs = append(defs, graphPool{name, p})
	}
	var required []string
	// inline hoists full inline pool definitions and records references.
	inline := func(p *object) (string, error) {
		name, _ := p.str("name")
		if name == "" {
			return "", lb.Invalid(msgPoolsNamed)
		}
		if isPoolReference(p) {
			required = append(required, name)
		} else {
			defs = append(defs, graphPool{name, p})
		}
		return name, nil
	}
	defaultPool := make([]string, len(listeners))
	redirectPool := make([][]string, len(listeners))
	for i, lo := range listeners {
		if p, ok := lo.obj("default_pool"); ok {
			name, err := inline(p)
			if err != nil {
				return nil, err
			}
			defaultPool[i] = name
		}
		pols, _ := lo.objs("l7policies")
		redirectPool[i] = make([]string, len(pols))
		for j, po := range pols {
			if p, ok := po.obj("redirect_pool"); ok {
				name, err := inline(p)
				if err != nil {
					return nil, err
				}
				redirectPool[i][j] = name
			}
		}
	}
	names := map[string]bool{}
	for _, d := range defs {
		if names[d.name] {
			return nil, lb.Invalid("Pool names must be unique when creating a fully populated loadbalancer.")
		}
		names[d.name] = true
	}
	for _, r := range required {
		if !names[r] {
			return nil, lb.Invalid("Pool '%s' was referenced but no full definition was found.", r)
		}
	}

	g := &graph{}
	status := func() lb.Status {
		return lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline, Gen: parent.Generation}
	}
	poolByName := map[string]*lb.Pool{}
	for _, d := range defs {
		for _, attr := range []string{"protocol", "lb_algorithm"} {
			if _, ok := d.o.str(attr); !ok {
				return nil, lb.Invalid("Pool definition for '%s' missing required attribute: %s", d.name, attr)
			}
		}
		p := poolFromBody(d.o)
		p.ID, p.LoadBalancerID, p.ProjectID = s.newID(), parent.ID, parent.ProjectID
		p.Status, p.CreatedAt = status(), now
		if err := lb.CheckSessionPersistence(p.Protocol, p.SessionPersistence, false); err != nil {
			return nil, err
		}
		p.ApplyTLSDefaults()
		if err := p.Validate(s.settings, false); err != nil {
			return nil, err
		}
		if err := checkProtocol(parent.Provider, p.Protocol); err != nil {
			return nil, err
		}
		g.pools = append(g.pools, p)
		poolByName[d.name] = p
		monitored := false
		if ho, ok := d.o.obj("healthmonitor"); ok {
			h := healthMonitorFromBody(ho)
			if !lb.IsHTTPMonitor(h.Type) {
				for _, f := range httpOnlyFields() {
					if v, ok := ho.str(f); ok && v != "" {
						return nil, lb.InvalidOption(f, "health monitors of type "+h.Type)
					}
				}
			}
			h.ApplyTypeDefaults()
			if err := s.checkMonitor(h, p.Protocol); err != nil {
				return nil, err
			}
			h.ID, h.PoolID, h.LoadBalancerID, h.ProjectID = s.newID(), p.ID, parent.ID, parent.ProjectID
			h.Status, h.CreatedAt = status(), now
			g.monitors = append(g.monitors, h)
			monitored = true
		}
		mos, _ := d.o.objs("members")
		type key struct {
			addr string
			port int
		}
		seen := map[key]bool{}
		for _, mo := range mos {
			m := memberFromBody(mo)
			if err := s.checkNewMember(m, mo); err != nil {
				return nil, err
			}
			if seen[key{m.Address, m.ProtocolPort}] {
				return nil, duplicateMember(m)
			}
			seen[key{m.Address, m.ProtocolPort}] = true
			m.ID, m.PoolID, m.LoadBalancerID, m.ProjectID = s.newID(), p.ID, parent.ID, parent.ProjectID
			m.Status, m.CreatedAt = status(), now
			if !monitored {
				m.Status.Operating = lb.NoMonitor
			}
			g.members = append(g.members, m)
		}
	}

	for i, lo := range listeners {
		l := listenerFromBody(lo)
		l.ID, l.LoadBalancerID, l.ProjectID = s.newID(), parent.ID, parent.ProjectID
		l.Status, l.CreatedAt = status(), now
		if id := l.DefaultPoolID; id != "" {
			// A default_pool_id in a graph can only name a pool of the graph.
			if !slices.ContainsFunc(g.pools, func(p *lb.Pool) bool { return p.ID == id }) {
				return nil, notFound(namePool, id)
			}
		}
		if name := defaultPool[i]; name != "" {
			l.DefaultPoolID = poolByName[name].ID
		}
		if l.DefaultPoolID != "" {
			if l.Protocol == lb.ProtocolPrometheus {
				return nil, lb.ErrPrometheusChildren
			}
			p := g.pools[slices.IndexFunc(g.pools, func(p *lb.Pool) bool { return p.ID == l.DefaultPoolID })]
			if err := lb.CheckListenerPool(l.Protocol, p.Protocol); err != nil {
				return nil, err
			}
		}
		l.ApplyTLSDefaults()
		if err := s.checkListener(l, parent, false); err != nil {
			return nil, err
		}
		for _, other := range g.listeners {
			if other.ProtocolPort == l.ProtocolPort && lb.PortGroup(other.Protocol) == lb.PortGroup(l.Protocol) {
				return nil, conflict("Another Listener on this Load Balancer is already using protocol %s and protocol_port %d", other.Protocol, l.ProtocolPort)
			}
		}
		g.listeners = append(g.listeners, l)
		pols, _ := lo.objs("l7policies")
		if len(pols) > 0 && l.Protocol == lb.ProtocolPrometheus {
			return nil, lb.ErrPrometheusChildren
		}
		var created []*lb.L7Policy
		for j, po := range pols {
			p, err := s.graphPolicy(po, l, parent, poolByName[redirectPool[i][j]], now)
			if err != nil {
				return nil, err
			}
			created = append(created, p)
			ros, _ := po.objs("rules")
			if len(ros) > lb.MaxRulesPerPolicy {
				return nil, conflict("Too many rules on L7 policy %s", p.ID)
			}
			for _, ro := range ros {
				r := newRule(ro)
				r.ID, r.ProjectID, r.L7PolicyID, r.LoadBalancerID = s.newID(), parent.ProjectID, p.ID, parent.ID
				r.Status, r.CreatedAt = status(), now
				if err := r.Validate(); err != nil {
					return nil, err
				}
				g.rules = append(g.rules, r)
			}
		}
		// Each policy is inserted at its requested position in turn, as
		// Octavia's repository does, and positions end up dense from 1.
		var order []*lb.L7Policy
		for _, p := range created {
			want := p.Position
			p.Position = 0
			lb.MovePolicy(order, p, want)
			order = slices.Insert(order, p.Position-1, p)
		}
		created = order
		g.policies = append(g.policies, created...)
	}
	return g, nil
}

// graphPolicy converts an embedded L7 policy of listener l; redirect is the
// pool its redirect_pool names (nil when none).
func (s *Server) graphPolicy(o *object, l *lb.Listener, parent *lb.LoadBalancer, redirect *lb.Pool, now time.Time) (*lb.L7Policy, error) {
	p := &lb.L7Policy{ID: s.newID(), ProjectID: parent.ProjectID, ListenerID: l.ID, LoadBalancerID: parent.ID,
		AdminStateUp: true, Position: lb.MaxPosition,
		Status: lb.Status{Provisioning: lb.PendingCreate, Operating: lb.Offline, Gen: parent.Generation},
		Times:  lb.Times{CreatedAt: now}}
	p.Name, _ = o.str("name")
	p.Description, _ = o.str("description")
	if v, set := o.flag("admin_state_up"); set {
		p.AdminStateUp = v
	}
	if n, ok := o.integer("position"); ok {
		p.Position = n
	}
	p.Tags, _ = o.strings("tags")
	args := policyArgs(o)
	args.RedirectPool = o.has("redirect_pool") && !o.isNull("redirect_pool")
	if err := args.Sanitize(true); err != nil {
		return nil, err
	}
	args.ApplyCreate(p)
	if args.RedirectPool && redirect != nil {
		p.RedirectPoolID = redirect.ID
		if err := lb.CheckListenerPool(l.Protocol, redirect.Protocol); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// store writes the graph in dependency order.
func (g *graph) store(c *change) error {
	tx, ctx := c.tx, c.ctx
	for _, p := range g.pools {
		if err := tx.Pools().Create(ctx, p); err != nil {
			return fmt.Errorf("create pool %s: %w", p.ID, err)
		}
	}
	for _, h := range g.monitors {
		if err := tx.HealthMonitors().Create(ctx, h); err != nil {
			return fmt.Errorf("create health monitor %s: %w", h.ID, err)
		}
	}
	for _, m := range g.members {
		if err := tx.Members().Create(ctx, m); err != nil {
			return fmt.Errorf("create member %s: %w", m.ID, err)
		}
	}
	for _, l := range g.listeners {
		if err := tx.Listeners().Create(ctx, l); err != nil {
			return fmt.Errorf("create listener %s: %w", l.ID, err)
		}
	}
	for _, p := range g.policies {
		if err := tx.L7Policies().Create(ctx, p); err != nil {
			return fmt.Errorf("create l7 policy %s: %w", p.ID, err)
		}
	}
	for _, r := range g.rules {
		if err := tx.L7Rules().Create(ctx, r); err != nil {
			return fmt.Errorf("create l7 rule %s: %w", r.ID, err)
		}
	}
	return nil
}

// wire renders the graph's listeners and pools as the full objects of a
// fully populated create response.
func (g *graph) wire() (listeners, pools []any) {
	listeners, pools = []any{}, []any{}
	if g == nil {
		return listeners, pools
	}
	rulesOf := map[string][]any{}
	for _, r := range g.rules {
		rulesOf[r.L7PolicyID] = append(rulesOf[r.L7PolicyID], toL7RuleWire(r))
	}
	policiesOf := map[string][]any{}
	for _, p := range g.policies {
		policiesOf[p.ListenerID] = append(policiesOf[p.ListenerID], toL7PolicyWire(p, nonNil(rulesOf[p.ID])))
	}
	listenersOf := map[string][]string{}
	for _, l := range g.listeners {
		w := toListenerWire(l, nil)
		w.LoadBalancers = nil
		w.L7Policies = nonNil(policiesOf[l.ID])
		listeners = append(listeners, w)
		if l.DefaultPoolID != "" {
			listenersOf[l.DefaultPoolID] = append(listenersOf[l.DefaultPoolID], l.ID)
		}
	}
	for _, p := range g.policies {
		if p.RedirectPoolID != "" && p.AdminStateUp && len(rulesOf[p.ID]) > 0 && !slices.Contains(listenersOf[p.RedirectPoolID], p.ListenerID) {
			listenersOf[p.RedirectPoolID] = append(listenersOf[p.RedirectPoolID], p.ListenerID)
		}
	}
	membersOf := map[string][]any{}
	for _, m := range g.members {
		membersOf[m.PoolID] = append(membersOf[m.PoolID], toMemberWire(m))
	}
	monitorOf := map[string]*healthMonitorWire{}
	for _, h := range g.monitors {
		w := toHealthMonitorWire(h)
		w.Pools = nil
		monitorOf[h.PoolID] = w
	}
	for _, p := range g.pools {
		w := toPoolWire(p, poolRefs{listeners: listenersOf[p.ID]})
		w.LoadBalancers = nil
		w.Members = nonNil(membersOf[p.ID])
		pools = append(pools, poolFullWire{poolWire: w, HealthMonitor: monitorOf[p.ID]})
	}
	return listeners, pools
}

// storeLoadBalancer creates the load balancer and its graph in one
// transaction.
func storeLoadBalancer(q *request, tx store.Tx, l *lb.LoadBalancer, g *graph) error {
	if err := recheckCatalog(q, tx, l); err != nil {
		return err
	}
	want := map[lb.QuotaResource]int{lb.QuotaLoadBalancer: 1}
	if g != nil {
		want[lb.QuotaListener] = len(g.listeners)
		want[lb.QuotaPool] = len(g.pools)
		want[lb.QuotaHealthMonitor] = len(g.monitors)
		want[lb.QuotaMember] = len(g.members)
		want[lb.QuotaL7Policy] = len(g.policies)
		want[lb.QuotaL7Rule] = len(g.rules)
	}
	if err := q.reserve(tx, l.ProjectID, want); err != nil {
		return err
	}
	if g != nil {
		for _, m := range g.members {
			if err := q.s.checkMemberInTx(q, tx, m); err != nil {
				return err
			}
		}
	}
	if err := tx.LoadBalancers().Create(q.ctx, l); err != nil {
		return err
	}
	if g == nil {
		return nil
	}
	for _, li := range g.listeners {
		li.ProjectID = l.ProjectID
		if err := q.s.checkListenerRefs(q, tx, li); err != nil {
			return err
		}
	}
	for _, p := range g.pools {
		if err := q.s.checkPoolRefs(q, tx, p); err != nil {
			return err
		}
	}
	return g.store(&change{ctx: q.ctx, tx: tx, lb: l, gen: l.Generation})
}
