package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// backend is a real HTTP server on loopback answering with its name.
type backend struct {
	name string
	ln   net.Listener
	srv  *http.Server
	hits atomic.Int64
	port int
	last atomic.Pointer[http.Header] // headers of the last request (not health probes)
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthcheck" {
			h := r.Header.Clone()
			h.Set("X-Test-Path", r.URL.Path)
			b.last.Store(&h)
			b.hits.Add(1)
		}
		io.WriteString(w, b.name)
	})}
	go b.srv.Serve(ln)
	t.Cleanup(b.stop)
	return b
}

func (b *backend) stop() { b.srv.Close() }

// freePort returns a TCP port that was free a moment ago on addr.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// vipSubnet returns a subnet to put VIPs on: the all-in-one's private subnet
// when the Neutron subset exists, otherwise any UUID (noop network).
func vipSubnet(a *api) string {
	r, err := a.call("GET", "/networking/v2.0/subnets?name=private-subnet", nil)
	if err == nil && r.code == 200 {
		if list, ok := r.body["subnets"].([]any); ok && len(list) == 1 {
			return list[0].(map[string]any)["id"].(string)
		}
	}
	return "6d7b0a60-6a7e-4c3a-9d1b-2f4f9d6c1e01"
}

func (a *api) must(t *testing.T, method, path string, body any, want int) reply {
	t.Helper()
	r, err := a.call(method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.code != want {
		t.Fatalf("%s %s: %d %s", method, path, r.code, r.raw)
	}
	return r
}

// waitStatus polls a load balancer until its provisioning status is want.
func (a *api) waitStatus(t *testing.T, lbID, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		r, err := a.call("GET", "/v2/lbaas/loadbalancers/"+lbID, nil)
		if err == nil && r.code == 200 {
			last = r.field("loadbalancer", "provisioning_status")
			if last == want {
				return
			}
		}
		if err == nil && r.code == 404 && want == "DELETED" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("load balancer %s: %s after %s, want %s", lbID, last, timeout, want)
}

// graph is a load balancer with one HTTP listener, a pool, a monitor and members.
type graph struct {
	lb, listener, pool, monitor string
	members                     []string
	vip                         string
	port                        int
}

func (g *graph) url() string { return "http://" + net.JoinHostPort(g.vip, strconv.Itoa(g.port)) }

func createGraph(t *testing.T, a *api, port int, backends ...*backend) *graph {
	t.Helper()
	g := &graph{port: port}
	r := a.newLB(t, map[string]any{"name": "e2e"})
	g.lb, g.vip = r.id("loadbalancer"), r.field("loadbalancer", "vip_address")
	g.listener = a.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"loadbalancer_id": g.lb, "protocol": "HTTP", "protocol_port": port}}, 201).id("listener")
	g.pool = a.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"listener_id": g.listener, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201).id("pool")
	g.monitor = a.must(t, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{
		"pool_id": g.pool, "type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1, "max_retries_down": 2,
		"url_path": "/healthcheck"}}, 201).id("healthmonitor")
	for _, b := range backends {
		g.members = append(g.members, a.must(t, "POST", "/v2/lbaas/pools/"+g.pool+"/members", map[string]any{"member": map[string]any{
			"address": "127.0.0.1", "protocol_port": b.port, "name": b.name}}, 201).id("member"))
	}
	return g
}

// fetch makes one request on a new connection and returns the body.
func fetch(url string) (string, error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// waitTraffic polls url until a request succeeds.
func waitTraffic(t *testing.T, url string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if _, err := fetch(url); err == nil {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no traffic through %s after %s", url, timeout)
	return 0
}

func field(obj map[string]any, key string) string {
	s, _ := obj[key].(string)
	return s
}

func number(obj map[string]any, key string) int64 {
	f, _ := obj[key].(float64)
	return int64(f)
}
