package vrrplab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/vrrp"
)

// ScaleResult is what one layout of many VIPs on the pair costs and how fast it fails over.
type ScaleResult struct {
	Groups, VIPsPerGroup int
	// CPU is keepalived's CPU use on both hosts together while steady, in percent of one core.
	CPU float64
	// Reload is how long the first host took to apply the configuration (test and reload).
	Reload time.Duration
	// AllMaster is, after the node holding every VIP is SIGKILLed, the time until the
	// other reports MASTER for every group; AllPlumbed until every VIP is on its interface.
	AllMaster, AllPlumbed time.Duration
}

func (r ScaleResult) String() string {
	return fmt.Sprintf("%4d group(s) × %4d VIP(s): keepalived CPU %5.1f%% of a core; apply %4.0f ms; after SIGKILL of the holder: all MASTER %4.0f ms, all %d VIPs plumbed %4.0f ms",
		r.Groups, r.VIPsPerGroup, r.CPU, ms(r.Reload), ms(r.AllMaster), r.Groups*r.VIPsPerGroup, ms(r.AllPlumbed))
}

// ScaleFirstVIP is the index (Lab.Net.AddrAt) of the first VIP Scale uses.
const ScaleFirstVIP = 256

// Scale replaces the pair's configuration with groups VRRP instances of vipsPerGroup VIPs
// each, all preferring host a, measures keepalived's CPU use over cpuWindow, then SIGKILLs
// a's node and measures how long b takes to hold everything. The lab is spent afterwards
// (Close it).
func (l *Lab) Scale(ctx context.Context, groups, vipsPerGroup int, cpuWindow time.Duration) (ScaleResult, error) {
	res := ScaleResult{Groups: groups, VIPsPerGroup: vipsPerGroup}
	if groups < 1 || groups > 254 || vipsPerGroup < 1 || groups*vipsPerGroup > 1500 {
		return res, fmt.Errorf("scale %d×%d: 1–254 groups, at most 1500 VIPs", groups, vipsPerGroup)
	}
	a, b := l.Node("a"), l.Node("b")
	base := l.Pair()
	var pairs []vrrp.Pair
	next := ScaleFirstVIP
	for g := range groups {
		p := vrrp.Pair{Name: fmt.Sprintf("scale_%03d", g), VRID: g + 2, AdvertInterval: base.AdvertInterval, Master: base.Master, Backup: base.Backup}
		if base.Master.Addr != a.Host.Addr {
			p.Master, p.Backup = p.Backup, p.Master
		}
		for range vipsPerGroup {
			p.VIPs = append(p.VIPs, netip.PrefixFrom(l.Net.AddrAt(next), 32))
			next++
		}
		pairs = append(pairs, p)
	}
	// The lab's own pair stays as it is.
	cfgs := map[*Node]vrrp.Config{a: *l.configFor(a.Host), b: *l.configFor(b.Host)}
	for _, p := range pairs {
		m, bk := p.Instances()
		ca, cb := cfgs[a], cfgs[b]
		ca.Instances = append(ca.Instances, m)
		cb.Instances = append(cb.Instances, bk)
		cfgs[a], cfgs[b] = ca, cb
	}
	allState := func(n *Node, st vrrp.State) bool {
		for _, p := range pairs {
			if n.StateOf(p.Name) != st {
				return false
			}
		}
		return true
	}
	// The preferred host first (nopreempt: the first to run an instance keeps it).
	t0 := time.Now()
	if err := a.Apply(ctx, cfgs[a]); err != nil {
		return res, err
	}
	res.Reload = time.Since(t0)
	if err := waitFor(ctx, 60*time.Second, "a MASTER of every group", func() bool { return allState(a, vrrp.StateMaster) }); err != nil {
		return res, err
	}
	if err := b.Apply(ctx, cfgs[b]); err != nil {
		return res, err
	}
	total := groups * vipsPerGroup
	if err := waitFor(ctx, 60*time.Second, "b BACKUP of every group, every VIP on a", func() bool {
		return allState(b, vrrp.StateBackup) && countVIPs(a, l) == total
	}); err != nil {
		return res, err
	}
	cpu0, err := l.keepalivedCPU(ctx)
	if err != nil {
		return res, err
	}
	w0 := time.Now()
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(cpuWindow):
	}
	cpu1, err := l.keepalivedCPU(ctx)
	if err != nil {
		return res, err
	}
	res.CPU = 100 * (cpu1 - cpu0) / time.Since(w0).Seconds()

	t1 := time.Now()
	a.kill()
	if err := waitFor(ctx, 60*time.Second, "b MASTER of every group", func() bool { return allState(b, vrrp.StateMaster) }); err != nil {
		return res, err
	}
	res.AllMaster = time.Since(t1)
	if err := waitFor(ctx, 60*time.Second, "every VIP on b", func() bool { return countVIPs(b, l) == total }); err != nil {
		return res, err
	}
	res.AllPlumbed = time.Since(t1)
	return res, nil
}

// countVIPs counts the scale VIPs on n's interface.
func countVIPs(n *Node, l *Lab) int {
	ps, err := n.Host.Addrs()
	if err != nil {
		return -1
	}
	first := l.Net.AddrAt(ScaleFirstVIP)
	c := 0
	for _, p := range ps {
		if p.Addr().Is4() && p.Addr().Compare(first) >= 0 {
			c++
		}
	}
	return c
}

// keepalivedCPU returns the CPU seconds keepalived has used on both hosts (main and VRRP
// processes).
func (l *Lab) keepalivedCPU(ctx context.Context) (float64, error) {
	var total float64
	for _, name := range []string{"a", "b"} {
		n := l.Node(name)
		pid, err := n.KeepalivedPID(ctx)
		if err != nil {
			return 0, err
		}
		pids := []int{pid}
		if b, err := os.ReadFile(filepath.Join(l.Dir, name, "vrrp.pid")); err == nil {
			if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				pids = append(pids, v)
			}
		}
		for _, p := range pids {
			s, err := cpuSeconds(p)
			if err != nil {
				return 0, err
			}
			total += s
		}
	}
	return total, nil
}

// cpuSeconds reads a process's user and system time from /proc (clock ticks of 1/100 s,
// Linux's USER_HZ).
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("pid %d: bad stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// After the command: state(0) ppid pgrp session tty tpgid flags minflt cminflt majflt
	// cmajflt utime(11) stime(12).
	if len(f) < 13 {
		return 0, fmt.Errorf("pid %d: short stat", pid)
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil
}
