package main

import (
	"context"
	"crypto/tls"
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
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

const (
	haH2     = "127.0.0.1:18643"
	fuH2     = "127.0.0.1:18743"
	beforeH2 = "127.0.0.1:18745"
	haGRPC   = "127.0.0.1:18644"
	fuGRPC   = "127.0.0.1:18744"
	// beforeGRPC is the gRPC listener of the -before binary.
	beforeGRPC = "127.0.0.1:18746"
	grpcA      = "127.0.0.1:18651"
	grpcB      = "127.0.0.1:18652"
	// The suite's own HTTP/1.1 backends and sink (not the dataplane suite's: both may
	// run at once).
	h2HTTPA = "127.0.0.1:18681"
	h2HTTPB = "127.0.0.1:18682"
	h2Sink  = "127.0.0.1:18691"
)

// runH2, the h2 suite, measures HTTP/2 over TLS to clients through HAProxy and `fulcrum
// engine`, the same certificate, interleaved runs, medians, each proxy's CPU beside its
// rate:
//   - h2: req/s with many streams per connection (HAProxy bind ... alpn h2,http/1.1; a
//     TERMINATED_HTTPS listener with alpn_protocols [h2, http/1.1]) to the same two
//     HTTP/1.1 backends. The load is h2load (Debian's nghttp2-client) when installed,
//     else a small Go client (net/http).
//   - gRPC unary calls: a TERMINATED_HTTPS listener with alpn_protocols [h2] (HAProxy
//     bind ... alpn h2) to a pool of two grpc-go members spoken to in h2c (a pool with
//     alpn_protocols [h2]; HAProxy servers with proto h2). The load is grpc-go in this
//     process: conns connections × calls concurrent unary calls, a fixed small message.
//
// -before names another fulcrum binary (main's, say) measured in the same runs.
func runH2(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("h2", flag.ContinueOnError)
	runs := fs.Int("runs", envInt("RUNS", 3), "interleaved runs per target (default from $RUNS)")
	dur := fs.Duration("dur", envSeconds("DUR", 6*time.Second), "duration of each run (default from $DUR, in seconds)")
	conns := fs.Int("c", 8, "client connections")
	streams := fs.Int("m", 32, "concurrent streams per connection")
	gconns := fs.Int("gc", 4, "gRPC client connections")
	gcalls := fs.Int("gm", 16, "concurrent gRPC unary calls per connection")
	before := fs.String("before", os.Getenv("BEFORE"), "another fulcrum binary measured beside (default from $BEFORE)")
	outDir := fs.String("out", "bench/out", "directory for the fulcrum binary, configs, certificates and logs")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof of the measured fulcrum engine on this loopback address (go tool pprof http://ADDR/debug/pprof/profile during a run)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fulcrumPath, err := prepareProxies(*outDir, true)
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := benchCertificate()
	if err != nil {
		return err
	}
	pemPath := filepath.Join(*outDir, "h2-bench.pem")
	if err := os.WriteFile(pemPath, append(append([]byte(nil), certPEM...), keyPEM...), 0o600); err != nil {
		return err
	}
	stop, err := startBackends([]string{h2HTTPA, h2HTTPB}, h2Sink)
	if err != nil {
		return fmt.Errorf("backends: %w", err)
	}
	defer stop()
	stopGRPC, err := startGRPCMembers(grpcA, grpcB)
	if err != nil {
		return fmt.Errorf("gRPC members: %w", err)
	}
	defer stopGRPC()
	haCfg := filepath.Join(*outDir, "haproxy-h2.cfg")
	if err := os.WriteFile(haCfg, []byte(haproxyH2Config(pemPath)), 0o644); err != nil {
		return err
	}
	ha, err := startProc(ctx, filepath.Join(*outDir, "haproxy-h2.log"), "haproxy", "-db", "-f", haCfg)
	if err != nil {
		return err
	}
	defer ha.stop()
	type target struct {
		name, addr, grpcAddr string
		pid                  int
	}
	targets := []target{{"haproxy", haH2, haGRPC, ha.cmd.Process.Pid}}
	var stops []func()
	startFulcrum := func(name, bin, h2Addr, grpcAddr string) error {
		cfgPath := filepath.Join(*outDir, name+"-h2.json")
		b, _ := json.MarshalIndent(fulcrumH2Config(string(certPEM), string(keyPEM), h2Addr, grpcAddr), "", "  ")
		if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
			return err
		}
		args := []string{"engine", "--config", cfgPath, "--log-level", "warn"}
		if name == "fulcrum" && *pprofAddr != "" {
			args = append(args, "--pprof", *pprofAddr)
		}
		p, err := startProc(ctx, filepath.Join(*outDir, name+"-h2.log"), bin, args...)
		if err != nil {
			return err
		}
		stops = append(stops, p.stop)
		targets = append(targets, target{name, h2Addr, grpcAddr, p.cmd.Process.Pid})
		return nil
	}
	defer func() {
		for _, f := range stops {
			f()
		}
	}()
	if err := startFulcrum("fulcrum", fulcrumPath, fuH2, fuGRPC); err != nil {
		return err
	}
	if *before != "" {
		if err := startFulcrum("before", *before, beforeH2, beforeGRPC); err != nil {
			return err
		}
	}
	for _, a := range []string{h2HTTPA, h2HTTPB, grpcA, grpcB} {
		if err := waitPort(a, 10*time.Second); err != nil {
			return err
		}
	}
	for _, t := range targets {
		for _, a := range []string{t.addr, t.grpcAddr} {
			if err := waitPort(a, 10*time.Second); err != nil {
				return err
			}
		}
	}
	load, tool := h2GoLoad, "Go client (net/http)"
	if _, err := exec.LookPath("h2load"); err == nil {
		load, tool = h2loadRun, "h2load -t1"
	}
	fmt.Printf("machine: %d CPUs, load average %s; h2: %s, %d connections × %d streams; gRPC: grpc-go, %d connections × %d unary calls; RSA-2048 certificate, TLS 1.3, ALPN h2; %v per run; %d interleaved runs\n",
		numCPU(), loadAvg(), tool, *conns, *streams, *gconns, *gcalls, *dur, *runs)
	grpcLoad := func(addr string, d time.Duration) (sample, error) {
		return grpcUnaryLoad(ctx, addr, d, *gconns, *gcalls)
	}
	for _, t := range targets { // warm up, and check that h2 and gRPC are spoken
		if _, err := load(ctx, "https://"+t.addr+"/", 2*time.Second, *conns, *streams); err != nil {
			return fmt.Errorf("%s warm-up: %w", t.name, err)
		}
		if _, err := grpcLoad(t.grpcAddr, 2*time.Second); err != nil {
			return fmt.Errorf("%s gRPC warm-up: %w", t.name, err)
		}
	}
	res, gres := map[string][]sample{}, map[string][]sample{}
	for r := 1; r <= *runs; r++ {
		// Each run starts with another target: the slot right after another proxy's load
		// measured up to a quarter slower than the one after it, the same binary in both.
		order := append(append([]target(nil), targets[(r-1)%len(targets):]...), targets[:(r-1)%len(targets)]...)
		for _, t := range order {
			s, err := measure(ctx, t.pid, func() (sample, error) { return load(ctx, "https://"+t.addr+"/", *dur, *conns, *streams) })
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			res[t.name] = append(res[t.name], s)
			fmt.Printf("run %d %-8s h2   %9.0f req/s   mean latency %6.2f ms  proxy CPU %5.2f s\n", r, t.name, s.rps, s.p50, s.cpu)
		}
		for _, t := range order {
			s, err := measure(ctx, t.pid, func() (sample, error) { return grpcLoad(t.grpcAddr, *dur) })
			if err != nil {
				return fmt.Errorf("%s gRPC: %w", t.name, err)
			}
			gres[t.name] = append(gres[t.name], s)
			fmt.Printf("run %d %-8s gRPC %9.0f calls/s mean latency %6.2f ms  proxy CPU %5.2f s\n", r, t.name, s.rps, s.p50, s.cpu)
		}
	}
	fmt.Printf("load average after the runs: %s\n", loadAvg())
	med, rps, eff, ratio := medianOf, sampleRPS, sampleReqPerCPU, ratioOf
	fmt.Println()
	fmt.Printf("%-8s %12s %12s %12s %12s\n", "medians", "h2 req/s", "req/CPU-s", "gRPC call/s", "call/CPU-s")
	for _, t := range targets {
		fmt.Printf("%-8s %12.0f %12.0f %12.0f %12.0f\n", t.name, med(res[t.name], rps), med(res[t.name], eff),
			med(gres[t.name], rps), med(gres[t.name], eff))
	}
	if *before != "" {
		fmt.Printf("before (%s) against HAProxy: h2 req/s %.3f, req/CPU-s %.3f; gRPC calls/s %.3f, calls/CPU-s %.3f\n", *before,
			ratio(med(res["before"], rps), med(res["haproxy"], rps)), ratio(med(res["before"], eff), med(res["haproxy"], eff)),
			ratio(med(gres["before"], rps), med(gres["haproxy"], rps)), ratio(med(gres["before"], eff), med(gres["haproxy"], eff)))
	}
	fmt.Println()
	fmt.Printf("RESULT h2_rps %.0f\n", med(res["fulcrum"], rps))
	fmt.Printf("RESULT h2_rps_haproxy %.0f\n", med(res["haproxy"], rps))
	fmt.Printf("RESULT h2_rps_ratio_haproxy %.3f\n", ratio(med(res["fulcrum"], rps), med(res["haproxy"], rps)))
	fmt.Printf("RESULT h2_cpu_eff_ratio_haproxy %.3f\n", ratio(med(res["fulcrum"], eff), med(res["haproxy"], eff)))
	fmt.Printf("RESULT grpc_unary_rps %.0f\n", med(gres["fulcrum"], rps))
	fmt.Printf("RESULT grpc_unary_rps_haproxy %.0f\n", med(gres["haproxy"], rps))
	fmt.Printf("RESULT grpc_unary_rps_ratio_haproxy %.3f\n", ratio(med(gres["fulcrum"], rps), med(gres["haproxy"], rps)))
	fmt.Printf("RESULT grpc_unary_cpu_eff_ratio_haproxy %.3f\n", ratio(med(gres["fulcrum"], eff), med(gres["haproxy"], eff)))
	return nil
}

// fulcrumH2Config is the engine's configuration of the suite: the h2 listener (HTTP/1.1
// members) and the gRPC listener (h2c members).
func fulcrumH2Config(certPEM, keyPEM, h2Addr, grpcAddr string) *dataplane.Config {
	cfg := fulcrumTLSConfig(certPEM, keyPEM)
	host, port, _ := net.SplitHostPort(h2Addr)
	cfg.Listeners[0].Addresses = []string{host}
	cfg.Listeners[0].ProtocolPort, _ = strconv.Atoi(port)
	cfg.Listeners[0].TLS.ALPNProtocols = []string{"h2", "http/1.1"}
	m := func(id, addr string) dataplane.Member {
		h, pt, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(pt)
		return dataplane.Member{ID: id, Address: h, ProtocolPort: n, Weight: 1, AdminStateUp: true}
	}
	cfg.Pools[0].Members = []dataplane.Member{m("a", h2HTTPA), m("b", h2HTTPB)}
	g := cfg.Listeners[0]
	g.ID, g.DefaultPoolID, g.InsertHeaders = "grpc", "grpc", nil
	host, port, _ = net.SplitHostPort(grpcAddr)
	g.Addresses = []string{host}
	g.ProtocolPort, _ = strconv.Atoi(port)
	tlsCopy := *g.TLS
	tlsCopy.ALPNProtocols = []string{"h2"}
	g.TLS = &tlsCopy
	cfg.Listeners = append(cfg.Listeners, g)
	cfg.Pools = append(cfg.Pools, dataplane.Pool{ID: "grpc", Protocol: dataplane.ProtocolHTTP, Algorithm: dataplane.RoundRobin, H2C: true,
		Members: []dataplane.Member{m("ga", grpcA), m("gb", grpcB)}})
	return cfg
}

// grpcBenchMember answers unary calls with a fixed small payload.
type grpcBenchMember struct {
	testpb.UnimplementedTestServiceServer
	payload *testpb.Payload
}

func (g *grpcBenchMember) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{Payload: g.payload}, nil
}

// startGRPCMembers starts grpc-go servers (cleartext HTTP/2) on addrs.
func startGRPCMembers(addrs ...string) (func(), error) {
	var servers []*grpc.Server
	stop := func() {
		for _, s := range servers {
			s.Stop()
		}
	}
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			stop()
			return nil, err
		}
		s := grpc.NewServer()
		testpb.RegisterTestServiceServer(s, &grpcBenchMember{payload: &testpb.Payload{Body: make([]byte, 64)}})
		go s.Serve(ln)
		servers = append(servers, s)
	}
	return stop, nil
}

// grpcUnaryLoad makes unary calls (64-byte payloads) through addr over TLS for d: conns
// grpc-go connections, calls concurrent calls on each.
func grpcUnaryLoad(ctx context.Context, addr string, d time.Duration, conns, calls int) (sample, error) {
	creds := credentials.NewTLS(&tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	var clients []*grpc.ClientConn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for i := 0; i < conns; i++ {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			return sample{}, err
		}
		clients = append(clients, c)
	}
	// Calls start for d; one that takes more than 10 s more fails the run.
	ctx, cancel := context.WithTimeout(ctx, d+10*time.Second)
	defer cancel()
	var stop atomic.Bool
	t := time.AfterFunc(d, func() { stop.Store(true) })
	defer t.Stop()
	var n, lat atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	req := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: make([]byte, 64)}}
	start := time.Now()
	for _, c := range clients {
		cl := testpb.NewTestServiceClient(c)
		for j := 0; j < calls; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					t0 := time.Now()
					_, err := cl.UnaryCall(ctx, req)
					if err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
					n.Add(1)
					lat.Add(time.Since(t0).Microseconds())
				}
			}()
		}
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return sample{}, err
	}
	el := time.Since(start).Seconds()
	s := sample{reqs: float64(n.Load()), rps: float64(n.Load()) / el}
	if n.Load() > 0 {
		s.p50 = float64(lat.Load()) / float64(n.Load()) / 1000
	}
	if n.Load() == 0 {
		return s, errors.New("no call succeeded")
	}
	return s, nil
}

var (
	h2loadRate    = regexp.MustCompile(`finished in [0-9.]+m?s, ([0-9.]+) req/s`)
	h2loadDone    = regexp.MustCompile(`requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored`)
	h2loadLatency = regexp.MustCompile(`time for request:\s+\S+\s+\S+\s+([0-9.]+)(us|ms|s)`)
)

// h2loadRun runs h2load for d and reads its req/s, succeeded requests and mean latency
// (kept in p50: h2load prints no percentiles).
func h2loadRun(ctx context.Context, url string, d time.Duration, conns, streams int) (sample, error) {
	secs := max(1, int(d/time.Second))
	out, err := exec.CommandContext(ctx, "h2load", "-t1", "-c", strconv.Itoa(conns), "-m", strconv.Itoa(streams),
		"-D", strconv.Itoa(secs), url).CombinedOutput()
	if err != nil {
		return sample{}, fmt.Errorf("h2load: %v: %s", err, out)
	}
	if !regexp.MustCompile(`Application protocol: h2`).Match(out) {
		return sample{}, fmt.Errorf("h2load did not speak h2:\n%s", out)
	}
	m := h2loadRate.FindSubmatch(out)
	n := h2loadDone.FindSubmatch(out)
	if m == nil || n == nil {
		return sample{}, fmt.Errorf("h2load output not understood:\n%s", out)
	}
	var s sample
	s.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	s.reqs, _ = strconv.ParseFloat(string(n[1]), 64)
	if string(n[2]) != "0" || string(n[3]) != "0" {
		return sample{}, fmt.Errorf("h2load: %s failed, %s errored:\n%s", n[2], n[3], out)
	}
	if l := h2loadLatency.FindSubmatch(out); l != nil {
		v, _ := strconv.ParseFloat(string(l[1]), 64)
		switch string(l[2]) {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		s.p50 = v
	}
	return s, nil
}

// h2GoLoad is the fallback load: conns HTTP/2 connections (one x/net/http2 Transport
// each, HTTP/2 only), streams goroutines per connection sending GETs back to back for d.
func h2GoLoad(ctx context.Context, url string, d time.Duration, conns, streams int) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n atomic.Int64
	var lat atomic.Int64 // total latency, µs
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < conns; c++ {
		var protos http.Protocols
		protos.SetHTTP2(true)
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, Protocols: &protos, DisableCompression: true}
		defer tr.CloseIdleConnections()
		for s := 0; s < streams; s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					t0 := time.Now()
					req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
					resp, err := tr.RoundTrip(req)
					if err != nil {
						if ctx.Err() == nil {
							firstErr.CompareAndSwap(nil, err)
						}
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						firstErr.CompareAndSwap(nil, fmt.Errorf("status %d", resp.StatusCode))
						return
					}
					n.Add(1)
					lat.Add(time.Since(t0).Microseconds())
				}
			}()
		}
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return sample{}, err
	}
	el := time.Since(start).Seconds()
	s := sample{reqs: float64(n.Load()), rps: float64(n.Load()) / el}
	if n.Load() > 0 {
		s.p50 = float64(lat.Load()) / float64(n.Load()) / 1000
	}
	return s, nil
}

func haproxyH2Config(pemPath string) string {
	return fmt.Sprintf(`global
    maxconn 4000
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode http
    timeout connect 5s
    timeout client 50s
    timeout server 50s
    option http-keep-alive
frontend fe_h2
    bind %s ssl crt %s alpn h2,http/1.1
    http-request set-header X-Forwarded-Proto https
    default_backend be_http
backend be_http
    balance roundrobin
    server a %s
    server b %s
frontend fe_grpc
    bind %s ssl crt %s alpn h2
    default_backend be_grpc
backend be_grpc
    balance roundrobin
    server a %s proto h2
    server b %s proto h2
`, haH2, pemPath, h2HTTPA, h2HTTPB, haGRPC, pemPath, grpcA, grpcB)
}
