package netlab

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashChildEnv makes the test binary act as a run that crashes with a lab up (see
// TestSweepRemovesCrashedRun).
const crashChildEnv = "NETLAB_TEST_CRASH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	flag.Parse()
	if testing.Short() {
		fmt.Println("internal/netlab: skipped under -short: needs root for network namespaces; test/run runs it")
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintf(os.Stderr, "netlab tests need root to create network namespaces (CI runs as root); ran as uid %d\n", os.Geteuid())
		os.Exit(1)
	}
	if removed, err := Sweep(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "sweep:", err)
	} else if len(removed) > 0 {
		fmt.Fprintln(os.Stderr, "swept labs of crashed runs:", removed)
	}
	os.Exit(m.Run())
}

// crashChild creates a lab, starts a process in it, prints the lab's name and the process's
// ID, and exits without any cleanup, like a test binary killed by its timeout.
func crashChild() {
	l, err := Create(context.Background(), Spec{Hosts: []string{"a", "b"}})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	cmd := l.Hosts[0].Command(context.Background(), "sleep", "600")
	if err := cmd.Start(); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if pids, _ := l.Hosts[0].Processes(); slices.Contains(pids, cmd.Process.Pid) {
			fmt.Println(l.Name, cmd.Process.Pid)
			os.Exit(0)
		}
	}
	fmt.Println("error: sleep never entered the namespace")
	os.Exit(1)
}

// newLab creates a lab for one test and removes it when the test ends, failed or not,
// checking that nothing of it is left.
func newLab(t *testing.T, hosts ...string) *Lab {
	t.Helper()
	l, err := Create(context.Background(), Spec{Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close lab: %v", err)
		}
		assertGone(t, l.Name)
	})
	return l
}

// assertGone checks that no namespace and no state file of the lab remain.
func assertGone(t *testing.T, name string) {
	t.Helper()
	if ns := namespacesOf(name); len(ns) > 0 {
		t.Errorf("namespaces of lab %s left behind: %v", name, ns)
	}
	if _, err := os.Stat(statePath(name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file of lab %s left behind (%v)", name, err)
	}
}

// rootInterfaces describes the root namespace's interfaces and addresses.
func rootInterfaces(t *testing.T) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, i := range ifs {
		addrs, _ := i.Addrs()
		out = append(out, fmt.Sprintf("%s %v", i.Name, addrs))
	}
	slices.Sort(out)
	return out
}

// serve accepts connections on ln in h and answers each with h's name.
func serve(t *testing.T, h *Host, port int) {
	t.Helper()
	ln, err := h.Listen(context.Background(), nil, "tcp", netip.AddrPortFrom(h.Addr, uint16(port)).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, h.Name)
			c.Close()
		}
	}()
}

// ask connects from `from` to `to` and returns what it says.
func ask(from, to *Host, port int, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := from.Dial(ctx, nil, "tcp", netip.AddrPortFrom(to.Addr, uint16(port)).String())
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	return string(b), err
}

// eventually polls ask until it answers want (deadline 15 s).
func eventually(t *testing.T, from, to *Host, port int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := ask(from, to, port, time.Second)
		if err == nil && got == to.Name {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s → %s: %q, %v", from.Name, to.Name, got, err)
		}
	}
}

// never checks that from cannot reach to.
func never(t *testing.T, from, to *Host, port int) {
	t.Helper()
	if got, err := ask(from, to, port, 700*time.Millisecond); err == nil {
		t.Fatalf("%s → %s answered %q, want no connection", from.Name, to.Name, got)
	}
}

// TestCreate: hosts get their namespaces, addresses from 198.18.0.0/15 and a working segment;
// the root namespace gains nothing; Close removes every namespace and the state file.
func TestCreate(t *testing.T) {
	before := rootInterfaces(t)
	l := newLab(t, "a", "b", "c")
	if !strings.HasPrefix(l.Name, "t") || !labNameRE.MatchString(l.Name) {
		t.Errorf("lab name %q", l.Name)
	}
	want := []string{Namespace(l.Name, "a"), Namespace(l.Name, "b"), Namespace(l.Name, "c"), Namespace(l.Name, BridgeHost)}
	if got := namespacesOf(l.Name); !slices.Equal(got, want) {
		t.Errorf("namespaces %v, want %v", got, want)
	}
	for i, h := range l.Hosts {
		wantAddr := netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)})
		if h.Addr != wantAddr || h.Prefix.String() != wantAddr.String()+"/24" {
			t.Errorf("host %s: %s (%s), want %s/24", h.Name, h.Addr, h.Prefix, wantAddr)
		}
		if ok, err := h.HasAddr(h.Addr); !ok || err != nil {
			t.Errorf("host %s: address %s not on %s (%v)", h.Name, h.Addr, h.Interface, err)
		}
		serve(t, h, 7000)
	}
	for _, from := range l.Hosts {
		for _, to := range l.Hosts {
			if from != to {
				eventually(t, from, to, 7000)
			}
		}
	}
	if after := rootInterfaces(t); !slices.Equal(before, after) {
		t.Errorf("root namespace changed:\nbefore %v\nafter  %v", before, after)
	}
	if st := stateOf(l.Name); !strings.HasPrefix(st, "running") {
		t.Errorf("state %q, want running", st)
	}
	h, err := Lookup(l.Name, "b")
	if err != nil || h.Addr != l.Hosts[1].Addr || h.Namespace != l.Hosts[1].Namespace {
		t.Errorf("Lookup b: %+v, %v", h, err)
	}
	if err := Remove(context.Background(), l.Name); !errors.Is(err, ErrInUse) {
		t.Errorf("Remove of a lab this process holds: %v, want ErrInUse", err)
	}
}

// TestCloseKillsProcesses: a process left running in a host is killed by Close.
func TestCloseKillsProcesses(t *testing.T) {
	l, err := Create(context.Background(), Spec{Hosts: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	cmd := l.Hosts[0].Command(context.Background(), "sleep", "600")
	if err := cmd.Start(); err != nil {
		l.Close()
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	// ip enters the namespace and then execs sleep: wait for that before closing.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := l.Hosts[0].Processes()
		if err == nil && slices.Contains(pids, cmd.Process.Pid) {
			break
		}
		if time.Now().After(deadline) {
			l.Close()
			t.Fatalf("processes in a: %v (%v), want %d among them", pids, err, cmd.Process.Pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, l.Name)
	select {
	case err := <-waited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("sleep ended with %v, want killed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sleep still runs after Close")
	}
}

// TestLinkAndIsolation: a host whose link is down reaches nobody; two isolated hosts do not
// reach each other but both still reach a third.
func TestLinkAndIsolation(t *testing.T) {
	l := newLab(t, "a", "b", "c")
	a, b, c := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	for _, h := range l.Hosts {
		serve(t, h, 7001)
	}
	eventually(t, a, b, 7001)
	ctx := context.Background()

	if err := a.SetIsolated(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := b.SetIsolated(ctx, true); err != nil {
		t.Fatal(err)
	}
	never(t, a, b, 7001)
	never(t, b, a, 7001)
	eventually(t, a, c, 7001)
	eventually(t, c, b, 7001)
	if err := a.SetIsolated(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := b.SetIsolated(ctx, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, a, b, 7001)

	if err := a.SetLink(ctx, false); err != nil {
		t.Fatal(err)
	}
	never(t, c, a, 7001)
	never(t, a, c, 7001)
	if err := a.SetLink(ctx, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, c, a, 7001)
}

// TestCut: a cut host reaches no other host and none reaches it, while its interface keeps
// its carrier (it cannot tell); the others still reach each other; uncut, all is back.
func TestCut(t *testing.T) {
	l := newLab(t, "a", "b", "c")
	a, b, c := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	for _, h := range l.Hosts {
		serve(t, h, 7002)
	}
	eventually(t, a, b, 7002)
	ctx := context.Background()
	if err := a.SetCut(ctx, true); err != nil {
		t.Fatal(err)
	}
	never(t, a, b, 7002)
	never(t, c, a, 7002)
	eventually(t, b, c, 7002)
	var up bool
	if err := a.Do(func() error {
		ifc, err := net.InterfaceByName(a.Interface)
		up = err == nil && ifc.Flags&net.FlagRunning != 0
		return err
	}); err != nil || !up {
		t.Errorf("a's interface while cut: running %v (%v), want running (carrier kept)", up, err)
	}
	if err := a.SetCut(ctx, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, a, b, 7002)
	eventually(t, c, a, 7002)
}

// TestSweepRemovesCrashedRun: a run that exits without cleaning up leaves its lab and a
// process in it; Sweep removes both. Labs held by a running process and persistent labs are
// left alone; Remove takes a persistent lab down.
func TestSweepRemovesCrashedRun(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(exe, "-test.run=^$")
	child.Env = append(os.Environ(), crashChildEnv+"=1")
	out, err := child.Output()
	if err != nil {
		t.Fatalf("crashing child: %v: %s", err, out)
	}
	fields := strings.Fields(string(out))
	if len(fields) != 2 {
		t.Fatalf("crashing child said %q", out)
	}
	name := fields[0]
	pid, _ := strconv.Atoi(fields[1])
	t.Cleanup(func() { Remove(context.Background(), name) })
	if len(namespacesOf(name)) != 3 || !alive(pid) {
		t.Fatalf("the crashed run left %v and process %d alive=%v; want 3 namespaces and a live process", namespacesOf(name), pid, alive(pid))
	}
	if st := stateOf(name); st != "stale" {
		t.Errorf("state of the crashed run's lab: %q, want stale", st)
	}

	live := newLab(t, "a")
	persistent, err := Create(context.Background(), Spec{Hosts: []string{"a"}, Persistent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Remove(context.Background(), persistent.Name) })

	removed, err := Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, name) {
		t.Errorf("Sweep removed %v, want %s among them", removed, name)
	}
	assertGone(t, name)
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d of the crashed run survives the sweep", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, n := range []string{live.Name, persistent.Name} {
		if slices.Contains(removed, n) || len(namespacesOf(n)) != 2 {
			t.Errorf("Sweep took lab %s (removed %v, namespaces %v)", n, removed, namespacesOf(n))
		}
	}
	if err := Remove(context.Background(), persistent.Name); err != nil {
		t.Fatal(err)
	}
	assertGone(t, persistent.Name)
	if err := Remove(context.Background(), persistent.Name); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: %v, want ErrNotFound", err)
	}
}

// alive reports whether pid runs (a zombie counts as gone).
func alive(pid int) bool {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	if i := strings.LastIndexByte(line, ')'); i >= 0 && len(line) > i+2 {
		return line[i+2] != 'Z'
	}
	return false
}

// TestNamedLab: a named lab is created once; the same name again is ErrExist.
func TestNamedLab(t *testing.T) {
	name := fmt.Sprintf("n%x", time.Now().UnixNano()&0xffffffff)
	l, err := Create(context.Background(), Spec{Name: name, Hosts: []string{"x"}, Subnet: netip.MustParsePrefix("198.19.255.0/29")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		assertGone(t, name)
	}()
	if l.Hosts[0].Addr != netip.MustParseAddr("198.19.255.1") {
		t.Errorf("address %s", l.Hosts[0].Addr)
	}
	if _, err := Create(context.Background(), Spec{Name: name, Hosts: []string{"y"}}); !errors.Is(err, ErrExist) {
		t.Errorf("second create: %v, want ErrExist", err)
	}
}

// TestSpecValidation: bad names and subnets are refused before anything is made.
func TestSpecValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"no hosts", Spec{}, "at least one host"},
		{"bad lab name", Spec{Name: "A-b", Hosts: []string{"a"}}, "lab name"},
		{"long lab name", Spec{Name: strings.Repeat("a", 17), Hosts: []string{"a"}}, "lab name"},
		{"bad host name", Spec{Hosts: []string{"a-1"}}, "host name"},
		{"long host name", Spec{Hosts: []string{strings.Repeat("h", 14)}}, "host name"},
		{"reserved host", Spec{Hosts: []string{"bridge"}}, "reserved"},
		{"duplicate host", Spec{Hosts: []string{"a", "a"}}, "twice"},
		{"outside range", Spec{Hosts: []string{"a"}, Subnet: netip.MustParsePrefix("10.0.0.0/24")}, "inside 198.18.0.0/15"},
		{"wider than range", Spec{Hosts: []string{"a"}, Subnet: netip.MustParsePrefix("198.16.0.0/14")}, "inside"},
		{"not canonical", Spec{Hosts: []string{"a"}, Subnet: netip.MustParsePrefix("198.18.0.1/24")}, "canonical"},
		{"ipv6", Spec{Hosts: []string{"a"}, Subnet: netip.MustParsePrefix("2001:db8::/64")}, "IPv4"},
		{"too small", Spec{Hosts: []string{"a", "b", "c"}, Subnet: netip.MustParsePrefix("198.18.0.0/30")}, "too small"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Create(context.Background(), tc.spec)
			if err == nil {
				l.Close()
				t.Fatalf("Create(%+v) succeeded", tc.spec)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Create(%+v): %v, want %q", tc.spec, err, tc.want)
			}
		})
	}
}
