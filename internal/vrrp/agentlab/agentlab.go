// Package agentlab runs fulcrum's ACTIVE_STANDBY topology for real in a netlab lab: a
// `fulcrum server` in a host of its own, `fulcrum agent`s in other hosts (each with its
// keepalived), an HTTP backend and a client host, all on one bridged segment in
// 198.18.0.0/15. It creates an ACTIVE_STANDBY load balancer through the real API, injects
// faults into the MASTER and measures what a client opening a new connection every 5 ms
// sees. test/ha and the active-standby bench suite use it.
//
// The server runs in the lab (host "ctl") rather than in the root namespace: agents must
// reach its agent API, and the root namespace has no route into a lab by design; the
// caller reaches the API through the ctl host's namespace (Host.Dial). Everything the lab
// starts runs inside its namespaces, so closing the lab (netlab) kills it, also when a test
// fails or panics.
package agentlab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/netlab"
)

// Ports and the segment.
const (
	apiPort     = 9876
	agentPort   = 9443
	backendPort = 8080
	// Segment is the physical network's name on the server and the agents.
	Segment = "physnet"
	// ListenerPort is the load balancer's HTTP listener.
	ListenerPort = 80
)

// Options configure Start.
type Options struct {
	// Binary is the fulcrum binary.
	Binary string
	// Agents is how many agent hosts (a1, a2, …); at least 2, default 3 (a spare to
	// replace a lost member).
	Agents int
	// Stderr receives the processes' logs (nil: discarded).
	Stderr io.Writer
	// DeadAfter is the server's --agent-dead-after (default 1.5 s, heartbeats every
	// Heartbeat).
	DeadAfter time.Duration
	// AdvertIntervalMS, if set, is the flavor's vrrp_advert_int_ms (default: the server's,
	// 200 ms).
	AdvertIntervalMS int
}

// Heartbeat is how often the lab's agents report (the server's --agent-heartbeat).
const Heartbeat = 250 * time.Millisecond

// Lab is a running lab.
type Lab struct {
	Net                  *netlab.Lab
	Ctl, Backend, Client *netlab.Host
	Agents               []*Agent
	// LB and VIP: the ACTIVE_STANDBY load balancer (CreateLoadBalancer); Subnet its VIP
	// subnet.
	LB     string
	VIP    netip.Addr
	Subnet string

	opts    Options
	dir     string
	api     *http.Client
	base    string
	backend net.Listener
	logs    io.Writer

	mu         sync.Mutex
	server     *exec.Cmd
	serverDone chan struct{}
}

// Agent is one agent host and its process.
type Agent struct {
	Name string
	Host *netlab.Host
	dir  string
	lab  *Lab

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start creates the lab, starts the server and the agents and waits until every agent is
// up and has said it runs VRRP.
func Start(ctx context.Context, opts Options) (_ *Lab, err error) {
	if opts.Agents == 0 {
		opts.Agents = 3
	}
	if opts.Agents < 2 || opts.Agents > 8 {
		return nil, fmt.Errorf("agentlab: %d agents, want 2 to 8", opts.Agents)
	}
	if opts.DeadAfter == 0 {
		opts.DeadAfter = 1500 * time.Millisecond
	}
	hosts := []string{"ctl"}
	for i := 1; i <= opts.Agents; i++ {
		hosts = append(hosts, fmt.Sprintf("a%d", i))
	}
	hosts = append(hosts, "be", "cl")
	n, err := netlab.Create(ctx, netlab.Spec{Hosts: hosts})
	if err != nil {
		return nil, err
	}
	l := &Lab{Net: n, Ctl: n.Host("ctl"), Backend: n.Host("be"), Client: n.Host("cl"), opts: opts, logs: opts.Stderr}
	if l.logs == nil {
		l.logs = io.Discard
	}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	if l.dir, err = os.MkdirTemp("", "fulcrum-agentlab-"); err != nil {
		return nil, err
	}
	l.base = fmt.Sprintf("http://%s", netip.AddrPortFrom(l.Ctl.Addr, apiPort))
	l.api = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return l.Ctl.Dial(ctx, nil, network, addr)
		}}}
	if err := l.startBackend(); err != nil {
		return nil, err
	}
	sdir := filepath.Join(l.dir, "server")
	if err := l.StartServer(ctx); err != nil {
		return nil, err
	}
	for i := 1; i <= opts.Agents; i++ {
		name := fmt.Sprintf("a%d", i)
		a := &Agent{Name: name, Host: n.Host(name), dir: filepath.Join(l.dir, name), lab: l}
		out, err := exec.CommandContext(ctx, opts.Binary, "agent-token", "--data-dir", sdir, "--name", name).Output()
		if err != nil {
			return nil, fmt.Errorf("agent-token %s: %w", name, err)
		}
		if err := a.start(strings.TrimSpace(string(out))); err != nil {
			return nil, err
		}
		l.Agents = append(l.Agents, a)
	}
	if err := poll(ctx, 60*time.Second, "every agent up", func() bool {
		var body struct {
			Amphorae []any `json:"amphorae"`
		}
		return l.Do("GET", "/v2/octavia/amphorae", nil, &body) == nil && l.agentsUp() == opts.Agents
	}); err != nil {
		return nil, err
	}
	return l, nil
}

// StartServer starts the server (again, after KillServer: same data directory) and waits
// for its API.
func (l *Lab) StartServer(ctx context.Context) error {
	n := l.Net
	cmd := l.Ctl.Command(context.Background(), l.opts.Binary, "server",
		"--listen", netip.AddrPortFrom(l.Ctl.Addr, apiPort).String(),
		"--agent-listen", netip.AddrPortFrom(l.Ctl.Addr, agentPort).String(),
		"--data-dir", filepath.Join(l.dir, "server"), "--auth", "noauth", "--embedded-agent=false",
		"--network", "segment", "--segment", Segment+"="+n.Subnet.String(),
		"--member-address-allow", n.Subnet.String(),
		"--agent-heartbeat", Heartbeat.String(), "--agent-dead-after", l.opts.DeadAfter.String(), "--resync", "2s")
	cmd.Stdout, cmd.Stderr = prefixed(l.logs, "server: "), prefixed(l.logs, "server: ")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	l.mu.Lock()
	l.server, l.serverDone = cmd, done
	l.mu.Unlock()
	return poll(ctx, 60*time.Second, "the server's API", func() bool {
		return l.Do("GET", "/v2/lbaas/loadbalancers", nil, nil) == nil
	})
}

// KillServer SIGKILLs the server and waits for it to exit.
func (l *Lab) KillServer() {
	l.mu.Lock()
	cmd, done := l.server, l.serverDone
	l.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// agentsUp counts the agents whose process runs (the server learns of them by heartbeat;
// placement waits for what they report).
func (l *Lab) agentsUp() int {
	n := 0
	for _, a := range l.Agents {
		if a.Running() {
			n++
		}
	}
	return n
}

// startBackend serves HTTP on the backend host: the answer names the agent that forwarded
// the request (by its source address on the segment).
func (l *Lab) startBackend() error {
	ln, err := l.Backend.Listen(context.Background(), nil, "tcp", netip.AddrPortFrom(l.Backend.Addr, backendPort).String())
	if err != nil {
		return err
	}
	l.backend = ln
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		name := host
		for _, h := range l.Net.Hosts {
			if h.Addr.String() == host {
				name = h.Name
			}
		}
		io.WriteString(w, name)
	})}
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// start runs the agent (token only at its first start).
func (a *Agent) start(token string) error {
	args := []string{"agent", "--server", "https://" + netip.AddrPortFrom(a.lab.Ctl.Addr, agentPort).String(),
		"--name", a.Name, "--data-dir", a.dir, "--address", a.Host.Addr.String(), "--segment", Segment + "=" + a.Host.Interface}
	if token != "" {
		args = append(args, "--join-token", token)
	}
	cmd := a.Host.Command(context.Background(), a.lab.opts.Binary, args...)
	cmd.Stdout, cmd.Stderr = prefixed(a.lab.logs, a.Name+": "), prefixed(a.lab.logs, a.Name+": ")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start agent %s: %w", a.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	a.mu.Lock()
	a.cmd, a.done = cmd, done
	a.mu.Unlock()
	return nil
}

// Restart starts the agent again after a Kill.
func (a *Agent) Restart() error { return a.start("") }

// Running reports whether the agent's process runs.
func (a *Agent) Running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done == nil {
		return false
	}
	select {
	case <-a.done:
		return false
	default:
		return true
	}
}

// Kill SIGKILLs the agent (its engine is in the same process; its keepalived, told by its
// parent-death signal, resigns) and waits for it to exit.
func (a *Agent) Kill() {
	a.mu.Lock()
	cmd, done := a.cmd, a.done
	a.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// KeepalivedPID is the agent's keepalived main process, or 0.
func (a *Agent) KeepalivedPID() int {
	b, err := os.ReadFile(filepath.Join(a.dir, "vrrp", "keepalived.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// HoldsVIP reports whether the agent's host has the VIP plumbed.
func (a *Agent) HoldsVIP() bool {
	ok, _ := a.Host.HasAddr(a.lab.VIP)
	return ok
}

// Agent returns the agent of that name, or nil.
func (l *Lab) Agent(name string) *Agent {
	for _, a := range l.Agents {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// Do calls the API (noauth: everyone is an admin of project "lab"); out, if set, receives
// the JSON answer. A status of 300 or more is an error with the body.
func (l *Lab) Do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, l.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-Project-Id", "0f1e2d3c4b5a69788796a5b4c3d2e1f0")
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.api.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// OpenStack runs the openstack CLI (python-octaviaclient) against the lab's API, from the
// server's host (nothing outside the lab routes into it), without authentication (the
// server runs with --auth noauth), and returns its standard output.
func (l *Lab) OpenStack(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	argv := append([]string{"--os-auth-type", "none", "--os-endpoint", l.base}, args...)
	cmd := l.Ctl.Command(ctx, "openstack", argv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("openstack %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Dir is the lab's data directory (the server's and the agents'); every process the lab
// starts names it on its command line.
func (l *Lab) Dir() string { return l.dir }

// Close stops everything and removes the lab (namespaces, processes inside them, data).
func (l *Lab) Close() error {
	if l.backend != nil {
		l.backend.Close()
	}
	err := l.Net.Close() // kills every process in the lab's namespaces
	if l.dir != "" {
		os.RemoveAll(l.dir)
	}
	return err
}

func poll(ctx context.Context, d time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", d, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// prefixed writes each line to w with a prefix.
func prefixed(w io.Writer, prefix string) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintf(w, "%s%s\n", prefix, sc.Text())
		}
		io.Copy(io.Discard, pr)
	}()
	return pw
}
