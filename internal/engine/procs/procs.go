// Package procs sizes GOMAXPROCS of a process that runs the native engine to the CPU
// it uses: as few processors as its load needs, up to the ceiling the process started
// with (the CPUs the runtime found, or its cgroup limit).
//
// Why: on the engine's keep-alive HTTP path each request parks its connection's goroutine
// twice on the poller. With more than one processor the runtime hands the goroutines
// that the poller readies to the other processor and wakes a thread for it, which spins
// looking for work before it sleeps again; on a machine the engine shares with other busy
// processes that costs about a tenth of the engine's CPU per request (docs/dataplane.md,
// "HTTP path: processors sized to the load"). A load that fits in fewer processors runs
// on fewer; one that fills them gets more at the next look.
//
// The rule, every Interval, from the process's CPU time over the interval in cores (u)
// and the processors in force (n):
//   - u ≥ Up·n for Rise intervals in a row (the processors are nearly full): double n, up
//     to the ceiling;
//   - u < Down·(n−1) for Settle intervals in a row (the load fits in one processor fewer
//     with room to spare): n−1.
//
// Down·(n−1) stays below Up·(n−1) and a load measured on n processors costs no more on
// n−1, so a step down is never followed by a step up unless the load grew. A burst that
// fills the processors gets more after Rise intervals (half a second by default). The operator's GOMAXPROCS
// (the environment variable) is a fixed choice: Start does nothing then. The sizing is
// off unless FULCRUM_ENGINE_SIZE_PROCS=1 (Env).
package procs

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"syscall"
	"time"
)

// Defaults of Options.
const (
	DefaultInterval = 250 * time.Millisecond
	DefaultUp       = 0.9
	DefaultDown     = 0.8
	DefaultRise     = 2
	DefaultSettle   = 8
)

// Options tune the sizing; the zero value takes the defaults above.
type Options struct {
	// Max is the ceiling (default: GOMAXPROCS when Start is called).
	Max int
	// Interval between two looks at the CPU used.
	Interval time.Duration
	// Up and Down are the fractions of the rule above; Rise and Settle the intervals in a
	// row before a step up and a step down.
	Up, Down     float64
	Rise, Settle int
	Logger       *slog.Logger

	// cpu and set replace the process's CPU time and runtime.GOMAXPROCS (tests).
	cpu func() time.Duration
	set func(int)
}

// Env turns the sizing on when set to 1 in the environment of the engine's process. It is
// off by default: on the shared 2-core bench machine it did not yet measure clearly
// better than two fixed processors (docs/dataplane.md), and one processor puts a
// CPU-heavy task (a TLS handshake) in the way of every other connection until the
// runtime preempts it.
const Env = "FULCRUM_ENGINE_SIZE_PROCS"

// Start sizes GOMAXPROCS until ctx ends or stop is called, starting from the ceiling;
// then the ceiling is put back (stop returns once it is). It does nothing unless Env is
// 1, nor when the GOMAXPROCS environment variable is set or the ceiling is one processor.
func Start(ctx context.Context, o Options) (stop func()) {
	if os.Getenv(Env) != "1" || os.Getenv("GOMAXPROCS") != "" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx, o.withDefaults())
	}()
	return func() {
		cancel()
		<-done
	}
}

func (o Options) withDefaults() Options {
	if o.Max <= 0 {
		o.Max = runtime.GOMAXPROCS(0)
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Up <= 0 {
		o.Up = DefaultUp
	}
	if o.Down <= 0 {
		o.Down = DefaultDown
	}
	if o.Rise <= 0 {
		o.Rise = DefaultRise
	}
	if o.Settle <= 0 {
		o.Settle = DefaultSettle
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.cpu == nil {
		o.cpu = processCPU
	}
	if o.set == nil {
		o.set = func(n int) { runtime.GOMAXPROCS(n) }
	}
	return o
}

func run(ctx context.Context, o Options) {
	if o.Max <= 1 {
		return
	}
	s := sizer{n: o.Max, max: o.Max, up: o.Up, down: o.Down, rise: o.Rise, settle: o.Settle}
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	defer func() {
		if s.n != o.Max {
			o.set(o.Max)
		}
	}()
	last, lastCPU := time.Now(), o.cpu()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			c := o.cpu()
			wall := now.Sub(last)
			if wall <= 0 {
				continue
			}
			used := float64(c-lastCPU) / float64(wall)
			last, lastCPU = now, c
			if n := s.step(used); n != s.n {
				o.Logger.Debug("GOMAXPROCS", "from", s.n, "to", n, "cores_used", used)
				s.n = n
				o.set(n)
			}
		}
	}
}

// sizer is the rule of the package comment.
type sizer struct {
	n, max       int
	up, down     float64
	rise, settle int
	high, low    int // intervals in a row above the step-up line, below the step-down line
}

// step returns the processors for the next interval given the cores used in the last.
func (s *sizer) step(used float64) int {
	n := s.n
	switch {
	case n < s.max && used >= s.up*float64(n):
		s.low = 0
		s.high++
		if s.high >= s.rise {
			s.high = 0
			return min(s.max, 2*n)
		}
	case n > 1 && used < s.down*float64(n-1):
		s.high = 0
		s.low++
		if s.low >= s.settle {
			s.low = 0
			return n - 1
		}
	default:
		s.high, s.low = 0, 0
	}
	return n
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
