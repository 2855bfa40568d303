package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// fuzzH2Wait bounds one FuzzH2Server case: the engine must end the connection this long
// after the client has sent everything and shut its write side, and the goroutines the
// connection caused must be gone this long after.
const fuzzH2Wait = 10 * time.Second

// h2FuzzSeeds are valid (and a few deliberately odd) frame sequences sent after the
// client preface, built with x/net/http2's Framer.
func h2FuzzSeeds() [][]byte {
	var seeds [][]byte
	add := func(build func(fr *http2.Framer, blk func(method, path string, extra ...hpack.HeaderField) []byte)) {
		var out, hb bytes.Buffer
		fr := http2.NewFramer(&out, nil)
		enc := hpack.NewEncoder(&hb)
		blk := func(method, path string, extra ...hpack.HeaderField) []byte {
			hb.Reset()
			for _, f := range append([]hpack.HeaderField{{Name: ":method", Value: method}, {Name: ":scheme", Value: "http"},
				{Name: ":authority", Value: "h2.example.test"}, {Name: ":path", Value: path}}, extra...) {
				enc.WriteField(f)
			}
			return bytes.Clone(hb.Bytes())
		}
		fr.WriteSettings()
		build(fr, blk)
		seeds = append(seeds, bytes.Clone(out.Bytes()))
	}
	get := func(fr *http2.Framer, id uint32, blk []byte) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: blk, EndStream: true, EndHeaders: true})
	}
	add(func(fr *http2.Framer, blk func(string, string, ...hpack.HeaderField) []byte) {})
	add(func(fr *http2.Framer, blk func(string, string, ...hpack.HeaderField) []byte) {
		fr.WriteSettingsAck()
		get(fr, 1, blk("GET", "/"))
	})
	add(func(fr *http2.Framer, blk func(string, string, ...hpack.HeaderField) []byte) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk("POST", "/echo",
			hpack.HeaderField{Name: "content-length", Value: "10"}), EndHeaders: true})
		fr.WriteData(1, false, []byte("01234"))
		fr.WriteData(1, true, []byte("56789"))
	})
	add(func(fr *http2.Framer, blk func(string, string, ...hpack.HeaderField) []byte) {
		b := blk("GET", "/", hpack.HeaderField{Name: "x-long", Value: "abcdefghijklmnopqrstuvwxyz"})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:5], EndStream: true})
		fr.WriteContinuation(1, false, b[5:10])
		fr.WriteContinuation(1, true, b[10:])
	})
	add(func(fr *http2.Framer, blk func(string, string, ...hpack.HeaderField) []byte) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk("POST", "/echo"), EndHeaders: true})
		fr.WriteData(1, false, []byte("part"))
		fr.WriteRSTStream(1, http2.ErrCodeCancel)
		get(fr, 3, blk("GET", "/"))
	})
	add(func(fr *http2.Framer, blk func(string, string, ...hpack.HeaderField) []byte) {
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
		get(fr, 1, blk("GET", "/chunked"))
		fr.WriteWindowUpdate(1, 3)
		fr.WriteWindowUpdate(0, 100)
	})
	add(func(fr *http2.Framer, blk func(string, string, ...hpack.HeaderField) []byte) {
		fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
		fr.WritePriority(1, http2.PriorityParam{StreamDep: 0, Weight: 15})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: blk("GET", "/"), EndStream: true, EndHeaders: true,
			Priority: http2.PriorityParam{StreamDep: 1, Exclusive: true, Weight: 200}})
		fr.WritePing(true, [8]byte{})
	})
	add(func(fr *http2.Framer, blk func(string, string, ...hpack.HeaderField) []byte) {
		get(fr, 1, blk("GET", "/"))
		fr.WriteGoAway(1, http2.ErrCodeNo, []byte("bye"))
	})
	add(func(fr *http2.Framer, blk func(string, string, ...hpack.HeaderField) []byte) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk("POST", "/echo",
			hpack.HeaderField{Name: "te", Value: "trailers"}), EndHeaders: true})
		fr.WriteData(1, false, []byte("body"))
		var hb bytes.Buffer
		hpack.NewEncoder(&hb).WriteField(hpack.HeaderField{Name: "x-trailer", Value: "t"})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
	})
	add(func(fr *http2.Framer, blk func(string, string, ...hpack.HeaderField) []byte) {
		fr.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0}, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 14})
		for id := uint32(1); id <= 9; id += 2 {
			get(fr, id, blk("GET", fmt.Sprintf("/?i=%d", id)))
		}
	})
	return seeds
}

// FuzzH2Server: an h2c (prior knowledge) client sends the preface and then any bytes to a
// real engine listener on loopback, and shuts its write side. The engine must not panic (the
// engine runs in this process: a panic in any of its goroutines ends the fuzzing as a
// crash), must end the connection within fuzzH2Wait, and must leave no goroutine behind.
// The member answers with Connection: close, so that no pooled member connection stays.
func FuzzH2Server(f *testing.F) {
	for _, s := range h2FuzzSeeds() {
		f.Add(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		fmt.Fprint(w, "b1")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.Copy(w, io.LimitReader(r.Body, 1<<20))
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		for i := 0; i < 5; i++ {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	f.Cleanup(func() { srv.Close() })

	e := New(Options{})
	f.Cleanup(func() { e.Close() })
	port := 0
	for i := 0; i < 20 && port == 0; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			f.Fatal(err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		lst := httpListener("l1", port, "p1")
		lst.TimeoutClientData = 2000
		m := dataplane.Member{ID: "m1", Address: "127.0.0.1", ProtocolPort: ln.Addr().(*net.TCPAddr).Port, Weight: 1, AdminStateUp: true}
		if err := e.Apply(context.Background(), &dataplane.Config{Version: uint64(i + 1), Listeners: []dataplane.Listener{lst},
			Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, m)}}); err != nil {
			port = 0
		}
	}
	if port == 0 {
		f.Fatal("no listener")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	f.Fuzz(func(t *testing.T, data []byte) {
		before := runtime.NumGoroutine()
		c, err := net.DialTimeout("tcp", addr, ioWait)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetWriteDeadline(time.Now().Add(fuzzH2Wait))
		wrote := make(chan error, 1)
		go func() {
			_, err := c.Write(append([]byte(http2.ClientPreface), data...))
			wrote <- err
		}()
		// Read what comes until the connection has been quiet for a moment after the
		// client's bytes are written (so answers are written), then shut the write side:
		// the engine must end the connection within fuzzH2Wait.
		buf := make([]byte, 32<<10)
		var werr error
		done, shut := false, false
		end := time.Now().Add(fuzzH2Wait)
		for {
			if !done {
				select {
				case werr = <-wrote:
					done = true
				default:
				}
			}
			dl := time.Now().Add(30 * time.Millisecond)
			if shut || dl.After(end) {
				dl = end
			}
			c.SetReadDeadline(dl)
			_, err := c.Read(buf)
			if err == nil {
				continue
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				break
			}
			if !time.Now().Before(end) {
				t.Fatalf("the engine kept the connection for %v (client write done %v, shut %v)", fuzzH2Wait, done, shut)
			}
			if done && !shut {
				c.(*net.TCPConn).CloseWrite()
				shut = true
				end = time.Now().Add(fuzzH2Wait)
			}
		}
		c.Close()
		if !done {
			werr = <-wrote
		}
		_ = werr // a write may fail: the engine may close a connection before reading all
		for deadline := time.Now().Add(fuzzH2Wait); runtime.NumGoroutine() > before; {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Fatalf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}
