package healthcheck

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/balance"
	"github.com/fulcrumlb/fulcrum/internal/engine/clock"
)

func addrOf(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(strings.TrimPrefix(strings.TrimPrefix(s, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// patience bounds a test's wait for a condition; far beyond any pause of a loaded CI
// machine, so reaching it means something is stuck.
const patience = 60 * time.Second

// spec is a monitor of type t. Its timeout (real time) is generous: a probe that should
// succeed never times out on a loaded machine, and one that should fail is refused at once.
func spec(t dataplane.MonitorType, mod func(*dataplane.HealthMonitor)) Spec {
	hm := &dataplane.HealthMonitor{Type: t, Delay: 1, Timeout: 30, MaxRetries: 1, MaxRetriesDown: 1, AdminStateUp: true}
	if mod != nil {
		mod(hm)
	}
	return SpecFrom(hm)
}

func probe(s Spec, addr netip.AddrPort) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	return Probe(ctx, s, addr)
}

func TestHTTPProbe(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %s %s host=%s", r.Method, r.URL.Path, r.Proto, r.Host))
		mu.Unlock()
		var code int
		fmt.Sscan(strings.TrimPrefix(r.URL.Path, "/"), &code)
		if code == 0 {
			code = 200
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()
	addr := addrOf(t, srv.URL)
	for _, tc := range []struct {
		name   string
		mod    func(*dataplane.HealthMonitor)
		ok     bool
		detail string
	}{
		{"default 200", nil, true, "HTTP 200"},
		{"500 not expected", func(h *dataplane.HealthMonitor) { h.URLPath = "/500" }, false, "HTTP 500, expected 200"},
		{"range", func(h *dataplane.HealthMonitor) { h.URLPath = "/204"; h.ExpectedCodes = "200-204" }, true, "HTTP 204"},
		{"range miss", func(h *dataplane.HealthMonitor) { h.URLPath = "/205"; h.ExpectedCodes = "200-204" }, false, "HTTP 205, expected 200-204"},
		{"list", func(h *dataplane.HealthMonitor) { h.URLPath = "/202"; h.ExpectedCodes = "200,202" }, true, "HTTP 202"},
		{"list miss", func(h *dataplane.HealthMonitor) { h.URLPath = "/201"; h.ExpectedCodes = "200,202" }, false, "HTTP 201, expected 200,202"},
		{"method and 1.1 with domain", func(h *dataplane.HealthMonitor) {
			h.HTTPMethod, h.URLPath, h.HTTPVersion, h.DomainName = "HEAD", "/health", "1.1", "app.example.com"
		}, true, "HTTP 200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, detail := probe(spec(dataplane.MonitorHTTP, tc.mod), addr)
			if ok != tc.ok || detail != tc.detail {
				t.Fatalf("got %v %q, want %v %q", ok, detail, tc.ok, tc.detail)
			}
		})
	}
	mu.Lock()
	last := seen[len(seen)-1]
	mu.Unlock()
	if last != "HEAD /health HTTP/1.1 host=app.example.com" {
		t.Errorf("last probe request: %q", last)
	}
	srv.Close()
	if ok, detail := probe(spec(dataplane.MonitorHTTP, nil), addr); ok || !strings.Contains(detail, "connect") {
		t.Errorf("closed server: %v %q", ok, detail)
	}
}

func TestHTTPSAndTLSHelloProbes(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	addr := addrOf(t, srv.URL)
	if ok, detail := probe(spec(dataplane.MonitorHTTPS, nil), addr); !ok || detail != "HTTP 200" {
		t.Fatalf("HTTPS: %v %q", ok, detail)
	}
	if ok, detail := probe(spec(dataplane.MonitorTLSHello, nil), addr); !ok {
		t.Fatalf("TLS-HELLO against a TLS server: %v %q", ok, detail)
	}
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	if ok, detail := probe(spec(dataplane.MonitorTLSHello, nil), addrOf(t, plain.URL)); ok {
		t.Fatalf("TLS-HELLO against plain HTTP succeeded: %q", detail)
	}
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	if ok, detail := probe(spec(dataplane.MonitorTCP, nil), addr); !ok {
		t.Fatalf("listening port: %q", detail)
	}
	ln.Close()
	if ok, detail := probe(spec(dataplane.MonitorTCP, nil), addr); ok || !strings.Contains(detail, "refused") {
		t.Fatalf("closed port: %v %q", ok, detail)
	}
}

func TestUDPConnectProbe(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	s := spec(dataplane.MonitorUDPConnect, func(h *dataplane.HealthMonitor) { h.Timeout = 1 })
	if ok, detail := probe(s, addr); !ok {
		t.Fatalf("open UDP port: %q", detail)
	}
	pc.Close()
	if ok, detail := probe(s, addr); ok || detail != "ICMP port unreachable" {
		t.Fatalf("closed UDP port: %v %q", ok, detail)
	}
}

// TestPingProbe checks both ICMP paths. It needs root (CI runs as root) to set
// net.ipv4.ping_group_range, which it restores afterwards.
func TestPingProbe(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: needs root; test/run runs it")
	}
	const sysctl = "/proc/sys/net/ipv4/ping_group_range"
	orig, err := os.ReadFile(sysctl)
	if err != nil {
		t.Fatalf("read %s: %v", sysctl, err)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("TestPingProbe needs root to set %s (CI runs as root); ran as uid %d", sysctl, os.Geteuid())
	}
	set := func(v string) {
		if err := os.WriteFile(sysctl, []byte(v), 0o644); err != nil {
			t.Fatalf("set %s: %v", sysctl, err)
		}
	}
	defer set(strings.TrimSpace(string(orig)))
	s := spec(dataplane.MonitorPing, nil)
	target := netip.MustParseAddrPort("127.0.0.1:0")
	set("0 2147483647") // unprivileged datagram sockets allowed for every group
	if ok, detail := probe(s, target); !ok || detail != "echo reply" {
		t.Fatalf("datagram ICMP: %v %q", ok, detail)
	}
	if ok, detail := probe(s, netip.MustParseAddrPort("[::1]:0")); !ok {
		t.Fatalf("datagram ICMPv6 to ::1: %q", detail)
	}
	set("1 0") // datagram sockets refused: the raw socket (root) is the fallback
	if ok, detail := probe(s, target); !ok || detail != "echo reply" {
		t.Fatalf("raw ICMP fallback as root: %v %q", ok, detail)
	}
}

func TestCheckerRiseFall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	addr := addrOf(t, srv.URL)
	clk := clock.NewFake(time.Unix(0, 0))
	st := balance.NewMemberState(clk.Now())
	st.SetMonitored(true, clk.Now())
	var mu sync.Mutex
	var trans []Transition
	c := New(spec(dataplane.MonitorTCP, func(h *dataplane.HealthMonitor) { h.MaxRetries, h.MaxRetriesDown = 2, 2 }),
		Target{PoolID: "p", MemberID: "m", Addr: addr}, st,
		Options{Clock: clk, OnTransition: func(tr Transition) { mu.Lock(); trans = append(trans, tr); mu.Unlock() }})
	c.Start()
	defer func() { c.Stop(); c.Wait() }()
	wait := func(n int64) {
		deadline := time.Now().Add(patience)
		for c.Checks() < n || clk.Pending() < 1 {
			if time.Now().After(deadline) {
				t.Fatalf("check %d did not finish", n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	wait(1)
	srv.Close()
	want := []bool{true, false, false, false, true, true} // up after checks 2..7: fall 2, then back at check 5, rise 2
	for i := 0; i < 6; i++ {
		if i == 3 {
			ln, err := net.Listen("tcp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
		}
		clk.Advance(time.Second)
		wait(int64(i + 2))
		if st.Up() != want[i] {
			t.Fatalf("after check %d: up=%v, want %v", i+2, st.Up(), want[i])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(trans) != 2 || trans[0].Up || !trans[1].Up {
		t.Fatalf("transitions: %+v", trans)
	}
}
