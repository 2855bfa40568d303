package main

// The api suite measures fulcrum's API latency with 1,000 load balancers
// stored. It builds and starts a real server (SQLite, noauth, noop provider)
// on a temporary data directory, drives it over loopback HTTP and prints
// medians over several rounds. Then it measures write throughput: 8
// concurrent clients creating members, on fresh servers with SQLite's group
// commit on and off (interleaved runs, medians).

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/benchkit"
)

func runAPI(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	lbs := fs.Int("lbs", 1000, "load balancers to store")
	rounds := fs.Int("rounds", 5, "measurement rounds (medians are reported)")
	samples := fs.Int("samples", 200, "requests per operation per round")
	writeRuns := fs.Int("write-runs", 3, "write-throughput runs per setting (group commit on, off), interleaved")
	writeSecs := fs.Float64("write-secs", 3, "seconds of member creates per write-throughput run")
	writeMax := fs.Int("write-max", 20000, "member creates at most per write-throughput run")
	clients := fs.Int("clients", 8, "concurrent clients of the write-throughput runs")
	writesOnly := fs.Bool("writes-only", false, "skip the latency rounds")
	nogroup := fs.Bool("nogroup", true, "also measure with group commit off")
	bin := fs.String("bin", "", "a fulcrum binary to measure (default: built from this checkout)")
	base := fs.String("base", "", "a second fulcrum binary (e.g. main's) measured in the same interleaved runs, for a before/after pair")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*writesOnly {
		for i, b := range apiBins(*bin, *base) {
			if err := apiBench(ctx, b, i == 1, *lbs, *rounds, *samples); err != nil {
				return err
			}
		}
	}
	return apiWrites(ctx, *bin, *base, *nogroup, *writeRuns, *clients, time.Duration(*writeSecs*float64(time.Second)), *writeMax)
}

// apiBins lists the binaries a run measures: bin ("" for this checkout's),
// then base if given.
func apiBins(bin, base string) []string {
	if base == "" {
		return []string{bin}
	}
	return []string{bin, base}
}

// noGroupCommitEnv turns the store's group commit off in the server it is
// set for (internal/store/sqlstore, a benchmark knob).
const noGroupCommitEnv = "FULCRUM_BENCH_NO_GROUP_COMMIT"

// apiWrites prints api_writes_per_s: clients concurrent clients, each
// creating members in a pool of its own load balancer through the API of a
// fresh server (SQLite, default settings), for dur or max creates, whichever
// ends first; the same with group commit off; runs interleaved, medians.
// With base, every run is also made with that binary, interleaved, and its
// figures are printed with the suffix _base beside the ratios.
func apiWrites(ctx context.Context, bin, base string, nogroup bool, runs, clients int, dur time.Duration, max int) error {
	dir, built, cleanup, err := benchkit.Workdir("fulcrum-apiwrites-")
	if err != nil {
		return err
	}
	defer cleanup()
	if bin == "" {
		bin = built
	}
	type figures struct{ on, off, cpuOn, cpuOff []float64 }
	bins := apiBins(bin, base)
	figs := make([]figures, len(bins))
	for r := 0; r < runs; r++ {
		for _, group := range []bool{true, false} {
			if !group && !nogroup {
				continue
			}
			for b, path := range bins {
				data := filepath.Join(dir, fmt.Sprintf("data-%d-%v-%d", r, group, b))
				rate, cpu, err := apiWritesRun(ctx, path, data, clients, dur, max, group)
				os.RemoveAll(data)
				if err != nil {
					return err
				}
				name := "group commit"
				f := &figs[b]
				if group {
					f.on, f.cpuOn = append(f.on, rate), append(f.cpuOn, cpu)
				} else {
					name = "no group commit"
					f.off, f.cpuOff = append(f.off, rate), append(f.cpuOff, cpu)
				}
				who := ""
				if b == 1 {
					who = " (base)"
				}
				fmt.Printf("writes run %d%s  %-16s %8.0f member creates/s (%d clients), server CPU %.2f ms per create\n", r+1, who, name, rate, clients, cpu)
			}
		}
	}
	for b, f := range figs {
		suffix, who := "", ""
		if b == 1 {
			suffix, who = "_base", " (base "+base+")"
		}
		medOn, medOff := benchkit.Pct(f.on, 50), benchkit.Pct(f.off, 50)
		fmt.Printf("median of %d runs%s: %.0f/s with group commit, %.0f/s without\n", runs, who, medOn, medOff)
		fmt.Printf("server CPU per member create (median)%s: %.2f ms with group commit, %.2f ms without\n", who, benchkit.Pct(f.cpuOn, 50), benchkit.Pct(f.cpuOff, 50))
		fmt.Printf("RESULT api_write_cpu_ms%s %.2f\n", suffix, benchkit.Pct(f.cpuOn, 50))
		fmt.Printf("RESULT api_writes_per_s%s %.0f\n", suffix, medOn)
		if !nogroup {
			continue
		}
		fmt.Printf("RESULT api_writes_per_s_nogroup%s %.0f\n", suffix, medOff)
		if medOff > 0 {
			fmt.Printf("RESULT api_writes_ratio_nogroup%s %.2f\n", suffix, medOn/medOff)
		}
	}
	if len(figs) == 2 {
		if r := benchkit.Pct(figs[1].on, 50); r > 0 {
			fmt.Printf("RESULT api_writes_ratio_base %.2f\n", benchkit.Pct(figs[0].on, 50)/r)
		}
		if c := benchkit.Pct(figs[1].cpuOn, 50); c > 0 {
			fmt.Printf("RESULT api_write_cpu_ratio_base %.2f\n", benchkit.Pct(figs[0].cpuOn, 50)/c)
		}
	}
	return nil
}

// apiWritesRun returns member creates per second (while the clients send)
// and the server's CPU milliseconds per create (until all are applied).
func apiWritesRun(ctx context.Context, bin, data string, clients int, dur time.Duration, max int, group bool) (float64, float64, error) {
	// The server inherits the environment it starts with.
	if group {
		os.Unsetenv(noGroupCommitEnv)
	} else {
		os.Setenv(noGroupCommitEnv, "1")
	}
	metricsAddr, err := freeLoopbackAddr()
	if err != nil {
		return 0, 0, err
	}
	srv, err := benchkit.StartServer(bin, data, "--auth", "noauth", "--network", "noop", "--provider", "noop",
		"--embedded-agent=false", "--log-level", "warn", "--metrics-listen", metricsAddr)
	os.Unsetenv(noGroupCommitEnv)
	if err != nil {
		return 0, 0, err
	}
	defer benchkit.Stop(srv.Cmd)
	c := benchkit.NewClient(srv.URL)
	c.HC.Transport.(*http.Transport).MaxIdleConnsPerHost = clients

	// One load balancer and pool per client, ACTIVE before the clock starts.
	pools, lbs := make([]string, clients), make([]string, clients)
	for i := range pools {
		var l struct{ Loadbalancer struct{ ID string } }
		if err := c.Do("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
			"name": fmt.Sprintf("writes-%d", i), "vip_subnet_id": "6d7b0a60-6a7e-4c3a-9d1b-2f4f9d6c1e01"}}, 201, &l); err != nil {
			return 0, 0, err
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := c.WaitActive(wctx, l.Loadbalancer.ID)
		cancel()
		if err != nil {
			return 0, 0, err
		}
		var p struct{ Pool struct{ ID string } }
		if err := c.Do("POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
			"loadbalancer_id": l.Loadbalancer.ID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201, &p); err != nil {
			return 0, 0, err
		}
		pools[i], lbs[i] = p.Pool.ID, l.Loadbalancer.ID
	}

	cpu0, err := procCPU(srv.Cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	counts0 := serverCounts(metricsAddr)
	var done atomic.Int64
	var firstErr error
	var errOnce sync.Once
	deadline := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for port := 1; time.Now().Before(deadline) && ctx.Err() == nil; port++ {
				if done.Add(1) > int64(max) {
					done.Add(-1)
					return
				}
				if err := c.Do("POST", "/v2/lbaas/pools/"+pools[i]+"/members", map[string]any{"member": map[string]any{
					"address": "127.0.0.1", "protocol_port": port}}, 201, nil); err != nil {
					done.Add(-1)
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return 0, 0, firstErr
	}
	// The server's CPU counts until every write is applied (each load
	// balancer ACTIVE again), not only while the clients send.
	for _, id := range lbs {
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := c.WaitActive(wctx, id)
		cancel()
		if err != nil {
			return 0, 0, err
		}
	}
	cpu1, err := procCPU(srv.Cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	n := float64(done.Load())
	counts1 := serverCounts(metricsAddr)
	fmt.Printf("  per member create: %.2f reconciles, %.2f store update transactions, %.2f views\n",
		(counts1[0]-counts0[0])/n, (counts1[1]-counts0[1])/n, (counts1[2]-counts0[2])/n)
	return n / elapsed.Seconds(), (cpu1 - cpu0).Seconds() * 1000 / n, nil
}

// freeLoopbackAddr returns a loopback address with a port free now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// serverCounts reads the server's reconciles, store update and view
// transactions so far from its /metrics (zeros when it cannot).
func serverCounts(addr string) [3]float64 {
	var out [3]float64
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(f[0], "fulcrum_reconcile_duration_seconds_count"):
			out[0] += v
		case strings.HasPrefix(f[0], "fulcrum_store_transactions_total{") && strings.Contains(f[0], `kind="update"`):
			out[1] += v
		case strings.HasPrefix(f[0], "fulcrum_store_transactions_total{") && strings.Contains(f[0], `kind="view"`):
			out[2] += v
		}
	}
	return out
}

// procCPU returns the user and system CPU time process pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name (which may hold spaces): state is
	// the first, utime and stime the 12th and 13th, in clock ticks.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %v %v", pid, err1, err2)
	}
	return time.Duration(u+st) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

// apiBench prints the latency rounds' figures of bin ("" for this
// checkout's); base marks the base binary of a before/after pair, whose
// RESULT names end in _base.
func apiBench(ctx context.Context, bin string, base bool, nLB, rounds, samples int) error {
	dir, built, cleanup, err := benchkit.Workdir("fulcrum-apibench-")
	if err != nil {
		return err
	}
	defer cleanup()
	if bin == "" {
		bin = built
	}
	suffix := ""
	if base {
		suffix = "_base"
		fmt.Printf("base binary %s\n", bin)
	}
	srv, err := benchkit.StartServer(bin, filepath.Join(dir, "data"), "--auth", "noauth", "--network", "noop", "--provider", "noop",
		"--embedded-agent=false", "--log-level", "warn")
	if err != nil {
		return err
	}
	defer benchkit.Stop(srv.Cmd)
	c := benchkit.NewClient(srv.URL)

	fmt.Printf("storing %d load balancers ...\n", nLB)
	start := time.Now()
	var ids []string
	for i := 0; i < nLB; i++ {
		var out struct{ Loadbalancer struct{ ID string } }
		err := c.Do("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
			"name": fmt.Sprintf("bench-%04d", i), "vip_subnet_id": "6d7b0a60-6a7e-4c3a-9d1b-2f4f9d6c1e01",
			"tags": []string{"bench"}}}, 201, &out)
		if err != nil {
			return err
		}
		ids = append(ids, out.Loadbalancer.ID)
	}
	fmt.Printf("stored in %.1fs\n", time.Since(start).Seconds())
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.WaitActive(ctx, ids[0]); err != nil {
		return err
	}
	var pool struct{ Pool struct{ ID string } }
	if err := c.Do("POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"loadbalancer_id": ids[0], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201, &pool); err != nil {
		return err
	}

	ops := []string{"list100", "show", "member_create"}
	med := map[string][][2]float64{}
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
				case "show":
					err = c.Do("GET", "/v2/lbaas/loadbalancers/"+ids[(i*7919)%len(ids)], nil, 200, nil)
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
			med[op] = append(med[op], [2]float64{p50, p99})
			fmt.Printf("round %d  %-14s p50 %7.2f ms  p99 %7.2f ms\n", r+1, op, p50, p99)
		}
	}
	fmt.Println()
	results := map[string]float64{}
	for _, op := range ops {
		var p50s, p99s []float64
		for _, v := range med[op] {
			p50s = append(p50s, v[0])
			p99s = append(p99s, v[1])
		}
		results[op+"_p50"] = benchkit.Pct(p50s, 50)
		results[op+"_p99"] = benchkit.Pct(p99s, 50)
		fmt.Printf("median of %d rounds  %-14s p50 %7.2f ms  p99 %7.2f ms\n", rounds, op, results[op+"_p50"], results[op+"_p99"])
	}
	fmt.Println("reference: real Octavia 11 on this kind of machine: list p50 86 ms, member create p50 222 ms")
	fmt.Printf("RESULT api_list100_p50_ms%s %.2f\n", suffix, results["list100_p50"])
	fmt.Printf("RESULT api_list100_p99_ms%s %.2f\n", suffix, results["list100_p99"])
	fmt.Printf("RESULT api_show_p50_ms%s %.2f\n", suffix, results["show_p50"])
	fmt.Printf("RESULT api_show_p99_ms%s %.2f\n", suffix, results["show_p99"])
	fmt.Printf("RESULT api_member_create_p50_ms%s %.2f\n", suffix, results["member_create_p50"])
	fmt.Printf("RESULT api_member_create_p99_ms%s %.2f\n", suffix, results["member_create_p99"])
	return nil
}
