package haproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cli sends one command line to the UNIX socket at path and returns the whole answer
// (the master CLI and the stats socket answer one command per connection when the
// client half-closes).
func cli(ctx context.Context, path, cmd string) (string, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return "", err
	}
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	c.SetDeadline(deadline)
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	c.(*net.UnixConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		return string(b), err
	}
	return string(b), nil
}

// procs is the master's "show proc".
type procs struct {
	master          int
	reloads, failed int
	workers         []int // current workers (one: nbproc is gone in 2.5+)
	old             []int // workers of earlier configurations, finishing their connections
}

var procHead = regexp.MustCompile(`^(\d+)\s+master\s+(\d+)(?:\s+\[failed:\s*(\d+)\])?`)

func parseProcs(s string) (procs, error) {
	var p procs
	section := ""
	for _, line := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(line, "# workers"):
			section = "workers"
			continue
		case strings.HasPrefix(line, "# old workers"):
			section = "old"
			continue
		case strings.HasPrefix(line, "# programs"):
			section = "programs"
			continue
		case strings.HasPrefix(line, "#"), strings.TrimSpace(line) == "":
			continue
		}
		if m := procHead.FindStringSubmatch(line); m != nil {
			p.master, _ = strconv.Atoi(m[1])
			p.reloads, _ = strconv.Atoi(m[2])
			if m[3] != "" {
				p.failed, _ = strconv.Atoi(m[3])
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || f[1] != "worker" {
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		switch section {
		case "workers":
			p.workers = append(p.workers, pid)
		case "old":
			p.old = append(p.old, pid)
		}
	}
	if p.master == 0 {
		return p, fmt.Errorf("unexpected answer to show proc: %q", firstLine(s))
	}
	return p, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// master is the HAProxy master process: the engine's child, or one a previous engine
// (an engine stopped without Close, or an older agent) left running, which the engine
// adopts.
type master struct {
	dir string
	bin string
	log func(line string)

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil when adopted
	exited chan struct{} // closed when the child has exited (nil when adopted)
	pid    int
	stderr *lineRing
}

func (m *master) sock() string { return filepath.Join(m.dir, masterSock) }

// showProc asks the master for its processes.
func (m *master) showProc(ctx context.Context) (procs, error) {
	out, err := cli(ctx, m.sock(), "show proc")
	if err != nil {
		return procs{}, err
	}
	return parseProcs(out)
}

// adopt takes over a master a previous engine left running in dir: its pid file names a
// live haproxy whose command line is ours and whose master socket answers; the next Apply
// reloads it. (A master this code starts dies with its agent's process: see start.)
func (m *master) adopt(ctx context.Context) bool {
	b, err := os.ReadFile(filepath.Join(m.dir, pidFile))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(filepath.Join(m.dir, configFile))) {
		return false
	}
	p, err := m.showProc(ctx)
	if err != nil || p.master != pid {
		return false
	}
	m.mu.Lock()
	m.pid = pid
	m.mu.Unlock()
	return true
}

// start runs the master on the configuration in dir and waits until its first worker is
// up. stderr lines go to log and are kept for error messages.
func (m *master) start(ctx context.Context) error {
	os.Remove(m.sock())
	args := []string{"-W", "-db", "-S", m.sock() + ",mode,600", "-f", filepath.Join(m.dir, configFile), "-p", filepath.Join(m.dir, pidFile)}
	cmd := exec.Command(m.bin, args...)
	cmd.Dir = m.dir
	// HAProxy dies with its agent (SIGTERM, as Close sends; the workers exit with their
	// master): an agent's data plane lives as long as the agent, as with the native engine.
	// Otherwise a killed agent's HAProxy would go on holding the VIP's ports, and the agent
	// its load balancers fail over to could not bind them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	ring := &lineRing{max: 200}
	exited := make(chan struct{})
	copied := make(chan struct{})
	// The parent-death signal fires when the thread that forked the master exits, not the
	// process: the goroutine that starts it stays on its thread until the master has exited
	// (the thread ends with the goroutine, never unlocked). The master re-executes itself on
	// reload with the same pid and parent, so the signal holds across reloads.
	startErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			startErr <- err
			return
		}
		startErr <- nil
		cmd.Wait()
		<-copied
		close(exited)
	}()
	if err := <-startErr; err != nil {
		pr.Close()
		pw.Close()
		return fmt.Errorf("start %s: %w", m.bin, err)
	}
	pw.Close()
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			ring.add(sc.Text())
			if m.log != nil {
				m.log(sc.Text())
			}
		}
		pr.Close()
	}()
	m.mu.Lock()
	m.cmd, m.exited, m.pid, m.stderr = cmd, exited, cmd.Process.Pid, ring
	m.mu.Unlock()
	for {
		p, err := m.showProc(ctx)
		if err == nil && len(p.workers) > 0 {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("haproxy exited at start: %s", ring.alerts())
		case <-ctx.Done():
			m.kill()
			return fmt.Errorf("haproxy start: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// errReloadFailed is a reload the new configuration could not complete; the previous
// workers go on serving.
var errReloadFailed = errors.New("haproxy reload failed")

// reload asks the master to re-execute itself on the configuration file and waits until
// the new worker runs and the previous one has been told to stop (it stops accepting at
// once and finishes its connections), or the reload failed.
func (m *master) reload(ctx context.Context) error {
	before, err := m.showProc(ctx)
	if err != nil {
		return fmt.Errorf("haproxy reload: %w", err)
	}
	mark := 0
	if m.stderr != nil {
		mark = m.stderr.mark()
	}
	// The master answers nothing: it re-executes itself and the connection closes.
	if _, err := cli(ctx, m.sock(), "reload"); err != nil && !isClosed(err) {
		return fmt.Errorf("haproxy reload: %w", err)
	}
	prev := map[int]bool{}
	for _, pid := range before.workers {
		prev[pid] = true
	}
	for {
		p, err := m.showProc(ctx)
		if err == nil && p.reloads > before.reloads {
			if p.failed > before.failed {
				msg := "see the haproxy log"
				if m.stderr != nil {
					msg = m.stderr.alertsSince(mark)
				}
				return fmt.Errorf("%w: %s", errReloadFailed, msg)
			}
			fresh := false
			for _, pid := range p.workers {
				if !prev[pid] {
					fresh = true
				}
			}
			if fresh {
				return m.waitStopping(ctx, before.workers)
			}
		}
		select {
		case <-m.exitedChan():
			return fmt.Errorf("haproxy master exited during a reload: %s", m.stderr.alerts())
		case <-ctx.Done():
			return fmt.Errorf("haproxy reload: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitStopping waits until each of the given (replaced) workers is gone or soft-stopping:
// the master tells them once the new worker is ready, and a stopping worker has closed
// its listeners, so a listener the new configuration dropped refuses connections from
// then on (and its port is free for another process), as with the native engine.
func (m *master) waitStopping(ctx context.Context, pids []int) error {
	for _, pid := range pids {
		for {
			out, err := cli(ctx, m.sock(), fmt.Sprintf("@!%d show info", pid))
			if err != nil || !strings.Contains(out, "Pid: ") || strings.Contains(out, "\nStopping: 1") {
				break // gone (the master no longer routes to it) or stopping
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("haproxy reload: the replaced worker %d did not stop: %w", pid, ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return nil
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (m *master) exitedChan() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exited // nil (blocks forever) when adopted
}

// currentPid is the master's pid (0 before the first start).
func (m *master) currentPid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pid
}

// alive reports whether the master process still runs.
func (m *master) alive() bool {
	m.mu.Lock()
	pid, exited := m.pid, m.exited
	m.mu.Unlock()
	if pid == 0 {
		return false
	}
	if exited != nil {
		select {
		case <-exited:
			return false
		default:
			return true
		}
	}
	return syscall.Kill(pid, 0) == nil
}

// stop ends the master and its workers (SIGTERM: workers close their connections) and
// waits for the master to exit.
func (m *master) stop(timeout time.Duration) {
	m.mu.Lock()
	pid, exited := m.pid, m.exited
	m.mu.Unlock()
	if pid == 0 {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.After(timeout)
	if exited != nil {
		select {
		case <-exited:
			return
		case <-deadline:
			m.kill()
			<-exited
			return
		}
	}
	for syscall.Kill(pid, 0) == nil {
		select {
		case <-deadline:
			syscall.Kill(pid, syscall.SIGKILL)
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// kill ends the master's whole process group at once.
func (m *master) kill() {
	m.mu.Lock()
	pid := m.pid
	m.mu.Unlock()
	if pid > 0 {
		syscall.Kill(-pid, syscall.SIGKILL)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// lineRing keeps the last lines HAProxy wrote, numbered, for error messages.
type lineRing struct {
	mu    sync.Mutex
	max   int
	n     int // lines ever added
	lines []string
}

func (r *lineRing) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	r.lines = append(r.lines, s)
	if len(r.lines) > r.max {
		r.lines = r.lines[len(r.lines)-r.max:]
	}
}

func (r *lineRing) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// alertsSince returns the [ALERT] lines added after mark, joined.
func (r *lineRing) alertsSince(mark int) string {
	if r == nil {
		return "no output"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	first := r.n - len(r.lines) // number of the first kept line
	var out []string
	for i, l := range r.lines {
		if first+i < mark {
			continue
		}
		if strings.Contains(l, "[ALERT]") {
			out = append(out, alertText(l))
		}
	}
	if len(out) == 0 {
		return "no alert logged"
	}
	return strings.Join(out, "; ")
}

func (r *lineRing) alerts() string { return r.alertsSince(0) }

// alertText drops the "[ALERT]    (pid) : " prefix of an HAProxy message.
func alertText(l string) string {
	if i := strings.Index(l, ") : "); i >= 0 {
		return strings.TrimSpace(l[i+4:])
	}
	return strings.TrimSpace(l)
}
