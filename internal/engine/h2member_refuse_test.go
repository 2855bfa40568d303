package engine

import (
	"bytes"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

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
				fr.WriteSettings()
				for {
					f, err := fr.ReadFrame()
					if err != nil {
						return
					}
					if h, ok := f.(*http2.MetaHeadersFrame); ok {
						refused.Add(1)
						if how == "goaway" {
							// As a member shutting down gracefully: no stream taken, the
							// connection left for the engine to close.
							fr.WriteGoAway(0, http2.ErrCodeNo, nil)
							continue
						}
						fr.WriteRSTStream(h.StreamID, http2.ErrCodeRefusedStream)
					}
				}
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
