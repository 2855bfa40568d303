package main

// The accesslog suite: what the data plane's access log costs. One
// `fulcrum engine --access-log file:…` serves three HTTP listeners on the
// same two-member pool: one logging (the default), two with
// connection_logging false. wrk keep-alive runs go to the three in turn,
// the order rotating run by run; the two silent listeners give the
// machine's own noise between identical targets (the A/A ratio) beside
// the on ÷ off ratio of the same runs.

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

const (
	logOnHTTP   = "127.0.0.1:18381"
	logOffHTTP  = "127.0.0.1:18382"
	logOff2HTTP = "127.0.0.1:18383"
)

// runAccessLog is the accesslog suite.
func runAccessLog(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("accesslog", flag.ContinueOnError)
	runs := fs.Int("runs", envInt("RUNS", 7), "interleaved runs per listener (default from $RUNS)")
	dur := fs.Duration("dur", envSeconds("DUR", 5*time.Second), "duration of each wrk run (default from $DUR, in seconds)")
	conns := fs.Int("c", 64, "wrk connections")
	outDir := fs.String("out", "bench/out", "directory for the fulcrum binary, configs and logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fulcrum, err := prepareProxies(*outDir, false)
	if err != nil {
		return err
	}
	stop, err := startBackends([]string{httpA, httpB}, sinkAddr)
	if err != nil {
		return fmt.Errorf("backends: %w", err)
	}
	defer stop()
	cfgPath := filepath.Join(*outDir, "accesslog.json")
	b, _ := json.MarshalIndent(accessLogConfig(), "", "  ")
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		return err
	}
	logPath := filepath.Join(*outDir, "access.log")
	os.Remove(logPath)
	fu, err := startProc(ctx, filepath.Join(*outDir, "fulcrum-accesslog.log"), fulcrum, "engine", "--config", cfgPath,
		"--log-level", "warn", "--access-log", "file:"+logPath)
	if err != nil {
		return err
	}
	defer fu.stop()
	for _, a := range []string{httpA, httpB, logOnHTTP, logOffHTTP, logOff2HTTP} {
		if err := waitPort(a, 10*time.Second); err != nil {
			return err
		}
	}
	fmt.Printf("machine: %d CPUs, load average %s; wrk -t2 -c%d keep-alive %v; %d interleaved runs\n",
		numCPU(), loadAvg(), *conns, *dur, *runs)

	targets := []struct{ name, addr string }{{"on", logOnHTTP}, {"off", logOffHTTP}, {"off2", logOff2HTTP}}
	for _, t := range targets { // warm up
		wrk(ctx, t.addr, 2*time.Second, *conns, false)
	}
	pid := fu.cmd.Process.Pid
	got := map[string][]sample{}
	var onOff, aa []float64
	for r := 0; r < *runs; r++ {
		this := map[string]sample{}
		for i := range targets {
			t := targets[(i+r)%len(targets)] // each listener goes first, second and last in turn
			s, err := measure(ctx, pid, func() (sample, error) { return wrk(ctx, t.addr, *dur, *conns, false) })
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			this[t.name] = s
			got[t.name] = append(got[t.name], s)
			fmt.Printf("run %d logging %-4s %9.0f req/s  p99 %6.2f ms  engine CPU %5.2f s\n", r+1, t.name, s.rps, s.p99, s.cpu)
		}
		onOff = append(onOff, ratioOf(this["on"].rps, this["off"].rps))
		aa = append(aa, ratioOf(this["off2"].rps, this["off"].rps))
	}
	lines, size, err := countLines(logPath)
	if err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	var onReqs float64
	for _, s := range got["on"] {
		onReqs += s.reqs
	}
	fmt.Printf("access log: %d lines, %.1f MB (wrk counted %.0f requests on the logging listener, plus its warm-up)\n",
		lines, float64(size)/1e6, onReqs)
	if float64(lines) < onReqs {
		return fmt.Errorf("access log has %d lines for at least %.0f requests: lines were lost", lines, onReqs)
	}
	on, off := medianOf(got["on"], sampleRPS), medianOf(got["off"], sampleRPS)
	fmt.Printf("RESULT access_log_on_rps %.0f\n", on)
	fmt.Printf("RESULT access_log_off_rps %.0f\n", off)
	fmt.Printf("RESULT access_log_rps_ratio %.3f\n", median(onOff))
	fmt.Printf("RESULT access_log_aa_ratio %.3f\n", median(aa))
	fmt.Printf("RESULT access_log_cpu_eff_ratio %.3f\n", ratioOf(medianOf(got["on"], sampleReqPerCPU), medianOf(got["off"], sampleReqPerCPU)))
	return nil
}

// countLines counts the lines of the file at path and returns its size.
func countLines(path string) (int, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
	}
	return n, st.Size(), sc.Err()
}

// accessLogConfig is three HTTP listeners on one pool of the two HTTP
// backends; only the first logs.
func accessLogConfig() *dataplane.Config {
	off := false
	l := func(id, addr string, logging *bool) dataplane.Listener {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		return dataplane.Listener{ID: id, LoadBalancerID: "bench", Protocol: dataplane.ProtocolHTTP, Addresses: []string{host},
			ProtocolPort: p, DefaultPoolID: "web", ConnectionLimit: -1, TimeoutClientData: 50000, TimeoutMemberConnect: 5000,
			TimeoutMemberData: 50000, ConnectionLogging: logging}
	}
	m := func(id, addr string) dataplane.Member {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		return dataplane.Member{ID: id, Address: host, ProtocolPort: p, Weight: 1, AdminStateUp: true}
	}
	return &dataplane.Config{Version: 1,
		Listeners: []dataplane.Listener{l("on", logOnHTTP, nil), l("off", logOffHTTP, &off), l("off2", logOff2HTTP, &off)},
		Pools: []dataplane.Pool{{ID: "web", Protocol: dataplane.ProtocolHTTP, Algorithm: dataplane.RoundRobin,
			Members: []dataplane.Member{m("a", httpA), m("b", httpB)}}}}
}
