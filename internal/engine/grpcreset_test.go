package engine

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// startResettingMember is an h2c member that answers every stream with RST_STREAM(CANCEL)
// after delay, as a gRPC server does when a call's deadline passes on its side.
func startResettingMember(t *testing.T, delay time.Duration) dataplane.Member {
	t.Helper()
	m := rawH2Member(t, func(c net.Conn, fr *http2.Framer) {
		c.SetDeadline(time.Time{})
		var mu sync.Mutex
		mu.Lock()
		fr.WriteSettings()
		mu.Unlock()
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					mu.Lock()
					fr.WriteSettingsAck()
					mu.Unlock()
				}
			case *http2.MetaHeadersFrame:
				id := f.StreamID
				time.AfterFunc(delay, func() {
					mu.Lock()
					defer mu.Unlock()
					fr.WriteRSTStream(id, http2.ErrCodeCancel)
				})
			}
		}
	})
	m.ID = "reset"
	return m
}

// TestGRPCMemberResetBecomesStatus: a member resetting a gRPC call's stream with CANCEL
// before answering gives the client a gRPC answer, not a 502 (which grpc-go reports as
// UNAVAILABLE): DEADLINE_EXCEEDED (4) when the call's grpc-timeout has passed — the
// member's deadline fired, which can reach the engine before the client's own deadline
// timer does — and CANCELLED (1) otherwise; one HEADERS frame (trailers-only). Anything
// that is not gRPC still gets 502.
func TestGRPCMemberResetBecomesStatus(t *testing.T) {
	checkGoroutines(t)
	ca := newTestCA(t, "grpc reset CA")
	cert, _ := ca.issue(t, "grpc.example.test", "grpc.example.test")
	e := newEngine(t, Options{})
	port := freePort(t)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, startResettingMember(t, 200*time.Millisecond))
	p.H2C = true
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{h2Listener(port, "p1", &cert, []string{"h2"})}, Pools: []dataplane.Pool{p}})
	c := h2Client(t, ca, "grpc.example.test")
	for _, tc := range []struct {
		name, contentType, timeout string
		code                       int
		status                     string
	}{
		{"deadline passed", "application/grpc", "100m", 200, "4"},
		{"deadline ahead", "application/grpc+proto", "10S", 200, "1"},
		{"no deadline", "application/grpc", "", 200, "1"},
		{"bad grpc-timeout", "application/grpc", "1x", 200, "1"},
		{"not gRPC", "application/json", "100m", 502, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", fmt.Sprintf("https://127.0.0.1:%d/grpc.testing.TestService/UnaryCall", port), nil)
			req.Header.Set("Content-Type", tc.contentType)
			req.Header.Set("TE", "trailers")
			if tc.timeout != "" {
				req.Header.Set("Grpc-Timeout", tc.timeout)
			}
			resp, body := h2Do(t, c, req)
			if resp.StatusCode != tc.code || resp.Header.Get("Grpc-Status") != tc.status {
				t.Fatalf("%d grpc-status %q (%q), want %d grpc-status %q", resp.StatusCode, resp.Header.Get("Grpc-Status"), body, tc.code, tc.status)
			}
			if tc.status != "" && (body != "" || resp.Header.Get("Content-Type") != "application/grpc") {
				t.Fatalf("not a trailers-only gRPC answer: content-type %q body %q", resp.Header.Get("Content-Type"), body)
			}
		})
	}
}
