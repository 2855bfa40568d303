// Package proxy moves the bytes: the TCP (and HTTPS pass-through) splice proxy, the UDP flow
// proxy and the lean HTTP/1.1 forwarder with its L7 policies, each driven by a Frontend built
// from one listener of a dataplane.Config. It knows nothing of sockets' lifecycle or reconfiguration; the
// engine package owns those and hands connections in.
package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/balance"
	"github.com/fulcrumlb/fulcrum/internal/engine/clock"
	"github.com/fulcrumlb/fulcrum/internal/engine/tlsterm"
)

// Counters are one listener's statistics. They outlive config versions of the same
// listener id. All fields are updated atomically; no lock is taken on the hot path.
type Counters struct {
	Active   atomic.Int64
	Total    atomic.Int64
	BytesIn  atomic.Int64
	BytesOut atomic.Int64
	Errors   atomic.Int64
	// Requests counts the HTTP requests whose head was read (an HTTP/2 stream is one);
	// Responses the answers given, the member's or the engine's own, by status class:
	// 1xx to 5xx (indexes 0 to 4), anything else (5).
	Requests  atomic.Int64
	Responses [6]atomic.Int64
}

// Response counts an answer of status code.
func (c *Counters) Response(code int) {
	k := code/100 - 1
	if k < 0 || k > 4 {
		k = 5
	}
	c.Responses[k].Add(1)
}

// Options are engine-wide limits of the proxies. The zero value of a field picks the
// default documented on it.
type Options struct {
	// MaxHeaderBytes bounds an HTTP request or response head (request line and headers).
	// A larger request head gets 431. Default 16 KiB.
	MaxHeaderBytes int
	// MaxHeaders bounds the number of header fields of an HTTP request (431 beyond).
	// Default 100.
	MaxHeaders int
	// HeaderTimeout bounds the time from the first byte of an HTTP request to the end of
	// its head (slowloris): 408 when it expires. Default 10 s.
	HeaderTimeout time.Duration
	// MaxBodyBytes bounds HTTP request bodies: 413 beyond. 0 means unlimited.
	MaxBodyBytes int64
	// MaxIdlePerMember bounds the idle keep-alive connections kept per member. Default 128.
	MaxIdlePerMember int
	// MemberIdleTimeout is how long an idle member connection may be reused. Default 30 s.
	MemberIdleTimeout time.Duration
	// ConnectAttempts bounds how many members one client connection or request tries
	// when connecting fails. Default 3.
	ConnectAttempts int
	// Clock drives persistence expiry and UDP flow expiry. Default the real clock.
	Clock clock.Clock
	// Logger receives debug logs of connection failures. Default discards.
	Logger *slog.Logger
	// AccessLog, when set, receives a line per HTTP request and per TCP or UDP flow of
	// every listener whose connection_logging is not false. nil logs nothing (and costs
	// the hot path one pointer test).
	AccessLog *AccessLog

	connPool *sync.Pool // httpConn reuse; set by WithDefaults
}

// WithDefaults returns a copy of o with zero fields set to their defaults.
func (o *Options) WithDefaults() *Options {
	out := &Options{}
	if o != nil {
		out.MaxHeaderBytes, out.MaxHeaders, out.HeaderTimeout, out.MaxBodyBytes = o.MaxHeaderBytes, o.MaxHeaders, o.HeaderTimeout, o.MaxBodyBytes
		out.MaxIdlePerMember, out.MemberIdleTimeout, out.ConnectAttempts = o.MaxIdlePerMember, o.MemberIdleTimeout, o.ConnectAttempts
		out.Clock, out.Logger, out.AccessLog = o.Clock, o.Logger, o.AccessLog
	}
	if out.MaxHeaderBytes <= 0 {
		out.MaxHeaderBytes = 16 << 10
	}
	if out.MaxHeaders <= 0 {
		out.MaxHeaders = 100
	}
	if out.HeaderTimeout <= 0 {
		out.HeaderTimeout = 10 * time.Second
	}
	if out.MaxIdlePerMember <= 0 {
		out.MaxIdlePerMember = 128
	}
	if out.MemberIdleTimeout <= 0 {
		out.MemberIdleTimeout = 30 * time.Second
	}
	if out.ConnectAttempts <= 0 {
		out.ConnectAttempts = 3
	}
	if out.Clock == nil {
		out.Clock = clock.Real()
	}
	out.connPool = &sync.Pool{}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

// Frontend is one listener of one config version, ready to serve connections. It is
// immutable once built.
type Frontend struct {
	ListenerID     string
	LoadBalancerID string
	Protocol       dataplane.Protocol
	Port           int
	// Pool is the default pool; nil when the listener has none.
	Pool     *balance.Pool
	Counters *Counters
	// Limit caps concurrent connections; ≤0 means unlimited.
	Limit          int64
	ClientTimeout  time.Duration
	ConnectTimeout time.Duration
	MemberTimeout  time.Duration
	Allowed        []netip.Prefix
	// Ingress is the security-group filter (dataplane.Listener.Ingress); nil admits
	// every client.
	Ingress *AddrSet
	Opts    *Options

	// TLS terminates client connections (TERMINATED_HTTPS); nil for HTTP. Set by the
	// engine with SetTLS.
	TLS *tlsterm.Server

	xff, xfPort, xfProto, realIP, clientIP, fwdIP bool
	sslHeaders                                    [8]bool // tlsterm.SSLHeaders enabled
	anySSL                                        bool
	hsts                                          []byte                     // "Strict-Transport-Security: ...\r\n"
	poolTLS                                       map[string]*tlsterm.Client // re-encrypting pools by id
	portHeader                                    []byte                     // "X-Forwarded-Port: 80\r\n" or nil
	// inserted are the lower-case names of the headers the engine sets (replacing the
	// client's copies), X-Forwarded-For aside: that one is a list the engine appends to.
	inserted []string
	// dropped are the lower-case names of the client's headers never forwarded: inserted,
	// and on a listener whose rules read the path, the headers some servers take as the
	// request's path instead of its target (pathOverrides).
	dropped  []string
	log      *AccessLog // nil: this listener logs nothing
	def      route      // the default pool's route
	policies []policy
	dialer   net.Dialer
	h2m      h2Members // HTTP/2 member connections (h2member.go)
}

// NewFrontend builds the frontend of listener l, which must have passed
// dataplane.Config.Validate. pools holds the config version's runtime pools by id (nil
// when there are none); the listener's default pool and the pools of its L7 policies are
// taken from it. counters must not be nil. The error reports an L7 rule Validate should
// have refused.
func NewFrontend(l *dataplane.Listener, pools map[string]*balance.Pool, counters *Counters, opts *Options) (*Frontend, error) {
	var pool *balance.Pool
	if l.DefaultPoolID != "" {
		pool = pools[l.DefaultPoolID]
	}
	f := &Frontend{
		ListenerID: l.ID, LoadBalancerID: l.LoadBalancerID, Protocol: l.Protocol, Port: l.ProtocolPort,
		Pool: pool, Counters: counters, Limit: int64(l.ConnectionLimit),
		ClientTimeout:  time.Duration(l.TimeoutClientData) * time.Millisecond,
		ConnectTimeout: time.Duration(l.TimeoutMemberConnect) * time.Millisecond,
		MemberTimeout:  time.Duration(l.TimeoutMemberData) * time.Millisecond,
		Opts:           opts,
	}
	f.dialer.Timeout = f.ConnectTimeout
	if opts != nil && opts.AccessLog != nil && (l.ConnectionLogging == nil || *l.ConnectionLogging) {
		f.log = opts.AccessLog
	}
	for _, s := range l.AllowedCIDRs {
		if p, err := netip.ParsePrefix(s); err == nil {
			f.Allowed = append(f.Allowed, p.Masked())
		}
	}
	f.Ingress = ingressSet(l.Ingress)
	on := func(k string) bool { return strings.EqualFold(l.InsertHeaders[k], "true") }
	f.xff, f.xfPort, f.xfProto, f.realIP, f.clientIP, f.fwdIP = on("X-Forwarded-For"), on("X-Forwarded-Port"), on("X-Forwarded-Proto"), on("X-Real-IP"), on("X-Client-IP"), on("X-Forwarded-IP")
	for i, k := range tlsterm.SSLHeaders {
		f.sslHeaders[i] = l.Protocol == dataplane.ProtocolTerminatedHTTPS && on(k)
		f.anySSL = f.anySSL || f.sslHeaders[i]
	}
	if f.xfPort {
		f.portHeader = []byte("X-Forwarded-Port: " + strconv.Itoa(l.ProtocolPort) + "\r\n")
	}
	for _, k := range []struct {
		on   bool
		name string
	}{{f.xfPort, "X-Forwarded-Port"}, {f.xfProto, "X-Forwarded-Proto"}, {f.realIP, "X-Real-IP"}, {f.clientIP, "X-Client-IP"}, {f.fwdIP, "X-Forwarded-IP"}} {
		if k.on {
			f.inserted = append(f.inserted, strings.ToLower(k.name))
		}
	}
	for i, k := range tlsterm.SSLHeaders {
		if f.sslHeaders[i] {
			f.inserted = append(f.inserted, strings.ToLower(k))
		}
	}
	f.def = newRoute(pool)
	if l.Protocol == dataplane.ProtocolHTTP || l.Protocol == dataplane.ProtocolTerminatedHTTPS {
		ps, err := newPolicies(l, pools)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", l.ID, err)
		}
		f.policies = ps
	}
	f.dropped = append([]string(nil), f.inserted...)
	if readsPath(f.policies) {
		f.dropped = append(f.dropped, pathOverrides...)
	}
	return f, nil
}

// SetTLS makes f terminate TLS with srv (nil: none) and re-encrypt toward the pools of
// poolTLS (by pool id; shared, not modified). Call it before the frontend serves.
func (f *Frontend) SetTLS(srv *tlsterm.Server, poolTLS map[string]*tlsterm.Client) {
	f.TLS, f.poolTLS, f.hsts = srv, poolTLS, nil
	if srv != nil && srv.HSTS != "" {
		f.hsts = []byte("Strict-Transport-Security: " + srv.HSTS + "\r\n")
	}
}

// HTTPCookieName is the cookie HTTP_COOKIE persistence inserts (as HAProxy does for Octavia);
// its value is the member id.
const HTTPCookieName = "SRV"

// Admit reports whether a client at addr may connect: allowed_cidrs and the
// security-group filter, then connection_limit. When it returns true the caller must call
// Release when the connection ends.
func (f *Frontend) Admit(addr netip.Addr) bool {
	if !f.AllowedAddr(addr) {
		f.Counters.Errors.Add(1)
		return false
	}
	n := f.Counters.Active.Add(1)
	if f.Limit > 0 && n > f.Limit {
		f.Counters.Active.Add(-1)
		f.Counters.Errors.Add(1)
		return false
	}
	f.Counters.Total.Add(1)
	return true
}

// Release ends a connection admitted by Admit.
func (f *Frontend) Release() { f.Counters.Active.Add(-1) }

// AllowedAddr reports whether addr passes allowed_cidrs and the security-group filter
// (without counting a connection).
func (f *Frontend) AllowedAddr(addr netip.Addr) bool {
	addr = addr.Unmap()
	if f.Ingress != nil && !f.Ingress.Contains(addr) {
		return false
	}
	if len(f.Allowed) == 0 {
		return true
	}
	for _, p := range f.Allowed {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// dialTCP connects to a member for client, trying up to Opts.ConnectAttempts members
// (persistence first, then the algorithm, never the same member twice). It returns the
// member and connection, or nil when every attempt failed or no member is eligible.
func (f *Frontend) dialTCP(client netip.AddrPort, first *balance.Member) (*balance.Member, *net.TCPConn) {
	if f.Pool == nil {
		return nil, nil
	}
	var triedBuf [8]*balance.Member
	tried := triedBuf[:0]
	for attempt := 0; attempt < f.Opts.ConnectAttempts; attempt++ {
		m := first
		first = nil
		if m == nil || contains(tried, m) {
			m = f.Pool.Choose(client, tried)
		}
		if m == nil {
			return nil, nil
		}
		c, err := f.dialer.DialTCP(context.Background(), "tcp", netip.AddrPort{}, m.AddrPort)
		if err == nil {
			return m, c
		}
		m.State.ConnectErrors.Add(1)
		f.Opts.Logger.Debug("connect to member failed", "listener", f.ListenerID, "pool", m.PoolID, "member", m.ID, "addr", m.Addr, "err", err)
		tried = append(tried, m)
	}
	return nil, nil
}

func contains(ms []*balance.Member, m *balance.Member) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// deadline sets read deadlines lazily: a deadline is moved only when it would expire
// within the timeout, and then set to timeout plus 25% slack. Timeouts thus fire between
// 1× and 1.25× their value while most requests touch no timer at all.
type deadline struct {
	at int64 // unix nanoseconds of the deadline set; 0 = none
}

func (d *deadline) read(c net.Conn, timeout time.Duration) {
	d.readAt(c, timeout, time.Now().UnixNano())
}

// readAt is read with the current time (unix nanoseconds) supplied by the caller.
func (d *deadline) readAt(c net.Conn, timeout time.Duration, now int64) {
	if timeout <= 0 {
		if d.at != 0 {
			c.SetReadDeadline(time.Time{})
			d.at = 0
		}
		return
	}
	want := now + int64(timeout)
	if d.at >= want && d.at <= want+int64(timeout/4) {
		return
	}
	d.at = want + int64(timeout/4)
	c.SetReadDeadline(time.Unix(0, d.at))
}

// writeAt is readAt for write deadlines.
func (d *deadline) writeAt(c net.Conn, timeout time.Duration, now int64) {
	if timeout <= 0 {
		if d.at != 0 {
			c.SetWriteDeadline(time.Time{})
			d.at = 0
		}
		return
	}
	want := now + int64(timeout)
	if d.at >= want && d.at <= want+int64(timeout/4) {
		return
	}
	d.at = want + int64(timeout/4)
	c.SetWriteDeadline(time.Unix(0, d.at))
}

// exact sets the read deadline to t precisely.
func (d *deadline) exact(c net.Conn, t time.Time) {
	d.at = t.UnixNano()
	c.SetReadDeadline(t)
}
