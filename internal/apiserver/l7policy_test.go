package apiserver_test

import (
	"slices"
	"testing"
)

// TestL7PolicyActionFollowsArgumentsAndPositionsStayDense: docs/octavia-behaviour.md, "L7 policy actions and positions".
func TestL7PolicyActionFollowsArgumentsAndPositionsStayDense(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	f := newFixture(h)
	create := func(body map[string]any) map[string]any {
		t.Helper()
		body["listener_id"] = f.http
		return h.must(201, "POST", "/v2.0/lbaas/l7policies", map[string]any{"l7policy": body}).obj("l7policy")
	}
	// Redirect arguments select the action and null the others.
	p := create(map[string]any{"action": "REJECT", "redirect_prefix": "https://example.com"})
	if p["action"] != "REDIRECT_PREFIX" || p["redirect_http_code"] != float64(302) {
		t.Errorf("REJECT with redirect_prefix: %v", p)
	}
	p = create(map[string]any{"action": "REDIRECT_TO_URL", "redirect_url": "https://example.com", "redirect_pool_id": nil})
	if p["action"] != "REDIRECT_TO_URL" || p["redirect_http_code"] != float64(302) || p["redirect_pool_id"] != nil {
		t.Errorf("REDIRECT_TO_URL: %v", p)
	}
	// An explicit action first clears the arguments it does not take.
	p = create(map[string]any{"action": "REJECT", "redirect_pool_id": f.pool})
	if p["action"] != "REJECT" || p["redirect_pool_id"] != nil {
		t.Errorf("REJECT with redirect_pool_id: %v", p)
	}
	pp := h.must(200, "PUT", "/v2.0/lbaas/l7policies/"+p["id"].(string), map[string]any{"l7policy": map[string]any{"redirect_pool_id": f.pool}}).obj("l7policy")
	if pp["action"] != "REDIRECT_TO_POOL" || pp["redirect_pool_id"] != f.pool || pp["redirect_http_code"] != nil {
		t.Errorf("PUT redirect_pool_id: %v", pp)
	}
	p = create(map[string]any{"action": "REJECT", "redirect_url": "https://example.com"})
	if p["action"] != "REJECT" || p["redirect_url"] != nil {
		t.Errorf("REJECT with redirect_url: %v", p)
	}
	for body, want := range map[string]string{
		`{"l7policy": {"listener_id": "` + f.http + `", "action": "REDIRECT_TO_URL"}}`:                                                                        "Invalid L7 Policy arguments: redirect_url must not be None",
		`{"l7policy": {"listener_id": "` + f.http + `", "action": "REDIRECT_TO_POOL"}}`:                                                                       "Invalid L7 Policy arguments: redirect_pool_id or redirect_pool must not be None",
		`{"l7policy": {"listener_id": "` + f.http + `", "action": "REDIRECT_PREFIX"}}`:                                                                        "Invalid L7 Policy arguments: redirect_prefix must not be None",
		`{"l7policy": {"listener_id": "` + f.http + `", "action": "REDIRECT_PREFIX", "redirect_prefix": "http://a.b", "redirect_pool_id": "` + f.pool + `"}}`: "Invalid L7 Policy arguments: Cannot specify redirect_pool_id and redirect_url or redirect_prefix at the same time",
	} {
		if r := h.must(400, "POST", "/v2.0/lbaas/l7policies", body); r.fault() != want {
			t.Errorf("%s: fault %q, want %q", body, r.fault(), want)
		}
	}
	// An update naming an action clears what does not belong to it.
	upd := h.must(200, "PUT", "/v2.0/lbaas/l7policies/"+p["id"].(string), map[string]any{"l7policy": map[string]any{"redirect_prefix": "http://x.example"}}).obj("l7policy")
	if upd["action"] != "REDIRECT_PREFIX" || upd["redirect_http_code"] != float64(302) {
		t.Errorf("PUT redirect_prefix: %v", upd)
	}
	upd = h.must(200, "PUT", "/v2.0/lbaas/l7policies/"+p["id"].(string), map[string]any{"l7policy": map[string]any{"action": "REJECT"}}).obj("l7policy")
	if upd["redirect_prefix"] != nil || upd["redirect_http_code"] != nil {
		t.Errorf("PUT action REJECT: %v", upd)
	}
	// Positions stay dense: 4 policies exist (1..4); insert at 2, move the
	// last to 1, delete one: always 1..N in order.
	positions := func() []string {
		var out []string
		for _, x := range h.must(200, "GET", "/v2.0/lbaas/l7policies?listener_id="+f.http+"&sort=position", nil).list("l7policies") {
			m := x.(map[string]any)
			if m["provisioning_status"] != "PENDING_DELETE" {
				out = append(out, m["name"].(string))
			}
		}
		return out
	}
	names := []string{"a", "b", "c", "d"}
	for _, x := range h.must(200, "GET", "/v2.0/lbaas/l7policies?listener_id="+f.http+"&sort=position", nil).list("l7policies") {
		m := x.(map[string]any)
		h.must(200, "PUT", "/v2.0/lbaas/l7policies/"+m["id"].(string), map[string]any{"l7policy": map[string]any{"name": names[int(m["position"].(float64))-1]}})
	}
	ins := create(map[string]any{"action": "REJECT", "position": 2, "name": "new"})
	if ins["position"] != float64(2) {
		t.Errorf("inserted at %v, want 2", ins["position"])
	}
	if got := positions(); !slices.Equal(got, []string{"a", "new", "b", "c", "d"}) {
		t.Errorf("after insert: %v", got)
	}
	last := create(map[string]any{"action": "REJECT", "position": 1000, "name": "last"})
	if last["position"] != float64(6) {
		t.Errorf("appended at %v, want 6", last["position"])
	}
	h.must(200, "PUT", "/v2.0/lbaas/l7policies/"+last["id"].(string), map[string]any{"l7policy": map[string]any{"position": 1}})
	if got := positions(); !slices.Equal(got, []string{"last", "a", "new", "b", "c", "d"}) {
		t.Errorf("after move: %v", got)
	}
	h.must(204, "DELETE", "/v2.0/lbaas/l7policies/"+ins["id"].(string), nil)
	list := h.must(200, "GET", "/v2.0/lbaas/l7policies?listener_id="+f.http+"&sort=position", nil).list("l7policies")
	want := 1
	for _, x := range list {
		m := x.(map[string]any)
		if m["provisioning_status"] == "PENDING_DELETE" {
			continue
		}
		if m["position"] != float64(want) {
			t.Errorf("after delete: %s at %v, want %d", m["name"], m["position"], want)
		}
		want++
	}
	// The listener lists its policies in position order.
	var order []string
	for _, ref := range h.must(200, "GET", "/v2.0/lbaas/listeners/"+f.http, nil).obj("listener")["l7policies"].([]any) {
		id := ref.(map[string]any)["id"].(string)
		p := h.must(200, "GET", "/v2.0/lbaas/l7policies/"+id, nil).obj("l7policy")
		if p["provisioning_status"] != "PENDING_DELETE" {
			order = append(order, p["name"].(string))
		}
	}
	if !slices.Equal(order, []string{"last", "a", "b", "c", "d"}) {
		t.Errorf("listener l7policies order %v", order)
	}
}
