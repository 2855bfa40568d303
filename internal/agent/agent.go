// Package agent is the data-plane node daemon: it enrolls with a server
// once (join token, CA pinned by fingerprint), then authenticates with its
// certificate; it watches its node config with blocking GETs, applies each
// version to the engine with per-load-balancer isolation (a load balancer
// the engine refuses is left out and reported; the others go ahead), keeps
// the last applied config on disk and serves it at start even when no
// server is reachable, and heartbeats its applied version, stats and member
// health.
//
// It knows only the data-plane contract; it never imports the domain, the
// store or the controller.
package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/atomicfile"
	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/pki"
)

// Engine is what the agent drives (the native engine, or HAProxy's).
type Engine interface {
	// Apply validates cfg and runs it, or returns an error and keeps the
	// previous config. Errors should name the field path
	// (dataplane.FieldError) so the agent can isolate the load balancer.
	Apply(ctx context.Context, cfg *dataplane.Config) error
	Stats() dataplane.Stats
	Health() dataplane.Health
}

// Options configure New.
type Options struct {
	// ServerURL is the server's agent API, https://host:port.
	ServerURL string
	// DataDir keeps the identity (key, certificate, CA) and the last
	// applied config.
	DataDir string
	// Name is the agent's unique name.
	Name string
	// JoinToken enrolls the agent when DataDir has no identity yet.
	JoinToken        string
	Address          string
	AvailabilityZone string
	Group            string
	Engine           Engine
	Logger           *slog.Logger
	// HeartbeatInterval until the server says otherwise (default 1 s).
	HeartbeatInterval time.Duration
	// Wait is how long one watch may block on the server (default 30 s).
	Wait time.Duration
	// RetryRefused is how often load balancers the engine refused are tried
	// again (default 5 s): the cause (a port held by another process, ...)
	// may have gone away without any change of configuration.
	RetryRefused time.Duration
	// Events, if set, receives health transitions to report (the engine's
	// event stream); the agent drains it.
	Events <-chan dataplane.HealthEvent
}

// Agent is the daemon.
type Agent struct {
	opts   Options
	log    *slog.Logger
	client *http.Client

	applyMu sync.Mutex // one apply at a time, so a retry never overtakes a newer config

	mu       sync.Mutex
	applied  *dataplane.Config // effective config the engine runs (server version)
	received *dataplane.Config // the last config the server sent, refusals included
	refused  []dataplane.Refusal
	// engineVersion numbers what the agent hands the engine. It is the
	// agent's own counter, not the server's version, because a retry of
	// refused load balancers re-applies the same server version with other
	// content, which an engine rightly refuses.
	engineVersion uint64
	interval      time.Duration
	events        []dataplane.HealthEvent
}

// New checks the options; Run does the work.
func New(opts Options) (*Agent, error) {
	if opts.ServerURL == "" || opts.DataDir == "" || opts.Name == "" || opts.Engine == nil {
		return nil, errors.New("agent: server URL, data dir, name and engine are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = time.Second
	}
	if opts.Wait <= 0 {
		opts.Wait = 30 * time.Second
	}
	if opts.RetryRefused <= 0 {
		opts.RetryRefused = 5 * time.Second
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("agent data dir: %w", err)
	}
	return &Agent{opts: opts, log: opts.Logger.With("component", "agent", "agent", opts.Name), interval: opts.HeartbeatInterval}, nil
}

func (a *Agent) path(name string) string { return filepath.Join(a.opts.DataDir, name) }

// Run serves the cached config, enrolls if needed, then watches and
// heartbeats until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.serveCached(ctx); err != nil {
		a.log.Warn("cached config not served", "err", err)
	}
	for {
		err := a.connect(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return err
		}
		a.log.Warn("cannot reach the server yet; serving the cached config", "err", err)
		if !sleep(ctx, 2*time.Second) {
			return nil
		}
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); a.watchLoop(ctx) }()
	go func() { defer wg.Done(); a.heartbeatLoop(ctx) }()
	go func() { defer wg.Done(); a.retryLoop(ctx) }()
	if a.opts.Events != nil {
		wg.Add(1)
		go func() { defer wg.Done(); a.collectEvents(ctx) }()
	}
	wg.Wait()
	return nil
}

// errPin marks a server that failed CA pinning during enrollment.
var errPin = errors.New("server certificate does not match the join token")

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// serveCached applies the config saved by the previous run.
func (a *Agent) serveCached(ctx context.Context) error {
	data, err := os.ReadFile(a.path("config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	cfg, err := dataplane.Decode(data)
	if err != nil {
		return err
	}
	if err := a.engineApply(ctx, cfg); err != nil {
		return fmt.Errorf("apply cached config v%d: %w", cfg.Version, err)
	}
	a.mu.Lock()
	a.applied = cfg
	a.mu.Unlock()
	a.log.Info("serving cached config", "version", cfg.Version, "listeners", len(cfg.Listeners))
	return nil
}

// connect loads or creates the identity and builds the mTLS client.
func (a *Agent) connect(ctx context.Context) error {
	if _, err := os.Stat(a.path("agent.crt")); errors.Is(err, os.ErrNotExist) {
		if a.opts.JoinToken == "" {
			return &permanentError{errors.New("agent is not enrolled: give it a join token (--join-token)")}
		}
		if err := a.enroll(ctx); err != nil {
			return err
		}
	}
	cert, err := tls.LoadX509KeyPair(a.path("agent.crt"), a.path("agent.key"))
	if err != nil {
		return &permanentError{fmt.Errorf("load agent identity: %w", err)}
	}
	caPEM, err := os.ReadFile(a.path("ca.crt"))
	if err != nil {
		return &permanentError{fmt.Errorf("load CA: %w", err)}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return &permanentError{errors.New("load CA: no certificate")}
	}
	a.client = &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}}
	return nil
}

// enroll sends a CSR with the join token, trusting the server only if its
// certificate chains to the CA the token names.
func (a *Agent) enroll(ctx context.Context) error {
	tok, err := pki.ParseJoinToken(a.opts.JoinToken)
	if err != nil {
		return &permanentError{err}
	}
	key, err := pki.NewKey()
	if err != nil {
		return err
	}
	csr, err := pki.CSR(key, a.opts.Name)
	if err != nil {
		return err
	}
	// The server sends the CA in its chain; it is trusted only if its
	// fingerprint is the one in the token, and the leaf must chain to it.
	// This runs in the handshake, before the token's secret is sent.
	pin := &tls.Config{
		InsecureSkipVerify: true, // replaced by the pinned verification below
		MinVersion:         tls.VersionTLS12,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("no server certificate")
			}
			leaf, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			roots := x509.NewCertPool()
			found := false
			for _, r := range raw[1:] {
				sum := sha256.Sum256(r)
				if hex.EncodeToString(sum[:]) == tok.CAFingerprint {
					c, err := x509.ParseCertificate(r)
					if err != nil {
						return err
					}
					roots.AddCert(c)
					found = true
				}
			}
			if !found {
				return fmt.Errorf("%w: the server did not present the CA the join token pins", errPin)
			}
			if _, err = leaf.Verify(x509.VerifyOptions{Roots: roots}); err != nil {
				return fmt.Errorf("%w: %v", errPin, err)
			}
			return nil
		},
	}
	body, _ := json.Marshal(dataplane.EnrollRequest{Token: a.opts.JoinToken, Name: a.opts.Name, CSR: string(csr),
		Address: a.opts.Address, AvailabilityZone: a.opts.AvailabilityZone, Group: a.opts.Group})
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: pin}}
	req, err := http.NewRequestWithContext(ctx, "POST", a.opts.ServerURL+dataplane.PathEnroll, bytes.NewReader(body))
	if err != nil {
		return &permanentError{err}
	}
	req.Header.Set(dataplane.ProtocolHeader, strconv.Itoa(dataplane.ProtocolVersion))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if errors.Is(err, errPin) {
		return &permanentError{fmt.Errorf("enroll: %w", err)}
	}
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return &permanentError{fmt.Errorf("enroll refused: %d %s", resp.StatusCode, strings.TrimSpace(string(data)))}
	}
	var er dataplane.EnrollResponse
	if err := json.Unmarshal(data, &er); err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	caPEM := []byte(er.CAPEM)
	ca, err := pki.ParseCert(caPEM)
	if err != nil {
		return &permanentError{fmt.Errorf("enroll: CA: %w", err)}
	}
	if pki.Fingerprint(ca) != tok.CAFingerprint {
		return &permanentError{errors.New("enroll: the server's CA does not match the join token's fingerprint")}
	}
	if err := pki.WriteKey(a.path("agent.key"), key); err != nil {
		return err
	}
	if err := atomicfile.Write(a.path("ca.crt"), caPEM, 0o644); err != nil {
		return err
	}
	if err := atomicfile.Write(a.path("agent.crt"), []byte(er.CertPEM), 0o644); err != nil {
		return err
	}
	a.log.Info("enrolled", "agent_id", er.AgentID, "ca_fingerprint", tok.CAFingerprint[:16])
	return nil
}

func (a *Agent) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.opts.ServerURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set(dataplane.ProtocolHeader, strconv.Itoa(dataplane.ProtocolVersion))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, out)
}

func (a *Agent) version() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.applied == nil {
		return 0
	}
	return a.applied.Version
}

func (a *Agent) watchLoop(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		var resp dataplane.ConfigResponse
		q := url.Values{"version": {strconv.FormatUint(a.version(), 10)}, "wait": {a.opts.Wait.String()}}
		err := a.do(ctx, "GET", dataplane.PathConfig+"?"+q.Encode(), nil, &resp)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("watch failed; still serving the last config", "err", err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if resp.Changed && resp.Config != nil {
			a.apply(ctx, resp.Config)
			a.sendHeartbeat(ctx) // acknowledge at once
		}
	}
}

// engineApply hands cfg to the engine under the agent's next engine version.
func (a *Agent) engineApply(ctx context.Context, cfg *dataplane.Config) error {
	a.mu.Lock()
	a.engineVersion++
	v := a.engineVersion
	a.mu.Unlock()
	c := *cfg
	c.Version = v
	return a.opts.Engine.Apply(ctx, &c)
}

// retryLoop re-applies the last config while some load balancers of it are
// refused, so they converge once their cause is gone.
func (a *Agent) retryLoop(ctx context.Context) {
	for sleep(ctx, a.opts.RetryRefused) {
		a.mu.Lock()
		cfg, pending := a.received, len(a.refused) > 0
		a.mu.Unlock()
		if cfg != nil && pending && a.applyIfCurrent(ctx, cfg) {
			a.sendHeartbeat(ctx)
		}
	}
}

// applyIfCurrent applies cfg unless a newer config arrived meanwhile.
func (a *Agent) applyIfCurrent(ctx context.Context, cfg *dataplane.Config) bool {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	a.mu.Lock()
	current := a.received == cfg
	a.mu.Unlock()
	if current {
		a.applyLocked(ctx, cfg)
	}
	return current
}

// apply runs cfg, leaving out the load balancers the engine refuses.
func (a *Agent) apply(ctx context.Context, cfg *dataplane.Config) {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	a.applyLocked(ctx, cfg)
}

func (a *Agent) applyLocked(ctx context.Context, cfg *dataplane.Config) {
	start := time.Now()
	a.mu.Lock()
	a.received = cfg
	a.mu.Unlock()
	var refused []dataplane.Refusal
	left := cfg
	for attempt := 0; ; attempt++ {
		err := a.engineApply(ctx, left)
		if err == nil {
			break
		}
		culprits := attribute(left, err)
		if len(culprits) == 0 || attempt >= 8 {
			// Unattributable: refuse every load balancer that differs from
			// what runs now, and keep running the old config.
			for _, id := range changedLBs(a.current(), cfg) {
				refused = append(refused, dataplane.Refusal{LoadBalancerID: id, Version: cfg.Version, Reason: err.Error()})
			}
			a.mu.Lock()
			a.refused = refused
			if a.applied != nil {
				kept := *a.applied
				kept.Version = cfg.Version
				a.applied = &kept
			} else {
				a.applied = &dataplane.Config{Version: cfg.Version}
			}
			a.mu.Unlock()
			a.log.Error("config refused; the previous one keeps serving", "version", cfg.Version, "err", err)
			return
		}
		for id, reason := range culprits {
			refused = append(refused, dataplane.Refusal{LoadBalancerID: id, Version: cfg.Version, Reason: reason})
			a.log.Warn("load balancer refused by the engine", "loadbalancer_id", id, "version", cfg.Version, "reason", reason)
		}
		left = without(left, culprits)
	}
	sort.Slice(refused, func(i, j int) bool { return refused[i].LoadBalancerID < refused[j].LoadBalancerID })
	a.mu.Lock()
	a.applied = left
	a.refused = refused
	a.mu.Unlock()
	if data, err := json.Marshal(left); err == nil {
		if err := atomicfile.Write(a.path("config.json"), data, 0o600); err != nil {
			a.log.Warn("cannot save config cache", "err", err)
		}
	}
	a.log.Info("applied config", "version", cfg.Version, "listeners", len(left.Listeners), "refused", len(refused), "took", time.Since(start).Round(time.Microsecond))
}

func (a *Agent) current() *dataplane.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applied
}

var pathRE = regexp.MustCompile(`(listeners|pools)\[(\d+)\]`)

// attribute maps an engine error to the load balancers it names.
func attribute(cfg *dataplane.Config, err error) map[string]string {
	out := map[string]string{}
	poolLB := map[string]string{}
	for i := range cfg.Listeners {
		l := &cfg.Listeners[i]
		for _, id := range l.PoolIDs() {
			poolLB[id] = l.LoadBalancerID
		}
	}
	for _, e := range flatten(err) {
		msg := e.Error()
		for _, m := range pathRE.FindAllStringSubmatch(msg, -1) {
			i, _ := strconv.Atoi(m[2])
			var lbID string
			if m[1] == "listeners" && i < len(cfg.Listeners) {
				lbID = cfg.Listeners[i].LoadBalancerID
			} else if m[1] == "pools" && i < len(cfg.Pools) {
				lbID = poolLB[cfg.Pools[i].ID]
			}
			if lbID != "" {
				if _, seen := out[lbID]; !seen {
					out[lbID] = msg
				}
				break
			}
		}
	}
	return out
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// without returns cfg minus the listeners of the given load balancers and
// the pools only they used.
func without(cfg *dataplane.Config, lbs map[string]string) *dataplane.Config {
	out := &dataplane.Config{Contract: cfg.Contract, Version: cfg.Version, NodeID: cfg.NodeID,
		Listeners: []dataplane.Listener{}, Pools: []dataplane.Pool{}}
	used := map[string]bool{}
	for i := range cfg.Listeners {
		l := &cfg.Listeners[i]
		if _, drop := lbs[l.LoadBalancerID]; drop {
			continue
		}
		out.Listeners = append(out.Listeners, *l)
		for _, id := range l.PoolIDs() {
			used[id] = true
		}
	}
	for _, p := range cfg.Pools {
		if used[p.ID] {
			out.Pools = append(out.Pools, p)
		}
	}
	return out
}

// changedLBs lists the load balancers whose listeners differ between old and new.
func changedLBs(old, cur *dataplane.Config) []string {
	byLB := func(c *dataplane.Config) map[string]string {
		m := map[string]string{}
		if c == nil {
			return m
		}
		for _, l := range c.Listeners {
			b, _ := json.Marshal(l)
			m[l.LoadBalancerID] += string(b)
		}
		return m
	}
	o, n := byLB(old), byLB(cur)
	var out []string
	for id, v := range n {
		if o[id] != v {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func (a *Agent) collectEvents(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-a.opts.Events:
			if !ok {
				return
			}
			a.mu.Lock()
			if len(a.events) < 10000 {
				a.events = append(a.events, ev)
			}
			a.mu.Unlock()
			a.log.Info("member health changed", "pool_id", ev.PoolID, "member_id", ev.MemberID, "address", ev.Address, "from", ev.From, "to", ev.To, "detail", ev.Detail)
		}
	}
}

func (a *Agent) heartbeatLoop(ctx context.Context) {
	for {
		a.sendHeartbeat(ctx)
		a.mu.Lock()
		d := a.interval
		a.mu.Unlock()
		if !sleep(ctx, d) {
			return
		}
	}
}

func (a *Agent) sendHeartbeat(ctx context.Context) {
	a.mu.Lock()
	hb := dataplane.Heartbeat{Name: a.opts.Name, Address: a.opts.Address, AvailabilityZone: a.opts.AvailabilityZone,
		Group: a.opts.Group, Refused: append([]dataplane.Refusal(nil), a.refused...), Events: a.events, Time: time.Now().UTC()}
	if a.applied != nil {
		hb.AppliedVersion = a.applied.Version
	}
	a.events = nil
	a.mu.Unlock()
	hb.Stats = a.opts.Engine.Stats()
	hb.Health = a.opts.Engine.Health()
	var resp dataplane.HeartbeatResponse
	if err := a.do(ctx, "POST", dataplane.PathHeartbeat, &hb, &resp); err != nil {
		if ctx.Err() == nil {
			a.log.Warn("heartbeat failed", "err", err)
			a.mu.Lock()
			a.events = append(hb.Events, a.events...) // report them next time
			a.mu.Unlock()
		}
		return
	}
	if d, err := time.ParseDuration(resp.Interval); err == nil && d > 0 {
		a.mu.Lock()
		a.interval = d
		a.mu.Unlock()
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
