package lb

import "testing"

func TestMemberAddressPolicy(t *testing.T) {
	loopbackOnly, err := ParseMemberAddressPolicy([]string{"127.0.0.0/8", "::1"}, DefaultMemberDeny)
	if err != nil {
		t.Fatal(err)
	}
	defaults, _ := ParseMemberAddressPolicy(nil, DefaultMemberDeny)
	tests := []struct {
		name string
		p    MemberAddressPolicy
		m    Member
		want string // "" = allowed
	}{
		{"loopback allowed", loopbackOnly, Member{Address: "127.0.0.10"}, ""},
		{"v6 loopback allowed", loopbackOnly, Member{Address: "::1"}, ""},
		{"mapped v4 loopback", loopbackOnly, Member{Address: "::ffff:127.0.0.1"}, ""},
		{"outside allow list", loopbackOnly, Member{Address: "1.2.3.4"}, "1.2.3.4 is not a valid option for member address"},
		{"monitor address outside", loopbackOnly, Member{Address: "127.0.0.1", MonitorAddress: "10.0.0.1"}, "10.0.0.1 is not a valid option for member monitor_address"},
		{"metadata denied by default", defaults, Member{Address: "169.254.169.254"}, "169.254.169.254 is not a valid option for member address"},
		{"anything else allowed by default", defaults, Member{Address: "192.0.2.1"}, ""},
		{"garbage", defaults, Member{Address: "nope"}, "nope is not a valid option for member address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Check(&tc.m)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Check(%+v) = %q, want %q", tc.m, got, tc.want)
			}
		})
	}
	if _, err := ParseMemberAddressPolicy([]string{"not-a-cidr"}, nil); err == nil {
		t.Error("bad CIDR accepted")
	}
}
