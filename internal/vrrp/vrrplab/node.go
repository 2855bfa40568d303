// Package vrrplab runs an active-standby pair in a netlab lab, the way fulcrum's agents will:
// two hosts, each running a node process inside its namespace (a vrrp.Supervisor with its
// keepalived, and a small HTTP server standing in for the engine, listening on the VIP with
// IP_FREEBIND), and a client host that opens a new connection to the VIP every few
// milliseconds. It injects faults into the MASTER and measures, from the client, the failed
// requests and the outage. test/ha and bench/activestandby use it.
//
// A program that uses it must call MaybeRunNode first thing in main (or TestMain): node
// processes are that same program, started again with an environment variable.
package vrrplab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/vrrp"
)

// nodeEnv carries a node's settings (JSON) to the re-executed program.
const nodeEnv = "FULCRUM_VRRPLAB_NODE"

// nodeArgs are a node's settings.
type nodeArgs struct {
	Name    string `json:"name"`
	DataDir string `json:"data_dir"`
	// Listen is the engine's address (VIP:port); it is bound with IP_FREEBIND, before the
	// VIP is plumbed.
	Listen string `json:"listen"`
	Debug  bool   `json:"debug"`
}

// command is what the harness sends a node, one JSON object a line.
type command struct {
	Seq     int          `json:"seq"`
	Op      string       `json:"op"` // apply, health, engine, pid
	Config  *vrrp.Config `json:"config,omitempty"`
	Healthy bool         `json:"healthy,omitempty"`
	Up      bool         `json:"up,omitempty"`
}

// message is what a node sends back, one JSON object a line.
type message struct {
	Kind string `json:"kind"` // ready, ack, state
	Seq  int    `json:"seq,omitempty"`
	Err  string `json:"err,omitempty"`
	// PID of keepalived (ready, and the ack of "pid").
	PID   int        `json:"pid,omitempty"`
	Event vrrp.Event `json:"event"`
}

// MaybeRunNode runs this process as a lab node, and exits, when it was started as one;
// otherwise it returns at once.
func MaybeRunNode() {
	v := os.Getenv(nodeEnv)
	if v == "" {
		return
	}
	var a nodeArgs
	if err := json.Unmarshal([]byte(v), &a); err != nil {
		fmt.Fprintln(os.Stderr, "vrrplab node:", err)
		os.Exit(2)
	}
	if err := runNode(a, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "vrrplab node %s: %v\n", a.Name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runNode is a node: it serves HTTP on the VIP, runs keepalived through a supervisor, obeys
// commands on in and reports on out, until in ends or SIGTERM (then it stops gracefully).
func runNode(a nodeArgs, in io.Reader, out io.Writer) error {
	level := slog.LevelInfo
	if a.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("node", a.Name)
	var outMu sync.Mutex
	enc := json.NewEncoder(out)
	send := func(m message) {
		outMu.Lock()
		defer outMu.Unlock()
		enc.Encode(m)
	}

	eng := &engine{name: a.Name, addr: a.Listen}
	if err := eng.setUp(true); err != nil {
		return err
	}
	defer eng.setUp(false)

	sup, err := vrrp.Start(vrrp.Options{
		DataDir: a.DataDir, Logger: log,
		OnEvent: func(e vrrp.Event) { send(message{Kind: "state", Event: e}) },
	}, vrrp.Config{RouterID: a.Name})
	if err != nil {
		return err
	}
	defer sup.Close()
	send(message{Kind: "ready", PID: sup.PID()})

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	cmds := make(chan command)
	go func() {
		defer close(cmds)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
		for sc.Scan() {
			var c command
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				log.Error("bad command", "err", err)
				continue
			}
			cmds <- c
		}
	}()
	for {
		select {
		case <-sigs:
			return nil
		case c, ok := <-cmds:
			if !ok {
				return nil
			}
			var err error
			reply := message{Kind: "ack", Seq: c.Seq}
			switch c.Op {
			case "apply":
				if c.Config == nil {
					err = errors.New("apply without a config")
				} else {
					err = sup.Apply(*c.Config)
				}
			case "health":
				err = sup.SetHealthy(c.Healthy)
			case "engine":
				err = eng.setUp(c.Up)
			case "pid":
				reply.PID = sup.PID()
			default:
				err = fmt.Errorf("unknown op %q", c.Op)
			}
			if err != nil {
				reply.Err = err.Error()
			}
			send(reply)
		}
	}
}

// engine stands in for fulcrum's engine: HTTP on the VIP, answering with the node's name.
type engine struct {
	name, addr string
	srv        *http.Server
}

func (e *engine) setUp(up bool) error {
	if !up {
		if e.srv != nil {
			e.srv.Close()
			e.srv = nil
		}
		return nil
	}
	if e.srv != nil {
		return nil
	}
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_FREEBIND, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", e.addr)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	name := e.name
	e.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, name)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go e.srv.Serve(ln)
	return nil
}
