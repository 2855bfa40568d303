package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/agent"
	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/engine/proxy"
	"github.com/fulcrumlb/fulcrum/internal/healthmgr"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/metrics"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// defaultMetricsListen is the Prometheus exporter's conventional kind of
// address: loopback, a port of its own. The agent's differs from the
// server's so that an all-in-one server and an agent on one host both serve
// theirs.
const (
	defaultMetricsListen      = "127.0.0.1:9877"
	defaultAgentMetricsListen = "127.0.0.1:9878"
)

// metricsConfig is where a process's /metrics is served.
type metricsConfig struct {
	Listen string
	set    *config.Set
}

// register declares --metrics-listen with its default address def.
func (c *metricsConfig) register(s *config.Set, def string) {
	c.set = s
	s.String(&c.Listen, "metrics-listen", def,
		"address of the operator's /metrics (Prometheus text format, no authentication: keep it on loopback or a management network); empty disables")
}

// explicit reports whether the operator chose the address (flag, environment
// or config file) rather than taking the default.
func (c *metricsConfig) explicit() bool { return c.set != nil && c.set.Changed("metrics-listen") }

// serverMetrics are the control plane's metrics: the API's requests, store
// transactions and reconciles as they happen; queue depth, agents and load
// balancers read at each scrape.
type serverMetrics struct {
	reg       *metrics.Registry
	api       *metrics.HTTP
	txs       *metrics.Counter
	txLatency *metrics.Histogram
	reconcile *metrics.Histogram
}

func newServerMetrics() *serverMetrics {
	reg := metrics.New()
	reg.Runtime()
	m := &serverMetrics{reg: reg, api: metrics.NewHTTP(reg, "fulcrum_api")}
	m.txs = reg.Counter("fulcrum_store_transactions_total", "Store transactions by kind (update, view) and result (ok, not_found, conflict, cannot_write, error: any other error, the caller's included).", "kind", "result")
	m.txLatency = reg.Histogram("fulcrum_store_transaction_duration_seconds", "Store transaction latency, by kind (update, view).", nil, "kind")
	m.reconcile = reg.Histogram("fulcrum_reconcile_duration_seconds", "Controller reconcile latency, by result (ok, retry, error).", nil, "result")
	return m
}

// observeReconcile is the controller's OnReconcile.
func (m *serverMetrics) observeReconcile(d time.Duration, result string) {
	m.reconcile.Observe(d.Seconds(), result)
}

// store returns st with its transactions counted and timed.
func (m *serverMetrics) store(st store.Store) store.Store { return &observedStore{Store: st, m: m} }

type observedStore struct {
	store.Store
	m *serverMetrics
}

func (s *observedStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	start := time.Now()
	err := s.Store.Update(ctx, fn)
	s.m.observeTx("update", start, err)
	return err
}

func (s *observedStore) View(ctx context.Context, fn func(store.Tx) error) error {
	start := time.Now()
	err := s.Store.View(ctx, fn)
	s.m.observeTx("view", start, err)
	return err
}

func (m *serverMetrics) observeTx(kind string, start time.Time, err error) {
	m.txLatency.ObserveSince(start, kind)
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		result = "not_found"
	case errors.Is(err, store.ErrConflict):
		result = "conflict"
	case errors.Is(err, store.ErrCannotWrite):
		result = "cannot_write"
	default:
		result = "error"
	}
	m.txs.Add(1, kind, result)
}

// gauges registers the families read at scrape time; queueLen is the
// controller's queue on this server (0 while another server leads).
func (m *serverMetrics) gauges(queueLen func() int, hm *healthmgr.Manager, st store.Store) {
	m.reg.Gauge("fulcrum_reconcile_queue_depth", "Load balancers waiting for a controller worker (on the leader).", nil,
		func(_ context.Context, emit func(float64, ...string)) error {
			emit(float64(queueLen()))
			return nil
		})
	var (
		mu     sync.Mutex
		agents []healthmgr.AgentHealth
		lbs    []*lb.LoadBalancer
		lbErr  error
	)
	// Each scrape reads agents and load balancers once; the families below
	// share the reads (read by the first family that needs them).
	readAgents := func(ctx context.Context) ([]healthmgr.AgentHealth, error) {
		mu.Lock()
		defer mu.Unlock()
		a, err := hm.Agents(ctx)
		agents = a
		return agents, err
	}
	m.reg.Gauge("fulcrum_agents", "Enrolled agents by status (UP, DOWN).", []string{"status"},
		func(ctx context.Context, emit func(float64, ...string)) error {
			all, err := readAgents(ctx)
			if err != nil {
				return err
			}
			n := map[string]int{lb.AgentUp: 0, lb.AgentDown: 0}
			for _, a := range all {
				n[a.Status]++
			}
			for s, c := range n {
				emit(float64(c), s)
			}
			return nil
		})
	cached := func() []healthmgr.AgentHealth {
		mu.Lock()
		defer mu.Unlock()
		return agents
	}
	m.reg.Gauge("fulcrum_agent_up", "1 when the agent is UP, 0 when DOWN.", []string{"agent"},
		func(_ context.Context, emit func(float64, ...string)) error {
			for _, a := range cached() {
				up := 0.0
				if a.Status == lb.AgentUp {
					up = 1
				}
				emit(up, a.Name)
			}
			return nil
		})
	m.reg.Gauge("fulcrum_agent_heartbeat_age_seconds", "Time since the agent's last heartbeat reached this server (since the server started when none has).", []string{"agent"},
		func(_ context.Context, emit func(float64, ...string)) error {
			for _, a := range cached() {
				emit(a.HeartbeatAge.Seconds(), a.Name)
			}
			return nil
		})
	m.reg.Gauge("fulcrum_agent_applied_config_version", "The newest data-plane config version the agent reported applied.", []string{"agent"},
		func(_ context.Context, emit func(float64, ...string)) error {
			for _, a := range cached() {
				emit(float64(a.AppliedVersion), a.Name)
			}
			return nil
		})
	m.reg.Gauge("fulcrum_loadbalancers", "Load balancers by provisioning and operating status.", []string{"provisioning_status", "operating_status"},
		func(ctx context.Context, emit func(float64, ...string)) error {
			var all []*lb.LoadBalancer
			err := st.View(ctx, func(tx store.Tx) error {
				var err error
				all, err = tx.LoadBalancers().List(ctx, store.Query{})
				return err
			})
			mu.Lock()
			lbs, lbErr = all, err
			mu.Unlock()
			if err != nil {
				return err
			}
			type key struct{ p, o string }
			n := map[key]int{}
			for _, l := range all {
				n[key{string(l.Status.Provisioning), string(l.Status.Operating)}]++
			}
			for k, c := range n {
				emit(float64(c), k.p, k.o)
			}
			return nil
		})
	m.reg.Gauge("fulcrum_loadbalancer_generations_pending", "Load balancers whose newest generation their provider has not yet acknowledged.", nil,
		func(_ context.Context, emit func(float64, ...string)) error {
			mu.Lock()
			defer mu.Unlock()
			if lbErr != nil {
				return lbErr
			}
			n := 0
			for _, l := range lbs {
				if l.Generation != l.AppliedGeneration {
					n++
				}
			}
			emit(float64(n))
			return nil
		})
}

// listenMetrics opens the metrics listener: nil when disabled, or when the
// default address is taken (another fulcrum server on this host) — then it
// warns and the server runs without /metrics. An address the operator chose
// must be free.
func listenMetrics(cfg *metricsConfig, log *slog.Logger) (net.Listener, error) {
	if cfg.Listen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		if !cfg.explicit() && errors.Is(err, syscall.EADDRINUSE) {
			log.Warn("metrics listener: the default address is in use; /metrics is off (set --metrics-listen)", "addr", cfg.Listen)
			return nil, nil
		}
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	if ap, err := net.ResolveTCPAddr("tcp", ln.Addr().String()); err == nil && !ap.IP.IsLoopback() {
		log.Warn("metrics listener is not on loopback: /metrics has no authentication and shows every project's counts; restrict who reaches it", "addr", ln.Addr().String())
	}
	return ln, nil
}

// serve serves the server's /metrics on ln until ctx ends.
func (m *serverMetrics) serve(ctx context.Context, wg *sync.WaitGroup, ln net.Listener, log *slog.Logger) {
	serveMetrics(ctx, wg, ln, m.reg, log)
}

// serveMetrics serves reg at /metrics on ln until ctx ends.
func serveMetrics(ctx context.Context, wg *sync.WaitGroup, ln net.Listener, reg *metrics.Registry, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", reg.Handler(10*time.Second, func(err error) { log.Warn("metrics scrape incomplete", "err", err) }))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
}

// nodeMetrics are a data-plane agent's own metrics (fulcrum_node_*): its
// applies and heartbeats as they happen; what it serves, the server it talks
// to and its access log read at each scrape. The embedded agent's are on the
// server's /metrics.
type nodeMetrics struct {
	applies      *metrics.Counter
	applyLatency *metrics.Histogram
	heartbeats   *metrics.Counter
	hbLatency    *metrics.Histogram
}

func newNodeMetrics(reg *metrics.Registry) *nodeMetrics {
	return &nodeMetrics{
		applies:      reg.Counter("fulcrum_node_config_applies_total", "Configs this agent applied, by result (ok; partial: some load balancers refused; refused: the previous config keeps serving).", "result"),
		applyLatency: reg.Histogram("fulcrum_node_config_apply_duration_seconds", "Time this agent took to apply a config, by result.", nil, "result"),
		heartbeats:   reg.Counter("fulcrum_node_heartbeats_total", "Heartbeats this agent sent, by result (ok, refused: the server refuses the agent, error: no answer or a failure).", "result"),
		hbLatency:    reg.Histogram("fulcrum_node_heartbeat_duration_seconds", "Heartbeat round trip, by result.", nil, "result"),
	}
}

// ConfigApplied is agent.Observer's.
func (m *nodeMetrics) ConfigApplied(took time.Duration, result string) {
	m.applies.Add(1, result)
	m.applyLatency.Observe(took.Seconds(), result)
}

// Heartbeat is agent.Observer's.
func (m *nodeMetrics) Heartbeat(_ string, took time.Duration, err error) {
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, agent.ErrRefused):
		result = "refused"
	default:
		result = "error"
	}
	m.heartbeats.Add(1, result)
	m.hbLatency.Observe(took.Seconds(), result)
}

// nodeGauges registers the families read from the agent (and its access
// log, when it has one) at each scrape.
func nodeGauges(reg *metrics.Registry, a *agent.Agent, al *proxy.AccessLog) {
	gauge := func(name, help string, labels []string, f func(st agent.Status, emit func(float64, ...string))) {
		reg.Gauge(name, help, labels, func(_ context.Context, emit func(float64, ...string)) error {
			f(a.Status(), emit)
			return nil
		})
	}
	gauge("fulcrum_node_applied_config_version", "Version of the newest config this agent applied (0: none yet).", nil,
		func(st agent.Status, emit func(float64, ...string)) { emit(float64(st.AppliedVersion)) })
	gauge("fulcrum_node_loadbalancers", "Load balancers this agent serves listeners for (one without listeners carries no traffic and is not counted).", nil,
		func(st agent.Status, emit func(float64, ...string)) { emit(float64(st.LoadBalancers)) })
	gauge("fulcrum_node_loadbalancers_refused", "Load balancers of the newest config this agent refused (docs/agents.md).", nil,
		func(st agent.Status, emit func(float64, ...string)) { emit(float64(st.Refused)) })
	gauge("fulcrum_node_server", "The server this agent talks to: 1 once it has answered, 0 while the agent has just moved to it.", []string{"server"},
		func(st agent.Status, emit func(float64, ...string)) {
			v := 0.0
			if st.Attached {
				v = 1
			}
			emit(v, st.Server)
		})
	if al == nil {
		return
	}
	reg.CounterFunc("fulcrum_access_log_lines_total", "Access-log lines, by result (written: the sink took them; dropped: the sink was behind).", []string{"result"},
		func(_ context.Context, emit func(float64, ...string)) error {
			emit(float64(al.Written()), "written")
			emit(float64(al.Dropped()), "dropped")
			return nil
		})
	reg.CounterFunc("fulcrum_access_log_write_failures_total", "Batches of access-log lines the sink failed to take (their lines are lost).", nil,
		func(_ context.Context, emit func(float64, ...string)) error {
			emit(float64(al.Failed()))
			return nil
		})
}

// accessLogUsage documents --access-log of the agent, the server (its embedded
// agent) and the standalone engine.
const accessLogUsage = "data-plane access log, one JSON line per HTTP request and per TCP/UDP flow (docs/dataplane.md): file:PATH, syslog://HOST:PORT (UDP), syslog+tcp://HOST:PORT or syslog+unix:///PATH (RFC 5424); empty: off"

// openAccessLog opens the data plane's access log; nil when spec is empty.
// The caller closes it after the engine.
func openAccessLog(spec string, log *slog.Logger) (*proxy.AccessLog, error) {
	if spec == "" {
		return nil, nil
	}
	al, err := proxy.OpenAccessLog(spec, log.With("component", "access-log"))
	if err != nil {
		return nil, fmt.Errorf("%w: --access-log: %v", errUsage, err)
	}
	return al, nil
}
