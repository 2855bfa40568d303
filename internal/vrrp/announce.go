package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Announce sends, on interface ifname, two gratuitous ARPs for each IPv4 address of vips
// saying that it is at mac: ARP requests whose sender and target address are the VIP and
// whose sender hardware address is mac. Hosts on the segment update their entry at once
// (Linux takes a gratuitous ARP even within its locktime).
//
// A member that yields its VIPs to its peer in a split brain (Supervisor.Hold) announces
// them at the peer's MAC first, so that clients its own traffic drew back to it move to
// the peer before it lets the addresses go: without a virtual MAC, keepalived's own
// gratuitous ARPs come only when a member becomes MASTER. IPv6 VIPs are not announced.
//
// It needs CAP_NET_RAW and works in the network namespace of the calling thread.
func Announce(ifname string, mac net.HardwareAddr, vips []netip.Prefix) error {
	if len(mac) != 6 {
		return fmt.Errorf("vrrp announce: %v is not an Ethernet address", mac)
	}
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return fmt.Errorf("vrrp announce: %w", err)
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(syscall.ETH_P_ARP)))
	if err != nil {
		return fmt.Errorf("vrrp announce: %w", err)
	}
	defer syscall.Close(fd)
	to := &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_ARP), Ifindex: ifc.Index, Halen: 6}
	copy(to.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	var errs []error
	for _, v := range vips {
		a := v.Addr().Unmap()
		if !a.Is4() {
			continue
		}
		frame := garp(ifc.HardwareAddr, mac, a)
		for range 2 {
			if err := syscall.Sendto(fd, frame, 0, to); err != nil {
				errs = append(errs, fmt.Errorf("vrrp announce %v on %s: %w", a, ifname, err))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// garp builds the Ethernet frame of a gratuitous ARP request for ip at mac, sent from src.
func garp(src, mac net.HardwareAddr, ip netip.Addr) []byte {
	b := make([]byte, 14+28)
	copy(b[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:14], syscall.ETH_P_ARP)
	arp := b[14:]
	binary.BigEndian.PutUint16(arp[0:2], 1)      // Ethernet
	binary.BigEndian.PutUint16(arp[2:4], 0x0800) // IPv4
	arp[4], arp[5] = 6, 4
	binary.BigEndian.PutUint16(arp[6:8], 1) // request
	copy(arp[8:14], mac)
	ip4 := ip.As4()
	copy(arp[14:18], ip4[:])
	// Target hardware address zero, target protocol address the VIP: a gratuitous ARP.
	copy(arp[24:28], ip4[:])
	return b
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
