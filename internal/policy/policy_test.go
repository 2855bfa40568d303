package policy

import (
	"context"
	"errors"
	"testing"
)

func TestRuleFor(t *testing.T) {
	if got, want := RuleFor(LoadBalancer, GetOne), Rule("os_load-balancer_api:loadbalancer:get_one"); got != want {
		t.Fatalf("RuleFor = %q, want %q", got, want)
	}
}

func TestAuthorize(t *testing.T) {
	tests := []struct {
		name   string
		caller Caller
		rule   Rule
		want   error
	}{
		{"admin may fail over", Caller{IsAdmin: true}, RuleFor(LoadBalancer, PutFailover), nil},
		{"member may not fail over", Caller{ProjectID: "p", Roles: []string{"member"}}, RuleFor(LoadBalancer, PutFailover), ErrDenied},
		{"member may read", Caller{ProjectID: "p", Roles: []string{"member"}}, RuleFor(Pool, GetOne), nil},
		{"project member may write for now", Caller{ProjectID: "p"}, RuleFor(Listener, Post), nil},
		{"member may not list globally", Caller{ProjectID: "p"}, RuleFor(Pool, GetAllGlobal), ErrDenied},
		{"admin may list globally", Caller{IsAdmin: true}, RuleFor(Pool, GetAllGlobal), nil},
		{"member may not read another project", Caller{ProjectID: "other"}, RuleFor(Pool, GetOne), ErrDenied},
		{"member may list flavors", Caller{ProjectID: "p"}, RuleFor(Flavor, GetAll), nil},
		{"member may not create flavors", Caller{ProjectID: "p"}, RuleFor(Flavor, Post), ErrDenied},
		{"member may not read flavor profiles", Caller{ProjectID: "p"}, RuleFor(FlavorProfile, GetOne), ErrDenied},
		{"member may not list flavor capabilities", Caller{ProjectID: "p"}, RuleFor(ProviderFlavor, GetAll), ErrDenied},
		{"member may list providers", Caller{ProjectID: "p"}, RuleFor(Provider, GetAll), nil},
		{"member may not list amphorae", Caller{ProjectID: "p"}, RuleFor(Amphora, GetAll), ErrDenied},
		{"admin may configure amphorae", Caller{IsAdmin: true}, RuleFor(Amphora, PutConfig), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Authorize(tt.caller, tt.rule, "p"); !errors.Is(got, tt.want) {
				t.Fatalf("Authorize(%+v, %q) = %v, want %v", tt.caller, tt.rule, got, tt.want)
			}
		})
	}
}

func TestCallerContext(t *testing.T) {
	if _, ok := CallerFrom(context.Background()); ok {
		t.Fatal("empty context has a caller")
	}
	c := Caller{ProjectID: "p", UserID: "u", Roles: []string{"admin"}, IsAdmin: true}
	got, ok := CallerFrom(WithCaller(context.Background(), c))
	if !ok || got.ProjectID != "p" || !got.HasRole("admin") {
		t.Fatalf("CallerFrom = %+v, %v", got, ok)
	}
}
