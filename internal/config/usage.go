package config

import (
	"fmt"
	"io"
	"strings"
)

// Info describes one setting, for help, shell completion and the manual.
type Info struct {
	Name    string // flag and file key
	Type    string // string, int, bool, duration or list
	Usage   string
	Default string // as a flag would give it; "" for none
	Env     string // its environment variable
	Section string // heading in -h; "" for the first, untitled group
}

// Describer receives a command's settings in place of its usage text: a
// writer given to Load as stderr that implements it turns -h into a call
// of DescribeSettings (how shell completion and the manual learn every
// command's flags without running it).
type Describer interface {
	DescribeSettings(cmd string, settings []Info)
}

// Infos describes the settings in the order they were registered.
func (s *Set) Infos() []Info {
	out := make([]Info, 0, len(s.settings))
	for _, st := range s.settings {
		out = append(out, Info{Name: st.Name, Type: st.kind.word(), Usage: st.Usage, Default: st.Default, Env: st.Env(), Section: st.Section})
	}
	return out
}

// usageWidth is the width -h wraps its text to.
const usageWidth = 80

// PrintUsage writes the -h text: every flag once, with its type, its
// default and its environment variable, grouped under the sections.
func (s *Set) PrintUsage(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: fulcrum %s [flags]\n\n", s.cmd)
	b.WriteString(wrap("Every flag is also a key of the config file (YAML) and a FULCRUM_* environment variable; "+
		"flags win over the environment, the environment over the file, the file over the defaults.", 0))
	b.WriteString("\n")
	printFlag(&b, "config", "file", "YAML config file: keys as the flags below, lists as YAML lists; "+
		"a mapping under a key joins its keys to it with '-'; see docs/configuration.md", "", "FULCRUM_CONFIG")
	section := ""
	for _, st := range s.Infos() {
		if st.Section != section {
			section = st.Section
			fmt.Fprintf(&b, "\n%s:\n", section)
		}
		typ := st.Type
		if typ == "bool" {
			typ = ""
		}
		printFlag(&b, st.Name, typ, st.Usage, st.Default, st.Env)
	}
	io.WriteString(w, b.String())
}

func printFlag(b *strings.Builder, name, typ, usage, def, env string) {
	fmt.Fprintf(b, "  --%s", name)
	if typ != "" {
		fmt.Fprintf(b, " %s", typ)
	}
	b.WriteString("\n")
	// A non-breaking space keeps "default X" and "env Y" on one line each.
	tail := "env" + nbsp + env
	if def != "" {
		tail = "default" + nbsp + def + "; " + tail
	}
	text := tail
	if usage != "" {
		text = usage + " (" + tail + ")"
	}
	b.WriteString(wrap(text, 8))
}

// nbsp joins words that wrap keeps on one line (a control character,
// since strings.Fields splits at U+00A0); it prints as a space.
const nbsp = "\x1f"

// wrap breaks text into lines of at most usageWidth columns (a longer word
// stays whole), each indented by indent spaces.
func wrap(text string, indent int) string {
	var b strings.Builder
	pad := strings.Repeat(" ", indent)
	col := 0
	for _, word := range strings.Fields(text) {
		switch {
		case col == 0:
			b.WriteString(pad)
			col = indent
		case col+1+len(word) > usageWidth:
			b.WriteString("\n" + pad)
			col = indent
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(strings.ReplaceAll(word, nbsp, " "))
		col += len(word) - (len(nbsp)-1)*strings.Count(word, nbsp)
	}
	b.WriteString("\n")
	return b.String()
}
