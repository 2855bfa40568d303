package dashboard

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// loginUI logs in through the dashboard's form and waits for the list of
// load balancers.
func loginUI(t *testing.T, p *page, c *cloud, user, password, project string) {
	t.Helper()
	p.navigate(c.dashboard())
	p.waitFor("login form", `document.querySelector("form#login")`, 60*time.Second)
	p.fill("#user", user)
	p.fill("#password", password)
	p.fill("#project", project)
	p.click(`form#login button[type=submit]`)
	p.waitFor("load balancer list", `location.hash === "#/loadbalancers" && document.querySelector("#list table, #list [data-empty]")`, 60*time.Second)
	p.checkConsole("after login")
}

// sessionToken is the token the dashboard keeps in sessionStorage.
func sessionToken(t *testing.T, p *page) string {
	t.Helper()
	var tok string
	p.eval(`(JSON.parse(sessionStorage.getItem("fulcrum.dashboard.session") || "{}").token) || ""`, &tok)
	return tok
}

// TestDashboardWizardTrafficDelete is the tour: log in, create a load
// balancer with the wizard (one refused field on the way, its message shown
// verbatim beside it), send requests through the VIP to real backends on
// 127.0.0.1 and 127.0.0.2 and watch the listener's counters move, read the
// status tree with both members ONLINE, delete everything, log out.
func TestDashboardWizardTrafficDelete(t *testing.T) {
	c := newCloud(t)
	b1 := startBackend(t, "127.0.0.1", "alpha")
	b2 := startBackend(t, "127.0.0.2", "beta")
	port := freePort(t)

	p := newPage(t)
	p.navigate(c.dashboard())
	p.waitFor("login form", `document.querySelector("form#login")`, 60*time.Second)
	p.screenshot("login", false)

	// A wrong password shows Keystone's own message.
	p.allow("POST", "/identity/v3/auth/tokens", 401)
	p.fill("#user", "admin")
	p.fill("#password", "not-the-password")
	p.fill("#project", "admin")
	p.click(`form#login button[type=submit]`)
	p.waitFor("login refused", `document.querySelector("form#login .alert")`, 60*time.Second)
	if got, want := p.text("form#login .alert"), "The request you have made requires authentication."; got != want {
		t.Fatalf("wrong password: alert %q, want %q", got, want)
	}
	p.fill("#password", c.adminPassword)
	p.click(`form#login button[type=submit]`)
	p.waitFor("load balancer list", `location.hash === "#/loadbalancers" && document.querySelector("#list [data-empty]")`, 60*time.Second)
	p.checkConsole("after login")
	token := sessionToken(t, p)
	if token == "" {
		t.Fatal("no token in sessionStorage after login")
	}

	// The wizard: load balancer.
	p.click(`a[href="#/wizard"][data-write]`)
	p.waitFor("wizard step 1", `document.querySelector("#wizard[data-step='Load balancer'] #f-name")`, 60*time.Second)
	p.fill("#f-name", "web")
	p.fill("#f-description", "made by the browser test")
	p.choose("#f-vip_subnet_id", c.admin.privateSubnet(t))
	p.click(`#wizard button[data-action=next]`)

	// Listener, first with a port the API refuses.
	p.waitFor("wizard step 2", `document.querySelector("#wizard[data-step='Listener'] #f-protocol_port")`, 60*time.Second)
	p.allow("POST", "/v2/lbaas/listeners", 400)
	p.fill("#f-name", "web-http")
	p.choose("#f-protocol", "HTTP")
	p.fill("#f-protocol_port", "99999")
	p.click(`#wizard button[data-action=next]`)
	p.waitFor("protocol_port refused", `document.querySelector("[data-error-for=protocol_port]").textContent !== ""`, 60*time.Second)
	want := "Invalid input for field/attribute protocol_port. Value: '99999'. Value should be lower or equal to 65535"
	if got := p.text("[data-error-for=protocol_port]"); got != want {
		t.Fatalf("protocol_port error: %q, want the API's message %q", got, want)
	}
	var invalid bool
	p.eval(`document.querySelector("[data-field=protocol_port]").classList.contains("invalid")`, &invalid)
	if !invalid {
		t.Fatal("the refused field is not marked invalid")
	}
	p.screenshot("wizard-validation", false)
	p.fill("#f-protocol_port", strconv.Itoa(port))
	p.click(`#wizard button[data-action=next]`)

	// Pool.
	p.waitFor("wizard step 3", `document.querySelector("#wizard[data-step='Pool'] #f-lb_algorithm")`, 60*time.Second)
	p.fill("#f-name", "web-pool")
	p.choose("#f-lb_algorithm", "ROUND_ROBIN")
	p.click(`#wizard button[data-action=next]`)

	// Members.
	p.waitFor("wizard step 4", `document.querySelector("#wizard[data-step='Members'] #f-address")`, 60*time.Second)
	for i, b := range []*backend{b1, b2} {
		p.fill("#f-address", b.addr)
		p.fill("#f-protocol_port", strconv.Itoa(b.port))
		p.fill("#f-name", b.name)
		p.click(`#wizard button[data-action=next]`)
		p.waitFor("member added", fmt.Sprintf(`document.querySelectorAll("#added-members tbody tr").length === %d`, i+1), 60*time.Second)
	}
	p.click(`#wizard button[data-action=members-done]`)

	// Health monitor.
	p.waitFor("wizard step 5", `document.querySelector("#wizard[data-step='Health monitor'] #f-delay")`, 60*time.Second)
	p.choose("#f-type", "HTTP")
	p.fill("#f-delay", "1")
	p.fill("#f-timeout", "1")
	p.fill("#f-max_retries", "1")
	p.fill("#f-url_path", "/healthz")
	p.click(`#wizard button[data-action=next]`)
	p.waitFor("wizard done", `document.querySelector("#wizard-done")`, 60*time.Second)
	p.checkConsole("wizard")

	// The load balancer page: ACTIVE, traffic counters at zero.
	p.click(`a[data-action=open-lb]`)
	p.waitFor("load balancer ACTIVE", `document.querySelector("[data-attr=provisioning_status] [data-status=ACTIVE]")`, 90*time.Second)
	var lbID, vip, listenerID string
	p.eval(`document.querySelector("[data-attr=id] td").textContent`, &lbID)
	p.eval(`document.querySelector("[data-attr=vip_address] td").textContent`, &vip)
	p.eval(`document.querySelector("[data-attr=listeners] a").getAttribute("href").split("/").pop()`, &listenerID)
	if p.text("h1 .name") != "web" || net.ParseIP(vip) == nil || listenerID == "" {
		t.Fatalf("load balancer page: name %q, vip %q, listener %q", p.text("h1 .name"), vip, listenerID)
	}
	listenerStat := func(k string) string {
		return fmt.Sprintf(`Number(document.querySelector('[data-stats="/v2/lbaas/listeners/%s/stats"] [data-stat=%s]').textContent)`, listenerID, k)
	}
	p.waitFor("listener counters shown", listenerStat("total_connections")+" >= 0", 60*time.Second)
	var before float64
	p.eval(listenerStat("total_connections"), &before)

	// Requests through the VIP reach both backends.
	const requests = 40
	vipURL := "http://" + net.JoinHostPort(vip, strconv.Itoa(port)) + "/"
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := get(vipURL); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no traffic through %s: %v", vipURL, err)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	seen := map[string]int{}
	for range requests {
		body, err := get(vipURL)
		if err != nil {
			t.Fatalf("GET %s: %v", vipURL, err)
		}
		seen[body]++
	}
	if seen["alpha"] == 0 || seen["beta"] == 0 {
		t.Fatalf("requests through the VIP: %v, want both backends", seen)
	}
	p.waitFor("listener counters moved", fmt.Sprintf("%s >= %v + %d && %s > 0", listenerStat("total_connections"), before, requests, listenerStat("bytes_out")), 90*time.Second)
	// The new-connections chart drew a rate above zero at some point.
	p.waitFor("connection rate drawn", fmt.Sprintf(`(() => { const l = document.querySelector('[data-stats="/v2/lbaas/listeners/%s/stats"] polyline[data-series="new /s"]');
		return l && Number(l.getAttribute("data-points")) >= 2 && l.getAttribute("points").split(" ").some(p => Number(p.split(",")[1]) < 105); })()`, listenerID), 60*time.Second)
	p.checkConsole("traffic")
	p.screenshot("traffic", true)

	// The pool's page draws each member's counters; a member's own page too, and its
	// edit form sends what changed, showing the API's refusal under the field.
	var poolID string
	p.eval(`document.querySelector("[data-attr=pools] a").getAttribute("href").split("/").pop()`, &poolID)
	p.eval(`location.hash = "#/pools/`+poolID+`"`, nil)
	p.waitFor("member charts on the pool page", `document.querySelectorAll('section.chart[data-stats*="/members/"]').length === 2`, 60*time.Second)
	memberStat := `Number(document.querySelector('section.chart[data-stats*="/members/"] [data-stat=total_connections]').textContent)`
	p.waitFor("member counters moved", memberStat+" >= 10", 90*time.Second)
	p.click(`#members tbody tr a`)
	p.waitFor("member page", `location.hash.includes("/members/") && document.querySelector("[data-attr=weight]") && document.querySelector("[data-action=edit]")`, 60*time.Second)
	p.waitFor("member chart", `document.querySelector('section.chart[data-stats$="/stats"] [data-stat=connect_errors]') &&
		Number(document.querySelector('section.chart[data-stats$="/stats"] [data-stat=total_connections]').textContent) >= 10`, 60*time.Second)
	p.click(`[data-action=edit]`)
	p.waitFor("edit form", `document.querySelector("#edit-form #f-weight")`, 60*time.Second)
	if got := p.text("[data-attr=weight] td"); got != "1" {
		t.Fatalf("member weight before the edit: %q", got)
	}
	memberID := p.text("[data-attr=id] td")
	p.allow("PUT", "/v2/lbaas/pools/"+poolID+"/members/"+memberID, 400)
	p.fill("#edit-form #f-weight", "1000")
	p.click(`#edit-form button[data-action=save]`)
	p.waitFor("weight refused", `document.querySelector("#edit-form [data-error-for=weight]").textContent !== ""`, 60*time.Second)
	if got := p.text("#edit-form [data-error-for=weight]"); !strings.Contains(got, "weight") || !strings.Contains(got, "256") {
		t.Fatalf("weight 1000: error %q, want the API's message naming weight and its bound", got)
	}
	p.fill("#edit-form #f-weight", "7")
	p.fill("#edit-form #f-name", "alpha-renamed")
	p.click(`#edit-form button[data-action=save]`)
	p.waitFor("member saved", `document.querySelector("#edit [data-saved]")`, 60*time.Second)
	if got := p.text("#edit [data-saved]"); got != "Saved: name, weight." {
		t.Fatalf("saved: %q, want only the changed fields", got)
	}
	p.waitFor("member updated", `document.querySelector("[data-attr=weight] td").textContent === "7" &&
		document.querySelector("[data-attr=name] td").textContent === "alpha-renamed"`, 60*time.Second)
	p.checkConsole("member edit")
	p.screenshot("member", true)
	p.eval(`location.hash = "#/loadbalancers/`+lbID+`"`, nil)
	p.waitFor("load balancer page again", `document.querySelector("[data-attr=provisioning_status] [data-status=ACTIVE]") && document.querySelector('a[href="#/loadbalancers/`+lbID+`/status"]')`, 90*time.Second)

	// The status tree: load balancer, listener, pool, monitor and both
	// members ONLINE from real health checks.
	p.click(`a[href="#/loadbalancers/` + lbID + `/status"]`)
	p.waitFor("status tree ONLINE", `document.querySelectorAll(".node[data-kind=member][data-op=ONLINE]").length === 2 &&
		document.querySelector(".node[data-kind=loadbalancer][data-op=ONLINE]") && document.querySelector(".node[data-kind=listener][data-op=ONLINE]") &&
		document.querySelector(".node[data-kind=pool][data-op=ONLINE]") && document.querySelector(".node[data-kind=health_monitor]")`, 90*time.Second)
	var nested bool
	p.eval(`Boolean(document.querySelector("ul.tree > li > ul > li > ul > li > ul > li > .node[data-kind=member]"))`, &nested)
	if !nested {
		t.Fatal("members are not drawn under pool, listener and load balancer")
	}
	p.checkConsole("status tree")
	p.screenshot("status-tree", false)

	// Delete with everything in it.
	p.click(`a[href="#/loadbalancers/` + lbID + `"]`)
	p.waitFor("load balancer page", `document.querySelector("[data-action=delete]")`, 60*time.Second)
	p.click(`[data-action=delete]`)
	p.click(`[data-action=confirm-delete]`)
	p.waitFor("back on the list", `location.hash === "#/loadbalancers"`, 60*time.Second)
	p.waitFor("list empty", `document.querySelector("#list [data-empty]")`, 90*time.Second)
	c.admin.waitLB(t, lbID, "DELETED")
	if _, err := get(vipURL); err == nil {
		t.Fatalf("%s still answers after the delete", vipURL)
	}
	p.checkConsole("delete")

	// The token never appeared in a URL.
	for _, u := range p.requested() {
		if strings.Contains(u, token) {
			t.Fatalf("the token appeared in a request URL: %s", u)
		}
	}
	// Logout revokes the token.
	p.click("#logout")
	p.waitFor("login form after logout", `document.querySelector("form#login")`, 60*time.Second)
	if got := sessionToken(t, p); got != "" {
		t.Fatalf("token still in sessionStorage after logout")
	}
	s := &apiSession{base: c.s.URL, token: token}
	if r, _ := s.do(t, "GET", "/v2/lbaas/loadbalancers", nil); r.code != 401 {
		t.Fatalf("the logged-out token still works: %d %s", r.code, r.raw)
	}
	p.checkConsole("logout")
}
