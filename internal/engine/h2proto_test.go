package engine

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestH2ProtocolErrors: malformed requests and frames from a raw client get the stream
// or connection error RFC 9113 names (RST_STREAM or GOAWAY with its code), never an
// answer nor a panic; the listener serves an ordinary client after them.
func TestH2ProtocolErrors(t *testing.T) {
	checkGoroutines(t)
	a := newH2Attack(t)
	req := func(r *rawH2, extra ...hpack.HeaderField) []byte { return r.block("/", extra...) }
	raw := func(fields ...hpack.HeaderField) func(r *rawH2) []byte {
		return func(r *rawH2) []byte {
			r.buf.Reset()
			for _, f := range fields {
				r.enc.WriteField(f)
			}
			return bytes.Clone(r.buf.Bytes())
		}
	}
	headers := func(r *rawH2, id uint32, blk []byte, end bool) error {
		return r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: blk, EndStream: end, EndHeaders: true})
	}
	// Each case sends its frames on a fresh connection, and says what should come back:
	// "RST <code>" for stream 1 or "GOAWAY <code>".
	cases := []struct {
		name string
		send func(r *rawH2) error
		want string
	}{
		{"upper-case field name", func(r *rawH2) error {
			return headers(r, 1, req(r, hpack.HeaderField{Name: "X-Upper", Value: "v"}), true)
		}, "RST PROTOCOL_ERROR"},
		{"pseudo-field after a regular one", func(r *rawH2) error {
			return headers(r, 1, raw(hpack.HeaderField{Name: ":method", Value: "GET"}, hpack.HeaderField{Name: "x-a", Value: "b"},
				hpack.HeaderField{Name: ":scheme", Value: "https"}, hpack.HeaderField{Name: ":path", Value: "/"})(r), true)
		}, "RST PROTOCOL_ERROR"},
		{"no :path", func(r *rawH2) error {
			return headers(r, 1, raw(hpack.HeaderField{Name: ":method", Value: "GET"}, hpack.HeaderField{Name: ":scheme", Value: "https"},
				hpack.HeaderField{Name: ":authority", Value: "h2.example.test"})(r), true)
		}, "RST PROTOCOL_ERROR"},
		{"unknown pseudo-field", func(r *rawH2) error {
			return headers(r, 1, raw(hpack.HeaderField{Name: ":method", Value: "GET"}, hpack.HeaderField{Name: ":scheme", Value: "https"},
				hpack.HeaderField{Name: ":path", Value: "/"}, hpack.HeaderField{Name: ":foo", Value: "x"})(r), true)
		}, "RST PROTOCOL_ERROR"},
		{"extended CONNECT's :protocol", func(r *rawH2) error {
			return headers(r, 1, raw(hpack.HeaderField{Name: ":method", Value: "CONNECT"}, hpack.HeaderField{Name: ":protocol", Value: "websocket"},
				hpack.HeaderField{Name: ":scheme", Value: "https"}, hpack.HeaderField{Name: ":path", Value: "/"},
				hpack.HeaderField{Name: ":authority", Value: "h2.example.test"})(r), true)
		}, "RST PROTOCOL_ERROR"},
		{"connection-specific field", func(r *rawH2) error {
			return headers(r, 1, req(r, hpack.HeaderField{Name: "connection", Value: "keep-alive"}), true)
		}, "RST PROTOCOL_ERROR"},
		{"transfer-encoding", func(r *rawH2) error {
			return headers(r, 1, req(r, hpack.HeaderField{Name: "transfer-encoding", Value: "chunked"}), false)
		}, "RST PROTOCOL_ERROR"},
		{"te other than trailers", func(r *rawH2) error {
			return headers(r, 1, req(r, hpack.HeaderField{Name: "te", Value: "gzip"}), true)
		}, "RST PROTOCOL_ERROR"},
		{"two content-lengths", func(r *rawH2) error {
			return headers(r, 1, req(r, hpack.HeaderField{Name: "content-length", Value: "1"}, hpack.HeaderField{Name: "content-length", Value: "2"}), false)
		}, "RST PROTOCOL_ERROR"},
		{"body longer than content-length", func(r *rawH2) error {
			if err := headers(r, 1, req(r, hpack.HeaderField{Name: "content-length", Value: "5"}), false); err != nil {
				return err
			}
			return r.fr.WriteData(1, true, []byte("0123456789"))
		}, "RST PROTOCOL_ERROR"},
		{"trailers without END_STREAM", func(r *rawH2) error {
			if err := headers(r, 1, req(r), false); err != nil {
				return err
			}
			return headers(r, 1, raw(hpack.HeaderField{Name: "x-t", Value: "1"})(r), false)
		}, "RST PROTOCOL_ERROR"},
		{"HEADERS depending on itself", func(r *rawH2) error {
			return r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: req(r), EndStream: true, EndHeaders: true,
				Priority: http2.PriorityParam{StreamDep: 1, Weight: 16}})
		}, "RST PROTOCOL_ERROR"},
		{"stream WINDOW_UPDATE overflow", func(r *rawH2) error {
			if err := headers(r, 1, req(r), false); err != nil {
				return err
			}
			return r.fr.WriteWindowUpdate(1, 1<<31-1)
		}, "RST FLOW_CONTROL_ERROR"},
		{"stream WINDOW_UPDATE of 0", func(r *rawH2) error {
			if err := headers(r, 1, req(r), false); err != nil {
				return err
			}
			return r.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 1, []byte{0, 0, 0, 0})
		}, "RST PROTOCOL_ERROR"},
		{"DATA on a half-closed stream", func(r *rawH2) error {
			if err := headers(r, 1, r.block("/slow"), true); err != nil {
				return err
			}
			return r.fr.WriteData(1, false, []byte("x"))
		}, "RST STREAM_CLOSED"},
		{"DATA on an idle stream", func(r *rawH2) error { return r.fr.WriteData(3, true, []byte("x")) }, "GOAWAY PROTOCOL_ERROR"},
		{"even stream id", func(r *rawH2) error { return headers(r, 2, req(r), true) }, "GOAWAY PROTOCOL_ERROR"},
		{"stream id going down", func(r *rawH2) error {
			if err := headers(r, 5, r.block("/slow"), true); err != nil {
				return err
			}
			return headers(r, 3, req(r), true)
		}, "GOAWAY PROTOCOL_ERROR"},
		{"RST_STREAM on an idle stream", func(r *rawH2) error { return r.fr.WriteRSTStream(7, http2.ErrCodeCancel) }, "GOAWAY PROTOCOL_ERROR"},
		{"WINDOW_UPDATE on an idle stream", func(r *rawH2) error { return r.fr.WriteWindowUpdate(9, 1) }, "GOAWAY PROTOCOL_ERROR"},
		{"connection WINDOW_UPDATE overflow", func(r *rawH2) error { return r.fr.WriteWindowUpdate(0, 1<<31-1) }, "GOAWAY FLOW_CONTROL_ERROR"},
		{"frame over SETTINGS_MAX_FRAME_SIZE", func(r *rawH2) error {
			if err := headers(r, 1, req(r), false); err != nil {
				return err
			}
			return r.fr.WriteData(1, false, make([]byte, 20000))
		}, "GOAWAY FRAME_SIZE_ERROR"},
		{"initial window over 2^31-1", func(r *rawH2) error {
			return r.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31})
		}, "GOAWAY FLOW_CONTROL_ERROR"},
		{"PUSH_PROMISE from the client", func(r *rawH2) error {
			if err := headers(r, 1, r.block("/slow"), true); err != nil {
				return err
			}
			return r.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: req(r), EndHeaders: true})
		}, "GOAWAY PROTOCOL_ERROR"},
		{"CONTINUATION without HEADERS", func(r *rawH2) error { return r.fr.WriteContinuation(1, true, req(r)) }, "GOAWAY PROTOCOL_ERROR"},
		{"HPACK garbage", func(r *rawH2) error { return headers(r, 1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, true) }, "GOAWAY COMPRESSION_ERROR"},
	}
	for _, c := range cases {
		r := a.dial()
		// The server's SETTINGS may come before or after what the case sends.
		if err := c.send(r); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := ""
		r.c.SetReadDeadline(time.Now().Add(patience))
		for got == "" {
			f, err := r.fr.ReadFrame()
			if err != nil {
				got = "closed (" + err.Error() + ")"
				break
			}
			switch f := f.(type) {
			case *http2.RSTStreamFrame:
				got = fmt.Sprintf("RST %v", f.ErrCode)
			case *http2.GoAwayFrame:
				got = fmt.Sprintf("GOAWAY %v", f.ErrCode)
			case *http2.MetaHeadersFrame:
				got = "HEADERS " + f.PseudoValue("status")
			}
		}
		if got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
		r.c.Close()
	}
	a.b.releaseSlow()
	a.normalClient()
}
