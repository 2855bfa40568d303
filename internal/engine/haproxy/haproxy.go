// Package haproxy is fulcrum's second data-plane engine: it renders a dataplane.Config into
// an HAProxy 2.6 configuration and runs one HAProxy master-worker process for all the load
// balancers of the agent, reloading it hitlessly on every change, and reads stats and
// member health back from HAProxy's runtime API as the native engine reports them.
//
// Apply validates the config (the contract's rules, then what HAProxy cannot express:
// refused with a dataplane.FieldError naming the field), renders it, has HAProxy check
// it ("haproxy -c"), and reloads the master: the master re-executes itself on the new
// file and passes the listening sockets on to the new worker (-x over its socket pair;
// the stats socket exposes them too), so no connection is refused; the old worker stops
// accepting and finishes its connections. Server state and persistence tables are carried
// across. An identical config is a no-op; an invalid one, or one HAProxy refuses, changes
// nothing.
//
// The engine knows only the dataplane contract: it must not import internal/lb,
// internal/store or the native engine.
package haproxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// Errors returned by Apply, matched with errors.Is.
var (
	// ErrStale: the config's version is older than the one applied.
	ErrStale = errors.New("stale config version")
	// ErrClosed: the engine was closed.
	ErrClosed = errors.New("engine closed")
)

// Options configure an Engine. Dir is required.
type Options struct {
	// Dir is the engine's private directory (created mode 0700): HAProxy's configuration,
	// sockets, certificates and keys (mode 0600). Its path must be made of letters,
	// digits, '/', '.', '_' and '-', and short enough for a UNIX socket name.
	Dir string
	// Binary is the haproxy executable. Default: "haproxy" in PATH, else /usr/sbin/haproxy.
	Binary string
	// Logger receives HAProxy's own messages and the engine's. Default discards.
	Logger *slog.Logger
	// OnHealthEvent, when set, is called for every member UP/DOWN transition the engine
	// observes; it must not block.
	OnHealthEvent func(dataplane.HealthEvent)
	// FreeBind lets listeners bind addresses not (yet) configured on the host (HAProxy's
	// "transparent" bind option).
	FreeBind bool
	// Threads is HAProxy's nbthread; 0 leaves HAProxy's default (one per CPU).
	Threads int
	// MaxConn is HAProxy's process-wide maxconn; 0 leaves HAProxy's default.
	MaxConn int
	// HardStopAfter bounds how long a replaced worker may finish its connections; 0
	// lets them finish however long they last, as the native engine does.
	HardStopAfter time.Duration
	// PollInterval is how often member health is read for health events (default 1 s).
	PollInterval time.Duration
	// ReloadTimeout bounds one start or reload of HAProxy (default 2 min).
	ReloadTimeout time.Duration
}

// Engine runs the listeners of one node in HAProxy. Its methods are safe for concurrent
// use.
type Engine struct {
	opts Options
	log  *slog.Logger
	dir  string
	bin  string
	m    *master
	obs  *observer

	mu      sync.Mutex
	closed  bool
	cfg     *dataplane.Config
	cfgJSON []byte
	cur     *view
	cfgText []byte // the configuration file in force
	shape   string // what HAProxy runs, minus the version and the metrics' counter bases
	version atomic.Uint64

	stop chan struct{}
	wg   sync.WaitGroup
}

// MinVersion is the oldest HAProxy the engine drives: 2.6 (balance hash, del-header -m,
// http-after-response, the master CLI's @!<pid> routing and "[failed: N]" reload status).
const MinVersion = "2.6"

// BinaryInfo describes an HAProxy executable.
type BinaryInfo struct {
	Path    string
	Version string // as HAProxy prints it: 2.6.12-1+deb12u4
	Major   int
	Minor   int
}

var versionRE = regexp.MustCompile(`HA-?Proxy version (\d+)\.(\d+)(\S*)`)

// FindBinary returns the haproxy executable to use: path when set, else "haproxy" in
// PATH, else /usr/sbin/haproxy (Debian's, outside a non-root PATH).
func FindBinary(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	if st, err := os.Stat("/usr/sbin/haproxy"); err == nil && !st.IsDir() {
		return "/usr/sbin/haproxy", nil
	}
	return "", errors.New("haproxy engine: no haproxy executable (looked for \"haproxy\" in PATH and /usr/sbin/haproxy): " +
		"install Debian's haproxy package (" + MinVersion + " or newer) or name the executable")
}

// CheckBinary runs "haproxy -vv" and refuses an executable that is missing, not HAProxy,
// older than MinVersion, or built without Lua or OpenSSL, with a message that says so.
// An agent calls it before it starts with the haproxy engine.
func CheckBinary(ctx context.Context, path string) (BinaryInfo, error) {
	path, err := FindBinary(path)
	if err != nil {
		return BinaryInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-vv").CombinedOutput()
	if err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) || errors.Is(err, os.ErrNotExist) {
			return BinaryInfo{}, fmt.Errorf("haproxy engine: cannot run %s: %v: install Debian's haproxy package (%s or newer)", path, err, MinVersion)
		}
		return BinaryInfo{}, fmt.Errorf("haproxy engine: %s -vv failed: %v: %s", path, err, firstLine(string(out)))
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return BinaryInfo{}, fmt.Errorf("haproxy engine: %s does not look like HAProxy (-vv printed %q)", path, firstLine(string(out)))
	}
	info := BinaryInfo{Path: path, Version: string(m[1]) + "." + string(m[2]) + string(m[3])}
	info.Major, _ = strconv.Atoi(string(m[1]))
	info.Minor, _ = strconv.Atoi(string(m[2]))
	if info.Major < 2 || info.Major == 2 && info.Minor < 6 {
		return info, fmt.Errorf("haproxy engine: %s is HAProxy %s, too old: the engine needs %s or newer", path, info.Version, MinVersion)
	}
	if !bytes.Contains(out, []byte("Built with Lua")) {
		return info, fmt.Errorf("haproxy engine: %s (HAProxy %s) is built without Lua, which the engine needs (L7 path rules, X-SSL headers, PROMETHEUS listeners)", path, info.Version)
	}
	if !bytes.Contains(out, []byte("+OPENSSL")) && !bytes.Contains(out, []byte("USE_OPENSSL=1")) {
		return info, fmt.Errorf("haproxy engine: %s (HAProxy %s) is built without OpenSSL, which TLS termination needs", path, info.Version)
	}
	return info, nil
}

var plainPath = regexp.MustCompile(`^[A-Za-z0-9/._-]+$`)

// New checks the HAProxy executable, prepares the private directory and adopts an HAProxy
// a previous engine left running there (one stopped without Close in this process, or an
// older agent's; the first Apply reloads it). It starts no process: the first Apply does.
func New(opts Options) (*Engine, error) {
	if opts.Dir == "" {
		return nil, errors.New("haproxy engine: a private directory is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("haproxy engine: %w", err)
	}
	if !plainPath.MatchString(dir) {
		return nil, fmt.Errorf("haproxy engine: directory %q: only letters, digits, '/', '.', '_' and '-' may name it (it is written into HAProxy's configuration)", dir)
	}
	if len(dir)+len("/"+masterSock) > 100 {
		return nil, fmt.Errorf("haproxy engine: directory %q is too long for UNIX socket names (at most %d characters)", dir, 100-len("/"+masterSock))
	}
	info, err := CheckBinary(context.Background(), opts.Binary)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, filesDir), 0o700); err != nil {
		return nil, fmt.Errorf("haproxy engine: %w", err)
	}
	for _, d := range []string{dir, filepath.Join(dir, filesDir)} {
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, fmt.Errorf("haproxy engine: %w", err)
		}
	}
	if err := ticketKeys(filepath.Join(dir, ticketsFile)); err != nil {
		return nil, fmt.Errorf("haproxy engine: %w", err)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.ReloadTimeout <= 0 {
		opts.ReloadTimeout = 2 * time.Minute
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{opts: opts, log: log, dir: dir, bin: info.Path, stop: make(chan struct{})}
	e.m = &master{dir: dir, bin: info.Path, log: func(line string) { log.Info("haproxy", "msg", line) }}
	e.obs = newObserver(e.m, opts.OnHealthEvent)
	if e.m.adopt(context.Background()) {
		log.Info("adopted the haproxy master a previous engine left running", "pid", e.m.pid, "dir", dir)
		// Its configuration is the one to go back to should the first reload fail, and it
		// tells which sockets HAProxy holds already.
		e.cfgText, _ = os.ReadFile(filepath.Join(dir, configFile))
	}
	e.wg.Add(1)
	go e.poll()
	return e, nil
}

// ticketKeys creates the TLS session ticket keys file once: every worker loads it, so a
// session resumes across reloads (as with the native engine, tickets are not
// forward-secret beyond the file's life).
func ticketKeys(path string) error {
	if _, err := os.Stat(path); err == nil {
		return os.Chmod(path, 0o600)
	}
	var b strings.Builder
	for i := 0; i < 3; i++ {
		k := make([]byte, 80)
		if _, err := rand.Read(k); err != nil {
			return err
		}
		b.WriteString(base64.StdEncoding.EncodeToString(k))
		b.WriteByte('\n')
	}
	return writeFile(path, []byte(b.String()))
}

// poll reads health every PollInterval, so transitions become events without a caller.
func (e *Engine) poll() {
	defer e.wg.Done()
	t := time.NewTicker(e.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.restartIfDead()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := e.obs.refresh(ctx, e.opts.PollInterval/2); err != nil {
				e.log.Debug("haproxy observations", "err", err)
			}
			cancel()
		}
	}
}

// restartIfDead starts HAProxy again on the configuration in force when its master has
// died (killed, crashed): the workers exit with it, so every listener is down until then.
func (e *Engine) restartIfDead() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.cur == nil || e.m.alive() {
		return
	}
	e.log.Error("haproxy master is gone; starting it again on the configuration in force", "version", e.cfg.Version)
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.ReloadTimeout)
	defer cancel()
	if err := e.m.start(ctx); err != nil {
		e.log.Error("haproxy restart failed", "err", err)
		return
	}
	if p, err := e.m.showProc(ctx); err == nil && len(p.workers) > 0 {
		e.obs.worker(p.workers[0], e.cur)
	}
}

// Version returns the version of the config in force (0 before the first Apply).
func (e *Engine) Version() uint64 { return e.version.Load() }

// applyError is a refused Apply: one error per field, each a *dataplane.FieldError where
// the field is known, so that an agent can tell which load balancers are at fault.
type applyError struct {
	version uint64
	errs    []error
}

func (a *applyError) Error() string {
	msgs := make([]string, len(a.errs))
	for i, err := range a.errs {
		msgs[i] = err.Error()
	}
	return fmt.Sprintf("apply config version %d: %s", a.version, strings.Join(msgs, "\n"))
}

func (a *applyError) Unwrap() []error { return a.errs }

func refused(version uint64, err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return &applyError{version, j.Unwrap()}
	}
	return &applyError{version, []error{err}}
}

// Apply makes cfg the engine's configuration (see the package documentation). cfg is
// copied; the caller may reuse it. On error nothing changed and the error names the
// field at fault when it can.
func (e *Engine) Apply(ctx context.Context, cfg *dataplane.Config) error {
	if cfg == nil {
		return refused(0, &dataplane.FieldError{Path: "config", Msg: "missing"})
	}
	if err := cfg.Validate(); err != nil {
		return refused(cfg.Version, err)
	}
	if err := refuse(cfg); err != nil {
		return refused(cfg.Version, err)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("apply config version %d: %w", cfg.Version, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return fmt.Errorf("apply config version %d: %w", cfg.Version, ErrClosed)
	}
	if e.cfg != nil {
		switch {
		case bytes.Equal(raw, e.cfgJSON):
			return nil
		case cfg.Version < e.cfg.Version:
			return fmt.Errorf("apply config version %d: %w: version %d is in force", cfg.Version, ErrStale, e.cfg.Version)
		case cfg.Version == e.cfg.Version:
			return fmt.Errorf("apply config version %d: %w: version %d is in force with different content", cfg.Version, ErrStale, e.cfg.Version)
		}
	}
	cfg = cfg.Clone()
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, e.opts.ReloadTimeout)
	defer cancel()
	running := e.m.alive()
	if running {
		// Fresh counters for the PROMETHEUS bases; an error only makes them older.
		e.obs.refresh(ctx, 0)
	}
	r, err := render(cfg, e.settings(e.obs.totals()))
	if err != nil {
		return refused(cfg.Version, err)
	}
	// The agent numbers what it applies itself, so a retry brings the same content under
	// a new version: when HAProxy would run the same thing, only the version moves.
	shape, err := shapeOf(cfg, e.settings(bases{}))
	if err != nil {
		return refused(cfg.Version, err)
	}
	if running && e.cur != nil && shape == e.shape {
		v := &view{cfg: cfg, r: e.cur.r}
		e.obs.configured(v, cfg.Version)
		e.cfg, e.cfgJSON, e.cur = cfg, raw, v
		e.version.Store(cfg.Version)
		return nil
	}
	if err := e.checkBinds(cfg); err != nil {
		return refused(cfg.Version, err)
	}
	if err := e.writeFiles(r); err != nil {
		return fmt.Errorf("apply config version %d: %w", cfg.Version, err)
	}
	next := filepath.Join(e.dir, configFile+".next")
	if err := writeFile(next, r.text); err != nil {
		return fmt.Errorf("apply config version %d: %w", cfg.Version, err)
	}
	tCheck := time.Now()
	if err := e.check(ctx, next, r); err != nil {
		return refused(cfg.Version, err)
	}
	tReload := time.Now()
	v := &view{cfg: cfg, r: r}
	cfgPath := filepath.Join(e.dir, configFile)
	if running {
		old := e.cur
		var saved map[string][]stickEntry
		if old != nil {
			if err := e.saveServerState(ctx, old.r, r); err != nil {
				e.log.Warn("haproxy: server state not saved; members restart their health checks", "err", err)
			}
			saved = e.saveTables(ctx, old.r, old)
		}
		if err := os.Rename(next, cfgPath); err != nil {
			return fmt.Errorf("apply config version %d: %w", cfg.Version, err)
		}
		if err := e.m.reload(ctx); err != nil {
			// The previous workers serve on; the file goes back to what they run, so that
			// the next reload (or a restart) starts from it.
			if e.cfgText != nil {
				writeFile(cfgPath, e.cfgText)
			}
			return refused(cfg.Version, lineErrors(err, r))
		}
		e.restoreTables(ctx, saved, r, v)
		if e.cfg != nil {
			e.cutIngress(ctx, e.cfg, cfg)
		}
	} else {
		os.Remove(filepath.Join(e.dir, stateFile))
		if err := os.Rename(next, cfgPath); err != nil {
			return fmt.Errorf("apply config version %d: %w", cfg.Version, err)
		}
		if err := e.m.start(ctx); err != nil {
			return refused(cfg.Version, lineErrors(err, r))
		}
	}
	if p, err := e.m.showProc(ctx); err == nil && len(p.workers) > 0 {
		e.obs.worker(p.workers[0], v)
	}
	e.obs.configured(v, cfg.Version)
	e.cfg, e.cfgJSON, e.cur, e.cfgText, e.shape = cfg, raw, v, r.text, shape
	e.log.Info("haproxy configuration applied", "version", cfg.Version, "listeners", len(cfg.Listeners), "reloaded", running,
		"prepare", tCheck.Sub(t0).Round(time.Millisecond), "check", tReload.Sub(tCheck).Round(time.Millisecond),
		"reload", time.Since(tReload).Round(time.Millisecond))
	e.version.Store(cfg.Version)
	e.gc(r)
	return nil
}

func (e *Engine) settings(b bases) settings {
	return settings{Dir: e.dir, Threads: e.opts.Threads, MaxConn: e.opts.MaxConn,
		HardStopAfter: int(e.opts.HardStopAfter / time.Second), FreeBind: e.opts.FreeBind, Bases: b}
}

// shapeOf is the digest of cfg's rendering without its version and counter bases, with
// every file it references: equal shapes run identically.
func shapeOf(cfg *dataplane.Config, s settings) (string, error) {
	c := *cfg
	c.Version = 0
	r, err := render(&c, s)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(r.text)
	names := make([]string, 0, len(r.files))
	for n := range r.files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h.Write([]byte(n))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkBinds refuses a listener address that this engine does not hold yet and that
// cannot be bound now (another process has it), naming the field, as the native engine
// does: HAProxy would only fail later, in the middle of a reload.
func (e *Engine) checkBinds(cfg *dataplane.Config) error {
	held := map[string]bool{}
	if e.m.alive() {
		if e.cfg != nil {
			for _, a := range addrsOf(e.cfg) {
				held[a] = true
			}
		} else {
			// An adopted HAProxy: the sockets its configuration binds.
			for _, m := range bindRE.FindAllStringSubmatch(string(e.cfgText), -1) {
				if ap, err := netip.ParseAddrPort(m[1]); err == nil {
					held["tcp/"+ap.String()] = true
				} else if ip, err := netip.ParseAddr(m[1][:strings.LastIndexByte(m[1], ':')]); err == nil {
					port, _ := strconv.Atoi(m[1][strings.LastIndexByte(m[1], ':')+1:])
					held["tcp/"+netip.AddrPortFrom(ip, uint16(port)).String()] = true
				}
			}
		}
	}
	var errs []error
	for i := range cfg.Listeners {
		l := &cfg.Listeners[i]
		for j, a := range l.Addresses {
			ip, _ := netip.ParseAddr(a)
			ap := netip.AddrPortFrom(ip.Unmap(), uint16(l.ProtocolPort))
			if held["tcp/"+ap.String()] {
				continue
			}
			lc := net.ListenConfig{}
			if e.opts.FreeBind {
				lc.Control = freeBind
			}
			ln, err := lc.Listen(context.Background(), "tcp", ap.String())
			if err != nil {
				errs = append(errs, &dataplane.FieldError{Path: fmt.Sprintf("listeners[%d].addresses[%d]", i, j), Msg: err.Error()})
				continue
			}
			ln.Close()
		}
	}
	return errors.Join(errs...)
}

// bindRE reads the addresses of the bind lines this package renders.
var bindRE = regexp.MustCompile(`(?m)^    bind ipv[46]@(\S+)`)

func freeBind(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_FREEBIND, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// writeFiles writes the rendering's files that are not on disk yet (their names are their
// content's hash, so an existing one is already right).
func (e *Engine) writeFiles(r *rendering) error {
	for n, content := range r.files {
		p := filepath.Join(e.dir, filesDir, n)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		if err := writeFile(p, content); err != nil {
			return err
		}
	}
	return nil
}

// gc removes the files the configuration in force does not reference. Workers read
// their files at start, so replaced workers still finishing connections do not need them.
func (e *Engine) gc(r *rendering) {
	ents, err := os.ReadDir(filepath.Join(e.dir, filesDir))
	if err != nil {
		return
	}
	for _, ent := range ents {
		if _, keep := r.files[ent.Name()]; !keep {
			os.Remove(filepath.Join(e.dir, filesDir, ent.Name()))
		}
	}
}

// lineRE finds "[file:line]" in HAProxy's messages.
var lineRE = regexp.MustCompile(`\[[^\]\s]*haproxy\.cfg(?:\.next)?:(\d+)\]`)

// check runs "haproxy -c" on the rendered file.
func (e *Engine) check(ctx context.Context, path string, r *rendering) error {
	out, err := exec.CommandContext(ctx, e.bin, "-c", "-f", path).CombinedOutput()
	if err == nil {
		return nil
	}
	var alerts []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "[ALERT]") {
			alerts = append(alerts, l)
		}
	}
	if len(alerts) == 0 {
		return fmt.Errorf("haproxy -c: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return lineErrors(errors.New(strings.Join(alerts, "\n")), r)
}

// lineErrors turns HAProxy's messages that name a line of the rendered file into
// FieldErrors at the field that line was written for; the rest stay as they are.
func lineErrors(err error, r *rendering) error {
	var errs []error
	seen := map[string]bool{}
	for _, l := range strings.Split(err.Error(), "\n") {
		for _, part := range strings.Split(l, "; ") {
			m := lineRE.FindStringSubmatch(part)
			text := alertText(part)
			if m == nil {
				continue
			}
			n, _ := strconv.Atoi(m[1])
			path := ""
			if n >= 1 && n <= len(r.lines) {
				path = r.lines[n-1]
			}
			if path == "" || seen[path] {
				continue
			}
			seen[path] = true
			errs = append(errs, &dataplane.FieldError{Path: path, Msg: "refused by HAProxy: " + text})
		}
	}
	if len(errs) == 0 {
		return err
	}
	return errors.Join(errs...)
}

// Stats returns every listener and member counter of the config in force, read from
// HAProxy now (the last values read when HAProxy does not answer).
func (e *Engine) Stats() dataplane.Stats {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.obs.refresh(ctx, 0)
	return e.obs.stats()
}

// Health returns the health of every member of the config in force, read from HAProxy
// (at most 200 ms ago).
func (e *Engine) Health() dataplane.Health {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// An agent asks for Stats and then Health: one read of HAProxy serves both.
	e.obs.refresh(ctx, 200*time.Millisecond)
	return e.obs.healthSnapshot()
}

// Addrs returns the addresses the config in force listens on, as "tcp/ip:port", sorted.
func (e *Engine) Addrs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cfg == nil {
		return nil
	}
	return addrsOf(e.cfg)
}

func addrsOf(cfg *dataplane.Config) []string {
	var out []string
	for _, l := range cfg.Listeners {
		for _, a := range l.Addresses {
			ip, _ := netip.ParseAddr(a)
			out = append(out, "tcp/"+netip.AddrPortFrom(ip.Unmap(), uint16(l.ProtocolPort)).String())
		}
	}
	sort.Strings(out)
	return out
}

// Close stops HAProxy (its workers close their connections) and the engine's goroutines.
// The engine cannot be used afterwards.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	close(e.stop)
	e.wg.Wait()
	e.m.stop(10 * time.Second)
	os.Remove(filepath.Join(e.dir, pidFile))
	return nil
}

// cutIngress closes, in every worker, the established connections of the listeners whose
// security-group filter (Listener.Ingress) changed from prev to cfg and no longer admits
// their client, as Neutron cuts the connections a removed rule allowed and the native
// engine does. New connections are filtered by the configuration itself; the replaced
// workers would otherwise serve the old ones until they end.
func (e *Engine) cutIngress(ctx context.Context, prev, cfg *dataplane.Config) {
	before := map[string]*dataplane.Ingress{}
	for i := range prev.Listeners {
		before[prev.Listeners[i].ID] = prev.Listeners[i].Ingress
	}
	changed := map[string][]netip.Prefix{} // frontend → the networks it admits now
	for i := range cfg.Listeners {
		l := &cfg.Listeners[i]
		if l.Ingress == nil {
			continue
		}
		if b, ok := before[l.ID]; ok && b != nil && slices.Equal(b.Allow, l.Ingress.Allow) {
			continue
		}
		var allow []netip.Prefix
		for _, c := range l.Ingress.Allow {
			if p, err := netip.ParsePrefix(c); err == nil {
				allow = append(allow, p.Masked())
			}
		}
		changed[name("fe_", l.ID)] = allow
	}
	if len(changed) == 0 {
		return
	}
	p, err := e.m.showProc(ctx)
	if err != nil {
		e.log.Warn("haproxy: connections no longer admitted by security groups not cut", "err", err)
		return
	}
	cut := 0
	for _, pid := range append(p.workers, p.old...) {
		out, err := cli(ctx, e.m.sock(), fmt.Sprintf("@!%d show sess", pid))
		if err != nil {
			e.log.Warn("haproxy: show sess", "pid", pid, "err", err)
			continue
		}
		for _, s := range parseSessions(out) {
			allow, ok := changed[s.frontend]
			if !ok || slices.ContainsFunc(allow, func(p netip.Prefix) bool { return p.Contains(s.src) }) {
				continue
			}
			if _, err := cli(ctx, e.m.sock(), fmt.Sprintf("@!%d shutdown session %s", pid, s.ptr)); err == nil {
				cut++
			}
		}
	}
	if cut > 0 {
		e.log.Info("haproxy: connections no longer admitted by security groups closed", "connections", cut)
	}
}

// session is one line of HAProxy's "show sess".
type session struct {
	ptr      string
	src      netip.Addr
	frontend string
}

var sessionPtr = regexp.MustCompile(`^0x[0-9a-f]+$`)

// parseSessions reads "show sess": "0x55d0c1a2b3c0: proto=tcpv4 src=127.0.0.1:50000 fe=fe_x ...".
func parseSessions(out string) []session {
	var list []session
	for _, line := range strings.Split(out, "\n") {
		ptr, rest, ok := strings.Cut(line, ": ")
		if !ok || !sessionPtr.MatchString(ptr) {
			continue
		}
		s := session{ptr: ptr}
		for _, f := range strings.Fields(rest) {
			switch {
			case strings.HasPrefix(f, "src="):
				if ap, err := netip.ParseAddrPort(strings.TrimPrefix(f, "src=")); err == nil {
					s.src = ap.Addr().Unmap()
				}
			case strings.HasPrefix(f, "fe="):
				s.frontend = strings.TrimPrefix(f, "fe=")
			}
		}
		if s.src.IsValid() && s.frontend != "" {
			list = append(list, s)
		}
	}
	return list
}
