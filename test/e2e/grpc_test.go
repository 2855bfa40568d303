package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
)

// grpcE2EMember is a grpc-go server on loopback in cleartext HTTP/2 (h2c by prior
// knowledge) that names itself in its answers and trailers.
type grpcE2EMember struct {
	testpb.UnimplementedTestServiceServer
	name string
	port int
}

func startGRPCE2EMember(t *testing.T, name string) *grpcE2EMember {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	m := &grpcE2EMember{name: name, port: ln.Addr().(*net.TCPAddr).Port}
	testpb.RegisterTestServiceServer(s, m)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return m
}

func (m *grpcE2EMember) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	grpc.SetTrailer(ctx, metadata.Pairs("x-member", m.name))
	return &testpb.SimpleResponse{ServerId: m.name}, nil
}

func (m *grpcE2EMember) FullDuplexCall(st grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	n := 0
	for {
		req, err := st.Recv()
		if errors.Is(err, io.EOF) {
			st.SetTrailer(metadata.Pairs("x-member", m.name, "x-count", strconv.Itoa(n)))
			return nil
		}
		if err != nil {
			return err
		}
		n++
		if err := st.Send(&testpb.StreamingOutputCallResponse{Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
}

// TestGRPCThroughVIP: through the real binary and the Octavia API, a TERMINATED_HTTPS
// listener (its default ALPN list offers h2) in front of a pool whose alpn_protocols is
// ["h2"] without TLS (cleartext HTTP/2 to the members, docs/http2.md) carries gRPC from a
// grpc-go client at the VIP: unary calls balanced call by call over two grpc-go members
// with their trailers, and a bidirectional stream with its trailer. Over both engines (the
// HAProxy engine speaks to such a pool's members with "proto h2").
func TestGRPCThroughVIP(t *testing.T) {
	forEngines(t, caseGRPCThroughVIP)
}

func caseGRPCThroughVIP(t *testing.T, e dataEngine) {
	s := startEngineServer(t, e)
	a := s.a
	ca := newE2ECA(t)
	const name = "grpc.example.test"
	p12, _ := ca.bundle(t, name, 20)
	href := storeSecret(t, a, "grpc-cert", p12)
	g1, g2 := startGRPCE2EMember(t, "g1"), startGRPCE2EMember(t, "g2")

	r := a.newLB(t, map[string]any{"name": "grpc"})
	lbID, vip := r.id("loadbalancer"), r.field("loadbalancer", "vip_address")
	a.waitStatus(t, lbID, "ACTIVE", 30*time.Second)
	port := freePort(t)
	listener := a.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": lbID,
		"protocol": "TERMINATED_HTTPS", "protocol_port": port, "default_tls_container_ref": href}}, 201).id("listener")
	a.waitStatus(t, lbID, "ACTIVE", 30*time.Second)
	pool := a.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"listener_id": listener, "protocol": "HTTP",
		"lb_algorithm": "ROUND_ROBIN", "alpn_protocols": []string{"h2"}}}, 201).id("pool")
	a.waitStatus(t, lbID, "ACTIVE", 30*time.Second)
	for _, m := range []*grpcE2EMember{g1, g2} {
		a.must(t, "POST", "/v2/lbaas/pools/"+pool+"/members", map[string]any{"member": map[string]any{"address": "127.0.0.1", "protocol_port": m.port}}, 201)
		a.waitStatus(t, lbID, "ACTIVE", 30*time.Second)
	}
	got := a.must(t, "GET", "/v2/lbaas/pools/"+pool, nil, 200).body["pool"].(map[string]any)["alpn_protocols"]
	if fmt.Sprint(got) != "[h2]" {
		t.Errorf("pool alpn_protocols %v, want [h2]", got)
	}

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	cc, err := grpc.NewClient(net.JoinHostPort(vip, strconv.Itoa(port)),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: name})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := testpb.NewTestServiceClient(cc)

	// The configuration reaches the engine asynchronously: wait for a call to succeed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no gRPC call through the VIP succeeded: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var seen []string
	for i := 0; i < 6; i++ {
		var tr metadata.MD
		res, err := c.UnaryCall(ctx, &testpb.SimpleRequest{}, grpc.Trailer(&tr))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if m := tr.Get("x-member"); len(m) != 1 || m[0] != res.ServerId {
			t.Fatalf("call %d: trailer %v from %q", i, tr, res.ServerId)
		}
		seen = append(seen, res.ServerId)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] == seen[i-1] {
			t.Fatalf("calls not balanced per call: %v", seen)
		}
	}
	bd, err := c.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		msg := fmt.Appendf(nil, "m%d", i)
		if err := bd.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: msg}}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		got, err := bd.Recv()
		if err != nil || string(got.GetPayload().GetBody()) != string(msg) {
			t.Fatalf("recv %d: %v %v", i, got, err)
		}
	}
	bd.CloseSend()
	if _, err := bd.Recv(); err != io.EOF {
		t.Fatalf("stream end: %v", err)
	}
	if n := bd.Trailer().Get("x-count"); len(n) != 1 || n[0] != "5" {
		t.Fatalf("stream trailer %v", bd.Trailer())
	}
}
