package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine"
)

// The dataplane suite measures the native engine against HAProxy 2.6 and
// the direct path on loopback: HTTP keep-alive req/s, CPU efficiency,
// p50/p99, close-mode rate and TCP bulk throughput (wrk and a bulk client,
// targets interleaved over several runs), then the time to apply 1,000
// listeners and their idle memory in a fresh process.
//
// TCP bulk is one stream at a time of -bulk-dur, each proxied stream between
// two direct ones; tcp_throughput_ratio_direct is the median over all runs of
// fulcrum's stream ÷ the mean of the direct streams either side of it. (It was
// each run's fulcrum stream ÷ that run's single direct stream, taken up to two
// streams apart and always first: on a shared 2-core machine the ratio swung
// 0.47–0.91 from one run to the next with what else ran meanwhile.)

// runDataplane is the dataplane suite.
// The engine with its reads-after-readiness off (a benchmark knob of
// internal/engine/proxy), on ports of its own.
const (
	fuNoWaitHTTP  = "127.0.0.1:18283"
	fuNoWaitTCP   = "127.0.0.1:18293"
	noReadWaitEnv = "FULCRUM_BENCH_NO_READ_WAIT"
	// The engine with its GOMAXPROCS sized to the load (internal/engine/procs, off by
	// default, on with FULCRUM_ENGINE_SIZE_PROCS=1).
	fuSizedHTTP = "127.0.0.1:18285"
	fuSizedTCP  = "127.0.0.1:18295"
	sizeProcEnv = "FULCRUM_ENGINE_SIZE_PROCS"
	// The -before binary's listeners.
	fuBeforeHTTP = "127.0.0.1:18284"
	fuBeforeTCP  = "127.0.0.1:18294"
)

func runDataplane(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dataplane", flag.ContinueOnError)
	runs := fs.Int("runs", envInt("RUNS", 5), "interleaved runs per target (default from $RUNS)")
	dur := fs.Duration("dur", envSeconds("DUR", 6*time.Second), "duration of each keep-alive wrk run (default from $DUR, in seconds)")
	closeDur := fs.Duration("close-dur", 4*time.Second, "duration of each close-mode wrk run")
	bulkDur := fs.Duration("bulk-dur", 2*time.Second, "duration of each TCP bulk stream")
	bulkRounds := fs.Int("bulk-rounds", 2, "TCP bulk streams per proxy per run, each between two direct ones")
	conns := fs.Int("c", 64, "wrk connections")
	outDir := fs.String("out", "bench/out", "directory for the fulcrum binary, configs and logs")
	before := fs.String("before", os.Getenv("BEFORE"), "another fulcrum binary (main's, say) measured beside in the keep-alive runs (default from $BEFORE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fulcrum, err := prepareProxies(*outDir, false)
	if err != nil {
		return err
	}
	fulcrumBin := &fulcrum
	stop, err := startBackends([]string{httpA, httpB}, sinkAddr)
	if err != nil {
		return fmt.Errorf("backends: %w", err)
	}
	defer stop()

	haCfg := filepath.Join(*outDir, "haproxy.cfg")
	if err := os.WriteFile(haCfg, []byte(haproxyConfig()), 0o644); err != nil {
		return err
	}
	fuCfg := filepath.Join(*outDir, "fulcrum.json")
	b, _ := json.MarshalIndent(fulcrumConfig(), "", "  ")
	if err := os.WriteFile(fuCfg, b, 0o644); err != nil {
		return err
	}
	ha, err := startProc(ctx, filepath.Join(*outDir, "haproxy.log"), "haproxy", "-db", "-f", haCfg)
	if err != nil {
		return err
	}
	defer ha.stop()
	fu, err := startProc(ctx, filepath.Join(*outDir, "fulcrum.log"), *fulcrumBin, "engine", "--config", fuCfg, "--log-level", "warn")
	if err != nil {
		return err
	}
	defer fu.stop()
	// The same engine with its HTTP path's raw syscalls off (a benchmark knob of
	// internal/engine/proxy), on ports of its own: what that change buys, measured in
	// the same runs (keep-alive only).
	stockCfg := filepath.Join(*outDir, "fulcrum-stock.json")
	b, _ = json.MarshalIndent(fulcrumConfigAt(fuStockHTTP, fuStockTCP), "", "  ")
	if err := os.WriteFile(stockCfg, b, 0o644); err != nil {
		return err
	}
	os.Setenv(noRawSyscallsEnv, "1")
	stock, err := startProc(ctx, filepath.Join(*outDir, "fulcrum-stock.log"), *fulcrumBin, "engine", "--config", stockCfg, "--log-level", "warn")
	os.Unsetenv(noRawSyscallsEnv)
	if err != nil {
		return err
	}
	defer stock.stop()
	// And the engine with only its reads-after-readiness off (FULCRUM_BENCH_NO_READ_WAIT:
	// every read tried first, parking on EAGAIN): what waiting for readiness buys.
	noWaitCfg := filepath.Join(*outDir, "fulcrum-nowait.json")
	b, _ = json.MarshalIndent(fulcrumConfigAt(fuNoWaitHTTP, fuNoWaitTCP), "", "  ")
	if err := os.WriteFile(noWaitCfg, b, 0o644); err != nil {
		return err
	}
	os.Setenv(noReadWaitEnv, "1")
	noWait, err := startProc(ctx, filepath.Join(*outDir, "fulcrum-nowait.log"), *fulcrumBin, "engine", "--config", noWaitCfg, "--log-level", "warn")
	os.Unsetenv(noReadWaitEnv)
	if err != nil {
		return err
	}
	defer noWait.stop()
	// And the engine with GOMAXPROCS sized to its load: what that buys.
	sizedCfg := filepath.Join(*outDir, "fulcrum-sized.json")
	b, _ = json.MarshalIndent(fulcrumConfigAt(fuSizedHTTP, fuSizedTCP), "", "  ")
	if err := os.WriteFile(sizedCfg, b, 0o644); err != nil {
		return err
	}
	os.Setenv(sizeProcEnv, "1")
	sized, err := startProc(ctx, filepath.Join(*outDir, "fulcrum-sized.log"), *fulcrumBin, "engine", "--config", sizedCfg, "--log-level", "warn")
	os.Unsetenv(sizeProcEnv)
	if err != nil {
		return err
	}
	defer sized.stop()
	ports := []string{httpA, httpB, sinkAddr, haHTTP, haTCP, fuHTTP, fuTCP, fuStockHTTP, fuNoWaitHTTP, fuSizedHTTP}
	// -before: another binary on ports of its own, in the same keep-alive runs, so that a
	// change is measured against the engine it changes on the same machine state.
	var beforePid int
	if *before != "" {
		beforeCfg := filepath.Join(*outDir, "fulcrum-before.json")
		b, _ = json.MarshalIndent(fulcrumConfigAt(fuBeforeHTTP, fuBeforeTCP), "", "  ")
		if err := os.WriteFile(beforeCfg, b, 0o644); err != nil {
			return err
		}
		bp, err := startProc(ctx, filepath.Join(*outDir, "fulcrum-before.log"), *before, "engine", "--config", beforeCfg, "--log-level", "warn")
		if err != nil {
			return err
		}
		defer bp.stop()
		beforePid = bp.cmd.Process.Pid
		ports = append(ports, fuBeforeHTTP)
	}
	for _, a := range ports {
		if err := waitPort(a, 10*time.Second); err != nil {
			return err
		}
	}
	fmt.Printf("machine: %d CPUs, load average %s; wrk -t2 -c%d; keep-alive %v, close mode %v, bulk %v; %d interleaved runs\n",
		numCPU(), loadAvg(), *conns, *dur, *closeDur, *bulkDur, *runs)

	type target struct {
		name     string
		http     string
		tcp      string
		pid      int
		hasProxy bool
		kaOnly   bool // keep-alive runs only
	}
	targets := []target{
		{"direct", httpA, sinkAddr, 0, false, false},
		{"haproxy", haHTTP, haTCP, ha.cmd.Process.Pid, true, false},
		{"fulcrum", fuHTTP, fuTCP, fu.cmd.Process.Pid, true, false},
		{"stock", fuStockHTTP, "", stock.cmd.Process.Pid, true, true},
		{"nowait", fuNoWaitHTTP, "", noWait.cmd.Process.Pid, true, true},
		{"sized", fuSizedHTTP, "", sized.cmd.Process.Pid, true, true},
	}
	if beforePid != 0 {
		targets = append(targets, target{"before", fuBeforeHTTP, "", beforePid, true, true})
	}
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	ka := map[string][]sample{}
	cl := map[string][]sample{}
	tp := map[string][]float64{}
	bulkRatio := map[string][]float64{} // each proxied bulk stream ÷ the direct streams either side of it
	// Warm up every path once (connection pools, page cache of binaries).
	for _, t := range targets {
		wrk(ctx, t.http, 2*time.Second, *conns, false)
	}
	for r := 1; r <= *runs; r++ {
		// Alternate the order of the two proxies run by run, so neither
		// always follows the other on a machine whose speed drifts.
		order := append([]target(nil), targets...)
		if r%2 == 0 {
			var proxies []int
			for i, t := range order {
				if t.hasProxy {
					proxies = append(proxies, i)
				}
			}
			for i, j := 0, len(proxies)-1; i < j; i, j = i+1, j-1 {
				order[proxies[i]], order[proxies[j]] = order[proxies[j]], order[proxies[i]]
			}
		}
		for _, t := range order {
			s, err := measure(ctx, t.pid, func() (sample, error) { return wrk(ctx, t.http, *dur, *conns, false) })
			if err != nil {
				return fmt.Errorf("%s keep-alive: %w", t.name, err)
			}
			ka[t.name] = append(ka[t.name], s)
			fmt.Printf("run %d %-8s keep-alive %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  proxy CPU %5.2f s\n", r, t.name, s.rps, s.p50, s.p99, s.cpu)
		}
		for _, t := range order {
			if t.kaOnly {
				continue
			}
			s, err := measure(ctx, t.pid, func() (sample, error) { return wrk(ctx, t.http, *closeDur, *conns, true) })
			if err != nil {
				return fmt.Errorf("%s close mode: %w", t.name, err)
			}
			cl[t.name] = append(cl[t.name], s)
			fmt.Printf("run %d %-8s close mode %9.0f req/s  p99 %6.2f ms  proxy CPU %5.2f s\n", r, t.name, s.rps, s.p99, s.cpu)
		}
		// TCP bulk: every proxied stream sits between two direct ones (direct, proxy,
		// direct, other proxy, direct, ... for -bulk-rounds rounds) and is compared with
		// the mean of those two, so a proxy and the direct path it is divided by are
		// measured seconds apart, whatever the rest of the machine does meanwhile.
		var seq []target
		for k := 0; k < *bulkRounds; k++ {
			for _, t := range order {
				if t.hasProxy && !t.kaOnly {
					seq = append(seq, targets[0], t)
				}
			}
		}
		seq = append(seq, targets[0])
		gs := make([]float64, len(seq))
		for i, t := range seq {
			g, err := bulk(t.tcp, *bulkDur, 200<<30)
			if err != nil {
				return fmt.Errorf("%s bulk: %w", t.name, err)
			}
			gs[i] = g
			tp[t.name] = append(tp[t.name], g)
			fmt.Printf("run %d %-8s TCP bulk %6.2f GB/s\n", r, t.name, g)
		}
		for i, t := range seq {
			if t.hasProxy {
				bulkRatio[t.name] = append(bulkRatio[t.name], ratio(gs[i], (gs[i-1]+gs[i+1])/2))
			}
		}
	}

	fmt.Printf("load average after the runs: %s (other work on the machine skews the figures)\n", loadAvg())

	// Apply 1,000 listeners in a fresh process.
	out, err := exec.CommandContext(ctx, self, "dataplane-apply", "-n", "1000").CombinedOutput()
	if err != nil {
		return fmt.Errorf("apply measurement: %v\n%s", err, out)
	}
	var applyS, kib float64
	for _, line := range strings.Split(string(out), "\n") {
		fmt.Sscanf(line, "apply_seconds %f", &applyS)
		fmt.Sscanf(line, "idle_kib_per_listener %f", &kib)
	}
	fmt.Print(string(out))

	field := func(ss []sample, f func(sample) float64) float64 {
		var xs []float64
		for _, s := range ss {
			xs = append(xs, f(s))
		}
		return median(xs)
	}
	eff := func(s sample) float64 {
		if s.cpu <= 0 {
			return 0
		}
		return s.reqs / s.cpu
	}
	fmt.Println()
	fmt.Printf("%-8s %12s %9s %9s %12s %12s %10s\n", "medians", "keep-alive/s", "p50 ms", "p99 ms", "req/CPU-s", "close/s", "bulk GB/s")
	for _, t := range targets {
		e := "-"
		if t.hasProxy {
			e = fmt.Sprintf("%.0f", field(ka[t.name], eff))
		}
		fmt.Printf("%-8s %12.0f %9.2f %9.2f %12s %12.0f %10.2f\n", t.name, field(ka[t.name], func(s sample) float64 { return s.rps }),
			field(ka[t.name], func(s sample) float64 { return s.p50 }), field(ka[t.name], func(s sample) float64 { return s.p99 }),
			e, field(cl[t.name], func(s sample) float64 { return s.rps }), median(tp[t.name]))
	}
	// Each ratio is the median of the per-run ratios: the targets of one run
	// share the machine's state of that moment, which a shared, noisy
	// machine changes from run to run. The ratio of the medians is printed
	// beside it for reference.
	paired := func(a, b []sample, f func(sample) float64) float64 {
		var xs []float64
		for i := range a {
			if i < len(b) {
				xs = append(xs, ratio(f(a[i]), f(b[i])))
			}
		}
		return median(xs)
	}
	rps := func(s sample) float64 { return s.rps }
	p99 := func(s sample) float64 { return s.p99 }
	fmt.Println()
	fmt.Printf("ratio of medians: req/s %.3f, req/CPU-s %.3f, p99 %.3f, TCP bulk vs direct %.3f, close/s %.3f\n",
		ratio(field(ka["fulcrum"], rps), field(ka["haproxy"], rps)), ratio(field(ka["fulcrum"], eff), field(ka["haproxy"], eff)),
		ratio(field(ka["fulcrum"], p99), field(ka["haproxy"], p99)), ratio(median(tp["fulcrum"]), median(tp["direct"])),
		ratio(field(cl["fulcrum"], rps), field(cl["haproxy"], rps)))
	fmt.Printf("RESULT http_rps_ratio_haproxy %.3f\n", paired(ka["fulcrum"], ka["haproxy"], rps))
	fmt.Printf("RESULT http_cpu_eff_ratio_haproxy %.3f\n", paired(ka["fulcrum"], ka["haproxy"], eff))
	fmt.Printf("RESULT http_p99_ratio_haproxy %.3f\n", paired(ka["fulcrum"], ka["haproxy"], p99))
	fmt.Printf("TCP bulk vs the direct streams either side: fulcrum %s, haproxy %s\n", fmtRatios(bulkRatio["fulcrum"]), fmtRatios(bulkRatio["haproxy"]))
	fmt.Printf("RESULT tcp_throughput_ratio_direct %.3f\n", median(bulkRatio["fulcrum"]))
	fmt.Printf("RESULT conn_rate_ratio_haproxy %.3f\n", paired(cl["fulcrum"], cl["haproxy"], rps))
	fmt.Printf("RESULT http_raw_syscalls_rps_gain %.3f\n", paired(ka["fulcrum"], ka["stock"], rps))
	fmt.Printf("RESULT http_raw_syscalls_cpu_eff_gain %.3f\n", paired(ka["fulcrum"], ka["stock"], eff))
	fmt.Printf("RESULT http_read_wait_rps_gain %.3f\n", paired(ka["fulcrum"], ka["nowait"], rps))
	fmt.Printf("RESULT http_read_wait_cpu_eff_gain %.3f\n", paired(ka["fulcrum"], ka["nowait"], eff))
	fmt.Printf("RESULT http_sized_procs_rps_gain %.3f\n", paired(ka["sized"], ka["fulcrum"], rps))
	fmt.Printf("RESULT http_sized_procs_cpu_eff_gain %.3f\n", paired(ka["sized"], ka["fulcrum"], eff))
	fmt.Printf("RESULT http_sized_procs_p99_ratio %.3f\n", paired(ka["sized"], ka["fulcrum"], p99))
	if beforePid != 0 {
		fmt.Printf("before (%s) against HAProxy: req/s %.3f, req/CPU-s %.3f, p99 %.3f (medians of the runs' paired ratios)\n", *before,
			paired(ka["before"], ka["haproxy"], rps), paired(ka["before"], ka["haproxy"], eff), paired(ka["before"], ka["haproxy"], p99))
		fmt.Printf("RESULT http_rps_gain_before %.3f\n", paired(ka["fulcrum"], ka["before"], rps))
		fmt.Printf("RESULT http_cpu_eff_gain_before %.3f\n", paired(ka["fulcrum"], ka["before"], eff))
		fmt.Printf("RESULT http_p99_ratio_before %.3f\n", paired(ka["fulcrum"], ka["before"], p99))
	}
	fmt.Printf("RESULT apply_1000_listeners_s %.3f\n", applyS)
	fmt.Printf("RESULT idle_kib_per_listener %.1f\n", kib)
	return nil
}

// fmtRatios prints ratios to two places, in the order measured.
func fmtRatios(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, " ")
}

func haproxyConfig() string {
	return fmt.Sprintf(`global
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 50s
    timeout server 50s
    option http-keep-alive
frontend fe_http
    bind %s
    default_backend be_http
backend be_http
    balance roundrobin
    server a %s
    server b %s
frontend fe_tcp
    mode tcp
    bind %s
    default_backend be_tcp
backend be_tcp
    mode tcp
    option splice-auto
    server sink %s
`, haHTTP, httpA, httpB, haTCP, sinkAddr)
}

func fulcrumConfig() *dataplane.Config { return fulcrumConfigAt(fuHTTP, fuTCP) }

// fulcrumConfigAt is the bench's engine config with its HTTP and TCP listeners on
// httpAddr and tcpAddr.
func fulcrumConfigAt(httpAddr, tcpAddr string) *dataplane.Config {
	l := func(id string, proto dataplane.Protocol, addr, pool string) dataplane.Listener {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		return dataplane.Listener{ID: id, LoadBalancerID: "bench", Protocol: proto, Addresses: []string{host}, ProtocolPort: p,
			DefaultPoolID: pool, ConnectionLimit: -1, TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000}
	}
	m := func(id, addr string) dataplane.Member {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		return dataplane.Member{ID: id, Address: host, ProtocolPort: p, Weight: 1, AdminStateUp: true}
	}
	return &dataplane.Config{Version: 1,
		Listeners: []dataplane.Listener{l("http", dataplane.ProtocolHTTP, httpAddr, "web"), l("tcp", dataplane.ProtocolTCP, tcpAddr, "sink")},
		Pools: []dataplane.Pool{
			{ID: "web", Protocol: dataplane.ProtocolHTTP, Algorithm: dataplane.RoundRobin, Members: []dataplane.Member{m("a", httpA), m("b", httpB)}},
			{ID: "sink", Protocol: dataplane.ProtocolTCP, Algorithm: dataplane.RoundRobin, Members: []dataplane.Member{m("s", sinkAddr)}},
		}}
}

// runDataplaneApply times applying n HTTP listeners (each with its own two-member pool with a TCP
// health monitor) to an empty engine and reports the idle memory they cost: the larger of
// the growth of the process's resident set and of the Go runtime's heap+stacks, per
// listener.
func runDataplaneApply(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dataplane-apply", flag.ContinueOnError)
	n := fs.Int("n", 1000, "listeners")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := &dataplane.Config{Version: 1}
	for i := 0; i < *n; i++ {
		id := fmt.Sprintf("l%04d", i)
		addr := fmt.Sprintf("127.1.%d.%d", i/250, 1+i%250)
		cfg.Listeners = append(cfg.Listeners, dataplane.Listener{ID: id, LoadBalancerID: "lb", Protocol: dataplane.ProtocolHTTP,
			Addresses: []string{addr}, ProtocolPort: 20000 + i%20, DefaultPoolID: "p" + id, ConnectionLimit: -1,
			TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000})
		cfg.Pools = append(cfg.Pools, dataplane.Pool{ID: "p" + id, Protocol: dataplane.ProtocolHTTP, Algorithm: dataplane.RoundRobin,
			Members: []dataplane.Member{
				{ID: "a" + id, Address: "127.0.0.1", ProtocolPort: 9, Weight: 1, AdminStateUp: true},
				{ID: "b" + id, Address: "127.0.0.1", ProtocolPort: 10, Weight: 1, AdminStateUp: true},
			},
			HealthMonitor: &dataplane.HealthMonitor{Type: dataplane.MonitorTCP, Delay: 3600, Timeout: 1, MaxRetries: 1, MaxRetriesDown: 3, AdminStateUp: true}})
	}
	e := engine.New(engine.Options{})
	defer e.Close()
	time.Sleep(200 * time.Millisecond) // let the runtime settle before the baseline
	rss0, go0 := memory()
	start := time.Now()
	if err := e.Apply(ctx, cfg); err != nil {
		return err
	}
	applied := time.Since(start)
	time.Sleep(2 * time.Second) // first health probes run and finish
	rss1, go1 := memory()
	perRSS := float64(rss1-rss0) / 1024 / float64(*n)
	perGo := float64(go1-go0) / 1024 / float64(*n)
	fmt.Printf("apply_seconds %.3f\n", applied.Seconds())
	fmt.Printf("idle memory per listener: RSS %.1f KiB, Go heap+stacks %.1f KiB (%d listeners, %d goroutines)\n", perRSS, perGo, *n, runtime.NumGoroutine())
	fmt.Printf("idle_kib_per_listener %.1f\n", max(perRSS, perGo))
	return nil
}

func memory() (rss, goMem uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	goMem = ms.HeapInuse + ms.StackInuse
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			rss = kb * 1024
		}
	}
	return rss, goMem
}
