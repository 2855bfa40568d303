package multiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// outcome is what a write's answer says about it.
type outcome int

const (
	applied  outcome = iota // 2xx: acknowledged, must not be lost
	rejected                // never reached a server (connection refused): nothing happened
	unknown                 // sent, no answer (the server died): it may or may not have happened
)

// writer sends writes round-robin through the servers and sorts their
// outcomes. A 4xx other than the expected or a 5xx fails the test.
type writer struct {
	t     *testing.T
	c     *cluster
	n     int // writes sent
	acked int
	mu    sync.Mutex
}

func (w *writer) send(method, path string, body any, want int) (reply, outcome) {
	w.mu.Lock()
	first := w.n
	w.n++
	w.mu.Unlock()
	// A server that refuses the connection is down: the client tries the
	// next one, as a client of a load-balanced API would.
	var r reply
	var err error
	var s *server
	for i := range len(w.c.servers) {
		s = w.c.servers[(first+i)%len(w.c.servers)]
		if r, err = newAPI(s.url()).call(method, path, body); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
	}
	switch {
	case err != nil && errors.Is(err, syscall.ECONNREFUSED):
		return r, rejected
	case err != nil:
		return r, unknown
	case r.code != want:
		w.t.Errorf("%s %s through %s: %d %s, want %d", method, path, s.name, r.code, r.raw, want)
		return r, rejected
	}
	w.mu.Lock()
	w.acked++
	w.mu.Unlock()
	return r, applied
}

// value is what a field may hold once every write settled: the last
// acknowledged value, or any written after it with an unknown outcome.
type value struct {
	possible []string
}

func (v *value) set(s string, o outcome) {
	switch o {
	case applied:
		v.possible = []string{s}
	case unknown:
		v.possible = append(v.possible, s)
	}
}

func (v *value) allows(s string) bool { return len(v.possible) == 0 || slices.Contains(v.possible, s) }

// existence is whether an object must exist, must be gone, or may be
// either.
type existence int

const (
	exists existence = iota
	gone
	maybe
)

type memberModel struct {
	id, name string
	weight   value
	state    existence
}

// vipWriter changes a served load balancer: descriptions and member weights.
func vipWriter(w *writer, g *lbGraph, members map[string]*memberModel, desc *value, n int, pace time.Duration) {
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for i := range n {
		switch i % 3 {
		case 0:
			d := fmt.Sprintf("description %d", i)
			_, o := w.send("PUT", "/v2/lbaas/loadbalancers/"+g.lb, map[string]any{"loadbalancer": map[string]any{"description": d}}, 200)
			desc.set(d, o)
		default:
			m := members[ids[i%len(ids)]]
			weight := fmt.Sprint(1 + i%7)
			_, o := w.send("PUT", "/v2/lbaas/pools/"+g.pool+"/members/"+m.id, map[string]any{"member": map[string]any{"weight": 1 + i%7}}, 200)
			m.weight.set(weight, o)
		}
		time.Sleep(pace)
	}
}

// memberWriter creates, changes and deletes members of its own pool.
func memberWriter(w *writer, pool string, n int, pace time.Duration) map[string]*memberModel {
	models := map[string]*memberModel{} // by name
	var live []*memberModel
	for i := range n {
		switch {
		case i%4 != 3 || len(live) == 0:
			name := fmt.Sprintf("m-%d", i)
			r, o := w.send("POST", "/v2/lbaas/pools/"+pool+"/members", map[string]any{"member": map[string]any{
				"name": name, "address": "127.0.0.1", "protocol_port": 20000 + i, "weight": 1}}, 201)
			m := &memberModel{name: name, id: str(r.obj("member"), "id")}
			m.weight.set("1", applied)
			switch o {
			case applied:
				m.state = exists
				live = append(live, m)
			case unknown:
				m.state = maybe
			default:
				m.state = gone
			}
			models[name] = m
		case i%8 == 3:
			m := live[0]
			live = live[1:]
			_, o := w.send("DELETE", "/v2/lbaas/pools/"+pool+"/members/"+m.id, nil, 204)
			switch o {
			case applied:
				m.state = gone
			case unknown:
				m.state = maybe
			default:
				live = append(live, m)
			}
		default:
			m := live[i%len(live)]
			weight := 2 + i%5
			_, o := w.send("PUT", "/v2/lbaas/pools/"+pool+"/members/"+m.id, map[string]any{"member": map[string]any{"weight": weight}}, 200)
			m.weight.set(fmt.Sprint(weight), o)
		}
		time.Sleep(pace)
	}
	return models
}

type lbModel struct {
	name  string
	id    string
	state existence
}

// churnWriter creates load balancers (with a listener, a pool and a
// member) and deletes every other one.
func churnWriter(w *writer, sub string, n int, pace time.Duration) []*lbModel {
	var out []*lbModel
	for i := 0; i < n; i++ {
		l := &lbModel{name: fmt.Sprintf("churn-%d", i), state: gone}
		out = append(out, l)
		r, o := w.send("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": l.name, "vip_subnet_id": sub}}, 201)
		time.Sleep(pace)
		switch o {
		case unknown:
			l.state = maybe
			continue
		case rejected:
			continue
		}
		l.id, l.state = str(r.obj("loadbalancer"), "id"), exists
		r, o = w.send("POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{"loadbalancer_id": l.id, "protocol": "TCP",
			"protocol_port": 30000 + i}}, 201)
		time.Sleep(pace)
		if o == applied {
			lis := str(r.obj("listener"), "id")
			r, o = w.send("POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"listener_id": lis, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}, 201)
			time.Sleep(pace)
			if o == applied {
				w.send("POST", "/v2/lbaas/pools/"+str(r.obj("pool"), "id")+"/members", map[string]any{"member": map[string]any{
					"address": "127.0.0.1", "protocol_port": 31000 + i}}, 201)
				time.Sleep(pace)
			}
		}
		if i%2 == 1 {
			_, o := w.send("DELETE", "/v2/lbaas/loadbalancers/"+l.id+"?cascade=true", nil, 204)
			switch o {
			case applied:
				l.state = gone
			case unknown:
				l.state = maybe
			}
			time.Sleep(pace)
		}
	}
	return out
}

// vipClient sends a request every 5 ms, alternately through each URL, on a
// new connection each time, until stop is closed.
type vipClient struct {
	sent, failed atomic.Int64
	mu           sync.Mutex
	errs         []string
	done         chan struct{}
}

func startClient(stop <-chan struct{}, urls ...string) *vipClient {
	c := &vipClient{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var wg sync.WaitGroup
		for i := 0; ; i++ {
			select {
			case <-stop:
				wg.Wait()
				return
			case <-tick.C:
			}
			url := urls[i%len(urls)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.sent.Add(1)
				if err := get(url); err != nil {
					c.failed.Add(1)
					c.mu.Lock()
					if len(c.errs) < 20 {
						c.errs = append(c.errs, time.Now().Format("15:04:05.000")+" "+url+": "+err.Error())
					}
					c.mu.Unlock()
				}
			}()
		}
	}()
	return c
}

// attachedTo returns the agent API URL an agent last said it attached to
// at or before t ("" if none).
func attachedTo(logs string, t time.Time) string {
	last := ""
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `msg="attached to server"`) {
			continue
		}
		m := timeRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil || ts.After(t) {
			continue
		}
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "server=") {
				last = strings.TrimPrefix(f, "server=")
			}
		}
	}
	return last
}

// TestThreeServersSurviveKills is the proof of issue 11: three servers on
// one PostgreSQL, two agents, 500 mixed writes through all three servers
// over about 30 s while a client sends a request every 5 ms through two
// VIPs; the leader is SIGKILLed, then the next leader, then both restart.
// No acknowledged write is lost, nothing is left PENDING_*, every load
// balancer is ACTIVE with the right configuration on its agent, no request
// to the VIPs fails, and agents whose server died attach to a live one
// within 2 s.
func TestThreeServersSurviveKills(t *testing.T) {
	c := newCluster(t, 3)
	c.addAgent("node-1", 0)
	c.addAgent("node-2", 1)
	c.waitAgentsUp(60 * time.Second)
	c.waitLeader(0, 30*time.Second)
	var epoch int64 // the epoch of the last leader killed
	a := newAPI(c.servers[0].url())
	sub := subnet(t, a)
	backends := []*backend{startBackend(t, "b1"), startBackend(t, "b2"), startBackend(t, "b3")}
	vip1 := createGraph(t, newAPI(c.servers[1].url()), sub, backends[0], backends[1])
	vip2 := createGraph(t, newAPI(c.servers[2].url()), sub, backends[1], backends[2])
	own := createGraph(t, a, sub)
	waitTraffic(t, vip1.url(), 30*time.Second)
	waitTraffic(t, vip2.url(), 30*time.Second)
	vipMembers := func(g *lbGraph) map[string]*memberModel {
		r := a.must(t, "GET", "/v2/lbaas/pools/"+g.pool+"/members", nil, 200)
		out := map[string]*memberModel{}
		for _, m := range r.body["members"].([]any) {
			mm := m.(map[string]any)
			out[str(mm, "id")] = &memberModel{id: str(mm, "id"), name: str(mm, "name"), state: exists}
		}
		return out
	}
	members1, members2 := vipMembers(vip1), vipMembers(vip2)

	stopClient := make(chan struct{})
	client := startClient(stopClient, vip1.url(), vip2.url())
	defer func() {
		select {
		case <-stopClient:
		default:
			close(stopClient)
		}
		<-client.done
	}()

	// 500 writes over about 30 s through the three servers.
	w := &writer{t: t, c: c}
	var wg sync.WaitGroup
	var desc1, desc2 value
	var churned []*lbModel
	var ownMembers map[string]*memberModel
	const pace = 220 * time.Millisecond
	wg.Add(4)
	go func() { defer wg.Done(); vipWriter(w, vip1, members1, &desc1, 130, pace) }()
	go func() { defer wg.Done(); vipWriter(w, vip2, members2, &desc2, 130, pace) }()
	go func() { defer wg.Done(); ownMembers = memberWriter(w, own.pool, 130, pace) }()
	go func() { defer wg.Done(); churned = churnWriter(w, sub, 26, pace) }()

	// Kill the leader, then the next one; restart both.
	type kill struct {
		server   *server
		at       time.Time
		attached map[string]bool // agents attached to it when it died
	}
	var kills []kill
	killLeader := func() {
		i, e := c.waitLeader(epoch, 30*time.Second)
		epoch = e
		s := c.servers[i]
		k := kill{server: s, at: time.Now(), attached: map[string]bool{}}
		for _, ag := range c.agents {
			if attachedTo(ag.proc.Logs(), k.at) == s.agentURL() {
				k.attached[ag.name] = true
			}
		}
		s.kill()
		t.Logf("%s SIGKILLed (leader in epoch %d; agents attached to it: %v)", s.name, e, k.attached)
		kills = append(kills, k)
	}
	// After each step, no load balancer is live on an agent it is not
	// placed on, in the store or from any live server (placement_check_test.go).
	checks := &placementChecks{c: c}
	time.Sleep(8 * time.Second)
	killLeader()
	checks.start("after the first kill")
	time.Sleep(8 * time.Second)
	killLeader()
	checks.start("after the second kill")
	time.Sleep(6 * time.Second)
	kills[0].server.restart()
	checks.start("after the first restart")
	time.Sleep(5 * time.Second)
	kills[1].server.restart()
	checks.start("after the second restart")
	wg.Wait()
	checks.wait(t)
	t.Logf("%d writes sent, %d acknowledged", w.n, w.acked)
	for _, s := range c.servers {
		for _, line := range strings.Split(s.proc.Logs(), "\n") {
			if strings.Contains(line, "msg=leading") || strings.Contains(line, "no longer leading") || strings.Contains(line, "agent is down") {
				t.Logf("%s: %s", s.name, line)
			}
		}
	}
	if w.n < 500 {
		t.Errorf("only %d writes sent", w.n)
	}

	// Everything settles: nothing PENDING_*, every load balancer ACTIVE.
	live := newAPI(c.servers[c.leader()].url())
	var lbs []map[string]any
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r := live.must(t, "GET", "/v2/lbaas/loadbalancers", nil, 200)
		lbs = nil
		settled := true
		for _, l := range r.body["loadbalancers"].([]any) {
			lm := l.(map[string]any)
			lbs = append(lbs, lm)
			if str(lm, "provisioning_status") != "ACTIVE" {
				settled = false
			}
		}
		if settled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("load balancers not all ACTIVE 90 s after the load: %s\nplacements: %v\n%s", r.raw,
				c.checkPlacements("load balancers not ACTIVE", time.Second, false), c.logs())
		}
	}
	for _, kind := range []string{"listeners", "pools"} {
		r := live.must(t, "GET", "/v2/lbaas/"+kind, nil, 200)
		for _, o := range r.body[kind].([]any) {
			if st := str(o.(map[string]any), "provisioning_status"); st != "ACTIVE" {
				t.Errorf("%s %s is %s", kind, str(o.(map[string]any), "id"), st)
			}
		}
	}

	// No acknowledged write is lost.
	checkLB := func(g *lbGraph, desc *value, members map[string]*memberModel, byName bool) {
		r := live.must(t, "GET", "/v2/lbaas/loadbalancers/"+g.lb, nil, 200)
		if d := str(r.obj("loadbalancer"), "description"); !desc.allows(d) {
			t.Errorf("load balancer %s: description %q, acknowledged %v", g.lb, d, desc.possible)
		}
		got := map[string]map[string]any{}
		for _, m := range live.must(t, "GET", "/v2/lbaas/pools/"+g.pool+"/members", nil, 200).body["members"].([]any) {
			mm := m.(map[string]any)
			if st := str(mm, "provisioning_status"); st != "ACTIVE" {
				t.Errorf("member %s is %s", str(mm, "id"), st)
			}
			key := str(mm, "id")
			if byName {
				key = str(mm, "name")
			}
			got[key] = mm
		}
		for key, m := range members {
			mm, ok := got[key]
			switch {
			case m.state == exists && !ok:
				t.Errorf("member %s (%s): acknowledged, gone", m.name, m.id)
			case m.state == gone && ok:
				t.Errorf("member %s (%s): deletion acknowledged, still there", m.name, m.id)
			case ok && !m.weight.allows(fmt.Sprint(mm["weight"])):
				t.Errorf("member %s: weight %v, acknowledged %v", m.name, mm["weight"], m.weight.possible)
			}
			delete(got, key)
		}
		for key := range got {
			if !byName {
				t.Errorf("member %s appeared on pool %s", key, g.pool)
			} else if _, ok := members[key]; !ok {
				t.Errorf("member %s appeared on pool %s", key, g.pool)
			}
		}
	}
	checkLB(vip1, &desc1, members1, false)
	checkLB(vip2, &desc2, members2, false)
	checkLB(own, &value{}, ownMembers, true)
	byName := map[string][]string{}
	for _, l := range lbs {
		byName[str(l, "name")] = append(byName[str(l, "name")], str(l, "id"))
	}
	for _, l := range churned {
		n := len(byName[l.name])
		switch {
		case l.state == exists && n != 1:
			t.Errorf("load balancer %s: creation acknowledged, %d found", l.name, n)
		case l.state == gone && n != 0:
			t.Errorf("load balancer %s: deleted or never created, %d found", l.name, n)
		case n > 1:
			t.Errorf("load balancer %s: %d found", l.name, n)
		}
	}

	// Every load balancer runs on exactly one agent, with its configuration.
	checkAgentConfigs(t, c, live, lbs)
	c.checkPlacementsSettled(t, "once settled")

	// No request to the VIPs failed.
	close(stopClient)
	<-client.done
	t.Logf("VIP client: %d requests, %d failed", client.sent.Load(), client.failed.Load())
	if client.failed.Load() > 0 {
		t.Errorf("%d of %d requests through the VIPs failed: %v", client.failed.Load(), client.sent.Load(), client.errs)
	}

	// Agents attached to a killed server attached to a live one within 2 s.
	for _, k := range kills {
		for _, ag := range c.agents {
			if !k.attached[ag.name] {
				continue
			}
			var next time.Time
			for _, ts := range logTimes(ag.proc.Logs(), `msg="attached to server"`) {
				if ts.After(k.at) {
					next = ts
					break
				}
			}
			switch {
			case next.IsZero():
				t.Errorf("agent %s never attached to another server after %s died:\n%s", ag.name, k.server.name, ag.proc.Logs())
			case next.Sub(k.at) > 2*time.Second:
				t.Errorf("agent %s attached to another server %s after %s died, want within 2 s", ag.name, next.Sub(k.at), k.server.name)
			default:
				t.Logf("agent %s attached to another server %s after %s died", ag.name, next.Sub(k.at).Round(time.Millisecond), k.server.name)
			}
			if testing.Verbose() {
				for _, line := range strings.Split(ag.proc.Logs(), "\n") {
					if m := timeRE.FindStringSubmatch(line); m != nil {
						if ts, err := time.Parse(time.RFC3339Nano, m[1]); err == nil && !ts.Before(k.at) && !ts.After(next) {
							t.Logf("  %s: %s", ag.name, line)
						}
					}
				}
			}
		}
	}
}

// checkAgentConfigs checks that each load balancer's listeners and members
// are in the configuration its agent runs (the agent's saved copy), and in
// no other agent's.
func checkAgentConfigs(t *testing.T, c *cluster, a *api, lbs []map[string]any) {
	t.Helper()
	type want struct {
		agent     string
		listeners map[string]bool
		members   map[string]string // id → "address:port/weight"
	}
	wants := map[string]*want{}
	for _, l := range lbs {
		id := str(l, "id")
		r := a.must(t, "GET", "/v2/octavia/amphorae?loadbalancer_id="+id, nil, 200)
		amps, _ := r.body["amphorae"].([]any)
		if len(amps) != 1 {
			t.Errorf("load balancer %s: %d placements", id, len(amps))
			continue
		}
		w := &want{agent: str(amps[0].(map[string]any), "compute_id"), listeners: map[string]bool{}, members: map[string]string{}}
		for _, lis := range a.must(t, "GET", "/v2/lbaas/listeners?loadbalancer_id="+id, nil, 200).body["listeners"].([]any) {
			w.listeners[str(lis.(map[string]any), "id")] = true
		}
		for _, p := range a.must(t, "GET", "/v2/lbaas/pools?loadbalancer_id="+id, nil, 200).body["pools"].([]any) {
			for _, m := range a.must(t, "GET", "/v2/lbaas/pools/"+str(p.(map[string]any), "id")+"/members", nil, 200).body["members"].([]any) {
				mm := m.(map[string]any)
				w.members[str(mm, "id")] = fmt.Sprintf("%s:%v/%v", str(mm, "address"), mm["protocol_port"], mm["weight"])
			}
		}
		wants[id] = w
	}
	type running struct {
		listeners map[string]string // listener id → load balancer id
		members   map[string]string
	}
	var readConfig func(data []byte, out running) error
	read := func(ag *agentProc) (running, error) {
		out := running{listeners: map[string]string{}, members: map[string]string{}}
		// The agent's disk cache: one file per load balancer beside head.json.
		if _, err := os.Stat(filepath.Join(ag.dir, "cache", "head.json")); err != nil {
			return out, err
		}
		files, err := filepath.Glob(filepath.Join(ag.dir, "cache", "*.json"))
		if err != nil {
			return out, err
		}
		for _, f := range files {
			if filepath.Base(f) == "head.json" {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				return out, err
			}
			var lb struct {
				Config json.RawMessage `json:"config"`
			}
			if err := json.Unmarshal(data, &lb); err != nil {
				return out, err
			}
			if err := readConfig(lb.Config, out); err != nil {
				return out, err
			}
		}
		return out, nil
	}
	readConfig = func(data []byte, out running) error {
		var cfg struct {
			Listeners []struct {
				ID             string `json:"id"`
				LoadBalancerID string `json:"loadbalancer_id"`
			} `json:"listeners"`
			Pools []struct {
				Members []struct {
					ID      string `json:"id"`
					Address string `json:"address"`
					Port    int    `json:"protocol_port"`
					Weight  int    `json:"weight"`
				} `json:"members"`
			} `json:"pools"`
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			return err
		}
		for _, l := range cfg.Listeners {
			out.listeners[l.ID] = l.LoadBalancerID
		}
		for _, p := range cfg.Pools {
			for _, m := range p.Members {
				out.members[m.ID] = fmt.Sprintf("%s:%d/%d", m.Address, m.Port, m.Weight)
			}
		}
		return nil
	}
	var problems []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		problems = nil
		for _, ag := range c.agents {
			run, err := read(ag)
			if err != nil {
				problems = append(problems, fmt.Sprintf("agent %s: %v", ag.name, err))
				continue
			}
			for id, w := range wants {
				for lis := range w.listeners {
					owner, ok := run.listeners[lis]
					if w.agent == ag.name && (!ok || owner != id) {
						problems = append(problems, fmt.Sprintf("agent %s does not run listener %s of %s", ag.name, lis, id))
					}
					if w.agent != ag.name && ok {
						problems = append(problems, fmt.Sprintf("agent %s runs listener %s of %s, placed on %s", ag.name, lis, id, w.agent))
					}
				}
				for m, spec := range w.members {
					got, ok := run.members[m]
					if w.agent == ag.name && got != spec {
						problems = append(problems, fmt.Sprintf("agent %s runs member %s of %s as %q, want %q", ag.name, m, id, got, spec))
					}
					if w.agent != ag.name && ok {
						problems = append(problems, fmt.Sprintf("agent %s runs member %s of %s, placed on %s", ag.name, m, id, w.agent))
					}
				}
			}
			for lis, owner := range run.listeners {
				if _, ok := wants[owner]; !ok {
					problems = append(problems, fmt.Sprintf("agent %s runs listener %s of %s, which the API does not have", ag.name, lis, owner))
				}
			}
		}
		if len(problems) == 0 {
			return
		}
		if time.Now().After(deadline) {
			if len(problems) > 20 {
				problems = problems[:20]
			}
			t.Errorf("agents' configurations differ from the API's:\n%s", strings.Join(problems, "\n"))
			return
		}
	}
}
