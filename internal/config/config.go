// Package config loads process settings from, in increasing precedence,
// built-in defaults, an optional config file, FULCRUM_* environment
// variables and command-line flags.
//
// The config file is flat YAML: one "key: value" per line, '#' comments,
// keys spelled like the flags (listen, data-dir, ...). Lists are
// comma-separated values.
package config

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Setting is one named option bound to a variable.
type Setting struct {
	Name    string // flag and file key, e.g. "data-dir"
	Usage   string
	Default string
	isBool  bool
	set     func(string) error
	get     func() string
	changed bool // set by the file, the environment or a flag
}

// Env is the environment variable of the setting: FULCRUM_ + upper snake case.
func (s *Setting) Env() string {
	return "FULCRUM_" + strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
}

// Set is a group of settings for one command.
type Set struct {
	cmd      string
	settings []*Setting
	byName   map[string]*Setting
}

// New returns an empty set for command cmd (used in messages).
func New(cmd string) *Set {
	return &Set{cmd: cmd, byName: map[string]*Setting{}}
}

func (s *Set) add(st *Setting) {
	if _, dup := s.byName[st.Name]; dup {
		panic("config: duplicate setting " + st.Name)
	}
	set := st.set
	st.set = func(v string) error {
		if err := set(v); err != nil {
			return err
		}
		st.changed = true
		return nil
	}
	s.settings = append(s.settings, st)
	s.byName[st.Name] = st
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
	s.add(&Setting{Name: name, Usage: usage, Default: def,
		set: func(v string) error { *p = v; return nil },
		get: func() string { return *p }})
}

// Int binds an integer setting.
func (s *Set) Int(p *int, name string, def int, usage string) {
	*p = def
	s.add(&Setting{Name: name, Usage: usage, Default: strconv.Itoa(def),
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
	s.add(&Setting{Name: name, Usage: usage, Default: strconv.FormatBool(def), isBool: true,
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
	s.add(&Setting{Name: name, Usage: usage, Default: def.String(),
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

// List binds a comma-separated list setting.
func (s *Set) List(p *[]string, name string, def []string, usage string) {
	*p = def
	s.add(&Setting{Name: name, Usage: usage, Default: strings.Join(def, ","),
		set: func(v string) error { *p = splitList(v); return nil },
		get: func() string { return strings.Join(*p, ",") }})
}

func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
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
func (f flagValue) Set(v string) error { return f.s.set(v) }

// IsBoolFlag lets boolean settings be given as a bare --name.
func (f flagValue) IsBoolFlag() bool { return f.s != nil && f.s.isBool }

// ignore accepts any flag value without storing it.
type ignore struct{ isBool bool }

func (ignore) String() string     { return "" }
func (ignore) Set(string) error   { return nil }
func (i ignore) IsBoolFlag() bool { return i.isBool }

// Load applies defaults, the config file named by --config (or
// FULCRUM_CONFIG), the environment and then the flags in args. It returns
// flag.ErrHelp after printing usage for -h.
func (s *Set) Load(args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("fulcrum "+s.cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var configFile string
	fs.StringVar(&configFile, "config", getenv("FULCRUM_CONFIG"), "config file (flat YAML: key: value); env FULCRUM_CONFIG")
	for _, st := range s.settings {
		fs.Var(flagValue{st}, st.Name, fmt.Sprintf("%s (env %s, default %q)", st.Usage, st.Env(), st.Default))
	}
	// A first pass over the flags only learns --config, so the file can be
	// read before the environment and the flags override it.
	probe := flag.NewFlagSet("probe", flag.ContinueOnError)
	probe.SetOutput(io.Discard)
	probe.StringVar(&configFile, "config", configFile, "")
	for _, st := range s.settings {
		probe.Var(ignore{st.isBool}, st.Name, "")
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
			if err := st.set(v); err != nil {
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

func (s *Set) loadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") || text == "---" {
			continue
		}
		key, value, ok := strings.Cut(text, ":")
		if !ok {
			return fmt.Errorf("config file %s:%d: want \"key: value\"", path, line)
		}
		key = strings.TrimSpace(key)
		value = strings.TrimSpace(value)
		if i := strings.Index(value, " #"); i >= 0 {
			value = strings.TrimSpace(value[:i])
		}
		value = strings.Trim(value, `"'`)
		st, ok := s.byName[key]
		if !ok {
			return fmt.Errorf("config file %s:%d: unknown setting %q (known: %s)", path, line, key, strings.Join(s.names(), ", "))
		}
		if err := st.set(value); err != nil {
			return fmt.Errorf("config file %s:%d: %s: %w", path, line, key, err)
		}
	}
	return sc.Err()
}

func (s *Set) names() []string {
	var out []string
	for _, st := range s.settings {
		out = append(out, st.Name)
	}
	sort.Strings(out)
	return out
}

// ErrInvalid wraps a setting whose value is out of its allowed range.
var ErrInvalid = errors.New("invalid setting")
