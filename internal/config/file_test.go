package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fileVars are the settings the file tests load into.
type fileVars struct {
	Listen, Note, AgentName string
	Workers, QListener      int
	QPool                   int
	Resync                  time.Duration
	Debug, Agent            bool
	CIDRs                   []string
}

func fileSet(v *fileVars) *Set {
	s := New("test")
	s.String(&v.Listen, "listen", "127.0.0.1:9876", "")
	s.String(&v.Note, "note", "", "")
	s.Int(&v.Workers, "workers", 4, "")
	s.Duration(&v.Resync, "resync", time.Second, "")
	s.Bool(&v.Debug, "debug", false, "")
	s.List(&v.CIDRs, "cidrs", []string{"127.0.0.0/8"}, "")
	s.Int(&v.QListener, "quota-listener", -1, "")
	s.Int(&v.QPool, "quota-pool", -1, "")
	s.Bool(&v.Agent, "embedded-agent", true, "")
	s.String(&v.AgentName, "embedded-agent-name", "embedded", "")
	return s
}

func defaults() fileVars {
	return fileVars{Listen: "127.0.0.1:9876", Workers: 4, Resync: time.Second, CIDRs: []string{"127.0.0.0/8"},
		QListener: -1, QPool: -1, Agent: true, AgentName: "embedded"}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fulcrum.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFileYAML: what real YAML means, setting by setting. The flat
// "key: value" reader this replaced loaded a YAML list as the string
// "[10.0.0.0/8", refused nested keys as unknown settings and assigned a
// block scalar's indicator ("|") before choking on its lines.
func TestFileYAML(t *testing.T) {
	cases := []struct {
		name string
		file string
		want func(*fileVars)
	}{
		{"flow list", "cidrs: [10.0.0.0/8, \"::1/128\"]\n",
			func(v *fileVars) { v.CIDRs = []string{"10.0.0.0/8", "::1/128"} }},
		{"block list", "cidrs:\n  - 10.0.0.0/8\n  - ::1/128\nworkers: 2\n",
			func(v *fileVars) { v.CIDRs = []string{"10.0.0.0/8", "::1/128"}; v.Workers = 2 }},
		{"flat comma list, as before", "cidrs: 10.0.0.0/8, ::1/128 # trailing comment\n",
			func(v *fileVars) { v.CIDRs = []string{"10.0.0.0/8", "::1/128"} }},
		{"empty list", "cidrs: []\n", func(v *fileVars) { v.CIDRs = []string{} }},
		{"null list", "cidrs:\n", func(v *fileVars) { v.CIDRs = nil }},
		{"nested flow mapping", "quota: {listener: 5, pool: 6}\n",
			func(v *fileVars) { v.QListener, v.QPool = 5, 6 }},
		{"nested block mapping", "quota:\n  listener: 5\nembedded:\n  agent:\n    name: edge\nembedded-agent: false\n",
			func(v *fileVars) { v.QListener, v.AgentName, v.Agent = 5, "edge", false }},
		{"a setting that is also a group", "embedded-agent:\n  name: edge\n",
			func(v *fileVars) { v.AgentName = "edge" }},
		{"literal block scalar", "note: |\n  first line\n  second line\nworkers: 9\n",
			func(v *fileVars) { v.Note = "first line\nsecond line\n"; v.Workers = 9 }},
		{"folded block scalar list", "cidrs: >-\n  10.0.0.0/8,\n  ::1/128\nworkers: 3\n",
			func(v *fileVars) { v.CIDRs = []string{"10.0.0.0/8", "::1/128"}; v.Workers = 3 }},
		{"literal block scalar list, one a line", "cidrs: |\n  10.0.0.0/8\n  ::1/128\n",
			func(v *fileVars) { v.CIDRs = []string{"10.0.0.0/8", "::1/128"} }},
		{"quotes, document marker, comments", "---\n# c\nlisten: '127.0.0.1:1' # c\nnote: \"a # b\"\n",
			func(v *fileVars) { v.Listen, v.Note = "127.0.0.1:1", "a # b" }},
		{"scalars of other types for a string", "note: 12\nembedded-agent-name: 1.5\n",
			func(v *fileVars) { v.Note, v.AgentName = "12", "1.5" }},
		{"null string", "listen:\n", func(v *fileVars) { v.Listen = "" }},
		{"anchor and alias", "workers: &n 7\nquota: {pool: *n}\n", func(v *fileVars) { v.Workers, v.QPool = 7, 7 }},
		{"YAML integers", "workers: 0x10\nquota-pool: -1\n", func(v *fileVars) { v.Workers = 16 }},
		{"durations", "resync: 1m30s\n", func(v *fileVars) { v.Resync = 90 * time.Second }},
		{"zero duration", "resync: 0\n", func(v *fileVars) { v.Resync = 0 }},
		{"booleans", "debug: true\nembedded-agent: False\n", func(v *fileVars) { v.Debug, v.Agent = true, false }},
		{"empty file", "", func(*fileVars) {}},
		{"comments only", "# nothing\n\n", func(*fileVars) {}},
		{"document marker only", "---\n", func(*fileVars) {}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.file)
			var got fileVars
			if err := fileSet(&got).Load([]string{"--config", path}, func(string) string { return "" }, io.Discard); err != nil {
				t.Fatalf("file %q: %v", tc.file, err)
			}
			want := defaults()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("file %q:\ngot  %+v\nwant %+v", tc.file, got, want)
			}
		})
	}
}

// TestFileErrors: every refusal names the file, the line and the key (or
// what is wrong with the document).
func TestFileErrors(t *testing.T) {
	cases := []struct {
		name string
		file string
		line int
		want []string // substrings of the message
	}{
		{"unknown key", "workers: 2\nnope: 1\n", 2, []string{`unknown setting "nope"`}},
		{"unknown key, near a known one", "worker: 2\n", 1, []string{`unknown setting "worker"`, `did you mean "workers"`}},
		{"unknown nested key", "quota:\n  listenr: 5\n", 2, []string{`unknown setting "quota-listenr"`, `did you mean "quota-listener"`}},
		{"a setting given a mapping", "workers:\n  a: 1\n", 2, []string{"workers", "want an integer, got a mapping", "not a group"}},
		{"a group given a value", "quota: 5\n", 1, []string{"quota is a group of settings (listener, pool)"}},
		{"quoted integer", "workers: \"7\"\n", 1, []string{"workers", "want an integer, got a string"}},
		{"float for an integer", "workers: 1.5\n", 1, []string{"workers", "want an integer, got a number"}},
		{"integer overflow", "workers: 99999999999999999999999\n", 1, []string{"workers", "want an integer"}},
		{"yes is no boolean", "debug: yes\n", 1, []string{"debug", "want true or false, got a string"}},
		{"integer for a boolean", "debug: 1\n", 1, []string{"debug", "want true or false, got an integer"}},
		{"null for an integer", "quota:\n  pool:\n", 2, []string{"quota-pool", "got no value"}},
		{"a mapping for a list", "cidrs: {a: b}\n", 1, []string{"cidrs", "want a list, got a mapping"}},
		{"a list for a string", "listen: [a, b]\n", 1, []string{"listen", "want a string, got a list"}},
		{"a list for an integer", "workers:\n  - 1\n", 2, []string{"workers", "want an integer, got a list"}},
		{"a mapping in a list", "cidrs:\n  - a: b\n", 2, []string{"cidrs", "list item at line 2", "got a mapping"}},
		{"a null in a list", "cidrs: [a, ~]\n", 1, []string{"cidrs", "got no value"}},
		{"duration without a unit", "resync: 10\n", 1, []string{"resync", "want a duration"}},
		{"set flat and grouped", "quota-pool: 1\nquota:\n  pool: 2\n", 3, []string{"quota-pool is set twice (first at line 1)"}},
		{"duplicate key", "workers: 1\nworkers: 2\n", 2, []string{"workers is set twice (first at line 1)"}},
		{"second document", "workers: 1\n---\nworkers: 2\n", 2, []string{"second YAML document"}},
		{"custom tag", "listen: !secret x\n", 1, []string{"listen", "tagged !secret"}},
		{"merge key", "<<: {workers: 1}\n", 1, []string{"merge keys"}},
		{"integer key", "1: x\n", 1, []string{`key "1"`, "want a setting name"}},
		{"syntax error", "workers: [1\n", 1, []string{"did not find expected"}},
		{"top-level list", "- workers\n", 1, []string{"want a mapping of settings"}},
		{"top-level scalar", "workers\n", 1, []string{"want a mapping of settings (key: value), got a string"}},
		{"tab indentation", "quota:\n\tpool: 1\n", 2, []string{"tab"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.file)
			var v fileVars
			err := fileSet(&v).Load([]string{"--config", path}, func(string) string { return "" }, io.Discard)
			if err == nil {
				t.Fatalf("file %q: no error, got %+v", tc.file, v)
			}
			msg := err.Error()
			want := append([]string{"config file " + path}, tc.want...)
			if tc.line > 0 {
				want = append(want, fmt.Sprintf("%s:%d:", path, tc.line))
			}
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("file %q: error %q does not say %q", tc.file, msg, w)
				}
			}
		})
	}
}

func TestFileTooLarge(t *testing.T) {
	path := writeFile(t, "# "+strings.Repeat("x", maxFileSize)+"\n")
	var v fileVars
	err := fileSet(&v).Load([]string{"--config", path}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v, want a size refusal", err)
	}
}

// TestListSources: a list from every source, and list flags that repeat.
func TestListSources(t *testing.T) {
	file := writeFile(t, "cidrs: [10.0.0.0/8, 10.1.0.0/16]\n")
	cases := []struct {
		name string
		args []string
		env  string
		want []string
	}{
		{"file", []string{"--config", file}, "", []string{"10.0.0.0/8", "10.1.0.0/16"}},
		{"env over file", []string{"--config", file}, "192.0.2.0/24, 198.51.100.0/24", []string{"192.0.2.0/24", "198.51.100.0/24"}},
		{"one flag replaces the env and the file", []string{"--config", file, "--cidrs", "a"}, "b", []string{"a"}},
		{"repeated flags add up", []string{"--config", file, "--cidrs", "a", "--cidrs", "b,c", "--cidrs=d"}, "x", []string{"a", "b", "c", "d"}},
		{"empty flag empties", []string{"--config", file, "--cidrs="}, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v fileVars
			err := fileSet(&v).Load(tc.args, func(k string) string {
				if k == "FULCRUM_CIDRS" {
					return tc.env
				}
				return ""
			}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(v.CIDRs, tc.want) {
				t.Errorf("args %q env %q: got %q, want %q", tc.args, tc.env, v.CIDRs, tc.want)
			}
		})
	}
}

// TestListDefaultNotShared: a list setting's variable never aliases the
// default slice, so appending to one cannot change the other.
func TestListDefaultNotShared(t *testing.T) {
	def := make([]string, 1, 4)
	def[0] = "a"
	var got []string
	s := New("test")
	s.List(&got, "l", def, "")
	got = append(got, "b")
	if def[:2][1] == "b" {
		t.Fatal("the setting's variable shares the default's backing array")
	}
}

// FuzzConfigFile: no input panics the file reader, and every refusal is
// reported as a config file error.
func FuzzConfigFile(f *testing.F) {
	for _, seed := range []string{"workers: 2\n", "quota: {listener: 5}\n", "cidrs: [a, b]\n", "note: |\n  x\n",
		"a: &a [*a]\n", "<<: *x\n", "- x\n", "---\n---\n", "embedded:\n  agent:\n    name: x\n", "cidrs: [[a]]\n"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var v fileVars
		err := fileSet(&v).applyFile("f.yaml", []byte(body))
		if err != nil && !strings.HasPrefix(err.Error(), "config file f.yaml") {
			t.Errorf("file %q: error %q does not name the file", body, err)
		}
	})
}
