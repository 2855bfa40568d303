package proxy

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// proxyV2Sig is the PROXY protocol v2 signature.
const proxyV2Sig = "\r\n\r\n\x00\r\nQUIT\n"

// proxyHeader returns the PROXY protocol header (v1 for PROXY, v2 for PROXYV2) announcing a
// TCP connection from client to local, or nil for other pool protocols.
func proxyHeader(proto dataplane.Protocol, client, local netip.AddrPort) []byte {
	src, dst := client.Addr().Unmap(), local.Addr().Unmap()
	if src.Is4() != dst.Is4() { // mixed families: announce both as IPv6
		src, dst = netip.AddrFrom16(src.As16()), netip.AddrFrom16(dst.As16())
	}
	switch proto {
	case dataplane.ProtocolProxy:
		fam := "TCP4"
		if !src.Is4() {
			fam = "TCP6"
		}
		b := []byte("PROXY " + fam + " ")
		b = src.AppendTo(b)
		b = append(b, ' ')
		b = dst.AppendTo(b)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(client.Port()), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(local.Port()), 10)
		return append(b, "\r\n"...)
	case dataplane.ProtocolProxyV2:
		b := []byte(proxyV2Sig + "\x21") // version 2, command PROXY
		if src.Is4() {
			b = append(b, 0x11, 0, 12) // TCP over IPv4, 12 address bytes
			s, d := src.As4(), dst.As4()
			b = append(append(b, s[:]...), d[:]...)
		} else {
			b = append(b, 0x21, 0, 36) // TCP over IPv6, 36 address bytes
			s, d := src.As16(), dst.As16()
			b = append(append(b, s[:]...), d[:]...)
		}
		b = binary.BigEndian.AppendUint16(b, client.Port())
		return binary.BigEndian.AppendUint16(b, local.Port())
	}
	return nil
}
