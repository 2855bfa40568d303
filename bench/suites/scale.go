package main

// The scale suite measures one agent holding many load balancers: the time
// for N full graphs, created by 8 clients, to be ACTIVE; the agent's RSS
// then; and how long one small change (a member's weight) takes from the API
// write to ACTIVE on that agent. It ends with RESULT lines.

import (
	"context"
	"flag"
	"fmt"
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
		if err := c.Do("POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": g.lb, "protocol": "HTTP", "protocol_port": 18080}}, 201, &lis); err != nil {
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
	for _, g := range graphs {
		if err := c.WaitActive(wctx, g.lb); err != nil {
			return err
		}
	}
	total := time.Since(t0)
	rss, err := benchkit.RSSKiB(agent.Process.Pid)
	if err != nil {
		return err
	}
	srvCPU1, agentCPU1 := scaleCPU(srv.Cmd.Process.Pid), scaleCPU(agent.Process.Pid)
	fmt.Printf("%d load balancers: API calls done in %.1fs, all ACTIVE after %.1fs; agent RSS %.1f MiB; CPU server %.1fs, agent %.1fs\n",
		n, created.Seconds(), total.Seconds(), float64(rss)/1024, (srvCPU1 - srvCPU0).Seconds(), (agentCPU1 - agentCPU0).Seconds())

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
