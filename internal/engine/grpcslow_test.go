package engine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// TestGRPCSlowReaderLongStream: an HTTP/2 member's server-streaming answer to a client that
// reads slowly (its stream window opened a little at a time, every slowReadEvery; the answer needs 19 windows or more) keeps
// flowing for several times timeout_client_data: each wait for the client's window is
// bounded by timeout_client_data, not the whole stream since its first wait.
func TestGRPCSlowReaderLongStream(t *testing.T) {
	checkGoroutines(t)
	const (
		timeout       = time.Second
		slowReadEvery = 200 * time.Millisecond
		step          = 300 // bytes of window per slowReadEvery
		messages      = 400 // 13 to 15 bytes each with the gRPC prefix: 19 windows or more
	)
	g1 := startGRPCMember(t, "g1", nil)
	e := newEngine(t, Options{})
	port := freePort(t)
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, g1.member("m1"))
	p.H2C = true
	l := httpListener("l1", port, "p1")
	l.TimeoutClientData = int64(timeout / time.Millisecond)
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{p}})

	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), ioWait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(patience))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range []hpack.HeaderField{{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "grpc.example.test"}, {Name: ":path", Value: "/grpc.testing.TestService/StreamingOutputCall"},
		{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"}} {
		enc.WriteField(f)
	}
	msg, err := proto.Marshal(&testpb.StreamingOutputCallRequest{ResponseParameters: make([]*testpb.ResponseParameters, messages)})
	if err != nil {
		t.Fatal(err)
	}
	body := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	body = append(body, msg...)
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteData(1, true, body); err != nil {
		t.Fatal(err)
	}

	// The reader collects the answer; this goroutine opens the window, step bytes at a time.
	type result struct {
		data   []byte
		events []string
	}
	done := make(chan result, 1)
	go func() {
		var r result
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				r.events = append(r.events, "closed: "+err.Error())
				break
			}
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				r.events = append(r.events, fmt.Sprintf("HEADERS %s grpc-status=%s", f.PseudoValue("status"), headerValue(f, "grpc-status")))
				if f.StreamEnded() {
					done <- r
					return
				}
			case *http2.DataFrame:
				r.data = append(r.data, f.Data()...)
			case *http2.RSTStreamFrame:
				r.events = append(r.events, "RST "+f.ErrCode.String())
			case *http2.GoAwayFrame:
				r.events = append(r.events, "GOAWAY "+f.ErrCode.String())
			}
		}
		done <- r
	}()
	start := time.Now()
	tick := time.NewTicker(slowReadEvery)
	defer tick.Stop()
	var r result
wait:
	for {
		select {
		case r = <-done:
			break wait
		case <-tick.C:
			fr.WriteWindowUpdate(1, step) // fails once the stream or connection ended: the reader says how
		}
	}
	took := time.Since(start)
	if got := strings.Join(r.events, ", "); got != "HEADERS 200 grpc-status=, HEADERS  grpc-status=10" {
		t.Fatalf("after %v, %d bytes: %s", took, len(r.data), got)
	}
	// Every message came, in order.
	n := 0
	for b := r.data; len(b) > 0; n++ {
		if len(b) < 5 || len(b) < 5+int(binary.BigEndian.Uint32(b[1:5])) {
			t.Fatalf("message %d cut: %q", n, b)
		}
		var m testpb.StreamingOutputCallResponse
		size := int(binary.BigEndian.Uint32(b[1:5]))
		if err := proto.Unmarshal(b[5:5+size], &m); err != nil || string(m.Payload.GetBody()) != fmt.Sprintf("g1-%d", n) {
			t.Fatalf("message %d: %q %v", n, m.Payload.GetBody(), err)
		}
		b = b[5+size:]
	}
	if n != messages {
		t.Fatalf("%d messages, want %d", n, messages)
	}
	// The window allows the answer through no faster than this: the stream outlived
	// timeout_client_data several times over.
	if took < 3*timeout {
		t.Fatalf("the answer took only %v (%d bytes): not slower than timeout_client_data", took, len(r.data))
	}
}

func headerValue(f *http2.MetaHeadersFrame, name string) string {
	for _, h := range f.RegularFields() {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}
