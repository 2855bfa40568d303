// Package servertest runs real `fulcrum` processes for end-to-end tests: it
// builds the binary once per test process, starts servers on loopback
// with a fresh or given data directory, finds their address from the start-up
// banner, and kills (SIGKILL) or stops (SIGTERM) them.
//
// Only tests import it.
package servertest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary builds ./cmd/fulcrum (with -race when the test binary has it) into
// dir and returns its path. Call it from TestMain with a directory that
// outlives the tests.
func Binary(dir string) (string, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(dir, "fulcrum")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/fulcrum")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/fulcrum: %v\n%s", err, out.String())
	}
	return bin, nil
}

// Server is one running `fulcrum server` process.
type Server struct {
	t       testing.TB
	bin     string
	args    []string
	DataDir string
	// Addr is host:port of the API; URL is http://Addr. AgentURL is the
	// agent API (https).
	Addr     string
	URL      string
	AgentURL string

	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	logs bytes.Buffer
}

var (
	bannerRE = regexp.MustCompile(`on http://([0-9.:\[\]a-f]+)`)
	agentRE  = regexp.MustCompile(`agent API \(mutual TLS\) on (https://[0-9.:\[\]a-f]+)`)
)

// Start runs `bin server --listen 127.0.0.1:0 --data-dir dataDir extra...`
// (dataDir "" = a new temporary directory) and waits for its banner. The
// server is killed when the test ends.
func Start(t testing.TB, bin, dataDir string, extra ...string) *Server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	s := &Server{t: t, bin: bin, DataDir: dataDir,
		args: append([]string{"server", "--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0", "--data-dir", dataDir}, extra...)}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command(s.bin, s.args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{mu: &s.mu, w: &s.logs}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	addr := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		var api string
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.logs.WriteString(line + "\n")
			s.mu.Unlock()
			if m := bannerRE.FindStringSubmatch(line); m != nil && api == "" {
				api = m[1]
			}
			if m := agentRE.FindStringSubmatch(line); m != nil && !sent {
				addr <- [2]string{api, m[1]}
				sent = true
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	select {
	case a := <-addr:
		s.Addr = a[0]
		s.URL = "http://" + a[0]
		s.AgentURL = a[1]
	case <-s.done:
		s.t.Fatalf("fulcrum server exited before it was ready:\n%s", s.Logs())
	case <-time.After(60 * time.Second):
		s.Kill()
		s.t.Fatalf("fulcrum server not ready in 60s:\n%s", s.Logs())
	}
}

// Logs returns what the process wrote so far.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// Kill sends SIGKILL and waits for the process to exit.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// Stop sends SIGTERM and waits up to timeout for a clean exit; it reports
// whether the process exited with status 0.
func (s *Server) Stop(timeout time.Duration) bool {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return s.cmd.ProcessState.Success()
	case <-time.After(timeout):
		s.Kill()
		return false
	}
}

// Restart starts the same command again on the same data directory (and a
// new port) after the previous process has exited.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Process is a running helper process (an agent).
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	logs bytes.Buffer
}

// StartProcess runs bin with args; it is killed when the test ends.
func StartProcess(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	p := &Process{done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	w := &lockedWriter{mu: &p.mu, w: &p.logs}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.Kill)
	return p
}

// Kill sends SIGKILL and waits for the exit.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Signal sends sig to the process (SIGSTOP and SIGCONT freeze and thaw it).
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Done is closed when the process has exited; ExitErr then tells how.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitErr is the process's exit status as an error (nil for status 0);
// call it after Done is closed.
func (p *Process) ExitErr() error {
	<-p.done
	if p.cmd.ProcessState.Success() {
		return nil
	}
	return errors.New(p.cmd.ProcessState.String())
}

// Logs returns what the process wrote so far.
func (p *Process) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// Run runs bin with args to completion and returns its standard output.
func Run(bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %v: %v\n%s", bin, args, err, errb.String())
	}
	return out.String(), nil
}

// TempDir is os.MkdirTemp for TestMain, which has no testing.T.
func TempDir() (string, func(), error) {
	dir, err := os.MkdirTemp("", "fulcrum-test-")
	return dir, func() { os.RemoveAll(dir) }, err
}

// RaisePriority sets every thread of the calling process to nice n (below 0 needs root).
// Linux keeps a nice value per thread and a new thread or child process inherits its
// creator's, so after two passes over /proc/self/task (threads started during the first
// are caught by the second) everything the process starts from then on — servers, agents,
// keepalived, PostgreSQL — runs at n. Tests that time failovers call it from TestMain so
// that, on a machine busy with other work, their timings measure fulcrum rather than the
// neighbours.
func RaisePriority(n int) error {
	for pass := 0; pass < 2; pass++ {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, n); err != nil && err != syscall.ESRCH {
				return fmt.Errorf("nice %d for thread %d: %w", n, tid, err)
			}
		}
	}
	return nil
}
