package main

// The scale suite measures one agent holding many load balancers: the time
// for N full graphs, created by 8 clients, to be ACTIVE; the agent's RSS
// then; and how long one small change (a member's weight) takes from the API
// write to ACTIVE on that agent. It ends with RESULT lines.
//
// lbN_to_active_s is from the first create to the first moment no load
// balancer is pending (PENDING_CREATE or PENDING_UPDATE), as a list filtered
// by provisioning status shows it, polled every 20 ms: the time the system
// takes. (Before 2026-12-07 the suite polled each load balancer in turn
// after the last create, and the result included those N sequential GETs.)

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/benchkit"
)

func runScale(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	lbs := fs.Int("lbs", 10000, "load balancers on the one agent")
	changes := fs.Int("changes", 50, "member weight changes timed (median reported)")
	clients := fs.Int("clients", 8, "clients creating the load balancers")
	bin := fs.String("bin", "", "a fulcrum binary to measure (default: built from this checkout), e.g. another branch's, for a before/after pair")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *lbs < 1 || *changes < 1 || *clients < 1 {
		return fmt.Errorf("-lbs, -changes and -clients must be at least 1")
	}
	return scaleBench(ctx, *bin, *lbs, *changes, *clients)
}

// scaleGraph is one load balancer's ids.
type scaleGraph struct{ lb, pool, member string }

func scaleBench(ctx context.Context, bin string, n, changes, clients int) error {
	dir, built, cleanup, err := benchkit.Workdir("fulcrum-scale-")
	if err != nil {
		return err
	}
	defer cleanup()
	if bin == "" {
		bin = built
	}
	backendPort, stopBackend, err := benchkit.Backend()
	if err != nil {
		return err
	}
	defer stopBackend()
	// The listeners' port: a free one, not a fixed one, so that two scale runs at once
	// (two checkouts on one machine) do not bind the same VIP sockets, each server
	// handing out the same VIPs from the start.
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	listenerPort := pl.Addr().(*net.TCPAddr).Port
	pl.Close()
	srv, agent, stop, err := startServerAndAgent(bin, dir)
	if err != nil {
		return err
	}
	defer stop()
	c := benchkit.NewClient(srv.URL)
	time.Sleep(1500 * time.Millisecond) // the first heartbeat marks the agent up

	subnet := "6d7b0a60-6a7e-4c3a-9d1b-2f4f9d6c1e01"
	var sub struct {
		Subnets []struct{ ID string } `json:"subnets"`
	}
	if c.Do("GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200, &sub) == nil && len(sub.Subnets) == 1 {
		subnet = sub.Subnets[0].ID
	}
	create := func(name string) (scaleGraph, error) {
		var g scaleGraph
		var lb struct{ Loadbalancer struct{ ID string } }
		if err := c.Do("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": name, "vip_subnet_id": subnet}}, 201, &lb); err != nil {
			return g, err
		}
		g.lb = lb.Loadbalancer.ID
		var lis struct{ Listener struct{ ID string } }
		if err := c.Do("POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": g.lb, "protocol": "HTTP", "protocol_port": listenerPort}}, 201, &lis); err != nil {
			return g, err
		}
		var pool struct{ Pool struct{ ID string } }
		if err := c.Do("POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"listener_id": lis.Listener.ID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201, &pool); err != nil {
			return g, err
		}
		g.pool = pool.Pool.ID
		var m struct{ Member struct{ ID string } }
		if err := c.Do("POST", "/v2/lbaas/pools/"+g.pool+"/members", map[string]any{"member": map[string]any{"address": "127.0.0.1", "protocol_port": backendPort}}, 201, &m); err != nil {
			return g, err
		}
		g.member = m.Member.ID
		return g, nil
	}

	// 1. N full graphs by `clients` clients, until all are ACTIVE.
	fmt.Printf("creating %d load balancers on one agent with %d clients ...\n", n, clients)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	srvCPU0, agentCPU0 := scaleCPU(srv.Cmd.Process.Pid), scaleCPU(agent.Process.Pid)
	t0 := time.Now()
	graphs := make([]scaleGraph, n)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				g, err := create(fmt.Sprintf("scale-%d", i))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				graphs[i] = g
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n && wctx.Err() == nil; i++ {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	created := time.Since(t0)
	total, err := scaleSettled(wctx, c, t0)
	if err != nil {
		return err
	}
	if err := scaleAllActive(c, graphs); err != nil {
		return err
	}
	rss, err := benchkit.RSSKiB(agent.Process.Pid)
	if err != nil {
		return err
	}
	srvCPU1, agentCPU1 := scaleCPU(srv.Cmd.Process.Pid), scaleCPU(agent.Process.Pid)
	fmt.Printf("%d load balancers: API calls done in %.1fs, all ACTIVE after %.1fs; agent RSS %.1f MiB; CPU server %.1fs, agent %.1fs\n",
		n, created.Seconds(), total.Seconds(), float64(rss)/1024, (srvCPU1 - srvCPU0).Seconds(), (agentCPU1 - agentCPU0).Seconds())

	// The steady cost of holding them: CPU over 5 s with nothing changing
	// (heartbeats, the liveness check, resyncs).
	idle0, idleA0 := scaleCPU(srv.Cmd.Process.Pid), scaleCPU(agent.Process.Pid)
	time.Sleep(5 * time.Second)
	srvCPU1, agentCPU1 = scaleCPU(srv.Cmd.Process.Pid), scaleCPU(agent.Process.Pid)
	fmt.Printf("idle with %d load balancers: CPU server %.0f ms/s, agent %.0f ms/s\n",
		n, float64((srvCPU1-idle0).Milliseconds())/5, float64((agentCPU1-idleA0).Milliseconds())/5)

	// 2. One member weight change at a time, API write → ACTIVE.
	fmt.Printf("%d member weight changes, one at a time ...\n", changes)
	var lat []float64
	for i := 0; i < changes; i++ {
		g := graphs[(i*7919)%n]
		start := time.Now()
		if err := c.Do("PUT", "/v2/lbaas/pools/"+g.pool+"/members/"+g.member, map[string]any{"member": map[string]any{"weight": 2 + i%50}}, 200, nil); err != nil {
			return err
		}
		for {
			st, err := c.Status(g.lb)
			if err != nil {
				return err
			}
			if st == "ACTIVE" {
				break
			}
			if st == "ERROR" {
				return fmt.Errorf("load balancer %s went ERROR", g.lb)
			}
			if time.Since(start) > time.Minute {
				return fmt.Errorf("load balancer %s not ACTIVE a minute after a member change", g.lb)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, float64(time.Since(start).Microseconds())/1000)
	}
	p50 := benchkit.Pct(lat, 50)
	srvCPU2, agentCPU2 := scaleCPU(srv.Cmd.Process.Pid), scaleCPU(agent.Process.Pid)
	fmt.Printf("member change → ACTIVE with %d load balancers on the agent: p50 %.1f ms, p99 %.1f ms; CPU per change (with the heartbeats meanwhile): server %.1f ms, agent %.1f ms\n",
		n, p50, benchkit.Pct(lat, 99), float64((srvCPU2-srvCPU1).Microseconds())/1000/float64(changes), float64((agentCPU2-agentCPU1).Microseconds())/1000/float64(changes))
	name := fmt.Sprintf("lb%d", n)
	fmt.Printf("RESULT %s_change_to_active_p50_ms %.1f\n", name, p50)
	fmt.Printf("RESULT %s_agent_rss_mib %.1f\n", name, float64(rss)/1024)
	fmt.Printf("RESULT %s_to_active_s %.2f\n", name, total.Seconds())
	return nil
}

// scalePending are the provisioning statuses of a load balancer whose last
// write is not yet done.
var scalePending = []string{"PENDING_CREATE", "PENDING_UPDATE"}

// scaleSettled polls, as a client waiting for its writes would, for a load
// balancer still pending or in ERROR, with a list filtered by provisioning
// status (one row at most), every 20 ms; it returns the time since t0 at
// which the first poll found none pending, and an error for one in ERROR.
// The result is how long the system took, to within one poll, not how long
// this client took to look at each load balancer.
func scaleSettled(ctx context.Context, c *benchkit.Client, t0 time.Time) (time.Duration, error) {
	var out struct {
		Loadbalancers []struct{ ID string } `json:"loadbalancers"`
	}
	for {
		if err := c.Do("GET", "/v2/lbaas/loadbalancers?provisioning_status=ERROR&limit=1&fields=id", nil, 200, &out); err != nil {
			return 0, err
		}
		if len(out.Loadbalancers) > 0 {
			return 0, fmt.Errorf("load balancer %s went ERROR", out.Loadbalancers[0].ID)
		}
		pending := false
		for _, st := range scalePending {
			if err := c.Do("GET", "/v2/lbaas/loadbalancers?provisioning_status="+st+"&limit=1&fields=id", nil, 200, &out); err != nil {
				return 0, err
			}
			if len(out.Loadbalancers) > 0 {
				pending = true
				break
			}
		}
		if !pending {
			return time.Since(t0), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("load balancers still pending: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// scaleAllActive checks, after the clock stopped, that every graph's load
// balancer is ACTIVE, paging through the list of ACTIVE ones.
func scaleAllActive(c *benchkit.Client, graphs []scaleGraph) error {
	active := make(map[string]bool, len(graphs))
	marker := ""
	for {
		var out struct {
			Loadbalancers []struct{ ID string } `json:"loadbalancers"`
		}
		path := "/v2/lbaas/loadbalancers?provisioning_status=ACTIVE&fields=id&limit=1000"
		if marker != "" {
			path += "&marker=" + marker
		}
		if err := c.Do("GET", path, nil, 200, &out); err != nil {
			return err
		}
		for _, l := range out.Loadbalancers {
			active[l.ID] = true
		}
		if len(out.Loadbalancers) < 1000 {
			break
		}
		marker = out.Loadbalancers[len(out.Loadbalancers)-1].ID
	}
	for _, g := range graphs {
		if !active[g.lb] {
			return fmt.Errorf("load balancer %s is not ACTIVE after none was pending", g.lb)
		}
	}
	return nil
}

// scaleCPU is the user and system CPU time process pid has used (Linux
// /proc; 0 elsewhere or on error), in clock ticks of 10 ms.
func scaleCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (in parentheses, which may hold spaces).
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data)[i+1:])
	if len(f) < 13 {
		return 0
	}
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
