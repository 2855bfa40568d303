package main

// The control-ha suite measures the control plane on PostgreSQL. First,
// takeover: three servers share one PostgreSQL with one agent; the server
// that leads (holds the control lease) is SIGKILLed and a write to a load
// balancer is sent at once through another server; the time until that
// load balancer is ACTIVE again, five times (each kill hits the leader of
// the moment; the killed server is restarted in between). Then the API's
// latency with 10,000 load balancers stored, as the api suite measures it
// on SQLite. PostgreSQL is a private one (initdb + Unix socket), with its
// default, durable write settings.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/benchkit"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/pgtest"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

func runControlHA(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("control-ha", flag.ContinueOnError)
	runs := fs.Int("runs", 5, "leader kills (the median is reported)")
	lbs := fs.Int("lbs", 10000, "load balancers stored for the API latency")
	rounds := fs.Int("rounds", 5, "API measurement rounds (medians are reported)")
	samples := fs.Int("samples", 200, "requests per operation per round")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, bin, cleanup, err := benchkit.Workdir("fulcrum-controlha-")
	if err != nil {
		return err
	}
	defer cleanup()
	pg, err := pgtest.Launch(pgtest.Options{Durable: true})
	if err != nil {
		return err
	}
	defer pg.Stop()
	key := filepath.Join(dir, "master.key")
	raw := make([]byte, 32)
	rand.Read(raw)
	if err := os.WriteFile(key, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o600); err != nil {
		return err
	}
	if err := takeoverBench(ctx, bin, dir, pg, key, *runs); err != nil {
		return err
	}
	return apiBenchPG(ctx, bin, dir, pg, key, *lbs, *rounds, *samples)
}

// haServer is one server of the takeover bench, on fixed ports so that a
// restart answers where the agent looks for it.
type haServer struct {
	srv         *benchkit.Server
	args        []string
	api, agents string // host:port
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// stableAddr returns a loopback address that is free now, with a port
// below Linux's ephemeral range (32768 and up), so that a server restarted
// on it does not find it taken by an outgoing connection meanwhile.
func stableAddr() (string, error) {
	var b [2]byte
	for range 100 {
		rand.Read(b[:])
		port := 20000 + int(b[0])<<8%12000 + int(b[1])
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return ln.Addr().String(), nil
		}
	}
	return "", errors.New("no free port below 32768")
}

func (h *haServer) start(bin string) error {
	srv, err := benchkit.StartServer(bin, h.args[0], h.args[1:]...)
	if err != nil {
		return err
	}
	h.srv = srv
	return nil
}

func (h *haServer) kill() {
	h.srv.Cmd.Process.Signal(syscall.SIGKILL)
	h.srv.Cmd.Wait()
}

func takeoverBench(ctx context.Context, bin, dir string, pg *pgtest.Server, key string, runs int) error {
	if err := pg.CreateDatabase("takeover"); err != nil {
		return err
	}
	db := pg.URL("takeover")
	st, err := sqlstore.Open(ctx, sqlstore.Options{Driver: "postgres", DSN: db})
	if err != nil {
		return err
	}
	defer st.Close()
	servers := make([]*haServer, 3)
	var agentURLs []string
	for i := range servers {
		h := &haServer{}
		if h.api, err = stableAddr(); err != nil {
			return err
		}
		if h.agents, err = stableAddr(); err != nil {
			return err
		}
		h.args = []string{filepath.Join(dir, fmt.Sprintf("server-%d", i+1)), "--listen", h.api, "--agent-listen", h.agents,
			"--database", db, "--master-key-file", key, "--auth", "noauth", "--log-level", "warn"}
		if err := h.start(bin); err != nil {
			return err
		}
		defer func() { benchkit.Stop(h.srv.Cmd) }() // the process of the moment: a kill restarts it
		servers[i] = h
		agentURLs = append(agentURLs, "https://"+h.agents)
	}
	tok, err := exec.Command(bin, "agent-token", "--database", db, "--master-key-file", key, "--data-dir", filepath.Join(dir, "tokens"),
		"--name", "bench-agent").Output()
	if err != nil {
		return fmt.Errorf("agent-token: %w", err)
	}
	agent := exec.Command(bin, "agent", "--server", strings.Join(agentURLs, ","), "--join-token", strings.TrimSpace(string(tok)),
		"--data-dir", filepath.Join(dir, "agent"), "--name", "bench-agent", "--log-level", "warn")
	agent.Stderr = os.Stderr
	if err := agent.Start(); err != nil {
		return err
	}
	defer benchkit.Stop(agent)
	port, stopBackend, err := benchkit.Backend()
	if err != nil {
		return err
	}
	defer stopBackend()

	if err := waitAgentUp(ctx, st, "bench-agent"); err != nil {
		return err
	}
	c := benchkit.NewClient(servers[0].srv.URL)
	var subnets struct {
		Subnets []struct{ ID string }
	}
	if err := c.Do("GET", "/networking/v2.0/subnets?name=private-subnet", nil, 200, &subnets); err != nil || len(subnets.Subnets) != 1 {
		return fmt.Errorf("private-subnet: %v", err)
	}
	var lb struct{ Loadbalancer struct{ ID string } }
	if err := c.Do("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": "takeover",
		"vip_subnet_id": subnets.Subnets[0].ID}}, 201, &lb); err != nil {
		return err
	}
	id := lb.Loadbalancer.ID
	listenPort, err := freeAddr()
	if err != nil {
		return err
	}
	_, p, _ := net.SplitHostPort(listenPort)
	lp, _ := strconv.Atoi(p)
	var lis struct{ Listener struct{ ID string } }
	if err := c.Do("POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": id, "protocol": "HTTP",
		"protocol_port": lp}}, 201, &lis); err != nil {
		return err
	}
	var pool struct{ Pool struct{ ID string } }
	if err := c.Do("POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"listener_id": lis.Listener.ID, "protocol": "HTTP",
		"lb_algorithm": "ROUND_ROBIN"}}, 201, &pool); err != nil {
		return err
	}
	if err := c.Do("POST", "/v2/lbaas/pools/"+pool.Pool.ID+"/members", map[string]any{"member": map[string]any{"address": "127.0.0.1",
		"protocol_port": port}}, 201, nil); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	err = c.WaitActive(wctx, id)
	cancel()
	if err != nil {
		return fmt.Errorf("the first load balancer (is an agent up?): %w", err)
	}

	var took []float64
	for r := 1; r <= runs; r++ {
		leader, err := leaderOf(ctx, st, servers)
		if err != nil {
			return err
		}
		other := servers[(leader+1)%len(servers)]
		killed := time.Now()
		servers[leader].kill()
		wc := benchkit.NewClient(other.srv.URL)
		if err := wc.Do("PUT", "/v2/lbaas/loadbalancers/"+id, map[string]any{"loadbalancer": map[string]any{
			"description": fmt.Sprintf("run %d", r)}}, 200, nil); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err = wc.WaitActive(wctx, id)
		cancel()
		if err != nil {
			return err
		}
		ms := float64(time.Since(killed).Microseconds()) / 1000
		took = append(took, ms)
		fmt.Printf("run %d  leader server-%d SIGKILLed; the write through server-%d ACTIVE after %7.1f ms\n", r, leader+1, (leader+1)%len(servers)+1, ms)
		if err := servers[leader].start(bin); err != nil {
			return err
		}
		// Let the restarted server settle before the next kill.
		time.Sleep(2 * time.Second)
	}
	sort.Float64s(took)
	fmt.Printf("takeover: median of %d %.1f ms (min %.1f, max %.1f); lease TTL 1.5 s\n", runs, took[len(took)/2], took[0], took[len(took)-1])
	fmt.Printf("RESULT control_takeover_ms %.1f\n", took[len(took)/2])
	return nil
}

// waitAgentUp waits until the store has agent name UP.
func waitAgentUp(ctx context.Context, st store.Store, name string) error {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		up := false
		if err := st.View(ctx, func(tx store.Tx) error {
			list, err := tx.Agents().List(ctx, store.Query{Filters: []store.Filter{store.F("name", name), store.F("status", "UP")}})
			up = len(list) == 1
			return err
		}); err != nil {
			return err
		}
		if up {
			return nil
		}
	}
	return fmt.Errorf("agent %s not up within 60 s", name)
}

// leaderOf returns the index of the server holding the control lease (by
// the process id in its holder name), waiting for one to hold it.
func leaderOf(ctx context.Context, st store.Store, servers []*haServer) (int, error) {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var l store.Lease
		if err := st.View(ctx, func(tx store.Tx) error {
			var err error
			l, err = tx.Leases().Get(ctx, "control")
			return err
		}); err != nil {
			return 0, err
		}
		parts := strings.Split(l.Holder, "/")
		if l.Left <= 0 || len(parts) != 3 {
			continue
		}
		for i, s := range servers {
			if strconv.Itoa(s.srv.Cmd.Process.Pid) == parts[1] {
				return i, nil
			}
		}
	}
	return 0, errors.New("no server holds the control lease")
}

// apiBenchPG measures list and member create with nLB load balancers
// stored, on one server on PostgreSQL.
func apiBenchPG(ctx context.Context, bin, dir string, pg *pgtest.Server, key string, nLB, rounds, samples int) error {
	if err := pg.CreateDatabase("api"); err != nil {
		return err
	}
	srv, err := benchkit.StartServer(bin, filepath.Join(dir, "api"), "--database", pg.URL("api"), "--master-key-file", key,
		"--auth", "noauth", "--network", "noop", "--provider", "noop", "--log-level", "warn")
	if err != nil {
		return err
	}
	defer benchkit.Stop(srv.Cmd)
	c := benchkit.NewClient(srv.URL)
	fmt.Printf("storing %d load balancers ...\n", nLB)
	start := time.Now()
	ids := make([]string, nLB)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wc := benchkit.NewClient(srv.URL)
			for i := w; i < nLB; i += 8 {
				var out struct{ Loadbalancer struct{ ID string } }
				if err := wc.Do("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
					"name": fmt.Sprintf("bench-%05d", i), "vip_subnet_id": "6d7b0a60-6a7e-4c3a-9d1b-2f4f9d6c1e01", "tags": []string{"bench"}}}, 201, &out); err != nil {
					errs <- err
					return
				}
				ids[i] = out.Loadbalancer.ID
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	fmt.Printf("stored in %.1fs\n", time.Since(start).Seconds())
	// Measure the steady state: every load balancer ACTIVE, the
	// controller idle.
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		var out struct{ Loadbalancers []struct{ ID string } }
		if err := c.Do("GET", "/v2/lbaas/loadbalancers?provisioning_status=PENDING_CREATE&limit=1", nil, 200, &out); err != nil {
			return err
		}
		if len(out.Loadbalancers) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("load balancers still PENDING_CREATE after 5 minutes")
		}
	}
	fmt.Printf("all ACTIVE %.1fs after the first was stored\n", time.Since(start).Seconds())
	var pool struct{ Pool struct{ ID string } }
	if err := c.Do("POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"loadbalancer_id": ids[0], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201, &pool); err != nil {
		return err
	}
	ops := []string{"list100", "member_create"}
	p50s := map[string][]float64{}
	port := 1
	for r := 0; r < rounds; r++ {
		for _, op := range ops {
			var lat []float64
			for i := 0; i < samples; i++ {
				var err error
				t0 := time.Now()
				switch op {
				case "list100":
					err = c.Do("GET", "/v2/lbaas/loadbalancers?limit=100", nil, 200, nil)
				case "member_create":
					port++
					err = c.Do("POST", "/v2/lbaas/pools/"+pool.Pool.ID+"/members", map[string]any{"member": map[string]any{
						"address": "127.0.0.1", "protocol_port": port}}, 201, nil)
				}
				if err != nil {
					return err
				}
				lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
			}
			p50, p99 := benchkit.Pct(lat, 50), benchkit.Pct(lat, 99)
			p50s[op] = append(p50s[op], p50)
			fmt.Printf("round %d  %-14s p50 %7.2f ms  p99 %7.2f ms (PostgreSQL, %d load balancers)\n", r+1, op, p50, p99, nLB)
		}
	}
	fmt.Printf("RESULT api_member_create_p50_ms_pg %.2f\n", benchkit.Pct(p50s["member_create"], 50))
	fmt.Printf("RESULT api_list100_p50_ms_pg %.2f\n", benchkit.Pct(p50s["list100"], 50))
	return nil
}
