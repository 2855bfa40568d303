package policy

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

const own, other = "p-own", "p-other"

func caller(roles ...string) Caller { return Caller{UserID: "u", ProjectID: own, Roles: roles} }

// TestCapabilities checks the role table of docs/octavia-behaviour.md ("Roles"), per role, for an
// object of the caller's own project and of another project.
func TestCapabilities(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	strict, err := New(Options{StrictNewDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	type caps struct{ readOwn, writeOwn, readOther, writeOther, listGlobal, quotaReadOwn, quotaWrite, quotaReadOther, admin bool }
	tests := []struct {
		name   string
		c      Caller
		want   caps
		strict *caps // when it differs under StrictNewDefaults
	}{
		{"reader", caller("reader"), caps{readOwn: true, quotaReadOwn: true}, nil},
		{"member", caller("member"), caps{readOwn: true, writeOwn: true, quotaReadOwn: true}, nil},
		{"admin", caller("admin"), caps{true, true, true, true, true, true, true, true, true}, nil},
		{"noauth", Caller{IsAdmin: true}, caps{true, true, true, true, true, true, true, true, true}, nil},
		{"no roles", caller(), caps{}, nil},
		{"service", caller("service"), caps{}, nil},
		{"legacy observer", caller("load-balancer_observer"), caps{readOwn: true, quotaReadOwn: true}, &caps{}},
		{"legacy member", caller("load-balancer_member"), caps{readOwn: true, writeOwn: true, quotaReadOwn: true}, &caps{}},
		{"legacy global observer", caller("load-balancer_global_observer"),
			caps{readOwn: true, readOther: true, listGlobal: true, quotaReadOwn: true, quotaReadOther: true}, &caps{}},
		{"legacy quota admin", caller("load-balancer_quota_admin"), caps{quotaReadOwn: true, quotaWrite: true, quotaReadOther: true}, &caps{}},
		{"legacy admin", caller("load-balancer_admin"), caps{true, true, true, true, true, true, true, true, true}, &caps{}},
	}
	got := func(e *Enforcer, c Caller) caps {
		return caps{
			readOwn:        e.Allowed(c, RuleFor(LoadBalancer, GetOne), own),
			writeOwn:       e.Allowed(c, RuleFor(Pool, Post), own),
			readOther:      e.Allowed(c, RuleFor(Listener, GetOne), other),
			writeOther:     e.Allowed(c, RuleFor(Member, Delete), other),
			listGlobal:     e.Allowed(c, RuleFor(LoadBalancer, GetAllGlobal), ""),
			quotaReadOwn:   e.Allowed(c, RuleFor(Quota, GetOne), own),
			quotaWrite:     e.Allowed(c, RuleFor(Quota, Put), other),
			quotaReadOther: e.Allowed(c, RuleFor(Quota, GetOne), other),
			admin:          e.Allowed(c, RuleFor(Flavor, Post), own),
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if g := got(e, tc.c); g != tc.want {
				t.Errorf("default: roles %v: got %+v, want %+v", tc.c.Roles, g, tc.want)
			}
			want := tc.want
			if tc.strict != nil {
				want = *tc.strict
			}
			if g := got(strict, tc.c); g != want {
				t.Errorf("strict: roles %v: got %+v, want %+v", tc.c.Roles, g, want)
			}
		})
	}
}

func TestServiceMayListMembers(t *testing.T) {
	e, _ := New(Options{})
	if !e.Allowed(caller("service"), RuleFor(Member, GetAll), other) || e.Allowed(caller("service"), RuleFor(Pool, GetAll), other) {
		t.Error("service role: want member get_all only")
	}
}

func TestUnknownRuleAndNilCaller(t *testing.T) {
	e, _ := New(Options{})
	if err := e.Authorize(caller("admin"), "nope", own); err == nil || errors.Is(err, ErrDenied) {
		t.Errorf("unknown rule: got %v, want a non-denial error", err)
	}
	if err := e.Authorize(Caller{}, RuleFor(LoadBalancer, GetOne), own); !errors.Is(err, ErrDenied) {
		t.Errorf("empty caller: got %v", err)
	}
	// A caller without a project never matches an owner check.
	if e.Allowed(Caller{Roles: []string{"member"}}, RuleFor(LoadBalancer, GetOne), "") {
		t.Error("projectless member allowed on an ownerless target")
	}
}

func TestEveryOperationRuleResolves(t *testing.T) {
	e, err := New(Options{StrictNewDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	for name := range OperationRules() {
		if err := e.Authorize(Caller{IsAdmin: true}, name, own); err != nil {
			t.Errorf("%s: admin denied: %v", name, err)
		}
	}
}

func TestCallerContext(t *testing.T) {
	if _, ok := CallerFrom(context.Background()); ok {
		t.Fatal("empty context has a caller")
	}
	c := Caller{ProjectID: "p", UserID: "u", Roles: []string{"admin"}}
	got, ok := CallerFrom(WithCaller(context.Background(), c))
	if !ok || got.ProjectID != "p" || !got.HasRole("admin") || !got.HasRole("reader") {
		t.Fatalf("CallerFrom = %+v, %v", got, ok)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		src  string
		ok   bool
		want bool // for a caller with role member in project own, target own
	}{
		{"role:member", true, true},
		{"role:MEMBER", true, true},
		{"role:admin or role:member", true, true},
		{"role:member and not role:reader", true, false}, // member implies reader
		{"(role:admin or role:member) and project_id:%(project_id)s", true, true},
		{"project_id:p-other", true, false},
		{"@", true, true},
		{"!", true, false},
		{"", true, true},
		{"role:", false, false},
		{"foo:bar", false, false},
		{"(role:admin", false, false},
		{"role:admin or", false, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.src), func(t *testing.T) {
			e, err := New(Options{Overrides: map[string]string{"x": tc.src}})
			if (err == nil) != tc.ok {
				t.Fatalf("parse %q: err %v, want ok=%v", tc.src, err, tc.ok)
			}
			if err == nil && e.Allowed(caller("member"), "x", own) != tc.want {
				t.Errorf("%q: got %v, want %v", tc.src, !tc.want, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"role:a or (rule:b and not is_admin:True)", "((", "@ and !"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parse(s)
		if err == nil {
			ev := &evaluation{e: &Enforcer{rules: map[Rule]node{}}, c: &Caller{}, target: ""}
			_ = n.eval(ev, 0)
		}
	})
}
