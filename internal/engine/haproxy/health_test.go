package haproxy

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// HAProxy runs the probes on its own clock, so these tests use real time with a delay of
// one second and poll for the outcome with generous deadlines.

type eventLog struct {
	mu     sync.Mutex
	events []dataplane.HealthEvent
}

func (l *eventLog) add(ev dataplane.HealthEvent) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

func (l *eventLog) trail() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, ev := range l.events {
		out = append(out, ev.MemberID+":"+string(ev.From)+"→"+string(ev.To))
	}
	return out
}

func TestHealthKillAndRevive(t *testing.T) {
	a, b, bk := startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "backup")
	port := freePort(t)
	var log eventLog
	e := newEngine(t, Options{OnHealthEvent: log.add})
	const rise, fall = 2, 2
	backup := bk.member("mbk")
	backup.Backup = true
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"), b.member("mb"), backup)
	p.HealthMonitor = &dataplane.HealthMonitor{Type: dataplane.MonitorHTTP, Delay: 1, Timeout: 1, MaxRetries: rise, MaxRetriesDown: fall,
		URLPath: "/", ExpectedCodes: "200", AdminStateUp: true}
	mustApply(t, e, oneListener(port, p))
	eventually(t, 10*time.Second, "first probe of mb", func() bool { return memberHealth(e, "mb").LastCheckOK })
	if h := memberHealth(e, "mb"); h.Status != dataplane.StatusUp || h.LastCheckDetail != "HTTP 200" || h.LastCheck.IsZero() {
		t.Fatalf("initial health: %+v", h)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	c := newClient()
	spread := func(n int) map[string]int {
		got := map[string]int{}
		for i := 0; i < n; i++ {
			code, body := get(t, c, url)
			if code != 200 {
				t.Fatalf("request failed: %d", code)
			}
			got[body]++
		}
		return got
	}
	if got := spread(10); got["a"] != 5 || got["b"] != 5 {
		t.Fatalf("both healthy: %v", got)
	}

	b.stop()
	killed := time.Now()
	eventually(t, 15*time.Second, "mb DOWN", func() bool { return memberHealth(e, "mb").Status == dataplane.StatusDown })
	t.Logf("killed member DOWN after %v (delay 1 s, fall %d)", time.Since(killed).Round(10*time.Millisecond), fall)
	if h := memberHealth(e, "mb"); h.LastCheckOK || h.LastCheckDetail != "connect: connection refused" || !h.Since.After(killed) {
		t.Errorf("health of the killed member: %+v", h)
	}
	c.CloseIdleConnections()
	if got := spread(10); got["a"] != 10 {
		t.Fatalf("with b down all traffic goes to a: %v", got)
	}

	a.stop()
	eventually(t, 15*time.Second, "ma DOWN", func() bool { return memberHealth(e, "ma").Status == dataplane.StatusDown })
	c.CloseIdleConnections()
	if got := spread(6); got["backup"] != 6 {
		t.Fatalf("with every primary down the backup serves: %v", got)
	}

	b.restart(t)
	revived := time.Now()
	eventually(t, 15*time.Second, "mb UP", func() bool { return memberHealth(e, "mb").Status == dataplane.StatusUp })
	t.Logf("revived member UP after %v (delay 1 s, rise %d)", time.Since(revived).Round(10*time.Millisecond), rise)
	if got := spread(6); got["b"] != 6 {
		t.Fatalf("b back, a still down, backup idle: %v", got)
	}
	want := []string{"mb:UP→DOWN", "ma:UP→DOWN", "mb:DOWN→UP"}
	if got := log.trail(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	log.mu.Lock()
	for _, ev := range log.events {
		if ev.Time.IsZero() || ev.Detail == "" || ev.Address == "" || ev.PoolID != "p1" {
			t.Errorf("incomplete event: %+v", ev)
		}
	}
	log.mu.Unlock()

	// Health survives a reload, also of the DOWN member's own weight: it stays DOWN (no
	// traffic to it, no event) and keeps its since.
	down := memberHealth(e, "ma")
	for i, mutate := range []func(c *dataplane.Config){
		func(c *dataplane.Config) { c.Listeners[0].TimeoutClientData = 20000 },
		func(c *dataplane.Config) { c.Pools[0].Members[0].Weight = 3 },
	} {
		v := uint64(2 + i)
		cfg := oneListener(port, p)
		cfg.Version = v
		mutate(cfg)
		mustApply(t, e, cfg)
		if h := memberHealth(e, "ma"); h.Status != dataplane.StatusDown || !h.Since.Equal(down.Since) {
			t.Fatalf("after reload %d: %+v, want DOWN since %v", v, h, down.Since)
		}
		c.CloseIdleConnections()
		if got := spread(6); got["b"] != 6 {
			t.Fatalf("after reload %d: %v", v, got)
		}
	}
	if got := log.trail(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events after the reloads %v, want %v", got, want)
	}
}

// TestHealthMonitorTypes runs each probe HAProxy can do against a member that passes it
// and one that fails it.
func TestHealthMonitorTypes(t *testing.T) {
	ca := newTestCA(t, "ca")
	cert, _ := ca.issue(t, "member", "member.example.test")
	hosts := make(chan string, 100)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hosts <- r.Host:
		default:
		}
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(204)
		case "/missing":
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tlsSrv.TLS = &tls.Config{Certificates: []tls.Certificate{keyPair(cert)}}
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	closed := freePort(t) // nothing listens there
	portOf := func(s *httptest.Server) int { return s.Listener.Addr().(*net.TCPAddr).Port }
	hm := func(typ dataplane.MonitorType) dataplane.HealthMonitor {
		return dataplane.HealthMonitor{Type: typ, Delay: 1, Timeout: 1, MaxRetries: 1, MaxRetriesDown: 1, AdminStateUp: true}
	}
	tests := []struct {
		name   string
		hm     dataplane.HealthMonitor
		port   int
		up     bool
		detail string
	}{
		{"HTTP 200", hm(dataplane.MonitorHTTP), portOf(plain), true, "HTTP 200"},
		{"HTTP 204 in a range", func() dataplane.HealthMonitor {
			h := hm(dataplane.MonitorHTTP)
			h.URLPath, h.ExpectedCodes = "/204", "200-204"
			return h
		}(), portOf(plain), true, "HTTP 204"},
		{"HTTP 404 not expected", func() dataplane.HealthMonitor {
			h := hm(dataplane.MonitorHTTP)
			h.URLPath, h.ExpectedCodes, h.HTTPMethod = "/missing", "200,202", "HEAD"
			return h
		}(), portOf(plain), false, "HTTP 404"},
		{"HTTP refused", hm(dataplane.MonitorHTTP), closed, false, "connect: connection refused"},
		{"HTTPS", hm(dataplane.MonitorHTTPS), portOf(tlsSrv), true, "HTTP 200"},
		{"HTTPS to a plain member", hm(dataplane.MonitorHTTPS), portOf(plain), false, ""},
		{"TCP", hm(dataplane.MonitorTCP), portOf(plain), true, "connected"},
		{"TCP refused", hm(dataplane.MonitorTCP), closed, false, "connect: connection refused"},
		{"TLS-HELLO", hm(dataplane.MonitorTLSHello), portOf(tlsSrv), true, "TLS hello answered"},
		{"TLS-HELLO to a plain member", hm(dataplane.MonitorTLSHello), portOf(plain), false, ""},
	}
	e := newEngine(t, Options{})
	var pools []dataplane.Pool
	var ls []dataplane.Listener
	for i, tc := range tests {
		h := tc.hm
		p := pool(fmt.Sprintf("p%d", i), dataplane.ProtocolHTTP, dataplane.RoundRobin,
			dataplane.Member{ID: fmt.Sprintf("m%d", i), Address: "127.0.0.1", ProtocolPort: tc.port, Weight: 1, AdminStateUp: true})
		p.HealthMonitor = &h
		pools = append(pools, p)
		ls = append(ls, httpListener(fmt.Sprintf("l%d", i), freePort(t), p.ID))
	}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: ls, Pools: pools})
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("m%d", i)
			want := dataplane.StatusDown
			if tc.up {
				want = dataplane.StatusUp
			}
			var h dataplane.MemberHealth
			eventually(t, 15*time.Second, "probe outcome", func() bool {
				h = memberHealth(e, id)
				return !h.LastCheck.IsZero() && h.Status == want && h.LastCheckOK == tc.up
			})
			if tc.detail != "" && h.LastCheckDetail != tc.detail {
				t.Errorf("detail %q, want %q", h.LastCheckDetail, tc.detail)
			}
		})
	}
}

// TestHealthHTTPHost: an HTTP/1.1 probe names the probe target as Host (or domain_name),
// as the native engine does; monitor_address and monitor_port move the probe.
func TestHealthHTTPHost(t *testing.T) {
	a, mon := startBackend(t, "a"), startBackend(t, "monitor")
	port := freePort(t)
	e := newEngine(t, Options{})
	m := a.member("ma")
	m.MonitorAddress = "127.0.0.1"
	m.MonitorPort = int(mon.addr.Port())
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, m)
	p.HealthMonitor = &dataplane.HealthMonitor{Type: dataplane.MonitorHTTP, Delay: 1, Timeout: 1, MaxRetries: 1, MaxRetriesDown: 1,
		HTTPVersion: "1.1", AdminStateUp: true}
	mustApply(t, e, oneListener(port, p))
	eventually(t, 10*time.Second, "a probe reached the monitor address", func() bool { return mon.hits.Load() > 0 })
	if a.hits.Load() != 0 {
		t.Fatalf("probe went to the member, want the monitor address")
	}
	if got := mon.lastHeaders().Get("X-Test-Host"); got != mon.addr.String() {
		t.Fatalf("HTTP/1.1 probe Host %q, want the probe target %s", got, mon.addr)
	}
	p.HealthMonitor.DomainName = "health.example.test"
	cfg := oneListener(port, p)
	cfg.Version = 2
	mustApply(t, e, cfg)
	eventually(t, 10*time.Second, "a probe with domain_name", func() bool {
		return mon.lastHeaders().Get("X-Test-Host") == "health.example.test"
	})
	mon.stop()
	eventually(t, 10*time.Second, "monitor address down", func() bool { return memberHealth(e, "ma").Status == dataplane.StatusDown })
	// Disabling the monitor brings the member back as NO_CHECK.
	p.HealthMonitor.AdminStateUp = false
	cfg = oneListener(port, p)
	cfg.Version = 3
	mustApply(t, e, cfg)
	if h := memberHealth(e, "ma"); h.Status != dataplane.StatusNoCheck {
		t.Fatalf("monitor disabled: %+v", h)
	}
	if code, body := get(t, newClient(), fmt.Sprintf("http://127.0.0.1:%d/", port)); code != 200 || body != "a" {
		t.Fatalf("unmonitored member should serve: %d %q", code, body)
	}
}
