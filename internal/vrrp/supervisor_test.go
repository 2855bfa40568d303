package vrrp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/netlab"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("internal/vrrp: skipped under -short: needs root, network namespaces and keepalived; test/run runs it")
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintf(os.Stderr, "vrrp tests need root for network namespaces and keepalived (CI runs as root); ran as uid %d\n", os.Geteuid())
		os.Exit(1)
	}
	if _, err := netlab.Sweep(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "sweep:", err)
	}
	os.Exit(m.Run())
}

// newLab creates a lab for one test; it goes when the test ends, failed or not.
func newLab(t *testing.T, hosts ...string) *netlab.Lab {
	t.Helper()
	l, err := netlab.Create(context.Background(), netlab.Spec{Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close lab: %v", err)
		}
	})
	return l
}

// recorder keeps a supervisor's events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) saw(name string, st State) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.events, func(e Event) bool { return e.Instance == name && e.State == st })
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.events {
		fmt.Fprintf(&b, "%s %s %s %d\n", e.At.Format("15:04:05.000"), e.Instance, e.State, e.Priority)
	}
	return b.String()
}

// until polls cond every 10 ms for up to 30 s.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hasAddr(t *testing.T, h *netlab.Host, a netip.Addr) bool {
	t.Helper()
	ok, err := h.HasAddr(a)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(&testWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testWriter sends log lines to t.Log while the test runs.
type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// TestSupervisor drives one keepalived in a lab host whose peer is silent: health gates the
// VIP, reloads add and remove VIPs and instances, a refused configuration leaves the running
// one, keepalived killed (alone or with its VRRP child) is restarted and takes the VIP back,
// and Close leaves no process and no VIP.
func TestSupervisor(t *testing.T) {
	l := newLab(t, "a", "b")
	a, b := l.Hosts[0], l.Hosts[1]
	vip1, vip2 := l.AddrAt(100), l.AddrAt(101)
	pair := Pair{
		Name: "pair_a_b", VRID: 1, AdvertInterval: 50 * time.Millisecond,
		Master: Member{Interface: a.Interface, Addr: a.Addr}, Backup: Member{Interface: b.Interface, Addr: b.Addr},
		VIPs: []netip.Prefix{netip.PrefixFrom(vip1, 32)},
	}
	in, _ := pair.Instances()
	cfg := Config{RouterID: "a", Instances: []Instance{in}}
	rec := &recorder{}
	lw := &testWriter{t: t}
	sup, err := Start(Options{
		DataDir: t.TempDir(), Wrap: a.Wrap(), OnEvent: rec.add,
		Logger: slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			sup.Close()
		}
		lw.stop()
	})
	state := func() State { return sup.States()[pair.Name].State }

	// Unhealthy at start (the default): FAULT, no VIP.
	until(t, "FAULT while the engine is unhealthy", func() bool { return state() == StateFault })
	if hasAddr(t, a, vip1) {
		t.Fatal("VIP plumbed while the engine is unhealthy")
	}
	if err := sup.SetHealthy(true); err != nil {
		t.Fatal(err)
	}
	until(t, "MASTER once healthy (the peer is silent)", func() bool { return state() == StateMaster && hasAddr(t, a, vip1) })
	if !rec.saw(pair.Name, StateBackup) {
		t.Errorf("no BACKUP on the way from FAULT to MASTER:\n%s", rec)
	}

	// A reload adds a VIP while MASTER, without leaving MASTER.
	pair.VIPs = append(pair.VIPs, netip.PrefixFrom(vip2, 32))
	in, _ = pair.Instances()
	cfg.Instances = []Instance{in}
	pid := sup.PID()
	n := len(rec.String())
	if err := sup.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	until(t, "second VIP plumbed", func() bool { return hasAddr(t, a, vip2) })
	if sup.PID() != pid || state() != StateMaster {
		t.Errorf("reload restarted keepalived or changed the state: pid %d→%d, %s\n%s", pid, sup.PID(), state(), rec.String()[n:])
	}
	if err := sup.Apply(cfg); err != nil { // unchanged: no-op
		t.Fatal(err)
	}

	// A configuration keepalived refuses is an error and changes nothing.
	bad := cfg
	bad.Instances = []Instance{in}
	bad.Instances[0].Interface = "eth9"
	if err := sup.Apply(bad); !errors.Is(err, ErrKeepalived) || !strings.Contains(err.Error(), "eth9") {
		t.Errorf("Apply with a missing interface: %v, want ErrKeepalived naming eth9", err)
	}
	if err := sup.Apply(Config{Instances: []Instance{{Name: "x"}}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Apply of an invalid config: %v, want ErrInvalid", err)
	}
	if state() != StateMaster || !hasAddr(t, a, vip1) || !hasAddr(t, a, vip2) {
		t.Fatalf("refused configurations disturbed the running one: %s", state())
	}

	// Health down: FAULT and the VIPs go; up again: MASTER.
	sup.SetHealthy(false)
	until(t, "FAULT, VIPs removed", func() bool { return state() == StateFault && !hasAddr(t, a, vip1) && !hasAddr(t, a, vip2) })
	sup.SetHealthy(true)
	until(t, "MASTER again", func() bool { return state() == StateMaster && hasAddr(t, a, vip1) })

	// Removing the instance: DELETED, VIPs gone.
	if err := sup.Apply(Config{RouterID: "a"}); err != nil {
		t.Fatal(err)
	}
	until(t, "instance deleted, VIPs removed", func() bool {
		_, ok := sup.States()[pair.Name]
		return !ok && !hasAddr(t, a, vip1) && !hasAddr(t, a, vip2)
	})
	if !rec.saw(pair.Name, StateDeleted) {
		t.Errorf("no DELETED event:\n%s", rec)
	}
	if err := sup.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	until(t, "MASTER after re-adding", func() bool { return state() == StateMaster && hasAddr(t, a, vip1) })

	// SIGKILL of keepalived's main process: its VRRP child resigns, the supervisor restarts
	// keepalived, which takes the VIP again.
	old := sup.PID()
	syscall.Kill(old, syscall.SIGKILL)
	until(t, "STOPPED reported", func() bool { return rec.saw(pair.Name, StateStopped) })
	until(t, "restarted and MASTER", func() bool {
		p := sup.PID()
		return p != 0 && p != old && state() == StateMaster && hasAddr(t, a, vip1)
	})

	// SIGKILL of the whole process group: nothing resigns, the VIP stays plumbed until the
	// restarted keepalived clears it and takes it again.
	old = sup.PID()
	syscall.Kill(-old, syscall.SIGKILL)
	until(t, "restarted after the group was killed", func() bool {
		p := sup.PID()
		return p != 0 && p != old && state() == StateMaster && hasAddr(t, a, vip1)
	})

	// Close: keepalived and its child are gone, and so are the VIPs.
	last := sup.PID()
	if err := sup.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if processAlive(last) {
		t.Errorf("keepalived %d still runs after Close", last)
	}
	if pids, err := a.Processes(); err != nil || len(pids) > 0 {
		t.Errorf("processes left in host a after Close: %v (%v)", pids, err)
	}
	if hasAddr(t, a, vip1) || hasAddr(t, a, vip2) {
		t.Error("VIPs left plumbed after Close")
	}
	if err := sup.Apply(cfg); err == nil {
		t.Error("Apply after Close succeeded")
	}
	if err := sup.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestSupervisorKillsOrphan: a keepalived left running from the same data directory (its
// supervisor died without stopping it) is stopped before a new one starts; keepalived would
// otherwise refuse to start ("daemon is already running").
func TestSupervisorKillsOrphan(t *testing.T) {
	l := newLab(t, "a")
	a := l.Hosts[0]
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte("global_defs {\n    router_id orphan\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	orphan := a.Command(context.Background(), DefaultBinary, "--dont-fork", "--log-console", "--no-syslog", "--vrrp",
		"--use-file", conf, "--pid", filepath.Join(dir, "keepalived.pid"), "--vrrp_pid", filepath.Join(dir, "vrrp.pid"))
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- orphan.Wait() }()
	t.Cleanup(func() { orphan.Process.Kill() })
	until(t, "the orphan's pid file", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "keepalived.pid"))
		return strings.TrimSpace(string(b)) == fmt.Sprint(orphan.Process.Pid)
	})

	sup, err := Start(Options{DataDir: dir, Wrap: a.Wrap(), Healthy: true, Logger: testLogger(t)}, Config{RouterID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Errorf("orphan: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the orphan keepalived still runs")
	}
	if sup.PID() == 0 || sup.PID() == orphan.Process.Pid || !processAlive(sup.PID()) {
		t.Errorf("supervisor's keepalived %d not running", sup.PID())
	}
}

// TestSupervisorStartFailure: a keepalived that exits before it is ready makes Start fail
// with its last lines; one that cannot even run its config test (here: in a namespace that
// does not exist) makes Start fail with the wrapper's message.
func TestSupervisorStartFailure(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "keepalived")
	script := "#!/bin/sh\ncase \"$*\" in\n*--version*) echo 'Keepalived v2.2.7 (01/16,2022)' >&2 ;;\n*--config-test*) exit 0 ;;\n*) echo 'cannot bind: out of cheese' >&2; exit 3 ;;\nesac\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Start(Options{DataDir: filepath.Join(dir, "data"), Binary: fake}, Config{})
	if !errors.Is(err, ErrKeepalived) || !strings.Contains(err.Error(), "exited at start") || !strings.Contains(err.Error(), "out of cheese") {
		t.Errorf("Start with a keepalived that exits: %v", err)
	}
	_, err = Start(Options{DataDir: filepath.Join(dir, "data2"), Wrap: []string{"ip", "netns", "exec", "fulcrum-nosuchlab-x"}}, Config{})
	if !errors.Is(err, ErrKeepalived) || !strings.Contains(err.Error(), "fulcrum-nosuchlab-x") {
		t.Errorf("Start in a missing namespace: %v, want ErrKeepalived with ip's message", err)
	}
}

// TestSupervisorScript: an instance tracking a vrrp_script goes to FAULT, giving up its VIP,
// when the script fails, and comes back when it succeeds again (the watchdog path for an
// engine that runs out of process; keepalived counts in whole seconds).
func TestSupervisorScript(t *testing.T) {
	l := newLab(t, "a", "b")
	a, b := l.Hosts[0], l.Hosts[1]
	vip := l.AddrAt(100)
	dir := t.TempDir()
	okFile := filepath.Join(dir, "engine-ok")
	if err := os.WriteFile(okFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	in, _ := Pair{
		Name: "scripted", VRID: 9, AdvertInterval: 50 * time.Millisecond,
		Master: Member{Interface: a.Interface, Addr: a.Addr}, Backup: Member{Interface: b.Interface, Addr: b.Addr},
		VIPs: []netip.Prefix{netip.PrefixFrom(vip, 32)}, Scripts: []string{"engine_ok"},
	}.Instances()
	cfg := Config{
		Instances: []Instance{in},
		Scripts:   []Script{{Name: "engine_ok", Command: []string{"/usr/bin/test", "-e", okFile}, Interval: time.Second, Fall: 1, Rise: 1}},
	}
	sup, err := Start(Options{DataDir: filepath.Join(dir, "vrrp"), Wrap: a.Wrap(), Healthy: true, Logger: testLogger(t)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	state := func() State { return sup.States()["scripted"].State }
	until(t, "MASTER while the script succeeds", func() bool { return state() == StateMaster && hasAddr(t, a, vip) })
	os.Remove(okFile)
	until(t, "FAULT once the script fails, VIP removed", func() bool { return state() == StateFault && !hasAddr(t, a, vip) })
	os.WriteFile(okFile, nil, 0o600)
	until(t, "MASTER again", func() bool { return state() == StateMaster && hasAddr(t, a, vip) })
}
