package engine

import (
	"bufio"
	"bytes"
	"context"
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
func BenchmarkHTTPForward(b *testing.B) {
	member := startFixedBackend(b)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	e := New(Options{})
	defer e.Close()
	l := dataplane.Listener{ID: "l", LoadBalancerID: "lb", Protocol: dataplane.ProtocolHTTP, Addresses: []string{"127.0.0.1"}, ProtocolPort: port,
		DefaultPoolID: "p", ConnectionLimit: -1, TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000,
		InsertHeaders: map[string]string{"X-Forwarded-For": "true"}}
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
	want := []byte("HTTP/1.1 200 OK\r\n")
	body := make([]byte, 2)
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
