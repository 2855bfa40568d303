// Package engine is fulcrum's native data plane: it turns a dataplane.Config into listening
// sockets, member pools and health checkers, carries TCP, HTTP and UDP traffic, and
// reconfigures without dropping connections.
//
// Apply validates a config, builds the new state beside the old one and swaps it in
// atomically: sockets whose (transport, address, port) survive keep listening, removed ones
// stop accepting and drain, connections in flight finish on the config they started with,
// an identical config is a no-op and an invalid one is refused whole while the old one
// keeps serving.
//
// The engine knows only the dataplane contract: it must not import internal/lb,
// internal/store or any SQL driver.
package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/balance"
	"github.com/fulcrumlb/fulcrum/internal/engine/clock"
	"github.com/fulcrumlb/fulcrum/internal/engine/healthcheck"
	"github.com/fulcrumlb/fulcrum/internal/engine/proxy"
	"github.com/fulcrumlb/fulcrum/internal/engine/tlsterm"
)

// Errors returned by Apply, matched with errors.Is.
var (
	// ErrStale: the config's version is older than the one applied.
	ErrStale = errors.New("stale config version")
	// ErrClosed: the engine was closed.
	ErrClosed = errors.New("engine closed")
)

// Options configure an Engine. The zero value works.
type Options struct {
	// Logger receives listener and health-transition logs. Default discards.
	Logger *slog.Logger
	// Clock drives health-check schedules and expiry of persistence entries and UDP
	// flows. Default the real clock.
	Clock clock.Clock
	// OnHealthEvent, when set, is called for every member health transition, from a
	// health-check goroutine: it must not block.
	OnHealthEvent func(dataplane.HealthEvent)
	// Proxy holds the proxies' limits (header sizes, header timeout, body limit, idle
	// member connections, connect attempts); zero fields take their defaults.
	Proxy proxy.Options
	// FreeBind sets IP_FREEBIND on listening sockets so a listener may bind a VIP that is
	// not (yet) configured on this host.
	FreeBind bool
}

// Engine runs listeners for one node. Its methods are safe for concurrent use.
type Engine struct {
	log    *slog.Logger
	clk    clock.Clock
	popts  *proxy.Options
	onEvt  func(dataplane.HealthEvent)
	freeBd bool

	mu     sync.Mutex
	closed bool
	// units are the load balancers in force, each applied on its own (unit.go);
	// cfgJSON is the last whole config Apply took (nil after an Update).
	units   map[string]*unit
	cfgJSON []byte
	applied bool // a config was applied
	// owners of listener ids, pool ids and sockets, by load balancer, for the checks
	// across load balancers an Update makes.
	listenerOwner, poolOwner map[string]string
	sockOwner                map[sockKey]string
	sockets                  map[sockKey]*socket
	draining                 map[*socket]struct{}
	counters                 map[string]*proxy.Counters
	members                  map[memberKey]*balance.MemberState
	sessions                 map[string]*poolSessions
	checkers                 map[checkKey]*healthcheck.Checker
	stopped                  []*healthcheck.Checker
	wg                       sync.WaitGroup // socket accept loops and drain waiters

	pools   atomic.Pointer[map[string]*balance.Pool]
	version atomic.Uint64

	// ticketKeys encrypt TLS session tickets of every TERMINATED_HTTPS listener, so a
	// session resumes across reloads (and across listeners of this engine).
	ticketKeys [][32]byte
	// tlsServers and tlsClients are the TLS sides built for the config in force, reused
	// while a listener's (or pool's) TLS settings do not change.
	tlsServers map[string]tlsEntry[tlsterm.Server]
	tlsClients map[string]tlsEntry[tlsterm.Client]
}

// digest identifies TLS settings without holding their keys.
func digest(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// tlsEntry is a built TLS side and the digest of the settings it was built from.
type tlsEntry[T any] struct {
	key string
	v   *T
}

type sockKey struct {
	transport string
	addr      netip.AddrPort
}

type memberKey struct {
	pool, member string
	addr         netip.AddrPort
}

type checkKey struct {
	pool, member string
	spec         string
	target       netip.AddrPort
}

type poolSessions struct {
	key    string
	src    *balance.Sessions[netip.Addr]
	cookie *balance.Sessions[string]
}

// New returns an engine with no listeners. Call Apply to configure it and Close to stop it.
func New(opts Options) *Engine {
	e := &Engine{
		log: opts.Logger, clk: opts.Clock, onEvt: opts.OnHealthEvent, freeBd: opts.FreeBind,
		sockets: map[sockKey]*socket{}, draining: map[*socket]struct{}{}, counters: map[string]*proxy.Counters{},
		members: map[memberKey]*balance.MemberState{}, sessions: map[string]*poolSessions{},
		checkers: map[checkKey]*healthcheck.Checker{}, units: map[string]*unit{},
		listenerOwner: map[string]string{}, poolOwner: map[string]string{}, sockOwner: map[sockKey]string{},
		tlsServers: map[string]tlsEntry[tlsterm.Server]{}, tlsClients: map[string]tlsEntry[tlsterm.Client]{},
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.clk == nil {
		e.clk = clock.Real()
	}
	po := opts.Proxy
	po.Clock, po.Logger = e.clk, e.log
	e.popts = po.WithDefaults()
	empty := map[string]*balance.Pool{}
	e.pools.Store(&empty)
	var k [32]byte
	_, _ = rand.Read(k[:])
	e.ticketKeys = [][32]byte{k}
	return e
}

// Version returns the version of the config in force (0 before the first Apply).
func (e *Engine) Version() uint64 { return e.version.Load() }

// poolSessions returns the persistence tables for pc, reusing the old ones when the
// persistence settings did not change.
func (e *Engine) poolSessions(pc *dataplane.Pool) *poolSessions {
	sp := pc.SessionPersistence
	if sp == nil || sp.Type == dataplane.PersistHTTPCookie {
		return nil
	}
	key := fmt.Sprintf("%s|%s|%d|%s", sp.Type, sp.CookieName, sp.PersistenceTimeout, sp.PersistenceGranularity)
	if old := e.sessions[pc.ID]; old != nil && old.key == key {
		return old
	}
	timeout := time.Duration(sp.PersistenceTimeout) * time.Second
	ps := &poolSessions{key: key}
	if sp.Type == dataplane.PersistSourceIP {
		ps.src = balance.NewSessions[netip.Addr](e.clk, timeout)
	} else {
		ps.cookie = balance.NewSessions[string](e.clk, timeout)
	}
	return ps
}

// transition is the health checkers' callback.
func (e *Engine) transition(t healthcheck.Transition) {
	if p := (*e.pools.Load())[t.Target.PoolID]; p != nil {
		p.Refresh()
	}
	from, to := dataplane.StatusUp, dataplane.StatusDown
	if t.Up {
		from, to = to, from
	}
	ev := dataplane.HealthEvent{Time: t.Time, PoolID: t.Target.PoolID, MemberID: t.Target.MemberID,
		Address: t.Target.Addr.String(), From: from, To: to, Detail: t.Detail}
	e.log.Info("member health transition", "pool", ev.PoolID, "member", ev.MemberID, "addr", ev.Address,
		"from", string(from), "to", string(to), "detail", ev.Detail)
	if e.onEvt != nil {
		e.onEvt(ev)
	}
}

// Stats returns a snapshot of all listener and member counters of the config in force.
func (e *Engine) Stats() dataplane.Stats {
	e.mu.Lock()
	listeners := e.listenersLocked()
	counters := make([]*proxy.Counters, len(listeners))
	for i, l := range listeners {
		counters[i] = e.counters[l.ID]
	}
	e.mu.Unlock()
	out := dataplane.Stats{Version: e.version.Load(), Time: e.clk.Now(), Listeners: []dataplane.ListenerStats{}, Members: []dataplane.MemberStats{}}
	for i, l := range listeners {
		c := counters[i]
		out.Listeners = append(out.Listeners, dataplane.ListenerStats{
			ListenerID: l.ID, LoadBalancerID: l.LoadBalancerID,
			ActiveConnections: c.Active.Load(), TotalConnections: c.Total.Load(),
			BytesIn: c.BytesIn.Load(), BytesOut: c.BytesOut.Load(), RequestErrors: c.Errors.Load(),
		})
	}
	for _, p := range e.sortedPools() {
		for _, m := range p.Members {
			out.Members = append(out.Members, dataplane.MemberStats{PoolID: p.ID, MemberID: m.ID,
				ActiveConnections: m.State.Active.Load(), TotalConnections: m.State.Total.Load(), ConnectErrors: m.State.ConnectErrors.Load()})
		}
	}
	return out
}

func (e *Engine) sortedPools() []*balance.Pool {
	m := *e.pools.Load()
	out := make([]*balance.Pool, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Health returns the health of every member of the config in force.
func (e *Engine) Health() dataplane.Health {
	out := dataplane.Health{Version: e.version.Load(), Time: e.clk.Now(), Members: []dataplane.MemberHealth{}}
	for _, p := range e.sortedPools() {
		for _, m := range p.Members {
			_, _, since, last, detail, ok := m.State.HealthSnapshot()
			out.Members = append(out.Members, dataplane.MemberHealth{PoolID: p.ID, MemberID: m.ID, Status: m.Status(),
				Since: since, LastCheck: last, LastCheckDetail: detail, LastCheckOK: ok})
		}
	}
	return out
}

// Addrs returns the addresses the engine listens on, as "transport/ip:port", sorted.
// Ports chosen by the kernel (port 0 is not valid in a config) never occur.
func (e *Engine) Addrs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for k := range e.sockets {
		out = append(out, k.transport+"/"+k.addr.String())
	}
	sort.Strings(out)
	return out
}

// Close stops listening, closes every connection, stops health checks and waits for all
// goroutines. The engine cannot be used afterwards.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	var all []*socket
	for _, s := range e.sockets {
		all = append(all, s)
	}
	for s := range e.draining {
		all = append(all, s)
	}
	for _, s := range all {
		s.fe.Store(nil)
		s.closeListener()
		s.closeConns()
	}
	var checkers []*healthcheck.Checker
	for _, c := range e.checkers {
		c.Stop()
		checkers = append(checkers, c)
	}
	checkers = append(checkers, e.stopped...)
	for _, st := range e.members {
		st.Retire()
	}
	e.mu.Unlock()
	for _, c := range checkers {
		c.Wait()
	}
	for _, s := range all {
		s.wait()
	}
	e.wg.Wait()
	return nil
}

// socket is one listening socket and the connections it accepted.
type socket struct {
	key sockKey
	e   *Engine
	ln  *net.TCPListener
	pc  *net.UDPConn
	udp *proxy.UDPServer
	fe  atomic.Pointer[proxy.Frontend]
	// http and https give an HTTP (TERMINATED_HTTPS) connection the frontend in force
	// for its next request, nil when the socket no longer serves that protocol.
	http, https func() *proxy.Frontend

	mu       sync.Mutex
	conns    map[*net.TCPConn]func() // value: ends an idle HTTP connection (nil for TCP)
	done     bool
	wg       sync.WaitGroup // accepted connections
	loopDone chan struct{}  // closed when serve returns
}

func (e *Engine) listen(k sockKey) (*socket, error) {
	s := &socket{key: k, e: e, conns: map[*net.TCPConn]func(){}, loopDone: make(chan struct{})}
	s.http = func() *proxy.Frontend {
		fe := s.fe.Load()
		if fe == nil || fe.Protocol != dataplane.ProtocolHTTP {
			return nil
		}
		return fe
	}
	s.https = func() *proxy.Frontend {
		fe := s.fe.Load()
		if fe == nil || fe.Protocol != dataplane.ProtocolTerminatedHTTPS {
			return nil
		}
		return fe
	}
	lc := net.ListenConfig{}
	if e.freeBd {
		lc.Control = func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_FREEBIND, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	switch k.transport {
	case "udp":
		pc, err := lc.ListenPacket(context.Background(), "udp", k.addr.String())
		if err != nil {
			return nil, fmt.Errorf("listen udp %s: %w", k.addr, err)
		}
		s.pc = pc.(*net.UDPConn)
		s.udp = proxy.NewUDPServer(s.pc, s.fe.Load, e.popts)
	default:
		ln, err := lc.Listen(context.Background(), "tcp", k.addr.String())
		if err != nil {
			return nil, fmt.Errorf("listen tcp %s: %w", k.addr, err)
		}
		s.ln = ln.(*net.TCPListener)
	}
	return s, nil
}

// serve runs the accept (or datagram) loop until the socket is closed.
func (s *socket) serve() {
	defer close(s.loopDone)
	if s.udp != nil {
		s.udp.Serve()
		return
	}
	backoff := 5 * time.Millisecond
	for {
		c, err := s.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or similar: back off instead of spinning.
			s.e.log.Warn("accept failed", "addr", s.key.addr.String(), "err", err)
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		fe := s.fe.Load()
		if fe == nil {
			c.Close()
			continue
		}
		if !fe.Admit(c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()) {
			c.SetLinger(0)
			c.Close()
			continue
		}
		switch fe.Protocol {
		case dataplane.ProtocolPrometheus:
			mc := &metricsConn{c: c, fe: fe}
			s.spawn(c, fe, mc.drain, func() { s.e.serveMetrics(mc) }, nil)
		case dataplane.ProtocolHTTP, dataplane.ProtocolTerminatedHTTPS:
			var hc *proxy.HTTPConn
			if fe.TLS != nil {
				hc = proxy.NewHTTPSConn(c, fe.TLS.Config, s.https, s.e.popts)
			} else {
				hc = proxy.NewHTTPConn(c, s.http, s.e.popts)
			}
			s.spawn(c, fe, hc.Drain, hc.Serve, hc.Release)
		default:
			s.spawn(c, fe, nil, func() { fe.ServeTCP(c) }, nil)
		}
	}
}

// spawn serves the admitted connection c on its own goroutine: tracked (drain, when
// non-nil, is how the listener asks it to finish) while serve runs, then untracked, then
// cleanup (when non-nil), then fe's admission released. When the socket is closing c is
// closed at once, after the same cleanup and release.
func (s *socket) spawn(c *net.TCPConn, fe *proxy.Frontend, drain, serve, cleanup func()) {
	if !s.track(c, drain) {
		if cleanup != nil {
			cleanup()
		}
		fe.Release()
		c.Close()
		return
	}
	go func() {
		defer s.wg.Done()
		defer fe.Release()
		serve()
		s.untrack(c)
		if cleanup != nil {
			cleanup()
		}
	}()
}

func (s *socket) track(c *net.TCPConn, drain func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return false
	}
	s.conns[c] = drain
	s.wg.Add(1)
	return true
}

func (s *socket) untrack(c *net.TCPConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// closeListener stops accepting; accepted connections go on.
func (s *socket) closeListener() {
	if s.ln != nil {
		s.ln.Close()
	}
	if s.pc != nil {
		s.pc.Close()
	}
}

// drainConns asks idle HTTP keep-alive connections to close now and busy ones after
// their response in flight.
func (s *socket) drainConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, drain := range s.conns {
		if drain != nil {
			drain()
		}
	}
}

// cutRefused closes the connections (UDP: the flows) of clients fe's security-group filter
// does not admit: a rule taken away stops the traffic it allowed, as in Neutron, which
// drops the tracked connections of removed rules.
func (s *socket) cutRefused(fe *proxy.Frontend) {
	if s.udp != nil {
		s.udp.Cut(fe.IngressAdmits)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok && !fe.IngressAdmits(a.AddrPort().Addr()) {
			cut(c)
		}
	}
}

// cut ends an accepted connection at once, with a reset, without waiting for the
// goroutine serving it. The client sees its end now (a FIN, then the reset), every wait
// on the socket ends, and Close runs on a goroutine of its own: an HTTP connection serves
// its request inside its socket's readiness wait (proxy.HTTPConn), and Close returns only
// when that request has let go of the socket — after the member answered, at the latest
// after the member timeout — which must not hold up the caller (an Apply, under locks).
func cut(c *net.TCPConn) {
	c.SetLinger(0)
	c.CloseWrite()
	go c.Close()
}

// closeConns closes every accepted connection (UDP: every flow).
func (s *socket) closeConns() {
	s.mu.Lock()
	s.done = true
	for c := range s.conns {
		cut(c)
	}
	s.mu.Unlock()
	if s.udp != nil {
		s.udp.Close()
	}
}

// wait blocks until every connection accepted by a closed socket has ended.
func (s *socket) wait() {
	<-s.loopDone
	s.wg.Wait()
	if s.udp != nil {
		s.udp.Close() // a removed UDP listener's flows end with it
	}
}
