package healthcheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"
)

func probeTCP(ctx context.Context, addr netip.AddrPort) (bool, string) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return false, errDetail("connect", err)
	}
	c.Close()
	return true, "TCP connect ok"
}

func probeHTTP(ctx context.Context, spec Spec, addr netip.AddrPort, useTLS bool) (bool, string) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return false, errDetail("connect", err)
	}
	defer raw.Close()
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	c := raw
	if useTLS {
		// Members' certificates are not verified, as HAProxy's "check-ssl verify none".
		tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, ServerName: spec.Host, Certificates: spec.ClientCertificates})
		if err := tc.HandshakeContext(ctx); err != nil {
			return false, errDetail("TLS handshake", err)
		}
		c = tc
	}
	req := spec.Method + " " + spec.Path + " HTTP/" + spec.Version + "\r\n"
	if spec.Host != "" {
		req += "Host: " + spec.Host + "\r\n"
	} else if spec.Version == "1.1" {
		req += "Host: " + addr.String() + "\r\n"
	}
	req += "User-Agent: fulcrum-health-check\r\nConnection: close\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		return false, errDetail("send request", err)
	}
	line, err := bufio.NewReaderSize(c, 512).ReadSlice('\n')
	if err != nil {
		if isTimeout(err) {
			return false, fmt.Sprintf("no response within %v", spec.Timeout)
		}
		return false, errDetail("read response", err)
	}
	if len(line) < 12 || string(line[:5]) != "HTTP/" || line[8] != ' ' {
		return false, "malformed HTTP status line"
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return false, "malformed HTTP status line"
	}
	if !spec.Codes.Match(code) {
		return false, fmt.Sprintf("HTTP %d, expected %v", code, codesText(spec))
	}
	return true, fmt.Sprintf("HTTP %d", code)
}

func codesText(spec Spec) string {
	s := ""
	for i, r := range spec.Codes {
		if i > 0 {
			s += ","
		}
		if r.Lo == r.Hi {
			s += strconv.Itoa(r.Lo)
		} else {
			s += fmt.Sprintf("%d-%d", r.Lo, r.Hi)
		}
	}
	return s
}

// probeTLSHello succeeds when the member answers a TLS ClientHello: a completed handshake,
// or a TLS alert (the member speaks TLS but dislikes something, e.g. wants a client
// certificate).
func probeTLSHello(ctx context.Context, addr netip.AddrPort) (bool, string) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return false, errDetail("connect", err)
	}
	defer raw.Close()
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	err = tc.HandshakeContext(ctx)
	var alert tls.AlertError
	switch {
	case err == nil:
		return true, "TLS handshake ok"
	case errors.As(err, &alert):
		return true, "TLS alert from server: " + alert.Error()
	}
	return false, errDetail("TLS hello", err)
}

// udpWait bounds how long a UDP-CONNECT probe waits for an ICMP error.
const udpWait = time.Second

// probeUDP sends a datagram on a connected socket and fails when ICMP port unreachable
// comes back (seen as ECONNREFUSED); silence or a reply count as up.
func probeUDP(ctx context.Context, addr netip.AddrPort) (bool, string) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return false, errDetail("connect", err)
	}
	defer c.Close()
	wait := time.Now().Add(udpWait)
	if dl, ok := ctx.Deadline(); ok && dl.Before(wait) {
		wait = dl
	}
	c.SetDeadline(wait)
	if _, err := c.Write([]byte("fulcrum health check\n")); err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return false, "ICMP port unreachable"
		}
		return false, errDetail("send", err)
	}
	buf := make([]byte, 512)
	_, err = c.Read(buf)
	switch {
	case err == nil:
		return true, "UDP reply received"
	case errors.Is(err, syscall.ECONNREFUSED):
		return false, "ICMP port unreachable"
	case isTimeout(err):
		return true, "no ICMP error"
	}
	return false, errDetail("receive", err)
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
