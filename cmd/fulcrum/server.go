package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/agentapi"
	"github.com/fulcrumlb/fulcrum/internal/cluster"
	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/dashboard"
	"github.com/fulcrumlb/fulcrum/internal/pki"
	"github.com/fulcrumlb/fulcrum/internal/snapshot"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// serverConfig is everything `fulcrum server` can be told.
type serverConfig struct {
	storeConfig
	Listen          string
	Auth            string
	Provider        string
	LogLevel        string
	LogFormat       string
	Workers         int
	Resync          time.Duration
	ShutdownTimeout time.Duration
	Pprof           string

	AgentListen       string
	EmbeddedAgent     bool
	EmbeddedAgentName string
	EmbeddedEngine    engineSettings
	AgentHeartbeat    time.Duration
	AgentDeadAfter    time.Duration
	AgentCertHosts    []string
	LeaseTTL          time.Duration
	AccessLog         string

	Identity identityConfig
	Network  networkConfig
	Policy   policyConfig
	API      apiConfig
	Quota    quotaConfig
	Metrics  metricsConfig
}

func loadServerConfig(args []string, stderr io.Writer) (*serverConfig, error) {
	var c serverConfig
	s := config.New("server")
	s.String(&c.Listen, "listen", "127.0.0.1:9876", "address of the HTTP API")
	c.storeConfig.register(s, "directory for this server's files: the SQLite database and keys unless --database and --master-key-file say otherwise, the agent API's certificate (created if missing)")
	s.String(&c.Auth, "auth", "keystone", "authentication: keystone (tokens from the built-in Keystone subset) or noauth (project from X-Project-Id, everyone admin, no quotas)")
	s.String(&c.Provider, "provider", "fulcrum", "default provider for new load balancers: fulcrum (fulcrum agents, native engine unless the flavor says engine: haproxy), haproxy (fulcrum agents running the HAProxy engine) or noop (API only)")
	s.String(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	s.String(&c.LogFormat, "log-format", "text", "text or json")
	s.Int(&c.Workers, "workers", 4, "parallel reconciles")
	s.Duration(&c.Resync, "resync", 10*time.Second, "period of the controller's resync of unsettled load balancers")
	s.Duration(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for in-flight requests")
	s.String(&c.Pprof, "pprof", "", "serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6060), for profiling; off by default")
	s.Section("Agents")
	s.String(&c.AgentListen, "agent-listen", "127.0.0.1:9443", "address of the agent API (HTTPS, mutual TLS)")
	s.Bool(&c.EmbeddedAgent, "embedded-agent", true, "run one data-plane agent inside the server (all-in-one; off by default with postgres://, where each server needs its own --embedded-agent-name)")
	s.String(&c.EmbeddedAgentName, "embedded-agent-name", agentapi.ReservedName, "name of the embedded agent (no join token can enroll it)")
	s.String(&c.EmbeddedEngine.Kind, "embedded-agent-engine", "native", "data-plane engine of the embedded agent: native or haproxy (HAProxy 2.6 or newer)")
	s.String(&c.EmbeddedEngine.HAProxy, "embedded-agent-haproxy", "", "haproxy executable of the embedded agent with --embedded-agent-engine haproxy (default: haproxy in PATH, else /usr/sbin/haproxy)")
	s.Duration(&c.AgentHeartbeat, "agent-heartbeat", time.Second, "how often agents report")
	s.String(&c.AccessLog, "access-log", "", "the embedded agent's "+accessLogUsage)
	s.Duration(&c.AgentDeadAfter, "agent-dead-after", 3*time.Second, "silence after which an agent is down and its load balancers move")
	s.List(&c.AgentCertHosts, "agent-cert-hosts", nil, "more DNS names or IP addresses agents reach this server's agent API by (a name several servers answer), for its certificate")
	s.Duration(&c.LeaseTTL, "lease-ttl", cluster.DefaultTTL, "with servers sharing a database: how long the leader's lease lasts unless renewed (it renews five times as often); another server takes over at most this long after the leader dies")
	s.Section("Network (the Neutron subset and VIP allocation)")
	c.Network.register(s)
	s.Section("Identity (the Keystone subset)")
	c.Identity.register(s)
	s.Section("Policy (RBAC)")
	c.Policy.register(s)
	s.Section("Octavia API")
	c.API.register(s)
	s.Section("Load-balancer quotas")
	c.Quota.register(s)
	c.Metrics.register(s, defaultMetricsListen)
	if err := s.Load(args, os.Getenv, stderr); err != nil {
		return nil, err
	}
	if c.shared() && !s.Changed("embedded-agent") {
		// Servers sharing a database would all enroll one embedded name.
		c.EmbeddedAgent = false
	}
	if c.LeaseTTL < 100*time.Millisecond {
		return nil, fmt.Errorf("--lease-ttl %v: want at least 100ms", c.LeaseTTL)
	}
	for _, err := range []error{c.storeConfig.check(), c.Network.check(), c.Quota.check(), c.API.check(), c.Identity.check(c.Auth)} {
		if err != nil {
			return nil, err
		}
	}
	if err := pki.CheckAgentName(c.EmbeddedAgentName); err != nil {
		return nil, fmt.Errorf("--embedded-agent-name: %w", err)
	}
	if c.Provider != "noop" && c.Provider != "fulcrum" && c.Provider != "haproxy" {
		return nil, fmt.Errorf("--provider %q: want fulcrum, haproxy or noop", c.Provider)
	}
	if err := c.EmbeddedEngine.check("embedded-agent-engine"); err != nil {
		return nil, err
	}
	return &c, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := loadServerConfig(args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	st, err := cfg.open(ctx, log)
	if err != nil {
		return refuseNewerSchema(err)
	}
	defer st.Close()
	if cfg.Pprof != "" {
		stop, err := servePprof(cfg.Pprof, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	metricsLn, err := listenMetrics(&cfg.Metrics, log)
	if err != nil {
		return err
	}
	if metricsLn != nil {
		defer metricsLn.Close()
	}
	sm := newServerMetrics()
	// Everything but the health check, Close, leases and notifications
	// goes through the observed store.
	ost := sm.store(st)
	rings, err := cfg.openKeyRings(ctx, st, true, log)
	if err != nil {
		return err
	}

	// Every server takes writes; the leader's controller reconciles them.
	w := &work{ctx: ctx}
	if cfg.shared() {
		w.bus = cluster.NewBus(st, log)
	}
	idp, err := newServices(cfg, ost, rings, log, w.Enqueue)
	if err != nil {
		return err
	}
	shared := snapshot.NewShared(snapshot.SharedOptions{Store: ost, Broadcaster: st, ConfigChannel: cluster.Configs,
		LoadBalancerChannel: cluster.LoadBalancers, Logger: log})
	cp, err := newControlPlane(ctx, controlPlaneDeps{cfg: cfg, store: ost, rings: rings, log: log, shared: shared, work: w,
		reserve: idp.network.reserveAgent})
	if err != nil {
		return err
	}
	holder := serverID()
	// The lease is renewed on connections of its own: a renewal never
	// waits for a connection busy with the API's or the controller's work.
	var leaseStore store.Store
	if cfg.shared() {
		ls, err := cfg.open(ctx, slog.New(slog.DiscardHandler))
		if err != nil {
			return err
		}
		defer ls.Close()
		leaseStore = ls
	}
	elector := cluster.NewElector(cluster.ElectorOptions{Store: st, LeaseStore: leaseStore, Lease: "control", Holder: holder, TTL: cfg.LeaseTTL,
		Solo: !cfg.shared(), Logger: log})
	leader := &leaderWork{cfg: cfg, log: log, work: w, shared: shared, cp: cp, services: idp, metrics: sm}
	sm.gauges(w.queueLen, cp.hm, ost)

	api, err := newAPI(apiDeps{cfg: cfg, store: ost, notifier: w, log: log, id: idp})
	if err != nil {
		return err
	}

	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/healthcheck", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "starting or stopping\n")
			return
		}
		// Unhealthy while the store cannot write (disk full, read-only or
		// failing disk): reads still work, writes answer 503.
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := st.CanWrite(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "unhealthy: %v\n", err)
			return
		}
		io.WriteString(w, "OK\n")
	})
	idp.mount(mux, cfg.Auth, cfg.Identity.ExternalURL, log)
	dashboard.New().Mount(mux)
	mux.Handle("/", api)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if err := retryConflicts(func() error { return idp.bootstrap(ctx, cfg, ost, ln.Addr(), stdout, stderr) }); err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           sm.api.Wrap(mux),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	var wg sync.WaitGroup
	ctrlCtx, stopCtrl := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCtrl()
	w.ctx = ctrlCtx
	if w.bus != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.bus.Run(ctrlCtx)
		}()
	}
	// Acknowledgements recorded by any server (this one too) name the load
	// balancers they changed on this channel.
	if err := w.follow(ctrlCtx, st, log); err != nil {
		stopCtrl()
		wg.Wait()
		return err
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := shared.Run(ctrlCtx); err != nil {
			log.Error("agent configurations not followed", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		elector.Run(ctrlCtx, leader.lead)
	}()
	cp.run(ctrlCtx, &wg, log)
	idp.rotateKeys(ctrlCtx, &wg, cfg.Identity.TokenKeyRotation, log)
	if cfg.EmbeddedAgent {
		if err := runEmbeddedAgent(ctrlCtx, &wg, cfg, cp, sm.reg, log); err != nil {
			stopCtrl()
			wg.Wait()
			return err
		}
	}
	if metricsLn != nil {
		// After the embedded agent registered its families on sm.reg.
		sm.serve(ctrlCtx, &wg, metricsLn, log)
	}
	serveErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		serveErr <- srv.Serve(ln)
	}()
	ready.Store(true)
	printBanner(stdout, cfg, ln.Addr().String(), cp.url)
	metricsAddr := ""
	if metricsLn != nil {
		metricsAddr = metricsLn.Addr().String()
		fmt.Fprintf(stdout, "metrics (Prometheus, operators only) on http://%s/metrics\n", metricsAddr)
	}
	driver, _, _ := cfg.dsn()
	log.Info("fulcrum server ready", "listen", ln.Addr().String(), "metrics", metricsAddr, "agent_api", cp.url, "data_dir", cfg.DataDir, "database", driver,
		"server_id", holder, "auth", cfg.Auth, "provider", cfg.Provider)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			stopCtrl()
			wg.Wait()
			return fmt.Errorf("serve: %w", err)
		}
	}
	ready.Store(false)
	log.Info("shutting down: draining in-flight requests", "timeout", cfg.ShutdownTimeout)
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("shutdown did not drain in time", "err", err)
	}
	stopCtrl()
	wg.Wait()
	log.Info("stopped")
	return nil
}

func printBanner(w io.Writer, cfg *serverConfig, addr, agentURL string) {
	base := "http://" + addr
	fmt.Fprintf(w, "fulcrum server: Octavia v2 API on %s (auth %s, default provider %s, data in %s)\n", base, cfg.Auth, cfg.Provider, cfg.DataDir)
	if cfg.shared() {
		fmt.Fprintf(w, "agent API (mutual TLS) on %s; add a node with: fulcrum agent-token --database <url> --master-key-file <file>\n", agentURL)
	} else {
		fmt.Fprintf(w, "agent API (mutual TLS) on %s; add a node with: fulcrum agent-token --data-dir %s\n", agentURL, cfg.DataDir)
	}
	if cfg.Auth != "noauth" {
		fmt.Fprintf(w, "try:  openstack loadbalancer create --name web --vip-subnet-id private-subnet   (after the export line above)\n")
	}
	if cfg.Auth == "noauth" {
		fmt.Fprintf(w, "try:  curl -s -H 'X-Project-Id: demo' %s/v2/lbaas/loadbalancers\n", base)
		fmt.Fprintf(w, "      openstack --os-auth-type none --os-endpoint %s loadbalancer list\n", strings.TrimSuffix(base, "/"))
	}
}
