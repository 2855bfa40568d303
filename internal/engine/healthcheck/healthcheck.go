// Package healthcheck probes pool members actively (HTTP, HTTPS, TCP, TLS-HELLO,
// UDP-CONNECT, PING) and turns probe results into UP/DOWN transitions with Octavia's rise
// (max_retries) and fall (max_retries_down) thresholds.
//
// PING needs ICMP sockets: an unprivileged ICMP datagram socket when the process's group is
// inside net.ipv4.ping_group_range, else a raw socket, which needs root or CAP_NET_RAW. With
// neither, every PING probe fails with a detail saying so.
package healthcheck

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/balance"
	"github.com/fulcrumlb/fulcrum/internal/engine/clock"
)

// Spec is what to probe and how, derived from a dataplane.HealthMonitor.
type Spec struct {
	Type    dataplane.MonitorType
	Delay   time.Duration
	Timeout time.Duration
	Rise    int
	Fall    int
	Method  string
	Path    string
	Codes   dataplane.ExpectedCodes
	Version string // "1.0" or "1.1"
	Host    string
	// ClientCertificates are presented by HTTPS probes: those of a
	// re-encrypting pool (the amphora's checks use the server line's "ssl crt").
	ClientCertificates []tls.Certificate
	// TLSKey identifies the pool TLS side the probes use ("" none), for Key.
	TLSKey string
}

// OverTLS makes the probes of a re-encrypting pool speak TLS with its client
// certificates: an HTTP monitor probes with HTTPS, as HAProxy checks a
// server that has "ssl" over TLS. key identifies the TLS settings.
func (s Spec) OverTLS(certs []tls.Certificate, key string) Spec {
	if s.Type == dataplane.MonitorHTTP {
		s.Type = dataplane.MonitorHTTPS
	}
	s.ClientCertificates, s.TLSKey = certs, key
	return s
}

// SpecFrom converts a validated health monitor.
func SpecFrom(hm *dataplane.HealthMonitor) Spec {
	s := Spec{
		Type: hm.Type, Delay: time.Duration(hm.Delay) * time.Second, Timeout: time.Duration(hm.Timeout) * time.Second,
		Rise: hm.MaxRetries, Fall: hm.MaxRetriesDown, Method: hm.HTTPMethod, Path: hm.URLPath,
		Version: hm.HTTPVersion, Host: hm.DomainName,
	}
	if s.Delay <= 0 {
		s.Delay = time.Second
	}
	if s.Timeout <= 0 {
		s.Timeout = s.Delay
	}
	if s.Method == "" {
		s.Method = "GET"
	}
	if s.Path == "" {
		s.Path = "/"
	}
	if s.Version == "" {
		s.Version = "1.0"
	}
	s.Codes, _ = dataplane.ParseExpectedCodes(hm.ExpectedCodes)
	return s
}

// Key identifies a spec for change detection.
func (s Spec) Key() string {
	return fmt.Sprintf("%s|%v|%v|%d|%d|%s|%s|%v|%s|%s|%s", s.Type, s.Delay, s.Timeout, s.Rise, s.Fall, s.Method, s.Path, s.Codes, s.Version, s.Host, s.TLSKey)
}

// Target is the member a checker watches.
type Target struct {
	PoolID   string
	MemberID string
	// Addr is the address probed (monitor_address/monitor_port when set).
	Addr netip.AddrPort
}

// Transition is a change of a member's health.
type Transition struct {
	Target Target
	Up     bool
	Time   time.Time
	Detail string
}

// Options configure checkers.
type Options struct {
	Clock  clock.Clock
	Logger *slog.Logger
	// OnTransition is called (from the checker's goroutine) after each UP/DOWN change.
	OnTransition func(Transition)
}

// Checker probes one member every Delay. Its state lives in the member's
// balance.MemberState, so a replacement checker (after a monitor change) carries on from
// the current health.
type Checker struct {
	spec   Spec
	target Target
	state  *balance.MemberState
	opts   Options

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	timer  clock.Timer
	stop   bool

	oks, fails int // consecutive results; only the running probe touches them
	checks     atomic.Int64
	pending    atomic.Int64 // mirrors wg, for Done
}

func (c *Checker) add() {
	c.pending.Add(1)
	c.wg.Add(1)
}

func (c *Checker) done() {
	c.pending.Add(-1)
	c.wg.Done()
}

// Done reports whether the checker was stopped and its goroutines are gone.
func (c *Checker) Done() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stop && c.pending.Load() == 0
}

// New returns a stopped checker.
func New(spec Spec, target Target, state *balance.MemberState, opts Options) *Checker {
	ctx, cancel := context.WithCancel(context.Background())
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Checker{spec: spec, target: target, state: state, opts: opts, ctx: ctx, cancel: cancel}
}

// Start runs the first probe now and schedules the next ones.
func (c *Checker) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop {
		return
	}
	c.add()
	go c.run()
}

// Stop cancels future probes and the one in flight; it does not wait (see Wait).
func (c *Checker) Stop() {
	c.mu.Lock()
	c.stop = true
	if c.timer != nil && c.timer.Stop() {
		c.done()
	}
	c.timer = nil
	c.mu.Unlock()
	c.cancel()
}

// Wait blocks until a stopped checker's goroutines are gone.
func (c *Checker) Wait() { c.wg.Wait() }

// Checks returns how many probes completed.
func (c *Checker) Checks() int64 { return c.checks.Load() }

func (c *Checker) run() {
	defer c.done()
	ctx, cancel := context.WithTimeout(c.ctx, c.spec.Timeout)
	ok, detail := Probe(ctx, c.spec, c.target.Addr)
	cancel()
	if c.ctx.Err() != nil {
		return // stopped mid-probe: the result means nothing
	}
	now := c.opts.Clock.Now()
	c.state.RecordCheck(ok, detail, now)
	up := c.state.Up()
	changed := false
	if ok {
		c.fails = 0
		c.oks++
		if !up && c.oks >= c.spec.Rise {
			changed = true
		}
	} else {
		c.oks = 0
		c.fails++
		if up && c.fails >= c.spec.Fall {
			changed = true
		}
	}
	if changed {
		c.state.SetUp(!up, now)
		c.opts.Logger.Info("member health changed", "pool", c.target.PoolID, "member", c.target.MemberID,
			"addr", c.target.Addr.String(), "up", !up, "detail", detail)
		if c.opts.OnTransition != nil {
			c.opts.OnTransition(Transition{Target: c.target, Up: !up, Time: now, Detail: detail})
		}
	}
	c.checks.Add(1)
	c.mu.Lock()
	if !c.stop {
		c.add()
		c.timer = c.opts.Clock.AfterFunc(c.spec.Delay, c.run)
	}
	c.mu.Unlock()
}

// Probe runs one probe of spec against addr within ctx and returns its outcome and a
// detail for reports.
func Probe(ctx context.Context, spec Spec, addr netip.AddrPort) (bool, string) {
	switch spec.Type {
	case dataplane.MonitorTCP:
		return probeTCP(ctx, addr)
	case dataplane.MonitorHTTP:
		return probeHTTP(ctx, spec, addr, false)
	case dataplane.MonitorHTTPS:
		return probeHTTP(ctx, spec, addr, true)
	case dataplane.MonitorTLSHello:
		return probeTLSHello(ctx, addr)
	case dataplane.MonitorUDPConnect:
		return probeUDP(ctx, addr)
	case dataplane.MonitorPing:
		return probePing(ctx, addr.Addr())
	}
	return false, "unsupported monitor type " + string(spec.Type)
}

func errDetail(op string, err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s, "dial") {
		s = s[i+2:]
	}
	return op + ": " + s
}
