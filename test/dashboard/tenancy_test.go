package dashboard

import (
	"fmt"
	"strings"
	"testing"
	"time"

	fulcrumdash "github.com/fulcrumlb/fulcrum/internal/dashboard"
)

// Hostile names: each would become an element with an id starting "pwn"
// if the dashboard ever parsed an API string as HTML.
const (
	hostileLB       = `<img src=x id=pwn-lb onerror="document.title='pwned'">`
	hostileListener = `<script id=pwn-listener>document.title='pwned'</script>`
	hostilePool     = `<b id=pwn-pool>pool</b>`
	hostileMember   = `<svg id=pwn-member onload="document.title='pwned'"></svg>`
	hostileMonitor  = `<iframe id=pwn-hm src="javascript:parent.document.title='pwned'"></iframe>`
	hostilePolicy   = `<a id=pwn-l7 href="javascript:document.title='pwned'">x</a>`
	hostileRule     = `/<i/id=pwn-rule>`
	hostileSecret   = `<img id=pwn-secret src=x>`
	hostileFIP      = `<img id=pwn-fip src=x>`
	hostileProject  = `<img id=pwn-project src=x>`
)

// noInjection fails when any hostile string became markup or ran.
func (p *page) noInjection(where string) {
	p.t.Helper()
	var r struct {
		Injected []string
		Title    string
	}
	p.eval(`({Injected: [...document.querySelectorAll('[id^="pwn"]')].map(e => e.outerHTML), Title: document.title})`, &r)
	if len(r.Injected) > 0 || r.Title != "fulcrum" {
		p.t.Fatalf("%s: API strings became markup: %v (title %q)", where, r.Injected, r.Title)
	}
}

// goTo opens a dashboard page by its hash.
func (p *page) goTo(hash string) {
	p.t.Helper()
	p.eval(fmt.Sprintf(`location.hash = %s`, js(hash)), nil)
	p.waitFor("route "+hash, fmt.Sprintf(`location.hash === %s`, js(hash)), 30*time.Second)
}

// textIs waits until the first element matching sel reads want.
func (p *page) textIs(what, sel, want string) {
	p.t.Helper()
	p.waitFor(what, fmt.Sprintf(`(document.querySelector(%s) || {}).textContent === %s`, js(sel), js(want)), 60*time.Second)
}

// writeControls counts what a reader must never be offered.
const writeControls = `document.querySelectorAll('[data-write], [data-action=delete], [data-action=confirm-delete], a[href="#/wizard"], button.danger, form[data-step-form]').length`

// tenancyGraph is a load balancer graph of one project, every name hostile.
type tenancyGraph struct {
	lb, listener, pool, member, monitor, policy, rule, secret, fip string
}

func makeHostileGraph(t *testing.T, c *cloud, s *apiSession) tenancyGraph {
	t.Helper()
	var g tenancyGraph
	b := startBackend(t, "127.0.0.1", "alpha")
	g.lb = str(s.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": hostileLB, "description": hostileLB, "vip_subnet_id": s.privateSubnet(t)}}, 201).body, "loadbalancer", "id")
	g.listener = str(s.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"name": hostileListener, "protocol": "HTTP", "protocol_port": freePort(t), "loadbalancer_id": g.lb}}, 201).body, "listener", "id")
	g.pool = str(s.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"name": hostilePool, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "listener_id": g.listener}}, 201).body, "pool", "id")
	g.member = str(s.must(t, "POST", "/v2/lbaas/pools/"+g.pool+"/members", map[string]any{"member": map[string]any{
		"name": hostileMember, "address": b.addr, "protocol_port": b.port}}, 201).body, "member", "id")
	g.monitor = str(s.must(t, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{
		"name": hostileMonitor, "pool_id": g.pool, "type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1, "url_path": "/healthz"}}, 201).body, "healthmonitor", "id")
	g.policy = str(s.must(t, "POST", "/v2/lbaas/l7policies", map[string]any{"l7policy": map[string]any{
		"name": hostilePolicy, "listener_id": g.listener, "action": "REJECT"}}, 201).body, "l7policy", "id")
	g.rule = str(s.must(t, "POST", "/v2/lbaas/l7policies/"+g.policy+"/rules", map[string]any{"rule": map[string]any{
		"type": "PATH", "compare_type": "STARTS_WITH", "value": hostileRule}}, 201).body, "rule", "id")
	ref := str(s.must(t, "POST", "/key-manager/v1/secrets", map[string]any{
		"name": hostileSecret, "payload": "not shown", "payload_content_type": "text/plain"}, 201).body, "secret_ref")
	g.secret = ref[strings.LastIndex(ref, "/")+1:]
	r := c.admin.must(t, "GET", "/networking/v2.0/networks?name=public", nil, 200)
	nets, _ := r.body["networks"].([]any)
	if len(nets) != 1 {
		t.Fatalf("public network: %s", r.raw)
	}
	g.fip = str(s.must(t, "POST", "/networking/v2.0/floatingips", map[string]any{"floatingip": map[string]any{
		"floating_network_id": str(nets[0].(map[string]any), "id"), "description": hostileFIP}}, 201).body, "floatingip", "id")
	s.waitLB(t, g.lb, "ACTIVE")
	return g
}

// userID is the id of a user by name.
func (c *cloud) userID(t *testing.T, name string) string {
	t.Helper()
	r := c.admin.must(t, "GET", "/identity/v3/users?name="+name, nil, 200)
	list, _ := r.body["users"].([]any)
	if len(list) != 1 {
		t.Fatalf("user %s: %s", name, r.raw)
	}
	return str(list[0].(map[string]any), "id")
}

// TestDashboardTenancyHostileNamesRolesCSP: a member's graph, every name
// hostile markup, renders as text on every list, detail and tree page; the
// project switch rescopes (and the member's write controls follow the
// roles of the project switched to); a reader sees no write control
// anywhere; only the admin sees agents, amphorae, flavors, availability
// zones and quotas; every page comes with the Content-Security-Policy and
// the browser enforces it.
func TestDashboardTenancyHostileNamesRolesCSP(t *testing.T) {
	c := newCloud(t)
	alphaID, alicePW := c.user(t, "alpha", "alice", "member")
	_, ritaPW := c.user(t, "alpha", "rita", "reader")
	betaID := str(c.admin.must(t, "POST", "/identity/v3/projects", map[string]any{"project": map[string]any{
		"name": hostileProject, "domain_id": "default"}}, 201).body, "project", "id")
	c.grant(t, betaID, c.userID(t, "alice"), "reader")
	alice := c.login(t, "alice", alicePW, "alpha")
	g := makeHostileGraph(t, c, alice)

	p := newPage(t)
	loginUI(t, p, c, "alice", alicePW, "alpha")

	// Every page that shows a hostile string shows it as text.
	type visit struct {
		hash, what, sel, want string
	}
	visits := []visit{
		{"#/loadbalancers", "load balancer row", `#list tr[data-id="` + g.lb + `"] td.name a`, hostileLB},
		{"#/loadbalancers/" + g.lb, "load balancer page", "h1 .name", hostileLB},
		{"#/loadbalancers/" + g.lb, "load balancer description", "[data-attr=description] td", hostileLB},
		{"#/listeners", "listener row", `#list tr[data-id="` + g.listener + `"] td.name a`, hostileListener},
		{"#/listeners/" + g.listener, "listener page", "h1 .name", hostileListener},
		{"#/pools", "pool row", `#list tr[data-id="` + g.pool + `"] td.name a`, hostilePool},
		{"#/pools/" + g.pool, "pool's member row", `#members tr[data-id="` + g.member + `"] td.name a`, hostileMember},
		{"#/pools/" + g.pool + "/members/" + g.member, "member page", "h1 .name", hostileMember},
		{"#/healthmonitors", "monitor row", `#list tr[data-id="` + g.monitor + `"] td.name a`, hostileMonitor},
		{"#/healthmonitors/" + g.monitor, "monitor page", "h1 .name", hostileMonitor},
		{"#/l7policies", "policy row", `#list tr[data-id="` + g.policy + `"] td.name a`, hostilePolicy},
		{"#/l7policies/" + g.policy, "policy's rule row", `#rules tr[data-id="` + g.rule + `"] td[data-col=value]`, hostileRule},
		{"#/l7policies/" + g.policy + "/rules/" + g.rule, "rule page", "[data-attr=value] td", hostileRule},
		{"#/certificates", "secret row", `#secrets tr[data-id="` + g.secret + `"] td.name a`, hostileSecret},
		{"#/secrets/" + g.secret, "secret page", "h1 .name", hostileSecret},
		{"#/floatingips/" + g.fip, "floating IP page", "[data-attr=description] td", hostileFIP},
		{"#/loadbalancers/" + g.lb + "/status", "tree: load balancer", ".node[data-kind=loadbalancer] .name", hostileLB},
		{"#/loadbalancers/" + g.lb + "/status", "tree: listener", ".node[data-kind=listener] .name", hostileListener},
		{"#/loadbalancers/" + g.lb + "/status", "tree: pool", ".node[data-kind=pool] .name", hostilePool},
		{"#/loadbalancers/" + g.lb + "/status", "tree: member", ".node[data-kind=member] .name", hostileMember},
		{"#/loadbalancers/" + g.lb + "/status", "tree: monitor", ".node[data-kind=health_monitor] .name", hostileMonitor},
	}
	for _, v := range visits {
		p.goTo(v.hash)
		p.textIs(v.what, v.sel, v.want)
		p.noInjection(v.what)
	}
	p.goTo("#/floatingips")
	p.waitFor("floating IP row", `document.querySelector('#list tr[data-id="`+g.fip+`"]')`, 60*time.Second)
	p.goTo("#/loadbalancers/" + g.lb + "/status")
	p.waitFor("tree drawn", `document.querySelector(".node[data-kind=member]")`, 60*time.Second)
	p.screenshot("hostile-names", false)
	p.checkConsole("hostile names")

	// The member may write here: the controls are there.
	p.goTo("#/loadbalancers/" + g.lb)
	p.waitFor("delete offered to a member", `document.querySelector("[data-action=delete]") && document.querySelector('nav a[href="#/wizard"]')`, 60*time.Second)
	var failover bool
	p.eval(`Boolean(document.querySelector("[data-action=failover]"))`, &failover)
	if failover {
		t.Fatal("a member is offered the admin's failover")
	}

	// The project switch lists the hostile project name as text; in that
	// project alice only reads.
	p.waitFor("project choices", `document.querySelectorAll("#project-switch option").length === 2`, 60*time.Second)
	var options []string
	p.eval(`[...document.querySelectorAll("#project-switch option")].map(o => o.textContent)`, &options)
	if !contains(options, hostileProject) || !contains(options, "alpha") {
		t.Fatalf("project choices %q", options)
	}
	p.noInjection("project switch")
	p.goTo("#/loadbalancers")
	p.waitFor("list", `document.querySelector("#list table")`, 60*time.Second)
	p.choose("#project-switch", betaID)
	p.waitFor("switched to the reader project", fmt.Sprintf(`JSON.parse(sessionStorage.getItem("fulcrum.dashboard.session")).project.id === %s &&
		document.querySelector("#list [data-empty]") && document.querySelector("#project-switch").value === %s`, js(betaID), js(betaID)), 60*time.Second)
	var n int
	p.eval(writeControls, &n)
	if n != 0 {
		t.Fatalf("after switching to a project where alice reads: %d write controls", n)
	}
	p.noInjection("after the switch")
	p.choose("#project-switch", alphaID)
	p.waitFor("back in alpha with write controls", fmt.Sprintf(`JSON.parse(sessionStorage.getItem("fulcrum.dashboard.session")).project.id === %s &&
		document.querySelector('#list tr[data-id="%s"]') && document.querySelector("a[data-write]")`, js(alphaID), g.lb), 60*time.Second)
	p.checkConsole("project switch")

	// Not an admin: no administration.
	var adminNav int
	p.eval(`document.querySelectorAll('nav [data-admin], nav a[href="#/agents"], nav a[href="#/quotas"], nav a[href="#/flavors"]').length`, &adminNav)
	if adminNav != 0 {
		t.Fatalf("a member sees %d administration links", adminNav)
	}
	p.goTo("#/agents")
	p.textIs("agents refused", "main h1", "Not permitted")

	// Every page comes with the policy, and the browser enforces it: a
	// script element with inline text, put in the page, does not run.
	for _, u := range []string{c.dashboard(), c.dashboard() + "js/app.js", c.dashboard() + "style.css"} {
		h := p.responseHeaders(u)
		if h == nil {
			t.Fatalf("the browser loaded no %s", u)
		}
		if h["content-security-policy"] != fulcrumdash.ContentSecurityPolicy || h["x-frame-options"] != "DENY" || h["x-content-type-options"] != "nosniff" {
			t.Fatalf("%s: headers %v", u, h)
		}
	}
	var csp struct {
		Ran      bool
		Violated string
	}
	p.eval(`new Promise((resolve) => {
		window.__inline = 0;
		document.addEventListener("securitypolicyviolation", (e) => resolve({Ran: window.__inline === 1, Violated: e.violatedDirective}), {once: true});
		const s = document.createElement("script");
		s.textContent = "window.__inline = 1";
		document.body.append(s);
	})`, &csp)
	if csp.Ran || !strings.HasPrefix(csp.Violated, "script-src") {
		t.Fatalf("inline script: ran %v, violated %q", csp.Ran, csp.Violated)
	}

	// A reader of alpha: the same objects, no write control anywhere.
	r := newPage(t)
	loginUI(t, r, c, "rita", ritaPW, "alpha")
	readerPages := []visit{
		{"#/loadbalancers", "list", `#list tr[data-id="` + g.lb + `"] td.name a`, hostileLB},
		{"#/loadbalancers/" + g.lb, "load balancer", "h1 .name", hostileLB},
		{"#/listeners/" + g.listener, "listener", "h1 .name", hostileListener},
		{"#/pools/" + g.pool, "pool", `#members tr[data-id="` + g.member + `"] td.name a`, hostileMember},
		{"#/pools/" + g.pool + "/members/" + g.member, "member", "h1 .name", hostileMember},
		{"#/healthmonitors/" + g.monitor, "monitor", "h1 .name", hostileMonitor},
		{"#/l7policies/" + g.policy, "policy", `#rules tr[data-id="` + g.rule + `"] td[data-col=value]`, hostileRule},
		{"#/l7policies/" + g.policy + "/rules/" + g.rule, "rule", "[data-attr=value] td", hostileRule},
		{"#/secrets/" + g.secret, "secret", "h1 .name", hostileSecret},
		{"#/floatingips/" + g.fip, "floating IP", "[data-attr=description] td", hostileFIP},
		{"#/loadbalancers/" + g.lb + "/status", "tree", ".node[data-kind=member] .name", hostileMember},
		{"#/wizard", "wizard", "main h1", "Not permitted"},
	}
	for _, v := range readerPages {
		r.goTo(v.hash)
		r.textIs("reader: "+v.what, v.sel, v.want)
		r.eval(writeControls, &n)
		if n != 0 {
			t.Fatalf("reader on %s: %d write controls", v.hash, n)
		}
		r.noInjection("reader: " + v.what)
	}
	r.goTo("#/loadbalancers/" + g.lb)
	r.waitFor("reader's load balancer page", `document.querySelector("#attrs table")`, 60*time.Second)
	r.screenshot("reader", false)
	r.checkConsole("reader")

	// The admin: agents (with alice's load balancer placed), flavors,
	// availability zones and quotas.
	a := newPage(t)
	loginUI(t, a, c, "admin", c.adminPassword, "admin")
	for _, link := range []string{"#/agents", "#/flavors", "#/flavorprofiles", "#/availabilityzones", "#/availabilityzoneprofiles", "#/quotas"} {
		a.waitFor("admin link "+link, fmt.Sprintf(`document.querySelector('nav a[href="%s"]')`, link), 30*time.Second)
	}
	a.goTo("#/agents")
	a.waitFor("agent serving alice's load balancer", fmt.Sprintf(`document.querySelector('tr[data-agent] a[href="#/loadbalancers/%s"]') &&
		document.querySelector('tr[data-id] a[href^="#/amphorae/"]')`, g.lb), 90*time.Second)
	a.screenshot("agents", false)
	for _, l := range []string{"#/flavors", "#/flavorprofiles", "#/availabilityzones", "#/availabilityzoneprofiles"} {
		a.goTo(l)
		a.waitFor("admin list "+l, `document.querySelector("#list table, #list [data-empty]")`, 60*time.Second)
	}
	// The admin fails alice's load balancer over from its page.
	before := str(c.admin.must(t, "GET", "/v2/lbaas/loadbalancers/"+g.lb, nil, 200).body, "loadbalancer", "updated_at")
	a.goTo("#/loadbalancers/" + g.lb)
	a.click("[data-action=failover]")
	a.click("[data-action=confirm-failover]")
	a.waitFor("failover requested", `document.querySelector("[data-done=failover]")`, 60*time.Second)
	c.admin.waitLB(t, g.lb, "ACTIVE")
	if after := str(c.admin.must(t, "GET", "/v2/lbaas/loadbalancers/"+g.lb, nil, 200).body, "loadbalancer", "updated_at"); after == before {
		t.Fatalf("failover left the load balancer untouched (updated_at %s)", after)
	}
	a.goTo("#/quotas")
	a.waitFor("quota defaults", `document.querySelector("tr[data-project=defaults]")`, 60*time.Second)
	a.goTo("#/loadbalancers")
	a.textIs("admin sees alice's load balancer", `#list tr[data-id="`+g.lb+`"] td.name a`, hostileLB)
	a.noInjection("admin")
	a.checkConsole("admin")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
