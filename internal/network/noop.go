package network

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"net/netip"
	"regexp"

	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Noop allocates VIPs without touching any network. It is safe for
// concurrent use and keeps no state: the same request always yields the same
// VIP.
type Noop struct{}

// NewNoop returns the noop driver.
func NewNoop() *Noop { return &Noop{} }

// AllocateVIP invents the VIP of req: the requested address, or one picked
// deterministically from 127.0.0.0/8 (never 127.0.0.1) by hashing the load
// balancer id; port, subnet and network ids not given are derived from the
// ids that were, so they are stable across calls.
func (n *Noop) AllocateVIP(ctx context.Context, req lb.VIPRequest) (lb.VIP, []lb.AdditionalVIP, error) {
	v := lb.VIP{
		Address:     req.Address,
		PortID:      req.PortID,
		SubnetID:    req.SubnetID,
		NetworkID:   req.NetworkID,
		QoSPolicyID: req.QoSPolicyID,
		SGIDs:       append([]string(nil), req.SGIDs...),
		VNICType:    lb.VNICNormal,
	}
	if v.Address == "" {
		v.Address = loopbackFor(req.LoadBalancerID)
	}
	switch {
	case v.SubnetID == "" && v.NetworkID != "":
		v.SubnetID = derivedID("subnet", v.NetworkID)
	case v.SubnetID == "" && v.PortID != "":
		v.SubnetID = derivedID("subnet", v.PortID)
	}
	if v.NetworkID == "" {
		v.NetworkID = derivedID("network", v.SubnetID)
	}
	if v.PortID == "" {
		v.PortID = derivedID("port", req.LoadBalancerID)
	}
	var extra []lb.AdditionalVIP
	for i, a := range req.Additional {
		x := lb.AdditionalVIP{SubnetID: a.SubnetID, NetworkID: v.NetworkID, IPAddress: a.IPAddress, PortID: a.PortID}
		if x.IPAddress == "" {
			x.IPAddress = loopbackFor(req.LoadBalancerID + "/" + a.SubnetID)
		}
		if x.PortID == "" {
			x.PortID = derivedID("port", req.LoadBalancerID+"/"+string(rune('0'+i))+a.SubnetID)
		}
		extra = append(extra, x)
	}
	return v, extra, nil
}

// ReleaseVIP releases nothing: the noop driver holds no resources.
func (n *Noop) ReleaseVIP(ctx context.Context, loadBalancerID string, vip lb.VIP) error {
	return nil
}

// loopbackFor hashes key onto an address of 127.0.0.0/8 other than the
// network address, 127.0.0.1 and the broadcast address.
func loopbackFor(key string) string {
	h := fnv.New32a()
	h.Write([]byte(key))
	n := h.Sum32() & 0x00ffffff
	if n <= 1 || n == 0x00ffffff {
		n = 2
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], 0x7f000000|n)
	return netip.AddrFrom4(b).String()
}

// derivedID returns a name-based (version 5 style) UUID for kind and key.
func derivedID(kind, key string) string {
	sum := sha1.Sum([]byte("fulcrum-noop-network/" + kind + "/" + key))
	u := sum[:16]
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	var buf [36]byte
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], u[10:16])
	return string(buf[:])
}

var uuidish = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

func checkID(field, id string) error {
	if !uuidish.MatchString(id) {
		return lb.InvalidField(field, id, "Value should be UUID format")
	}
	return nil
}

// CheckSubnet accepts any well-formed subnet id (noop network mode).
func (n *Noop) CheckSubnet(_ context.Context, _ store.Tx, id string) error {
	return checkID("subnet_id", id)
}

// CheckQoSPolicy accepts any well-formed QoS policy id (noop network mode).
func (n *Noop) CheckQoSPolicy(_ context.Context, _ store.Tx, id string) error {
	return checkID("vip_qos_policy_id", id)
}

// UpdateQoS checks the form of a changed vip_qos_policy_id (noop network
// mode).
func (n *Noop) UpdateQoS(_ context.Context, _ store.Tx, l *lb.LoadBalancer) error {
	if l.VIP.QoSPolicyID == "" {
		return nil
	}
	return checkID("vip_qos_policy_id", l.VIP.QoSPolicyID)
}
