package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

const (
	httpA, httpB = "127.0.0.1:18081", "127.0.0.1:18082"
	sinkAddr     = "127.0.0.1:18091"
	haHTTP       = "127.0.0.1:18181"
	haTCP        = "127.0.0.1:18191"
	fuHTTP       = "127.0.0.1:18281"
	fuTCP        = "127.0.0.1:18291"
)

type sample struct {
	rps, p50, p99, cpu, reqs float64 // cpu: proxy CPU seconds during the run
}

func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fulcrum := fs.String("fulcrum", "bench/out/fulcrum", "fulcrum binary")
	self := fs.String("self", os.Args[0], "this binary (for the apply measurement)")
	runs := fs.Int("runs", 3, "interleaved runs per target")
	dur := fs.Duration("dur", 6*time.Second, "duration of each keep-alive wrk run")
	closeDur := fs.Duration("close-dur", 4*time.Second, "duration of each close-mode wrk run")
	bulkDur := fs.Duration("bulk-dur", 3*time.Second, "duration of each TCP bulk run")
	conns := fs.Int("c", 64, "wrk connections")
	outDir := fs.String("out", "bench/out", "directory for configs and logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
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
	fu, err := startProc(ctx, filepath.Join(*outDir, "fulcrum.log"), *fulcrum, "engine", "--config", fuCfg, "--log-level", "warn")
	if err != nil {
		return err
	}
	defer fu.stop()
	for _, a := range []string{httpA, httpB, sinkAddr, haHTTP, haTCP, fuHTTP, fuTCP} {
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
	}
	targets := []target{
		{"direct", httpA, sinkAddr, 0, false},
		{"haproxy", haHTTP, haTCP, ha.cmd.Process.Pid, true},
		{"fulcrum", fuHTTP, fuTCP, fu.cmd.Process.Pid, true},
	}
	ka := map[string][]sample{}
	cl := map[string][]sample{}
	tp := map[string][]float64{}
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
			s, err := measure(ctx, t.pid, func() (sample, error) { return wrk(ctx, t.http, *closeDur, *conns, true) })
			if err != nil {
				return fmt.Errorf("%s close mode: %w", t.name, err)
			}
			cl[t.name] = append(cl[t.name], s)
			fmt.Printf("run %d %-8s close mode %9.0f req/s  p99 %6.2f ms  proxy CPU %5.2f s\n", r, t.name, s.rps, s.p99, s.cpu)
		}
		for _, t := range order {
			g, err := bulk(t.tcp, *bulkDur, 200<<30)
			if err != nil {
				return fmt.Errorf("%s bulk: %w", t.name, err)
			}
			tp[t.name] = append(tp[t.name], g)
			fmt.Printf("run %d %-8s TCP bulk %6.2f GB/s\n", r, t.name, g)
		}
	}

	fmt.Printf("load average after the runs: %s (other work on the machine skews the figures)\n", loadAvg())

	// Apply 1,000 listeners in a fresh process.
	out, err := exec.CommandContext(ctx, *self, "apply", "-n", "1000").CombinedOutput()
	if err != nil {
		return fmt.Errorf("apply measurement: %v\n%s", err, out)
	}
	var applyS, kib float64
	for _, line := range strings.Split(string(out), "\n") {
		fmt.Sscanf(line, "apply_seconds %f", &applyS)
		fmt.Sscanf(line, "idle_kib_per_listener %f", &kib)
	}
	fmt.Print(string(out))

	med := func(xs []float64) float64 {
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		if len(s) == 0 {
			return 0
		}
		return s[len(s)/2]
	}
	field := func(ss []sample, f func(sample) float64) float64 {
		var xs []float64
		for _, s := range ss {
			xs = append(xs, f(s))
		}
		return med(xs)
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
			e, field(cl[t.name], func(s sample) float64 { return s.rps }), med(tp[t.name]))
	}
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
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
		return med(xs)
	}
	rps := func(s sample) float64 { return s.rps }
	p99 := func(s sample) float64 { return s.p99 }
	bulkRatios := make([]float64, 0, len(tp["fulcrum"]))
	for i := range tp["fulcrum"] {
		bulkRatios = append(bulkRatios, ratio(tp["fulcrum"][i], tp["direct"][i]))
	}
	fmt.Println()
	fmt.Printf("ratio of medians: req/s %.3f, req/CPU-s %.3f, p99 %.3f, TCP bulk vs direct %.3f, close/s %.3f\n",
		ratio(field(ka["fulcrum"], rps), field(ka["haproxy"], rps)), ratio(field(ka["fulcrum"], eff), field(ka["haproxy"], eff)),
		ratio(field(ka["fulcrum"], p99), field(ka["haproxy"], p99)), ratio(med(tp["fulcrum"]), med(tp["direct"])),
		ratio(field(cl["fulcrum"], rps), field(cl["haproxy"], rps)))
	fmt.Printf("RESULT http_rps_ratio_haproxy %.3f\n", paired(ka["fulcrum"], ka["haproxy"], rps))
	fmt.Printf("RESULT http_cpu_eff_ratio_haproxy %.3f\n", paired(ka["fulcrum"], ka["haproxy"], eff))
	fmt.Printf("RESULT http_p99_ratio_haproxy %.3f\n", paired(ka["fulcrum"], ka["haproxy"], p99))
	fmt.Printf("RESULT tcp_throughput_ratio_direct %.3f\n", med(bulkRatios))
	fmt.Printf("RESULT conn_rate_ratio_haproxy %.3f\n", paired(cl["fulcrum"], cl["haproxy"], rps))
	fmt.Printf("RESULT apply_1000_listeners_s %.3f\n", applyS)
	fmt.Printf("RESULT idle_kib_per_listener %.1f\n", kib)
	return nil
}

// measure runs f and adds the CPU time pid used meanwhile.
func measure(ctx context.Context, pid int, f func() (sample, error)) (sample, error) {
	c0 := cpuSeconds(pid)
	s, err := f()
	s.cpu = cpuSeconds(pid) - c0
	return s, err
}

// cpuSeconds reads utime+stime of pid (all threads) from /proc; 0 for pid 0.
func cpuSeconds(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	// Fields after the parenthesised command name; utime and stime are fields 14 and 15.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

var (
	reqsRe = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	doneRe = regexp.MustCompile(`(\d+) requests in`)
	pctRe  = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	errRe  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: .*`)
)

// wrk runs wrk against addr and parses req/s, total requests and p50/p99 latency (ms).
func wrk(ctx context.Context, addr string, d time.Duration, conns int, closeMode bool) (sample, error) {
	return wrkTarget(ctx, "http://"+addr+"/", d, conns, closeMode)
}

// wrkTarget runs wrk against url.
func wrkTarget(ctx context.Context, url string, d time.Duration, conns int, closeMode bool) (sample, error) {
	addr := url
	args := []string{"-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d.Seconds())), "--latency", "--timeout", "5s"}
	if closeMode {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, url)
	cctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, "wrk", args...).CombinedOutput()
	if err != nil {
		return sample{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	var s sample
	if m := reqsRe.FindSubmatch(out); m != nil {
		s.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := doneRe.FindSubmatch(out); m != nil {
		s.reqs, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	for _, m := range pctRe.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		switch string(m[3]) {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if string(m[1]) == "50" {
			s.p50 = v
		} else {
			s.p99 = v
		}
	}
	if m := errRe.Find(out); m != nil {
		fmt.Printf("  note (%s): %s\n", addr, strings.TrimSpace(string(m)))
	}
	if s.rps == 0 {
		return s, fmt.Errorf("could not parse wrk output:\n%s", out)
	}
	return s, nil
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(ctx context.Context, logPath, name string, args ...string) (*proc, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func waitPort(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %v: %w", addr, limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func numCPU() int {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "processor") {
			n++
		}
	}
	return n
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

func fulcrumConfig() *dataplane.Config {
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
		Listeners: []dataplane.Listener{l("http", dataplane.ProtocolHTTP, fuHTTP, "web"), l("tcp", dataplane.ProtocolTCP, fuTCP, "sink")},
		Pools: []dataplane.Pool{
			{ID: "web", Protocol: dataplane.ProtocolHTTP, Algorithm: dataplane.RoundRobin, Members: []dataplane.Member{m("a", httpA), m("b", httpB)}},
			{ID: "sink", Protocol: dataplane.ProtocolTCP, Algorithm: dataplane.RoundRobin, Members: []dataplane.Member{m("s", sinkAddr)}},
		}}
}
