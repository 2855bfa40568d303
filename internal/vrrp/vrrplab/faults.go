package vrrplab

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/netlab"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
)

// Fault is something that happens to the MASTER.
type Fault string

// Faults.
const (
	// KeepalivedKill: SIGKILL of keepalived's main process. Its VRRP child resigns (its
	// parent-death signal), the supervisor restarts keepalived, which comes back as BACKUP.
	KeepalivedKill Fault = "keepalived-kill"
	// KeepalivedKillAll: SIGKILL of keepalived's whole process group: nobody resigns, the
	// VIP stays plumbed until the restarted keepalived removes it, the peer takes over when
	// adverts stop (3 intervals plus skew).
	KeepalivedKillAll Fault = "keepalived-killall"
	// NodeKill: SIGKILL of the node process (the agent with its engine): keepalived gets
	// SIGTERM as its parent dies and resigns; the engine is gone at once.
	NodeKill Fault = "node-kill"
	// LinkDown: the MASTER's interface is set down: it goes FAULT, and the peer, hearing no
	// adverts, takes over after 3 intervals plus skew.
	LinkDown Fault = "link-down"
	// Unhealthy: the MASTER's engine is declared unhealthy (the track file): FAULT and
	// resignation.
	Unhealthy Fault = "unhealthy"
	// Planned: a planned handover (Octavia's amphora failover of the MASTER): the BACKUP is
	// promoted with preemption and takes the VIP first; then the old MASTER is stopped and
	// replaced by a new BACKUP, and the priorities are set back.
	Planned Fault = "planned"
)

// Faults lists every fault, in the order the benchmark runs them.
var Faults = []Fault{NodeKill, KeepalivedKill, KeepalivedKillAll, LinkDown, Unhealthy, Planned}

// Measure injects f into the current MASTER while the client probes, waits until the other
// node serves, undoes the fault (restarts, links up, health back) and returns what the
// client saw.
func (l *Lab) Measure(ctx context.Context, f Fault) (Result, error) {
	master, backup, err := l.Steady(ctx)
	if err != nil {
		return Result{}, err
	}
	p := l.StartProbe(ctx)
	stopped := false
	defer func() {
		if !stopped {
			p.Stop()
		}
	}()
	if err := waitFor(ctx, 30*time.Second, "20 requests served before the fault", func() bool {
		return p.Served(master.Host.Name, time.Time{}) >= 20
	}); err != nil {
		return Result{}, err
	}
	t0 := time.Now()
	restore, err := l.inject(ctx, f, master, backup)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", f, err)
	}
	if err := waitFor(ctx, 30*time.Second, fmt.Sprintf("%s MASTER and serving after %s", backup.Host.Name, f), func() bool {
		return backup.State() == vrrp.StateMaster && p.Served(backup.Host.Name, t0) >= 40
	}); err != nil {
		return Result{}, err
	}
	reqs := p.Stop()
	stopped = true
	res := Analyze(reqs)
	res.Fault, res.From, res.To = f, master.Host.Name, backup.Host.Name
	if err := restore(ctx); err != nil {
		return res, fmt.Errorf("undo %s: %w", f, err)
	}
	if _, _, err := l.Steady(ctx); err != nil {
		return res, fmt.Errorf("after %s: %w", f, err)
	}
	return res, nil
}

// inject does f to master and returns how to undo it.
func (l *Lab) inject(ctx context.Context, f Fault, master, backup *Node) (func(context.Context) error, error) {
	h := master.Host
	switch f {
	case KeepalivedKill, KeepalivedKillAll:
		pid, err := master.KeepalivedPID(ctx)
		if err != nil || pid == 0 {
			return nil, fmt.Errorf("keepalived pid %d: %v", pid, err)
		}
		target := pid
		if f == KeepalivedKillAll {
			target = -pid // its process group
		}
		if err := syscall.Kill(target, syscall.SIGKILL); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			return waitFor(ctx, 30*time.Second, "keepalived restarted as BACKUP", func() bool {
				p, err := master.KeepalivedPID(ctx)
				return err == nil && p != 0 && p != pid && master.State() == vrrp.StateBackup
			})
		}, nil
	case NodeKill:
		master.kill()
		return func(ctx context.Context) error { return l.restartNode(ctx, h) }, nil
	case LinkDown:
		if err := h.SetLink(ctx, false); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return h.SetLink(ctx, true) }, nil
	case Unhealthy:
		if err := master.call(ctx, command{Op: "health", Healthy: false}); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return master.call(ctx, command{Op: "health", Healthy: true}) }, nil
	case Planned:
		return func(context.Context) error { return nil }, l.handover(ctx, master, backup)
	}
	return nil, fmt.Errorf("unknown fault %q", f)
}

// restartNode starts a new node on h with the current configuration, healthy.
func (l *Lab) restartNode(ctx context.Context, h *netlab.Host) error {
	n, err := l.startNode(ctx, h)
	if err != nil {
		return err
	}
	if err := n.call(ctx, command{Op: "apply", Config: l.configFor(h)}); err != nil {
		return err
	}
	return n.call(ctx, command{Op: "health", Healthy: true})
}

// handover moves the VIP from master to backup without a gap and replaces master, the way
// a controller would for `amphora failover` of the MASTER.
func (l *Lab) handover(ctx context.Context, master, backup *Node) error {
	// The pair as it actually runs: master preferred.
	l.mu.Lock()
	cur := l.pair
	if cur.Master.Addr != master.Host.Addr {
		cur.Master, cur.Backup = cur.Backup, cur.Master
	}
	l.mu.Unlock()
	// 1. Promote the backup: priority 254 with preemption. It becomes MASTER (plumbs the
	// VIP, sends GARPs) and then the master, hearing the higher priority, yields.
	promoted := cur.Handover()
	if err := backup.call(ctx, command{Op: "apply", Config: &vrrp.Config{RouterID: backup.Host.Name, Instances: []vrrp.Instance{promoted}}}); err != nil {
		return err
	}
	if err := waitFor(ctx, 30*time.Second, "promoted backup MASTER, old master BACKUP", func() bool {
		return backup.State() == vrrp.StateMaster && master.State() == vrrp.StateBackup
	}); err != nil {
		return err
	}
	// 2. Replace the old master: stop it (it holds nothing now) and start a new member on
	// the same host, as the pair's BACKUP.
	master.stop()
	l.mu.Lock()
	l.pair.Master, l.pair.Backup = cur.Backup, cur.Master
	l.mu.Unlock()
	if err := l.restartNode(ctx, master.Host); err != nil {
		return err
	}
	// 3. The new master goes back to its normal priority, without preemption.
	return backup.call(ctx, command{Op: "apply", Config: l.configFor(backup.Host)})
}

// PartitionResult is what happened when the two members could not hear each other while
// both still reached the client.
type PartitionResult struct {
	// BothMaster: from the isolation until both reported MASTER.
	BothMaster time.Duration
	// DuringServedBy: who answered the client during the partition.
	DuringServedBy string
	// BothHeldVIP: both members had the VIP plumbed during the partition.
	BothHeldVIP bool
	// Resolved: from the heal until one MASTER and one BACKUP with the VIP on the MASTER
	// only; Served: until the client was answered by that MASTER.
	Resolved, Served time.Duration
	Winner           string
	// LowerPriNotice: the winner reported hearing the loser's lower-priority advert (it
	// then re-sends GARPs).
	LowerPriNotice bool
}

// Partition isolates the two members from each other (their bridge ports), both still
// reaching the client, waits until both are MASTER, heals and measures the resolution.
func (l *Lab) Partition(ctx context.Context) (PartitionResult, error) {
	var res PartitionResult
	master, backup, err := l.Steady(ctx)
	if err != nil {
		return res, err
	}
	hosts := []*netlab.Host{master.Host, backup.Host}
	setIsolated := func(on bool) error {
		for _, h := range hosts {
			if err := h.SetIsolated(ctx, on); err != nil {
				return err
			}
		}
		return nil
	}
	healed := false
	defer func() {
		if !healed {
			setIsolated(false)
		}
	}()
	t0 := time.Now()
	if err := setIsolated(true); err != nil {
		return res, err
	}
	if err := waitFor(ctx, 30*time.Second, "both members MASTER", func() bool {
		return master.State() == vrrp.StateMaster && backup.State() == vrrp.StateMaster
	}); err != nil {
		return res, err
	}
	res.BothMaster = time.Since(t0)
	onM, _ := master.Host.HasAddr(l.VIP)
	onB, _ := backup.Host.HasAddr(l.VIP)
	res.BothHeldVIP = onM && onB
	if r := l.request(ctx, RequestTimeout); r.Err == nil {
		res.DuringServedBy = r.Served
	}
	nEvents := len(master.Events())
	nEventsB := len(backup.Events())
	t1 := time.Now()
	if err := setIsolated(false); err != nil {
		return res, err
	}
	healed = true
	var winner, loser *Node
	if err := waitFor(ctx, 30*time.Second, "one MASTER after the heal", func() bool {
		switch {
		case master.State() == vrrp.StateMaster && backup.State() == vrrp.StateBackup:
			winner, loser = master, backup
		case backup.State() == vrrp.StateMaster && master.State() == vrrp.StateBackup:
			winner, loser = backup, master
		default:
			return false
		}
		onW, _ := winner.Host.HasAddr(l.VIP)
		onL, _ := loser.Host.HasAddr(l.VIP)
		return onW && !onL
	}); err != nil {
		return res, err
	}
	res.Resolved = time.Since(t1)
	res.Winner = winner.Host.Name
	if err := waitFor(ctx, 30*time.Second, "the winner serving", func() bool {
		r := l.request(ctx, RequestTimeout)
		return r.Err == nil && r.Served == winner.Host.Name
	}); err != nil {
		return res, err
	}
	res.Served = time.Since(t1)
	evs := winner.Events()[map[*Node]int{master: nEvents, backup: nEventsB}[winner]:]
	for _, e := range evs {
		if e.State == vrrp.StateMasterRxLowerPri {
			res.LowerPriNotice = true
		}
	}
	return res, nil
}
