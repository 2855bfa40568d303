package lb

import "testing"

func TestL7RuleValidate(t *testing.T) {
	const prefix = "Error parsing L7Rule: "
	tests := []struct {
		name, typ, cmp string
		key            *string
		value, want    string
	}{
		{"path starts with", RulePath, CompareStartsWith, nil, "/api", ""},
		{"host regex", RuleHostName, CompareRegex, nil, `^(www\.)?example\.com$`, ""},
		{"host quoted with space", RuleHostName, CompareEqualTo, nil, `"a b"`, ""},
		{"path with space", RulePath, CompareContains, nil, "a b", prefix + "Invalid characters in comparison value"},
		{"empty value", RulePath, CompareEqualTo, nil, "", prefix + "Invalid L7 Rule: L7 rule type requires a value"},
		{"file type equal", RuleFileType, CompareEqualTo, nil, "jpg", ""},
		{"file type starts with", RuleFileType, CompareStartsWith, nil, "jpg", prefix + "Invalid L7 Rule: invalid comparison type for rule type"},
		{"file type regex", RuleFileType, CompareRegex, nil, `^(jpe?g|png)$`, ""},
		{"header without key", RuleHeader, CompareEqualTo, nil, "x", prefix + "Invalid L7 Rule: L7 rule type requires a key"},
		{"header bad key", RuleHeader, CompareEqualTo, str("X Y"), "x", prefix + "Invalid characters in key"},
		{"header comma key (Octavia's +-. range)", RuleHeader, CompareEqualTo, str("X,Y"), "x", ""},
		{"header bad value", RuleHeader, CompareEqualTo, str("X-A"), "a b", prefix + "Invalid characters in header value"},
		{"header quoted value", RuleHeader, CompareEqualTo, str("X-A"), `"a b"`, ""},
		{"cookie", RuleCookie, CompareEqualTo, str("sess"), "abc", ""},
		{"cookie comma value", RuleCookie, CompareEqualTo, str("sess"), "a,b", ""},
		{"cookie semicolon", RuleCookie, CompareEqualTo, str("sess"), "a;b", prefix + "Invalid characters in cookie value"},
		{"cookie quoted value refused", RuleCookie, CompareEqualTo, str("sess"), `"ab"`, prefix + "Invalid characters in cookie value"},
		{"cookie bad regex", RuleCookie, CompareRegex, str("sess"), "(", prefix + "Unable to parse regular expression: missing closing ): `(`"},
		{"RE2 refuses look-ahead", RulePath, CompareRegex, nil, "^/(?=api)", prefix + "Unable to parse regular expression: invalid or unsupported Perl syntax: `(?=`"},
		{"RE2 refuses back-references", RulePath, CompareRegex, nil, `(a)\1`, prefix + "Unable to parse regular expression: invalid escape sequence: `\\1`"},
		{"has cert", RuleSSLConnHasCert, CompareEqualTo, nil, "TRUE", ""},
		{"has cert with key", RuleSSLConnHasCert, CompareEqualTo, str("k"), "true", prefix + `Invalid L7 Rule: L7rule type SSL_CONN_HAS_CERT does not use the "key" field.`},
		{"has cert not true", RuleSSLConnHasCert, CompareEqualTo, nil, "yes", prefix + "Invalid L7 Rule: L7rule value yes is not a boolean True string."},
		{"has cert contains", RuleSSLConnHasCert, CompareContains, nil, "true", prefix + "Invalid L7 Rule: L7rule type SSL_CONN_HAS_CERT only supports the EQUAL_TO compare type."},
		{"verify result", RuleSSLVerifyResult, CompareEqualTo, nil, "0", ""},
		{"verify result negative", RuleSSLVerifyResult, CompareEqualTo, nil, "-1", prefix + "Invalid L7 Rule: L7rule type SSL_VERIFY_RESULT needs a int value, which is >= 0"},
		{"verify result starts with", RuleSSLVerifyResult, CompareStartsWith, nil, "1", prefix + "Invalid L7 Rule: L7rule type SSL_VERIFY_RESULT only supports the EQUAL_TO compare type."},
		{"dn field", RuleSSLDNField, CompareEndsWith, str("CN"), "example.com", ""},
		{"dn field bad key", RuleSSLDNField, CompareEqualTo, str("1CN"), "x", prefix + "Invalid L7 Rule: Invalid L7rule distinguished name field."},
		{"dn field no key", RuleSSLDNField, CompareEqualTo, nil, "x", prefix + "Invalid L7 Rule: L7rule type SSL_DN_FIELD needs to specify a key and a value."},
		{"dn field bad regex first", RuleSSLDNField, CompareRegex, nil, "(", prefix + "Unable to parse regular expression: missing closing ): `(`"},
		{"unknown type", "URL", CompareEqualTo, nil, "x", prefix + "Invalid L7 Rule: invalid rule type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &L7Rule{Type: tt.typ, CompareType: tt.cmp, Key: tt.key, Value: tt.value}
			got := ""
			if err := r.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate(%s %s key=%v value=%q)\n got: %s\nwant: %s", tt.typ, tt.cmp, tt.key, tt.value, got, tt.want)
			}
		})
	}
}

func TestL7PolicyArgsSanitize(t *testing.T) {
	pool, url := "1c2f0000-0000-4000-8000-000000000001", "https://example.com"
	tests := []struct {
		name    string
		args    L7PolicyArgs
		create  bool
		wantErr string
		want    L7Policy
	}{
		{name: "reject", args: L7PolicyArgs{Action: Some(ActionReject)}, create: true, want: L7Policy{Action: ActionReject}},
		{name: "reject drops url and pool", args: L7PolicyArgs{Action: Some(ActionReject), RedirectURL: Some(url), RedirectPoolID: Some(pool)}, create: true,
			want: L7Policy{Action: ActionReject}},
		{name: "reject with prefix becomes prefix", args: L7PolicyArgs{Action: Some(ActionReject), RedirectPrefix: Some(url)}, create: true,
			want: L7Policy{Action: ActionRedirectPrefix, RedirectPrefix: &url, RedirectHTTPCode: num(302)}},
		{name: "url defaults to 302", args: L7PolicyArgs{Action: Some(ActionRedirectToURL), RedirectURL: Some(url)}, create: true,
			want: L7Policy{Action: ActionRedirectToURL, RedirectURL: &url, RedirectHTTPCode: num(302)}},
		{name: "url keeps its code", args: L7PolicyArgs{Action: Some(ActionRedirectToURL), RedirectURL: Some(url), RedirectHTTPCode: Some(308)}, create: true,
			want: L7Policy{Action: ActionRedirectToURL, RedirectURL: &url, RedirectHTTPCode: num(308)}},
		{name: "pool drops the code", args: L7PolicyArgs{Action: Some(ActionRedirectToPool), RedirectPoolID: Some(pool), RedirectHTTPCode: Some(301)}, create: true,
			want: L7Policy{Action: ActionRedirectToPool, RedirectPoolID: pool}},
		{name: "url without url", args: L7PolicyArgs{Action: Some(ActionRedirectToURL)}, create: true,
			wantErr: "Invalid L7 Policy arguments: redirect_url must not be None"},
		{name: "pool and prefix", args: L7PolicyArgs{Action: Some(ActionRedirectPrefix), RedirectPrefix: Some(url), RedirectPoolID: Some(pool)}, create: true,
			wantErr: "Invalid L7 Policy arguments: Cannot specify redirect_pool_id and redirect_url or redirect_prefix at the same time"},
		{name: "null action", args: L7PolicyArgs{Action: Null[string]()}, wantErr: "Invalid L7 Policy action specified: None"},
		{name: "create without action", args: L7PolicyArgs{}, create: true, wantErr: "Invalid L7 Policy action specified: None"},
		{name: "embedded redirect pool", args: L7PolicyArgs{Action: Some(ActionRedirectToPool), RedirectPool: true}, create: true,
			want: L7Policy{Action: ActionRedirectToPool}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.args
			err := a.Sanitize(tt.create)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Fatalf("Sanitize(%+v): error %q, want %q", tt.args, got, tt.wantErr)
			}
			if err != nil {
				return
			}
			var p L7Policy
			a.ApplyCreate(&p)
			if p.Action != tt.want.Action || p.RedirectPoolID != tt.want.RedirectPoolID || deref(p.RedirectURL) != deref(tt.want.RedirectURL) ||
				deref(p.RedirectPrefix) != deref(tt.want.RedirectPrefix) || (p.RedirectHTTPCode == nil) != (tt.want.RedirectHTTPCode == nil) ||
				deref(p.RedirectHTTPCode) != deref(tt.want.RedirectHTTPCode) {
				t.Errorf("Sanitize(%+v) gave %+v, want %+v", tt.args, p, tt.want)
			}
		})
	}
}

func TestMovePolicy(t *testing.T) {
	mk := func(ids ...string) []*L7Policy {
		out := make([]*L7Policy, len(ids))
		for i, id := range ids {
			out[i] = &L7Policy{ID: id, Position: i + 1}
		}
		return out
	}
	order := func(ps []*L7Policy) string {
		s := make([]byte, len(ps))
		for _, p := range ps {
			s[p.Position-1] = p.ID[0]
		}
		return string(s)
	}
	tests := []struct {
		name    string
		list    []*L7Policy
		move    string
		to      int
		want    string
		changed int
	}{
		{"insert new at 1", mk("a", "b"), "n", 1, "nab", 3},
		{"insert new beyond the end", mk("a", "b"), "n", 99, "abn", 1},
		{"move last to first", mk("a", "b", "c"), "c", 1, "cab", 3},
		{"move first to last", mk("a", "b", "c"), "a", 3, "bca", 3},
		{"move in place", mk("a", "b", "c"), "b", 2, "abc", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &L7Policy{ID: tt.move}
			all := tt.list
			for _, x := range tt.list {
				if x.ID == tt.move {
					p = x
				}
			}
			changed := MovePolicy(tt.list, p, tt.to)
			if p.Position == 0 || len(changed) != tt.changed {
				t.Errorf("changed %d, want %d", len(changed), tt.changed)
			}
			if !contains(all, p) {
				all = append(all, p)
			}
			if got := order(all); got != tt.want {
				t.Errorf("order %s, want %s", got, tt.want)
			}
		})
	}
}

func contains(ps []*L7Policy, p *L7Policy) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

func TestMetadataSchema(t *testing.T) {
	s := FlavorSchema(EngineNative)
	tests := []struct{ data, want string }{
		{`{"loadbalancer_topology": "SINGLE", "engine": "native", "agent_group": "edge"}`, ""},
		{`{}`, ""},
		{`{"foo": 1}`, "Additional properties are not allowed ('foo' was unexpected)"},
		{`{"b": 1, "a": 2}`, "Additional properties are not allowed ('a', 'b' were unexpected)"},
		{`{"loadbalancer_topology": "BAD"}`, "loadbalancer_topology 'BAD' is not one of ['ACTIVE_STANDBY', 'SINGLE']"},
		{`{"loadbalancer_topology": 1}`, "loadbalancer_topology 1 is not of type 'string'"},
		{`{"engine": "haproxy"}`, "engine 'haproxy' is not one of ['native']"},
		{`{"loadbalancer_topology": "ACTIVE_STANDBY", "vrrp_advert_int_ms": 50, "vrrp_priority_master": 200, "vrrp_priority_backup": 150}`, ""},
		{`{"vrrp_advert_int_ms": 10}`, ""},
		{`{"vrrp_advert_int_ms": 40950}`, ""},
		{`{"vrrp_advert_int_ms": 15}`, "vrrp_advert_int_ms 15 must be a multiple of 10 from 10 to 40950 (milliseconds; VRRP counts centiseconds)"},
		{`{"vrrp_advert_int_ms": 0}`, "vrrp_advert_int_ms 0 must be a multiple of 10 from 10 to 40950 (milliseconds; VRRP counts centiseconds)"},
		{`{"vrrp_advert_int_ms": 40960}`, "vrrp_advert_int_ms 40960 must be a multiple of 10 from 10 to 40950 (milliseconds; VRRP counts centiseconds)"},
		{`{"vrrp_advert_int_ms": 50.0}`, "vrrp_advert_int_ms 50.0 must be an integer"},
		{`{"vrrp_advert_int_ms": "50"}`, "vrrp_advert_int_ms '50' must be an integer"},
		{`{"vrrp_advert_int_ms": 99999999999999999999}`, "vrrp_advert_int_ms 99999999999999999999 must be an integer"},
		{`{"vrrp_priority_master": 254}`, "vrrp_priority_master 254 must be from 1 to 253 (254 is what a planned failover promotes a member to)"},
		{`{"vrrp_priority_backup": 0}`, "vrrp_priority_backup 0 must be from 1 to 253 (254 is what a planned failover promotes a member to)"},
		{`{"vrrp_priority_master": 80}`, "vrrp_priority_master 80 must be above vrrp_priority_backup 90 (the default)"},
		{`{"vrrp_priority_backup": 100}`, "vrrp_priority_master 100 (the default) must be above vrrp_priority_backup 100"},
		{`{"vrrp_priority_master": 50, "vrrp_priority_backup": 60}`, "vrrp_priority_master 50 must be above vrrp_priority_backup 60"},
		{`{"vrrp_priority_master": 253, "vrrp_priority_backup": 1}`, ""},
		{`{"vrrp_priority_master": true}`, "vrrp_priority_master True must be an integer"},
		{`[1]`, "[1] is not of type 'object'"},
		{`"x"`, "'x' is not of type 'object'"},
	}
	for _, tt := range tests {
		v, err := ParseMetadata(tt.data, "flavor_data")
		if err != nil {
			t.Fatalf("%s: %v", tt.data, err)
		}
		got := ""
		if err := s.Validate(v); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("Validate(%s) = %q, want %q", tt.data, got, tt.want)
		}
	}
	if _, err := ParseMetadata("notjson", "flavor_data"); err == nil || err.Error() != "notjson is not a valid option for flavor_data" {
		t.Errorf("ParseMetadata(notjson) = %v", err)
	}
	if m := ParseAvailabilityZoneMetadata(`{"compute_zone": "az1"}`); m.AgentZone != "az1" {
		t.Errorf("compute_zone alias: %+v", m)
	}
	if m := ParseFlavorMetadata(`{"agent_group": "g", "loadbalancer_topology": "SINGLE"}`); m.AgentGroup != "g" || m.Topology != TopologySingle {
		t.Errorf("flavor metadata: %+v", m)
	}
}
