package lb

import "testing"

func sp(typ string, cookie *string, timeout *int, gran *string) *SessionPersistence {
	return &SessionPersistence{Type: typ, CookieName: cookie, PersistenceTimeout: timeout, PersistenceGranularity: gran}
}

func str(s string) *string { return &s }
func num(n int) *int       { return &n }

func TestCheckSessionPersistence(t *testing.T) {
	tests := []struct {
		name     string
		protocol string
		sp       *SessionPersistence
		update   bool
		want     string
	}{
		{"none", ProtocolHTTP, nil, false, ""},
		{"source ip on http", ProtocolHTTP, sp(PersistSourceIP, nil, nil, nil), false, ""},
		{"app cookie", ProtocolHTTP, sp(PersistAppCookie, str("SESS"), nil, nil), false, ""},
		{"app cookie missing", ProtocolHTTP, sp(PersistAppCookie, nil, nil, nil), false,
			`Validation failure: Field "cookie_name" must be specified when using the "APP_COOKIE" session persistence type.`},
		{"app cookie empty counts as missing", ProtocolHTTP, sp(PersistAppCookie, str(""), nil, nil), false,
			`Validation failure: Field "cookie_name" must be specified when using the "APP_COOKIE" session persistence type.`},
		{"cookie on http cookie", ProtocolHTTP, sp(PersistHTTPCookie, str("c"), nil, nil), false,
			`Validation failure: Field "cookie_name" can only be specified with session persistence of type "APP_COOKIE".`},
		{"bad cookie", ProtocolHTTP, sp(PersistAppCookie, str("a/b"), nil, nil), false, `Validation failure: Supplied "cookie_name" is invalid.`},
		{"timeout on tcp", ProtocolTCP, sp(PersistSourceIP, nil, num(30), nil), false,
			"Validation failure: persistence_timeout and persistence_granularity is only for UDP and SCTP protocol pools."},
		{"timeout on tcp update wording", ProtocolTCP, sp(PersistSourceIP, nil, num(30), nil), true,
			"Validation failure: persistence_timeout and persistence_granularity is only for UDP protocol pools."},
		{"zero timeout counts as absent", ProtocolTCP, sp(PersistSourceIP, nil, num(0), nil), false, ""},
		{"udp source ip with timeout", ProtocolUDP, sp(PersistSourceIP, nil, num(30), str("255.255.255.0")), false, ""},
		{"udp source ip with cookie", ProtocolUDP, sp(PersistSourceIP, str("c"), nil, nil), false,
			"Validation failure: session_persistence SOURCE_IP type for UDP and SCTP protocols only accepts: type, persistence_timeout, persistence_granularity."},
		{"udp app cookie with cookie", ProtocolSCTP, sp(PersistAppCookie, str("c"), nil, nil), false,
			"Validation failure: Cookie names are not supported for UDP/SCTP pools."},
		{"udp http cookie", ProtocolUDP, sp(PersistHTTPCookie, nil, nil, nil), false,
			"Validation failure: Session persistence of type HTTP_COOKIE is not supported for UDP/SCTP protocol pools."},
		{"udp bad granularity", ProtocolUDP, sp(PersistSourceIP, nil, nil, str("255.0.255.0")), false,
			"Invalid input for field/attribute persistence_granularity. Value: '255.0.255.0'. Value should be IPv4 or IPv6 format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := CheckSessionPersistence(tt.protocol, tt.sp, tt.update); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("CheckSessionPersistence(%s, %+v, %v)\n got: %s\nwant: %s", tt.protocol, tt.sp, tt.update, got, tt.want)
			}
		})
	}
}

func TestCheckMemberAddress(t *testing.T) {
	reserved := []string{"169.254.169.254", "fd00::1"}
	tests := []struct{ name, address, want string }{
		{"ordinary", "192.0.2.1", ""},
		{"reserved v4", "169.254.169.254", "169.254.169.254 is not a valid option for member address"},
		{"reserved v6 shown expanded", "fd00:0::1", "FD00:0000:0000:0000:0000:0000:0000:0001 is not a valid option for member address"},
		{"not an address", "x", "Invalid input for field/attribute address. Value: 'x'. Value should be IPv4 or IPv6 format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := CheckMemberAddress(tt.address, reserved); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("CheckMemberAddress(%q)\n got: %s\nwant: %s", tt.address, got, tt.want)
			}
		})
	}
}
