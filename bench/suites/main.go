// Package main is fulcrum's benchmark runner, started as `bench/run <suite>`:
// one file per suite, each printing its figures and ending with
// "RESULT <name> <value>" lines. With no suite it lists them. bench/README.md
// says what each suite measures and its targets.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/benchkit"
	"github.com/fulcrumlb/fulcrum/internal/vrrp/vrrplab"
)

// suite is one benchmark: a name for the command line, one line saying what
// it measures, and its run function, which parses its own flags.
type suite struct {
	name, short string
	run         func(ctx context.Context, args []string) error
	// hidden suites are helpers a suite starts in a fresh process, or tools
	// for manual runs; they are not listed.
	hidden bool
}

func suites() []suite {
	return []suite{
		{name: "api", short: "API latency with 1,000 load balancers stored: p50/p99 of list, show, member create", run: runAPI},
		{name: "members", short: "batch update of 1,000 members (request and until applied), listing a pool of 10,000 members", run: runMembers},
		{name: "provision", short: "create a full graph → first 200 OK through the VIP; 1,000 load balancers on one agent", run: runProvision},
		{name: "failover", short: "SIGKILL of the agent serving a load balancer → first 200 OK through the VIP again", run: runFailover},
		{name: "dataplane", short: "the engine against HAProxy 2.6 and the direct path: req/s, CPU, latency, TCP bulk, apply, memory", run: runDataplane},
		{name: "active-standby", short: "VRRP pair in namespaces (keepalived): outage per fault on the MASTER, planned handover failures", run: runActiveStandby},
		{name: "control-ha", short: "three servers on PostgreSQL: leader SIGKILL → a write ACTIVE through another server; API latency with 10,000 load balancers", run: runControlHA},
		{name: "engines", short: "the native and HAProxy engines through the API: req/s, req per CPU-s, p99, create → first 200 OK", run: runEngines},
		{name: "tls", short: "TERMINATED_HTTPS against HAProxy 2.6 + OpenSSL: TLS keep-alive req/s and new handshakes/s", run: runTLS},
		{name: "scale", short: "one agent holding 10,000 load balancers: all ACTIVE (8 clients), the agent's RSS, one member change → ACTIVE", run: runScale},
		{name: "accesslog", short: "the data plane's access log: keep-alive req/s of a logging listener against silent ones in the same engine", run: runAccessLog},
		{name: "h2", short: "HTTP/2 over TLS (ALPN h2, many streams per connection) against HAProxy 2.6: req/s, req per CPU-s", run: runH2},
		{name: "dataplane-apply", run: runDataplaneApply, hidden: true},
		{name: "dataplane-serve", run: runDataplaneServe, hidden: true},
		{name: "dataplane-bulk", run: runDataplaneBulk, hidden: true},
	}
}

func main() {
	// The active-standby suite re-runs this binary as its lab's nodes.
	vrrplab.MaybeRunNode()
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		list(os.Stdout)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, s := range suites() {
		if s.name != os.Args[1] {
			continue
		}
		err := s.run(ctx, os.Args[2:])
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", s.name, err)
			os.Exit(1)
		}
		return
	}
	fmt.Fprintf(os.Stderr, "bench: unknown suite %q\n\n", os.Args[1])
	list(os.Stderr)
	os.Exit(2)
}

// list prints the suites, one line each.
func list(w io.Writer) {
	fmt.Fprintln(w, "usage: bench/run <suite> [flags]   (bench/run <suite> -h for its flags; see bench/README.md)")
	fmt.Fprintln(w)
	for _, s := range suites() {
		if !s.hidden {
			fmt.Fprintf(w, "  %-15s %s\n", s.name, s.short)
		}
	}
}

// prepareProxies readies the dataplane and tls suites: it installs haproxy
// and wrk from Debian when they are missing, builds fulcrum into outDir and
// prints the versions the figures were taken with. It returns the fulcrum
// binary's path.
func prepareProxies(outDir string, tls bool) (string, error) {
	var missing []string
	for _, tool := range []string{"haproxy", "wrk"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		fmt.Printf("installing %s from Debian\n", strings.Join(missing, " "))
		if err := asRoot("apt-get", "update", "-qq"); err != nil {
			return "", err
		}
		if err := asRoot(append([]string{"apt-get", "install", "-y", "-qq"}, missing...)...); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	abs, err := filepath.Abs(outDir)
	if err != nil {
		return "", err
	}
	bin, err := benchkit.Build(abs)
	if err != nil {
		return "", err
	}
	version := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil && len(out) == 0 {
			return "?"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	fmt.Printf("haproxy: %s\n", version("haproxy", "-v"))
	if tls {
		fmt.Printf("openssl: %s\n", version("openssl", "version"))
	}
	fmt.Printf("wrk: %s\n", version("wrk", "-v"))
	fmt.Printf("go: %s\n", version("go", "version"))
	return bin, nil
}

// asRoot runs a command as root: directly when this process is root, else
// through sudo.
func asRoot(args ...string) error {
	if os.Geteuid() != 0 {
		args = append([]string{"sudo"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// envInt is the integer in environment variable name, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// envSeconds is the whole seconds in environment variable name, or def.
func envSeconds(name string, def time.Duration) time.Duration {
	return time.Duration(envInt(name, int(def/time.Second))) * time.Second
}
