package vrrplab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/netlab"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
)

// Port is the engine's port on the VIP.
const Port = 80

// Options configure Start.
type Options struct {
	// Exe is the program started as node processes; it must call MaybeRunNode first.
	// Empty: this program.
	Exe string
	// AdvertInterval of the pair; zero means vrrp.DefaultAdvertInterval.
	AdvertInterval time.Duration
	// Stderr receives the nodes' logs; nil discards them.
	Stderr io.Writer
	// Debug makes the nodes log keepalived's own lines.
	Debug bool
}

// Lab is a running pair: hosts a and b (a preferred at first), client host c, one VIP.
type Lab struct {
	Net    *netlab.Lab
	Client *netlab.Host
	VIP    netip.Addr
	// Dir holds the nodes' data directories.
	Dir string

	opts  Options
	mu    sync.Mutex
	pair  vrrp.Pair
	nodes map[string]*Node
}

// Node is one node process on a host of the pair.
type Node struct {
	Host *netlab.Host
	lab  *Lab

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{} // closed when the process has been waited for

	mu     sync.Mutex
	seq    int
	acks   map[int]chan message
	states map[string]vrrp.State // by instance
	events []vrrp.Event
}

// Start creates the lab and the two nodes, applies the pair's configuration (a MASTER, b
// BACKUP), declares both engines healthy and waits until a holds the VIP and serves.
func Start(ctx context.Context, opts Options) (*Lab, error) {
	if opts.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		opts.Exe = exe
	}
	if opts.AdvertInterval == 0 {
		opts.AdvertInterval = vrrp.DefaultAdvertInterval
	}
	// A /21: room for the VIPs of the scale runs (AddrAt(256) onwards).
	nl, err := netlab.Create(ctx, netlab.Spec{Hosts: []string{"a", "b", "c"}, Subnet: netip.MustParsePrefix("198.18.0.0/21")})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "fulcrum-vrrplab-"+nl.Name+"-")
	if err != nil {
		nl.Close()
		return nil, err
	}
	l := &Lab{Net: nl, Client: nl.Host("c"), VIP: nl.AddrAt(100), Dir: dir, opts: opts, nodes: map[string]*Node{}}
	a, b := nl.Host("a"), nl.Host("b")
	l.pair = vrrp.Pair{
		Name: "pair_a_b", VRID: 1, AdvertInterval: opts.AdvertInterval,
		Master: vrrp.Member{Interface: a.Interface, Addr: a.Addr},
		Backup: vrrp.Member{Interface: b.Interface, Addr: b.Addr},
		VIPs:   []netip.Prefix{netip.PrefixFrom(l.VIP, 32)},
	}
	fail := func(err error) (*Lab, error) {
		l.Close()
		return nil, err
	}
	// a first, so that it is MASTER before b starts.
	for _, h := range []*netlab.Host{a, b} {
		n, err := l.startNode(ctx, h)
		if err != nil {
			return fail(err)
		}
		if err := n.call(ctx, command{Op: "apply", Config: l.configFor(h)}); err != nil {
			return fail(err)
		}
		if err := n.call(ctx, command{Op: "health", Healthy: true}); err != nil {
			return fail(err)
		}
		if h == a {
			if err := waitFor(ctx, 30*time.Second, "a MASTER", func() bool { return n.State() == vrrp.StateMaster }); err != nil {
				return fail(err)
			}
		}
	}
	if _, _, err := l.Steady(ctx); err != nil {
		return fail(err)
	}
	return l, nil
}

// configFor returns the configuration of host h under the current pair.
func (l *Lab) configFor(h *netlab.Host) *vrrp.Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, b := l.pair.Instances()
	in := b
	if l.pair.Master.Addr == h.Addr {
		in = m
	}
	return &vrrp.Config{RouterID: h.Name, Instances: []vrrp.Instance{in}}
}

// Pair returns the pair's current configuration (who is preferred changes with planned
// handovers).
func (l *Lab) Pair() vrrp.Pair {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pair
}

// Node returns the node on host name ("a" or "b").
func (l *Lab) Node(name string) *Node {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nodes[name]
}

// startNode starts a node process in h (replacing a dead one) and waits until it is ready.
func (l *Lab) startNode(ctx context.Context, h *netlab.Host) (*Node, error) {
	args, _ := json.Marshal(nodeArgs{
		Name: h.Name, DataDir: filepath.Join(l.Dir, h.Name), Debug: l.opts.Debug,
		Listen: netip.AddrPortFrom(l.VIP, Port).String(),
	})
	n := &Node{Host: h, lab: l, exited: make(chan struct{}), acks: map[int]chan message{}, states: map[string]vrrp.State{}}
	// The program becomes a node in MaybeRunNode, before it parses flags; "-test.run=^$"
	// keeps a test binary that did not call it from running tests.
	cmd := h.Command(context.Background(), l.opts.Exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), nodeEnv+"="+string(args))
	cmd.Stderr = l.opts.Stderr
	// The harness dying takes its nodes with it, and their keepalived resign (their own
	// parent-death signal).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	n.cmd, n.stdin = cmd, stdin
	started := make(chan error, 1)
	// The parent-death signal follows the thread that forked: this goroutine keeps its
	// thread until the node has exited.
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(n.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start node %s: %w", h.Name, err)
	}
	ready := make(chan struct{})
	go n.read(stdout, ready)
	select {
	case <-ready:
	case <-n.exited:
		return nil, fmt.Errorf("node %s exited at start (see its log)", h.Name)
	case <-time.After(60 * time.Second):
		n.kill()
		return nil, fmt.Errorf("node %s not ready after 60 s", h.Name)
	case <-ctx.Done():
		n.kill()
		return nil, ctx.Err()
	}
	l.mu.Lock()
	l.nodes[h.Name] = n
	l.mu.Unlock()
	return n, nil
}

// read dispatches the node's messages.
func (n *Node) read(r io.Reader, ready chan<- struct{}) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		var m message
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		switch m.Kind {
		case "ready":
			close(ready)
		case "ack":
			n.mu.Lock()
			ch := n.acks[m.Seq]
			delete(n.acks, m.Seq)
			n.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		case "state":
			n.mu.Lock()
			n.events = append(n.events, m.Event)
			switch m.Event.State {
			case vrrp.StateMasterRxLowerPri:
			case vrrp.StateDeleted:
				delete(n.states, m.Event.Instance)
			default:
				n.states[m.Event.Instance] = m.Event.State
			}
			n.mu.Unlock()
		}
	}
}

// call sends a command and waits for its acknowledgement.
func (n *Node) call(ctx context.Context, c command) error {
	_, err := n.callReply(ctx, c)
	return err
}

func (n *Node) callReply(ctx context.Context, c command) (message, error) {
	ch := make(chan message, 1)
	n.mu.Lock()
	n.seq++
	c.Seq = n.seq
	n.acks[c.Seq] = ch
	n.mu.Unlock()
	b, _ := json.Marshal(c)
	if _, err := n.stdin.Write(append(b, '\n')); err != nil {
		return message{}, fmt.Errorf("node %s: %s: %w", n.Host.Name, c.Op, err)
	}
	select {
	case m := <-ch:
		if m.Err != "" {
			return m, fmt.Errorf("node %s: %s: %s", n.Host.Name, c.Op, m.Err)
		}
		return m, nil
	case <-n.exited:
		return message{}, fmt.Errorf("node %s: %s: node exited", n.Host.Name, c.Op)
	case <-time.After(60 * time.Second):
		return message{}, fmt.Errorf("node %s: %s: no answer in 60 s", n.Host.Name, c.Op)
	case <-ctx.Done():
		return message{}, ctx.Err()
	}
}

// State returns the state of the lab's pair instance on this node.
func (n *Node) State() vrrp.State { return n.StateOf(n.lab.Pair().Name) }

// StateOf returns the state of an instance on this node ("" when it has none).
func (n *Node) StateOf(instance string) vrrp.State {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.states[instance]
}

// Apply has the node's supervisor apply cfg (for tests that shape their own groups).
func (n *Node) Apply(ctx context.Context, cfg vrrp.Config) error {
	return n.call(ctx, command{Op: "apply", Config: &cfg})
}

// Events returns the node's state events so far.
func (n *Node) Events() []vrrp.Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]vrrp.Event(nil), n.events...)
}

// KeepalivedPID asks the node for its keepalived's process ID.
func (n *Node) KeepalivedPID(ctx context.Context) (int, error) {
	m, err := n.callReply(ctx, command{Op: "pid"})
	return m.PID, err
}

// Alive reports whether the node process runs.
func (n *Node) Alive() bool {
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

func (n *Node) kill() {
	n.cmd.Process.Kill()
	<-n.exited
}

// stop ends the node gracefully (its keepalived resigns), or kills it after 30 s.
func (n *Node) stop() {
	n.stdin.Close()
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		n.kill()
	}
}

// Steady waits until exactly one node is MASTER and holds the VIP, the other is BACKUP
// without it, and the client is served by the MASTER.
func (l *Lab) Steady(ctx context.Context) (master, backup *Node, err error) {
	err = waitFor(ctx, 60*time.Second, "one MASTER serving, one BACKUP", func() bool {
		a, b := l.Node("a"), l.Node("b")
		if a == nil || b == nil || !a.Alive() || !b.Alive() {
			return false
		}
		switch {
		case a.State() == vrrp.StateMaster && b.State() == vrrp.StateBackup:
			master, backup = a, b
		case b.State() == vrrp.StateMaster && a.State() == vrrp.StateBackup:
			master, backup = b, a
		default:
			return false
		}
		onM, _ := master.Host.HasAddr(l.VIP)
		onB, _ := backup.Host.HasAddr(l.VIP)
		if !onM || onB {
			return false
		}
		r := l.request(ctx, time.Second)
		return r.Err == nil && r.Served == master.Host.Name
	})
	return master, backup, err
}

// waitFor polls cond every 10 ms until it holds, for up to d.
func waitFor(ctx context.Context, d time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", d, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// Close stops the nodes (gracefully, then by force), removes the lab and the data
// directories, and reports anything left behind.
func (l *Lab) Close() error {
	l.mu.Lock()
	nodes := make([]*Node, 0, len(l.nodes))
	for _, n := range l.nodes {
		nodes = append(nodes, n)
	}
	l.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.stop() }()
	}
	wg.Wait()
	errs := []error{l.Net.Close()}
	if left := Leftovers(l.Net.Name, l.Dir); len(left) > 0 {
		errs = append(errs, fmt.Errorf("left behind: %s", strings.Join(left, "; ")))
	}
	errs = append(errs, os.RemoveAll(l.Dir))
	return errors.Join(errs...)
}

// Leftovers lists what of a lab survives its teardown: its namespaces, and live processes
// whose command line or environment names dir (keepalived's configuration, the nodes'
// settings).
func Leftovers(lab, dir string) []string {
	var out []string
	for _, inf := range mustList() {
		if inf.Name == lab {
			out = append(out, fmt.Sprintf("lab %s (hosts %v)", inf.Name, inf.Hosts))
		}
	}
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if i := strings.LastIndexByte(string(stat), ')'); err != nil || i < 0 || len(stat) < i+3 || stat[i+2] == 'Z' {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		environ, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
		if strings.Contains(string(cmdline), dir) || strings.Contains(string(environ), dir) {
			out = append(out, fmt.Sprintf("process %d %q", pid, strings.ReplaceAll(string(cmdline), "\x00", " ")))
		}
	}
	return out
}

func mustList() []netlab.Info {
	l, _ := netlab.List()
	return l
}
