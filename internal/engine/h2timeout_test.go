package engine

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// h2Events reads frames until the connection ends or want is seen, and says what came
// (HEADERS with their status, DATA, RST_STREAM and GOAWAY with their codes).
func (r *rawH2) h2Events(t *testing.T, want string) string {
	t.Helper()
	var ev []string
	r.c.SetReadDeadline(time.Now().Add(patience))
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			ev = append(ev, "closed")
			break
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			ev = append(ev, "HEADERS "+f.PseudoValue("status"))
		case *http2.DataFrame:
			if len(f.Data()) > 0 {
				ev = append(ev, "DATA "+string(f.Data()))
			}
		case *http2.RSTStreamFrame:
			ev = append(ev, "RST "+f.ErrCode.String())
		case *http2.GoAwayFrame:
			ev = append(ev, "GOAWAY "+f.ErrCode.String())
		}
		if want != "" && strings.HasSuffix(strings.Join(ev, ", "), want) {
			break
		}
	}
	return strings.Join(ev, ", ")
}

// TestH2ClientTimeouts: timeout_client_data on an HTTP/2 connection is the idle timeout
// (GOAWAY, then the connection closed), bounds the wait for an answer the client's window
// does not let through (the stream is reset) and for a request body (the stream ends
// without a 200); Expect: 100-continue is answered when the body is read.
func TestH2ClientTimeouts(t *testing.T) {
	checkGoroutines(t)
	a := newH2Listener(t, 400*time.Millisecond, nil)

	r := a.dial()
	if got := r.h2Events(t, "closed"); got != "GOAWAY NO_ERROR, closed" {
		t.Errorf("idle: %s", got)
	}

	// A client whose stream window is 0 never lets the answer's body through.
	r = a.dial()
	if err := r.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		t.Fatal(err)
	}
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: r.block("/"), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if got := r.h2Events(t, "RST INTERNAL_ERROR"); got != "HEADERS 200, RST INTERNAL_ERROR" {
		t.Errorf("stalled window: %s", got)
	}
	r.c.Close()

	// A body that stops coming.
	r = a.dial()
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true,
		BlockFragment: r.block("/", hpack.HeaderField{Name: "content-length", Value: "10"})}); err != nil {
		t.Fatal(err)
	}
	r.fr.WriteData(1, false, []byte("01234"))
	if got := r.h2Events(t, ""); strings.Contains(got, "HEADERS 200") || !strings.Contains(got, "RST") && !strings.Contains(got, "HEADERS 408") {
		t.Errorf("stalled body: %s", got)
	}
	r.c.Close()

	// Expect: 100-continue: the 100 comes before the body is sent, then the answer.
	r = a.dial()
	blk := r.block("/", hpack.HeaderField{Name: "content-length", Value: "5"}, hpack.HeaderField{Name: "expect", Value: "100-continue"})
	blk = append(blk[:0:0], blk...)
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if got := r.h2Events(t, "HEADERS 100"); got != "HEADERS 100" {
		t.Fatalf("expect: %s", got)
	}
	r.fr.WriteData(1, true, []byte("hello"))
	if got := r.h2Events(t, "DATA b1"); got != "HEADERS 200, DATA b1" {
		t.Errorf("expect: then %s", got)
	}
	r.c.Close()
}

// TestH2InadequateSecurity: a client that negotiates h2 over TLS 1.2 with a cipher
// HTTP/2 forbids (RFC 9113 §9.2.2: no AEAD) gets GOAWAY INADEQUATE_SECURITY.
func TestH2InadequateSecurity(t *testing.T) {
	checkGoroutines(t)
	a := newH2Listener(t, 5*patience, func(l *dataplane.Listener) {
		l.TLS.Versions = []string{"TLSv1.2"}
		l.TLS.Ciphers = "ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA"
	})
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: ioWait}, "tcp", a.addr, &tls.Config{RootCAs: a.ca.pool(), ServerName: "h2.example.test",
		NextProtos: []string{"h2"}, MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN: %q", p)
	}
	c.Write([]byte(http2.ClientPreface))
	r := &rawH2{c: c, fr: http2.NewFramer(c, c)}
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if got := r.h2Events(t, "closed"); got != "GOAWAY INADEQUATE_SECURITY, closed" {
		t.Errorf("got %s", got)
	}
}
