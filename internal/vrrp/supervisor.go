package vrrp

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

	"github.com/fulcrumlb/fulcrum/internal/atomicfile"
)

// DefaultBinary is Debian's keepalived.
const DefaultBinary = "/usr/sbin/keepalived"

// MinVersion is the oldest keepalived the supervisor accepts: the one fulcrum is tested with
// (VRRPv3 with sub-second advert_int, unicast peers, track_file, the notify FIFO with
// fifo_write_vrrp_states_on_reload, higher_prio_send_advert).
var MinVersion = [3]int{2, 2, 0}

// ErrKeepalived: keepalived is missing, too old, or refuses a configuration.
var ErrKeepalived = errors.New("keepalived")

// Options configure a Supervisor.
type Options struct {
	// DataDir holds keepalived.conf, the pid files, the notify FIFO and the engine health
	// file. Created (0700) if missing. Absolute, without whitespace or quotes; one
	// supervisor per directory.
	DataDir string
	// Binary is keepalived's path; empty means DefaultBinary.
	Binary string
	// Wrap, if set, is put before keepalived's command line, e.g. {"ip", "netns", "exec",
	// "fulcrum-lab-a"} to run it in a lab host. The wrapper must exec keepalived (keep the
	// process ID). Empty: keepalived runs in the caller's namespaces, as in an agent.
	Wrap []string
	// Logger receives keepalived's own log lines (debug) and the supervisor's (info and up).
	Logger *slog.Logger
	// OnEvent, if set, is called for every state change, in order, from one goroutine at a
	// time. It must return quickly and must not call Close.
	OnEvent func(Event)
	// Healthy is the engine health keepalived starts with. False (the zero value) keeps every
	// instance in FAULT, away from the VIPs, until SetHealthy(true): an agent declares its
	// engine healthy once it serves.
	Healthy bool
	// StopTimeout bounds a graceful stop (SIGTERM: keepalived removes its VIPs and sends a
	// priority-0 advert so the peer takes over at once) before the process group is
	// SIGKILLed. Zero means 10 s.
	StopTimeout time.Duration
}

// Supervisor runs one keepalived. Its methods are safe for concurrent use.
//
// keepalived runs in the foreground (--dont-fork), VRRP only, in its own process group,
// with SIGTERM as its parent-death signal: if the process that owns the supervisor dies,
// even by SIGKILL, keepalived resigns its VIPs at once instead of holding them for an engine
// that is gone.
type Supervisor struct {
	opts  Options
	log   *slog.Logger
	files Files
	conf  string // keepalived.conf
	pid   string // main pid file
	vpid  string // VRRP child pid file

	applyMu sync.Mutex // one Apply (write, test, reload) at a time

	mu         sync.Mutex
	rendered   []byte
	maxAdvert  time.Duration // longest advert interval of the configuration
	gen        int           // counts configurations written
	proc       *os.Process
	ready      bool // the running keepalived handles SIGHUP
	startedGen int  // gen when the running keepalived was started
	healthy    bool
	held       map[string]bool // instances held in FAULT (Hold)
	running    map[string]bool // instances of the configuration written last
	closed     bool

	evMu   sync.Mutex // serialises state updates and OnEvent calls
	states map[string]Event

	fifo    *os.File
	cancel  context.CancelFunc
	runDone chan struct{}
	fifoEnd chan struct{}
}

// Start checks keepalived (present, new enough, accepts cfg) and starts it with cfg.
func Start(opts Options, cfg Config) (*Supervisor, error) {
	if opts.Binary == "" {
		opts.Binary = DefaultBinary
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 10 * time.Second
	}
	if !filepath.IsAbs(opts.DataDir) || strings.ContainsAny(opts.DataDir, " \t\r\n\"'\\{}#!") {
		return nil, fmt.Errorf("vrrp supervisor: data dir %q must be absolute, without whitespace, quotes or braces", opts.DataDir)
	}
	if err := CheckBinary(opts.Binary); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("vrrp supervisor: %w", err)
	}
	s := &Supervisor{
		opts: opts,
		log:  opts.Logger.With("component", "vrrp"),
		files: Files{
			NotifyFIFO: filepath.Join(opts.DataDir, "notify.fifo"),
			Health:     filepath.Join(opts.DataDir, "engine-health"),
			HoldDir:    filepath.Join(opts.DataDir, "hold"),
		},
		conf:    filepath.Join(opts.DataDir, "keepalived.conf"),
		pid:     filepath.Join(opts.DataDir, "keepalived.pid"),
		vpid:    filepath.Join(opts.DataDir, "vrrp.pid"),
		states:  map[string]Event{},
		runDone: make(chan struct{}),
		fifoEnd: make(chan struct{}),
		healthy: opts.Healthy,
		held:    map[string]bool{},
		running: map[string]bool{},
	}
	if err := os.MkdirAll(s.files.HoldDir, 0o700); err != nil {
		return nil, fmt.Errorf("vrrp supervisor: %w", err)
	}
	if err := s.writeHealth(opts.Healthy); err != nil {
		return nil, err
	}
	if err := s.openFIFO(); err != nil {
		return nil, err
	}
	if err := s.write(cfg); err != nil {
		s.fifo.Close()
		return nil, err
	}
	go s.readFIFO()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	started := make(chan error, 1)
	go s.run(ctx, started)
	if err := <-started; err != nil {
		cancel()
		<-s.runDone
		s.fifo.Close()
		<-s.fifoEnd
		return nil, err
	}
	return s, nil
}

var versionRE = regexp.MustCompile(`Keepalived v(\d+)\.(\d+)\.(\d+)`)

// CheckBinary runs `keepalived --version` and refuses a missing or too old keepalived with a
// message that says what to do.
func CheckBinary(path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%w not found at %s (install Debian's keepalived package, %d.%d or newer): %v", ErrKeepalived, path, MinVersion[0], MinVersion[1], err)
	}
	out, err := exec.Command(path, "--version").CombinedOutput()
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return fmt.Errorf("%w at %s: cannot read its version (%v): %q", ErrKeepalived, path, err, firstLine(out))
	}
	var v [3]int
	for i := range v {
		v[i], _ = strconv.Atoi(string(m[i+1]))
	}
	if cmpVersion(v, MinVersion) < 0 {
		return fmt.Errorf("%w %d.%d.%d at %s is too old: fulcrum needs %d.%d.%d or newer (VRRPv3 sub-second adverts, track_file, notify FIFO)",
			ErrKeepalived, v[0], v[1], v[2], path, MinVersion[0], MinVersion[1], MinVersion[2])
	}
	return nil
}

func cmpVersion(a, b [3]int) int {
	for i := range a {
		if a[i] != b[i] {
			return a[i] - b[i]
		}
	}
	return 0
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// Apply validates cfg, has keepalived test it and makes keepalived reload it (SIGHUP).
// An unchanged configuration is a no-op. On error the running configuration stays.
func (s *Supervisor) Apply(cfg Config) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return errors.New("vrrp supervisor: closed")
	}
	return s.write(cfg)
}

// write renders cfg, tests it with keepalived -t and installs it; if a keepalived that
// handles SIGHUP runs, it reloads. A keepalived still starting is reloaded once it is ready.
func (s *Supervisor) write(cfg Config) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	text, err := Render(cfg, s.files)
	if err != nil {
		return err
	}
	s.mu.Lock()
	same := bytes.Equal(text, s.rendered)
	s.mu.Unlock()
	if same {
		return nil
	}
	next := s.conf + ".next"
	if err := atomicfile.Write(next, text, 0o600); err != nil {
		return fmt.Errorf("vrrp supervisor: %w", err)
	}
	if err := s.writeHoldFiles(cfg); err != nil {
		return err
	}
	argv := append(append([]string(nil), s.opts.Wrap...), s.opts.Binary, "--config-test", "--use-file", next)
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%w refuses the configuration: %v: %s", ErrKeepalived, err, strings.TrimSpace(string(out)))
	}
	if err := os.Rename(next, s.conf); err != nil {
		return fmt.Errorf("vrrp supervisor: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rendered = text
	s.maxAdvert = 0
	for _, in := range cfg.Instances {
		s.maxAdvert = max(s.maxAdvert, cmp.Or(in.AdvertInterval, DefaultAdvertInterval))
	}
	s.dropHoldFiles(cfg)
	s.gen++
	if s.ready && s.proc != nil {
		s.proc.Signal(syscall.SIGHUP)
	}
	return nil
}

// SetHealthy records the local engine's health in the file every instance tracks.
// keepalived sees the change at once (inotify): unhealthy puts every instance in FAULT, so a
// MASTER removes its VIPs and sends a priority-0 advert, and the peer takes over after its
// skew time.
func (s *Supervisor) SetHealthy(healthy bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if healthy == s.healthy {
		return nil
	}
	if err := s.writeHealth(healthy); err != nil {
		return err
	}
	s.healthy = healthy
	return nil
}

// Hold keeps one instance in FAULT (held), away from its VIPs, whatever the engine's health,
// or lets it run again: keepalived reads the instance's hold file at once (inotify). A MASTER
// that is held removes its VIPs and sends a priority-0 advert. The state is kept for an
// instance the configuration does not have yet, until a configuration without it is applied.
func (s *Supervisor) Hold(instance string, held bool) error {
	if !nameRE.MatchString(instance) {
		return invalid("instance", "%q: letters, digits, '_', '.', '-', at most 64", instance)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[instance] == held {
		return nil
	}
	if held {
		s.held[instance] = true
	} else {
		delete(s.held, instance)
	}
	if !s.running[instance] {
		return nil // written with the configuration that brings it
	}
	return writeFlag(s.files.HoldFile(instance), held)
}

// writeHoldFiles writes the hold file of every instance of cfg before keepalived reads the
// configuration (a track_file whose file is missing is not what we mean).
func (s *Supervisor) writeHoldFiles(cfg Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range cfg.Instances {
		if err := writeFlag(s.files.HoldFile(in.Name), s.held[in.Name]); err != nil {
			return err
		}
		s.running[in.Name] = true
	}
	return nil
}

// dropHoldFiles removes the hold files (and hold states) of instances cfg no longer has.
// Callers hold s.mu.
func (s *Supervisor) dropHoldFiles(cfg Config) {
	keep := make(map[string]bool, len(cfg.Instances))
	for _, in := range cfg.Instances {
		keep[in.Name] = true
	}
	for name := range s.running {
		if !keep[name] {
			delete(s.running, name)
			delete(s.held, name)
			os.Remove(s.files.HoldFile(name))
		}
	}
}

// writeFlag writes a track file: "1" (set: FAULT) or "0".
func writeFlag(path string, set bool) error {
	v := "0\n"
	if set {
		v = "1\n"
	}
	if err := atomicfile.Write(path, []byte(v), 0o600); err != nil {
		return fmt.Errorf("vrrp supervisor: hold file: %w", err)
	}
	return nil
}

func (s *Supervisor) writeHealth(healthy bool) error {
	v := "1\n"
	if healthy {
		v = "0\n"
	}
	if err := atomicfile.Write(s.files.Health, []byte(v), 0o600); err != nil {
		return fmt.Errorf("vrrp supervisor: health file: %w", err)
	}
	return nil
}

// States returns the last event of each instance keepalived reported (STOPPED ones
// included, DELETED ones removed), with At the time the instance entered that state (a
// reload that reports an unchanged state does not move it). The map is the caller's.
func (s *Supervisor) States() map[string]Event {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	out := make(map[string]Event, len(s.states))
	for k, v := range s.states {
		out[k] = v
	}
	return out
}

// PID returns the running keepalived's process ID, which is also its process group's, or 0.
func (s *Supervisor) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.Pid
}

// Files returns the paths the rendered configuration refers to.
func (s *Supervisor) Files() Files { return s.files }

// Close stops keepalived gracefully (it gives up its VIPs; see Options.StopTimeout), stops
// restarting it and ends the supervisor's goroutines. It is idempotent.
func (s *Supervisor) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.fifoEnd
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	<-s.runDone
	s.fifo.Close()
	<-s.fifoEnd
	return nil
}

// run starts keepalived and restarts it whenever it exits, until ctx ends. started gets the
// outcome of the first start.
func (s *Supervisor) run(ctx context.Context, started chan<- error) {
	// keepalived's parent-death signal fires when the thread that forked it exits, not the
	// process: keep this goroutine on one thread for as long as it owns keepalived. The
	// thread ends with the goroutine (never unlocked), after keepalived has been stopped.
	runtime.LockOSThread()
	defer close(s.runDone)
	quickDeaths := 0 // consecutive runs shorter than 10 s
	for attempt := 0; ; attempt++ {
		t0 := time.Now()
		var startErr error
		err := s.runOnce(ctx, func(e error) {
			startErr = e
			if attempt == 0 {
				started <- e
			}
		})
		if attempt == 0 && startErr != nil {
			return
		}
		s.stopped()
		if ctx.Err() != nil {
			return
		}
		if time.Since(t0) > 10*time.Second {
			quickDeaths = 0
		}
		// The delay doubles with each quick death, up to 5 s (or the first delay, if longer).
		first := s.restartDelay()
		wait := min(first<<min(quickDeaths, 10), max(5*time.Second, first))
		quickDeaths++
		s.log.Error("keepalived exited; restarting", "err", err, "after", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// restartDelay is the first wait before restarting a keepalived that died: four advert
// intervals (at least 100 ms, at most a minute). A keepalived killed together with its VRRP
// child (nothing resigned) leaves its VIPs plumbed and its engine serving them; by the time
// this delay has passed the peer has taken over (three intervals plus skew), so the restarted
// keepalived, which clears its VIPs at start, no longer opens a gap.
func (s *Supervisor) restartDelay() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return min(max(4*s.maxAdvert, 100*time.Millisecond), time.Minute)
}

// runOnce runs one keepalived until it exits or ctx ends (then it stops it). onStart reports
// whether it started.
func (s *Supervisor) runOnce(ctx context.Context, onStart func(error)) error {
	argv := append(append([]string(nil), s.opts.Wrap...), s.opts.Binary,
		"--dont-fork", "--log-console", "--log-detail", "--no-syslog", "--vrrp",
		"--use-file", s.conf, "--pid", s.pid, "--vrrp_pid", s.vpid)
	if err := s.clearPidFiles(); err != nil {
		onStart(err)
		return err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	pr, pw, err := os.Pipe()
	if err != nil {
		onStart(err)
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	s.mu.Lock()
	s.startedGen = s.gen
	s.ready = false
	err = cmd.Start()
	if err == nil {
		s.proc = cmd.Process
	}
	s.mu.Unlock()
	pw.Close()
	if err != nil {
		pr.Close()
		err = fmt.Errorf("%w: start: %v", ErrKeepalived, err)
		onStart(err)
		return err
	}
	logDone := make(chan struct{})
	tail := newTail(40)
	ready := make(chan struct{})
	go func() {
		defer close(logDone)
		s.readLog(pr, cmd.Process, tail, ready)
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	stop := func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		var err error
		select {
		case err = <-waited:
		case <-time.After(s.opts.StopTimeout):
			s.log.Error("keepalived ignores SIGTERM; killing its process group", "pid", cmd.Process.Pid)
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			err = <-waited
		}
		// The VRRP child exits with its parent (its own parent-death signal); make sure
		// nothing of the group is left.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return err
	}
	// Started means ready for SIGHUP; a keepalived that exits before (a configuration it
	// refuses at start, a pid file of a live keepalived) did not start.
	select {
	case <-ready:
		onStart(nil)
		s.log.Info("keepalived started", "pid", cmd.Process.Pid)
		select {
		case err = <-waited:
			err = fmt.Errorf("%v; last lines:\n%s", err, tail)
		case <-ctx.Done():
			err = stop()
		}
	case err = <-waited:
		select { // for the last lines
		case <-logDone:
		case <-time.After(2 * time.Second):
		}
		err = fmt.Errorf("%w exited at start (%v); last lines:\n%s", ErrKeepalived, err, tail)
		onStart(err)
	case <-time.After(startTimeout):
		err = fmt.Errorf("%w: not ready after %v; last lines:\n%s", ErrKeepalived, startTimeout, tail)
		stop()
		onStart(err)
	case <-ctx.Done():
		err = stop()
		onStart(errors.New("vrrp supervisor: closed while starting"))
	}
	// The log pipe ends when every process that held it (the VRRP child too) has exited.
	select {
	case <-logDone:
	case <-time.After(s.opts.StopTimeout):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-logDone
	}
	pr.Close()
	s.mu.Lock()
	s.proc = nil
	s.ready = false
	s.mu.Unlock()
	return err
}

// startTimeout bounds how long keepalived may take to become ready.
const startTimeout = 30 * time.Second

// readyMarkers are log lines keepalived's parent prints after it has installed its signal
// handlers (before that, it ignores SIGHUP): a reload must wait for one.
var readyMarkers = []string{"Starting VRRP child process", "has no configuration to run"}

// readLog forwards keepalived's console log to the logger, keeps the last lines for error
// messages, and notices when keepalived is ready for SIGHUP.
func (s *Supervisor) readLog(r io.Reader, p *os.Process, tail *tail, ready chan<- struct{}) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for sc.Scan() {
		line := sc.Text()
		// keepalived prefixes a timestamp ("Mon Dec  7 02:15:29 2026: ").
		if i := strings.Index(line, ": "); i >= 0 && i < 32 {
			line = line[i+2:]
		}
		tail.add(line)
		s.log.Debug(line, "keepalived", p.Pid)
		for _, m := range readyMarkers {
			if strings.Contains(line, m) && s.markReady(p) {
				close(ready)
			}
		}
	}
}

func (s *Supervisor) markReady(p *os.Process) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != p || s.ready {
		return false
	}
	s.ready = true
	if s.gen != s.startedGen {
		// A configuration was written after this keepalived was started: it may have read
		// the older one.
		p.Signal(syscall.SIGHUP)
	}
	return true
}

// stopped reports STOPPED for every instance that keepalived no longer runs.
func (s *Supervisor) stopped() {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	now := time.Now()
	for name, ev := range s.states {
		if ev.State == StateStopped {
			continue
		}
		e := Event{Instance: name, State: StateStopped, At: now}
		s.states[name] = e
		if s.opts.OnEvent != nil {
			s.opts.OnEvent(e)
		}
	}
}

// openFIFO makes the notify FIFO (replacing anything else at its path) and opens it for
// reading and writing, so that reads never see end-of-file when keepalived restarts and the
// open never blocks.
func (s *Supervisor) openFIFO() error {
	p := s.files.NotifyFIFO
	if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeNamedPipe == 0 {
		os.Remove(p)
	}
	if err := syscall.Mkfifo(p, 0o600); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("vrrp supervisor: notify fifo: %w", err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("vrrp supervisor: notify fifo: %w", err)
	}
	s.fifo = f
	return nil
}

// readFIFO turns the FIFO's lines into events until the FIFO is closed.
func (s *Supervisor) readFIFO() {
	defer close(s.fifoEnd)
	sc := bufio.NewScanner(s.fifo)
	for sc.Scan() {
		ev, ok := parseNotify(sc.Text())
		if !ok {
			continue
		}
		ev.At = time.Now()
		s.evMu.Lock()
		switch ev.State {
		case StateMasterRxLowerPri:
		case StateDeleted:
			delete(s.states, ev.Instance)
		default:
			// keepalived writes every state again on reload: a state it was already in
			// keeps the time it was entered.
			kept := ev
			if prev, ok := s.states[ev.Instance]; ok && prev.State == ev.State {
				kept.At = prev.At
			}
			s.states[ev.Instance] = kept
		}
		if s.opts.OnEvent != nil {
			s.opts.OnEvent(ev)
		}
		s.evMu.Unlock()
	}
}

// parseNotify reads one notify FIFO line: INSTANCE "name" STATE priority. Other lines
// (groups, checkers) are ignored.
func parseNotify(line string) (Event, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), `INSTANCE "`)
	if !ok {
		return Event{}, false
	}
	name, rest, ok := strings.Cut(rest, `" `)
	if !ok || name == "" {
		return Event{}, false
	}
	f := strings.Fields(rest)
	if len(f) != 2 {
		return Event{}, false
	}
	prio, err := strconv.Atoi(f[1])
	if err != nil || prio < 0 || prio > 255 {
		return Event{}, false
	}
	switch st := State(f[0]); st {
	case StateBackup, StateMaster, StateFault, StateStop, StateDeleted, StateMasterRxLowerPri:
		return Event{Instance: name, State: st, Priority: prio}, true
	}
	return Event{}, false
}

// clearPidFiles runs before each start. keepalived refuses to start while one of its pid
// files names a process that exists, and a process killed with its parent can stay a zombie
// for a while (until init reaps it): pid files naming no live keepalived of this data
// directory are removed. A live one is an orphan (a supervisor that died without stopping
// it, or a VRRP child outliving its killed parent) and is stopped: only a process whose
// command line names this directory's config is touched.
func (s *Supervisor) clearPidFiles() error {
	for _, pf := range []string{s.pid, s.vpid} {
		b, err := os.ReadFile(pf)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			os.Remove(pf)
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(cmdline, []byte(s.conf+"\x00")) || !bytes.Contains(cmdline, []byte("keepalived")) {
			os.Remove(pf)
			continue
		}
		s.log.Warn("stopping a keepalived left running by an earlier supervisor", "pid", pid)
		syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(s.opts.StopTimeout)
		for processAlive(pid) {
			if time.Now().After(deadline) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			if time.Now().After(deadline.Add(5 * time.Second)) {
				return fmt.Errorf("%w: process %d from %s survives SIGKILL", ErrKeepalived, pid, pf)
			}
			time.Sleep(20 * time.Millisecond)
		}
		os.Remove(pf)
	}
	return nil
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && len(b) > i+2 && b[i+2] != 'Z'
}

// tail keeps the last n lines written to it.
type tail struct {
	mu    sync.Mutex
	n     int
	lines []string
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) add(l string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, l)
	if len(t.lines) > t.n {
		t.lines = t.lines[len(t.lines)-t.n:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
