package haproxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// hammer sends requests to url on fresh connections until stop, counting failures.
func hammer(t *testing.T, url string) (stop func() (ok, failed int64, first string)) {
	var okN, failN atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clientFrom("127.0.0.1")
			for i := 0; i < 100000 && ctx.Err() == nil; i++ {
				resp, err := c.Get(url)
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					failN.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					okN.Add(1)
				}
			}
		}()
	}
	return func() (int64, int64, string) {
		cancel()
		wg.Wait()
		s, _ := firstErr.Load().(string)
		return okN.Load(), failN.Load(), s
	}
}

// TestAdoptAfterCrash: an engine that stops without Close (its goroutines end, its process
// lives on) leaves HAProxy serving; a new engine on the same directory adopts the running
// master and reloads it, and traffic never stops. (An agent process that dies takes its
// HAProxy with it: TestHAProxyDiesWithItsAgent.)
func TestAdoptAfterCrash(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	port := freePort(t)
	dir := testDir(t)
	e1, err := New(Options{Dir: dir, PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cfg := oneListener(port, pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")))
	mustApply(t, e1, cfg)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	stop := hammer(t, url)
	// The engine stops: its goroutines end, HAProxy is not told.
	close(e1.stop)
	e1.wg.Wait()
	masterPid := e1.m.currentPid()
	e2 := newEngine(t, Options{Dir: dir})
	if e2.m.currentPid() != masterPid {
		t.Fatalf("adopted pid %d, want the running master %d", e2.m.currentPid(), masterPid)
	}
	cfg2 := oneListener(port, pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"), b.member("mb")))
	mustApply(t, e2, cfg2)
	eventually(t, 10*time.Second, "traffic reaches the member added by the new engine", func() bool { return b.hits.Load() > 0 })
	ok, failed, first := stop()
	if failed != 0 || ok == 0 {
		t.Fatalf("across the crash and adoption: %d ok, %d failed (first: %s)", ok, failed, first)
	}
	if st := e2.Stats(); len(st.Members) != 2 {
		t.Fatalf("stats of the adopting engine: %+v", st)
	}
	// Close stops the adopted master.
	e2.Close()
	if syscall.Kill(masterPid, 0) == nil {
		eventually(t, 10*time.Second, "the adopted master exits", func() bool { return syscall.Kill(masterPid, 0) != nil })
	}
}

// TestMasterKilled: HAProxy's workers exit with their master; the engine notices the
// master is gone and starts HAProxy again on the configuration in force, without waiting
// for a change.
func TestMasterKilled(t *testing.T) {
	a := startBackend(t, "a")
	port := freePort(t)
	e := newEngine(t, Options{})
	mustApply(t, e, oneListener(port, pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))))
	old := e.m.pid
	syscall.Kill(old, syscall.SIGKILL)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	eventually(t, 20*time.Second, "a new master", func() bool { return e.m.currentPid() != old })
	eventually(t, 20*time.Second, "HAProxy serving again", func() bool {
		resp, err := clientFrom("127.0.0.1").Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if st := e.Stats(); st.Version != 1 || len(st.Listeners) != 1 {
		t.Fatalf("stats after the restart: %+v", st)
	}
}

// TestTimeouts: timeout_member_data answers 504, timeout_client_data closes an idle
// connection.
func TestTimeouts(t *testing.T) {
	a := startBackend(t, "a")
	port := freePort(t)
	l := httpListener("l1", port, "p1")
	l.TimeoutMemberData = 500
	l.TimeoutClientData = 700
	e := newEngine(t, Options{})
	mustApply(t, e, &dataplane.Config{Version: 1, Listeners: []dataplane.Listener{l}, Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma"))}})
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	start := time.Now()
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := readResponse(t, br, "GET"); resp.StatusCode != 504 {
		t.Fatalf("member slower than timeout_member_data: %d, want 504", resp.StatusCode)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 2900*time.Millisecond {
		t.Fatalf("504 after %v, want about 500 ms", d)
	}
	idle, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idle.SetDeadline(time.Now().Add(10 * time.Second))
	start = time.Now()
	// HAProxy answers 408 before it closes a connection that sent nothing in time (the
	// native engine closes it without a byte).
	got, _ := io.ReadAll(idle)
	if d := time.Since(start); d < 500*time.Millisecond || d > 5*time.Second || (len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 408")) {
		t.Fatalf("idle connection closed after %v with %q, want about 700 ms", d, got)
	}
}

// TestPrivateFiles: the directory is 0700, certificates and keys are written 0600, and a
// file no longer referenced is removed after the next reload.
func TestPrivateFiles(t *testing.T) {
	ca := newTestCA(t, "ca")
	c1, _ := ca.issue(t, "one", "one.example.test")
	c2, _ := ca.issue(t, "two", "two.example.test")
	b := startBackend(t, "b1")
	e := newEngine(t, Options{})
	port := freePort(t)
	cfg := func(v uint64, cert dataplane.Certificate) *dataplane.Config {
		return &dataplane.Config{Version: v, Listeners: []dataplane.Listener{httpsListener("l1", port, "p1", &dataplane.ListenerTLS{DefaultCertificate: &cert})},
			Pools: []dataplane.Pool{pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, b.member("m1"))}}
	}
	mustApply(t, e, cfg(1, c1))
	files := func() map[string]string {
		out := map[string]string{}
		ents, _ := os.ReadDir(filepath.Join(e.dir, filesDir))
		for _, ent := range ents {
			p := filepath.Join(e.dir, filesDir, ent.Name())
			st, _ := os.Stat(p)
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", ent.Name(), st.Mode().Perm())
			}
			body, _ := os.ReadFile(p)
			out[ent.Name()] = string(body)
		}
		return out
	}
	hasKey := func(fs map[string]string, key string) bool {
		for _, v := range fs {
			if strings.Contains(v, strings.TrimSpace(key)) {
				return true
			}
		}
		return false
	}
	for _, d := range []string{e.dir, filepath.Join(e.dir, filesDir)} {
		if st, _ := os.Stat(d); st.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want 0700", d, st.Mode().Perm())
		}
	}
	if st, _ := os.Stat(filepath.Join(e.dir, ticketsFile)); st.Mode().Perm() != 0o600 {
		t.Errorf("ticket keys: mode %v", st.Mode().Perm())
	}
	if fs := files(); !hasKey(fs, c1.KeyPEM) {
		t.Fatalf("the key of the first certificate is not among the files")
	}
	mustApply(t, e, cfg(2, c2))
	fs := files()
	if hasKey(fs, c1.KeyPEM) || !hasKey(fs, c2.KeyPEM) {
		t.Fatalf("after replacing the certificate: old key kept %v, new key written %v", hasKey(fs, c1.KeyPEM), hasKey(fs, c2.KeyPEM))
	}
	if st, _ := os.Stat(filepath.Join(e.dir, configFile)); st.Mode().Perm() != 0o600 {
		t.Errorf("haproxy.cfg: mode %v", st.Mode().Perm())
	}
}

// agentChildEnv makes the test binary an "agent" (agentChild) instead of running tests.
const agentChildEnv = "FULCRUM_HAPROXY_TEST_AGENT_DIR"

// agentChild is a stand-in agent process: an engine on dir that applies dir/cfg1.json then
// dir/cfg2.json (so that its HAProxy master has re-executed itself once), prints "ready"
// and waits to be killed.
func agentChild(dir string) {
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	e, err := New(Options{Dir: filepath.Join(dir, "engine"), PollInterval: 100 * time.Millisecond})
	if err != nil {
		fail(err)
	}
	for _, name := range []string{"cfg1.json", "cfg2.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			fail(err)
		}
		var cfg dataplane.Config
		if err := json.Unmarshal(b, &cfg); err != nil {
			fail(err)
		}
		if err := e.Apply(context.Background(), &cfg); err != nil {
			fail(err)
		}
	}
	fmt.Println("ready")
	select {}
}

// TestHAProxyDiesWithItsAgent: an agent process SIGKILLed (no Close) takes its HAProxy
// with it, after a reload as well: the master and its workers exit and the listener's port
// is free at once for another agent (the one its load balancers fail over to), as with the
// native engine, whose listeners close with the process.
func TestHAProxyDiesWithItsAgent(t *testing.T) {
	a := startBackend(t, "a")
	port := freePort(t)
	dir := testDir(t)
	cfg := oneListener(port, pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")))
	for i, name := range []string{"cfg1.json", "cfg2.json"} {
		cfg.Version = uint64(i + 1)
		cfg.Listeners[0].TimeoutClientData = 50000 + int64(i) // a change: the second apply reloads
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), agentChildEnv+"="+dir)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		child.Process.Kill()
		<-exited
	})
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		child.Wait()
		close(exited)
	}()
	select {
	case l := <-lines:
		if l != "ready" {
			t.Fatalf("agent child: %q", l)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("agent child not ready in 2 minutes")
	}
	pidText, err := os.ReadFile(filepath.Join(dir, "engine", pidFile))
	if err != nil {
		t.Fatal(err)
	}
	masterPid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // an HAProxy that outlived its agent (the failure this test catches)
		if !processGone(masterPid) {
			syscall.Kill(masterPid, syscall.SIGKILL)
		}
	})
	// Its master CLI shows the reload: the master re-executed itself once.
	p, err := (&master{dir: filepath.Join(dir, "engine")}).showProc(context.Background())
	if err != nil || p.master != masterPid || p.reloads < 1 {
		t.Fatalf("show proc of the child's HAProxy: %+v %v, want master %d reloaded once", p, err, masterPid)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if resp, err := clientFrom("127.0.0.1").Get(url); err != nil {
		t.Fatalf("through the child's HAProxy: %v", err)
	} else {
		resp.Body.Close()
	}
	child.Process.Signal(syscall.SIGKILL)
	<-exited
	eventually(t, 20*time.Second, "HAProxy's master exits with its agent", func() bool { return processGone(masterPid) })
	eventually(t, 20*time.Second, "the listener's port is free", func() bool {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return false
		}
		ln.Close()
		return true
	})
}

// processGone reports whether pid has exited (a zombie nobody reaped yet counts as gone).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}
