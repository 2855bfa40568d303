package main

// The failover suite measures, from a client's side, how long a load balancer's traffic
// stops when the agent serving it is SIGKILLed and the controller moves it to the other
// agent. Real server and two real agent processes on loopback, a real backend; several
// kills per setting (the default 1 s heartbeats / 3 s dead window, and 100 ms / 500 ms).
// It ends with RESULT lines.

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

func runFailover(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("failover", flag.ContinueOnError)
	kills := fs.Int("kills", 5, "failovers measured per setting")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return failoverBench(ctx, *kills)
}

type failoverSetting struct {
	name              string
	heartbeat, window time.Duration
}

func failoverBench(ctx context.Context, kills int) error {
	dir, bin, cleanup, err := benchkit.Workdir("fulcrum-failover-")
	if err != nil {
		return err
	}
	defer cleanup()
	backendPort, stopBackend, err := benchkit.Backend()
	if err != nil {
		return err
	}
	defer stopBackend()

	fmt.Printf("%d SIGKILLs of the serving agent per setting; outage = SIGKILL → first 200 OK through the VIP (a new connection every 5 ms)\n", kills)
	var results []string
	for _, s := range []failoverSetting{{"default", time.Second, 3 * time.Second}, {"fast", 100 * time.Millisecond, 500 * time.Millisecond}} {
		outages, err := measureFailover(bin, filepath.Join(dir, s.name), backendPort, s, kills)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		var parts []string
		for _, o := range outages {
			parts = append(parts, strconv.FormatFloat(o, 'f', 0, 64))
		}
		med := benchkit.Pct(outages, 50)
		fmt.Printf("%-8s heartbeat %-6v dead window %-6v outages ms: %s; median %.0f ms\n", s.name, s.heartbeat, s.window, strings.Join(parts, " "), med)
		results = append(results, fmt.Sprintf("RESULT failover_outage_%s_ms %.0f", s.name, med))
	}
	for _, r := range results {
		fmt.Println(r)
	}
	return nil
}

type failoverAgent struct {
	cmd       *exec.Cmd
	dir, name string
}

// startFailoverAgent runs an agent: enrolling with token, or with the certificate in dir when
// token is empty. The API names an agent's placements by its name (compute_id).
func startFailoverAgent(bin, server, token, dir, name string) (*failoverAgent, error) {
	args := []string{"agent", "--server", server, "--data-dir", dir, "--name", name, "--log-level", "error"}
	if token != "" {
		args = append(args, "--join-token", token)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &failoverAgent{cmd: cmd, dir: dir, name: name}, nil
}

func measureFailover(bin, dir string, backendPort int, s failoverSetting, kills int) ([]float64, error) {
	srv, err := benchkit.StartServer(bin, filepath.Join(dir, "data"), "--auth", "noauth", "--embedded-agent=false", "--log-level", "warn",
		"--agent-heartbeat", s.heartbeat.String(), "--agent-dead-after", s.window.String())
	if err != nil {
		return nil, err
	}
	defer benchkit.Stop(srv.Cmd)
	agents := make([]*failoverAgent, 2)
	for i := range agents {
		name := fmt.Sprintf("node-%d", i+1)
		tok, err := exec.Command(bin, "agent-token", "--data-dir", filepath.Join(dir, "data"), "--name", name).Output()
		if err != nil {
			return nil, fmt.Errorf("agent-token: %w", err)
		}
		if agents[i], err = startFailoverAgent(bin, srv.AgentURL, strings.TrimSpace(string(tok)), filepath.Join(dir, name), name); err != nil {
			return nil, err
		}
	}
	defer func() {
		for _, a := range agents {
			if a != nil {
				benchkit.Stop(a.cmd)
			}
		}
	}()
	c := benchkit.NewClient(srv.URL)
	time.Sleep(2 * s.heartbeat) // heartbeats mark both agents up

	var sub struct {
		Subnets []struct{ ID string } `json:"subnets"`
	}
	if err := c.Do("GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200, &sub); err != nil || len(sub.Subnets) != 1 {
		return nil, fmt.Errorf("private-subnet: %v", err)
	}
	var lb struct {
		Loadbalancer struct {
			ID         string `json:"id"`
			VIPAddress string `json:"vip_address"`
		}
	}
	port := 18480
	if err := c.Do("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "failover", "vip_subnet_id": sub.Subnets[0].ID,
		"listeners": []any{map[string]any{"protocol": "HTTP", "protocol_port": port, "default_pool": map[string]any{
			"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
			"members": []any{map[string]any{"address": "127.0.0.1", "protocol_port": backendPort}}}}}}}, 201, &lb); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.WaitActive(ctx, lb.Loadbalancer.ID); err != nil {
		return nil, err
	}
	url := "http://" + net.JoinHostPort(lb.Loadbalancer.VIPAddress, strconv.Itoa(port)) + "/"
	probe := &http.Client{Timeout: 200 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	ok := func() bool {
		resp, err := probe.Get(url)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	waitOK := func(limit time.Duration) error {
		for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if ok() {
				return nil
			}
		}
		return fmt.Errorf("no traffic through %s within %v", url, limit)
	}
	if err := waitOK(20 * time.Second); err != nil {
		return nil, err
	}
	var outages []float64
	for k := 0; k < kills; k++ {
		var amps struct {
			Amphorae []struct {
				ComputeID string `json:"compute_id"`
				Status    string `json:"status"`
			} `json:"amphorae"`
		}
		if err := c.Do("GET", "/v2/octavia/amphorae?loadbalancer_id="+lb.Loadbalancer.ID, nil, 200, &amps); err != nil || len(amps.Amphorae) != 1 {
			return nil, fmt.Errorf("placement: %v %+v", err, amps)
		}
		serving := -1
		for i, a := range agents {
			if a.name == amps.Amphorae[0].ComputeID {
				serving = i
			}
		}
		if serving < 0 {
			return nil, fmt.Errorf("placement on unknown agent %s", amps.Amphorae[0].ComputeID)
		}
		victim := agents[serving]
		victim.cmd.Process.Kill()
		victim.cmd.Wait()
		killed := time.Now()
		for deadline := killed.Add(30 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("kill %d: traffic did not resume", k+1)
			}
		}
		outages = append(outages, float64(time.Since(killed).Milliseconds()))
		// Bring the killed agent back (it re-registers with its certificate) and let the
		// load balancer settle before the next kill.
		if agents[serving], err = startFailoverAgent(bin, srv.AgentURL, "", victim.dir, victim.name); err != nil {
			return nil, err
		}
		if err := c.WaitActive(ctx, lb.Loadbalancer.ID); err != nil {
			return nil, err
		}
		time.Sleep(2*s.window + 2*s.heartbeat)
		if err := waitOK(10 * time.Second); err != nil {
			return nil, err
		}
	}
	return outages, nil
}
