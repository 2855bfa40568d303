package proxy

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestAddrSet(t *testing.T) {
	s := NewAddrSet([]string{"127.0.0.2/32", "10.0.0.0/8", "::1/128", "fd00::/64", "bogus", "192.168.1.77/24"})
	for addr, want := range map[string]bool{
		"127.0.0.2": true, "127.0.0.3": false, "10.200.3.4": true, "11.0.0.1": false, "::1": true, "::2": false,
		"fd00::5": true, "fd01::5": false, "::ffff:127.0.0.2": true, "::ffff:10.1.1.1": true, "192.168.1.200": true,
	} {
		if got := s.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", addr, got, want)
		}
	}
	if (&AddrSet{}).Contains(netip.MustParseAddr("127.0.0.1")) {
		t.Error("the zero set admits someone")
	}
}

// BenchmarkIngressAdmit is the accept-time cost of a security-group filter
// resolved to 10,000 member addresses and a few prefixes.
func BenchmarkIngressAdmit(b *testing.B) {
	var allow []string
	for i := 0; i < 10000; i++ {
		allow = append(allow, fmt.Sprintf("10.%d.%d.1/32", i/256, i%256))
	}
	allow = append(allow, "192.168.0.0/16", "172.16.0.0/12", "::/0")
	f := &Frontend{Ingress: NewAddrSet(allow)}
	hit, miss := netip.MustParseAddr("10.20.30.1"), netip.MustParseAddr("127.0.0.9")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !f.AllowedAddr(hit) || f.AllowedAddr(miss) {
			b.Fatal("wrong answer")
		}
	}
}
