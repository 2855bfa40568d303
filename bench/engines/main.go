// Package main is the engines comparison: it compares fulcrum's two data-plane engines on this machine: the same HTTP
// traffic (wrk, keep-alive, two Go backends answering 2 bytes) through the native engine
// and through the HAProxy engine, and how long a configuration takes from Apply to the
// first 200. With -layout it measures what decided the HAProxy engine's process layout:
// apply and reload time and memory with 1, 100 and 1,000 load balancers in one HAProxy
// process versus one process per load balancer.
//
//	go run ./bench/engines [-runs 3] [-dur 6s] [-conns 64]
//	go run ./bench/engines -layout [-sizes 1,100,1000] [-per-lb-max 1000]
//
// It prints a table and RESULT lines. It needs wrk and HAProxy 2.6 (Debian's packages).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine"
	"github.com/fulcrumlb/fulcrum/internal/engine/haproxy"
)

func main() {
	runs := flag.Int("runs", 3, "interleaved traffic runs per engine")
	dur := flag.Duration("dur", 6*time.Second, "duration of one wrk run")
	conns := flag.Int("conns", 64, "wrk connections")
	layout := flag.Bool("layout", false, "measure the HAProxy process layouts instead of traffic")
	sizes := flag.String("sizes", "1,100,1000", "load balancer counts for -layout")
	perLBMax := flag.Int("per-lb-max", 1000, "largest count measured with one process per load balancer")
	flag.Parse()
	ctx := context.Background()
	var err error
	if *layout {
		err = runLayout(ctx, *sizes, *perLBMax)
	} else {
		err = runTraffic(ctx, *runs, *dur, *conns)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "engines:", err)
		os.Exit(1)
	}
}

// backend starts a loopback HTTP server answering "ok" and returns its port.
func backend() (int, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2")
		io.WriteString(w, "ok")
	})}
	go srv.Serve(ln)
	return ln.Addr().(*net.TCPAddr).Port, func() { srv.Close() }, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// lbConfig is load balancer i: an HTTP listener on addr:port sending to a round-robin pool
// of the backends, optionally with a TCP health monitor.
func lbConfig(i int, addr string, port int, backends []int, monitor bool) (dataplane.Listener, dataplane.Pool) {
	id := strconv.Itoa(i)
	l := dataplane.Listener{ID: "l-" + id, LoadBalancerID: "lb-" + id, Protocol: dataplane.ProtocolHTTP, Addresses: []string{addr},
		ProtocolPort: port, DefaultPoolID: "p-" + id, ConnectionLimit: -1,
		TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000}
	p := dataplane.Pool{ID: "p-" + id, Protocol: dataplane.ProtocolHTTP, Algorithm: dataplane.RoundRobin}
	for k, bp := range backends {
		p.Members = append(p.Members, dataplane.Member{ID: fmt.Sprintf("m-%s-%d", id, k), Address: "127.0.0.1", ProtocolPort: bp, Weight: 1, AdminStateUp: true})
	}
	if monitor {
		p.HealthMonitor = &dataplane.HealthMonitor{ID: "hm-" + id, Type: dataplane.MonitorTCP, Delay: 5, Timeout: 2, MaxRetries: 2, MaxRetriesDown: 3, AdminStateUp: true}
	}
	return l, p
}

// applier is what both engines offer.
type applier interface {
	Apply(context.Context, *dataplane.Config) error
}

// firstOK polls url until it answers 200.
func firstOK(url string, limit time.Duration) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(limit)
	for {
		resp, err := c.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no 200 within %v (last error %v)", url, limit, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// applyToFirst200 measures, n times, Apply of a config adding a listener on a fresh port
// until a client gets its first 200 through it.
func applyToFirst200(ctx context.Context, e applier, backends []int, n int) ([]float64, error) {
	cfg := &dataplane.Config{}
	var out []float64
	for i := 0; i < n; i++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		l, p := lbConfig(i, "127.0.0.1", port, backends, false)
		cfg = cfg.Clone()
		cfg.Version++
		cfg.Listeners = append(cfg.Listeners, l)
		cfg.Pools = append(cfg.Pools, p)
		t0 := time.Now()
		if err := e.Apply(ctx, cfg); err != nil {
			return nil, err
		}
		if err := firstOK(fmt.Sprintf("http://127.0.0.1:%d/", port), 60*time.Second); err != nil {
			return nil, err
		}
		out = append(out, float64(time.Since(t0).Microseconds())/1000)
	}
	return out, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// repoRoot is the module's root directory.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run inside the fulcrum module")
	}
	return filepath.Dir(mod), nil
}

// procsOf returns the pids whose command line mentions dir (HAProxy's master and workers
// of one engine directory).
func procsOf(dir string) []int {
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

// cpuSeconds is utime+stime of pid (all threads).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// pssKiB is the proportional set size of pid (shared pages split among their users).
func pssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Pss:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

type sample struct {
	rps, p99, cpu float64
}

var (
	reqsRe = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p99Re  = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s)\s*$`)
	errRe  = regexp.MustCompile(`Non-2xx or 3xx responses: \d+|Socket errors: .*`)
)

func wrk(ctx context.Context, url string, d time.Duration, conns int) (sample, error) {
	cctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, "wrk", "-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d.Seconds())), "--latency", "--timeout", "5s", url).CombinedOutput()
	if err != nil {
		return sample{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	var s sample
	if m := reqsRe.FindSubmatch(out); m != nil {
		s.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := p99Re.FindSubmatch(out); m != nil {
		s.p99, _ = strconv.ParseFloat(string(m[1]), 64)
		switch string(m[2]) {
		case "us":
			s.p99 /= 1000
		case "s":
			s.p99 *= 1000
		}
	}
	if m := errRe.Find(out); m != nil {
		fmt.Printf("  note (%s): %s\n", url, m)
	}
	if s.rps == 0 {
		return s, fmt.Errorf("could not parse wrk output:\n%s", out)
	}
	return s, nil
}

func runTraffic(ctx context.Context, runs int, dur time.Duration, conns int) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is needed (apt-get install wrk)")
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "fbe")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "fulcrum")
	if out, err := exec.Command("go", "build", "-C", root, "-o", bin, "./cmd/fulcrum").CombinedOutput(); err != nil {
		return fmt.Errorf("build fulcrum: %v\n%s", err, out)
	}
	var backends []int
	for i := 0; i < 2; i++ {
		p, stop, err := backend()
		if err != nil {
			return err
		}
		defer stop()
		backends = append(backends, p)
	}
	info, err := haproxy.CheckBinary(ctx, "")
	if err != nil {
		return err
	}
	fmt.Printf("haproxy %s (%s), %s, %d CPUs, load %s\n", info.Version, info.Path, strings.TrimSpace(goVersion()), numCPU(), loadAvg())

	// The native engine as its own process (fulcrum engine), so its CPU is its own.
	nativePort, err := freePort()
	if err != nil {
		return err
	}
	l, p := lbConfig(0, "127.0.0.1", nativePort, backends, false)
	cfgFile := filepath.Join(tmp, "native.json")
	raw, _ := json.Marshal(&dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{p}})
	if err := os.WriteFile(cfgFile, raw, 0o600); err != nil {
		return err
	}
	native := exec.Command(bin, "engine", "--config", cfgFile, "--log-level", "warn")
	native.Stderr = os.Stderr
	if err := native.Start(); err != nil {
		return err
	}
	defer func() { native.Process.Kill(); native.Wait() }()
	if err := firstOK(fmt.Sprintf("http://127.0.0.1:%d/", nativePort), 30*time.Second); err != nil {
		return err
	}
	// The HAProxy engine: its processes are HAProxy's.
	hdir := filepath.Join(tmp, "h")
	he, err := haproxy.New(haproxy.Options{Dir: hdir})
	if err != nil {
		return err
	}
	defer he.Close()
	haPort, err := freePort()
	if err != nil {
		return err
	}
	l, p = lbConfig(0, "127.0.0.1", haPort, backends, false)
	if err := he.Apply(ctx, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{p}}); err != nil {
		return err
	}
	if err := firstOK(fmt.Sprintf("http://127.0.0.1:%d/", haPort), 30*time.Second); err != nil {
		return err
	}
	haCPU := func() float64 {
		var s float64
		for _, pid := range procsOf(hdir) {
			s += cpuSeconds(pid)
		}
		return s
	}
	type series struct{ rps, p99, eff []float64 }
	res := map[string]*series{"native": {}, "haproxy": {}}
	order := []string{"native", "haproxy"}
	for r := 0; r < runs; r++ {
		if r%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, name := range order {
			url := fmt.Sprintf("http://127.0.0.1:%d/", nativePort)
			cpu := func() float64 { return cpuSeconds(native.Process.Pid) }
			if name == "haproxy" {
				url, cpu = fmt.Sprintf("http://127.0.0.1:%d/", haPort), haCPU
			}
			c0 := cpu()
			s, err := wrk(ctx, url, dur, conns)
			if err != nil {
				return err
			}
			s.cpu = cpu() - c0
			eff := s.rps * dur.Seconds() / s.cpu
			fmt.Printf("run %d %-8s %9.0f req/s  p99 %6.2f ms  %6.2f CPU-s  %8.0f req/CPU-s\n", r+1, name, s.rps, s.p99, s.cpu, eff)
			res[name].rps = append(res[name].rps, s.rps)
			res[name].p99 = append(res[name].p99, s.p99)
			res[name].eff = append(res[name].eff, eff)
		}
	}
	// Apply → first 200, each engine in this process, 5 fresh listeners each.
	ne := engine.New(engine.Options{})
	defer ne.Close()
	nLat, err := applyToFirst200(ctx, ne, backends, 5)
	if err != nil {
		return err
	}
	he2, err := haproxy.New(haproxy.Options{Dir: filepath.Join(tmp, "h2")})
	if err != nil {
		return err
	}
	defer he2.Close()
	hLat, err := applyToFirst200(ctx, he2, backends, 5)
	if err != nil {
		return err
	}
	fmt.Printf("apply → first 200 (ms): native %v, haproxy %v\n", round(nLat), round(hLat))
	fmt.Printf("\n| medians | req/s | req/CPU-s | p99 ms | apply→first 200 ms |\n|---|---:|---:|---:|---:|\n")
	for _, name := range []string{"native", "haproxy"} {
		lat := nLat
		if name == "haproxy" {
			lat = hLat
		}
		fmt.Printf("| %s | %.0f | %.0f | %.2f | %.1f |\n", name, median(res[name].rps), median(res[name].eff), median(res[name].p99), median(lat))
	}
	fmt.Println()
	for _, name := range []string{"native", "haproxy"} {
		lat := nLat
		if name == "haproxy" {
			lat = hLat
		}
		fmt.Printf("RESULT engines_%s_rps %.0f\n", name, median(res[name].rps))
		fmt.Printf("RESULT engines_%s_rps_per_cpu_s %.0f\n", name, median(res[name].eff))
		fmt.Printf("RESULT engines_%s_p99_ms %.2f\n", name, median(res[name].p99))
		fmt.Printf("RESULT engines_%s_apply_first200_ms %.1f\n", name, median(lat))
	}
	fmt.Printf("RESULT engines_haproxy_rps_ratio_native %.3f\n", median(res["haproxy"].rps)/median(res["native"].rps))
	fmt.Printf("RESULT engines_haproxy_cpu_eff_ratio_native %.3f\n", median(res["haproxy"].eff)/median(res["native"].eff))
	return nil
}

func round(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(int(x*10+0.5)) / 10
	}
	return out
}

func goVersion() string {
	out, _ := exec.Command("go", "version").Output()
	return string(out)
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

// lbAddr is the VIP of load balancer i: one loopback address each, port 8080.
func lbAddr(i int) string {
	return fmt.Sprintf("127.77.%d.%d", i/250, 1+i%250)
}

// runLayout measures one HAProxy process for every load balancer against one process per
// load balancer (each load balancer an engine of its own), with n load balancers of one
// HTTP listener, a two-member pool and a TCP health monitor each.
func runLayout(ctx context.Context, sizeList string, perLBMax int) error {
	var backends []int
	for i := 0; i < 2; i++ {
		p, stop, err := backend()
		if err != nil {
			return err
		}
		defer stop()
		backends = append(backends, p)
	}
	fmt.Printf("%d CPUs, load %s\n", numCPU(), loadAvg())
	fmt.Printf("| load balancers | layout | processes | first apply s | reload of one LB s (median of 3) | PSS MiB | PSS KiB per LB |\n|---:|---|---:|---:|---:|---:|---:|\n")
	for _, f := range strings.Split(sizeList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("bad size %q", f)
		}
		if err := layoutOne(ctx, n, backends); err != nil {
			return err
		}
		if n <= perLBMax {
			if err := layoutPerLB(ctx, n, backends); err != nil {
				return err
			}
		}
	}
	return nil
}

func layoutConfig(n int, backends []int) *dataplane.Config {
	cfg := &dataplane.Config{Version: 1}
	for i := 0; i < n; i++ {
		l, p := lbConfig(i, lbAddr(i), 8080, backends, true)
		cfg.Listeners = append(cfg.Listeners, l)
		cfg.Pools = append(cfg.Pools, p)
	}
	return cfg
}

// reloadOne changes the first member's weight of load balancer 0 and times Apply.
func reloadOne(ctx context.Context, e applier, cfg *dataplane.Config) (float64, error) {
	var times []float64
	for k := 0; k < 3; k++ {
		cfg = cfg.Clone()
		cfg.Version++
		cfg.Pools[0].Members[0].Weight = 2 + k
		t0 := time.Now()
		if err := e.Apply(ctx, cfg); err != nil {
			return 0, err
		}
		times = append(times, time.Since(t0).Seconds())
		if err := firstOK(fmt.Sprintf("http://%s:8080/", cfg.Listeners[0].Addresses[0]), 30*time.Second); err != nil {
			return 0, err
		}
	}
	return median(times), nil
}

// settledPSS waits for replaced workers to exit and sums the PSS of dirs' processes.
func settledPSS(dirs []string) (int64, int) {
	time.Sleep(2 * time.Second)
	var kib int64
	procs := 0
	for _, d := range dirs {
		for _, pid := range procsOf(d) {
			kib += pssKiB(pid)
			procs++
		}
	}
	return kib, procs
}

func layoutOne(ctx context.Context, n int, backends []int) error {
	dir, err := os.MkdirTemp("", "fbl")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	e, err := haproxy.New(haproxy.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer e.Close()
	cfg := layoutConfig(n, backends)
	t0 := time.Now()
	if err := e.Apply(ctx, cfg); err != nil {
		return err
	}
	first := time.Since(t0).Seconds()
	reload, err := reloadOne(ctx, e, cfg)
	if err != nil {
		return err
	}
	kib, procs := settledPSS([]string{dir})
	fmt.Printf("| %d | one process | %d | %.2f | %.3f | %.1f | %.0f |\n", n, procs, first, reload, float64(kib)/1024, float64(kib)/float64(n))
	fmt.Printf("RESULT layout_one_process_%d_first_apply_s %.2f\n", n, first)
	fmt.Printf("RESULT layout_one_process_%d_reload_s %.3f\n", n, reload)
	fmt.Printf("RESULT layout_one_process_%d_pss_kib_per_lb %.0f\n", n, float64(kib)/float64(n))
	return nil
}

func layoutPerLB(ctx context.Context, n int, backends []int) error {
	base, err := os.MkdirTemp("", "fbp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	all := layoutConfig(n, backends)
	var engines []*haproxy.Engine
	var dirs []string
	defer func() {
		for _, e := range engines {
			e.Close()
		}
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		dir := filepath.Join(base, strconv.Itoa(i))
		e, err := haproxy.New(haproxy.Options{Dir: dir})
		if err != nil {
			return err
		}
		engines = append(engines, e)
		dirs = append(dirs, dir)
		cfg := &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{all.Listeners[i]}, Pools: []dataplane.Pool{all.Pools[i]}}
		if err := e.Apply(ctx, cfg); err != nil {
			return fmt.Errorf("load balancer %d: %w", i, err)
		}
	}
	first := time.Since(t0).Seconds()
	reload, err := reloadOne(ctx, engines[0], &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{all.Listeners[0]}, Pools: []dataplane.Pool{all.Pools[0]}})
	if err != nil {
		return err
	}
	kib, procs := settledPSS(dirs)
	fmt.Printf("| %d | one per LB | %d | %.2f | %.3f | %.1f | %.0f |\n", n, procs, first, reload, float64(kib)/1024, float64(kib)/float64(n))
	fmt.Printf("RESULT layout_per_lb_%d_first_apply_s %.2f\n", n, first)
	fmt.Printf("RESULT layout_per_lb_%d_reload_s %.3f\n", n, reload)
	fmt.Printf("RESULT layout_per_lb_%d_pss_kib_per_lb %.0f\n", n, float64(kib)/float64(n))
	return nil
}
