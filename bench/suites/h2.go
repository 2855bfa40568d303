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
)

const (
	haH2 = "127.0.0.1:18643"
	fuH2 = "127.0.0.1:18743"
)

// runH2, the h2 suite, measures HTTP/2 over TLS to clients: req/s with many streams per
// connection through HAProxy (bind ... alpn h2,http/1.1) and `fulcrum engine` (a
// TERMINATED_HTTPS listener with alpn_protocols [h2, http/1.1]), the same certificate
// and the same two HTTP/1.1 backends, interleaved runs, medians. The load is h2load
// (Debian's nghttp2-client) when installed, else a small Go client (net/http).
func runH2(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("h2", flag.ContinueOnError)
	runs := fs.Int("runs", envInt("RUNS", 3), "interleaved runs per target (default from $RUNS)")
	dur := fs.Duration("dur", envSeconds("DUR", 6*time.Second), "duration of each run (default from $DUR, in seconds)")
	conns := fs.Int("c", 8, "client connections")
	streams := fs.Int("m", 32, "concurrent streams per connection")
	outDir := fs.String("out", "bench/out", "directory for the fulcrum binary, configs, certificates and logs")
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
	stop, err := startBackends([]string{httpA, httpB}, sinkAddr)
	if err != nil {
		return fmt.Errorf("backends: %w", err)
	}
	defer stop()
	haCfg := filepath.Join(*outDir, "haproxy-h2.cfg")
	if err := os.WriteFile(haCfg, []byte(haproxyH2Config(pemPath)), 0o644); err != nil {
		return err
	}
	fuCfg := filepath.Join(*outDir, "fulcrum-h2.json")
	cfg := fulcrumTLSConfig(string(certPEM), string(keyPEM))
	host, port, _ := net.SplitHostPort(fuH2)
	cfg.Listeners[0].Addresses = []string{host}
	cfg.Listeners[0].ProtocolPort, _ = strconv.Atoi(port)
	cfg.Listeners[0].TLS.ALPNProtocols = []string{"h2", "http/1.1"}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(fuCfg, b, 0o600); err != nil {
		return err
	}
	ha, err := startProc(ctx, filepath.Join(*outDir, "haproxy-h2.log"), "haproxy", "-db", "-f", haCfg)
	if err != nil {
		return err
	}
	defer ha.stop()
	fu, err := startProc(ctx, filepath.Join(*outDir, "fulcrum-h2.log"), fulcrumPath, "engine", "--config", fuCfg, "--log-level", "warn")
	if err != nil {
		return err
	}
	defer fu.stop()
	for _, a := range []string{httpA, httpB, haH2, fuH2} {
		if err := waitPort(a, 10*time.Second); err != nil {
			return err
		}
	}
	load, tool := h2GoLoad, "Go client (net/http)"
	if _, err := exec.LookPath("h2load"); err == nil {
		load, tool = h2loadRun, "h2load -t1"
	}
	fmt.Printf("machine: %d CPUs, load average %s; %s, %d connections × %d streams; RSA-2048 certificate, TLS 1.3, ALPN h2; %v per run; %d interleaved runs\n",
		numCPU(), loadAvg(), tool, *conns, *streams, *dur, *runs)
	type target struct {
		name, addr string
		pid        int
	}
	targets := []target{{"haproxy", haH2, ha.cmd.Process.Pid}, {"fulcrum", fuH2, fu.cmd.Process.Pid}}
	for _, t := range targets { // warm up, and check that h2 is spoken
		if _, err := load(ctx, "https://"+t.addr+"/", 2*time.Second, *conns, *streams); err != nil {
			return fmt.Errorf("%s warm-up: %w", t.name, err)
		}
	}
	res := map[string][]sample{}
	for r := 1; r <= *runs; r++ {
		for _, t := range targets {
			s, err := measure(ctx, t.pid, func() (sample, error) { return load(ctx, "https://"+t.addr+"/", *dur, *conns, *streams) })
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			res[t.name] = append(res[t.name], s)
			fmt.Printf("run %d %-8s h2 %9.0f req/s  mean latency %6.2f ms  proxy CPU %5.2f s\n", r, t.name, s.rps, s.p50, s.cpu)
		}
	}
	fmt.Printf("load average after the runs: %s\n", loadAvg())
	med, rps, eff, ratio := medianOf, sampleRPS, sampleReqPerCPU, ratioOf
	fmt.Println()
	fmt.Printf("%-8s %12s %12s\n", "medians", "h2 req/s", "req/CPU-s")
	for _, t := range targets {
		fmt.Printf("%-8s %12.0f %12.0f\n", t.name, med(res[t.name], rps), med(res[t.name], eff))
	}
	fmt.Println()
	fmt.Printf("RESULT h2_rps %.0f\n", med(res["fulcrum"], rps))
	fmt.Printf("RESULT h2_rps_haproxy %.0f\n", med(res["haproxy"], rps))
	fmt.Printf("RESULT h2_rps_ratio_haproxy %.3f\n", ratio(med(res["fulcrum"], rps), med(res["haproxy"], rps)))
	fmt.Printf("RESULT h2_cpu_eff_ratio_haproxy %.3f\n", ratio(med(res["fulcrum"], eff), med(res["haproxy"], eff)))
	return nil
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
`, haH2, pemPath, httpA, httpB)
}
