package engine

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/balance"
	"github.com/fulcrumlb/fulcrum/internal/engine/proxy"
)

// PROMETHEUS listeners: a small HTTP/1.1 endpoint on the listener's sockets that answers
// GET /metrics with the metrics of the listener's load balancer (and only of it: one engine
// hosts many load balancers) in the Prometheus text exposition format 0.0.4. Names follow
// the octavia_ namespace Octavia's amphora exposes; label values are Octavia ids.

// MetricsContentType is the Content-Type of GET /metrics.
const MetricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// maxMetricsBody bounds a request body a scrape may carry (it is read and discarded).
const maxMetricsBody = 64 << 10

// metricsConn is one client connection of a PROMETHEUS listener.
type metricsConn struct {
	c        *net.TCPConn
	fe       *proxy.Frontend
	draining atomic.Bool
}

// drain makes the connection close after the response in flight, or now when idle.
func (m *metricsConn) drain() {
	m.draining.Store(true)
	m.c.SetReadDeadline(time.Now())
}

// countingReader counts the bytes read through it into n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// serveMetrics answers requests on m until the client closes, a timeout expires, the
// request is malformed or the listener drains.
func (e *Engine) serveMetrics(m *metricsConn) {
	defer m.c.Close()
	fe := m.fe
	// The head of one request may take at most MaxHeaderBytes; lim is re-armed per request.
	lim := &io.LimitedReader{R: countingReader{m.c, &fe.Counters.BytesIn}}
	br := bufio.NewReaderSize(lim, 4096)
	var out bytes.Buffer
	for !m.draining.Load() {
		if fe.ClientTimeout > 0 {
			m.c.SetReadDeadline(time.Now().Add(fe.ClientTimeout))
		} else {
			m.c.SetReadDeadline(time.Time{})
		}
		if m.draining.Load() {
			return
		}
		lim.N = int64(e.popts.MaxHeaderBytes)
		req, err := http.ReadRequest(br)
		if err != nil {
			switch {
			case lim.N <= 0:
				m.fail(http.StatusRequestHeaderFieldsTooLarge)
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, os.ErrDeadlineExceeded):
			default:
				m.fail(http.StatusBadRequest)
			}
			return
		}
		lim.N = maxMetricsBody + 1
		n, _ := io.Copy(io.Discard, req.Body)
		req.Body.Close()
		closing := req.Close || m.draining.Load()
		if n > maxMetricsBody {
			m.fail(http.StatusRequestEntityTooLarge)
			return
		}
		status, allow := http.StatusOK, ""
		switch {
		case req.URL.Path != "/metrics":
			status = http.StatusNotFound
		case req.Method != http.MethodGet && req.Method != http.MethodHead:
			status, allow = http.StatusMethodNotAllowed, "GET, HEAD"
		}
		var body []byte
		if status == http.StatusOK {
			var b bytes.Buffer
			e.renderMetrics(fe.LoadBalancerID, &b)
			body = b.Bytes()
		}
		if !m.reply(&out, status, allow, body, req.Method == http.MethodHead, closing) || closing {
			return
		}
	}
}

// write sends b with the write timeout and counts it.
func (m *metricsConn) write(b []byte) bool {
	m.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	n, err := m.c.Write(b)
	m.fe.Counters.BytesOut.Add(int64(n))
	return err == nil
}

// fail counts a refused request and answers it with the engine's error response, which
// closes the connection.
func (m *metricsConn) fail(status int) {
	m.fe.Counters.Errors.Add(1)
	m.write(proxy.ErrorResponse(status))
}

// reply writes one response: body for 200, a short text for 404 and 405; for HEAD only
// the head, announcing the body's length.
func (m *metricsConn) reply(out *bytes.Buffer, status int, allow string, body []byte, head, closing bool) bool {
	ctype := MetricsContentType
	switch status {
	case http.StatusNotFound:
		ctype, body = "text/plain; charset=utf-8", []byte("Not Found: the metrics are at /metrics\n")
	case http.StatusMethodNotAllowed:
		ctype, body = "text/plain; charset=utf-8", []byte("Method Not Allowed\n")
	}
	length := len(body)
	if head {
		body = nil
	}
	out.Reset()
	out.WriteString("HTTP/1.1 ")
	out.WriteString(strconv.Itoa(status))
	out.WriteByte(' ')
	out.WriteString(http.StatusText(status))
	out.WriteString("\r\nContent-Type: ")
	out.WriteString(ctype)
	out.WriteString("\r\nContent-Length: ")
	out.WriteString(strconv.Itoa(length))
	out.WriteString("\r\n")
	if allow != "" {
		out.WriteString("Allow: " + allow + "\r\n")
	}
	if closing {
		out.WriteString("Connection: close\r\n")
	}
	out.WriteString("\r\n")
	out.Write(body)
	return m.write(out.Bytes())
}

// metric is one metric family being written.
type metric struct {
	name, kind, help string
}

// exposition writes families and samples in the text format.
type exposition struct {
	w *bytes.Buffer
}

func (x exposition) family(m metric) {
	x.w.WriteString("# HELP ")
	x.w.WriteString(m.name)
	x.w.WriteByte(' ')
	x.w.WriteString(m.help)
	x.w.WriteString("\n# TYPE ")
	x.w.WriteString(m.name)
	x.w.WriteByte(' ')
	x.w.WriteString(m.kind)
	x.w.WriteByte('\n')
}

// sample writes name{labels} value; labels are name, value pairs.
func (x exposition) sample(name string, v int64, labels ...string) {
	x.w.WriteString(name)
	if len(labels) > 0 {
		x.w.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				x.w.WriteByte(',')
			}
			x.w.WriteString(labels[i])
			x.w.WriteString(`="`)
			x.w.WriteString(escapeLabel(labels[i+1]))
			x.w.WriteByte('"')
		}
		x.w.WriteByte('}')
	}
	x.w.WriteByte(' ')
	x.w.WriteString(strconv.FormatInt(v, 10))
	x.w.WriteByte('\n')
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// memberStates are the values of octavia_member_status's state label.
var memberStates = []dataplane.MemberStatus{dataplane.StatusUp, dataplane.StatusDown, dataplane.StatusDrain, dataplane.StatusMaint, dataplane.StatusNoCheck}

// renderMetrics writes the metrics of load balancer lbID: its listeners, the pools they
// use (default pools and L7 redirect pools) and their members.
func (e *Engine) renderMetrics(lbID string, w *bytes.Buffer) {
	e.mu.Lock()
	var listeners []*dataplane.Listener
	counters := map[string]*proxy.Counters{}
	used := map[string]bool{}
	if u := e.units[lbID]; u != nil {
		for i := range u.cfg.Listeners {
			l := &u.cfg.Listeners[i]
			listeners = append(listeners, l)
			counters[l.ID] = e.counters[l.ID]
			for _, id := range l.PoolIDs() {
				used[id] = true
			}
		}
	}
	pools := *e.pools.Load()
	e.mu.Unlock()
	sort.Slice(listeners, func(i, j int) bool { return listeners[i].ID < listeners[j].ID })
	var views []poolView
	for id := range used {
		if p := pools[id]; p != nil {
			views = append(views, newPoolView(p))
		}
	}
	sort.Slice(views, func(i, j int) bool { return views[i].p.ID < views[j].p.ID })
	ctr := func(l *dataplane.Listener) *proxy.Counters {
		if c := counters[l.ID]; c != nil {
			return c
		}
		return &proxy.Counters{}
	}
	x := exposition{w}

	var active, total int64
	for _, l := range listeners {
		c := ctr(l)
		active += c.Active.Load()
		total += c.Total.Load()
	}
	x.family(metric{"octavia_loadbalancer_current_connections", "gauge", "Number of active client connections on the load balancer's listeners."})
	x.sample("octavia_loadbalancer_current_connections", active)
	x.family(metric{"octavia_loadbalancer_connections_total", "counter", "Total number of client connections accepted by the load balancer's listeners."})
	x.sample("octavia_loadbalancer_connections_total", total)
	var requests int64
	for _, l := range listeners {
		requests += ctr(l).Requests.Load()
	}
	x.family(metric{"octavia_loadbalancer_requests_total", "counter", "Total number of HTTP requests received by the load balancer's listeners (an HTTP/2 stream is one)."})
	x.sample("octavia_loadbalancer_requests_total", requests)
	x.family(metric{"octavia_loadbalancer_listeners", "gauge", "Number of listeners of the load balancer on this node."})
	x.sample("octavia_loadbalancer_listeners", int64(len(listeners)))

	listenerFamilies := []struct {
		m metric
		v func(*dataplane.Listener, *proxy.Counters) int64
	}{
		{metric{"octavia_listener_status", "gauge", "Whether the listener is listening (1) on this node."}, func(*dataplane.Listener, *proxy.Counters) int64 { return 1 }},
		{metric{"octavia_listener_current_sessions", "gauge", "Number of active client connections."}, func(_ *dataplane.Listener, c *proxy.Counters) int64 { return c.Active.Load() }},
		{metric{"octavia_listener_limit_sessions", "gauge", "Configured connection_limit (0 meaning no limit)."}, func(l *dataplane.Listener, _ *proxy.Counters) int64 { return int64(max(l.ConnectionLimit, 0)) }},
		{metric{"octavia_listener_sessions_total", "counter", "Total number of client connections accepted."}, func(_ *dataplane.Listener, c *proxy.Counters) int64 { return c.Total.Load() }},
		{metric{"octavia_listener_bytes_in_total", "counter", "Total number of bytes received from clients."}, func(_ *dataplane.Listener, c *proxy.Counters) int64 { return c.BytesIn.Load() }},
		{metric{"octavia_listener_bytes_out_total", "counter", "Total number of bytes sent to clients."}, func(_ *dataplane.Listener, c *proxy.Counters) int64 { return c.BytesOut.Load() }},
		{metric{"octavia_listener_request_errors_total", "counter", "Total number of refused connections and malformed or refused requests."}, func(_ *dataplane.Listener, c *proxy.Counters) int64 { return c.Errors.Load() }},
	}
	for _, f := range listenerFamilies {
		x.family(f.m)
		for _, l := range listeners {
			x.sample(f.m.name, f.v(l, ctr(l)), "listener", l.ID)
		}
	}
	// The HTTP families, of the listeners that read HTTP (HTTP, TERMINATED_HTTPS).
	x.family(metric{"octavia_listener_http_requests_total", "counter", "Total number of HTTP requests received (an HTTP/2 stream is one)."})
	for _, l := range listeners {
		if readsHTTP(l) {
			x.sample("octavia_listener_http_requests_total", ctr(l).Requests.Load(), "listener", l.ID)
		}
	}
	x.family(metric{"octavia_listener_http_responses_total", "counter", "Total number of HTTP responses sent, the members' and the load balancer's own, by status class."})
	for _, l := range listeners {
		if readsHTTP(l) {
			c := ctr(l)
			for i, code := range responseClasses {
				x.sample("octavia_listener_http_responses_total", c.Responses[i].Load(), "listener", l.ID, "code", code)
			}
		}
	}

	memberActive := func(m *balance.Member) int64 { return m.State.Active.Load() }
	memberTotal := func(m *balance.Member) int64 { return m.State.Total.Load() }
	memberErrors := func(m *balance.Member) int64 { return m.State.ConnectErrors.Load() }
	poolFamilies := []struct {
		m metric
		v func(*poolView) int64
	}{
		{metric{"octavia_pool_status", "gauge", "Whether the pool has a member that can take new connections (1) or not (0)."}, func(v *poolView) int64 { return min(v.active+v.backup, 1) }},
		{metric{"octavia_pool_active_members", "gauge", "Number of non-backup members that can take new connections."}, func(v *poolView) int64 { return v.active }},
		{metric{"octavia_pool_backup_members", "gauge", "Number of backup members that can take new connections."}, func(v *poolView) int64 { return v.backup }},
		{metric{"octavia_pool_current_sessions", "gauge", "Number of active connections to the pool's members."}, func(v *poolView) int64 { return v.sum(memberActive) }},
		{metric{"octavia_pool_sessions_total", "counter", "Total number of connections made to the pool's members."}, func(v *poolView) int64 { return v.sum(memberTotal) }},
		{metric{"octavia_pool_connection_errors_total", "counter", "Total number of failed connection attempts to the pool's members."}, func(v *poolView) int64 { return v.sum(memberErrors) }},
	}
	for _, f := range poolFamilies {
		x.family(f.m)
		for i := range views {
			x.sample(f.m.name, f.v(&views[i]), "pool", views[i].p.ID)
		}
	}

	x.family(metric{"octavia_member_status", "gauge", "Current state of the member: 1 for the state it is in (UP, DOWN, DRAIN, MAINT or NO_CHECK), 0 for the others."})
	for _, v := range views {
		for _, m := range v.members {
			st := m.Status()
			for _, s := range memberStates {
				x.sample("octavia_member_status", int64(btoi(s == st)), "pool", v.p.ID, "member", m.ID, "state", string(s))
			}
		}
	}
	memberFamilies := []struct {
		m metric
		v func(*balance.Member) int64
	}{
		{metric{"octavia_member_current_sessions", "gauge", "Number of active connections to the member."}, memberActive},
		{metric{"octavia_member_sessions_total", "counter", "Total number of connections made to the member."}, memberTotal},
		{metric{"octavia_member_connection_errors_total", "counter", "Total number of failed connection attempts to the member."}, memberErrors},
	}
	for _, f := range memberFamilies {
		x.family(f.m)
		for _, v := range views {
			for _, m := range v.members {
				x.sample(f.m.name, f.v(m), "pool", v.p.ID, "member", m.ID)
			}
		}
	}
}

// responseClasses label proxy.Counters.Responses, in its order.
var responseClasses = [6]string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"}

// readsHTTP says whether l's connections are read as HTTP.
func readsHTTP(l *dataplane.Listener) bool {
	return l.Protocol == dataplane.ProtocolHTTP || l.Protocol == dataplane.ProtocolTerminatedHTTPS
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// poolView is one pool as a scrape sees it: members sorted by id, and how many primary
// and backup members can take new connections, read once per scrape.
type poolView struct {
	p              *balance.Pool
	members        []*balance.Member
	active, backup int64
}

func newPoolView(p *balance.Pool) poolView {
	v := poolView{p: p, members: append([]*balance.Member(nil), p.Members...)}
	sort.Slice(v.members, func(i, j int) bool { return v.members[i].ID < v.members[j].ID })
	for _, m := range v.members {
		switch {
		case !m.Usable():
		case m.Backup:
			v.backup++
		default:
			v.active++
		}
	}
	return v
}

func (v *poolView) sum(f func(*balance.Member) int64) int64 {
	var n int64
	for _, m := range v.members {
		n += f(m)
	}
	return n
}
