package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/agent"
	"github.com/fulcrumlb/fulcrum/internal/agentapi"
	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine"
	"github.com/fulcrumlb/fulcrum/internal/engine/haproxy"
	"github.com/fulcrumlb/fulcrum/internal/engine/procs"
	"github.com/fulcrumlb/fulcrum/internal/engine/proxy"
	"github.com/fulcrumlb/fulcrum/internal/metrics"
	"github.com/fulcrumlb/fulcrum/internal/pki"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
)

// parseSegments reads --segment NAME=INTERFACE values.
func parseSegments(list []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range list {
		name, ifc, ok := strings.Cut(v, "=")
		if !ok || name == "" || ifc == "" || len(name) > 64 || len(ifc) > 15 || strings.ContainsAny(ifc, " /") {
			return nil, fmt.Errorf("%q: want NAME=INTERFACE (a name of at most 64 bytes, an interface name)", v)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("segment %q given twice", name)
		}
		out[name] = ifc
	}
	return out, nil
}

// agentEngine is the engine an agent drives: the native one or HAProxy.
type agentEngine interface {
	agent.Engine
	Close() error
}

// engineSettings choose and configure an agent's engine (`--engine`, `--haproxy`).
type engineSettings struct {
	Kind    string // dataplane.EngineNative or dataplane.EngineHAProxy
	HAProxy string // the haproxy executable ("": haproxy in PATH, else /usr/sbin/haproxy)
	// accessLog is the native engine's access log (nil: none; openAccessLog).
	accessLog *proxy.AccessLog
}

func (e *engineSettings) check(flag string) error {
	if e.Kind != dataplane.EngineNative && e.Kind != dataplane.EngineHAProxy {
		return fmt.Errorf("%w: --%s %q: want %s or %s", errUsage, flag, e.Kind, dataplane.EngineNative, dataplane.EngineHAProxy)
	}
	return nil
}

// newAgentEngine starts the engine es names; the HAProxy engine keeps its files in
// dir/haproxy and refuses a missing or too-old haproxy. It returns the capabilities the
// agent advertises for it.
func newAgentEngine(es engineSettings, dir string, freeBind bool, log *slog.Logger, onEvent func(dataplane.HealthEvent)) (agentEngine, []string, error) {
	log = log.With("component", "engine", "engine", es.Kind)
	if es.Kind != dataplane.EngineHAProxy {
		return engine.New(engine.Options{Logger: log, FreeBind: freeBind, OnHealthEvent: onEvent, Proxy: proxy.Options{AccessLog: es.accessLog}}), nil, nil
	}
	if es.accessLog != nil {
		return nil, nil, fmt.Errorf("%w: --access-log is the native engine's (HAProxy logs on its own)", errUsage)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	eng, err := haproxy.New(haproxy.Options{Dir: filepath.Join(dir, "haproxy"), Binary: es.HAProxy, Logger: log,
		FreeBind: freeBind, OnHealthEvent: onEvent})
	if err != nil {
		return nil, nil, fmt.Errorf("--engine haproxy: %w", err)
	}
	return eng, []string{dataplane.CapabilityEngineHAProxy}, nil
}

// runAgent is `fulcrum agent`: a data-plane node.
func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var token, dataDir, name, address, zone, group, logLevel, logFormat string
	var servers []string
	var freeBind bool
	var segments []string
	var keepalived, accessLog, pprofAddr string
	var es engineSettings
	var mc metricsConfig
	host, _ := os.Hostname()
	s := config.New("agent")
	s.List(&servers, "server", []string{"https://127.0.0.1:9443"}, "the servers' agent APIs, comma-separated (servers sharing a database; a name with several addresses works too): the agent talks to one and moves to the next when it does not answer")
	s.String(&token, "join-token", "", "join token from `fulcrum agent-token` (first start only)")
	s.String(&dataDir, "data-dir", "./fulcrum-agent", "identity and config cache (created if missing)")
	s.String(&name, "name", "", "unique agent name (default: the host name)")
	s.String(&address, "address", "", "address where this node is reachable (informational)")
	s.String(&zone, "availability-zone", "", "availability zone of this node at enrollment: must be the join token's (default: the token's)")
	s.String(&group, "group", "", "agent group of this node at enrollment: must be the join token's (default: the token's)")
	s.Bool(&freeBind, "freebind", false, "bind VIPs not configured on this host (IP_FREEBIND); on with --segment")
	s.List(&segments, "segment", nil, "physical networks this node is on, as NAME=INTERFACE (comma-separated or repeated): the node runs ACTIVE_STANDBY load balancers' VRRP groups there with keepalived")
	s.String(&keepalived, "keepalived", vrrp.DefaultBinary, "keepalived's path (with --segment)")
	s.String(&es.Kind, "engine", dataplane.EngineNative, "data-plane engine: native (fulcrum's own proxy) or haproxy (HAProxy "+haproxy.MinVersion+" or newer, Debian's package, driven by the agent)")
	s.String(&es.HAProxy, "haproxy", "", "haproxy executable for --engine haproxy (default: haproxy in PATH, else /usr/sbin/haproxy)")
	s.String(&logLevel, "log-level", "info", "debug, info, warn or error")
	s.String(&logFormat, "log-format", "text", "text or json")
	s.String(&accessLog, "access-log", "", accessLogUsage)
	s.String(&pprofAddr, "pprof", "", "serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6061), for profiling; off by default")
	mc.register(s, defaultAgentMetricsListen)
	if err := s.Load(args, os.Getenv, stderr); err != nil {
		return err
	}
	if name == "" {
		name = host
	}
	if err := pki.CheckAgentName(name); err != nil {
		return fmt.Errorf("%w: --name: %v", errUsage, err)
	}
	if err := es.check("engine"); err != nil {
		return err
	}
	segs, err := parseSegments(segments)
	if err != nil {
		return fmt.Errorf("%w: --segment: %v", errUsage, err)
	}
	if len(segs) > 0 {
		if err := vrrp.CheckBinary(keepalived); err != nil {
			return err
		}
		freeBind = true // the BACKUP binds VIPs it does not hold
	}
	log, err := newLogger(stderr, logLevel, logFormat)
	if err != nil {
		return err
	}
	if pprofAddr != "" {
		stopPprof, err := servePprof(pprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	al, err := openAccessLog(accessLog, log)
	if err != nil {
		return err
	}
	if al != nil {
		defer al.Close()
	}
	es.accessLog = al
	events := make(chan dataplane.HealthEvent, 1024)
	eng, caps, err := newAgentEngine(es, dataDir, freeBind, log, func(ev dataplane.HealthEvent) {
		select {
		case events <- ev:
		default: // the agent is behind; the next heartbeat's health snapshot still has the state
		}
	})
	if err != nil {
		return err
	}
	defer eng.Close()
	if es.Kind != dataplane.EngineHAProxy {
		// The agent process is the native engine's: with FULCRUM_ENGINE_SIZE_PROCS=1,
		// GOMAXPROCS sized to its load.
		defer procs.Start(ctx, procs.Options{Logger: log})()
	}
	if len(servers) == 0 {
		return fmt.Errorf("%w: --server needs at least one https://host:port", errUsage)
	}
	metricsLn, err := listenMetrics(&mc, log)
	if err != nil {
		return err
	}
	if metricsLn != nil {
		defer metricsLn.Close()
	}
	reg := metrics.New()
	reg.Runtime()
	a, err := agent.New(agent.Options{Servers: servers, DataDir: dataDir, Name: name, JoinToken: token,
		Address: address, AvailabilityZone: zone, Group: group, Engine: eng, Capabilities: caps, Logger: log, Events: events,
		Segments: segs, Keepalived: keepalived, Observer: newNodeMetrics(reg)})
	if err != nil {
		return err
	}
	nodeGauges(reg, a, al)
	fmt.Fprintf(stdout, "fulcrum agent %s: data plane for %s with the %s engine (data in %s)\n", name, strings.Join(servers, ", "), es.Kind, dataDir)
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
	}()
	if metricsLn != nil {
		serveMetrics(runCtx, &wg, metricsLn, reg, log)
		fmt.Fprintf(stdout, "metrics (Prometheus, operators only) on http://%s/metrics\n", metricsLn.Addr())
	}
	return a.Run(runCtx)
}

// runAgentToken is `fulcrum agent-token`: issue a join token from the
// server's data directory (the server may be running).
func runAgentToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var sc storeConfig
	var name, server, zone, group string
	var ttl time.Duration
	var replace bool
	s := config.New("agent-token")
	sc.register(s, "the server's data directory (the embedded agent's name; with SQLite and no master key, the database and the CA)")
	s.String(&name, "name", "", "bind the token to this agent name (default: the token creates a new agent of any unused name)")
	s.Duration(&ttl, "ttl", 24*time.Hour, "how long the token may be used")
	s.Bool(&replace, "replace", false, "re-enroll --name although it is enrolled: its current certificate is refused from now on, and its load balancers move to other agents at once")
	s.String(&zone, "availability-zone", "", "availability zone the agent gets, matched against availability zone profiles' agent_zone (with --replace, default: the agent's current one)")
	s.String(&group, "group", "", "agent group the agent gets, matched against flavor profiles' agent_group (with --replace, default: the agent's current one)")
	s.String(&server, "server", "https://127.0.0.1:9443", "agent API URL to print in the example command")
	if err := s.Load(args, os.Getenv, stderr); err != nil {
		return err
	}
	if replace && name == "" {
		return fmt.Errorf("%w: --replace needs the --name of the agent to re-enroll", errUsage)
	}
	if name != "" {
		if err := pki.CheckAgentName(name); err != nil {
			return fmt.Errorf("%w: --name: %v", errUsage, err)
		}
	}
	if ttl <= 0 {
		return fmt.Errorf("%w: --ttl must be more than zero, got %s", errUsage, ttl)
	}
	req := agentapi.TokenRequest{Name: name, TTL: ttl, Replace: replace}
	for _, f := range []struct {
		flag  string
		value *string
		dst   **string
	}{{"availability-zone", &zone, &req.AvailabilityZone}, {"group", &group, &req.Group}} {
		if err := agentapi.CheckPlacementLabel(*f.value); err != nil {
			return fmt.Errorf("%w: --%s: %v", errUsage, f.flag, err)
		}
		if s.Changed(f.flag) {
			*f.dst = f.value
		}
	}
	if err := sc.check(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	reserved, err := agentapi.ReservedNames(sc.DataDir)
	if err != nil {
		return err
	}
	req.Reserved = reserved
	st, err := sc.open(ctx, nil)
	if err != nil {
		return refuseNewerSchema(err)
	}
	defer st.Close()
	rings, err := sc.openKeyRings(ctx, st, false, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	ca, err := rings.loadCA(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	issued, err := agentapi.IssueJoinToken(ctx, st, ca, req, time.Now())
	if err != nil {
		return err
	}
	if replace {
		// The operator's record of the takeover (the server logs the
		// enrollment that follows).
		switch {
		case issued.Released != "":
			fmt.Fprintf(stderr, "agent %s released with --replace: its certificate %s is refused from now on, and its load balancers move to other agents; the token below enrolls the name again\n", name, issued.Released)
		case issued.Revoked:
			fmt.Fprintf(stderr, "agent %s released with --replace: its revocation is lifted for the token below only\n", name)
		}
		if issued.Withdrawn > 0 {
			fmt.Fprintf(stderr, "%d earlier unused token(s) for %s withdrawn\n", issued.Withdrawn, name)
		}
	}
	if p := issued.Previous; p != nil && *p != issued.Placement {
		fmt.Fprintf(stderr, "agent %s moves from %s to %s when the token below enrolls it\n", name, p, issued.Placement)
	} else {
		fmt.Fprintf(stderr, "the token enrolls its agent in %s\n", issued.Placement)
	}
	fmt.Fprintln(stdout, issued.Token.String())
	nameFlag := " --name <unused name>"
	if name != "" {
		nameFlag = " --name " + name
	}
	fmt.Fprintf(stderr, "start an agent with:\n  fulcrum agent --server %s --join-token %s%s --data-dir ./fulcrum-agent\n", server, issued.Token.String(), nameFlag)
	return nil
}

// runAgentRevoke is `fulcrum agent-revoke --name NAME`.
func runAgentRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var sc storeConfig
	var name string
	s := config.New("agent-revoke")
	sc.register(s, "the server's data directory (the embedded agent's name; with SQLite, the database)")
	s.String(&name, "name", "", "agent to revoke")
	if err := s.Load(args, os.Getenv, stderr); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("%w: agent-revoke needs --name", errUsage)
	}
	if _, _, err := sc.dsn(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	reserved, err := agentapi.ReservedNames(sc.DataDir)
	if err != nil {
		return err
	}
	st, err := sc.open(ctx, nil)
	if err != nil {
		return refuseNewerSchema(err)
	}
	defer st.Close()
	err = agentapi.Revoke(ctx, st, name, time.Now(), reserved...)
	if errors.Is(err, agentapi.ErrReservedName) {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "agent %s revoked: its certificate is refused from now on, at its next contact it stops serving, and the server moves its load balancers to other agents\n", name)
	return nil
}
