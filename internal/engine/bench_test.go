package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// startFixedBackend answers every request on a keep-alive connection with a fixed 2-byte
// response, reading requests by their empty line (no bodies): the cheapest possible member.
func startFixedBackend(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) <= 2 {
						if _, err := c.Write(resp); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	b.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// BenchmarkHTTPForward measures one keep-alive request through the engine over loopback
// (client → engine → member → engine → client), sequentially, with allocations.
func BenchmarkHTTPForward(b *testing.B) { benchForward(b, nil, "HTTP/1.1 200 OK\r\n") }

// benchPolicies are five L7 policies of different rule types, none of which matches the
// benchmark's request (GET /bench, Host: bench, no cookie).
func benchPolicies() []dataplane.L7Policy {
	r := func(typ, cmp, key, v string) []dataplane.L7Rule {
		return []dataplane.L7Rule{{ID: v, Type: typ, CompareType: cmp, Key: key, Value: v}}
	}
	return []dataplane.L7Policy{
		{ID: "1", Position: 1, Action: dataplane.ActionReject, Rules: r(dataplane.RulePath, dataplane.CompareStartsWith, "", "/admin")},
		{ID: "2", Position: 2, Action: dataplane.ActionRedirectToPool, RedirectPoolID: "p", Rules: r(dataplane.RuleHostName, dataplane.CompareEqualTo, "", "api.example.com")},
		{ID: "3", Position: 3, Action: dataplane.ActionRedirectToPool, RedirectPoolID: "p", Rules: r(dataplane.RuleHeader, dataplane.CompareEqualTo, "X-Canary", "1")},
		{ID: "4", Position: 4, Action: dataplane.ActionRedirectToPool, RedirectPoolID: "p", Rules: r(dataplane.RuleCookie, dataplane.CompareEqualTo, "env", "beta")},
		{ID: "5", Position: 5, Action: dataplane.ActionRedirectPrefix, RedirectPrefix: "https://new.example", Rules: r(dataplane.RulePath, dataplane.CompareRegex, "", `^/v[0-9]+/`)},
	}
}

// BenchmarkHTTPForwardL7 is BenchmarkHTTPForward with five L7 policies evaluated (none
// matches): the cost of L7 rules on a forwarded request.
func BenchmarkHTTPForwardL7(b *testing.B) { benchForward(b, benchPolicies(), "HTTP/1.1 200 OK\r\n") }

// BenchmarkHTTPForwardL7Pool: the fifth of five policies sends the request to its pool.
func BenchmarkHTTPForwardL7Pool(b *testing.B) {
	ps := benchPolicies()
	ps[4] = dataplane.L7Policy{ID: "5", Position: 5, Action: dataplane.ActionRedirectToPool, RedirectPoolID: "p",
		Rules: []dataplane.L7Rule{{ID: "r", Type: dataplane.RulePath, CompareType: dataplane.CompareRegex, Value: `^/b[a-z]+$`}}}
	benchForward(b, ps, "HTTP/1.1 200 OK\r\n")
}

// BenchmarkHTTPRedirectL7: the fifth of five policies answers with a prefix redirect (no
// member involved).
func BenchmarkHTTPRedirectL7(b *testing.B) {
	ps := benchPolicies()
	ps[4].Rules[0].Value = `^/b[a-z]+$`
	benchForward(b, ps, "HTTP/1.1 302 Found\r\n")
}

func benchForward(b *testing.B, policies []dataplane.L7Policy, status string) {
	benchForwardWith(b, Options{}, policies, status)
}

func benchForwardWith(b *testing.B, opts Options, policies []dataplane.L7Policy, status string) {
	member := startFixedBackend(b)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	e := New(opts)
	defer e.Close()
	l := dataplane.Listener{ID: "l", LoadBalancerID: "lb", Protocol: dataplane.ProtocolHTTP, Addresses: []string{"127.0.0.1"}, ProtocolPort: port,
		DefaultPoolID: "p", ConnectionLimit: -1, TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000,
		InsertHeaders: map[string]string{"X-Forwarded-For": "true"}, L7Policies: policies}
	p := dataplane.Pool{ID: "p", Protocol: dataplane.ProtocolHTTP, Algorithm: dataplane.RoundRobin,
		Members: []dataplane.Member{{ID: "m", Address: "127.0.0.1", ProtocolPort: member, Weight: 1, AdminStateUp: true}}}
	if err := e.Apply(context.Background(), &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{p}}); err != nil {
		b.Fatal(err)
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /bench HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	br := bufio.NewReader(c)
	want := []byte(status)
	body := make([]byte, 2)
	if want[9] != '2' {
		body = body[:0] // redirects carry no body
	}
	// Allocations reported are the whole process's: engine, member and this client, whose
	// loop allocates nothing.
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		line, err := br.ReadSlice('\n')
		if err != nil || !bytes.Equal(line, want) {
			b.Fatalf("%q %v", line, err)
		}
		for {
			l, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(l) <= 2 {
				break
			}
		}
		if _, err := io.ReadFull(br, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHTTPSForward is BenchmarkHTTPForward over a TERMINATED_HTTPS listener (TLS 1.3,
// ECDSA P-256): one keep-alive request per op; the client's TLS records count too.
func BenchmarkHTTPSForward(b *testing.B) {
	member := startFixedBackend(b)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ca := newTestCA(b, "bench CA")
	cert, _ := ca.issue(b, "bench", "bench.example.test")
	e := New(Options{})
	defer e.Close()
	l := dataplane.Listener{ID: "l", LoadBalancerID: "lb", Protocol: dataplane.ProtocolTerminatedHTTPS, Addresses: []string{"127.0.0.1"}, ProtocolPort: port,
		DefaultPoolID: "p", ConnectionLimit: -1, TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000,
		InsertHeaders: map[string]string{"X-Forwarded-For": "true", "X-Forwarded-Proto": "true"}, TLS: &dataplane.ListenerTLS{DefaultCertificate: &cert}}
	p := dataplane.Pool{ID: "p", Protocol: dataplane.ProtocolHTTP, Algorithm: dataplane.RoundRobin,
		Members: []dataplane.Member{{ID: "m", Address: "127.0.0.1", ProtocolPort: member, Weight: 1, AdminStateUp: true}}}
	if err := e.Apply(context.Background(), &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{p}}); err != nil {
		b.Fatal(err)
	}
	c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: ca.pool(), ServerName: "bench.example.test"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /bench HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	br := bufio.NewReader(c)
	want := []byte("HTTP/1.1 200 OK\r\n")
	body := make([]byte, 2)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		line, err := br.ReadSlice('\n')
		if err != nil || !bytes.Equal(line, want) {
			b.Fatalf("%q %v", line, err)
		}
		for {
			l, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(l) <= 2 {
				break
			}
		}
		if _, err := io.ReadFull(br, body); err != nil {
			b.Fatal(err)
		}
	}
}
