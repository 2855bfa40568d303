// Package compile turns one load balancer's stored graph into its part of a
// data-plane node configuration. It is a pure function: the same graph gives
// the same fragment, which is what lets an unchanged load balancer be a
// no-op all the way down to the engine.
//
// It imports only the domain and the data-plane contract.
package compile

import (
	"sort"
	"strconv"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// Options carry what the graph does not hold.
type Options struct {
	// ExtraAddresses are served in addition to the VIPs, e.g. floating IPs
	// associated with the VIP port.
	ExtraAddresses []string
	// TLS holds the certificates, CA bundles and CRLs the graph references
	// (see TLSRefs). A TERMINATED_HTTPS listener or tls_enabled pool whose
	// material is missing makes the whole load balancer *Unsupported.
	TLS TLSMaterial
	// VRRP, when set, makes the fragment carry this node's VRRP group for the load
	// balancer (ACTIVE_STANDBY); a disabled load balancer gets none.
	VRRP *VRRP
	// Ingress is the VIP port's security-group filter; nil is none.
	Ingress *Ingress
}

// Unsupported is returned for a graph that uses something the data plane
// cannot carry yet; the controller reports it as the load balancer's error.
type Unsupported struct {
	Object string // e.g. "listener 5d1a…"
	What   string
}

func (e *Unsupported) Error() string { return e.Object + ": " + e.What }

// LoadBalancer returns the listeners and pools of g as a dataplane.Config
// fragment (Version 0, no node). g must hold only live objects (no
// PENDING_DELETE ones). A load balancer or object with admin_state_up false
// is left out, as Octavia's drivers do: a disabled listener does not listen,
// a disabled pool answers like a missing one.
func LoadBalancer(g *lb.Graph, opts Options) (*dataplane.Config, error) {
	out := &dataplane.Config{Contract: 1, Listeners: []dataplane.Listener{}, Pools: []dataplane.Pool{}}
	l := g.LoadBalancer
	if !l.AdminStateUp {
		return out, nil
	}
	addrs := vipAddresses(l, opts)
	if len(addrs) == 0 {
		return nil, &Unsupported{Object: "load balancer " + l.ID, What: "has no VIP address"}
	}

	pools := map[string]*lb.Pool{}
	for _, p := range g.Pools {
		if p.AdminStateUp {
			pools[p.ID] = p
		}
	}
	members := map[string][]*lb.Member{}
	for _, m := range g.Members {
		members[m.PoolID] = append(members[m.PoolID], m)
	}
	monitors := map[string]*lb.HealthMonitor{}
	for _, h := range g.HealthMonitors {
		monitors[h.PoolID] = h
	}
	policies := map[string][]*lb.L7Policy{}
	for _, p := range g.L7Policies {
		if p.AdminStateUp {
			policies[p.ListenerID] = append(policies[p.ListenerID], p)
		}
	}
	rules := map[string][]*lb.L7Rule{}
	for _, r := range g.L7Rules {
		if r.AdminStateUp {
			rules[r.L7PolicyID] = append(rules[r.L7PolicyID], r)
		}
	}

	used := map[string]bool{}
	for _, li := range g.Listeners {
		if !li.AdminStateUp {
			continue
		}
		dl, err := listener(li, addrs, &opts.TLS)
		if err != nil {
			return nil, err
		}
		if dl.Ingress, err = ingressFor(opts.Ingress, li); err != nil {
			return nil, err
		}
		if _, ok := pools[li.DefaultPoolID]; ok {
			dl.DefaultPoolID = li.DefaultPoolID
			used[li.DefaultPoolID] = true
		}
		ps := policies[li.ID]
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Position < ps[j].Position })
		for _, p := range ps {
			dp := dataplane.L7Policy{ID: p.ID, Position: p.Position, Action: p.Action, Rules: []dataplane.L7Rule{}}
			switch p.Action {
			case lb.ActionRedirectToPool:
				if _, ok := pools[p.RedirectPoolID]; !ok {
					continue // a policy to a disabled pool never matches
				}
				dp.RedirectPoolID = p.RedirectPoolID
				used[p.RedirectPoolID] = true
			case lb.ActionRedirectToURL:
				dp.RedirectURL = deref(p.RedirectURL)
			case lb.ActionRedirectPrefix:
				dp.RedirectPrefix = deref(p.RedirectPrefix)
			}
			if p.RedirectHTTPCode != nil {
				dp.RedirectHTTPCode = *p.RedirectHTTPCode
			}
			for _, r := range rules[p.ID] {
				dp.Rules = append(dp.Rules, dataplane.L7Rule{ID: r.ID, Type: r.Type, CompareType: r.CompareType,
					Key: deref(r.Key), Value: r.Value, Invert: r.Invert})
			}
			if len(dp.Rules) == 0 {
				continue // Octavia ignores policies without rules
			}
			dl.L7Policies = append(dl.L7Policies, dp)
		}
		out.Listeners = append(out.Listeners, dl)
	}
	for _, p := range g.Pools {
		if !used[p.ID] {
			continue
		}
		dp, err := pool(p, members[p.ID], monitors[p.ID], &opts.TLS)
		if err != nil {
			return nil, err
		}
		out.Pools = append(out.Pools, dp)
	}
	if opts.VRRP != nil {
		out.VRRP = vrrpGroup(l, opts.VRRP)
	}
	out.Contract = out.NeededContract()
	return out, nil
}

func vipAddresses(l *lb.LoadBalancer, opts Options) []string {
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	add(l.VIP.Address)
	for _, v := range l.AdditionalVIPs {
		add(v.IPAddress)
	}
	for _, a := range opts.ExtraAddresses {
		add(a)
	}
	return out
}

func listener(li *lb.Listener, addrs []string, m *TLSMaterial) (dataplane.Listener, error) {
	dl := dataplane.Listener{
		ID:                   li.ID,
		LoadBalancerID:       li.LoadBalancerID,
		Protocol:             dataplane.Protocol(li.Protocol),
		Addresses:            append([]string(nil), addrs...),
		ProtocolPort:         li.ProtocolPort,
		ConnectionLimit:      li.ConnectionLimit,
		TimeoutClientData:    int64(li.TimeoutClientData),
		TimeoutMemberConnect: int64(li.TimeoutMemberConnect),
		TimeoutMemberData:    int64(li.TimeoutMemberData),
		TimeoutTCPInspect:    int64(li.TimeoutTCPInspect),
		AllowedCIDRs:         append([]string(nil), li.AllowedCIDRs...),
	}
	if len(li.InsertHeaders) > 0 {
		dl.InsertHeaders = make(map[string]string, len(li.InsertHeaders))
		for k, v := range li.InsertHeaders {
			dl.InsertHeaders[k] = v
		}
	}
	if li.Protocol == lb.ProtocolTerminatedHTTPS {
		t, err := listenerTLS(li, m)
		if err != nil {
			return dl, err
		}
		dl.TLS = t
	}
	return dl, nil
}

func pool(p *lb.Pool, members []*lb.Member, hm *lb.HealthMonitor, m *TLSMaterial) (dataplane.Pool, error) {
	dp := dataplane.Pool{ID: p.ID, Protocol: dataplane.Protocol(p.Protocol), Algorithm: dataplane.Algorithm(p.LBAlgorithm), Members: []dataplane.Member{}}
	if sp := p.SessionPersistence; sp != nil {
		dsp := &dataplane.SessionPersistence{Type: dataplane.PersistenceType(sp.Type), CookieName: deref(sp.CookieName),
			PersistenceGranularity: deref(sp.PersistenceGranularity)}
		if sp.PersistenceTimeout != nil {
			dsp.PersistenceTimeout = *sp.PersistenceTimeout
		}
		dp.SessionPersistence = dsp
	}
	if p.TLSEnabled {
		t, err := poolTLS(p, m)
		if err != nil {
			return dp, err
		}
		dp.TLS = t
	} else if len(p.ALPNProtocols) == 1 && p.ALPNProtocols[0] == "h2" {
		dp.H2C = true // cleartext HTTP/2 by prior knowledge (docs/http2.md)
	}
	for _, m := range members {
		dm := dataplane.Member{ID: m.ID, Address: m.Address, ProtocolPort: m.ProtocolPort, Weight: m.Weight,
			Backup: m.Backup, AdminStateUp: m.AdminStateUp, MonitorAddress: m.MonitorAddress}
		if m.MonitorPort != nil {
			dm.MonitorPort = *m.MonitorPort
		}
		dp.Members = append(dp.Members, dm)
	}
	if hm != nil {
		dh := &dataplane.HealthMonitor{ID: hm.ID, Type: dataplane.MonitorType(hm.Type), Delay: hm.Delay, Timeout: hm.Timeout,
			MaxRetries: hm.MaxRetries, MaxRetriesDown: hm.MaxRetriesDown, HTTPMethod: deref(hm.HTTPMethod),
			URLPath: deref(hm.URLPath), ExpectedCodes: deref(hm.ExpectedCodes), DomainName: deref(hm.DomainName),
			AdminStateUp: hm.AdminStateUp}
		if hm.HTTPVersion != nil {
			dh.HTTPVersion = strconv.FormatFloat(*hm.HTTPVersion, 'f', 1, 64)
		}
		dp.HealthMonitor = dh
	}
	return dp, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
