package haproxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// startH2COnlyMember is a member that speaks cleartext HTTP/2 by prior knowledge and
// nothing else (an HTTP/1.1 request gets no answer from it): it answers with its id and
// the protocol it was spoken to in, and sends a trailer, as a gRPC server would.
func startH2COnlyMember(t *testing.T, id string) dataplane.Member {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &protos, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Status")
		fmt.Fprintf(w, "%s %s", id, r.Proto)
		w.Header().Set("X-Status", "0")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	a := ln.Addr().(*net.TCPAddr)
	return dataplane.Member{ID: id, Address: "127.0.0.1", ProtocolPort: a.Port, Weight: 1, AdminStateUp: true}
}

// TestH2CPoolSpeaksHTTP2ToMembers: a pool marked H2C (alpn_protocols ["h2"] without TLS)
// reaches members that speak only cleartext HTTP/2, from HTTP/1.1 clients and from
// clients speaking h2c by prior knowledge alike, balanced per request, with the member's
// trailer passed to the HTTP/2 client; its HTTP health monitor probes in HTTP/2 and sees
// the members up. Before, HAProxy spoke HTTP/1.1 to such members: 503 and members down.
func TestH2CPoolSpeaksHTTP2ToMembers(t *testing.T) {
	port := freePort(t)
	e := newEngine(t, Options{})
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, startH2COnlyMember(t, "a"), startH2COnlyMember(t, "b"))
	p.H2C = true
	p.HealthMonitor = &dataplane.HealthMonitor{Type: dataplane.MonitorHTTP, Delay: 1, Timeout: 1, MaxRetries: 1, MaxRetriesDown: 1,
		HTTPMethod: "GET", URLPath: "/", ExpectedCodes: "200", AdminStateUp: true}
	mustApply(t, e, oneListener(port, p))
	for _, id := range []string{"a", "b"} {
		eventually(t, 15*time.Second, "member "+id+" up by an HTTP/2 probe", func() bool {
			h := memberHealth(e, id)
			return h.Status == dataplane.StatusUp && h.LastCheckOK
		})
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)

	// An HTTP/1.1 client.
	c := newClient()
	got := map[string]int{}
	for i := 0; i < 10; i++ {
		code, body := get(t, c, url)
		if code != 200 {
			t.Fatalf("HTTP/1.1 client: status %d %q", code, body)
		}
		got[body]++
	}
	if got["a HTTP/2.0"] != 5 || got["b HTTP/2.0"] != 5 {
		t.Fatalf("HTTP/1.1 client, 10 requests: %v (want 5 each, spoken to in HTTP/2.0)", got)
	}

	// A client speaking h2c by prior knowledge: one connection, requests balanced per request.
	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http2.Transport{AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}}
	got = map[string]int{}
	for i := 0; i < 10; i++ {
		resp, err := h2.Get(url)
		if err != nil {
			t.Fatalf("h2c client: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("h2c client: %s %d %q %v", resp.Proto, resp.StatusCode, b, err)
		}
		if resp.Trailer.Get("X-Status") != "0" {
			t.Fatalf("h2c client: trailer %v, want X-Status 0", resp.Trailer)
		}
		got[string(b)]++
	}
	if got["a HTTP/2.0"] != 5 || got["b HTTP/2.0"] != 5 {
		t.Fatalf("h2c client, 10 requests on one connection: %v (want 5 each)", got)
	}
}

// TestH2CRenderedOnlyForHTTPBackends: "proto h2" goes on the servers of an H2C pool whose
// backend is in HTTP mode, and nowhere else (a TCP listener's backend keeps the bytes as
// they are; a pool that is not H2C keeps HTTP/1.1).
func TestH2CRenderedOnlyForHTTPBackends(t *testing.T) {
	m := dataplane.Member{ID: "m", Address: "127.0.0.1", ProtocolPort: 9, Weight: 1, AdminStateUp: true}
	for _, c := range []struct {
		name  string
		proto dataplane.Protocol
		h2c   bool
		want  bool
	}{{"http h2c", dataplane.ProtocolHTTP, true, true}, {"http", dataplane.ProtocolHTTP, false, false}, {"tcp h2c", dataplane.ProtocolTCP, true, false}} {
		p := pool("p1", c.proto, dataplane.RoundRobin, m)
		p.H2C = c.h2c
		cfg := oneListener(1000, p)
		cfg.Listeners[0].Protocol = c.proto
		r, err := render(cfg, settings{Dir: testDir(t)})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(r.text), " proto h2"); got != c.want {
			t.Errorf("%s: proto h2 rendered %v, want %v:\n%s", c.name, got, c.want, r.text)
		}
	}
}
