package engine

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/proxy"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawH2Member is a cleartext HTTP/2 member (prior knowledge) written on x/net/http2's
// Framer, so that a test decides every frame it sends: serve runs per accepted connection
// after the client preface was read, with a Framer whose reads decode header blocks.
func rawH2Member(t *testing.T, serve func(c net.Conn, fr *http2.Framer)) dataplane.Member {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(patience))
				pre := make([]byte, len(http2.ClientPreface))
				if _, err := io.ReadFull(c, pre); err != nil || string(pre) != http2.ClientPreface {
					return
				}
				fr := http2.NewFramer(c, c)
				fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
				serve(c, fr)
			}()
		}
	}()
	return dataplane.Member{ID: "raw", Address: "127.0.0.1", ProtocolPort: ln.Addr().(*net.TCPAddr).Port, Weight: 1, AdminStateUp: true}
}

// eachH2Frame sends a raw member's SETTINGS, then hands each frame the engine sends to on
// until the connection ends.
func eachH2Frame(fr *http2.Framer, on func(f http2.Frame)) {
	fr.WriteSettings()
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		on(f)
	}
}

// rawH2Answer writes a gRPC-style answer on stream id: a head, one DATA frame and
// trailers.
func rawH2Answer(fr *http2.Framer, id uint32, trailer ...hpack.HeaderField) {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "application/grpc"})
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: b.Bytes(), EndHeaders: true})
	fr.WriteData(id, false, []byte("\x00\x00\x00\x00\x00"))
	b.Reset()
	for _, f := range trailer {
		enc.WriteField(f)
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: b.Bytes(), EndHeaders: true, EndStream: true})
}

func h2cPoolListener(t *testing.T, members ...dataplane.Member) (*http.Client, string) {
	t.Helper()
	ca := newTestCA(t, "h2 CA")
	cert, _ := ca.issue(t, "h2.example.test", "h2.example.test")
	e := newEngine(t, Options{})
	port := freePort(t)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, members...)
	p.H2C = true
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{h2Listener(port, "p1", &cert, []string{"h2"})}, Pools: []dataplane.Pool{p}})
	return h2Client(t, ca, "h2.example.test"), fmt.Sprintf("https://127.0.0.1:%d/", port)
}

// TestH2MemberVaryingFieldNotIndexed: a call's grpc-timeout, which changes from call to
// call, reaches the member as a never-indexed literal, so it does not push the fields
// that repeat out of the connection's HPACK table; the fields that repeat are indexed.
func TestH2MemberVaryingFieldNotIndexed(t *testing.T) {
	checkGoroutines(t)
	got := make(chan []hpack.HeaderField, 4)
	m := rawH2Member(t, func(c net.Conn, fr *http2.Framer) {
		eachH2Frame(fr, func(f http2.Frame) {
			if h, ok := f.(*http2.MetaHeadersFrame); ok {
				got <- h.Fields
				rawH2Answer(fr, h.StreamID, hpack.HeaderField{Name: "grpc-status", Value: "0"})
			}
		})
	})
	c, url := h2cPoolListener(t, m)
	for i, timeout := range []string{"5000m", "4999m"} {
		req, _ := http.NewRequest("POST", url+"svc/Call", strings.NewReader("\x00\x00\x00\x00\x00"))
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Grpc-Timeout", timeout)
		req.Header.Set("Te", "trailers")
		resp, _ := h2Do(t, c, req)
		if resp.StatusCode != 200 || resp.Trailer.Get("Grpc-Status") != "0" {
			t.Fatalf("call %d: %d, trailers %v", i, resp.StatusCode, resp.Trailer)
		}
		var fields []hpack.HeaderField
		select {
		case fields = <-got:
		case <-time.After(ioWait):
			t.Fatal("the member never got the call")
		}
		seen := map[string]bool{}
		for _, f := range fields {
			seen[f.Name] = true
			if f.Name == "grpc-timeout" && (f.Value != timeout || !f.Sensitive) {
				t.Errorf("call %d: grpc-timeout %q sent indexable (Sensitive %v), want %q never indexed", i, f.Value, f.Sensitive, timeout)
			}
		}
		for _, want := range []string{":method", ":path", ":scheme", ":authority", "content-type", "te", "grpc-timeout"} {
			if !seen[want] {
				t.Errorf("call %d: the member got no %s: %v", i, want, fields)
			}
		}
	}
}

// TestH2MemberControlFlood: a member flooding PINGs beyond the control-frame budget
// (H2ControlBurst plus H2ControlRate per second) has its connection closed by the
// engine, as a client flooding the engine has; the stream waiting on it gets a 502.
func TestH2MemberControlFlood(t *testing.T) {
	checkGoroutines(t)
	closed := make(chan int, 1)
	m := rawH2Member(t, func(c net.Conn, fr *http2.Framer) {
		fr.WriteSettings()
		// Read until the first request's HEADERS, then flood; count the PING answers
		// until the engine ends the connection.
		acks := 0
		flooding := false
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				closed <- acks
				return
			}
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				if !flooding {
					flooding = true
					go func() {
						for i := 0; i < 3*proxy.H2ControlBurst; i++ {
							if fr.WritePing(false, [8]byte{byte(i)}) != nil {
								return
							}
						}
					}()
				}
			case *http2.PingFrame:
				if f.IsAck() {
					acks++
				}
			}
		}
	})
	c, url := h2cPoolListener(t, m)
	req, _ := http.NewRequest("GET", url, nil)
	resp, body := h2Do(t, c, req)
	if resp.StatusCode != 502 {
		t.Errorf("a stream on the flooding member: %d %q, want 502", resp.StatusCode, body)
	}
	select {
	case acks := <-closed:
		if acks > proxy.H2ControlBurst+proxy.H2ControlRate*int(patience/time.Second) {
			t.Errorf("%d PINGs answered before the connection closed", acks)
		}
	case <-time.After(ioWait):
		t.Fatal("the engine kept the flooding member's connection open")
	}
}

// TestH2MemberSendWindows: a request body larger than the member's windows (a stream
// window of 1,000 bytes, the connection's 65,535) reaches the member whole, never beyond
// what its windows allow, in DATA frames no larger than its frame size, as the member
// gives the windows back; the member's answer carries what it counted.
func TestH2MemberSendWindows(t *testing.T) {
	checkGoroutines(t)
	const streamWin = 1000
	m := rawH2Member(t, func(c net.Conn, fr *http2.Framer) {
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: streamWin})
		// Until the engine acknowledges the settings, its streams may use the default
		// window (RFC 9113 §6.9.2).
		connWin, initial, win := int64(65535), int64(65535), map[uint32]int64{}
		got := map[uint32]int{}
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if f.IsAck() {
					for id := range win {
						win[id] += streamWin - initial
					}
					initial = streamWin
				}
			case *http2.MetaHeadersFrame:
				win[f.StreamID] = initial
			case *http2.DataFrame:
				n := int64(len(f.Data()))
				connWin -= n
				win[f.StreamID] -= n
				verdict := ""
				if connWin < 0 || win[f.StreamID] < 0 {
					verdict = fmt.Sprintf("beyond the window: connection %d, stream %d", connWin, win[f.StreamID])
				}
				got[f.StreamID] += int(n)
				if n > 0 && !f.StreamEnded() {
					// Give back what came, in two steps.
					fr.WriteWindowUpdate(0, uint32(n))
					connWin += n
					fr.WriteWindowUpdate(f.StreamID, uint32(n))
					win[f.StreamID] += n
				}
				if f.StreamEnded() || verdict != "" {
					if verdict == "" {
						verdict = fmt.Sprint(got[f.StreamID])
					}
					var b bytes.Buffer
					enc := hpack.NewEncoder(&b)
					enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
					fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: b.Bytes(), EndHeaders: true})
					fr.WriteData(f.StreamID, true, []byte(verdict))
				}
			}
		}
	})
	c, url := h2cPoolListener(t, m)
	big := strings.Repeat("y", 200<<10)
	req, _ := http.NewRequest("POST", url, strings.NewReader(big))
	if resp, body := h2Do(t, c, req); resp.StatusCode != 200 || body != fmt.Sprint(len(big)) {
		t.Fatalf("a body beyond the member's windows: %d %q, want 200 %d", resp.StatusCode, body, len(big))
	}
}

// TestH2MemberLargeBodies: a 3 MiB request body and its 3 MiB echo pass through an
// x/net/http2 member, beyond its windows and the engine's own receive windows (1 MiB per
// stream), both given back as the bytes are taken.
func TestH2MemberLargeBodies(t *testing.T) {
	checkGoroutines(t)
	m1 := startH2CMember(t, "b1")
	c, url := h2cPoolListener(t, m1.member("m1"))
	big := strings.Repeat("z", 3<<20)
	req, _ := http.NewRequest("POST", url, strings.NewReader(big))
	resp, body := h2Do(t, c, req)
	if resp.StatusCode != 200 || body != "b1 HTTP/2.0 "+big || resp.Trailer.Get("X-Sum") != fmt.Sprint(len(big)) {
		t.Fatalf("3 MiB both ways: %d, %d bytes, trailer %q", resp.StatusCode, len(body), resp.Trailer.Get("X-Sum"))
	}
}

// TestH2MemberPingsPerStreamWithinCredit: a member that sends two PINGs of its own with
// each answer — grpc-go members ping on the data they receive to size their windows —
// keeps its connection however fast the requests come: every stream opened credits the
// member's control-frame budget with two frames. Without the credit, the 3,000 PINGs of
// 1,500 requests overran H2ControlBurst plus H2ControlRate per second and the engine
// closed the member's connection (502s).
func TestH2MemberPingsPerStreamWithinCredit(t *testing.T) {
	checkGoroutines(t)
	m := rawH2Member(t, func(c net.Conn, fr *http2.Framer) {
		c.SetDeadline(time.Time{})
		fr.WriteSettings()
		for i := 0; ; i++ {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if h, ok := f.(*http2.MetaHeadersFrame); ok {
				fr.WritePing(false, [8]byte{byte(i)})
				fr.WritePing(false, [8]byte{byte(i), 1})
				rawH2Answer(fr, h.StreamID, hpack.HeaderField{Name: "grpc-status", Value: "0"})
			}
		}
	})
	c, url := h2cPoolListener(t, m)
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; i < 1500 && time.Now().Before(deadline); i++ {
		req, _ := http.NewRequest("GET", url, nil)
		resp, body := h2Do(t, c, req)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %q, want 200 (the member's PINGs are within its credit)", i, resp.StatusCode, body)
		}
	}
}
