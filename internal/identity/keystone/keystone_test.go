package keystone

import (
	"reflect"
	"testing"
	"time"
)

func TestExpandRoles(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"admin implies member and reader", []string{"admin"}, []string{"admin", "member", "reader"}},
		{"member implies reader", []string{"member"}, []string{"member", "reader"}},
		{"legacy roles imply nothing", []string{"load-balancer_member"}, []string{"load-balancer_member"}},
		{"no duplicates", []string{"reader", "admin", "member"}, []string{"reader", "admin", "member"}},
		{"empty", nil, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExpandRoles(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ExpandRoles(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestRevocationMatches(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	user := Revocation{UserID: "u", RevokedAt: at}
	proj := Revocation{ProjectID: "p", RevokedAt: at}
	both := Revocation{UserID: "u", ProjectID: "p", RevokedAt: at}
	tests := []struct {
		name    string
		r       Revocation
		u, p    string
		issued  time.Time
		revoked bool
	}{
		{"user, issued before", user, "u", "x", at.Add(-time.Second), true},
		{"user, issued at the same instant", user, "u", "x", at, true},
		{"user, issued after", user, "u", "x", at.Add(time.Microsecond), false},
		{"other user", user, "v", "x", at.Add(-time.Second), false},
		{"project", proj, "v", "p", at.Add(-time.Second), true},
		{"user and project, other project", both, "u", "q", at.Add(-time.Second), false},
		{"user and project", both, "u", "p", at.Add(-time.Second), true},
	}
	for _, tc := range tests {
		if got := tc.r.Matches(tc.u, tc.p, tc.issued); got != tc.revoked {
			t.Errorf("%s: Matches = %v, want %v", tc.name, got, tc.revoked)
		}
	}
}
