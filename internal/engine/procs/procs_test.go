package procs

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSizerSteps(t *testing.T) {
	s := sizer{n: 4, max: 4, up: DefaultUp, down: DefaultDown, rise: DefaultRise, settle: DefaultSettle}
	steps := func(used float64, k int) int {
		n := s.n
		for range k {
			n = s.step(used)
			s.n = n
		}
		return n
	}
	// Busy on all four processors: nothing above the ceiling.
	if n := steps(3.9, 5); n != 4 {
		t.Fatalf("at the ceiling: %d processors", n)
	}
	// 2.3 cores fit in three processors (2.3 < 0.8·3) but not in two (2.3 ≥ 0.8·2).
	if n := steps(2.3, DefaultSettle-1); n != 4 {
		t.Fatalf("stepped down before %d intervals: %d", DefaultSettle, n)
	}
	if n := steps(2.3, 1); n != 3 {
		t.Fatalf("after %d low intervals: %d processors, want 3", DefaultSettle, n)
	}
	if n := steps(2.3, 3*DefaultSettle); n != 3 {
		t.Fatalf("2.3 cores on 3 processors: %d, want 3 (no room on 2)", n)
	}
	// One interval of another level breaks a run of low intervals.
	s.n = 2
	steps(0.2, DefaultSettle-1)
	steps(1.0, 1)
	if n := steps(0.2, DefaultSettle-1); n != 2 {
		t.Fatalf("a broken run of low intervals stepped down: %d", n)
	}
	if n := steps(0.2, 1); n != 1 {
		t.Fatalf("idle: %d processors, want 1", n)
	}
	if n := steps(0, 10*DefaultSettle); n != 1 {
		t.Fatalf("never below one processor: %d", n)
	}
	// A full processor: doubled after Rise intervals, up to the ceiling.
	if n := steps(0.95, DefaultRise-1); n != 1 {
		t.Fatalf("stepped up before %d intervals: %d", DefaultRise, n)
	}
	if n := steps(0.95, 1); n != 2 {
		t.Fatalf("a full processor: %d, want 2", n)
	}
	if n := steps(1.95, DefaultRise); n != 4 {
		t.Fatalf("two full processors: %d, want 4", n)
	}
	// Just below the line on one processor: stays (0.85 < 0.9).
	s.n = 1
	if n := steps(0.85, 10); n != 1 {
		t.Fatalf("0.85 cores on one processor: %d", n)
	}
}

// A load that fits after a step down never steps back up on the same load: the bands
// do not overlap (Down ≤ Up), for every processor count up to 64.
func TestSizerNoFlapOnSteadyLoad(t *testing.T) {
	for max := 2; max <= 64; max++ {
		for used := 0.0; used <= float64(max); used += 0.05 {
			s := sizer{n: max, max: max, up: DefaultUp, down: DefaultDown, rise: DefaultRise, settle: DefaultSettle}
			changes, last := 0, s.n
			for range 50 * DefaultSettle {
				s.n = s.step(used)
				if s.n > last && changes > 0 {
					t.Fatalf("max %d, %.2f cores: stepped up after stepping down (%d → %d)", max, used, last, s.n)
				}
				if s.n != last {
					changes++
					last = s.n
				}
			}
		}
	}
}

// run applies the sizer's decisions from the process CPU it reads, and stops with ctx.
func TestRunFollowsLoad(t *testing.T) {
	var mu sync.Mutex
	var cpu time.Duration
	var cores atomic.Value
	cores.Store(0.0)
	var got []int
	o := Options{Max: 4, Interval: 5 * time.Millisecond}
	last := time.Now()
	o.cpu = func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		cpu += time.Duration(cores.Load().(float64) * float64(now.Sub(last)))
		last = now
		return cpu
	}
	set := make(chan int, 100)
	o.set = func(n int) {
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
		set <- n
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { run(ctx, o.withDefaults()); close(done) }()
	wait := func(want int) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case n := <-set:
				if n == want {
					return
				}
			case <-deadline:
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("GOMAXPROCS never set to %d (set: %v)", want, got)
			}
		}
	}
	// Idle: down to one processor, one step at a time.
	wait(3)
	wait(2)
	wait(1)
	// Full: doubled.
	cores.Store(4.0)
	wait(2)
	wait(4)
	// Back to two, then stopped: the ceiling is put back.
	cores.Store(0.0)
	wait(3)
	cancel()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("run did not stop with its context")
	}
	mu.Lock()
	defer mu.Unlock()
	if last := got[len(got)-1]; last != 4 {
		t.Fatalf("stopped at %d processors, want the ceiling 4 back (set: %v)", last, got)
	}
}

func TestStartRespectsGOMAXPROCS(t *testing.T) {
	t.Setenv(Env, "1")
	t.Setenv("GOMAXPROCS", "3")
	o := Options{Max: 4, Interval: time.Millisecond}
	called := make(chan int, 1)
	o.set = func(n int) { called <- n }
	o.cpu = func() time.Duration { return 0 }
	stop := Start(context.Background(), o)
	defer stop()
	select {
	case n := <-called:
		t.Fatalf("GOMAXPROCS set by the operator, yet sized to %d", n)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestStartOffByDefault(t *testing.T) {
	t.Setenv(Env, "")
	o := Options{Max: 4, Interval: time.Millisecond}
	called := make(chan int, 1)
	o.set = func(n int) { called <- n }
	o.cpu = func() time.Duration { return 0 }
	stop := Start(context.Background(), o)
	defer stop()
	select {
	case n := <-called:
		t.Fatalf("sizing off by default, yet sized to %d", n)
	case <-time.After(200 * time.Millisecond):
	}
	// On: an idle process steps down (8 intervals of 1 ms).
	t.Setenv(Env, "1")
	stop2 := Start(context.Background(), o)
	defer stop2()
	select {
	case <-called:
	case <-time.After(60 * time.Second):
		t.Fatal("sizing on, yet GOMAXPROCS never set")
	}
}
