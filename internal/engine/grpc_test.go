package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// grpcMember is a grpc-go server speaking cleartext HTTP/2 (prior knowledge) or, with
// creds, TLS with ALPN h2. Its handlers report on ended the context error of the calls
// that wait for their context (payload "wait").
type grpcMember struct {
	testpb.UnimplementedTestServiceServer
	id      string
	addr    *net.TCPAddr
	started chan string // payloads of calls as they start
	ended   chan error  // the context error a waiting call saw
}

func startGRPCMember(t *testing.T, id string, creds credentials.TransportCredentials) *grpcMember {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	s := grpc.NewServer(opts...)
	g := &grpcMember{id: id, addr: ln.Addr().(*net.TCPAddr), started: make(chan string, 64), ended: make(chan error, 64)}
	testpb.RegisterTestServiceServer(s, g)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return g
}

func (g *grpcMember) member(id string) dataplane.Member {
	return dataplane.Member{ID: id, Address: "127.0.0.1", ProtocolPort: g.addr.Port, Weight: 1, AdminStateUp: true}
}

func (g *grpcMember) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	grpc.SetTrailer(ctx, metadata.Pairs("x-member", g.id))
	body := string(req.GetPayload().GetBody())
	g.started <- body
	if body == "wait" {
		<-ctx.Done()
		g.ended <- ctx.Err()
		return nil, ctx.Err()
	}
	if st := req.GetResponseStatus(); st != nil {
		return nil, status.Error(codes.Code(st.Code), st.Message)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	return &testpb.SimpleResponse{ServerId: g.id, Username: strings.Join(md.Get("x-forwarded-proto"), ",")}, nil
}

func (g *grpcMember) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, st grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	st.SetTrailer(metadata.Pairs("x-member", g.id))
	body := string(req.GetPayload().GetBody())
	g.started <- body
	for i := range req.GetResponseParameters() {
		if err := st.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: fmt.Appendf(nil, "%s-%d", g.id, i)}}); err != nil {
			return err
		}
	}
	if body == "wait" {
		<-st.Context().Done()
		g.ended <- st.Context().Err()
		return st.Context().Err()
	}
	return status.Error(codes.Aborted, "stream over")
}

func (g *grpcMember) FullDuplexCall(st grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	st.SetTrailer(metadata.Pairs("x-member", g.id))
	n := 0
	for {
		req, err := st.Recv()
		if errors.Is(err, io.EOF) {
			st.SetTrailer(metadata.Pairs("x-count", fmt.Sprint(n)))
			return nil
		}
		if err != nil {
			return err
		}
		n++
		if err := st.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: append([]byte(g.id+":"), req.GetPayload().GetBody()...)}}); err != nil {
			return err
		}
	}
}

// grpcThroughEngine starts an engine whose TERMINATED_HTTPS listener (ALPN h2) balances
// over pool p, and a grpc-go client of it.
func grpcThroughEngine(t *testing.T, p dataplane.Pool) testpb.TestServiceClient {
	t.Helper()
	ca := newTestCA(t, "grpc CA")
	cert, _ := ca.issue(t, "grpc.example.test", "grpc.example.test")
	e := newEngine(t, Options{})
	port := freePort(t)
	l := h2Listener(port, p.ID, &cert, []string{"h2", "http/1.1"})
	l.InsertHeaders = map[string]string{"X-Forwarded-Proto": "true"}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{p}})
	creds := credentials.NewTLS(&tls.Config{RootCAs: ca.pool(), ServerName: "grpc.example.test"})
	cc, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", port), grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return testpb.NewTestServiceClient(cc)
}

func grpcCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), ioWait)
	t.Cleanup(cancel)
	return ctx
}

// TestGRPCUnaryPerCall: unary calls of one grpc-go client (one HTTP/2 connection) through
// a TERMINATED_HTTPS listener are balanced call by call over two h2c members; the
// answer, grpc-status, grpc-message and custom trailer metadata reach the client, and the
// inserted headers reach the member.
func TestGRPCUnaryPerCall(t *testing.T) {
	checkGoroutines(t)
	g1, g2 := startGRPCMember(t, "g1", nil), startGRPCMember(t, "g2", nil)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, g1.member("m1"), g2.member("m2"))
	p.H2C = true
	c := grpcThroughEngine(t, p)
	ctx := grpcCtx(t)
	var seen []string
	for i := 0; i < 6; i++ {
		var tr metadata.MD
		res, err := c.UnaryCall(ctx, &testpb.SimpleRequest{}, grpc.Trailer(&tr))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got := tr.Get("x-member"); len(got) != 1 || got[0] != res.ServerId {
			t.Fatalf("call %d: trailer x-member %v, answer from %q", i, got, res.ServerId)
		}
		if res.Username != "https" {
			t.Fatalf("call %d: the member saw X-Forwarded-Proto %q", i, res.Username)
		}
		seen = append(seen, res.ServerId)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] == seen[i-1] {
			t.Fatalf("not balanced per call: %v", seen)
		}
	}
	var tr metadata.MD
	_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{ResponseStatus: &testpb.EchoStatus{Code: int32(codes.NotFound), Message: "no such thing: ünïcode"}}, grpc.Trailer(&tr))
	if st, _ := status.FromError(err); st.Code() != codes.NotFound || st.Message() != "no such thing: ünïcode" {
		t.Fatalf("error status: %v", err)
	}
	if len(tr.Get("x-member")) != 1 {
		t.Fatalf("error trailers: %v", tr)
	}
}

// TestGRPCStreams: a server-streaming and a bidi-streaming call through the engine, with
// their messages, statuses and trailers.
func TestGRPCStreams(t *testing.T) {
	checkGoroutines(t)
	g1 := startGRPCMember(t, "g1", nil)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, g1.member("m1"))
	p.H2C = true
	c := grpcThroughEngine(t, p)
	ctx := grpcCtx(t)

	so, err := c.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{ResponseParameters: make([]*testpb.ResponseParameters, 5)})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		m, err := so.Recv()
		if err != nil {
			t.Fatalf("server stream message %d: %v", i, err)
		}
		if want := fmt.Sprintf("g1-%d", i); string(m.Payload.Body) != want {
			t.Fatalf("server stream message %d: %q", i, m.Payload.Body)
		}
	}
	if _, err := so.Recv(); status.Code(err) != codes.Aborted {
		t.Fatalf("server stream end: %v", err)
	}
	if got := so.Trailer().Get("x-member"); len(got) != 1 || got[0] != "g1" {
		t.Fatalf("server stream trailer: %v", so.Trailer())
	}

	bd, err := c.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		// Each message is answered before the next is sent: the exchange streams both ways.
		if err := bd.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: fmt.Appendf(nil, "m%d", i)}}); err != nil {
			t.Fatalf("bidi send %d: %v", i, err)
		}
		m, err := bd.Recv()
		if err != nil {
			t.Fatalf("bidi recv %d: %v", i, err)
		}
		if want := fmt.Sprintf("g1:m%d", i); string(m.Payload.Body) != want {
			t.Fatalf("bidi message %d: %q", i, m.Payload.Body)
		}
	}
	bd.CloseSend()
	if _, err := bd.Recv(); err != io.EOF {
		t.Fatalf("bidi end: %v", err)
	}
	if got := bd.Trailer().Get("x-count"); len(got) != 1 || got[0] != "5" {
		t.Fatalf("bidi trailer: %v", bd.Trailer())
	}
}

// TestGRPCDeadlineAndCancel: a call's deadline (grpc-timeout) reaches the member, which
// sees its context end, and the client gets DEADLINE_EXCEEDED; a client cancelling a
// streaming call has the member's handler see its context canceled.
func TestGRPCDeadlineAndCancel(t *testing.T) {
	checkGoroutines(t)
	g1 := startGRPCMember(t, "g1", nil)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, g1.member("m1"))
	p.H2C = true
	c := grpcThroughEngine(t, p)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("wait")}})
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("deadline: %v", err)
	}
	select {
	case err := <-g1.ended:
		if err == nil {
			t.Fatal("the member's call did not end")
		}
	case <-time.After(ioWait):
		t.Fatal("the member's call never saw its deadline")
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	so, err := c.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("wait")}, ResponseParameters: make([]*testpb.ResponseParameters, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := so.Recv(); err != nil {
		t.Fatalf("first message: %v", err)
	}
	cancel()
	select {
	case err := <-g1.ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the member's call ended with %v, want canceled", err)
		}
	case <-time.After(ioWait):
		t.Fatal("the client's cancel never reached the member")
	}
}

// TestGRPCTLSPool: a re-encrypting pool whose alpn_protocols names h2 speaks HTTP/2 (ALPN
// h2) to its grpc-go members over TLS verified against the pool's CA: unary calls are
// balanced per call and a server stream carries its messages and trailers.
func TestGRPCTLSPool(t *testing.T) {
	checkGoroutines(t)
	memberCA := newTestCA(t, "grpc member CA")
	mc, _ := memberCA.issue(t, "grpc-member", "grpc-member")
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{keyPair(mc)}})
	g1, g2 := startGRPCMember(t, "g1", creds), startGRPCMember(t, "g2", creds)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, g1.member("m1"), g2.member("m2"))
	p.TLS = &dataplane.PoolTLS{CA: memberCA.pem(), ALPNProtocols: []string{"h2", "http/1.1"}}
	c := grpcThroughEngine(t, p)
	ctx := grpcCtx(t)
	var seen []string
	for i := 0; i < 4; i++ {
		res, err := c.UnaryCall(ctx, &testpb.SimpleRequest{})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		seen = append(seen, res.ServerId)
	}
	if seen[0] == seen[1] || seen[1] == seen[2] || seen[2] == seen[3] {
		t.Fatalf("not balanced per call: %v", seen)
	}
	so, err := c.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{ResponseParameters: make([]*testpb.ResponseParameters, 3)})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := so.Recv(); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if _, err := so.Recv(); status.Code(err) != codes.Aborted || len(so.Trailer().Get("x-member")) != 1 {
		t.Fatalf("stream end: %v, trailer %v", err, so.Trailer())
	}
}

// TestGRPCCleartextListener: a grpc-go client without TLS (h2c by prior knowledge) on an
// HTTP listener reaches h2c members: unary calls balanced per call, a bidi stream with
// its trailer; HTTP/1.1 clients of the same listener are served as before.
func TestGRPCCleartextListener(t *testing.T) {
	checkGoroutines(t)
	g1, g2 := startGRPCMember(t, "g1", nil), startGRPCMember(t, "g2", nil)
	b := startBackend(t, "b1")
	e := newEngine(t, Options{})
	port := freePort(t)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, g1.member("m1"), g2.member("m2"))
	p.H2C = true
	web := pool("web", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("w1"))
	l := httpListener("l1", port, "web")
	l.InsertHeaders = map[string]string{"X-Forwarded-Proto": "true"}
	// gRPC requests are POSTs with content-type application/grpc: an L7 policy sends them
	// to the gRPC pool.
	l.L7Policies = []dataplane.L7Policy{{ID: "grpc", Position: 1, Action: dataplane.ActionRedirectToPool, RedirectPoolID: "p1",
		Rules: []dataplane.L7Rule{{ID: "r1", Type: dataplane.RuleHeader, CompareType: dataplane.CompareStartsWith, Key: "Content-Type", Value: "application/grpc"}}}}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{p, web}})
	cc, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := testpb.NewTestServiceClient(cc)
	ctx := grpcCtx(t)
	var seen []string
	for i := 0; i < 4; i++ {
		res, err := c.UnaryCall(ctx, &testpb.SimpleRequest{})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if res.Username != "http" {
			t.Fatalf("call %d: the member saw X-Forwarded-Proto %q", i, res.Username)
		}
		seen = append(seen, res.ServerId)
	}
	if seen[0] == seen[1] || seen[1] == seen[2] || seen[2] == seen[3] {
		t.Fatalf("not balanced per call: %v", seen)
	}
	bd, err := c.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := bd.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
		if _, err := bd.Recv(); err != nil {
			t.Fatalf("bidi recv %d: %v", i, err)
		}
	}
	bd.CloseSend()
	if _, err := bd.Recv(); err != io.EOF {
		t.Fatalf("bidi end: %v", err)
	}
	if got := bd.Trailer().Get("x-count"); len(got) != 1 || got[0] != "3" {
		t.Fatalf("bidi trailer: %v", bd.Trailer())
	}
	if code, body := get(t, newClient(), fmt.Sprintf("http://127.0.0.1:%d/", port)); code != 200 || body != "b1" {
		t.Fatalf("HTTP/1.1 client: %d %q", code, body)
	}
}
