package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/websocket"
)

// A tiny Chrome DevTools Protocol client: one websocket to the browser,
// flattened sessions for pages, commands matched to replies by id, events
// handed to the page they belong to.

// browser is one headless Chromium process and its DevTools connection.
type browser struct {
	cmd  *exec.Cmd
	dir  string
	conn *websocket.Conn
	exit chan struct{}

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan cdpMessage
	pages   map[string]*page // by CDP session id
	readErr error
}

type cdpError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *cdpError       `json:"error,omitempty"`
}

// chromiumFlags are the flags that work on the CI machine: headless, no
// sandbox (root), and nothing that reaches out to the network.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars", "--disable-dev-shm-usage",
	"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
	"--remote-allow-origins=http://127.0.0.1",
}

// startBrowser runs chromium with a fresh profile in dir and connects to
// its DevTools endpoint.
func startBrowser(dir string) (*browser, error) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		return nil, fmt.Errorf("chromium is not installed (test/install installs Debian's chromium): %w", err)
	}
	profile := filepath.Join(dir, "profile")
	args := append(append([]string{}, chromiumFlags...), "--user-data-dir="+profile, "about:blank")
	cmd := exec.Command(path, args...)
	stderr, err := os.Create(filepath.Join(dir, "chromium.log"))
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stderr, stderr
	// Its own process group, killed whole by close; and killed with the
	// test binary should that die first (a -timeout panic).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	b := &browser{cmd: cmd, dir: dir, exit: make(chan struct{}), pending: map[int64]chan cdpMessage{}, pages: map[string]*page{}}
	go func() {
		cmd.Wait()
		close(b.exit)
	}()
	// Chromium writes the port and path of its endpoint to DevToolsActivePort
	// once it listens.
	portFile := filepath.Join(profile, "DevToolsActivePort")
	deadline := time.Now().Add(90 * time.Second)
	var lines []string
	for {
		raw, err := os.ReadFile(portFile)
		if err == nil {
			lines = strings.Split(strings.TrimSpace(string(raw)), "\n")
			if len(lines) == 2 {
				break
			}
		}
		select {
		case <-b.exit:
			log, _ := os.ReadFile(filepath.Join(dir, "chromium.log"))
			return nil, fmt.Errorf("chromium exited before it listened:\n%s", log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.close()
			return nil, errors.New("chromium wrote no DevToolsActivePort in 90s")
		}
	}
	url := "ws://127.0.0.1:" + lines[0] + lines[1]
	cfg, err := websocket.NewConfig(url, "http://127.0.0.1")
	if err != nil {
		b.close()
		return nil, err
	}
	conn, err := websocket.DialConfig(cfg)
	if err != nil {
		b.close()
		return nil, fmt.Errorf("connect to chromium: %w", err)
	}
	conn.MaxPayloadBytes = 256 << 20
	b.conn = conn
	go b.read()
	return b, nil
}

// read dispatches replies and events until the connection ends.
func (b *browser) read() {
	for {
		var raw []byte
		err := websocket.Message.Receive(b.conn, &raw)
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMessage
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			ch := b.pending[m.ID]
			delete(b.pending, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		p := b.pages[m.SessionID]
		b.mu.Unlock()
		if p != nil {
			p.event(m.Method, m.Params)
		}
	}
}

// call sends one command (to a page's session, or the browser for "") and
// decodes its result into out (when not nil).
func (b *browser) call(ctx context.Context, session, method string, params, out any) error {
	if params == nil {
		params = struct{}{}
	}
	ps, err := json.Marshal(params)
	if err != nil {
		return err
	}
	ch := make(chan cdpMessage, 1)
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return fmt.Errorf("%s: connection to chromium lost: %w", method, b.readErr)
	}
	b.nextID++
	id := b.nextID
	b.pending[id] = ch
	b.mu.Unlock()
	msg, _ := json.Marshal(cdpMessage{ID: id, Method: method, Params: ps, SessionID: session})
	if err := websocket.Message.Send(b.conn, string(msg)); err != nil {
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: connection to chromium lost", method)
		}
		if m.Error != nil {
			return fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// close ends the browser and its process group.
func (b *browser) close() {
	if b.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = b.call(ctx, "", "Browser.close", nil, nil)
		cancel()
		b.conn.Close()
	}
	select {
	case <-b.exit:
	case <-time.After(10 * time.Second):
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.exit
	}
}

// chromiumLog is what the browser printed, for failure messages.
func (b *browser) chromiumLog() string {
	raw, _ := os.ReadFile(filepath.Join(b.dir, "chromium.log"))
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	var out []string
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if len(out) > 40 {
		out = out[len(out)-40:]
	}
	return strings.Join(out, "\n")
}
