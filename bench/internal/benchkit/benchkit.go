// Package benchkit is what fulcrum's bench programs share: building and
// starting real fulcrum processes on loopback, a plain-JSON Octavia client
// and percentile arithmetic.
package benchkit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Build compiles ./cmd/fulcrum into dir and returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "fulcrum")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/fulcrum")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	return bin, nil
}

// Workdir makes a temporary directory named after prefix and builds fulcrum
// into it; cleanup removes the directory.
func Workdir(prefix string) (dir, bin string, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	if bin, err = Build(dir); err != nil {
		cleanup()
		return "", "", nil, err
	}
	return dir, bin, cleanup, nil
}

// Backend serves "ok" over HTTP on a loopback port until stop is called.
func Backend() (port int, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(ln)
	return ln.Addr().(*net.TCPAddr).Port, func() { srv.Close() }, nil
}

// Server is a running `fulcrum server`.
type Server struct {
	Cmd      *exec.Cmd
	URL      string
	AgentURL string
}

var (
	apiRE   = regexp.MustCompile(`on (http://[0-9.:\[\]a-f]+)`)
	agentRE = regexp.MustCompile(`agent API \(mutual TLS\) on (https://[0-9.:\[\]a-f]+)`)
)

// StartServer runs `bin server` on loopback ports with extra flags.
func StartServer(bin, dataDir string, extra ...string) (*Server, error) {
	args := append([]string{"server", "--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0", "--data-dir", dataDir}, extra...)
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Cmd: cmd}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := apiRE.FindStringSubmatch(sc.Text()); m != nil && s.URL == "" {
			s.URL = m[1]
		}
		if m := agentRE.FindStringSubmatch(sc.Text()); m != nil {
			s.AgentURL = m[1]
			break
		}
	}
	if s.URL == "" || s.AgentURL == "" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("server exited before printing its addresses")
	}
	go io.Copy(io.Discard, stdout)
	return s, nil
}

// Stop interrupts the process and waits for it.
func Stop(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Client speaks Octavia's wire format in noauth mode.
type Client struct {
	Base    string
	Project string
	HC      *http.Client
}

// NewClient returns a client for base with a small keep-alive pool.
func NewClient(base string) *Client {
	return &Client{Base: base, Project: "bench", HC: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
}

// Do sends body as JSON and decodes the answer into out; a status other
// than want is an error.
func (c *Client) Do(method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.Base+path, rd)
	req.Header.Set("X-Project-Id", c.Project)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HC.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Status returns a load balancer's provisioning status ("" when gone).
func (c *Client) Status(id string) (string, error) {
	var out struct {
		Loadbalancer struct {
			ProvisioningStatus string `json:"provisioning_status"`
		}
	}
	err := c.Do("GET", "/v2/lbaas/loadbalancers/"+id, nil, 200, &out)
	return out.Loadbalancer.ProvisioningStatus, err
}

// WaitActive polls until the load balancer is ACTIVE.
func (c *Client) WaitActive(ctx context.Context, id string) error {
	for ctx.Err() == nil {
		st, err := c.Status(id)
		if err != nil {
			return err
		}
		if st == "ACTIVE" {
			return nil
		}
		if st == "ERROR" {
			return fmt.Errorf("load balancer %s went ERROR", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("load balancer %s not ACTIVE: %w", id, ctx.Err())
}

// Pct returns the p-th percentile (nearest rank) of v.
func Pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(float64(len(s)-1)*p/100 + 0.5)
	return s[i]
}

// RSSKiB returns a process's resident set size in KiB.
func RSSKiB(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kib int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%d", &kib)
			return kib, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}
