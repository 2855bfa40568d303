// Package netlab builds a lab of hosts on one Ethernet segment out of Linux network
// namespaces: each host is a namespace (fulcrum-<lab>-<host>) with loopback and one interface,
// eth0, whose other end is a port of a Linux bridge that lives in a namespace of its own
// (fulcrum-<lab>-bridge), so the root namespace gains no interface and no route on the segment.
// Host addresses come only from 198.18.0.0/15, the benchmarking range.
//
// It is used by fulcrum's high-availability tests and benchmarks and by the `fulcrum lab`
// command. It needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's `ip`.
//
// Teardown is by name: every namespace whose name starts with fulcrum-<lab>- belongs to the lab.
// A lab made for a test (not Persistent) is held by a lock on /run/fulcrum-netlab/<lab> for as
// long as the process that made it lives; Sweep removes the labs whose owner died without
// cleaning up (a crashed or killed test run), processes inside them included.
package netlab

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// Prefix starts the name of every namespace a lab makes.
const Prefix = "fulcrum-"

// BridgeHost is the reserved host name of the namespace that holds a lab's bridge.
const BridgeHost = "bridge"

// Interface is the name of each host's interface on the segment.
const Interface = "eth0"

// bridgeDevice is the bridge's name inside the bridge namespace.
const bridgeDevice = "br0"

// StateDir holds one lock file per lab (see the package comment).
const StateDir = "/run/fulcrum-netlab"

// netnsDir is where `ip netns add` mounts named namespaces.
const netnsDir = "/run/netns"

// Range is the only address range a lab uses: 198.18.0.0/15 (RFC 2544, benchmarking).
var Range = netip.MustParsePrefix("198.18.0.0/15")

// DefaultSubnet is the segment's subnet when Spec.Subnet is unset.
var DefaultSubnet = netip.MustParsePrefix("198.18.0.0/24")

var (
	labNameRE  = regexp.MustCompile(`^[a-z][a-z0-9]{0,15}$`)
	hostNameRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,12}$`)
)

// Errors matched with errors.Is.
var (
	// ErrExist: a lab of that name exists already.
	ErrExist = errors.New("lab exists")
	// ErrNotFound: no lab of that name.
	ErrNotFound = errors.New("no such lab")
	// ErrInUse: the lab belongs to a process that is still running.
	ErrInUse = errors.New("lab in use")
)

// Spec describes a lab to create.
type Spec struct {
	// Name is the lab's name: a lowercase letter then up to 15 lowercase letters or digits.
	// Empty: a fresh unique name ("t" and random hex), as tests want.
	Name string
	// Hosts are the hosts' names, in order: each a lowercase letter then up to 12 lowercase
	// letters or digits, unique, not "bridge". At least one.
	Hosts []string
	// Subnet is the segment's IPv4 subnet, inside 198.18.0.0/15; the zero value means
	// DefaultSubnet. Host i (from 0) gets the subnet's address i+1; the addresses after the
	// hosts' are free for the caller (VIPs).
	Subnet netip.Prefix
	// Persistent labs outlive the process that made them (the `fulcrum lab up` command):
	// Sweep leaves them alone and only Remove takes them down. Otherwise the lab lives as
	// long as its *Lab is open and its process runs.
	Persistent bool
}

// Lab is a running lab. Its methods are safe for concurrent use.
type Lab struct {
	Name   string
	Subnet netip.Prefix
	// Hosts in the order of Spec.Hosts.
	Hosts []*Host
	// Bridge is the name of the namespace holding the bridge.
	Bridge string

	lock      *os.File // held while the lab is open (ephemeral labs only)
	closeOnce sync.Once
	closeErr  error
}

// Host is one namespace of a lab.
type Host struct {
	Name string
	// Namespace is the network namespace's name (fulcrum-<lab>-<host>).
	Namespace string
	// Interface is the host's interface on the segment (eth0).
	Interface string
	// Addr is the host's address on the segment; Prefix is Addr with the subnet's length.
	Addr   netip.Addr
	Prefix netip.Prefix
	// BridgePort is the name of the host's port on the bridge, inside the bridge namespace.
	BridgePort string

	lab *Lab
}

// Host returns the lab's host of that name, or nil.
func (l *Lab) Host(name string) *Host {
	for _, h := range l.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// AddrAt returns the address i places after the start of the lab's subnet (AddrAt(1) is the
// first host's). It panics when i is outside the subnet: callers pick from a known layout.
func (l *Lab) AddrAt(i int) netip.Addr {
	a := l.Subnet.Masked().Addr()
	for range i {
		a = a.Next()
	}
	if !l.Subnet.Contains(a) {
		panic(fmt.Sprintf("netlab: address %d is outside %s", i, l.Subnet))
	}
	return a
}

// Namespace returns the namespace name of host in lab.
func Namespace(lab, host string) string { return Prefix + lab + "-" + host }

func (s *Spec) validate() error {
	if s.Name != "" && !labNameRE.MatchString(s.Name) {
		return fmt.Errorf("lab name %q: must be a lowercase letter then up to 15 lowercase letters or digits", s.Name)
	}
	if len(s.Hosts) == 0 {
		return errors.New("a lab needs at least one host")
	}
	seen := map[string]bool{}
	for _, h := range s.Hosts {
		if !hostNameRE.MatchString(h) {
			return fmt.Errorf("host name %q: must be a lowercase letter then up to 12 lowercase letters or digits", h)
		}
		if h == BridgeHost {
			return fmt.Errorf("host name %q is reserved for the bridge", h)
		}
		if seen[h] {
			return fmt.Errorf("host name %q given twice", h)
		}
		seen[h] = true
	}
	if !s.Subnet.IsValid() {
		s.Subnet = DefaultSubnet
	}
	p := s.Subnet
	if !p.Addr().Is4() || p != p.Masked() {
		return fmt.Errorf("subnet %s: must be a canonical IPv4 prefix", p)
	}
	if p.Bits() < Range.Bits() || !Range.Contains(p.Addr()) {
		return fmt.Errorf("subnet %s: must be inside %s", p, Range)
	}
	if p.Bits() > 30 || len(s.Hosts) > (1<<(32-p.Bits()))-2 {
		return fmt.Errorf("subnet %s: too small for %d hosts", p, len(s.Hosts))
	}
	return nil
}

// Create makes the lab: namespaces, bridge, one veth pair per host, addresses, links up. On
// failure it removes whatever it made.
func Create(ctx context.Context, spec Spec) (*Lab, error) {
	if err := spec.validate(); err != nil {
		return nil, fmt.Errorf("create lab: %w", err)
	}
	if err := os.MkdirAll(StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create lab: %w", err)
	}
	lock, name, err := claim(spec.Name, spec.Persistent)
	if err != nil {
		return nil, fmt.Errorf("create lab: %w", err)
	}
	l := &Lab{Name: name, Subnet: spec.Subnet, Bridge: Namespace(name, BridgeHost), lock: lock}
	for i, hn := range spec.Hosts {
		h := &Host{Name: hn, Namespace: Namespace(name, hn), Interface: Interface, BridgePort: "v-" + hn, lab: l}
		h.Addr = l.AddrAt(i + 1)
		h.Prefix = netip.PrefixFrom(h.Addr, spec.Subnet.Bits())
		l.Hosts = append(l.Hosts, h)
	}
	if err := l.build(ctx); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("create lab %s: %w", name, err)
	}
	if spec.Persistent {
		// The lock only guarded the creation; from now on the state file says "persistent".
		lock.Close()
		l.lock = nil
	}
	return l, nil
}

// claim creates and locks the lab's state file, which also makes the name unique among
// processes. An empty name picks a fresh one.
func claim(name string, persistent bool) (*os.File, string, error) {
	for range 100 {
		n := name
		if n == "" {
			var b [4]byte
			if _, err := rand.Read(b[:]); err != nil {
				return nil, "", err
			}
			n = "t" + hex.EncodeToString(b[:])
		}
		if len(namespacesOf(n)) > 0 {
			if name != "" {
				return nil, "", fmt.Errorf("%w: namespaces of lab %s exist (fulcrum lab down %s)", ErrExist, n, n)
			}
			continue
		}
		f, err := publishLocked(n, persistent)
		if errors.Is(err, os.ErrExist) {
			if name != "" {
				return nil, "", fmt.Errorf("%w: %s", ErrExist, n)
			}
			continue
		}
		if err != nil {
			return nil, "", err
		}
		return f, n, nil
	}
	return nil, "", errors.New("no free lab name after 100 tries")
}

// publishLocked writes the state file under a hidden temporary name, locks it, and only then
// links it to its final name, so that no other process (a Sweep) ever sees it unlocked or
// empty. os.ErrExist: the name is taken.
func publishLocked(name string, persistent bool) (*os.File, error) {
	tmp := filepath.Join(StateDir, fmt.Sprintf(".%s.%d", name, os.Getpid()))
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	state := fmt.Sprintf("ephemeral %d\n", os.Getpid())
	if persistent {
		state = "persistent\n"
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", tmp, err)
	}
	if _, err := f.WriteString(state); err != nil {
		f.Close()
		return nil, err
	}
	if err := os.Link(tmp, statePath(name)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func statePath(name string) string { return filepath.Join(StateDir, name) }

func (l *Lab) build(ctx context.Context) error {
	var root, br strings.Builder
	fmt.Fprintf(&root, "netns add %s\n", l.Bridge)
	for _, h := range l.Hosts {
		fmt.Fprintf(&root, "netns add %s\n", h.Namespace)
	}
	if err := ipBatch(ctx, "", root.String()); err != nil {
		return err
	}
	// Both ends of each veth pair are created inside namespaces (the bridge's and the
	// host's), never in the root namespace, not even for a moment.
	fmt.Fprintf(&br, "link set lo up\nlink add %s type bridge\nlink set %s up\n", bridgeDevice, bridgeDevice)
	for _, h := range l.Hosts {
		fmt.Fprintf(&br, "link add %s type veth peer name %s netns %s\n", h.BridgePort, h.Interface, h.Namespace)
		fmt.Fprintf(&br, "link set %s master %s\nlink set %s up\n", h.BridgePort, bridgeDevice, h.BridgePort)
	}
	if err := ipBatch(ctx, l.Bridge, br.String()); err != nil {
		return err
	}
	for _, h := range l.Hosts {
		cmds := fmt.Sprintf("link set lo up\naddr add %s dev %s\nlink set %s up\n", h.Prefix, h.Interface, h.Interface)
		if err := ipBatch(ctx, h.Namespace, cmds); err != nil {
			return err
		}
	}
	return nil
}

// Close removes everything the lab made: the processes still running in its namespaces
// (killed), the namespaces with their interfaces, and its state file. It is idempotent.
// In-process sockets opened in a host (Listen, Dial) keep that namespace's kernel object
// alive, without a name or an interface on the segment, until they are closed.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		l.closeErr = teardown(context.Background(), l.Name)
		if l.closeErr == nil {
			os.Remove(statePath(l.Name))
		}
		// On failure the state file stays, unlocked once closed, so that a later Sweep
		// finishes the job.
		if l.lock != nil {
			l.lock.Close() // releases the lock
		}
	})
	return l.closeErr
}

// teardown kills the processes in the lab's namespaces and deletes the namespaces.
func teardown(ctx context.Context, name string) error {
	var errs []error
	for _, ns := range namespacesOf(name) {
		if err := killIn(ns); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ns := range namespacesOf(name) {
		if out, err := exec.CommandContext(ctx, "ip", "netns", "delete", ns).CombinedOutput(); err != nil {
			if _, serr := os.Stat(filepath.Join(netnsDir, ns)); serr == nil {
				errs = append(errs, fmt.Errorf("ip netns delete %s: %v: %s", ns, err, strings.TrimSpace(string(out))))
			}
		}
	}
	return errors.Join(errs...)
}

// Info describes an existing lab found by name.
type Info struct {
	Name string
	// Hosts are the host namespaces' host names, sorted (the bridge excluded).
	Hosts []string
	// State is "persistent", "running (pid N)", or "stale" (its owner is gone).
	State string
}

// List returns the labs that exist on this machine, sorted by name.
func List() ([]Info, error) {
	names, err := labNames()
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, n := range names {
		inf := Info{Name: n, State: stateOf(n)}
		for _, ns := range namespacesOf(n) {
			if h := strings.TrimPrefix(ns, Prefix+n+"-"); h != BridgeHost {
				inf.Hosts = append(inf.Hosts, h)
			}
		}
		out = append(out, inf)
	}
	return out, nil
}

// labNames lists the labs that have a namespace or a state file.
func labNames() ([]string, error) {
	set := map[string]bool{}
	ents, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		if lab, _, ok := splitNamespace(e.Name()); ok {
			set[lab] = true
		}
	}
	ents, err = os.ReadDir(StateDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		if labNameRE.MatchString(e.Name()) {
			set[e.Name()] = true
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// splitNamespace parses fulcrum-<lab>-<host>.
func splitNamespace(ns string) (lab, host string, ok bool) {
	rest, ok := strings.CutPrefix(ns, Prefix)
	if !ok {
		return "", "", false
	}
	lab, host, ok = strings.Cut(rest, "-")
	if !ok || !labNameRE.MatchString(lab) || !(hostNameRE.MatchString(host) || host == BridgeHost) {
		return "", "", false
	}
	return lab, host, true
}

// namespacesOf lists the lab's namespaces, hosts first and the bridge last.
func namespacesOf(lab string) []string {
	ents, _ := os.ReadDir(netnsDir)
	var hosts []string
	bridge := false
	for _, e := range ents {
		l, h, ok := splitNamespace(e.Name())
		if !ok || l != lab {
			continue
		}
		if h == BridgeHost {
			bridge = true
		} else {
			hosts = append(hosts, e.Name())
		}
	}
	slices.Sort(hosts)
	if bridge {
		hosts = append(hosts, Namespace(lab, BridgeHost))
	}
	return hosts
}

// stateOf reports a lab's state from its state file and lock.
func stateOf(name string) string {
	b, err := os.ReadFile(statePath(name))
	if err != nil {
		return "stale"
	}
	s := strings.TrimSpace(string(b))
	if s == "persistent" {
		return s
	}
	f, err := os.Open(statePath(name))
	if err != nil {
		return "stale"
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		return "stale"
	}
	pid := strings.TrimPrefix(s, "ephemeral ")
	return "running (pid " + pid + ")"
}

// Remove takes down the lab called name (see Lab.Close for what that removes). It refuses a
// lab that belongs to a running process (ErrInUse).
func Remove(ctx context.Context, name string) error {
	if !labNameRE.MatchString(name) {
		return fmt.Errorf("remove lab %q: %w", name, ErrNotFound)
	}
	st := stateOf(name)
	if strings.HasPrefix(st, "running") {
		return fmt.Errorf("remove lab %s: %w: %s", name, ErrInUse, st)
	}
	_, serr := os.Stat(statePath(name))
	if len(namespacesOf(name)) == 0 && serr != nil {
		return fmt.Errorf("remove lab %s: %w", name, ErrNotFound)
	}
	if err := teardown(ctx, name); err != nil {
		return fmt.Errorf("remove lab %s: %w", name, err)
	}
	os.Remove(statePath(name))
	return nil
}

// Sweep removes the labs whose owning process is gone (a crashed or killed test run):
// ephemeral labs whose lock nobody holds and namespaces without a state file. Persistent labs
// and labs of running processes are left alone. It returns the names it removed.
func Sweep(ctx context.Context) ([]string, error) {
	names, err := labNames()
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, n := range names {
		f, err := os.Open(statePath(n))
		if err == nil {
			line, _ := bufio.NewReader(f).ReadString('\n')
			if strings.TrimSpace(line) == "persistent" {
				f.Close()
				continue
			}
			if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
				f.Close() // held: its owner runs
				continue
			}
		}
		// Stale. Holding its lock (when it has a state file) keeps another sweeper out.
		terr := teardown(ctx, n)
		if terr == nil {
			os.Remove(statePath(n))
			removed = append(removed, n)
		} else {
			errs = append(errs, fmt.Errorf("sweep lab %s: %w", n, terr))
		}
		if f != nil {
			f.Close()
		}
	}
	return removed, errors.Join(errs...)
}

// ipBatch runs `ip [-n ns] -batch -` with cmds on standard input.
func ipBatch(ctx context.Context, ns, cmds string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdin = strings.NewReader(cmds)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ip runs one ip command.
func ip(ctx context.Context, args ...string) error {
	if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Lookup returns host of an existing lab (made by this process or another), with its address
// read from its interface.
func Lookup(lab, host string) (*Host, error) {
	ns := Namespace(lab, host)
	if !labNameRE.MatchString(lab) || !hostNameRE.MatchString(host) || host == BridgeHost {
		return nil, fmt.Errorf("lab %q host %q: %w", lab, host, ErrNotFound)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, ns)); err != nil {
		return nil, fmt.Errorf("lab %s has no host %s: %w", lab, host, ErrNotFound)
	}
	l := &Lab{Name: lab, Bridge: Namespace(lab, BridgeHost)}
	h := &Host{Name: host, Namespace: ns, Interface: Interface, BridgePort: "v-" + host, lab: l}
	ps, err := h.Addrs()
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if p.Addr().Is4() && Range.Contains(p.Addr()) {
			h.Addr, h.Prefix = p.Addr(), p
			l.Subnet = p.Masked()
			break
		}
	}
	l.Hosts = []*Host{h}
	return h, nil
}
