// The active-standby suite: a pair of hosts (network namespaces on one
// bridge, addresses from 198.18.0.0/15) runs keepalived under fulcrum's VRRP supervisor with
// a small HTTP server on the VIP; a client host opens a new connection to the VIP every 5 ms;
// faults are injected into the MASTER and the client counts failed requests and measures the
// outage. Each fault runs -runs times per vrrpSetting (the default 200 ms adverts, and 50 ms). It
// ends with "RESULT <name> <value>" lines:
//
//	vrrp_failover_outage_ms                median outage, SIGKILL of the MASTER's agent (node process), default vrrpSetting
//	vrrp_failover_outage_fast_ms           the same with 50 ms adverts
//	vrrp_silent_failover_outage_ms         median outage, MASTER's link down (no resignation), default vrrpSetting
//	vrrp_planned_failover_failed_requests  median failed requests of a planned handover, default vrrpSetting
//
// Needs root and keepalived 2.2 (Debian's package). Run: bench/run active-standby
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/netlab"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
	"github.com/fulcrumlb/fulcrum/internal/vrrp/vrrplab"
)

func runActiveStandby(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("active-standby", flag.ContinueOnError)
	runs := fs.Int("runs", 5, "measurements per fault and vrrpSetting")
	faults := fs.String("faults", "", "comma-separated faults (default all: "+vrrpFaultNames()+")")
	scale := fs.Bool("scale", true, "also compare one VRRP instance per load balancer with one per pair (250 and 1,000 load balancers)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return runVRRPFaults(*runs, *faults, *scale)
}

func vrrpFaultNames() string {
	var s []string
	for _, f := range vrrplab.Faults {
		s = append(s, string(f))
	}
	return strings.Join(s, ",")
}

type vrrpSetting struct {
	name   string
	advert time.Duration
}

func runVRRPFaults(runs int, only string, scale bool) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespaces, keepalived)")
	}
	if err := vrrp.CheckBinary(vrrp.DefaultBinary); err != nil {
		return err
	}
	if runs < 1 || runs > 100 {
		return fmt.Errorf("-runs %d: 1 to 100", runs)
	}
	faults := vrrplab.Faults
	if only != "" {
		faults = nil
		for _, f := range strings.Split(only, ",") {
			if !slices.Contains(vrrplab.Faults, vrrplab.Fault(f)) {
				return fmt.Errorf("unknown fault %q (known: %s)", f, vrrpFaultNames())
			}
			faults = append(faults, vrrplab.Fault(f))
		}
	}
	ctx := context.Background()
	if removed, _ := netlab.Sweep(ctx); len(removed) > 0 {
		fmt.Fprintln(os.Stderr, "swept labs of crashed runs:", removed)
	}
	ver, _ := exec.Command(vrrp.DefaultBinary, "--version").CombinedOutput()
	first, _, _ := strings.Cut(string(ver), "\n")
	fmt.Printf("keepalived: %s\n", first)
	fmt.Printf("a new connection to the VIP every %v; a request fails without a 200 within %v; outage = span of failed request starts + %v\n",
		vrrplab.ProbeInterval, vrrplab.RequestTimeout, vrrplab.ProbeInterval)
	type key struct {
		vrrpSetting string
		fault       vrrplab.Fault
	}
	outages := map[key][]float64{}
	failed := map[key][]float64{}
	for _, s := range []vrrpSetting{{"default", vrrp.DefaultAdvertInterval}, {"fast", 50 * time.Millisecond}} {
		l, err := vrrplab.Start(ctx, vrrplab.Options{AdvertInterval: s.advert, Stderr: os.Stderr})
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Printf("\n%s: advert_int %v, priorities %d/%d, nopreempt\n", s.name, s.advert, vrrp.DefaultMasterPriority, vrrp.DefaultBackupPriority)
		for _, f := range faults {
			k := key{s.name, f}
			for range runs {
				res, err := l.Measure(ctx, f)
				if err != nil {
					l.Close()
					return fmt.Errorf("%s %s: %w", s.name, f, err)
				}
				outages[k] = append(outages[k], float64(res.Outage)/float64(time.Millisecond))
				failed[k] = append(failed[k], float64(res.Failed))
			}
			fmt.Printf("  %-18s outage ms %-28s median %4.0f | failed %-20s median %3.0f\n", f,
				vrrpList(outages[k]), vrrpMedian(outages[k]), vrrpList(failed[k]), vrrpMedian(failed[k]))
		}
		pr, err := l.Partition(ctx)
		if err != nil {
			l.Close()
			return fmt.Errorf("%s partition: %w", s.name, err)
		}
		fmt.Printf("  %-18s both MASTER after %v (both hold the VIP: %v, client served by %s); after the heal one MASTER in %v, client back on it in %v\n",
			"partition", pr.BothMaster.Round(time.Millisecond), pr.BothHeldVIP, pr.DuringServedBy, pr.Resolved.Round(time.Millisecond), pr.Served.Round(time.Millisecond))
		if err := l.Close(); err != nil {
			return fmt.Errorf("%s teardown: %w", s.name, err)
		}
	}
	if scale {
		fmt.Println("\nscale (default vrrpSetting; CPU over 10 s of steady state, both hosts):")
		for _, layout := range [][2]int{{250, 1}, {1, 250}, {1, 1000}} {
			l, err := vrrplab.Start(ctx, vrrplab.Options{Stderr: os.Stderr})
			if err != nil {
				return err
			}
			res, err := l.Scale(ctx, layout[0], layout[1], 10*time.Second)
			cerr := l.Close()
			if err != nil {
				return fmt.Errorf("scale %d×%d: %w", layout[0], layout[1], err)
			}
			if cerr != nil {
				return cerr
			}
			what := "one instance per load balancer"
			if layout[0] == 1 {
				what = "one instance per pair"
			}
			fmt.Printf("  %-31s %s\n", what, res)
		}
	}
	fmt.Println()
	pick := func(m map[key][]float64, s string, f vrrplab.Fault) string {
		v, ok := m[key{s, f}]
		if !ok {
			return "n/a"
		}
		return strconv.FormatFloat(vrrpMedian(v), 'f', 0, 64)
	}
	fmt.Println("RESULT vrrp_failover_outage_ms", pick(outages, "default", vrrplab.NodeKill))
	fmt.Println("RESULT vrrp_failover_outage_fast_ms", pick(outages, "fast", vrrplab.NodeKill))
	fmt.Println("RESULT vrrp_silent_failover_outage_ms", pick(outages, "default", vrrplab.LinkDown))
	fmt.Println("RESULT vrrp_planned_failover_failed_requests", pick(failed, "default", vrrplab.Planned))
	return nil
}

func vrrpList(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, strconv.FormatFloat(x, 'f', 0, 64))
	}
	return strings.Join(s, " ")
}

func vrrpMedian(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
