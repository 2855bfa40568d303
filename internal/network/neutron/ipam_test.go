package neutron

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestParseSubnet(t *testing.T) {
	tests := []struct {
		name      string
		in        Subnet
		noGateway bool
		wantGW    string
		wantPools []AllocationPool
		wantErr   bool
	}{
		{"v4 defaults", Subnet{CIDR: "127.10.0.0/16"}, false, "127.10.0.1", []AllocationPool{{"127.10.0.2", "127.10.255.254"}}, false},
		{"v4 gateway in the middle", Subnet{CIDR: "192.168.1.0/24", GatewayIP: "192.168.1.100"}, false, "192.168.1.100",
			[]AllocationPool{{"192.168.1.1", "192.168.1.99"}, {"192.168.1.101", "192.168.1.254"}}, false},
		{"v4 no gateway", Subnet{CIDR: "10.0.0.0/30"}, true, "", []AllocationPool{{"10.0.0.1", "10.0.0.2"}}, false},
		{"v6 defaults", Subnet{CIDR: "fd00::/64", IPVersion: 6}, false, "fd00::1", []AllocationPool{{"fd00::2", "fd00::ffff:ffff:ffff:ffff"}}, false},
		{"explicit pools", Subnet{CIDR: "127.20.0.0/24", AllocationPools: []AllocationPool{{"127.20.0.10", "127.20.0.20"}}}, false, "127.20.0.1",
			[]AllocationPool{{"127.20.0.10", "127.20.0.20"}}, false},
		{"pool outside cidr", Subnet{CIDR: "127.20.0.0/24", AllocationPools: []AllocationPool{{"127.20.1.10", "127.20.1.20"}}}, false, "", nil, true},
		{"pool holds gateway", Subnet{CIDR: "127.20.0.0/24", AllocationPools: []AllocationPool{{"127.20.0.1", "127.20.0.20"}}}, false, "", nil, true},
		{"overlapping pools", Subnet{CIDR: "127.20.0.0/24", AllocationPools: []AllocationPool{{"127.20.0.5", "127.20.0.20"}, {"127.20.0.10", "127.20.0.30"}}}, false, "", nil, true},
		{"host bits set", Subnet{CIDR: "127.10.0.1/16"}, false, "", nil, true},
		{"version mismatch", Subnet{CIDR: "127.10.0.0/16", IPVersion: 6}, false, "", nil, true},
		{"garbage", Subnet{CIDR: "nope"}, false, "", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.in
			err := ParseSubnet(&s, tc.noGateway)
			if tc.wantErr {
				var bre *BadRequestError
				if !errors.As(err, &bre) {
					t.Fatalf("ParseSubnet(%+v): got %v, want a BadRequestError", tc.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSubnet(%+v): %v", tc.in, err)
			}
			if s.GatewayIP != tc.wantGW || !reflect.DeepEqual(s.AllocationPools, tc.wantPools) {
				t.Errorf("ParseSubnet(%+v): got gateway %q pools %v, want %q %v", tc.in, s.GatewayIP, s.AllocationPools, tc.wantGW, tc.wantPools)
			}
		})
	}
}

// TestLowestFree walks an allocation scenario step by step.
func TestLowestFree(t *testing.T) {
	s := Subnet{CIDR: "127.30.0.0/29", GatewayIP: "127.30.0.1"}
	if err := ParseSubnet(&s, false); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		used []string
		want string
	}{
		{"empty subnet gives the first pool address", nil, "127.30.0.2"},
		{"skips used", []string{"127.30.0.2"}, "127.30.0.3"},
		{"fills a hole first", []string{"127.30.0.2", "127.30.0.4", "127.30.0.3", "127.30.0.6"}, "127.30.0.5"},
		{"last one", []string{"127.30.0.2", "127.30.0.3", "127.30.0.4", "127.30.0.5"}, "127.30.0.6"},
		{"full", []string{"127.30.0.2", "127.30.0.3", "127.30.0.4", "127.30.0.5", "127.30.0.6"}, ""},
	}
	for _, st := range steps {
		got, err := s.LowestFree(st.used)
		if st.want == "" {
			if !errors.Is(err, ErrNoFreeAddress) {
				t.Errorf("%s: got %q, %v; want ErrNoFreeAddress", st.name, got, err)
			}
			continue
		}
		if err != nil || got != st.want {
			t.Errorf("%s: LowestFree(%v) = %q, %v; want %q", st.name, st.used, got, err, st.want)
		}
	}
	if n := s.PoolSize().Int64(); n != 5 {
		t.Errorf("PoolSize = %d, want 5", n)
	}
	if !s.Contains("127.30.0.7") || s.Contains("127.30.0.8") || !s.InPools("127.30.0.6") || s.InPools("127.30.0.1") {
		t.Errorf("Contains/InPools wrong")
	}
}

// TestChoose: the order IPAM hands addresses out in, step by step: never
// used first (lowest), then the one released longest ago.
func TestChoose(t *testing.T) {
	s := Subnet{CIDR: "127.30.0.0/29"}
	if err := ParseSubnet(&s, false); err != nil { // pool .2–.6, gateway .1
		t.Fatal(err)
	}
	at := func(sec int) time.Time { return time.Unix(int64(1000+sec), 0) }
	rel := func(ip string, sec int) IPRelease { return IPRelease{IPAddress: ip, ReleasedAt: at(sec)} }
	tests := []struct {
		name     string
		used     []string
		released []IPRelease
		want     string
	}{
		{"empty subnet: lowest", []string{"127.30.0.1"}, nil, "127.30.0.2"},
		{"released skipped while a never-used one is free", []string{"127.30.0.1", "127.30.0.3"}, []IPRelease{rel("127.30.0.2", 5)}, "127.30.0.4"},
		{"then the one released longest ago", []string{"127.30.0.1", "127.30.0.3", "127.30.0.6"},
			[]IPRelease{rel("127.30.0.2", 9), rel("127.30.0.5", 3), rel("127.30.0.4", 7)}, "127.30.0.5"},
		{"ties by address", []string{"127.30.0.1"},
			[]IPRelease{rel("127.30.0.6", 1), rel("127.30.0.4", 1), rel("127.30.0.2", 1), rel("127.30.0.3", 1), rel("127.30.0.5", 1)}, "127.30.0.2"},
		{"a released address in use again is skipped", []string{"127.30.0.1", "127.30.0.2", "127.30.0.3", "127.30.0.4", "127.30.0.5"},
			[]IPRelease{rel("127.30.0.2", 1), rel("127.30.0.6", 2)}, "127.30.0.6"},
		{"full", []string{"127.30.0.1", "127.30.0.2", "127.30.0.3", "127.30.0.4", "127.30.0.5", "127.30.0.6"}, []IPRelease{rel("127.30.0.2", 1)}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Choose(tc.used, tc.released)
			if tc.want == "" {
				if !errors.Is(err, ErrNoFreeAddress) {
					t.Fatalf("Choose = %q, %v; want ErrNoFreeAddress", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Choose(used %v, released %v) = %q, %v; want %s", tc.used, tc.released, got, err, tc.want)
			}
		})
	}
}
