package main

// The provision suite measures create-to-traffic latency and the cost of
// 1,000 load balancers on one agent, against a real server and a real agent
// process on loopback. It ends with RESULT lines.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/benchkit"
)

func runProvision(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("provision", flag.ContinueOnError)
	iters := fs.Int("iterations", 100, "create-to-traffic iterations")
	many := fs.Int("lbs", 1000, "load balancers on one agent")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return provisionBench(ctx, *iters, *many)
}

func provisionBench(ctx context.Context, iters, many int) error {
	dir, bin, cleanup, err := benchkit.Workdir("fulcrum-provision-")
	if err != nil {
		return err
	}
	defer cleanup()
	// A real backend.
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
	time.Sleep(1500 * time.Millisecond) // first heartbeat marks the agent up

	subnet := "6d7b0a60-6a7e-4c3a-9d1b-2f4f9d6c1e01"
	var sub struct {
		Subnets []struct{ ID string } `json:"subnets"`
	}
	if c.Do("GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200, &sub) == nil && len(sub.Subnets) == 1 {
		subnet = sub.Subnets[0].ID
	}
	port := 18080
	create := func(name string) (id, vip string, err error) {
		var lb struct {
			Loadbalancer struct {
				ID         string `json:"id"`
				VIPAddress string `json:"vip_address"`
			}
		}
		if err := c.Do("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": name, "vip_subnet_id": subnet}}, 201, &lb); err != nil {
			return "", "", err
		}
		id, vip = lb.Loadbalancer.ID, lb.Loadbalancer.VIPAddress
		var lis struct{ Listener struct{ ID string } }
		if err := c.Do("POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": id, "protocol": "HTTP", "protocol_port": port}}, 201, &lis); err != nil {
			return "", "", err
		}
		var pool struct{ Pool struct{ ID string } }
		if err := c.Do("POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"listener_id": lis.Listener.ID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201, &pool); err != nil {
			return "", "", err
		}
		if err := c.Do("POST", "/v2/lbaas/pools/"+pool.Pool.ID+"/members", map[string]any{"member": map[string]any{"address": "127.0.0.1", "protocol_port": backendPort}}, 201, nil); err != nil {
			return "", "", err
		}
		return id, vip, nil
	}

	// 1. Create → first 200 OK through the VIP.
	fmt.Printf("create → first 200 OK, %d iterations ...\n", iters)
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var lat []float64
	for i := 0; i < iters; i++ {
		t0 := time.Now()
		id, vip, err := create(fmt.Sprintf("ttt-%d", i))
		if err != nil {
			return err
		}
		url := "http://" + net.JoinHostPort(vip, strconv.Itoa(port)) + "/"
		deadline := t0.Add(30 * time.Second)
		for {
			resp, err := hc.Get(url)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no 200 OK from %s after 30s", url)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
		if err := c.Do("DELETE", "/v2/lbaas/loadbalancers/"+id+"?cascade=true", nil, 204, nil); err != nil {
			return err
		}
	}
	p50, p99 := benchkit.Pct(lat, 50), benchkit.Pct(lat, 99)
	fmt.Printf("create → first 200 OK: p50 %.1f ms  p99 %.1f ms  (Octavia amphora: 60-300 s)\n", p50, p99)

	// Let the deletes drain.
	time.Sleep(2 * time.Second)

	// 2. 1,000 load balancers on one agent.
	fmt.Printf("creating %d load balancers on one agent ...\n", many)
	t0 := time.Now()
	ids := make([]string, many)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 0; i < many; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			id, _, err := create(fmt.Sprintf("many-%d", i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			ids[i] = id
		}(i)
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	created := time.Since(t0)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for _, id := range ids {
		if err := c.WaitActive(ctx, id); err != nil {
			return err
		}
	}
	total := time.Since(t0)
	rss, err := benchkit.RSSKiB(agent.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("%d load balancers: API calls done in %.1fs, all ACTIVE after %.1fs; agent RSS %.1f MiB\n",
		many, created.Seconds(), total.Seconds(), float64(rss)/1024)
	fmt.Printf("RESULT create_to_traffic_p50_ms %.1f\n", p50)
	fmt.Printf("RESULT create_to_traffic_p99_ms %.1f\n", p99)
	fmt.Printf("RESULT lb1000_to_active_s %.2f\n", total.Seconds())
	fmt.Printf("RESULT lb1000_agent_rss_mib %.1f\n", float64(rss)/1024)
	return nil
}

func runOut(bin string, args ...string) (string, error) {
	out, err := execOutput(bin, args...)
	if err != nil {
		return "", fmt.Errorf("%s %v: %w", bin, args, err)
	}
	return out, nil
}

func execOutput(bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	return string(out), err
}

// startServerAndAgent starts a server (noauth, no embedded agent) with its data in
// dir/data and one separate agent, enrolled with a join token, with its data in
// dir/agent; stop stops both.
func startServerAndAgent(bin, dir string) (srv *benchkit.Server, agent *exec.Cmd, stop func(), err error) {
	srv, err = benchkit.StartServer(bin, filepath.Join(dir, "data"), "--auth", "noauth", "--embedded-agent=false", "--log-level", "warn")
	if err != nil {
		return nil, nil, nil, err
	}
	tok, err := runOut(bin, "agent-token", "--data-dir", filepath.Join(dir, "data"), "--name", "bench-agent")
	if err == nil {
		agent, err = startProvisionAgent(bin, srv.AgentURL, strings.TrimSpace(tok), filepath.Join(dir, "agent"))
	}
	if err != nil {
		benchkit.Stop(srv.Cmd)
		return nil, nil, nil, err
	}
	return srv, agent, func() { benchkit.Stop(agent); benchkit.Stop(srv.Cmd) }, nil
}

func startProvisionAgent(bin, server, token, dir string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, "agent", "--server", server, "--join-token", token, "--data-dir", dir, "--name", "bench-agent", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd, cmd.Start()
}
