package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Command returns a command that runs name with args inside the host's namespace, by
// `ip netns exec`: the process and its children live in the namespace, see /sys of the
// namespace and the host's /etc/netns/<namespace> files, and keep its own PID (ip execs it),
// so signals sent to cmd.Process reach the program itself.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Namespace, name}, args...)...)
}

// Wrap is the argument prefix that runs a program inside the host's namespace (what Command
// puts before name), for APIs that take an argv prefix.
func (h *Host) Wrap() []string { return []string{"ip", "netns", "exec", h.Namespace} }

// Do runs fn on an operating-system thread that has entered the host's namespace, and returns
// its error. Sockets fn creates belong to the namespace for good and may be used from any
// goroutine afterwards; fn must not start goroutines that expect the namespace (they run
// elsewhere). The thread is never given back to the Go scheduler: it ends when fn returns, so
// no other goroutine ever runs in the namespace by accident.
func (h *Host) Do(fn func() error) error {
	f, err := os.Open(filepath.Join(netnsDir, h.Namespace))
	if err != nil {
		return fmt.Errorf("enter %s: %w", h.Namespace, err)
	}
	defer f.Close()
	fd := f.Fd()
	done := make(chan error, 1)
	go func() {
		// Locked and never unlocked: when this goroutine returns the runtime terminates the
		// thread instead of reusing it.
		runtime.LockOSThread()
		if err := unix.Setns(int(fd), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("enter %s: setns: %w", h.Namespace, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

// Dial connects from inside the host's namespace (see Do). d may be nil.
func (h *Host) Dial(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	var c net.Conn
	err := h.Do(func() (err error) {
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Listen listens inside the host's namespace (see Do). lc may be nil.
func (h *Host) Listen(ctx context.Context, lc *net.ListenConfig, network, address string) (net.Listener, error) {
	if lc == nil {
		lc = &net.ListenConfig{}
	}
	var ln net.Listener
	err := h.Do(func() (err error) {
		ln, err = lc.Listen(ctx, network, address)
		return err
	})
	return ln, err
}

// SetLink sets the host's interface administratively up or down (a cut cable, as far as the
// host can tell: the interface loses carrier).
func (h *Host) SetLink(ctx context.Context, up bool) error {
	return ip(ctx, "-n", h.Namespace, "link", "set", h.Interface, upDown(up))
}

// SetIsolated isolates the host's bridge port, or ends the isolation. Isolated ports do not
// exchange frames with each other but do with every other port: isolating two hosts
// partitions them from each other while both still reach the rest of the segment.
func (h *Host) SetIsolated(ctx context.Context, on bool) error {
	return ip(ctx, "-n", h.lab.Bridge, "link", "set", "dev", h.BridgePort, "type", "bridge_slave", "isolated", onOff(on))
}

// SetCut stops, or starts again, the bridge forwarding anything to or from the host's port
// (the port's state disabled, then forwarding): the host is cut off from the whole segment
// while its interface keeps its carrier, so the host cannot tell (an upstream cable or
// switch fault, not a link down).
func (h *Host) SetCut(ctx context.Context, on bool) error {
	state := "3" // forwarding
	if on {
		state = "0" // disabled
	}
	return ip(ctx, "netns", "exec", h.lab.Bridge, "bridge", "link", "set", "dev", h.BridgePort, "state", state)
}

// Addrs returns the addresses on the host's interface.
func (h *Host) Addrs() ([]netip.Prefix, error) {
	var out []netip.Prefix
	err := h.Do(func() error {
		ifc, err := net.InterfaceByName(h.Interface)
		if err != nil {
			return err
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				ip, _ := netip.AddrFromSlice(n.IP)
				ones, _ := n.Mask.Size()
				out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
			}
		}
		return nil
	})
	return out, err
}

// HasAddr reports whether addr is configured on the host's interface.
func (h *Host) HasAddr(addr netip.Addr) (bool, error) {
	ps, err := h.Addrs()
	if err != nil {
		return false, err
	}
	for _, p := range ps {
		if p.Addr() == addr {
			return true, nil
		}
	}
	return false, nil
}

// Processes returns the IDs of the processes whose network namespace is the host's (this
// process excluded).
func (h *Host) Processes() ([]int, error) { return pidsIn(h.Namespace) }

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// pidsIn lists the processes whose network namespace is the named one, as `ip netns pids`
// does: by the namespace's inode.
func pidsIn(ns string) ([]int, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(netnsDir, ns), &st); err != nil {
		return nil, err
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		// A process that has exited (or a zombie) has no namespace link any more.
		if link, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil && link == want {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// killIn SIGKILLs every process in the namespace and waits until none is left. They are the
// lab's own: programs started in it by the lab's user, or left behind by a crashed run.
func killIn(ns string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := pidsIn(ns)
		if errors.Is(err, os.ErrNotExist) || (err == nil && len(pids) == 0) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("processes in %s: %w", ns, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes in %s survive SIGKILL: %v", ns, pids)
		}
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
