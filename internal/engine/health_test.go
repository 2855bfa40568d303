package engine

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/clock"
)

func memberHealth(e *Engine, id string) dataplane.MemberHealth {
	for _, h := range e.Health().Members {
		if h.MemberID == id {
			return h
		}
	}
	return dataplane.MemberHealth{}
}

// stepper advances a fake clock one health-check delay at a time, waiting for every
// checker to have rescheduled before a step and for the watched member's probe to have
// finished after it. A probe's timeout runs on the real clock: the tests give a
// generous one, which a stopped member (refused at once) never reaches and a healthy
// member on a loaded machine never exceeds.
type stepper struct {
	t        *testing.T
	e        *Engine
	clk      *clock.Fake
	delay    time.Duration
	checkers int
}

func (s *stepper) waitProbe(member string) dataplane.MemberHealth {
	s.t.Helper()
	deadline := time.Now().Add(patience)
	for {
		h := memberHealth(s.e, member)
		if h.LastCheck.Equal(s.clk.Now()) && s.clk.Pending() >= s.checkers {
			return h
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("probe of %s at %v did not finish: %+v", member, s.clk.Now(), h)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (s *stepper) step(member string) dataplane.MemberHealth {
	s.t.Helper()
	if !s.clk.WaitPending(s.checkers, patience) {
		s.t.Fatalf("checkers did not reschedule")
	}
	s.clk.Advance(s.delay)
	return s.waitProbe(member)
}

func TestHealthKillAndRevive(t *testing.T) {
	checkGoroutines(t)
	a, b, bk := startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "backup")
	port := freePort(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	var events []dataplane.HealthEvent
	e := newEngine(t, Options{Clock: clk, OnHealthEvent: func(ev dataplane.HealthEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}})
	const rise, fall, delay = 2, 3, 5
	backup := bk.member("mbk")
	backup.Backup = true
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"), b.member("mb"), backup)
	p.HealthMonitor = &dataplane.HealthMonitor{Type: dataplane.MonitorHTTP, Delay: delay, Timeout: 30, MaxRetries: rise, MaxRetriesDown: fall,
		URLPath: "/", ExpectedCodes: "200", AdminStateUp: true}
	mustApply(t, e, oneListener(port, p))
	s := &stepper{t: t, e: e, clk: clk, delay: delay * time.Second, checkers: 3}
	if h := s.waitProbe("mb"); h.Status != dataplane.StatusUp || !h.LastCheckOK || h.LastCheckDetail != "HTTP 200" {
		t.Fatalf("initial health: %+v", h)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	c := newClient()
	spread := func(n int) map[string]int {
		got := map[string]int{}
		for i := 0; i < n; i++ {
			code, body := get(t, c, url)
			if code != 200 {
				t.Fatalf("request failed: %d", code)
			}
			got[body]++
		}
		return got
	}
	if got := spread(10); got["a"] != 5 || got["b"] != 5 {
		t.Fatalf("both healthy: %v", got)
	}

	b.stop()
	killed := clk.Now()
	steps := 0
	for memberHealth(e, "mb").Status != dataplane.StatusDown {
		steps++
		if steps > fall+1 {
			t.Fatalf("member not DOWN after %d delays (want within delay×fall + one delay = %d)", steps, fall+1)
		}
		s.step("mb")
	}
	t.Logf("killed member DOWN after %v of probe time (bound %v)", clk.Now().Sub(killed), time.Duration(delay*(fall+1))*time.Second)
	c.CloseIdleConnections()
	if got := spread(10); got["a"] != 10 {
		t.Fatalf("with b down all traffic goes to a: %v", got)
	}

	a.stop()
	for memberHealth(e, "ma").Status != dataplane.StatusDown {
		s.step("ma")
	}
	c.CloseIdleConnections()
	if got := spread(6); got["backup"] != 6 {
		t.Fatalf("with every primary down the backup serves: %v", got)
	}

	b.restart(t)
	revived := clk.Now()
	steps = 0
	for memberHealth(e, "mb").Status != dataplane.StatusUp {
		steps++
		if steps > rise+1 {
			t.Fatalf("member not UP after %d delays (want within delay×rise + one delay = %d)", steps, rise+1)
		}
		s.step("mb")
	}
	t.Logf("revived member UP after %v of probe time (bound %v)", clk.Now().Sub(revived), time.Duration(delay*(rise+1))*time.Second)
	if got := spread(6); got["b"] != 6 {
		t.Fatalf("b back, a still down, backup idle: %v", got)
	}

	mu.Lock()
	defer mu.Unlock()
	var trail []string
	for _, ev := range events {
		trail = append(trail, ev.MemberID+":"+string(ev.From)+"→"+string(ev.To))
		if ev.Time.IsZero() || ev.Detail == "" || ev.Address == "" || ev.PoolID != "p1" {
			t.Errorf("incomplete event: %+v", ev)
		}
	}
	want := []string{"mb:UP→DOWN", "ma:UP→DOWN", "mb:DOWN→UP"}
	if fmt.Sprint(trail) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", trail, want)
	}
	if !events[0].Time.After(killed) || !events[2].Time.After(revived) {
		t.Errorf("event times not after the cause: %+v", events)
	}
}

// TestHealthMonitorAddress probes monitor_address/monitor_port instead of the member.
func TestHealthMonitorAddress(t *testing.T) {
	checkGoroutines(t)
	a, mon := startBackend(t, "a"), startBackend(t, "monitor")
	port := freePort(t)
	clk := clock.NewFake(time.Unix(0, 0))
	e := newEngine(t, Options{Clock: clk})
	m := a.member("ma")
	m.MonitorAddress = "127.0.0.1"
	m.MonitorPort = int(mon.addr.Port())
	p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, m)
	p.HealthMonitor = &dataplane.HealthMonitor{Type: dataplane.MonitorHTTP, Delay: 1, Timeout: 30, MaxRetries: 1, MaxRetriesDown: 1, AdminStateUp: true}
	mustApply(t, e, oneListener(port, p))
	s := &stepper{t: t, e: e, clk: clk, delay: time.Second, checkers: 1}
	s.waitProbe("ma")
	if mon.hits.Load() != 1 || a.hits.Load() != 0 {
		t.Fatalf("probe went to member %d times, monitor %d times; want the monitor address", a.hits.Load(), mon.hits.Load())
	}
	mon.stop()
	if h := s.step("ma"); h.Status != dataplane.StatusDown {
		t.Fatalf("monitor address down, fall 1: %+v", h)
	}
	// Disabling the monitor brings the member back as NO_CHECK.
	p.HealthMonitor.AdminStateUp = false
	cfg := oneListener(port, p)
	cfg.Version = 2
	mustApply(t, e, cfg)
	if h := memberHealth(e, "ma"); h.Status != dataplane.StatusNoCheck {
		t.Fatalf("monitor disabled: %+v", h)
	}
	if code, body := get(t, newClient(), fmt.Sprintf("http://127.0.0.1:%d/", port)); code != 200 || body != "a" {
		t.Fatalf("unmonitored member should serve: %d %q", code, body)
	}
}
