package compile

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/lb"
)

func prefixes(ss ...string) []netip.Prefix {
	out := []netip.Prefix{}
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// TestIngressFor: the VIP port's ingress rules reduced to one listener,
// rule part by rule part.
func TestIngressFor(t *testing.T) {
	tcp80 := &lb.Listener{ID: "l", Protocol: lb.ProtocolTCP, ProtocolPort: 80}
	http8080 := &lb.Listener{ID: "l", Protocol: lb.ProtocolHTTP, ProtocolPort: 8080}
	udp53 := &lb.Listener{ID: "l", Protocol: lb.ProtocolUDP, ProtocolPort: 53}
	tests := []struct {
		name string
		in   *Ingress
		li   *lb.Listener
		want []string // nil: no filter
	}{
		{"no groups: no filter", nil, tcp80, nil},
		{"groups without ingress rules admit nobody", &Ingress{}, tcp80, []string{}},
		{"any protocol, any address, IPv4", &Ingress{Rules: []IngressRule{{Protocol: -1}}}, tcp80, []string{"0.0.0.0/0"}},
		{"IPv6 rule admits only IPv6", &Ingress{Rules: []IngressRule{{IPv6: true, Protocol: -1}}}, tcp80, []string{"::/0"}},
		{"tcp rule on the listener's port", &Ingress{Rules: []IngressRule{{Protocol: 6, PortMin: 80, PortMax: 80, Remote: prefixes("127.0.0.2/32")}}}, tcp80, []string{"127.0.0.2/32"}},
		{"tcp rule on another port", &Ingress{Rules: []IngressRule{{Protocol: 6, PortMin: 81, PortMax: 90, Remote: prefixes("127.0.0.2/32")}}}, tcp80, []string{}},
		{"range edges included", &Ingress{Rules: []IngressRule{{Protocol: 6, PortMin: 8000, PortMax: 8080}}}, http8080, []string{"0.0.0.0/0"}},
		{"HTTP listeners are TCP", &Ingress{Rules: []IngressRule{{Protocol: 6}}}, http8080, []string{"0.0.0.0/0"}},
		{"tcp rule does not admit UDP", &Ingress{Rules: []IngressRule{{Protocol: 6}}}, udp53, []string{}},
		{"udp rule admits UDP", &Ingress{Rules: []IngressRule{{Protocol: 17, PortMin: 53, PortMax: 53, Remote: prefixes("127.0.0.9/32")}}}, udp53, []string{"127.0.0.9/32"}},
		{"icmp rule admits no listener", &Ingress{Rules: []IngressRule{{Protocol: 1}}}, tcp80, []string{}},
		{"remote group without members", &Ingress{Rules: []IngressRule{{Protocol: -1, Remote: []netip.Prefix{}}}}, tcp80, []string{}},
		{"prefix of the other family dropped", &Ingress{Rules: []IngressRule{{Protocol: -1, Remote: prefixes("::1/128", "127.0.0.4/32")}}}, tcp80, []string{"127.0.0.4/32"}},
		{"host bits masked", &Ingress{Rules: []IngressRule{{Protocol: -1, Remote: prefixes("127.0.9.9/24")}}}, tcp80, []string{"127.0.9.0/24"}},
		{"covered and repeated prefixes merged", &Ingress{Rules: []IngressRule{
			{Protocol: -1, Remote: prefixes("127.0.0.5/32", "127.0.0.0/8", "127.0.0.5/32", "10.1.2.3/32")},
			{Protocol: 6, Remote: prefixes("10.1.2.3/32", "10.0.0.0/16")},
			{IPv6: true, Protocol: 6, Remote: prefixes("::1/128", "::1/128")},
		}}, tcp80, []string{"127.0.0.0/8", "10.0.0.0/16", "10.1.2.3/32", "::1/128"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ingressFor(tc.in, tc.li)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if got != nil {
					t.Fatalf("ingressFor(%+v) = %+v, want no filter", tc.in, got)
				}
				return
			}
			if got == nil || !reflect.DeepEqual(got.Allow, tc.want) {
				t.Fatalf("ingressFor(%+v, %s/%d) = %+v, want %q", tc.in, tc.li.Protocol, tc.li.ProtocolPort, got, tc.want)
			}
		})
	}
}

func TestIngressTooManyPrefixes(t *testing.T) {
	var remote []netip.Prefix
	for i := 0; i <= dataplane.MaxIngressPrefixes; i++ {
		remote = append(remote, netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.1/32", i/256, i%256)))
	}
	_, err := ingressFor(&Ingress{Rules: []IngressRule{{Protocol: -1, Remote: remote}}}, &lb.Listener{ID: "l", Protocol: lb.ProtocolTCP, ProtocolPort: 80})
	var u *Unsupported
	if !errors.As(err, &u) {
		t.Fatalf("%d prefixes: %v, want *Unsupported", len(remote), err)
	}
}
