package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

const (
	haTLS = "127.0.0.1:18443"
	fuTLS = "127.0.0.1:18543"
)

// runTLS, the tls suite, measures TERMINATED_HTTPS: TLS keep-alive req/s and new
// handshakes/s (wrk with Connection: close, a full handshake per request)
// through HAProxy and `fulcrum engine` with the same RSA-2048 certificate,
// TLS 1.3, http mode toward the same two backends.
func runTLS(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("tls", flag.ContinueOnError)
	runs := fs.Int("runs", envInt("RUNS", 3), "interleaved runs per target (default from $RUNS)")
	dur := fs.Duration("dur", envSeconds("DUR", 6*time.Second), "duration of each keep-alive wrk run (default from $DUR, in seconds)")
	closeDur := fs.Duration("close-dur", 4*time.Second, "duration of each new-handshake wrk run")
	conns := fs.Int("c", 64, "wrk connections")
	outDir := fs.String("out", "bench/out", "directory for the fulcrum binary, configs, certificates and logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fulcrumPath, err := prepareProxies(*outDir, true)
	if err != nil {
		return err
	}
	fulcrum := &fulcrumPath
	certPEM, keyPEM, err := benchCertificate()
	if err != nil {
		return err
	}
	pemPath := filepath.Join(*outDir, "tls-bench.pem")
	if err := os.WriteFile(pemPath, append(append([]byte(nil), certPEM...), keyPEM...), 0o600); err != nil {
		return err
	}
	stop, err := startBackends([]string{httpA, httpB}, sinkAddr)
	if err != nil {
		return fmt.Errorf("backends: %w", err)
	}
	defer stop()
	haCfg := filepath.Join(*outDir, "haproxy-tls.cfg")
	if err := os.WriteFile(haCfg, []byte(haproxyTLSConfig(pemPath)), 0o644); err != nil {
		return err
	}
	fuCfg := filepath.Join(*outDir, "fulcrum-tls.json")
	b, _ := json.MarshalIndent(fulcrumTLSConfig(string(certPEM), string(keyPEM)), "", "  ")
	if err := os.WriteFile(fuCfg, b, 0o600); err != nil {
		return err
	}
	ha, err := startProc(ctx, filepath.Join(*outDir, "haproxy-tls.log"), "haproxy", "-db", "-f", haCfg)
	if err != nil {
		return err
	}
	defer ha.stop()
	fu, err := startProc(ctx, filepath.Join(*outDir, "fulcrum-tls.log"), *fulcrum, "engine", "--config", fuCfg, "--log-level", "warn")
	if err != nil {
		return err
	}
	defer fu.stop()
	for _, a := range []string{httpA, httpB, haTLS, fuTLS} {
		if err := waitPort(a, 10*time.Second); err != nil {
			return err
		}
	}
	fmt.Printf("machine: %d CPUs, load average %s; wrk -t2 -c%d; RSA-2048 certificate, TLS 1.3; keep-alive %v, new handshakes %v; %d interleaved runs\n",
		numCPU(), loadAvg(), *conns, *dur, *closeDur, *runs)
	type target struct {
		name, addr string
		pid        int
	}
	targets := []target{{"haproxy", haTLS, ha.cmd.Process.Pid}, {"fulcrum", fuTLS, fu.cmd.Process.Pid}}
	ka, hs := map[string][]sample{}, map[string][]sample{}
	for _, t := range targets {
		wrkURL(ctx, "https://"+t.addr+"/", 2*time.Second, *conns, false)
	}
	for r := 1; r <= *runs; r++ {
		for _, t := range targets {
			s, err := measure(ctx, t.pid, func() (sample, error) { return wrkURL(ctx, "https://"+t.addr+"/", *dur, *conns, false) })
			if err != nil {
				return fmt.Errorf("%s TLS keep-alive: %w", t.name, err)
			}
			ka[t.name] = append(ka[t.name], s)
			fmt.Printf("run %d %-8s TLS keep-alive %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  proxy CPU %5.2f s\n", r, t.name, s.rps, s.p50, s.p99, s.cpu)
		}
		for _, t := range targets {
			s, err := measure(ctx, t.pid, func() (sample, error) { return wrkURL(ctx, "https://"+t.addr+"/", *closeDur, *conns, true) })
			if err != nil {
				return fmt.Errorf("%s new handshakes: %w", t.name, err)
			}
			hs[t.name] = append(hs[t.name], s)
			fmt.Printf("run %d %-8s new handshakes %9.0f /s  p99 %6.2f ms  proxy CPU %5.2f s\n", r, t.name, s.rps, s.p99, s.cpu)
		}
	}
	fmt.Printf("load average after the runs: %s\n", loadAvg())
	med, rps, eff, ratio := medianOf, sampleRPS, sampleReqPerCPU, ratioOf
	fmt.Println()
	fmt.Printf("%-8s %16s %12s %16s %14s\n", "medians", "TLS keep-alive/s", "req/CPU-s", "handshakes/s", "hs/CPU-s")
	for _, t := range targets {
		fmt.Printf("%-8s %16.0f %12.0f %16.0f %14.0f\n", t.name, med(ka[t.name], rps), med(ka[t.name], eff), med(hs[t.name], rps), med(hs[t.name], eff))
	}
	fmt.Println()
	fmt.Printf("RESULT tls_keepalive_rps %.0f\n", med(ka["fulcrum"], rps))
	fmt.Printf("RESULT tls_keepalive_rps_haproxy %.0f\n", med(ka["haproxy"], rps))
	fmt.Printf("RESULT tls_keepalive_ratio_haproxy %.3f\n", ratio(med(ka["fulcrum"], rps), med(ka["haproxy"], rps)))
	fmt.Printf("RESULT tls_handshakes_per_s %.0f\n", med(hs["fulcrum"], rps))
	fmt.Printf("RESULT tls_handshakes_per_s_haproxy %.0f\n", med(hs["haproxy"], rps))
	fmt.Printf("RESULT tls_handshake_ratio_haproxy %.3f\n", ratio(med(hs["fulcrum"], rps), med(hs["haproxy"], rps)))
	fmt.Printf("RESULT tls_handshake_cpu_eff_ratio_haproxy %.3f\n", ratio(med(hs["fulcrum"], eff), med(hs["haproxy"], eff)))
	return nil
}

// wrkURL is wrk for a full URL (https included).
func wrkURL(ctx context.Context, url string, d time.Duration, conns int, closeMode bool) (sample, error) {
	return wrkTarget(ctx, url, d, conns, closeMode)
}

// benchCertificate is a self-signed RSA-2048 certificate for 127.0.0.1 and
// its PKCS#8 key, in PEM.
func benchCertificate() (certPEM, keyPEM []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "bench.example.test"},
		DNSNames: []string{"bench.example.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), nil
}

func haproxyTLSConfig(pemPath string) string {
	return fmt.Sprintf(`global
    maxconn 4000
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode http
    timeout connect 5s
    timeout client 50s
    timeout server 50s
    option http-keep-alive
frontend fe_tls
    bind %s ssl crt %s alpn http/1.1,http/1.0
    http-request set-header X-Forwarded-Proto https
    default_backend be_http
backend be_http
    balance roundrobin
    server a %s
    server b %s
`, haTLS, pemPath, httpA, httpB)
}

func fulcrumTLSConfig(certPEM, keyPEM string) *dataplane.Config {
	host, port, _ := net.SplitHostPort(fuTLS)
	p, _ := strconv.Atoi(port)
	m := func(id, addr string) dataplane.Member {
		h, pt, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(pt)
		return dataplane.Member{ID: id, Address: h, ProtocolPort: n, Weight: 1, AdminStateUp: true}
	}
	return &dataplane.Config{Version: 1,
		Listeners: []dataplane.Listener{{ID: "tls", LoadBalancerID: "bench", Protocol: dataplane.ProtocolTerminatedHTTPS, Addresses: []string{host},
			ProtocolPort: p, DefaultPoolID: "web", ConnectionLimit: -1, TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000,
			InsertHeaders: map[string]string{"X-Forwarded-Proto": "true"},
			TLS:           &dataplane.ListenerTLS{DefaultCertificate: &dataplane.Certificate{CertPEM: certPEM, KeyPEM: keyPEM}}}},
		Pools: []dataplane.Pool{{ID: "web", Protocol: dataplane.ProtocolHTTP, Algorithm: dataplane.RoundRobin, Members: []dataplane.Member{m("a", httpA), m("b", httpB)}}},
	}
}
