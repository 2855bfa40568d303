package main

// What the dataplane and tls suites share: loopback backends, a TCP bulk
// client, wrk runs parsed into samples, the proxies' CPU time from /proc,
// and child processes with their logs.

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// runDataplaneServe starts the suites' backends only, for manual runs.
func runDataplaneServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	httpAddrs := fs.String("http", "127.0.0.1:18081,127.0.0.1:18082", "HTTP backend addresses")
	sink := fs.String("sink", "127.0.0.1:18091", "TCP sink address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stop, err := startBackends(strings.Split(*httpAddrs, ","), *sink)
	if err != nil {
		return err
	}
	defer stop()
	<-ctx.Done()
	return nil
}

// startBackends starts HTTP backends answering "ok" (2 bytes) and a TCP sink.
func startBackends(httpAddrs []string, sink string) (func(), error) {
	var closers []func()
	stop := func() {
		for _, c := range closers {
			c()
		}
	}
	for _, a := range httpAddrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			stop()
			return nil, err
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("ok"))
		})}
		go srv.Serve(ln)
		closers = append(closers, func() { srv.Close() })
	}
	ln, err := net.Listen("tcp", sink)
	if err != nil {
		stop()
		return nil, err
	}
	closers = append(closers, func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1<<20)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return stop, nil
}

// bulk writes to addr for dur (at most maxBytes), half-closes and waits for the peer to
// close, and returns the throughput in GB/s.
func bulk(addr string, dur time.Duration, maxBytes int64) (float64, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	start := time.Now()
	end := start.Add(dur)
	var total int64
	c.SetDeadline(end.Add(30 * time.Second))
	for time.Now().Before(end) && total < maxBytes {
		n, err := c.Write(buf)
		total += int64(n)
		if err != nil {
			return 0, err
		}
	}
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c) // returns when the sink closes: everything arrived
	return float64(total) / time.Since(start).Seconds() / 1e9, nil
}

// runDataplaneBulk measures TCP bulk throughput to an address, for manual runs.
func runDataplaneBulk(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bulk", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:18091", "address to send to")
	d := fs.Duration("dur", 3*time.Second, "duration")
	if err := fs.Parse(args); err != nil {
		return err
	}
	g, err := bulk(*addr, *d, 200<<30)
	if err != nil {
		return err
	}
	fmt.Printf("%.2f GB/s\n", g)
	return nil
}

const (
	httpA, httpB = "127.0.0.1:18081", "127.0.0.1:18082"
	sinkAddr     = "127.0.0.1:18091"
	haHTTP       = "127.0.0.1:18181"
	haTCP        = "127.0.0.1:18191"
	fuHTTP       = "127.0.0.1:18281"
	fuTCP        = "127.0.0.1:18291"
	fuStockHTTP  = "127.0.0.1:18282"
	fuStockTCP   = "127.0.0.1:18292"
	// noRawSyscallsEnv turns the HTTP path's raw syscalls off in the engine it is set
	// for (internal/engine/proxy, a benchmark knob).
	noRawSyscallsEnv = "FULCRUM_BENCH_NO_RAW_SYSCALLS"
)

type sample struct {
	rps, p50, p99, cpu, reqs float64 // cpu: proxy CPU seconds during the run
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

// medianOf is the median of f over the samples (0 when there are none).
func medianOf(ss []sample, f func(sample) float64) float64 {
	xs := make([]float64, 0, len(ss))
	for _, s := range ss {
		xs = append(xs, f(s))
	}
	return median(xs)
}

// median is the median of xs, the upper one of an even count (0 when xs
// is empty); xs is left as it was.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// sampleRPS is a sample's requests per second.
func sampleRPS(s sample) float64 { return s.rps }

// sampleReqPerCPU is a sample's requests per CPU-second of the proxy (0 without CPU).
func sampleReqPerCPU(s sample) float64 {
	if s.cpu <= 0 {
		return 0
	}
	return s.reqs / s.cpu
}

// ratioOf is a / b, 0 when b is 0.
func ratioOf(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
