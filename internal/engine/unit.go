package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/balance"
	"github.com/fulcrumlb/fulcrum/internal/engine/healthcheck"
	"github.com/fulcrumlb/fulcrum/internal/engine/proxy"
	"github.com/fulcrumlb/fulcrum/internal/engine/tlsterm"
)

// A unit is one load balancer in force: its fragment of the config and what the engine
// built for it. Apply and Update rebuild only the units whose fragment changed; the
// others keep their frontends, pools, balancing state, health checkers and sockets as
// they are. Listeners of a whole config that carry no load balancer id, and pools no
// listener uses, form the unit "".
type unit struct {
	id        string
	cfg       *dataplane.Config // the fragment: Listeners and Pools
	sum       [32]byte          // SHA-256 of its JSON, to tell a change
	frontends map[sockKey]*proxy.Frontend
	pools     map[string]*balance.Pool
	members   []memberKey
	checks    []checkKey
}

// fragmentIn is a fragment to build, with how its field paths are spelled in errors.
type fragmentIn struct {
	id  string
	cfg *dataplane.Config
	sum [32]byte // SHA-256 of cfg's JSON
	// listener and pool turn an index into the fragment into a field path.
	listener, pool func(i int) string
}

// Apply makes cfg the engine's configuration. See the package documentation for the
// semantics. cfg is copied; the caller may reuse it. The error names the field or socket at
// fault; on error nothing changed. Only the load balancers whose part of cfg changed are
// rebuilt.
func (e *Engine) Apply(ctx context.Context, cfg *dataplane.Config) error {
	if cfg == nil {
		return fmt.Errorf("apply config: %w", &dataplane.FieldError{Path: "config", Msg: "missing"})
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("apply config version %d: %w", cfg.Version, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("apply config version %d: %w", cfg.Version, err)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("apply config version %d: %w", cfg.Version, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return fmt.Errorf("apply config version %d: %w", cfg.Version, ErrClosed)
	}
	if e.applied {
		cur := e.version.Load()
		switch {
		case e.cfgJSON != nil && bytes.Equal(raw, e.cfgJSON):
			return nil
		case cfg.Version < cur:
			return fmt.Errorf("apply config version %d: %w: version %d is in force", cfg.Version, ErrStale, cur)
		case cfg.Version == cur:
			return fmt.Errorf("apply config version %d: %w: version %d is in force with different content", cfg.Version, ErrStale, cur)
		}
	}
	cfg = cfg.Clone()

	// Split by load balancer, keeping each listener's and pool's index in cfg for errors.
	type part struct {
		cfg        *dataplane.Config
		lidx, pidx []int
	}
	parts := map[string]*part{}
	var order []string
	partOf := func(id string) *part {
		p := parts[id]
		if p == nil {
			p = &part{cfg: &dataplane.Config{Listeners: []dataplane.Listener{}, Pools: []dataplane.Pool{}}}
			parts[id] = p
			order = append(order, id)
		}
		return p
	}
	poolIdx := make(map[string]int, len(cfg.Pools))
	for i := range cfg.Pools {
		poolIdx[cfg.Pools[i].ID] = i
	}
	usedBy := map[string]bool{}
	for i := range cfg.Listeners {
		l := &cfg.Listeners[i]
		p := partOf(l.LoadBalancerID)
		p.cfg.Listeners = append(p.cfg.Listeners, *l)
		p.lidx = append(p.lidx, i)
		for _, id := range l.PoolIDs() {
			if j, ok := poolIdx[id]; ok && !containsInt(p.pidx, j) {
				p.cfg.Pools = append(p.cfg.Pools, cfg.Pools[j])
				p.pidx = append(p.pidx, j)
				usedBy[id] = true
			}
		}
	}
	for i := range cfg.Pools {
		if !usedBy[cfg.Pools[i].ID] {
			p := partOf("")
			p.cfg.Pools = append(p.cfg.Pools, cfg.Pools[i])
			p.pidx = append(p.pidx, i)
		}
	}
	var set []fragmentIn
	for _, id := range order {
		p := parts[id]
		fraw, _ := json.Marshal(p.cfg)
		fsum := sha256.Sum256(fraw)
		if u := e.units[id]; u != nil && u.sum == fsum {
			continue
		}
		lidx, pidx := p.lidx, p.pidx
		set = append(set, fragmentIn{id: id, cfg: p.cfg, sum: fsum,
			listener: func(i int) string { return fmt.Sprintf("listeners[%d]", lidx[i]) },
			pool:     func(i int) string { return fmt.Sprintf("pools[%d]", pidx[i]) }})
	}
	var drop []string
	for id := range e.units {
		if _, ok := parts[id]; !ok {
			drop = append(drop, id)
		}
	}
	if err := e.applyUnits(cfg.Version, set, drop, false); err != nil {
		return fmt.Errorf("apply config version %d: %w", cfg.Version, err)
	}
	e.cfgJSON = raw
	return nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Update applies a change of some load balancers under version, which must be newer than
// the one in force: set gives the new fragment of each load balancer it names (its
// listeners, all carrying its id, and the pools they use), drop the load balancers to
// remove. Every other load balancer is left as it runs: its sockets, connections,
// frontends, balancing state and health checkers are not touched, and its fragment is
// not validated again. Fragments are validated on their own and against the others
// (listener and pool ids, sockets). An error is a *dataplane.LoadBalancerError naming
// the load balancer at fault (several are joined); on error nothing changed.
func (e *Engine) Update(ctx context.Context, version uint64, set map[string]*dataplane.Config, drop []string) error {
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var errs []error
	in := make([]fragmentIn, 0, len(ids))
	for _, id := range ids {
		f := set[id]
		if f == nil {
			errs = append(errs, &dataplane.LoadBalancerError{ID: id, Err: &dataplane.FieldError{Path: "config", Msg: "missing"}})
			continue
		}
		f = &dataplane.Config{Contract: f.Contract, Listeners: f.Listeners, Pools: f.Pools}
		if err := f.Validate(); err != nil {
			errs = append(errs, &dataplane.LoadBalancerError{ID: id, Err: err})
			continue
		}
		for i := range f.Listeners {
			if f.Listeners[i].LoadBalancerID != id {
				errs = append(errs, &dataplane.LoadBalancerError{ID: id, Err: &dataplane.FieldError{Path: fmt.Sprintf("listeners[%d].loadbalancer_id", i),
					Msg: fmt.Sprintf("%q in the fragment of load balancer %q", f.Listeners[i].LoadBalancerID, id)}})
			}
		}
		f = f.Clone()
		raw, err := json.Marshal(f)
		if err != nil {
			return err
		}
		in = append(in, fragmentIn{id: id, cfg: f, sum: sha256.Sum256(raw),
			listener: func(i int) string { return fmt.Sprintf("listeners[%d]", i) },
			pool:     func(i int) string { return fmt.Sprintf("pools[%d]", i) }})
	}
	if len(errs) > 0 {
		return fmt.Errorf("update to version %d: %w", version, errors.Join(errs...))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("update to version %d: %w", version, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return fmt.Errorf("update to version %d: %w", version, ErrClosed)
	}
	if cur := e.version.Load(); e.applied && version <= cur {
		return fmt.Errorf("update to version %d: %w: version %d is in force", version, ErrStale, cur)
	}
	// Unchanged fragments need nothing.
	kept := in[:0]
	for _, f := range in {
		if u := e.units[f.id]; u == nil || u.sum != f.sum {
			kept = append(kept, f)
		}
	}
	var gone []string
	for _, id := range drop {
		if _, ok := set[id]; !ok && e.units[id] != nil {
			gone = append(gone, id)
		}
	}
	if err := e.applyUnits(version, kept, gone, true); err != nil {
		return fmt.Errorf("update to version %d: %w", version, err)
	}
	e.cfgJSON = nil
	return nil
}

// lbErr attributes err to load balancer id.
func lbErr(id string, err error) error { return &dataplane.LoadBalancerError{ID: id, Err: err} }

// built is what applyUnits built for one fragment before it commits.
type built struct {
	in         fragmentIn
	frontends  map[sockKey]*proxy.Frontend
	pools      map[string]*balance.Pool
	members    map[memberKey]*balance.MemberState
	sessions   map[string]*poolSessions
	checks     map[checkKey]wantCheck
	counters   map[string]*proxy.Counters
	tlsServers map[string]tlsEntry[tlsterm.Server]
	tlsClients map[string]tlsEntry[tlsterm.Client]
}

type wantCheck struct {
	spec   healthcheck.Spec
	target healthcheck.Target
	state  *balance.MemberState
}

// applyUnits rebuilds the units of set and removes those of drop, leaving every other
// unit alone. checkOwners checks listener and pool ids and sockets against the units
// kept (Apply's whole-config validation did). Callers hold e.mu. On error nothing
// changed.
func (e *Engine) applyUnits(version uint64, set []fragmentIn, drop []string, checkOwners bool) error {
	now := e.clk.Now()
	replaced := map[string]bool{}
	for _, f := range set {
		replaced[f.id] = true
	}
	for _, id := range drop {
		replaced[id] = true
	}
	// kept reports whether owner is a unit that stays as it is.
	kept := func(owner string, ok bool) bool { return ok && !replaced[owner] }

	var fresh []*socket
	undo := func() {
		for _, s := range fresh {
			s.closeListener()
		}
	}
	claimedL, claimedP, claimedS := map[string]string{}, map[string]string{}, map[sockKey]string{}
	out := make([]*built, 0, len(set))
	for _, f := range set {
		b, err := e.build(f, now)
		if err != nil {
			undo()
			return lbErr(f.id, err)
		}
		for i := range f.cfg.Listeners {
			lc := &f.cfg.Listeners[i]
			if checkOwners {
				if o, ok := e.listenerOwner[lc.ID]; kept(o, ok) {
					undo()
					return lbErr(f.id, &dataplane.FieldError{Path: f.listener(i) + ".id", Msg: fmt.Sprintf("duplicate id %q (a listener of load balancer %s)", lc.ID, o)})
				}
				if o, ok := claimedL[lc.ID]; ok {
					undo()
					return lbErr(f.id, &dataplane.FieldError{Path: f.listener(i) + ".id", Msg: fmt.Sprintf("duplicate id %q (a listener of load balancer %s)", lc.ID, o)})
				}
				claimedL[lc.ID] = f.id
			}
			for j, a := range lc.Addresses {
				ip, _ := netip.ParseAddr(a)
				k := sockKey{lc.Protocol.Transport(), netip.AddrPortFrom(ip.Unmap(), uint16(lc.ProtocolPort))}
				if o, ok := e.sockOwner[k]; checkOwners && kept(o, ok) {
					undo()
					return lbErr(f.id, &dataplane.FieldError{Path: fmt.Sprintf("%s.addresses[%d]", f.listener(i), j),
						Msg: fmt.Sprintf("%s/%s is held by load balancer %s", k.transport, k.addr, o)})
				}
				if o, ok := claimedS[k]; ok && checkOwners {
					undo()
					return lbErr(f.id, &dataplane.FieldError{Path: fmt.Sprintf("%s.addresses[%d]", f.listener(i), j),
						Msg: fmt.Sprintf("%s/%s is also wanted by load balancer %s", k.transport, k.addr, o)})
				}
				claimedS[k] = f.id
				if e.sockets[k] != nil {
					continue
				}
				s, err := e.listen(k)
				if err != nil {
					undo()
					// A FieldError, so that an agent can tell which listener (and so which
					// load balancer) is at fault.
					return lbErr(f.id, &dataplane.FieldError{Path: fmt.Sprintf("%s.addresses[%d]", f.listener(i), j), Msg: err.Error()})
				}
				fresh = append(fresh, s)
			}
		}
		if checkOwners {
			for i := range f.cfg.Pools {
				id := f.cfg.Pools[i].ID
				o, ok := e.poolOwner[id]
				if !kept(o, ok) {
					o, ok = claimedP[id]
				}
				if ok {
					undo()
					return lbErr(f.id, &dataplane.FieldError{Path: f.pool(i) + ".id", Msg: fmt.Sprintf("duplicate id %q (a pool of load balancer %s)", id, o)})
				}
				claimedP[id] = f.id
			}
		}
		out = append(out, b)
	}

	// Commit: from here nothing fails.
	pools := make(map[string]*balance.Pool, len(*e.pools.Load()))
	for id, p := range *e.pools.Load() {
		pools[id] = p
	}
	wanted := map[sockKey]*proxy.Frontend{}
	newMembers := map[memberKey]bool{}
	newChecks := map[checkKey]bool{}
	for _, b := range out {
		for k, fe := range b.frontends {
			wanted[k] = fe
		}
		for k := range b.members {
			newMembers[k] = true
		}
		for k := range b.checks {
			newChecks[k] = true
		}
	}
	// Take down what the replaced and dropped units had and nobody keeps.
	live := e.stopped[:0]
	for _, c := range e.stopped {
		if !c.Done() {
			live = append(live, c)
		}
	}
	e.stopped = live
	for id := range replaced {
		u := e.units[id]
		if u == nil {
			continue
		}
		for i := range u.cfg.Listeners {
			lid := u.cfg.Listeners[i].ID
			delete(e.counters, lid)
			delete(e.tlsServers, lid)
			delete(e.listenerOwner, lid)
		}
		for pid := range u.pools {
			delete(pools, pid)
			delete(e.sessions, pid)
			delete(e.tlsClients, pid)
			delete(e.poolOwner, pid)
		}
		for _, k := range u.checks {
			if c := e.checkers[k]; c != nil && !newChecks[k] {
				c.Stop()
				e.stopped = append(e.stopped, c)
				delete(e.checkers, k)
			}
		}
		for _, k := range u.members {
			if st := e.members[k]; st != nil && !newMembers[k] {
				st.Retire()
				delete(e.members, k)
			}
		}
		for k, fe := range u.frontends {
			fe.RetireMembers()
			delete(e.sockOwner, k)
			s := e.sockets[k]
			if _, keep := wanted[k]; keep || s == nil {
				continue
			}
			e.log.Info("listener removed, draining", "transport", k.transport, "addr", k.addr.String())
			s.fe.Store(nil)
			s.closeListener()
			s.drainConns()
			delete(e.sockets, k)
			e.draining[s] = struct{}{}
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				s.wait()
				e.mu.Lock()
				delete(e.draining, s)
				e.mu.Unlock()
			}()
		}
		delete(e.units, id)
	}
	for _, b := range out {
		for id, p := range b.pools {
			pools[id] = p
			e.poolOwner[id] = b.in.id
		}
		for id, ps := range b.sessions {
			e.sessions[id] = ps
		}
		for id, c := range b.counters {
			e.counters[id] = c
			e.listenerOwner[id] = b.in.id
		}
		for id, t := range b.tlsServers {
			e.tlsServers[id] = t
		}
		for id, t := range b.tlsClients {
			e.tlsClients[id] = t
		}
		u := &unit{id: b.in.id, cfg: b.in.cfg, sum: b.in.sum, frontends: b.frontends, pools: b.pools}
		for k, st := range b.members {
			e.members[k] = st
			u.members = append(u.members, k)
		}
		monitored := map[[2]string]bool{}
		for k, w := range b.checks {
			u.checks = append(u.checks, k)
			monitored[[2]string{k.pool, k.member}] = true
			if e.checkers[k] != nil {
				continue
			}
			c := healthcheck.New(w.spec, w.target, w.state, healthcheck.Options{Clock: e.clk, Logger: e.log, OnTransition: e.transition})
			e.checkers[k] = c
			w.state.SetMonitored(true, now)
			c.Start()
		}
		for k, st := range b.members {
			if !monitored[[2]string{k.pool, k.member}] {
				st.SetMonitored(false, now)
			}
		}
		for k := range b.frontends {
			e.sockOwner[k] = b.in.id
		}
		e.units[b.in.id] = u
	}
	e.pools.Store(&pools)
	for _, s := range fresh {
		e.sockets[s.key] = s
	}
	for k, fe := range wanted {
		s := e.sockets[k]
		if old := s.fe.Swap(fe); old != nil && fe.Ingress != nil {
			s.cutRefused(fe)
		}
	}
	for _, s := range fresh {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			s.serve()
		}()
		fe := wanted[s.key]
		e.log.Info("listening", "transport", s.key.transport, "addr", s.key.addr.String(), "listener", fe.ListenerID, "protocol", string(fe.Protocol))
	}
	// Health may have moved while we built: settle the new pools on the current health.
	for _, b := range out {
		for _, p := range b.pools {
			p.Refresh()
		}
	}
	e.applied = true
	e.version.Store(version)
	return nil
}

// build makes the TLS sides, pools, members, health checks and frontends of one fragment,
// reusing the engine's state of members, persistence tables and TLS sides that did not
// change. It binds nothing and changes nothing. Callers hold e.mu.
func (e *Engine) build(f fragmentIn, now time.Time) (*built, error) {
	cfg := f.cfg
	b := &built{in: f, frontends: map[sockKey]*proxy.Frontend{}, pools: map[string]*balance.Pool{},
		members: map[memberKey]*balance.MemberState{}, sessions: map[string]*poolSessions{}, checks: map[checkKey]wantCheck{},
		counters: map[string]*proxy.Counters{}, tlsServers: map[string]tlsEntry[tlsterm.Server]{}, tlsClients: map[string]tlsEntry[tlsterm.Client]{}}
	poolTLS := map[string]*tlsterm.Client{}
	for i := range cfg.Pools {
		pc := &cfg.Pools[i]
		if pc.TLS == nil {
			continue
		}
		key := digest(pc.TLS)
		ent := e.tlsClients[pc.ID]
		if ent.key != key {
			c, err := tlsterm.NewClient(pc.TLS)
			if err != nil {
				return nil, &dataplane.FieldError{Path: f.pool(i) + ".tls", Msg: err.Error()}
			}
			ent = tlsEntry[tlsterm.Client]{key, c}
		}
		b.tlsClients[pc.ID] = ent
		poolTLS[pc.ID] = ent.v
	}
	for i := range cfg.Listeners {
		lc := &cfg.Listeners[i]
		if lc.Protocol != dataplane.ProtocolTerminatedHTTPS {
			continue
		}
		key := digest(lc.TLS)
		ent := e.tlsServers[lc.ID]
		if ent.key != key {
			srv, err := tlsterm.NewServer(lc.TLS, tlsterm.ServerOptions{TicketKeys: e.ticketKeys})
			if err != nil {
				return nil, &dataplane.FieldError{Path: f.listener(i) + ".tls", Msg: err.Error()}
			}
			ent = tlsEntry[tlsterm.Server]{key, srv}
		}
		b.tlsServers[lc.ID] = ent
	}
	// Members and pools, reusing the state of members that did not change identity.
	for i := range cfg.Pools {
		pc := &cfg.Pools[i]
		rt := make([]*balance.Member, 0, len(pc.Members))
		hm := pc.HealthMonitor
		monitored := hm != nil && hm.AdminStateUp
		var spec healthcheck.Spec
		if monitored {
			spec = healthcheck.SpecFrom(hm)
			if ent, ok := b.tlsClients[pc.ID]; ok {
				spec = spec.OverTLS(ent.v.Certificates(), ent.key)
			}
		}
		for j := range pc.Members {
			mc := &pc.Members[j]
			ip, _ := netip.ParseAddr(mc.Address)
			ap := netip.AddrPortFrom(ip.Unmap(), uint16(mc.ProtocolPort))
			k := memberKey{pc.ID, mc.ID, ap}
			st := e.members[k]
			if st == nil {
				st = balance.NewMemberState(now)
			}
			b.members[k] = st
			rt = append(rt, balance.NewMember(pc.ID, mc, st))
			if monitored && mc.AdminStateUp {
				target := ap
				if mc.MonitorAddress != "" {
					mip, _ := netip.ParseAddr(mc.MonitorAddress)
					target = netip.AddrPortFrom(mip.Unmap(), target.Port())
				}
				if mc.MonitorPort != 0 {
					target = netip.AddrPortFrom(target.Addr(), uint16(mc.MonitorPort))
				}
				b.checks[checkKey{pc.ID, mc.ID, spec.Key(), target}] = wantCheck{spec, healthcheck.Target{PoolID: pc.ID, MemberID: mc.ID, Addr: target}, st}
			}
		}
		ps := e.poolSessions(pc)
		if ps != nil {
			b.sessions[pc.ID] = ps
		}
		var src *balance.Sessions[netip.Addr]
		var cookie *balance.Sessions[string]
		if ps != nil {
			src, cookie = ps.src, ps.cookie
		}
		b.pools[pc.ID] = balance.NewPool(pc, rt, src, cookie)
	}
	for i := range cfg.Listeners {
		lc := &cfg.Listeners[i]
		ctr := e.counters[lc.ID]
		if ctr == nil {
			ctr = &proxy.Counters{}
		}
		b.counters[lc.ID] = ctr
		fe, err := proxy.NewFrontend(lc, b.pools, ctr, e.popts)
		if err != nil {
			return nil, &dataplane.FieldError{Path: f.listener(i) + ".l7policies", Msg: err.Error()}
		}
		fe.SetTLS(b.tlsServers[lc.ID].v, poolTLS)
		for _, a := range lc.Addresses {
			ip, _ := netip.ParseAddr(a)
			b.frontends[sockKey{lc.Protocol.Transport(), netip.AddrPortFrom(ip.Unmap(), uint16(lc.ProtocolPort))}] = fe
		}
	}
	return b, nil
}

// listenersLocked lists the listeners in force, by load balancer id, each load
// balancer's in its fragment's order. Callers hold e.mu.
func (e *Engine) listenersLocked() []*dataplane.Listener {
	ids := make([]string, 0, len(e.units))
	for id := range e.units {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []*dataplane.Listener
	for _, id := range ids {
		u := e.units[id]
		for i := range u.cfg.Listeners {
			out = append(out, &u.cfg.Listeners[i])
		}
	}
	return out
}
