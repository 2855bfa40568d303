package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine"
)

// runApply times applying n HTTP listeners (each with its own two-member pool with a TCP
// health monitor) to an empty engine and reports the idle memory they cost: the larger of
// the growth of the process's resident set and of the Go runtime's heap+stacks, per
// listener.
func runApply(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	n := fs.Int("n", 1000, "listeners")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := &dataplane.Config{Version: 1}
	for i := 0; i < *n; i++ {
		id := fmt.Sprintf("l%04d", i)
		addr := fmt.Sprintf("127.1.%d.%d", i/250, 1+i%250)
		cfg.Listeners = append(cfg.Listeners, dataplane.Listener{ID: id, LoadBalancerID: "lb", Protocol: dataplane.ProtocolHTTP,
			Addresses: []string{addr}, ProtocolPort: 20000 + i%20, DefaultPoolID: "p" + id, ConnectionLimit: -1,
			TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000})
		cfg.Pools = append(cfg.Pools, dataplane.Pool{ID: "p" + id, Protocol: dataplane.ProtocolHTTP, Algorithm: dataplane.RoundRobin,
			Members: []dataplane.Member{
				{ID: "a" + id, Address: "127.0.0.1", ProtocolPort: 9, Weight: 1, AdminStateUp: true},
				{ID: "b" + id, Address: "127.0.0.1", ProtocolPort: 10, Weight: 1, AdminStateUp: true},
			},
			HealthMonitor: &dataplane.HealthMonitor{Type: dataplane.MonitorTCP, Delay: 3600, Timeout: 1, MaxRetries: 1, MaxRetriesDown: 3, AdminStateUp: true}})
	}
	e := engine.New(engine.Options{})
	defer e.Close()
	time.Sleep(200 * time.Millisecond) // let the runtime settle before the baseline
	rss0, go0 := memory()
	start := time.Now()
	if err := e.Apply(ctx, cfg); err != nil {
		return err
	}
	applied := time.Since(start)
	time.Sleep(2 * time.Second) // first health probes run and finish
	rss1, go1 := memory()
	perRSS := float64(rss1-rss0) / 1024 / float64(*n)
	perGo := float64(go1-go0) / 1024 / float64(*n)
	fmt.Printf("apply_seconds %.3f\n", applied.Seconds())
	fmt.Printf("idle memory per listener: RSS %.1f KiB, Go heap+stacks %.1f KiB (%d listeners, %d goroutines)\n", perRSS, perGo, *n, runtime.NumGoroutine())
	fmt.Printf("idle_kib_per_listener %.1f\n", max(perRSS, perGo))
	return nil
}

func memory() (rss, goMem uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	goMem = ms.HeapInuse + ms.StackInuse
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			rss = kb * 1024
		}
	}
	return rss, goMem
}
