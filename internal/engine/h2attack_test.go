package engine

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/proxy"
)

// The known HTTP/2 attacks, each from a raw client (x/net/http2's Framer over a real TLS
// connection on loopback) against a TERMINATED_HTTPS listener offering h2.

type h2Attack struct {
	t    *testing.T
	e    *Engine
	ca   *testCA
	addr string
	b    *backend
}

func newH2Attack(t *testing.T) *h2Attack {
	// The idle timeout (GOAWAY after timeout_client_data without a request) must not be
	// what ends an attacking connection within closedWithin's patience.
	return newH2Listener(t, 5*patience, nil)
}

// newH2Listener is newH2Attack's listener with timeout_client_data d, changed by edit.
func newH2Listener(t *testing.T, d time.Duration, edit func(*dataplane.Listener)) *h2Attack {
	ca := newTestCA(t, "h2 CA")
	cert, _ := ca.issue(t, "h2.example.test", "h2.example.test")
	b := startBackend(t, "b1")
	e := newEngine(t, Options{})
	port := freePort(t)
	l := h2Listener(port, "p1", &cert, []string{"h2", "http/1.1"})
	l.TimeoutClientData = int64(d / time.Millisecond)
	if edit != nil {
		edit(&l)
	}
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l},
		Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}})
	return &h2Attack{t: t, e: e, ca: ca, addr: fmt.Sprintf("127.0.0.1:%d", port), b: b}
}

// rawH2 is an attacking client connection: the preface and an empty SETTINGS are sent.
type rawH2 struct {
	c   *tls.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
}

func (a *h2Attack) dial() *rawH2 {
	t := a.t
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: ioWait}, "tcp", a.addr, &tls.Config{RootCAs: a.ca.pool(), ServerName: "h2.example.test", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN negotiated %q, want h2", p)
	}
	c.SetDeadline(time.Now().Add(patience))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	r := &rawH2{c: c, fr: http2.NewFramer(c, c)}
	r.enc = hpack.NewEncoder(&r.buf)
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := r.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return r
}

// block encodes a request header block for path (extra fields after the pseudo ones).
func (r *rawH2) block(path string, extra ...hpack.HeaderField) []byte {
	r.buf.Reset()
	for _, f := range append([]hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: "h2.example.test"}, {Name: ":path", Value: path}}, extra...) {
		r.enc.WriteField(f)
	}
	return bytes.Clone(r.buf.Bytes())
}

// closedWithin reads frames (answering nothing) until the server ends the connection: a
// GOAWAY, or the end of the stream or a reset. It fails the test if the server keeps the
// connection past patience. It says how the connection ended.
func (r *rawH2) closedWithin(t *testing.T) string {
	t.Helper()
	r.c.SetReadDeadline(time.Now().Add(patience))
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server kept the connection for %v", patience)
			}
			return "closed (" + err.Error() + ")"
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			return "GOAWAY " + ga.ErrCode.String()
		}
	}
}

// normalClient checks that an ordinary HTTP/2 client is served while an attack runs.
func (a *h2Attack) normalClient() {
	a.t.Helper()
	c := h2Client(a.t, a.ca, "h2.example.test")
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("GET", "https://"+a.addr+"/", nil)
		if resp, body := h2Do(a.t, c, req); resp.StatusCode != 200 || body != "b1" {
			a.t.Fatalf("normal client: %d %q", resp.StatusCode, body)
		}
	}
}

// TestH2RapidReset: a client opening streams and resetting them at once (CVE-2023-44487)
// is cut off once it exceeds the control-frame budget, the goroutines it caused go away,
// and another client is served meanwhile.
func TestH2RapidReset(t *testing.T) {
	checkGoroutines(t)
	a := newH2Attack(t)
	base := runtime.NumGoroutine()
	r := a.dial()
	var wg sync.WaitGroup
	sent := 0
	wg.Add(1)
	go func() { // the writer: HEADERS then RST_STREAM, stream after stream
		defer wg.Done()
		blk := r.block("/slow")
		for id := uint32(1); id < 2*20000; id += 2 {
			if r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: blk, EndStream: true, EndHeaders: true}) != nil {
				return
			}
			if r.fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
				return
			}
			sent++
		}
	}()
	how := r.closedWithin(t)
	r.c.Close()
	wg.Wait()
	t.Logf("%s after %d HEADERS+RST_STREAM pairs written (budget %d + %d/s)", how, sent, proxy.H2ControlBurst, proxy.H2ControlRate)
	a.normalClient()
	waitUntil(t, "goroutines back near their count before the attack", func() bool { return runtime.NumGoroutine() <= base+20 })
}

// TestH2ContinuationFlood: HEADERS without END_HEADERS followed by endless CONTINUATION
// frames (CVE-2024-27316 and kin) end the connection once the header list is over its
// limit, long before the flood does.
func TestH2ContinuationFlood(t *testing.T) {
	checkGoroutines(t)
	a := newH2Attack(t)
	r := a.dial()
	blk := r.block("/", hpack.HeaderField{Name: "x-a", Value: "b"})
	// Valid fields (literal, not indexed, new name "x-j", a 100-byte value), so that
	// only the size of the header list can stop them.
	field := append([]byte{0x00, 0x03, 'x', '-', 'j', 100}, bytes.Repeat([]byte{'v'}, 100)...)
	junk := bytes.Repeat(field, 130)
	var wg sync.WaitGroup
	written := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		if r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk, EndStream: true, EndHeaders: false}) != nil {
			return
		}
		for i := 0; i < 10000; i++ { // 10,000 × 14 KB: far beyond any limit
			if r.fr.WriteContinuation(1, false, junk) != nil {
				return
			}
			written += len(junk)
		}
	}()
	t.Log(r.closedWithin(t))
	r.c.Close()
	wg.Wait()
	if written >= 10000*len(junk) {
		t.Fatalf("the whole flood (%d bytes) was read", written)
	}
	if a.b.hits.Load() != 0 {
		t.Errorf("the member saw %d requests", a.b.hits.Load())
	}
	a.normalClient()
}

// TestH2HeaderBomb: a header list over the limit, either plainly or as an HPACK bomb (one
// large field in the dynamic table, then indexed again and again at one byte each), is
// refused (431, or the stream or connection ended) and never reaches the member.
func TestH2HeaderBomb(t *testing.T) {
	checkGoroutines(t)
	a := newH2Attack(t)
	for _, kind := range []string{"one 40 KB field", "HPACK bomb"} {
		r := a.dial()
		var blk []byte
		if kind == "HPACK bomb" {
			// x-bomb enters the dynamic table, then 200 one-byte references to it: 600 KB
			// decoded from about 3 KB.
			blk = r.block("/", hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("v", 3000)})
			blk = append(blk, bytes.Repeat([]byte{0x80 | 62}, 200)...) // the newest dynamic entry
		} else {
			blk = r.block("/", hpack.HeaderField{Name: "x-big", Value: strings.Repeat("w", 40000)})
		}
		for off := 0; off < len(blk); off += 16000 {
			end := min(off+16000, len(blk))
			var err error
			if off == 0 {
				err = r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[off:end], EndStream: true, EndHeaders: end == len(blk)})
			} else {
				err = r.fr.WriteContinuation(1, end == len(blk), blk[off:end])
			}
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
		}
		got := ""
		r.c.SetReadDeadline(time.Now().Add(patience))
		for got == "" {
			f, err := r.fr.ReadFrame()
			if err != nil {
				got = "closed"
				break
			}
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				got = f.PseudoValue("status")
			case *http2.RSTStreamFrame:
				got = "RST_STREAM"
			case *http2.GoAwayFrame:
				got = "GOAWAY"
			}
		}
		if got == "200" || got == "" {
			t.Errorf("%s: answered %q", kind, got)
		}
		t.Logf("%s: %s", kind, got)
		r.c.Close()
	}
	if a.b.hits.Load() != 0 {
		t.Errorf("the member saw %d requests", a.b.hits.Load())
	}
	a.normalClient()
}

// TestH2SettingsFlood: a client sending SETTINGS (or PING) frames as fast as it can is cut
// off after the control-frame budget instead of keeping the server busy acknowledging.
func TestH2SettingsFlood(t *testing.T) {
	checkGoroutines(t)
	a := newH2Attack(t)
	for _, kind := range []string{"SETTINGS", "PING"} {
		r := a.dial()
		var wg sync.WaitGroup
		sent := 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50000; i++ {
				var err error
				if kind == "SETTINGS" {
					err = r.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(65535 + i%2)})
				} else {
					err = r.fr.WritePing(false, [8]byte{byte(i)})
				}
				if err != nil {
					return
				}
				sent++
			}
		}()
		how := r.closedWithin(t)
		r.c.Close()
		wg.Wait()
		t.Logf("%s: %s after %d frames written", kind, how, sent)
	}
	a.normalClient()
}

// TestH2DrainOnListenerRemoved: removing the listener sends its HTTP/2 clients a GOAWAY;
// the stream in flight still gets its whole answer, then the connection ends.
func TestH2DrainOnListenerRemoved(t *testing.T) {
	checkGoroutines(t)
	a := newH2Attack(t)
	r := a.dial()
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: r.block("/slow"), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the member holds the request", func() bool { return a.b.hits.Load() == 1 })
	mustApply(t, a.e, &dataplane.Config{Version: 2, Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.b.member("m1"))}})
	r.c.SetReadDeadline(time.Now().Add(patience))
	var events []string
	released := false
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			events = append(events, "closed")
			break
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			events = append(events, "GOAWAY "+f.ErrCode.String())
			if !released {
				released = true
				a.b.releaseSlow()
			}
		case *http2.MetaHeadersFrame:
			events = append(events, "HEADERS "+f.PseudoValue("status"))
		case *http2.DataFrame:
			if len(f.Data()) > 0 {
				events = append(events, "DATA "+string(f.Data()))
			}
			if f.StreamEnded() {
				events = append(events, "END")
			}
		}
	}
	if got, want := strings.Join(events, ", "), "GOAWAY NO_ERROR, HEADERS 200, DATA b1, END, closed"; got != want {
		t.Errorf("frames: %s, want %s", got, want)
	}
}
