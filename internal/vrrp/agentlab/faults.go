package agentlab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/vrrp/vrrplab"
)

// CreateLoadBalancer makes, through the API, a network and subnet on the segment (addresses
// from .100 on, the hosts keep theirs), an ACTIVE_STANDBY flavor, and a load balancer with
// an HTTP listener on port 80 whose pool has the backend host as member; it waits until it
// is ACTIVE and one agent holds the VIP.
func (l *Lab) CreateLoadBalancer(ctx context.Context) error {
	var net struct {
		Network struct{ ID string } `json:"network"`
	}
	if err := l.Do("POST", "/networking/v2.0/networks", map[string]any{"network": map[string]any{"name": Segment, "shared": true}}, &net); err != nil {
		return err
	}
	// The allocation pools hold the agents' own addresses (reserved in IPAM as soon as the
	// subnet exists: no VIP may take them) and .99–.199; the other hosts (server, backend,
	// client) are kept out.
	first, last := l.Net.AddrAt(99), l.Net.AddrAt(199)
	lo, hi := l.Agents[0].Host.Addr, l.Agents[0].Host.Addr
	for _, a := range l.Agents {
		if a.Host.Addr.Less(lo) {
			lo = a.Host.Addr
		}
		if hi.Less(a.Host.Addr) {
			hi = a.Host.Addr
		}
	}
	var sub struct {
		Subnet struct{ ID string } `json:"subnet"`
	}
	if err := l.Do("POST", "/networking/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": net.Network.ID,
		"cidr": l.Net.Subnet.String(), "ip_version": 4, "gateway_ip": nil,
		"allocation_pools": []map[string]string{{"start": lo.String(), "end": hi.String()}, {"start": first.String(), "end": last.String()}}}}, &sub); err != nil {
		return err
	}
	l.Subnet = sub.Subnet.ID
	// Every agent's address reserved (an agent that has not reported yet would find it
	// taken by the VIP).
	if err := poll(ctx, 60*time.Second, "the agents' addresses reserved", func() bool {
		var ports struct {
			Ports []any `json:"ports"`
		}
		return l.Do("GET", "/networking/v2.0/ports?device_owner=fulcrum:agent", nil, &ports) == nil && len(ports.Ports) == len(l.Agents)
	}); err != nil {
		return err
	}
	var fp struct {
		FlavorProfile struct{ ID string } `json:"flavorprofile"`
	}
	data := map[string]any{"loadbalancer_topology": "ACTIVE_STANDBY"}
	if l.opts.AdvertIntervalMS != 0 {
		data["vrrp_advert_int_ms"] = l.opts.AdvertIntervalMS
	}
	fd, err := json.Marshal(data)
	if err != nil {
		return err
	}
	if err := l.Do("POST", "/v2/lbaas/flavorprofiles", map[string]any{"flavorprofile": map[string]any{"name": "active-standby",
		"provider_name": "fulcrum", "flavor_data": string(fd)}}, &fp); err != nil {
		return err
	}
	var fl struct {
		Flavor struct{ ID string } `json:"flavor"`
	}
	if err := l.Do("POST", "/v2/lbaas/flavors", map[string]any{"flavor": map[string]any{"name": "active-standby",
		"flavor_profile_id": fp.FlavorProfile.ID, "enabled": true}}, &fl); err != nil {
		return err
	}
	var lbResp struct {
		LoadBalancer struct {
			ID         string `json:"id"`
			VIPAddress string `json:"vip_address"`
		} `json:"loadbalancer"`
	}
	if err := l.Do("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": "ha",
		"vip_subnet_id": sub.Subnet.ID, "flavor_id": fl.Flavor.ID}}, &lbResp); err != nil {
		return err
	}
	l.LB = lbResp.LoadBalancer.ID
	vip, err := netip.ParseAddr(lbResp.LoadBalancer.VIPAddress)
	if err != nil {
		return fmt.Errorf("vip_address %q: %w", lbResp.LoadBalancer.VIPAddress, err)
	}
	l.VIP = vip
	if err := l.WaitStatus(ctx, "ACTIVE", ""); err != nil {
		return err
	}
	var li struct {
		Listener struct{ ID string } `json:"listener"`
	}
	if err := l.Do("POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": l.LB,
		"protocol": "HTTP", "protocol_port": ListenerPort}}, &li); err != nil {
		return err
	}
	if err := l.WaitStatus(ctx, "ACTIVE", ""); err != nil {
		return err
	}
	var pool struct {
		Pool struct{ ID string } `json:"pool"`
	}
	if err := l.Do("POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"listener_id": li.Listener.ID,
		"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, &pool); err != nil {
		return err
	}
	if err := l.WaitStatus(ctx, "ACTIVE", ""); err != nil {
		return err
	}
	if err := l.Do("POST", "/v2/lbaas/pools/"+pool.Pool.ID+"/members", map[string]any{"member": map[string]any{
		"address": l.Backend.Addr.String(), "protocol_port": backendPort, "subnet_id": sub.Subnet.ID}}, nil); err != nil {
		return err
	}
	if err := l.WaitStatus(ctx, "ACTIVE", ""); err != nil {
		return err
	}
	_, err = l.Steady(ctx)
	return err
}

// LoadBalancer is the load balancer's provisioning and operating status.
func (l *Lab) LoadBalancer() (prov, oper string, err error) {
	var body struct {
		LoadBalancer struct {
			Prov string `json:"provisioning_status"`
			Oper string `json:"operating_status"`
		} `json:"loadbalancer"`
	}
	err = l.Do("GET", "/v2/lbaas/loadbalancers/"+l.LB, nil, &body)
	return body.LoadBalancer.Prov, body.LoadBalancer.Oper, err
}

// WaitStatus waits (60 s at most) for the load balancer's provisioning status prov and, if
// oper is set, operating status oper.
func (l *Lab) WaitStatus(ctx context.Context, prov, oper string) error {
	var p, o string
	err := poll(ctx, 60*time.Second, "load balancer "+prov+" "+oper, func() bool {
		var err error
		p, o, err = l.LoadBalancer()
		return err == nil && p == prov && (oper == "" || o == oper)
	})
	if err != nil {
		return fmt.Errorf("%w (now %s %s)", err, p, o)
	}
	return nil
}

// Amphora is what the amphora API shows of a member.
type Amphora struct {
	ID            string `json:"id"`
	ComputeID     string `json:"compute_id"`
	Role          string `json:"role"`
	Status        string `json:"status"`
	VRRPIP        string `json:"vrrp_ip"`
	VRRPPortID    string `json:"vrrp_port_id"`
	HAIP          string `json:"ha_ip"`
	VRRPInterface string `json:"vrrp_interface"`
	VRRPID        *int   `json:"vrrp_id"`
	VRRPPriority  *int   `json:"vrrp_priority"`
}

// Amphorae lists the load balancer's amphorae.
func (l *Lab) Amphorae() ([]Amphora, error) {
	var body struct {
		Amphorae []Amphora `json:"amphorae"`
	}
	err := l.Do("GET", "/v2/octavia/amphorae?loadbalancer_id="+l.LB, nil, &body)
	return body.Amphorae, err
}

// Steady waits until the pair is whole: two READY amphorae on two running agents, one
// MASTER and one BACKUP, the MASTER's host holding the VIP and the other not, the load
// balancer ACTIVE. It returns the MASTER's agent.
func (l *Lab) Steady(ctx context.Context) (*Agent, error) {
	var master *Agent
	var last string
	err := poll(ctx, 90*time.Second, "a steady pair", func() bool {
		master = nil
		amps, err := l.Amphorae()
		if err != nil || len(amps) != 2 {
			last = fmt.Sprintf("amphorae %+v %v", amps, err)
			return false
		}
		roles := map[string]bool{}
		for _, a := range amps {
			ag := l.Agent(a.ComputeID)
			if a.Status != "READY" || ag == nil || !ag.Running() {
				last = fmt.Sprintf("amphorae %+v", amps)
				return false
			}
			roles[a.Role] = true
			if a.Role == "MASTER" {
				master = ag
			}
		}
		if !roles["MASTER"] || !roles["BACKUP"] || master == nil {
			last = fmt.Sprintf("roles %+v", amps)
			return false
		}
		for _, ag := range l.Agents {
			if ag.HoldsVIP() != (ag == master) {
				last = fmt.Sprintf("VIP on %s, MASTER %s", ag.Name, master.Name)
				return false
			}
		}
		p, _, err := l.LoadBalancer()
		return err == nil && p == "ACTIVE"
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, last)
	}
	return master, nil
}

// Fault is a fault injected into the MASTER.
type Fault string

// Faults.
const (
	// KillAgent SIGKILLs the MASTER's agent (its engine dies with it); once the controller
	// has replaced its member on the spare agent, it is restarted and becomes the spare.
	KillAgent Fault = "kill-agent"
	// LinkDown sets the MASTER's interface down (no resignation: the BACKUP notices the
	// silence); once the controller has replaced its member it comes back up.
	LinkDown Fault = "link-down"
	// KillKeepalived SIGKILLs keepalived's main process on the MASTER (its VRRP child
	// resigns; the supervisor restarts keepalived).
	KillKeepalived Fault = "kill-keepalived"
	// Failover is `amphora failover` of the MASTER through the API: make before break.
	Failover Fault = "amphora-failover"
	// LBFailover is `loadbalancer failover` through the API: both members replaced, one at
	// a time (the BACKUP first), the VIP handed over once. Not in Faults.
	LBFailover Fault = "loadbalancer-failover"
)

// Faults lists them.
var Faults = []Fault{KillAgent, LinkDown, KillKeepalived, Failover}

// Result is what the client saw of one fault.
type Result struct {
	vrrplab.Result
	Fault Fault
	// Recovered is how long after the fault the pair was whole again.
	Recovered time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("%-16s %s→%s outage %4.0f ms, %3d failed of %4d over %.0f ms (client stall %.0f ms), pair whole after %.1f s",
		r.Fault, r.From, r.To, float64(r.Outage)/1e6, r.Failed, r.Requests, float64(r.FailSpan)/1e6, float64(r.ClientStall)/1e6, r.Recovered.Seconds())
}

// Measure injects f into the MASTER of a steady pair while the client probes, waits until
// the VIP is served by another agent and the pair is whole again, and returns the client's
// view.
func (l *Lab) Measure(ctx context.Context, f Fault) (Result, error) {
	res := Result{Fault: f}
	master, err := l.Steady(ctx)
	if err != nil {
		return res, err
	}
	p := l.StartProbe()
	stopped := false
	defer func() {
		if !stopped {
			p.Stop()
		}
	}()
	// A baseline of served requests first.
	if err := poll(ctx, 30*time.Second, "the client served", func() bool { return p.ServedRun("", time.Time{}) >= 20 }); err != nil {
		return res, err
	}
	var restore func() error
	at := time.Now()
	switch f {
	case KillAgent:
		master.Kill()
		restore = func() error {
			if err := l.waitReplaced(ctx, master); err != nil {
				return err
			}
			return master.Restart()
		}
	case LinkDown:
		if err := master.Host.SetLink(ctx, false); err != nil {
			return res, err
		}
		restore = func() error {
			err := l.waitReplaced(ctx, master)
			if lerr := master.Host.SetLink(context.Background(), true); err == nil {
				err = lerr
			}
			return err
		}
	case KillKeepalived:
		pid := master.KeepalivedPID()
		if pid == 0 {
			return res, fmt.Errorf("no keepalived pid on %s", master.Name)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return res, err
		}
	case Failover:
		amps, err := l.Amphorae()
		if err != nil {
			return res, err
		}
		id := ""
		for _, a := range amps {
			if a.ComputeID == master.Name {
				id = a.ID
			}
		}
		if err := l.Do("PUT", "/v2/octavia/amphorae/"+id+"/failover", nil, nil); err != nil {
			return res, err
		}
	case LBFailover:
		if err := l.Do("PUT", "/v2/lbaas/loadbalancers/"+l.LB+"/failover", nil, nil); err != nil {
			return res, err
		}
	default:
		return res, fmt.Errorf("unknown fault %q", f)
	}
	// Served by another agent for a while.
	var to string
	if err := poll(ctx, 60*time.Second, "another agent serving", func() bool {
		for _, a := range l.Agents {
			if a != master && p.ServedRun(a.Name, at) >= 40 {
				to = a.Name
				return true
			}
		}
		return false
	}); err != nil && f != KillKeepalived {
		return res, err
	}
	if f == KillKeepalived && to == "" {
		to = master.Name
	}
	if restore != nil {
		if err := restore(); err != nil {
			return res, err
		}
	}
	if f == Failover || f == LBFailover {
		if err := l.WaitStatus(ctx, "ACTIVE", ""); err != nil {
			return res, err
		}
	}
	if _, err := l.Steady(ctx); err != nil {
		return res, err
	}
	res.Recovered = time.Since(at)
	stopped = true
	res.Result = vrrplab.Analyze(p.Stop())
	res.Result.From, res.Result.To = master.Name, to
	return res, nil
}

// waitReplaced waits until the controller has replaced the member on a (its agent declared
// down): no amphora of the load balancer is on it any more.
func (l *Lab) waitReplaced(ctx context.Context, a *Agent) error {
	return poll(ctx, 60*time.Second, "the member on "+a.Name+" replaced", func() bool {
		amps, err := l.Amphorae()
		if err != nil || len(amps) != 2 {
			return false
		}
		for _, x := range amps {
			if x.ComputeID == a.Name {
				return false
			}
		}
		return true
	})
}

// Probe opens a new connection to the VIP from the client host every 5 ms (bounded:
// vrrplab's ProbeMaxDuration and ProbeMaxRequests).
type Probe struct {
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	reqs   []vrrplab.Request
}

// StartProbe starts a probe; Stop ends it.
func (l *Lab) StartProbe() *Probe {
	ctx, cancel := context.WithTimeout(context.Background(), vrrplab.ProbeMaxDuration)
	p := &Probe{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(vrrplab.ProbeInterval)
		defer t.Stop()
		for range vrrplab.ProbeMaxRequests {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				r := l.request()
				p.mu.Lock()
				p.reqs = append(p.reqs, r)
				p.mu.Unlock()
			}()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// ServedRun counts the latest consecutive completed requests started after since that host
// answered ("" = any host).
func (p *Probe) ServedRun(host string, since time.Time) int {
	p.mu.Lock()
	reqs := slices.Clone(p.reqs)
	p.mu.Unlock()
	slices.SortFunc(reqs, func(a, b vrrplab.Request) int { return a.Start.Compare(b.Start) })
	n := 0
	for i := len(reqs) - 1; i >= 0; i-- {
		r := reqs[i]
		if r.Start.Before(since) || r.Err != nil || host != "" && r.Served != host {
			break
		}
		n++
	}
	return n
}

// Stop ends the probe and returns its requests in the order they started.
func (p *Probe) Stop() []vrrplab.Request {
	p.cancel()
	<-p.done
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Clone(p.reqs)
	slices.SortFunc(out, func(a, b vrrplab.Request) int { return a.Start.Compare(b.Start) })
	return out
}

// request is one new connection to the VIP with GET /; Served names the agent that
// forwarded it (the backend answers with its client's host name).
func (l *Lab) request() vrrplab.Request {
	r := vrrplab.Request{Start: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), vrrplab.RequestTimeout)
	defer cancel()
	c, err := l.Client.Dial(ctx, nil, "tcp", netip.AddrPortFrom(l.VIP, ListenerPort).String())
	if err != nil {
		r.End, r.Err = time.Now(), err
		return r
	}
	defer c.Close()
	c.SetDeadline(r.Start.Add(vrrplab.RequestTimeout))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n"); err != nil {
		r.End, r.Err = time.Now(), err
		return r
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		r.End, r.Err = time.Now(), err
		return r
	}
	body, err := io.ReadAll(resp.Body)
	r.End = time.Now()
	switch {
	case err != nil:
		r.Err = err
	case resp.StatusCode != http.StatusOK:
		r.Err = fmt.Errorf("status %d", resp.StatusCode)
	default:
		r.Served = string(body)
	}
	return r
}
