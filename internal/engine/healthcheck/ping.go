package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// probePing sends one ICMP echo request and waits for the reply. It first tries an
// unprivileged ICMP datagram socket (allowed when the process's group is inside
// net.ipv4.ping_group_range), then a raw socket (root or CAP_NET_RAW).
func probePing(ctx context.Context, addr netip.Addr) (bool, string) {
	addr = addr.Unmap()
	dgram, raw, proto := "udp4", "ip4:icmp", 1
	var echo, reply icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if addr.Is6() {
		dgram, raw, proto = "udp6", "ip6:ipv6-icmp", 58
		echo, reply = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	privileged := false
	c, err := icmp.ListenPacket(dgram, "")
	if err != nil {
		var rawErr error
		c, rawErr = icmp.ListenPacket(raw, "")
		if rawErr != nil {
			return false, fmt.Sprintf("PING needs an ICMP socket: datagram socket refused (%v; widen net.ipv4.ping_group_range to this process's group) and raw socket refused (%v; needs root or CAP_NET_RAW)", err, rawErr)
		}
		privileged = true
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	id, seq := rand.IntN(0xffff), rand.IntN(0xffff)
	payload := []byte(fmt.Sprintf("fulcrum %d", time.Now().UnixNano()))
	msg := icmp.Message{Type: echo, Body: &icmp.Echo{ID: id, Seq: seq, Data: payload}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return false, errDetail("build echo", err)
	}
	var dst net.Addr = &net.UDPAddr{IP: addr.AsSlice()}
	if privileged {
		dst = &net.IPAddr{IP: addr.AsSlice()}
	}
	if _, err := c.WriteTo(b, dst); err != nil {
		return false, errDetail("send echo", err)
	}
	buf := make([]byte, 1500)
	for {
		n, peer, err := c.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return false, "no echo reply before timeout"
			}
			return false, errDetail("receive", err)
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != reply {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		// The kernel rewrites the id of datagram sockets, so match on seq and payload.
		if !ok || e.Seq != seq || string(e.Data) != string(payload) {
			continue
		}
		if privileged {
			if pa, ok := peer.(*net.IPAddr); !ok || !pa.IP.Equal(addr.AsSlice()) {
				continue
			}
		}
		return true, "echo reply"
	}
}
