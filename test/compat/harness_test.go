// Package compat runs third-party OpenStack clients — gophercloud's own
// acceptance tests and the openstack CLI with octaviaclient — against a real
// `fulcrum server` process with the noop provider, so no client can make
// fulcrum send traffic anywhere. The Barbican subset is driven with
// python3-barbicanclient (`openstack secret ...`).
//
// The clients are required, never skipped: test/install installs the CLI
// and gophercloud comes from the Go module proxy. Only go test -short
// skips the package (main_test.go).
package compat_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// binary builds cmd/fulcrum once per test run.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "fulcrum-compat-bin")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "fulcrum")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/fulcrum")
	cmd.Dir = repoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, b)
	}
	return out, nil
})

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Join(wd, "..", "..")
}

// server is a running fulcrum server process.
type server struct {
	URL      string
	DataDir  string
	Export   string // the bootstrap line printed on stdout
	Clouds   string // path of clouds.yaml ("" under noauth)
	Password string // admin password from clouds.yaml
	log      *os.File
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// freePortNumber is the number of a port free on loopback now.
func freePortNumber(t *testing.T) string {
	t.Helper()
	_, port, err := net.SplitHostPort(freePort(t))
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// startServer runs `fulcrum server` with the noop provider on free loopback
// ports and waits until it is ready. extra flags are appended.
func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{DataDir: t.TempDir()}
	addr := freePort(t)
	s.URL = "http://" + addr
	args := append([]string{"server", "--listen", addr, "--data-dir", s.DataDir, "--provider", "noop",
		"--embedded-agent=false", "--agent-listen", freePort(t), "--log-level", "warn"}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	s.log, err = os.Create(filepath.Join(s.DataDir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = s.log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		s.log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(s.log.Name())
			t.Logf("server log (%s):\n%s", s.log.Name(), lastLines(string(b), 80))
		}
	})
	// The server prints the clouds.yaml line (on a first start with
	// Keystone) before its banner: read stdout up to the banner, so the
	// line is never looked for before the server has written it.
	deadline := time.Now().Add(60 * time.Second)
	for banner := false; !banner; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("fulcrum server %v exited before its banner", args)
			}
			if strings.HasPrefix(line, "export OS_CLOUD=") {
				s.Export = line
			}
			banner = strings.HasPrefix(line, "fulcrum server: Octavia v2 API on")
		case <-time.After(time.Until(deadline)):
			t.Fatalf("fulcrum server %v printed no banner within 60s", args)
		}
	}
	go func() {
		for range lines {
		}
	}()
	for ready := false; !ready; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("fulcrum server %v did not become ready within 60s", args)
		}
		if res, err := http.Get(s.URL + "/healthcheck"); err == nil {
			res.Body.Close()
			ready = res.StatusCode == http.StatusOK
		}
	}
	if s.Export != "" {
		m := regexp.MustCompile(`OS_CLIENT_CONFIG_FILE=(\S+)`).FindStringSubmatch(s.Export)
		if m == nil {
			t.Fatalf("bootstrap line %q has no OS_CLIENT_CONFIG_FILE", s.Export)
		}
		s.Clouds = m[1]
		b, err := os.ReadFile(s.Clouds)
		if err != nil {
			t.Fatal(err)
		}
		m = regexp.MustCompile(`(?m)^\s*password:\s*"?([^"\n]+)"?\s*$`).FindStringSubmatch(string(b))
		if m == nil {
			t.Fatalf("no password in %s", s.Clouds)
		}
		s.Password = m[1]
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// needOpenstack fails the test when the CLI is missing: CI installs it.
func needOpenstack(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openstack"); err != nil {
		t.Fatal("the openstack CLI is required (apt-get install python3-openstackclient python3-octaviaclient python3-barbicanclient; .ci/run does)")
	}
}

// run executes a command with env added, returning combined output.
func run(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// cloudEnv is the environment of the openstack CLI for the server's
// clouds.yaml.
func (s *server) cloudEnv() []string {
	return []string{"OS_CLOUD=fulcrum", "OS_CLIENT_CONFIG_FILE=" + s.Clouds}
}
