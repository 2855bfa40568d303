package main

// The engines suite compares fulcrum's two data-plane engines as a user meets them: a real
// server, one `fulcrum agent` (native engine) and one `fulcrum agent --engine haproxy`, and
// load balancers created through the Octavia API with provider fulcrum and provider
// haproxy. It measures create → first 200 OK through the VIP, then the same wrk traffic
// through one load balancer of each, interleaved, with the CPU of what proxies it (the
// native agent's process; the HAProxy agent's HAProxy processes). It ends with RESULT
// lines for both engines and their ratios (HAProxy ÷ native).

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
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/benchkit"
)

func runEngines(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("engines", flag.ContinueOnError)
	runs := fs.Int("runs", envInt("RUNS", 3), "interleaved wrk runs per engine")
	dur := fs.Duration("dur", envSeconds("DUR", 6*time.Second), "duration of one wrk run")
	conns := fs.Int("conns", 64, "wrk connections")
	creates := fs.Int("creates", 10, "create → first 200 OK iterations per engine")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "fbeng")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := prepareProxies(filepath.Join(dir, "out"), false)
	if err != nil {
		return err
	}
	fmt.Printf("%d CPUs, load %s\n", numCPU(), loadAvg())
	var backends []int
	for i := 0; i < 2; i++ {
		p, stop, err := benchkit.Backend()
		if err != nil {
			return err
		}
		defer stop()
		backends = append(backends, p)
	}
	data := filepath.Join(dir, "data")
	srv, err := benchkit.StartServer(bin, data, "--auth", "noauth", "--embedded-agent=false", "--log-level", "warn", "--resync", "1s")
	if err != nil {
		return err
	}
	defer benchkit.Stop(srv.Cmd)
	agents := map[string]*exec.Cmd{}
	agentDirs := map[string]string{}
	for _, e := range []struct{ name, engine string }{{"native", "native"}, {"haproxy", "haproxy"}} {
		tok, err := runOut(bin, "agent-token", "--data-dir", data, "--name", "bench-"+e.name)
		if err != nil {
			return err
		}
		adir := filepath.Join(dir, "a-"+e.name)
		cmd := exec.Command(bin, "agent", "--engine", e.engine, "--server", srv.AgentURL, "--join-token", strings.TrimSpace(tok),
			"--data-dir", adir, "--name", "bench-"+e.name, "--log-level", "warn")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		defer benchkit.Stop(cmd)
		agents[e.name], agentDirs[e.name] = cmd, adir
	}
	c := benchkit.NewClient(srv.URL)
	subnet := "6d7b0a60-6a7e-4c3a-9d1b-2f4f9d6c1e01"
	var sub struct {
		Subnets []struct{ ID string } `json:"subnets"`
	}
	if c.Do("GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200, &sub) == nil && len(sub.Subnets) == 1 {
		subnet = sub.Subnets[0].ID
	}
	providers := map[string]string{"native": "fulcrum", "haproxy": "haproxy"}
	// create makes a load balancer of the engine's provider with an HTTP listener on port
	// and a round-robin pool of the backends, and returns its id and VIP.
	create := func(engine string, port int) (id, vip string, err error) {
		var lb struct {
			Loadbalancer struct {
				ID         string `json:"id"`
				VIPAddress string `json:"vip_address"`
			}
		}
		if err := c.Do("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
			"name": "bench-" + engine, "vip_subnet_id": subnet, "provider": providers[engine]}}, 201, &lb); err != nil {
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
		for _, bp := range backends {
			if err := c.Do("POST", "/v2/lbaas/pools/"+pool.Pool.ID+"/members", map[string]any{"member": map[string]any{"address": "127.0.0.1", "protocol_port": bp}}, 201, nil); err != nil {
				return "", "", err
			}
		}
		return id, vip, nil
	}
	freshPort := func() (int, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port, nil
	}

	// The load balancers the traffic goes through; the first create also waits for both
	// agents to be up (a load balancer with no agent of its engine is retried each second).
	targets := map[string]string{}
	for _, engine := range []string{"native", "haproxy"} {
		port, err := freshPort()
		if err != nil {
			return err
		}
		_, vip, err := create(engine, port)
		if err != nil {
			return err
		}
		url := "http://" + net.JoinHostPort(vip, strconv.Itoa(port)) + "/"
		if err := engineFirstOK(ctx, url, 90*time.Second); err != nil {
			return fmt.Errorf("%s: %w", engine, err)
		}
		targets[engine] = url
	}

	// 1. Create → first 200 OK, interleaved, each load balancer deleted after.
	fmt.Printf("create → first 200 OK, %d per engine ...\n", *creates)
	lat := map[string][]float64{}
	for i := 0; i < *creates; i++ {
		for _, engine := range []string{"native", "haproxy"} {
			port, err := freshPort()
			if err != nil {
				return err
			}
			t0 := time.Now()
			id, vip, err := create(engine, port)
			if err != nil {
				return err
			}
			if err := engineFirstOK(ctx, "http://"+net.JoinHostPort(vip, strconv.Itoa(port))+"/", 60*time.Second); err != nil {
				return fmt.Errorf("%s: %w", engine, err)
			}
			lat[engine] = append(lat[engine], float64(time.Since(t0).Microseconds())/1000)
			if err := c.Do("DELETE", "/v2/lbaas/loadbalancers/"+id+"?cascade=true", nil, 204, nil); err != nil {
				return err
			}
		}
	}

	// 2. Traffic, interleaved runs; CPU of what proxies.
	cpuOf := map[string]func() float64{
		"native": func() float64 { return cpuSeconds(agents["native"].Process.Pid) },
		"haproxy": func() float64 {
			sum := 0.0
			for _, pid := range haproxyProcsUnder(filepath.Join(agentDirs["haproxy"], "haproxy")) {
				sum += cpuSeconds(pid)
			}
			return sum
		},
	}
	samples := map[string][]sample{}
	for r := 0; r < *runs; r++ {
		for _, engine := range []string{"native", "haproxy"} {
			c0 := cpuOf[engine]()
			s, err := wrkTarget(ctx, targets[engine], *dur, *conns, false)
			if err != nil {
				return err
			}
			s.cpu = cpuOf[engine]() - c0
			samples[engine] = append(samples[engine], s)
			fmt.Printf("  run %d %-8s %9.0f req/s  p99 %6.2f ms  %.2f CPU-s\n", r+1, engine, s.rps, s.p99, s.cpu)
		}
	}
	med := func(engine string, f func(sample) float64) float64 {
		var v []float64
		for _, s := range samples[engine] {
			v = append(v, f(s))
		}
		return benchkit.Pct(v, 50)
	}
	rps := func(s sample) float64 { return s.rps }
	p99 := func(s sample) float64 { return s.p99 }
	eff := func(s sample) float64 {
		if s.cpu <= 0 {
			return 0
		}
		return s.reqs / s.cpu
	}
	fmt.Printf("\n| engine | req/s | req per CPU-s | p99 ms | create → first 200 p50 ms | p99 ms |\n|---|---:|---:|---:|---:|---:|\n")
	for _, engine := range []string{"native", "haproxy"} {
		fmt.Printf("| %s | %.0f | %.0f | %.2f | %.1f | %.1f |\n", engine, med(engine, rps), med(engine, eff), med(engine, p99),
			benchkit.Pct(lat[engine], 50), benchkit.Pct(lat[engine], 99))
	}
	fmt.Println()
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	for _, engine := range []string{"native", "haproxy"} {
		fmt.Printf("RESULT engines_%s_rps %.0f\n", engine, med(engine, rps))
		fmt.Printf("RESULT engines_%s_req_per_cpu_s %.0f\n", engine, med(engine, eff))
		fmt.Printf("RESULT engines_%s_p99_ms %.2f\n", engine, med(engine, p99))
		fmt.Printf("RESULT engines_%s_create_to_200_p50_ms %.1f\n", engine, benchkit.Pct(lat[engine], 50))
	}
	fmt.Printf("RESULT engines_rps_ratio_haproxy %.3f\n", ratio(med("haproxy", rps), med("native", rps)))
	fmt.Printf("RESULT engines_cpu_eff_ratio_haproxy %.3f\n", ratio(med("haproxy", eff), med("native", eff)))
	fmt.Printf("RESULT engines_p99_ratio_haproxy %.3f\n", ratio(med("haproxy", p99), med("native", p99)))
	fmt.Printf("RESULT engines_create_to_200_ratio_haproxy %.3f\n", ratio(benchkit.Pct(lat["haproxy"], 50), benchkit.Pct(lat["native"], 50)))
	return nil
}

// engineFirstOK polls url with new connections until it answers 200.
func engineFirstOK(ctx context.Context, url string, limit time.Duration) error {
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(limit)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("no 200 OK from %s within %s (last error %v)", url, limit, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// haproxyProcsUnder returns the HAProxy processes (master and workers) whose command line
// names a file under dir: those of one HAProxy engine.
func haproxyProcsUnder(dir string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Contains(string(b), dir+"/") && strings.Contains(string(b), "haproxy") {
			out = append(out, pid)
		}
	}
	return out
}
