package e2e

import (
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
)

// expectation is what a write that was answered 2xx promises about an object.
type expectation int

const (
	mustExist  expectation = iota // created, not deleted
	mustBeGone                    // delete answered 2xx
	unknown                       // the server died mid-request: either is fine
)

type object struct {
	kind   string // loadbalancer, listener, pool, member
	id     string
	path   string // GET path
	expect expectation
}

// ledger records every object a writer touched and what its answers promise.
type ledger struct {
	mu   sync.Mutex
	objs map[string]*object
}

func (l *ledger) set(kind, id, path string, e expectation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if o, ok := l.objs[id]; ok {
		o.expect = e
		return
	}
	l.objs[id] = &object{kind: kind, id: id, path: path, expect: e}
}

func (l *ledger) cascade(lbID string, children []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range children {
		if o, ok := l.objs[c]; ok {
			o.expect = mustBeGone
		}
	}
	l.objs[lbID].expect = mustBeGone
}

func (l *ledger) markUnknown(ids ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		if o, ok := l.objs[id]; ok {
			o.expect = unknown
		}
	}
}

// writer builds and tears down load balancers as fast as the API answers,
// never waiting for ACTIVE (fulcrum accepts writes while PENDING_*). It stops
// at the first transport error: the server has been killed.
func writer(a *api, led *ledger, seed int64, stop <-chan struct{}) {
	rng := rand.New(rand.NewSource(seed))
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		r, err := a.call("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
			"name": fmt.Sprintf("crash-%d-%d", seed, i), "vip_subnet_id": "6d7b0a60-6a7e-4c3a-9d1b-2f4f9d6c1e01"}})
		if err != nil || r.code != 201 {
			return // unknown outcome: nothing recorded, nothing promised
		}
		lbID := r.id("loadbalancer")
		led.set("loadbalancer", lbID, "/v2/lbaas/loadbalancers/"+lbID, mustExist)
		var children []string
		step := func(kind, wrapper, method, path string, body any, getPath func(id string) string) string {
			r, err := a.call(method, path, body)
			if err != nil {
				return "!"
			}
			if r.code != 201 {
				return ""
			}
			id := r.id(wrapper)
			led.set(kind, id, getPath(id), mustExist)
			children = append(children, id)
			return id
		}
		lis := step("listener", "listener", "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
			"loadbalancer_id": lbID, "protocol": "HTTP", "protocol_port": 80 + rng.Intn(2)}},
			func(id string) string { return "/v2/lbaas/listeners/" + id })
		if lis == "!" {
			return
		}
		pool := step("pool", "pool", "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
			"loadbalancer_id": lbID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}},
			func(id string) string { return "/v2/lbaas/pools/" + id })
		if pool == "!" || pool == "" {
			return
		}
		var members []string
		for m := 0; m < 3; m++ {
			id := step("member", "member", "POST", "/v2/lbaas/pools/"+pool+"/members", map[string]any{"member": map[string]any{
				"address": "127.0.0.1", "protocol_port": 8000 + m}},
				func(id string) string { return "/v2/lbaas/pools/" + pool + "/members/" + id })
			if id == "!" {
				return
			}
			members = append(members, id)
		}
		if len(members) > 0 && members[0] != "" && rng.Intn(2) == 0 {
			r, err := a.call("DELETE", "/v2/lbaas/pools/"+pool+"/members/"+members[0], nil)
			if err != nil {
				led.markUnknown(members[0])
				return
			}
			if r.code == 204 {
				led.set("member", members[0], "", mustBeGone)
			}
		}
		if rng.Intn(3) == 0 {
			r, err := a.call("DELETE", "/v2/lbaas/loadbalancers/"+lbID+"?cascade=true", nil)
			if err != nil {
				led.markUnknown(append(children, lbID)...)
				return
			}
			if r.code == 204 {
				led.cascade(lbID, children)
			}
		}
	}
}

// TestCrashAnywhereConverges SIGKILLs the server while writers hammer it,
// restarts it on the same data directory and checks that every write that
// was answered 2xx survived, and that everything converges: no object stays
// PENDING_*. The writers run concurrently, so the store's group commit
// batches their transactions (several writers' changes in one COMMIT): a
// kill lands between, during and after shared commits, and a write is
// still answered only once the commit holding it is on disk.
func TestCrashAnywhereConverges(t *testing.T) {
	srv := servertest.Start(t, bin, "", "--auth", "noauth", "--network", "noop", "--provider", "noop", "--resync", "200ms", "--log-level", "warn")
	led := &ledger{objs: map[string]*object{}}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	const cycles, writers = 3, 8
	// lbs counts the load balancers whose create was answered 201.
	lbs := func() int {
		led.mu.Lock()
		defer led.mu.Unlock()
		n := 0
		for _, o := range led.objs {
			if o.kind == "loadbalancer" {
				n++
			}
		}
		return n
	}
	for cycle := 0; cycle < cycles; cycle++ {
		a := newAPI(srv.URL)
		before := lbs()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(seed int64) {
				defer wg.Done()
				writer(a, led, seed, stop)
			}(int64(cycle*100 + w))
		}
		// Kill at a random moment once writes are flowing: a fixed delay
		// alone can pass on a loaded machine before the first write is
		// answered, and then the cycle proves nothing. The kill can leave
		// at most one load balancer per writer unknown (a cascade delete cut
		// off), so once writers+1 were created this cycle, at least one
		// promise is left to check.
		for deadline := time.Now().Add(60 * time.Second); lbs() < before+writers+1; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("cycle %d: fewer than %d load balancers created in 60s", cycle, writers+1)
			}
		}
		time.Sleep(time.Duration(rng.Intn(700)) * time.Millisecond)
		srv.Kill()
		close(stop)
		wg.Wait()
		srv.Restart()
		verify(t, newAPI(srv.URL), led, cycle)
	}
	if t.Failed() {
		t.Logf("server logs:\n%s", srv.Logs())
	}
}

// verify waits for convergence, then checks every promise in the ledger.
func verify(t *testing.T, a *api, led *ledger, cycle int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		pending := pendingObjects(t, a)
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cycle %d: still pending 60s after restart: %v", cycle, pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
	led.mu.Lock()
	defer led.mu.Unlock()
	var exist, gone int
	for _, o := range led.objs {
		if o.path == "" || o.expect == unknown {
			continue
		}
		r, err := a.call("GET", o.path, nil)
		if err != nil {
			t.Fatalf("GET %s: %v", o.path, err)
		}
		switch o.expect {
		case mustExist:
			exist++
			if r.code != 200 {
				t.Errorf("cycle %d: %s %s was created (201) but GET answers %d: lost write", cycle, o.kind, o.id, r.code)
			} else if st := r.field(o.kind, "provisioning_status"); st != "ACTIVE" {
				t.Errorf("cycle %d: %s %s is %s after convergence", cycle, o.kind, o.id, st)
			}
		case mustBeGone:
			gone++
			if r.code != 404 {
				t.Errorf("cycle %d: %s %s was deleted (204) but GET answers %d", cycle, o.kind, o.id, r.code)
			}
		}
	}
	t.Logf("cycle %d: %d objects verified present and ACTIVE, %d verified gone", cycle, exist, gone)
	if exist+gone == 0 {
		t.Errorf("cycle %d: no write survived to check; the test proved nothing", cycle)
	}
}

// pendingObjects lists every object of every kind still in a PENDING_* state.
func pendingObjects(t *testing.T, a *api) []string {
	t.Helper()
	var out []string
	for _, res := range []string{"loadbalancers", "listeners", "pools", "healthmonitors"} {
		r, err := a.call("GET", "/v2/lbaas/"+res+"?limit=0", nil)
		if err != nil || r.code != 200 {
			t.Fatalf("list %s: %v %d %s", res, err, r.code, r.raw)
		}
		items, _ := r.body[res].([]any)
		for _, it := range items {
			obj := it.(map[string]any)
			st, _ := obj["provisioning_status"].(string)
			if st != "ACTIVE" {
				out = append(out, fmt.Sprintf("%s/%s=%s", res, obj["id"], st))
			}
			if res == "pools" {
				mr, err := a.call("GET", "/v2/lbaas/pools/"+obj["id"].(string)+"/members?limit=0", nil)
				if err != nil {
					t.Fatal(err)
				}
				members, _ := mr.body["members"].([]any)
				for _, m := range members {
					mm := m.(map[string]any)
					if s, _ := mm["provisioning_status"].(string); s != "ACTIVE" {
						out = append(out, fmt.Sprintf("member/%s=%s", mm["id"], s))
					}
				}
			}
		}
	}
	return out
}
