// The active-standby suite, in two parts.
//
// Real agents (-agents): a `fulcrum server` and three `fulcrum agent`s, each in a network
// namespace on one bridge (addresses from 198.18.0.0/15, internal/vrrp/agentlab), an
// ACTIVE_STANDBY load balancer with an HTTP listener created through the API, a backend and a
// client host opening a new connection to the VIP every 5 ms; each fault on the MASTER
// (SIGKILL of its agent, its link down, SIGKILL of its keepalived, `amphora failover` of its
// amphora) runs -runs times with the defaults (200 ms adverts).
//
// Supervisor level (-supervisor): a pair of hosts runs keepalived under fulcrum's VRRP
// supervisor with a small HTTP server on the VIP (internal/vrrp/vrrplab), each fault -runs
// times per vrrpSetting (the default 200 ms adverts, and 50 ms).
//
// It ends with "RESULT <name> <value>" lines:
//
//	vrrp_failover_outage_ms                          median outage, SIGKILL of the MASTER's fulcrum agent
//	vrrp_planned_failover_failed_requests            median failed requests, `amphora failover` of the MASTER
//	vrrp_split_brain_both_held_ms                    median time both members held the VIP, path between them cut
//	vrrp_failover_outage_advert50_ms                 the SIGKILL of the MASTER's agent again, the flavor's
//	                                                 vrrp_advert_int_ms 50 (-fast-advert-ms; 0 skips it)
//
//	vrrp_failover_outage_supervisor_ms               median outage, SIGKILL of the MASTER's node process (supervisor level)
//	vrrp_failover_outage_fast_ms                     the same with 50 ms adverts
//	vrrp_silent_failover_outage_ms                   median outage, MASTER's link down (supervisor level)
//	vrrp_planned_failover_failed_requests_supervisor median failed requests of a planned handover (supervisor level)
//
// With -advert-ms N (the flavor's vrrp_advert_int_ms) the real agents' names carry _advertN
// (vrrp_failover_outage_advert100_ms).
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

	"github.com/fulcrumlb/fulcrum/bench/internal/benchkit"
	"github.com/fulcrumlb/fulcrum/internal/netlab"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
	"github.com/fulcrumlb/fulcrum/internal/vrrp/agentlab"
	"github.com/fulcrumlb/fulcrum/internal/vrrp/vrrplab"
)

func runActiveStandby(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("active-standby", flag.ContinueOnError)
	runs := fs.Int("runs", 5, "measurements per fault and vrrpSetting")
	faults := fs.String("faults", "", "comma-separated faults (default all: "+vrrpFaultNames()+")")
	scale := fs.Bool("scale", true, "also compare one VRRP instance per load balancer with one per pair (250 and 1,000 load balancers)")
	agents := fs.Bool("agents", true, "measure real fulcrum agents (server, three agents, ACTIVE_STANDBY load balancer)")
	supervisor := fs.Bool("supervisor", true, "measure the VRRP supervisor alone (vrrplab pair)")
	advert := fs.Int("advert-ms", 0, "real agents: the flavor's vrrp_advert_int_ms (default: the server's, 200); a multiple of 10")
	fast := fs.Int("fast-advert-ms", 50, "real agents: a second lab whose flavor sets this vrrp_advert_int_ms, SIGKILL of the MASTER's agent only (0: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespaces, keepalived)")
	}
	if *runs < 1 || *runs > 100 {
		return fmt.Errorf("-runs %d: 1 to 100", *runs)
	}
	var results []string
	for _, a := range []struct {
		name string
		v    int
	}{{"advert-ms", *advert}, {"fast-advert-ms", *fast}} {
		if a.v != 0 && (a.v < 10 || a.v > 40950 || a.v%10 != 0) {
			return fmt.Errorf("-%s %d: a multiple of 10 from 10 to 40950", a.name, a.v)
		}
	}
	if *agents {
		r, err := runAgentFaults(*runs, *advert, agentlab.Faults, true)
		if err != nil {
			return err
		}
		results = append(results, r...)
		base := *advert
		if base == 0 {
			base = int(vrrp.DefaultAdvertInterval / time.Millisecond)
		}
		if *fast != 0 && *fast != base {
			fmt.Println()
			r, err := runAgentFaults(*runs, *fast, []agentlab.Fault{agentlab.KillAgent}, false)
			if err != nil {
				return err
			}
			results = append(results, r...)
		}
	}
	if *supervisor {
		r, err := runVRRPFaults(*runs, *faults, *scale)
		if err != nil {
			return err
		}
		results = append(results, r...)
	}
	fmt.Println()
	for _, r := range results {
		fmt.Println(r)
	}
	return nil
}

// runAgentFaults measures faults (and, if partition, the split-brain rule) on real agents with
// adverts every advertMS (0: the default) and returns its RESULT lines; with a setting other
// than the default their names say it (vrrp_failover_outage_advert50_ms).
func runAgentFaults(runs, advertMS int, faults []agentlab.Fault, partition bool) ([]string, error) {
	ctx := context.Background()
	if err := vrrp.CheckBinary(vrrp.DefaultBinary); err != nil {
		return nil, err
	}
	if removed, _ := netlab.Sweep(ctx); len(removed) > 0 {
		fmt.Fprintln(os.Stderr, "swept labs of crashed runs:", removed)
	}
	_, bin, cleanup, err := benchkit.Workdir("fulcrum-bench-ha-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	l, err := agentlab.Start(ctx, agentlab.Options{Binary: bin, AdvertIntervalMS: advertMS})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if err := l.CreateLoadBalancer(ctx); err != nil {
		return nil, err
	}
	adv, suffix := vrrp.DefaultAdvertInterval, ""
	if advertMS != 0 && time.Duration(advertMS)*time.Millisecond != vrrp.DefaultAdvertInterval {
		adv, suffix = time.Duration(advertMS)*time.Millisecond, fmt.Sprintf("_advert%d", advertMS)
	}
	fmt.Printf("real agents: fulcrum server, %d agents, ACTIVE_STANDBY load balancer (HTTP); advert_int %v (flavor vrrp_advert_int_ms), priorities %d/%d, nopreempt; heartbeats every %v\n",
		len(l.Agents), adv, vrrp.DefaultMasterPriority, vrrp.DefaultBackupPriority, agentlab.Heartbeat)
	outages := map[agentlab.Fault][]float64{}
	failed := map[agentlab.Fault][]float64{}
	for _, f := range faults {
		var whole []float64
		for range runs {
			res, err := l.Measure(ctx, f)
			if err != nil {
				return nil, fmt.Errorf("agents %s: %w", f, err)
			}
			outages[f] = append(outages[f], float64(res.Outage)/float64(time.Millisecond))
			failed[f] = append(failed[f], float64(res.Failed))
			whole = append(whole, res.Recovered.Seconds())
		}
		fmt.Printf("  %-18s outage ms %-28s median %4.0f | failed %-20s median %3.0f | pair whole again after median %.1f s\n", f,
			vrrpList(outages[f]), vrrpMedian(outages[f]), vrrpList(failed[f]), vrrpMedian(failed[f]), vrrpMedian(whole))
	}
	var out []string
	if slices.Contains(faults, agentlab.KillAgent) {
		out = append(out, fmt.Sprintf("RESULT vrrp_failover_outage%s_ms %.0f", suffix, vrrpMedian(outages[agentlab.KillAgent])))
	}
	if slices.Contains(faults, agentlab.Failover) {
		out = append(out, fmt.Sprintf("RESULT vrrp_planned_failover_failed_requests%s %.0f", suffix, vrrpMedian(failed[agentlab.Failover])))
	}
	if !partition {
		return out, nil
	}
	// The split-brain rule: the path between the members cut for 2 s while both reach the
	// server and the client.
	var both, alone, splitFailed []float64
	for range runs {
		r, err := l.SplitBrain(ctx, 2*time.Second)
		if err != nil {
			return nil, fmt.Errorf("agents partition: %w", err)
		}
		both = append(both, float64(r.BothHeld)/float64(time.Millisecond))
		alone = append(alone, float64(r.Alone)/float64(time.Millisecond))
		splitFailed = append(splitFailed, float64(r.Failed))
	}
	fmt.Printf("  %-18s both held the VIP ms %-22s median %4.0f | one alone after ms %-24s median %4.0f | failed %-12s median %3.0f\n", "partition",
		vrrpList(both), vrrpMedian(both), vrrpList(alone), vrrpMedian(alone), vrrpList(splitFailed), vrrpMedian(splitFailed))
	return append(out, fmt.Sprintf("RESULT vrrp_split_brain_both_held%s_ms %.0f", suffix, vrrpMedian(both))), nil
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

func runVRRPFaults(runs int, only string, scale bool) ([]string, error) {
	if err := vrrp.CheckBinary(vrrp.DefaultBinary); err != nil {
		return nil, err
	}
	faults := vrrplab.Faults
	if only != "" {
		faults = nil
		for _, f := range strings.Split(only, ",") {
			if !slices.Contains(vrrplab.Faults, vrrplab.Fault(f)) {
				return nil, fmt.Errorf("unknown fault %q (known: %s)", f, vrrpFaultNames())
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
	fmt.Printf("a new connection to the VIP every %v; a request fails without a 200 within %v; outage = longest run of failed request starts + %v\n",
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
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Printf("\n%s: advert_int %v, priorities %d/%d, nopreempt\n", s.name, s.advert, vrrp.DefaultMasterPriority, vrrp.DefaultBackupPriority)
		for _, f := range faults {
			k := key{s.name, f}
			for range runs {
				res, err := l.Measure(ctx, f)
				if err != nil {
					l.Close()
					return nil, fmt.Errorf("%s %s: %w", s.name, f, err)
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
			return nil, fmt.Errorf("%s partition: %w", s.name, err)
		}
		fmt.Printf("  %-18s both MASTER after %v (both hold the VIP: %v, client served by %s); after the heal one MASTER in %v, client back on it in %v\n",
			"partition", pr.BothMaster.Round(time.Millisecond), pr.BothHeldVIP, pr.DuringServedBy, pr.Resolved.Round(time.Millisecond), pr.Served.Round(time.Millisecond))
		if err := l.Close(); err != nil {
			return nil, fmt.Errorf("%s teardown: %w", s.name, err)
		}
	}
	if scale {
		fmt.Println("\nscale (default vrrpSetting; CPU over 10 s of steady state, both hosts):")
		for _, layout := range [][2]int{{250, 1}, {1, 250}, {1, 1000}} {
			l, err := vrrplab.Start(ctx, vrrplab.Options{Stderr: os.Stderr})
			if err != nil {
				return nil, err
			}
			res, err := l.Scale(ctx, layout[0], layout[1], 10*time.Second)
			cerr := l.Close()
			if err != nil {
				return nil, fmt.Errorf("scale %d×%d: %w", layout[0], layout[1], err)
			}
			if cerr != nil {
				return nil, cerr
			}
			what := "one instance per load balancer"
			if layout[0] == 1 {
				what = "one instance per pair"
			}
			fmt.Printf("  %-31s %s\n", what, res)
		}
	}
	pick := func(m map[key][]float64, s string, f vrrplab.Fault) string {
		v, ok := m[key{s, f}]
		if !ok {
			return "n/a"
		}
		return strconv.FormatFloat(vrrpMedian(v), 'f', 0, 64)
	}
	return []string{
		"RESULT vrrp_failover_outage_supervisor_ms " + pick(outages, "default", vrrplab.NodeKill),
		"RESULT vrrp_failover_outage_fast_ms " + pick(outages, "fast", vrrplab.NodeKill),
		"RESULT vrrp_silent_failover_outage_ms " + pick(outages, "default", vrrplab.LinkDown),
		"RESULT vrrp_planned_failover_failed_requests_supervisor " + pick(failed, "default", vrrplab.Planned),
	}, nil
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
