// Package agent is the data-plane node daemon: it enrolls with a server
// once (join token, CA pinned by fingerprint), then authenticates with its
// certificate; it watches its node config with blocking GETs, applies each
// version to the engine with per-load-balancer isolation (a load balancer
// the engine refuses is left out and reported; the others go ahead), and
// heartbeats its applied version, stats and member health.
//
// What it serves when the server does not answer, or answers no:
//
//   - Out of contact (server down, network cut), it keeps serving its last
//     config; a plain server outage never takes traffic down. At start it
//     asks the server first (StartupTimeout) and serves the config it keeps
//     on disk only when the server does not answer, so a restart never
//     brings back load balancers the server withdrew meanwhile.
//   - Its first successful watch after contact returns converges it: load
//     balancers the server moved elsewhere while it was away are dropped.
//   - Refused (revoked, unknown or superseded: an authenticated answer from
//     the server about its certificate), it stops serving at once, deletes
//     its cached config and its identity, and Run returns ErrRefused.
//
// Several servers: given their agent APIs (Options.Servers), the agent
// talks to one at a time and moves to the next when it does not answer
// (no connection, a timeout, a 5xx), within about a second when a server
// dies; it resumes its watch there with the version it runs, which every
// server sharing the store knows, so nothing unchanged is applied again.
//
// Two load balancers whose listeners want the same socket in one config:
// the one already serving it keeps it, the other is refused with the
// reason; when neither serves it yet, the smaller load balancer id wins.
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
	"math/rand/v2"
	"net/http"
	"net/netip"
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
	// ServerURL is the server's agent API, https://host:port; Servers,
	// when set, is every server's (servers sharing one store), tried in
	// turn: ServerURL is then ignored.
	ServerURL string
	Servers   []string
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
	// Capabilities the agent advertises in every heartbeat besides VRRP's: the
	// engine's (dataplane.EngineCapability), which the server places load balancers by.
	Capabilities []string
	Logger       *slog.Logger
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
	// StartupTimeout is how long an enrolled agent waits at start for the
	// server's config before it serves the one kept on disk (default 3 s).
	StartupTimeout time.Duration
	// Segments maps each physical network the node is attached to onto its
	// interface there (--segment). With any, the agent runs VRRP groups
	// (keepalived, vrrp.go) and advertises the "vrrp" capability; the
	// engine must bind VIPs it does not hold (IP_FREEBIND).
	Segments map[string]string
	// Keepalived is keepalived's path ("" = Debian's).
	Keepalived string
	// Observer, if set, is told of every config apply and heartbeat (the
	// agent's metrics). Its methods must not block.
	Observer Observer
}

// Observer watches the agent's work.
type Observer interface {
	// ConfigApplied reports one apply of a config: result is "ok" (every
	// load balancer runs), "partial" (some were refused) or "refused" (the
	// engine refused the config; the previous one keeps serving).
	ConfigApplied(took time.Duration, result string)
	// Heartbeat reports one heartbeat to server: err is nil when the server
	// accepted it.
	Heartbeat(server string, took time.Duration, err error)
}

// Status is what the agent runs and whom it talks to, at one instant.
type Status struct {
	// AppliedVersion is the version of the newest config applied (0: none).
	AppliedVersion uint64
	// LoadBalancers counts the load balancers served; Refused those the
	// newest config carried that the agent refused.
	LoadBalancers, Refused int
	// Server is the server the agent talks to; Attached tells whether it
	// has answered since the agent moved to it.
	Server   string
	Attached bool
}

// Status returns the agent's current status.
func (a *Agent) Status() Status {
	var st Status
	a.mu.Lock()
	if _, ok := a.incremental(); ok && a.applied != nil {
		st.AppliedVersion = a.applied.Version
		st.LoadBalancers = a.servedCount
	} else if a.applied != nil {
		st.AppliedVersion = a.applied.Version
		lbs := map[string]struct{}{}
		for _, l := range a.applied.Listeners {
			lbs[l.LoadBalancerID] = struct{}{}
		}
		st.LoadBalancers = len(lbs)
	}
	st.Refused = len(a.refused)
	a.mu.Unlock()
	a.serverMu.Lock()
	st.Server, st.Attached = a.servers[a.cur], a.attached
	a.serverMu.Unlock()
	return st
}

// ErrRefused is returned by Run when the server refused the agent's
// identity (revoked, unknown or superseded); the agent has stopped serving.
var ErrRefused = errors.New("the server refuses this agent")

// refusedError is a server's refusal of the agent's certificate.
type refusedError struct{ reason, msg string }

func (e *refusedError) Error() string {
	return fmt.Sprintf("%v (%s): %s", ErrRefused, e.reason, e.msg)
}

func (e *refusedError) Is(target error) bool { return target == ErrRefused }

// Agent is the daemon.
type Agent struct {
	opts   Options
	log    *slog.Logger
	client *http.Client

	// The server the agent talks to: servers[cur]. moved is closed (and
	// replaced) when it changes, to end a watch pending on the old one.
	servers  []string
	serverMu sync.Mutex
	cur      int
	moved    chan struct{}
	attached bool          // a request to servers[cur] succeeded
	kick     chan struct{} // 1-buffered: heartbeat now (the agent moved, or a VRRP state changed)
	streak   int           // moves since a server last answered

	applyMu sync.Mutex // one apply at a time, so a retry never overtakes a newer config

	// Held under applyMu (state.go): the config received, one fragment per load
	// balancer, its node id; with an Updater engine, the fragments the engine runs; the
	// fragments and head the disk cache holds.
	recv     map[string]*lbFrag
	nodeID   string
	served   map[string]*lbFrag
	disk     map[string]*lbFrag
	diskHead cacheHeadFile
	// The load balancers whose fragment received may differ from the one served (and
	// from the one on disk): a delta marks the ones it names, so an apply and a save
	// look at what changed, not at all N. The *All flags stand for every id (the
	// fragments replaced wholesale: a full resync, the cache loaded, a reset).
	unserved, unsaved       map[string]struct{}
	unservedAll, unsavedAll bool
	scanned                 int // fragments an apply or a save looked at (tests count the work)

	mu sync.Mutex
	// recvVersion is the version of the config received (a watch asks from it).
	recvVersion uint64
	servedCount int               // len(served)
	applied     *dataplane.Config // effective config the engine runs (server version; only the version with an Updater)
	refused     []dataplane.Refusal
	// engineVersion numbers what the agent hands the engine. It is the
	// agent's own counter, not the server's version, because a retry of
	// refused load balancers re-applies the same server version with other
	// content, which an engine rightly refuses.
	engineVersion uint64
	interval      time.Duration
	events        []dataplane.HealthEvent
	acksServer    int // 1 + the index of the server that last said it reads Heartbeat.Ack; 0: none
	deltasServer  int // 1 + the index of the server that last said it reads delta heartbeats; 0: none

	// hbMu serialises regular heartbeats (not acknowledgements) and guards
	// their numbering and the base of the next delta (report.go).
	hbMu        sync.Mutex
	hbSeq       uint64
	hbBase      *report // the last report a server that reads deltas answered; nil: send a full one
	hbSinceFull int     // deltas sent since the last full heartbeat
	// owners maps each socket a load balancer's listener holds to that load
	// balancer, for as long as the load balancer is in the server's config
	// (refused or not): a clash never hands it to another one.
	owners map[socketKey]string

	stop       context.CancelCauseFunc // ends Run
	refuseOnce sync.Once

	vrrp *vrrpNode // nil without segments
}

// New checks the options; Run does the work.
func New(opts Options) (*Agent, error) {
	servers := opts.Servers
	if len(servers) == 0 && opts.ServerURL != "" {
		servers = []string{opts.ServerURL}
	}
	if len(servers) == 0 || opts.DataDir == "" || opts.Name == "" || opts.Engine == nil {
		return nil, errors.New("agent: server URL, data dir, name and engine are required")
	}
	for _, u := range servers {
		if !strings.HasPrefix(u, "https://") {
			return nil, fmt.Errorf("agent: server %q: want https://host:port", u)
		}
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
	if opts.StartupTimeout <= 0 {
		opts.StartupTimeout = 3 * time.Second
	}
	if err := pki.CheckAgentName(opts.Name); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("agent data dir: %w", err)
	}
	a := &Agent{opts: opts, log: opts.Logger.With("component", "agent", "agent", opts.Name), interval: opts.HeartbeatInterval,
		owners: map[socketKey]string{}, servers: servers, moved: make(chan struct{}), kick: make(chan struct{}, 1),
		recv: map[string]*lbFrag{}, served: map[string]*lbFrag{}, disk: map[string]*lbFrag{},
		unserved: map[string]struct{}{}, unsaved: map[string]struct{}{}, unservedAll: true, unsavedAll: true,
		// From a random start: a server that holds a heartbeat of an earlier
		// process of this agent never takes a delta of this one's for its.
		hbSeq: rand.Uint64() >> 2}
	a.vrrp = newVRRPNode(a)
	return a, nil
}

// server returns the server to talk to, its index and a channel closed
// when the agent moves to another.
func (a *Agent) server() (string, int, <-chan struct{}) {
	a.serverMu.Lock()
	defer a.serverMu.Unlock()
	return a.servers[a.cur], a.cur, a.moved
}

// unreachable moves the agent to the next server after server i failed to
// answer (unless it moved since).
func (a *Agent) unreachable(i int, err error) {
	a.serverMu.Lock()
	defer a.serverMu.Unlock()
	if i != a.cur || len(a.servers) == 1 {
		return
	}
	from := a.servers[a.cur]
	a.cur = (a.cur + 1) % len(a.servers)
	a.attached = false
	close(a.moved)
	a.moved = make(chan struct{})
	a.log.Warn("server does not answer: moving to the next one", "from", from, "to", a.servers[a.cur], "err", err)
	// Report to the new server at once: it learns the agent is alive and
	// what it runs without waiting for the next heartbeat (once round the
	// list: when every server is down, heartbeats keep their pace).
	a.streak++
	if a.streak < len(a.servers) {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
}

// answered notes that server i answered.
func (a *Agent) answered(i int) {
	a.serverMu.Lock()
	defer a.serverMu.Unlock()
	if i != a.cur || a.attached {
		return
	}
	a.attached, a.streak = true, 0
	if len(a.servers) > 1 {
		a.log.Info("attached to server", "server", a.servers[i])
	}
}

func (a *Agent) path(name string) string { return filepath.Join(a.opts.DataDir, name) }

// Run starts serving (the server's config, or the one kept on disk when
// the server does not answer), enrolls if needed, then watches and
// heartbeats until ctx ends. It returns an error when the agent cannot run
// (not enrolled, unusable identity) and ErrRefused, after it has stopped
// serving, when the server refuses it.
func (a *Agent) Run(ctx context.Context) error {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	a.stop = stop
	if a.vrrp != nil {
		defer a.vrrp.close()
	}
	if a.enrolled() {
		if err := a.connect(ctx); err != nil {
			return err
		}
		if err := a.firstContact(ctx); err != nil {
			if errors.Is(err, ErrRefused) {
				a.refuse(err)
				return context.Cause(ctx)
			}
			a.log.Warn("the server does not answer; serving the config kept on disk", "err", err)
			if err := a.serveCached(ctx); err != nil {
				a.log.Warn("cached config not served", "err", err)
			}
		}
	}
	for a.client == nil {
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
		a.log.Warn("cannot reach the server to enroll yet", "err", err)
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
	if a.vrrp != nil {
		wg.Add(1)
		go func() { defer wg.Done(); a.vrrp.run(ctx) }()
	}
	wg.Wait()
	if cause := context.Cause(ctx); errors.Is(cause, ErrRefused) {
		return cause
	}
	return nil
}

// enrolled reports whether the data dir holds an identity.
func (a *Agent) enrolled() bool {
	_, err := os.Stat(a.path("agent.crt"))
	return err == nil
}

// firstContact asks the server, within StartupTimeout, for the config the
// agent should run and runs it. An error means the server did not answer
// (the caller serves the cache) or refused the agent (ErrRefused).
func (a *Agent) firstContact(ctx context.Context) error {
	a.applyMu.Lock()
	if err := a.loadCacheLocked(); err != nil {
		a.log.Warn("cached config unusable", "err", err)
		a.recv, a.disk = map[string]*lbFrag{}, map[string]*lbFrag{}
		a.touchAll()
		a.forgetVersion()
	}
	a.mu.Lock()
	for _, f := range a.recv {
		a.noteOwners(f.cfg)
	}
	a.mu.Unlock()
	have := a.watchVersion()
	a.applyMu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, a.opts.StartupTimeout)
	defer cancel()
	var resp dataplane.ConfigResponse
	q := url.Values{"version": {strconv.FormatUint(have, 10)}, "wait": {"0s"}, "delta": {"1"}}
	for tries := 0; ; tries++ {
		err := a.do(cctx, "GET", dataplane.PathConfig+"?"+q.Encode(), nil, &resp)
		if err == nil {
			break
		}
		// Each server gets a try while the time lasts.
		if errors.Is(err, ErrRefused) || cctx.Err() != nil || tries+1 >= len(a.servers) {
			return err
		}
	}
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	if resp.Changed {
		if err := a.receive(&resp); err != nil {
			a.log.Warn("config answer unusable; asking for the whole config", "err", err)
			a.forgetVersion()
		}
	}
	// The server's answer on top of the cache, or (nothing newer, or still
	// starting) the cache as it is: what the server would send.
	if len(a.recv) > 0 || resp.Changed {
		a.applyReceivedLocked(ctx)
	}
	return nil
}

// errPin marks a server that failed CA pinning during enrollment.
var errPin = errors.New("server certificate does not match the join token")

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// serveCached applies the config saved by the previous run.
func (a *Agent) serveCached(ctx context.Context) error {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	if len(a.recv) == 0 {
		return nil
	}
	a.applyReceivedLocked(ctx)
	a.log.Info("serving cached config", "version", a.watchVersion(), "loadbalancers", len(a.recv))
	return nil
}

// refuse stops serving for good after the server refused the agent: the
// engine runs an empty config, the cached config (which holds TLS keys)
// and the identity are deleted, and Run ends with err.
func (a *Agent) refuse(err error) {
	a.refuseOnce.Do(func() {
		a.applyMu.Lock()
		defer a.applyMu.Unlock()
		empty := &dataplane.Config{Contract: dataplane.ContractVersion, Listeners: []dataplane.Listener{}, Pools: []dataplane.Pool{}}
		if aerr := a.engineApply(context.Background(), empty); aerr != nil {
			a.log.Error("cannot stop serving", "err", aerr)
		}
		a.mu.Lock()
		a.applied, a.refused, a.recvVersion = nil, nil, 0
		a.mu.Unlock()
		a.recv, a.served, a.disk = map[string]*lbFrag{}, map[string]*lbFrag{}, map[string]*lbFrag{}
		a.touchAll()
		if rerr := os.RemoveAll(a.path(cacheDir)); rerr != nil {
			a.log.Error("cannot remove the config cache", "err", rerr)
		}
		for _, f := range []string{legacyCache, "agent.key", "agent.crt"} {
			if rerr := os.Remove(a.path(f)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				a.log.Error("cannot remove "+f, "err", rerr)
			}
		}
		a.log.Error("stopped serving: the server refuses this agent; its cached config and identity are deleted; enroll it again with a new join token",
			"err", err)
		if a.stop != nil {
			a.stop(err)
		}
	})
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
	if err := pki.CheckKeyFile(a.path("agent.key")); err != nil {
		return &permanentError{fmt.Errorf("load agent identity: %w", err)}
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
	server, idx, _ := a.server()
	req, err := http.NewRequestWithContext(ctx, "POST", server+dataplane.PathEnroll, bytes.NewReader(body))
	if err != nil {
		return &permanentError{err}
	}
	req.Header.Set(dataplane.ProtocolHeader, strconv.Itoa(dataplane.ProtocolVersion))
	req.Header.Set(dataplane.ContractHeader, strconv.Itoa(dataplane.ContractVersion))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if errors.Is(err, errPin) {
		return &permanentError{fmt.Errorf("enroll: %w", err)}
	}
	if err != nil {
		a.unreachable(idx, err)
		return fmt.Errorf("enroll: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return &permanentError{fmt.Errorf("enroll refused (%d): %s", resp.StatusCode, errorText(data))}
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
	server, idx, moved := a.server()
	// A request still pending when the agent moves to another server
	// (the heartbeat found this one dead) ends at once.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-moved:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, method, server+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set(dataplane.ProtocolHeader, strconv.Itoa(dataplane.ProtocolVersion))
	req.Header.Set(dataplane.ContractHeader, strconv.Itoa(dataplane.ContractVersion))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			a.unreachable(idx, err)
		}
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		if ctx.Err() == nil {
			a.unreachable(idx, err)
		}
		return err
	}
	if resp.StatusCode >= 500 {
		a.unreachable(idx, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, errorText(data)))
	} else {
		a.answered(idx)
	}
	if resp.StatusCode != http.StatusOK {
		var e dataplane.ErrorResponse
		if resp.StatusCode == http.StatusForbidden && json.Unmarshal(data, &e) == nil {
			switch e.Refused {
			case dataplane.RefusedRevoked, dataplane.RefusedUnknown, dataplane.RefusedSuperseded:
				return &refusedError{reason: e.Refused, msg: e.Error}
			}
		}
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, errorText(data))
	}
	return json.Unmarshal(data, out)
}

// errorText is the message of an agent API error body (the body itself if
// it is not one), at most 1 KiB.
func errorText(data []byte) string {
	var e dataplane.ErrorResponse
	msg := strings.TrimSpace(string(data))
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	if len(msg) > 1024 {
		msg = msg[:1024] + "…"
	}
	return msg
}

func (a *Agent) watchLoop(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		var resp dataplane.ConfigResponse
		q := url.Values{"version": {strconv.FormatUint(a.watchVersion(), 10)}, "wait": {a.opts.Wait.String()}, "delta": {"1"}}
		_, idx, _ := a.server()
		wctx, cancel := context.WithTimeout(ctx, a.opts.Wait+10*time.Second)
		err := a.do(wctx, "GET", dataplane.PathConfig+"?"+q.Encode(), nil, &resp)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, ErrRefused) {
				a.refuse(err)
				return
			}
			if _, now, _ := a.server(); now != idx {
				// Moved to another server: watch there at once.
				backoff = 100 * time.Millisecond
				continue
			}
			a.log.Warn("watch failed; still serving the last config", "err", err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if resp.Changed {
			a.apply(ctx, &resp)
			a.acknowledge(ctx) // at once
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
	if a.vrrp == nil {
		return a.opts.Engine.Apply(ctx, &c)
	}
	kc, err := a.vrrp.config(&c)
	if err != nil {
		return err
	}
	// The groups cfg drops stop before the engine drops their listeners: this member is
	// leaving a pair, and its peer, pushed at the same time, stops advertising to it; left
	// running through a slow engine apply it would become MASTER and draw the clients to a
	// VIP without listeners. Groups that stay or come change after the engine, so that a
	// member has its listeners before it can take a VIP.
	if err := a.vrrp.withdraw(kc); err != nil {
		return err
	}
	if err := a.opts.Engine.Apply(ctx, &c); err != nil {
		return err
	}
	return a.vrrp.apply(kc)
}

// retryLoop re-applies the config received while some load balancers of it
// are refused, so they converge once their cause is gone.
func (a *Agent) retryLoop(ctx context.Context) {
	for sleep(ctx, a.opts.RetryRefused) {
		a.mu.Lock()
		pending := len(a.refused) > 0
		a.mu.Unlock()
		if !pending {
			continue
		}
		a.applyMu.Lock()
		a.applyReceivedLocked(ctx)
		a.applyMu.Unlock()
		a.sendHeartbeat(ctx)
	}
}

// apply takes a watch's answer and runs the config received, leaving out
// the load balancers the engine refuses.
func (a *Agent) apply(ctx context.Context, resp *dataplane.ConfigResponse) {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	if err := a.receive(resp); err != nil {
		a.log.Warn("config answer unusable; asking for the whole config", "err", err)
		a.forgetVersion()
		return
	}
	a.applyReceivedLocked(ctx)
}

func (a *Agent) applyLocked(ctx context.Context, cfg *dataplane.Config) {
	if ctx.Err() != nil {
		return // stopping, or refused: nothing more is applied
	}
	start := time.Now()
	a.mu.Lock()
	a.pruneOwners(cfg)
	refused := clashes(a.owners, cfg)
	a.mu.Unlock()
	for id, reason := range refused {
		a.log.Warn("load balancer refused: its listener clashes with another load balancer's", "loadbalancer_id", id, "version", cfg.Version, "reason", reason)
	}
	left := without(cfg, refused)
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
				if _, ok := refused[id]; !ok {
					refused[id] = err.Error()
				}
			}
			a.mu.Lock()
			a.refused = refusals(refused, cfg.Version)
			if a.applied != nil {
				kept := *a.applied
				kept.Version = cfg.Version
				a.applied = &kept
			} else {
				a.applied = &dataplane.Config{Version: cfg.Version}
			}
			a.mu.Unlock()
			a.log.Error("config refused; the previous one keeps serving", "version", cfg.Version, "err", err)
			if a.opts.Observer != nil {
				a.opts.Observer.ConfigApplied(time.Since(start), "refused")
			}
			return
		}
		for id, reason := range culprits {
			refused[id] = reason
			a.log.Warn("load balancer refused by the engine", "loadbalancer_id", id, "version", cfg.Version, "reason", reason)
		}
		left = without(left, culprits)
	}
	a.mu.Lock()
	a.applied = left
	a.refused = refusals(refused, cfg.Version)
	a.noteOwners(left)
	a.mu.Unlock()
	took := time.Since(start)
	a.log.Info("applied config", "version", cfg.Version, "listeners", len(left.Listeners), "refused", len(refused), "took", took.Round(time.Microsecond))
	if a.opts.Observer != nil {
		result := "ok"
		if len(refused) > 0 {
			result = "partial"
		}
		a.opts.Observer.ConfigApplied(took, result)
	}
}

// refusals lists the refused load balancers, sorted by id.
func refusals(m map[string]string, version uint64) []dataplane.Refusal {
	out := make([]dataplane.Refusal, 0, len(m))
	for id, reason := range m {
		out = append(out, dataplane.Refusal{LoadBalancerID: id, Version: version, Reason: reason})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LoadBalancerID < out[j].LoadBalancerID })
	return out
}

// socketKey is what a listener binds: transport, address and port.
type socketKey struct {
	transport string
	addr      netip.Addr
	port      int
}

func (k socketKey) String() string {
	return netip.AddrPortFrom(k.addr, uint16(k.port)).String() + "/" + k.transport
}

// overlaps reports whether two sockets cannot both be bound: same transport
// and port, and the same address or a wildcard covering the other ("::"
// covers every address, "0.0.0.0" every IPv4 one).
func (k socketKey) overlaps(o socketKey) bool {
	if k.transport != o.transport || k.port != o.port {
		return false
	}
	covers := func(w, x netip.Addr) bool { return w.IsUnspecified() && (w.Is6() || x.Is4()) }
	return k.addr == o.addr || covers(k.addr, o.addr) || covers(o.addr, k.addr)
}

// claim is one socket one load balancer's listener wants.
type claim struct {
	key      socketKey
	lb       string
	listener string
}

// claims lists the sockets cfg's listeners want (addresses that do not
// parse are left to the engine's validation).
func claims(cfg *dataplane.Config) []claim {
	if cfg == nil {
		return nil
	}
	var out []claim
	for _, l := range cfg.Listeners {
		for _, a := range l.Addresses {
			ip, err := netip.ParseAddr(a)
			if err != nil {
				continue
			}
			out = append(out, claim{socketKey{l.Protocol.Transport(), ip.Unmap(), l.ProtocolPort}, l.LoadBalancerID, l.ID})
		}
	}
	return out
}

// noteOwners records the sockets cfg's listeners hold. Callers hold a.mu.
func (a *Agent) noteOwners(cfg *dataplane.Config) {
	for _, c := range claims(cfg) {
		a.owners[c.key] = c.lb
	}
}

// pruneOwners forgets sockets of load balancers cfg no longer has: their
// sockets may go to others. Callers hold a.mu.
func (a *Agent) pruneOwners(cfg *dataplane.Config) {
	present := map[string]bool{}
	for _, l := range cfg.Listeners {
		present[l.LoadBalancerID] = true
	}
	for k, lb := range a.owners {
		if !present[lb] {
			delete(a.owners, k)
		}
	}
	// A socket its owner no longer claims is free too.
	claimed := map[socketKey]map[string]bool{}
	for _, c := range claims(cfg) {
		if claimed[c.key] == nil {
			claimed[c.key] = map[string]bool{}
		}
		claimed[c.key][c.lb] = true
	}
	for k, lb := range a.owners {
		if !claimed[k][lb] {
			delete(a.owners, k)
		}
	}
}

// clashes settles listeners of different load balancers in cfg that want
// overlapping sockets. A load balancer that wants a socket another one owns
// (holds now, and still wants) is refused; among the rest, in id order, a
// load balancer that wants a socket an earlier one kept is refused. It
// returns the refused load balancers with the reason.
func clashes(owners map[socketKey]string, cfg *dataplane.Config) map[string]string {
	out := map[string]string{}
	all := claims(cfg)
	for _, c := range all {
		for k, owner := range owners {
			if owner != c.lb && k.overlaps(c.key) {
				if _, seen := out[c.lb]; !seen {
					out[c.lb] = fmt.Sprintf("listener %s: %s is in use by load balancer %s on this agent", c.listener, c.key, owner)
				}
			}
		}
	}
	byLB := map[string][]claim{}
	var lbs []string
	for _, c := range all {
		if _, ok := out[c.lb]; ok {
			continue
		}
		if _, ok := byLB[c.lb]; !ok {
			lbs = append(lbs, c.lb)
		}
		byLB[c.lb] = append(byLB[c.lb], c)
	}
	sort.Strings(lbs)
	var kept []claim
	for _, id := range lbs {
		reason := ""
		for _, c := range byLB[id] {
			for _, k := range kept {
				if k.key.overlaps(c.key) {
					reason = fmt.Sprintf("listener %s: %s is also wanted by load balancer %s, which keeps it", c.listener, c.key, k.lb)
					break
				}
			}
			if reason != "" {
				break
			}
		}
		if reason != "" {
			out[id] = reason
			continue
		}
		kept = append(kept, byLB[id]...)
	}
	return out
}

func (a *Agent) current() *dataplane.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applied
}

var pathRE = regexp.MustCompile(`(listeners|pools|vrrp)\[(\d+)\]`)

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
			} else if m[1] == "vrrp" && i < len(cfg.VRRP) {
				if ids := cfg.VRRP[i].LoadBalancerIDs(); len(ids) > 0 {
					lbID = ids[0]
				}
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
	out.VRRP = withoutGroups(cfg.VRRP, lbs)
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
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-a.kick: // a VRRP state changed, or the agent moved to another server: report now
			t.Stop()
		}
	}
}

// acknowledge reports the config just applied: with a heartbeat that
// carries only the applied version and refusals (Heartbeat.Ack) when the
// current server said it reads those, else with a full heartbeat. Stats and
// health of every load balancer would make acknowledging one change cost as
// much as the agent holds.
func (a *Agent) acknowledge(ctx context.Context) {
	_, idx, _ := a.server()
	a.mu.Lock()
	acks := a.acksServer == idx+1
	a.mu.Unlock()
	if !acks {
		a.sendHeartbeat(ctx)
		return
	}
	a.heartbeat(ctx, true)
}

func (a *Agent) sendHeartbeat(ctx context.Context) { a.heartbeat(ctx, false) }

func (a *Agent) heartbeat(ctx context.Context, ack bool) {
	if !ack {
		a.hbMu.Lock()
		defer a.hbMu.Unlock()
	}
	server, idx, _ := a.server()
	a.mu.Lock()
	deltas := a.deltasServer == idx+1
	hb := dataplane.Heartbeat{Name: a.opts.Name, Address: a.opts.Address, AvailabilityZone: a.opts.AvailabilityZone,
		Group: a.opts.Group, Refused: append([]dataplane.Refusal(nil), a.refused...), Time: time.Now().UTC(), Ack: ack}
	if a.applied != nil {
		hb.AppliedVersion = a.applied.Version
	}
	if !ack {
		hb.Events = a.events
		a.events = nil
	}
	a.mu.Unlock()
	if !ack {
		hb.Stats = a.opts.Engine.Stats()
		hb.Health = a.opts.Engine.Health()
		hb.Capabilities = append([]string(nil), a.opts.Capabilities...)
		if a.vrrp != nil {
			hb.Capabilities = append(hb.Capabilities, dataplane.CapabilityVRRP)
			hb.Segments = a.vrrp.segmentsNow()
			hb.VRRP = a.vrrp.states()
		}
	}
	var cur *report
	if !ack {
		a.hbSeq++
		hb.Seq = a.hbSeq
		cur = newReport(hb.Seq, idx, hb.Stats, hb.Health)
		if deltas && a.hbBase != nil && a.hbBase.server == idx && a.hbSinceFull < dataplane.DeltaFullEvery-1 {
			a.hbBase.delta(cur, &hb)
		}
	}
	var resp dataplane.HeartbeatResponse
	// Bounded: a server cut off mid-request must not hold the next heartbeat back for the
	// minutes TCP takes to give up (VRRP holds depend on fresh answers); with other servers
	// to go to, one that does not answer in time is as good as dead and the agent moves on.
	hctx, cancel := context.WithTimeout(ctx, heartbeatTimeout(a.heartbeatInterval(), len(a.servers) > 1))
	defer cancel()
	start := time.Now()
	err := a.do(hctx, "POST", dataplane.PathHeartbeat, &hb, &resp)
	if a.opts.Observer != nil && (err == nil || ctx.Err() == nil) {
		a.opts.Observer.Heartbeat(server, time.Since(start), err)
	}
	if err != nil {
		if errors.Is(err, ErrRefused) {
			a.refuse(err)
			return
		}
		if ctx.Err() == nil {
			a.log.Warn("heartbeat failed", "err", err)
			a.mu.Lock()
			a.events = append(hb.Events, a.events...) // report them next time
			a.mu.Unlock()
		}
		return
	}
	a.mu.Lock()
	a.acksServer, a.deltasServer = 0, 0
	if resp.Acks {
		a.acksServer = idx + 1
	}
	if resp.Deltas {
		a.deltasServer = idx + 1
	}
	a.mu.Unlock()
	if ack {
		return // the hold and interval are the last full heartbeat's
	}
	a.hbSinceFull++
	if hb.Base == 0 {
		a.hbSinceFull = 0
	}
	a.hbBase = nil
	switch {
	case resp.Resync:
		// The server lacks the base: a full heartbeat now.
		select {
		case a.kick <- struct{}{}:
		default:
		}
	case resp.Deltas:
		a.hbBase = cur
	}
	if d, err := time.ParseDuration(resp.Interval); err == nil && d > 0 {
		a.mu.Lock()
		a.interval = d
		a.mu.Unlock()
	}
	if a.vrrp != nil {
		a.vrrp.answered(checkHold(resp.Hold))
	}
}

// heartbeatInterval is the interval the server asked for.
func (a *Agent) heartbeatInterval() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.interval
}

// heartbeatTimeout bounds one heartbeat. With several servers, 2 s: a server
// that does not answer by then is left for the next. With one there is
// nowhere to go, and a slow answer (a busy server) still counts: four
// intervals, from 2 s to 10 s.
func heartbeatTimeout(interval time.Duration, several bool) time.Duration {
	if several {
		return 2 * time.Second
	}
	return min(max(4*interval, 2*time.Second), 10*time.Second)
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
