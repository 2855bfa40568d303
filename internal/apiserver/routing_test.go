package apiserver_test

import (
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/quota"
)

// TestQueryStringThatCannotBeParsedIs400: a query string with a malformed
// escape or more parameters than can be parsed is refused with a fault,
// never answered as if it had no filter.
// See docs/octavia-behaviour.md, "Query strings".
func TestQueryStringThatCannotBeParsedIs400(t *testing.T) {
	h := newHarness(t, harnessOpts{tweak: func(o *apiserver.Options) {
		e, err := policy.New(policy.Options{})
		if err != nil {
			t.Fatal(err)
		}
		o.QuotaAPI = quota.NewAPI(o.Store, quota.New(lb.UnlimitedQuotas()), e)
	}})
	id := h.createLB("a")
	h.createLB("b")
	many := strings.Repeat("name=a&", 10000) + "name=a"
	tests := []struct {
		name, path, fault string
	}{
		{"filtered list with a bad escape", "/v2/lbaas/loadbalancers?name=a%zz", `The query string is not valid: invalid URL escape "%zz".`},
		{"filtered list with too many parameters", "/v2/lbaas/loadbalancers?" + many, "The query string has more than 10000 parameters."},
		{"show with a bad escape in fields", "/v2/lbaas/loadbalancers/" + id + "?fields=%zzid", `The query string is not valid: invalid URL escape "%zz".`},
		{"quota list with a bad escape", "/v2/lbaas/quotas?project_id=%zz", `The query string is not valid: invalid URL escape "%zz".`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("GET", tt.path, nil)
			if r.status != 400 || r.fault() != tt.fault || r.body["faultcode"] != "Client" {
				t.Errorf("GET %.80s: %d %.300s, want 400 with fault %q", tt.path, r.status, r.raw, tt.fault)
			}
		})
	}
}

// TestPathSpellings: one route answers every spelling Octavia accepts, and
// only those (docs/octavia-behaviour.md, "Paths").
func TestPathSpellings(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	id := h.createLB("a")
	for _, p := range []string{"/v2/lbaas/loadbalancers/" + id + "/status", "/v2.0/loadbalancers/" + id + "/statuses.json",
		"/v2/octavia/amphorae", "/v2.0/octavia/amphorae/"} {
		h.must(200, "GET", p, nil)
	}
	for _, p := range []string{"/v2/amphorae", "/v2/lbaas/amphorae", "/v2/lbaas/octavia/amphorae", "/v2/octavia/loadbalancers",
		"/v2/lbaas//loadbalancers", "/v2/lbaas/loadbalancers/" + id + "/..", "/v2/lbaas/loadbalancers/" + id + "/nothing", "/v1/loadbalancers"} {
		if r := h.must(404, "GET", p, nil); r.fault() != "The resource could not be found." {
			t.Errorf("GET %s: %s", p, r.raw)
		}
	}
	r := h.must(405, "DELETE", "/v2.0/loadbalancers/"+id+"/stats.json", nil)
	if r.header.Get("Allow") != "GET" || r.fault() != "The method DELETE is not allowed for this resource." {
		t.Errorf("405: Allow %q, body %s", r.header.Get("Allow"), r.raw)
	}
}
