package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/agent"
	"github.com/fulcrumlb/fulcrum/internal/agentapi"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/healthmgr"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/metrics"
	"github.com/fulcrumlb/fulcrum/internal/pki"
	"github.com/fulcrumlb/fulcrum/internal/snapshot"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// controlPlane is the server side of the data plane: the agent
// configurations published in the store, the health manager and the agent
// API listener.
type controlPlane struct {
	cache *snapshot.Shared
	hm    *healthmgr.Manager
	api   *agentapi.Server
	ca    *pki.CA
	url   string // agent API URL

	ln  net.Listener
	srv *http.Server
}

type controlPlaneDeps struct {
	cfg    *serverConfig
	store  store.Store
	rings  *keyRings
	log    *slog.Logger
	shared *snapshot.Shared
	work   *work
	// reserve keeps agents' segment addresses out of IPAM (networkService.reserveAgent).
	reserve func(ctx context.Context, tx store.Tx, a *lb.Agent) error
}

func newControlPlane(ctx context.Context, d controlPlaneDeps) (*controlPlane, error) {
	cfg := d.cfg
	pkiDir := filepath.Join(cfg.DataDir, "pki")
	ca, err := d.rings.loadCA(ctx, d.log)
	if err != nil {
		return nil, err
	}
	// The agent API's own certificate is this server's, in its data
	// directory, whatever keeps the CA.
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", pkiDir, err)
	}
	ln, err := net.Listen("tcp", cfg.AgentListen)
	if err != nil {
		return nil, fmt.Errorf("agent API listen: %w", err)
	}
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	hosts := []string{host, "localhost"}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	hosts = append(hosts, cfg.AgentCertHosts...)
	cert, err := ca.ServerCertificate(pkiDir, hosts, time.Now())
	if err != nil {
		ln.Close()
		return nil, err
	}
	cp := &controlPlane{ca: ca, ln: ln, url: "https://" + ln.Addr().String(), cache: d.shared}
	// Heartbeats count on every server; the leader runs the liveness check
	// (leaderWork.lead).
	cp.hm = healthmgr.New(healthmgr.Options{Store: d.store, Acker: d.shared, Enqueue: d.work.Enqueue, AgentUp: d.work.Resync,
		Logger: d.log, DeadAfter: cfg.AgentDeadAfter, ReserveAddresses: d.reserve})
	embedded := ""
	if cfg.EmbeddedAgent {
		embedded = cfg.EmbeddedAgentName
	}
	// agent-token and agent-revoke read it there, to leave this agent alone.
	if err := agentapi.RecordEmbeddedName(cfg.DataDir, embedded); err != nil {
		ln.Close()
		return nil, err
	}
	cp.api = agentapi.New(agentapi.Options{Store: d.store, CA: ca, Watcher: d.shared, Sent: d.shared, Heartbeats: cp.hm, Logger: d.log,
		Ready: d.shared.Ready(), HeartbeatInterval: cfg.AgentHeartbeat, EmbeddedName: embedded, Holds: cp.hm.Holds})
	cp.srv = &http.Server{Handler: cp.api.Handler(), TLSConfig: cp.api.TLSConfig(cert), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(&slogWriter{d.log}, "", 0)}
	return cp, nil
}

// run serves the agent API until ctx ends.
func (cp *controlPlane) run(ctx context.Context, wg *sync.WaitGroup, log *slog.Logger) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := cp.srv.ServeTLS(cp.ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("agent API stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		cp.srv.Close()
	}()
}

// runEmbeddedAgent runs the all-in-one's own data-plane node, enrolling it
// over the real protocol on first start with a token only this process
// knows (so that no join token can become the embedded agent).
// Its metrics (fulcrum_node_*, fulcrum_access_log_*) go to reg, the server's.
func runEmbeddedAgent(ctx context.Context, wg *sync.WaitGroup, cfg *serverConfig, cp *controlPlane, reg *metrics.Registry, log *slog.Logger) error {
	dir := filepath.Join(cfg.DataDir, "agent")
	token := ""
	if _, err := os.Stat(filepath.Join(dir, "agent.crt")); errors.Is(err, os.ErrNotExist) {
		tok, err := cp.api.EmbeddedJoinToken(10 * time.Minute)
		if err != nil {
			return err
		}
		token = tok
	}
	al, err := openAccessLog(cfg.AccessLog, log)
	if err != nil {
		return err
	}
	events := make(chan dataplane.HealthEvent, 1024)
	es := cfg.EmbeddedEngine
	es.accessLog = al
	eng, caps, err := newAgentEngine(es, dir, false, log, func(ev dataplane.HealthEvent) {
		select {
		case events <- ev:
		default:
		}
	})
	if err != nil {
		if al != nil {
			al.Close()
		}
		return fmt.Errorf("embedded agent: %w", err)
	}
	a, err := agent.New(agent.Options{ServerURL: cp.url, DataDir: dir, Name: cfg.EmbeddedAgentName, JoinToken: token,
		Address: "127.0.0.1", Engine: eng, Capabilities: caps, Logger: log, Events: events, HeartbeatInterval: cfg.AgentHeartbeat,
		Observer: newNodeMetrics(reg)})
	if err != nil {
		eng.Close()
		if al != nil {
			al.Close()
		}
		return err
	}
	nodeGauges(reg, a, al)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if al != nil {
			defer al.Close()
		}
		defer eng.Close()
		if err := a.Run(ctx); err != nil {
			log.Error("embedded agent stopped", "err", err)
		}
	}()
	return nil
}

// slogWriter adapts the standard logger used by net/http to slog.
type slogWriter struct{ log *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	w.log.Debug("agent API", "msg", string(p))
	return len(p), nil
}
