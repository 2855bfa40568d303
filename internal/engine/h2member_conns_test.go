package engine

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/proxy"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestH2MemberRefusalRetriedOnAnother: a member that refuses the engine's stream before
// answering it — by GOAWAY naming a last stream below the stream's id, or by RST_STREAM
// REFUSED_STREAM — never processed the request (RFC 9113 §8.7), so the engine sends it to
// the pool's next member and the client gets that member's answer, not a 502.
func TestH2MemberRefusalRetriedOnAnother(t *testing.T) {
	// A body of several DATA frames, within what the engine keeps to send again.
	callBody := bytes.Repeat([]byte("0123456789abcdef"), 40<<10/16)
	for _, how := range []string{"goaway", "refused"} {
		t.Run(how, func(t *testing.T) {
			checkGoroutines(t)
			var refused atomic.Int32
			refuser := rawH2Member(t, func(c net.Conn, fr *http2.Framer) {
				eachH2Frame(fr, func(f http2.Frame) {
					h, ok := f.(*http2.MetaHeadersFrame)
					if !ok {
						return
					}
					refused.Add(1)
					if how == "goaway" {
						// As a member shutting down gracefully: no stream taken, the
						// connection left for the engine to close.
						fr.WriteGoAway(0, http2.ErrCodeNo, nil)
						return
					}
					fr.WriteRSTStream(h.StreamID, http2.ErrCodeRefusedStream)
				})
			})
			// The answering member reads each call's body whole and says whether it is the
			// one sent: a retry must send the body again from its start.
			var served atomic.Int32
			answerer := rawH2Member(t, func(c net.Conn, fr *http2.Framer) {
				fr.WriteSettings()
				bodies := map[uint32][]byte{}
				for {
					f, err := fr.ReadFrame()
					if err != nil {
						return
					}
					var id uint32
					switch f := f.(type) {
					case *http2.MetaHeadersFrame:
						bodies[f.StreamID] = []byte{}
						if !f.StreamEnded() {
							continue
						}
						id = f.StreamID
					case *http2.DataFrame:
						bodies[f.StreamID] = append(bodies[f.StreamID], f.Data()...)
						if n := uint32(len(f.Data())); n > 0 {
							fr.WriteWindowUpdate(0, n)
							fr.WriteWindowUpdate(f.StreamID, n)
						}
						if !f.StreamEnded() {
							continue
						}
						id = f.StreamID
					default:
						continue
					}
					status := "0"
					if !bytes.Equal(bodies[id], callBody) {
						status = "13"
					}
					delete(bodies, id)
					served.Add(1)
					rawH2Answer(fr, id, hpack.HeaderField{Name: "grpc-status", Value: status})
				}
			})
			answerer.ID = "answerer"
			c, url := h2cPoolListener(t, refuser, answerer)
			const calls = 6
			for i := 0; i < calls; i++ {
				req, _ := http.NewRequest("POST", url+"svc/Call", bytes.NewReader(callBody))
				req.Header.Set("Content-Type", "application/grpc")
				req.Header.Set("Te", "trailers")
				resp, body := h2Do(t, c, req)
				if resp.StatusCode != 200 || resp.Trailer.Get("Grpc-Status") != "0" {
					t.Fatalf("call %d: %d %q, trailers %v; want the answering member's 200 with status 0 (13: it got another body)", i, resp.StatusCode, body, resp.Trailer)
				}
			}
			if refused.Load() == 0 {
				t.Fatal("no call reached the refusing member: the test proves nothing")
			}
			if got := served.Load(); got != calls {
				t.Errorf("the answering member served %d calls, want %d", got, calls)
			}
		})
	}
}

// TestH2MemberConnsClosedWhenReplaced: a configuration change that replaces a listener's
// frontend ends its HTTP/2 member connections once their streams are done — not after
// MemberIdleTimeout (ten minutes here) — and the next request opens a new one.
func TestH2MemberConnsClosedWhenReplaced(t *testing.T) {
	checkGoroutines(t)
	var conns atomic.Int32
	closed := make(chan struct{}, 4)
	m := rawH2Member(t, func(c net.Conn, fr *http2.Framer) {
		conns.Add(1)
		eachH2Frame(fr, func(f http2.Frame) {
			if h, ok := f.(*http2.MetaHeadersFrame); ok && h.StreamEnded() {
				rawH2Answer(fr, h.StreamID, hpack.HeaderField{Name: "grpc-status", Value: "0"})
			}
		})
		closed <- struct{}{}
	})
	ca := newTestCA(t, "h2 CA")
	cert, _ := ca.issue(t, "h2.example.test", "h2.example.test")
	e := newEngine(t, Options{Proxy: proxy.Options{MemberIdleTimeout: 10 * time.Minute}})
	port := freePort(t)
	cfg := func(version uint64, weight int) *dataplane.Config {
		mm := m
		mm.Weight = weight
		p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, mm)
		p.H2C = true
		return &dataplane.Config{Version: version, Listeners: []dataplane.Listener{h2Listener(port, "p1", &cert, []string{"h2"})}, Pools: []dataplane.Pool{p}}
	}
	c := h2Client(t, ca, "h2.example.test")
	url := fmt.Sprintf("https://127.0.0.1:%d/", port)
	call := func(i int) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if resp, body := h2Do(t, c, req); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	mustApply(t, e, cfg(1, 1))
	call(0)
	call(1)
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d member connections for two requests, want 1", n)
	}
	mustApply(t, e, cfg(2, 2)) // the member's weight changes: the listener's frontend is new
	select {
	case <-closed:
	case <-time.After(ioWait):
		t.Fatal("the replaced frontend's member connection stayed open")
	}
	call(2)
	if n := conns.Load(); n != 2 {
		t.Errorf("%d member connections, want 2 (the request after the change opens one)", n)
	}
}
