// Package config loads process settings from, in increasing precedence,
// built-in defaults, an optional YAML config file, FULCRUM_* environment
// variables and command-line flags.
//
// Every setting has one name, spelled like its flag (data-dir,
// agent-dead-after, quota-load-balancer). The config file is real YAML (see
// file.go for the schema): a mapping whose keys are setting names, or
// groups of them, since a mapping under a key joins its keys to the key
// with '-' (quota: {listener: 5} is quota-listener). Lists are YAML
// sequences; in the environment and on the command line they are
// comma-separated, and a list flag given again adds to the list.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// kind is the type of a setting's value.
type kind int

const (
	kindString kind = iota
	kindInt
	kindBool
	kindDuration
	kindList
)

// word is how usage and messages name the kind.
func (k kind) word() string {
	return [...]string{"string", "int", "bool", "duration", "list"}[k]
}

// Setting is one named option bound to a variable.
type Setting struct {
	Name    string // flag and file key, e.g. "data-dir"
	Usage   string
	Default string
	Section string // heading it is listed under in -h ("" for the first, untitled group)
	kind    kind
	set     func(string) error // a value as the environment, a flag or a file scalar gives it
	setList func([]string) error
	get     func() string
	changed bool // set by the file, the environment or a flag
	flagged bool // set by a flag in this Load: a list flag given again appends
}

// Env is the environment variable of the setting: FULCRUM_ + upper snake case.
func (s *Setting) Env() string {
	return "FULCRUM_" + strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
}

// Set is a group of settings for one command.
type Set struct {
	cmd      string
	section  string
	settings []*Setting
	byName   map[string]*Setting
}

// New returns an empty set for command cmd (used in messages).
func New(cmd string) *Set {
	return &Set{cmd: cmd, byName: map[string]*Setting{}}
}

// Section starts a heading of the -h output: the settings registered after
// it are listed under title until the next Section. It changes nothing
// else (names, file keys and environment variables stay as they are).
func (s *Set) Section(title string) {
	s.section = title
}

func (s *Set) add(st *Setting) {
	if _, dup := s.byName[st.Name]; dup || st.Name == "config" {
		panic("config: duplicate setting " + st.Name)
	}
	st.Section = s.section
	s.settings = append(s.settings, st)
	s.byName[st.Name] = st
}

// assign gives st a value from a string (environment, flag, file scalar).
func (st *Setting) assign(v string) error {
	if err := st.set(v); err != nil {
		return err
	}
	st.changed = true
	return nil
}

// assignList gives a list setting its items (a YAML sequence).
func (st *Setting) assignList(items []string) error {
	if err := st.setList(items); err != nil {
		return err
	}
	st.changed = true
	return nil
}

// Changed reports whether Load gave setting name a value (from the file,
// the environment or a flag), as opposed to leaving its default.
func (s *Set) Changed(name string) bool {
	st, ok := s.byName[name]
	return ok && st.changed
}

// String binds a string setting.
func (s *Set) String(p *string, name, def, usage string) {
	*p = def
	s.add(&Setting{Name: name, Usage: usage, Default: def, kind: kindString,
		set: func(v string) error { *p = v; return nil },
		get: func() string { return *p }})
}

// Int binds an integer setting.
func (s *Set) Int(p *int, name string, def int, usage string) {
	*p = def
	s.add(&Setting{Name: name, Usage: usage, Default: strconv.Itoa(def), kind: kindInt,
		set: func(v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("want an integer, got %q", v)
			}
			*p = n
			return nil
		},
		get: func() string { return strconv.Itoa(*p) }})
}

// Bool binds a boolean setting.
func (s *Set) Bool(p *bool, name string, def bool, usage string) {
	*p = def
	s.add(&Setting{Name: name, Usage: usage, Default: strconv.FormatBool(def), kind: kindBool,
		set: func(v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("want true or false, got %q", v)
			}
			*p = b
			return nil
		},
		get: func() string { return strconv.FormatBool(*p) }})
}

// Duration binds a duration setting ("1s", "250ms").
func (s *Set) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	s.add(&Setting{Name: name, Usage: usage, Default: shortDuration(def), kind: kindDuration,
		set: func(v string) error {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("want a duration such as 1s or 250ms, got %q", v)
			}
			*p = d
			return nil
		},
		get: func() string { return p.String() }})
}

// shortDuration is d as time.Duration.String spells it without zero
// trailing units (24h, not 24h0m0s); it parses back to d.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// List binds a list setting. A string value (environment, flag, file
// scalar) is split at commas and newlines; empty items are dropped. The
// variable never shares its backing array with def.
func (s *Set) List(p *[]string, name string, def []string, usage string) {
	*p = slices.Clone(def)
	s.add(&Setting{Name: name, Usage: usage, Default: strings.Join(def, ","), kind: kindList,
		set:     func(v string) error { *p = splitList(v); return nil },
		setList: func(items []string) error { *p = items; return nil },
		get:     func() string { return strings.Join(*p, ",") }})
}

func splitList(v string) []string {
	var out []string
	for _, line := range strings.Split(v, "\n") {
		for _, item := range strings.Split(line, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// flagValue adapts a Setting to flag.Value.
type flagValue struct{ s *Setting }

func (f flagValue) String() string {
	if f.s == nil || f.s.get == nil {
		return ""
	}
	return f.s.get()
}

// Set assigns a flag's value. The first occurrence of a list flag replaces
// what the file or the environment gave; each further one appends.
func (f flagValue) Set(v string) error {
	st := f.s
	if st.kind == kindList && st.flagged {
		// Items never hold a comma or a newline (every source splits
		// at them), so the joined value splits back into the same items.
		return st.assignList(append(splitList(st.get()), splitList(v)...))
	}
	if err := st.assign(v); err != nil {
		return err
	}
	st.flagged = true
	return nil
}

// IsBoolFlag lets boolean settings be given as a bare --name.
func (f flagValue) IsBoolFlag() bool { return f.s != nil && f.s.kind == kindBool }

// ignore accepts any flag value without storing it.
type ignore struct{ isBool bool }

func (ignore) String() string     { return "" }
func (ignore) Set(string) error   { return nil }
func (i ignore) IsBoolFlag() bool { return i.isBool }

// Load applies defaults, the config file named by --config (or
// FULCRUM_CONFIG), the environment and then the flags in args. For -h it
// prints the usage to stderr (or, when stderr is a Describer, hands it the
// settings instead) and returns flag.ErrHelp.
func (s *Set) Load(args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("fulcrum "+s.cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var configFile string
	fs.StringVar(&configFile, "config", getenv("FULCRUM_CONFIG"), "")
	for _, st := range s.settings {
		st.flagged = false
		fs.Var(flagValue{st}, st.Name, st.Usage)
	}
	fs.Usage = func() {
		if d, ok := stderr.(Describer); ok {
			d.DescribeSettings(s.cmd, s.Infos())
			return
		}
		s.PrintUsage(stderr)
	}
	// A first pass over the flags only learns --config, so the file can be
	// read before the environment and the flags override it.
	probe := flag.NewFlagSet("probe", flag.ContinueOnError)
	probe.SetOutput(io.Discard)
	probe.StringVar(&configFile, "config", configFile, "")
	for _, st := range s.settings {
		probe.Var(ignore{st.kind == kindBool}, st.Name, "")
	}
	if err := probe.Parse(args); err != nil {
		// Let the real flag set report the error (and handle -h).
		return fs.Parse(args)
	}
	if configFile != "" {
		if err := s.loadFile(configFile); err != nil {
			return err
		}
	}
	for _, st := range s.settings {
		if v := getenv(st.Env()); v != "" {
			if err := st.assign(v); err != nil {
				return fmt.Errorf("%s: %w", st.Env(), err)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("fulcrum %s: unexpected arguments %q", s.cmd, fs.Args())
	}
	return nil
}

// ErrInvalid wraps a setting whose value is out of its allowed range.
var ErrInvalid = errors.New("invalid setting")
