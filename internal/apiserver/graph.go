package apiserver

import (
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// Fully populated ("single-call") load balancer create: the POST body may
// embed listeners, pools, their members and health monitors, and the
// listeners' L7 policies and rules. Pools are defined in the top-level list
// or inline under default_pool / redirect_pool and referred to by name;
// everything is validated as for standalone creates, and the write path
// stores it in one transaction.

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
// create body, with ids, linked to each other and to parent (the new load
// balancer). The write path gives them their statuses and times.
func (s *Server) buildGraph(parent *lb.LoadBalancer, o *object) (*lb.Graph, error) {
	g := &lb.Graph{LoadBalancer: parent}
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

	poolByName := map[string]*lb.Pool{}
	for _, d := range defs {
		for _, attr := range []string{"protocol", "lb_algorithm"} {
			if _, ok := d.o.str(attr); !ok {
				return nil, lb.Invalid("Pool definition for '%s' missing required attribute: %s", d.name, attr)
			}
		}
		p := poolFromBody(d.o)
		p.ID, p.LoadBalancerID, p.ProjectID = s.newID(), parent.ID, parent.ProjectID
		if err := lb.CheckSessionPersistence(p.Protocol, p.SessionPersistence, false); err != nil {
			return nil, err
		}
		p.ApplyTLSDefaults()
		if err := p.Validate(s.settings, false); err != nil {
			return nil, err
		}
		if err := lb.CheckProviderProtocol(parent.Provider, p.Protocol); err != nil {
			return nil, err
		}
		g.Pools = append(g.Pools, p)
		poolByName[d.name] = p
		if ho, ok := d.o.obj("healthmonitor"); ok {
			h := healthMonitorFromBody(ho)
			if err := h.CheckTypeFields(); err != nil {
				return nil, err
			}
			h.ApplyTypeDefaults()
			if err := h.Validate(s.settings, p.Protocol); err != nil {
				return nil, err
			}
			if err := lb.CheckProviderMonitor(parent.Provider, h.Type); err != nil {
				return nil, err
			}
			h.ID, h.PoolID, h.LoadBalancerID, h.ProjectID = s.newID(), p.ID, parent.ID, parent.ProjectID
			g.HealthMonitors = append(g.HealthMonitors, h)
		}
		mos, _ := d.o.objs("members")
		type key struct {
			addr string
			port int
		}
		seen := map[key]bool{}
		for _, mo := range mos {
			m := memberFromBody(mo)
			if err := m.ValidateNew(s.settings); err != nil {
				return nil, err
			}
			if seen[key{m.Address, m.ProtocolPort}] {
				return nil, conflict("Another member on this pool is already using ip %s on protocol_port %d", m.Address, m.ProtocolPort)
			}
			seen[key{m.Address, m.ProtocolPort}] = true
			m.ID, m.PoolID, m.LoadBalancerID, m.ProjectID = s.newID(), p.ID, parent.ID, parent.ProjectID
			g.Members = append(g.Members, m)
		}
	}

	for i, lo := range listeners {
		l := listenerFromBody(lo)
		l.ID, l.LoadBalancerID, l.ProjectID = s.newID(), parent.ID, parent.ProjectID
		if id := l.DefaultPoolID; id != "" {
			// A default_pool_id in a graph can only name a pool of the graph.
			if !slices.ContainsFunc(g.Pools, func(p *lb.Pool) bool { return p.ID == id }) {
				return nil, notFound(lb.NamePool, id)
			}
		}
		if name := defaultPool[i]; name != "" {
			l.DefaultPoolID = poolByName[name].ID
		}
		if l.DefaultPoolID != "" {
			if l.Protocol == lb.ProtocolPrometheus {
				return nil, lb.ErrPrometheusChildren
			}
			p := g.Pools[slices.IndexFunc(g.Pools, func(p *lb.Pool) bool { return p.ID == l.DefaultPoolID })]
			if err := lb.CheckListenerPool(l.Protocol, p.Protocol); err != nil {
				return nil, err
			}
		}
		l.ApplyTLSDefaults()
		if err := l.ValidateFor(parent, s.settings, false); err != nil {
			return nil, err
		}
		for _, other := range g.Listeners {
			if other.ProtocolPort == l.ProtocolPort && lb.PortGroup(other.Protocol) == lb.PortGroup(l.Protocol) {
				return nil, conflict("Another Listener on this Load Balancer is already using protocol %s and protocol_port %d", other.Protocol, l.ProtocolPort)
			}
		}
		g.Listeners = append(g.Listeners, l)
		pols, _ := lo.objs("l7policies")
		if len(pols) > 0 && l.Protocol == lb.ProtocolPrometheus {
			return nil, lb.ErrPrometheusChildren
		}
		var created []*lb.L7Policy
		for j, po := range pols {
			p, err := s.graphPolicy(po, l, parent, poolByName[redirectPool[i][j]])
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
				if err := r.Validate(); err != nil {
					return nil, err
				}
				g.L7Rules = append(g.L7Rules, r)
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
		g.L7Policies = append(g.L7Policies, created...)
	}
	return g, nil
}

// graphPolicy converts an embedded L7 policy of listener l; redirect is the
// pool its redirect_pool names (nil when none).
func (s *Server) graphPolicy(o *object, l *lb.Listener, parent *lb.LoadBalancer, redirect *lb.Pool) (*lb.L7Policy, error) {
	p := &lb.L7Policy{ID: s.newID(), ProjectID: parent.ProjectID, ListenerID: l.ID, LoadBalancerID: parent.ID,
		AdminStateUp: true, Position: lb.MaxPosition}
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

// graphWire renders a new graph's listeners and pools as the full objects
// of a fully populated create response.
func graphWire(g *lb.Graph) (listeners, pools []any) {
	listeners, pools = []any{}, []any{}
	rulesOf := map[string][]any{}
	for _, r := range g.L7Rules {
		rulesOf[r.L7PolicyID] = append(rulesOf[r.L7PolicyID], toL7RuleWire(r))
	}
	policiesOf := map[string][]any{}
	for _, p := range g.L7Policies {
		policiesOf[p.ListenerID] = append(policiesOf[p.ListenerID], toL7PolicyWire(p, nonNil(rulesOf[p.ID])))
	}
	listenersOf := map[string][]string{}
	for _, l := range g.Listeners {
		w := toListenerWire(l, nil)
		w.LoadBalancers = nil
		w.L7Policies = nonNil(policiesOf[l.ID])
		listeners = append(listeners, w)
		if l.DefaultPoolID != "" {
			listenersOf[l.DefaultPoolID] = append(listenersOf[l.DefaultPoolID], l.ID)
		}
	}
	for _, p := range g.L7Policies {
		if p.RedirectPoolID != "" && p.AdminStateUp && len(rulesOf[p.ID]) > 0 && !slices.Contains(listenersOf[p.RedirectPoolID], p.ListenerID) {
			listenersOf[p.RedirectPoolID] = append(listenersOf[p.RedirectPoolID], p.ListenerID)
		}
	}
	membersOf := map[string][]any{}
	for _, m := range g.Members {
		membersOf[m.PoolID] = append(membersOf[m.PoolID], toMemberWire(m))
	}
	monitorOf := map[string]*healthMonitorWire{}
	for _, h := range g.HealthMonitors {
		w := toHealthMonitorWire(h)
		w.Pools = nil
		monitorOf[h.PoolID] = w
	}
	for _, p := range g.Pools {
		w := toPoolWire(p, poolRefs{listeners: listenersOf[p.ID]})
		w.LoadBalancers = nil
		w.Members = nonNil(membersOf[p.ID])
		pools = append(pools, poolFullWire{poolWire: w, HealthMonitor: monitorOf[p.ID]})
	}
	return listeners, pools
}
