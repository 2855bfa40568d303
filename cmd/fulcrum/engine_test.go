package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine/procs"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestEngineCommand(t *testing.T) {
	backend := func(name string) (string, int) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return "127.0.0.1", ln.Addr().(*net.TCPAddr).Port
	}
	ha, pa := backend("a")
	hb, pb := backend("b")
	port := freePort(t)
	cfg := func(version uint64, host string, p int) []byte {
		c := dataplane.Config{Version: version,
			Listeners: []dataplane.Listener{{ID: "l", LoadBalancerID: "lb", Protocol: dataplane.ProtocolHTTP, Addresses: []string{"127.0.0.1"},
				ProtocolPort: port, DefaultPoolID: "p", ConnectionLimit: -1, TimeoutClientData: 50000, TimeoutMemberConnect: 5000, TimeoutMemberData: 50000}},
			Pools: []dataplane.Pool{{ID: "p", Protocol: dataplane.ProtocolHTTP, Algorithm: dataplane.RoundRobin,
				Members: []dataplane.Member{{ID: "m", Address: host, ProtocolPort: p, Weight: 1, AdminStateUp: true}}}}}
		b, _ := json.Marshal(c)
		return b
	}
	path := filepath.Join(t.TempDir(), "engine.json")
	if err := os.WriteFile(path, cfg(1, ha, pa), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	reload := make(chan os.Signal, 1)
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- engineMain(ctx, []string{"--config", path}, &logs, reload) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("engine exit: %v", err)
		}
	}()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	getBody := func() string {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return "error: " + err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			got := getBody()
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("got %q, want %q; logs:\n%s", got, want, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// waitLog polls the engine's log for line: the engine writes it on its
	// own goroutine, after the socket already serves traffic, so the log is
	// read only once it has said so (or the deadline passes).
	waitLog := func(line string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !strings.Contains(logs.String(), line) {
			if time.Now().After(deadline) {
				t.Fatalf("%q not logged within 15s:\n%s", line, logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("a")
	waitLog(fmt.Sprintf("addr=127.0.0.1:%d", port))
	// SIGHUP re-reads the file.
	os.WriteFile(path, cfg(2, hb, pb), 0o644)
	reload <- syscall.SIGHUP
	waitFor("b")
	// A broken file is refused and the running config keeps serving.
	os.WriteFile(path, []byte(`{"version":3,"listeners":[{"id":"x","protocol":"QUIC"}]}`), 0o644)
	reload <- syscall.SIGHUP
	waitLog("reload refused")
	if !strings.Contains(logs.String(), `unknown protocol \"QUIC\"`) {
		t.Errorf("refusal does not name the field:\n%s", logs.String())
	}
	waitFor("b")
}

func TestEngineCommandUsage(t *testing.T) {
	err := engineMain(context.Background(), nil, io.Discard, nil)
	if !errors.Is(err, errUsage) {
		t.Fatalf("no --config: %v", err)
	}
	path := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(path, []byte(`{"version":1,"pools":[{"id":"p","protocol":"TCP","lb_algorithm":"NOPE","members":[]}]}`), 0o644)
	err = engineMain(context.Background(), []string{"--config", path}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "pools[0].lb_algorithm") {
		t.Fatalf("invalid config: %v", err)
	}
}

// With FULCRUM_ENGINE_SIZE_PROCS=1 fulcrum engine sizes GOMAXPROCS to its load while it
// runs (an idle engine steps down from the CPUs it started with) and puts it back when it
// returns.
func TestEngineSizesGOMAXPROCS(t *testing.T) {
	t.Setenv(procs.Env, "1")
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS set: the operator's choice, not sized")
	}
	start := runtime.GOMAXPROCS(0)
	if start < 2 {
		t.Skip("one CPU: nothing to size")
	}
	path := filepath.Join(t.TempDir(), "engine.json")
	os.WriteFile(path, []byte(`{"version":1}`), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- engineMain(ctx, []string{"--config", path}, io.Discard, nil) }()
	deadline := time.Now().Add(60 * time.Second)
	for runtime.GOMAXPROCS(0) >= start {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("an idle engine still runs on %d processors after 60 s", runtime.GOMAXPROCS(0))
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("engine exit: %v", err)
	}
	if n := runtime.GOMAXPROCS(0); n != start {
		t.Fatalf("GOMAXPROCS %d after the engine returned, want %d back", n, start)
	}
}
