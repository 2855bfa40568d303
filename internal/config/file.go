package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds a config file: a real one is a few kilobytes.
const maxFileSize = 1 << 20

// The config file is one YAML document holding a mapping:
//
//   - A key whose value is a scalar or a sequence names a setting, the
//     same name as its flag: "data-dir: /var/lib/fulcrum".
//   - A key whose value is a mapping is a group: each key inside is joined
//     to it with '-', so "quota: {listener: 5}" sets quota-listener and
//     "agent: {dead-after: 3s}" sets agent-dead-after. Groups nest, and a
//     setting may be written flat or grouped at any '-' of its name.
//   - Strings are any scalar ("listen: 127.0.0.1:9876", a block scalar
//     included); integers and booleans must be YAML integers and booleans;
//     durations are strings such as 1s or 250ms; lists are sequences
//     ("segment: [a=eth1, b=eth2]") or, as in the environment, one string of
//     comma- or newline-separated items.
//   - "key:" with no value (null) empties a string or a list and is refused
//     for other kinds.
//
// Anything else is refused with the file, the line and the key: an unknown
// key, a value of the wrong type, a setting given twice (flat and grouped),
// a second document, tags other than YAML's core ones, merge keys.

// loadFile applies the config file at path.
func (s *Set) loadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	if len(data) > maxFileSize {
		return fmt.Errorf("config file %s: larger than %d bytes", path, maxFileSize)
	}
	return s.applyFile(path, data)
}

// fileError is an error at a line of the config file.
func fileError(path string, line int, format string, args ...any) error {
	return fmt.Errorf("config file %s:%d: %s", path, line, fmt.Sprintf(format, args...))
}

// applyFile applies the settings of a config file's contents; path names
// it in errors.
func (s *Set) applyFile(path string, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil // empty, or comments only
	} else if err != nil {
		return syntaxError(path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return fileError(path, extra.Line, "a second YAML document: the file holds one")
	} else if !errors.Is(err, io.EOF) {
		return syntaxError(path, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fileError(path, root.Line, "want a mapping of settings (key: value), got %s", nodeWord(root))
	}
	return s.applyMapping(path, "", root, map[string]int{})
}

// yamlLine matches the YAML library's syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError reports a YAML syntax error at its line, as the other
// errors are.
func syntaxError(path string, err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return fileError(path, line, "%s", m[2])
	}
	return fmt.Errorf("config file %s: %w", path, err)
}

// applyMapping applies the keys of m, each joined to prefix with '-';
// seen holds the line each setting was given at.
func (s *Set) applyMapping(path, prefix string, m *yaml.Node, seen map[string]int) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], resolve(m.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			return fileError(path, k.Line, "key %s: want a setting name (merge keys and complex keys are not supported)", quoteKey(k))
		}
		if k.Tag != "!!str" || k.Value == "" {
			return fileError(path, k.Line, "key %s: want a setting name, got %s", quoteKey(k), nodeWord(k))
		}
		name := k.Value
		if prefix != "" {
			name = prefix + "-" + name
		}
		st, known := s.byName[name]
		if v.Kind == yaml.MappingNode {
			if s.isGroup(name) {
				if err := s.applyMapping(path, name, v, seen); err != nil {
					return err
				}
				continue
			}
			if known {
				return fileError(path, v.Line, "%s: want %s, got a mapping (%s is a setting, not a group of settings)", name, kindWant(st.kind), name)
			}
		}
		if !known && s.isGroup(name) {
			return fileError(path, v.Line, "%s is a group of settings (%s), not a setting: want a mapping", name, strings.Join(s.group(name), ", "))
		}
		if !known {
			return fileError(path, k.Line, "unknown setting %q%s", name, s.suggest(name))
		}
		if line, dup := seen[name]; dup {
			return fileError(path, k.Line, "%s is set twice (first at line %d)", name, line)
		}
		seen[name] = k.Line
		if err := applyValue(st, v); err != nil {
			return fileError(path, v.Line, "%s: %v", name, err)
		}
	}
	return nil
}

// isGroup reports whether some setting's name starts with name + "-".
func (s *Set) isGroup(name string) bool {
	for _, st := range s.settings {
		if strings.HasPrefix(st.Name, name+"-") {
			return true
		}
	}
	return false
}

// group lists the names of the settings in group name, without the prefix.
func (s *Set) group(name string) []string {
	var out []string
	for _, st := range s.settings {
		if rest, ok := strings.CutPrefix(st.Name, name+"-"); ok {
			out = append(out, rest)
		}
	}
	return out
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// coreTags are the scalar tags a config file may carry.
var coreTags = map[string]bool{"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true}

// applyValue gives st the value of node v (a scalar or a sequence).
func applyValue(st *Setting, v *yaml.Node) error {
	switch v.Kind {
	case yaml.ScalarNode:
		if !coreTags[v.Tag] {
			return fmt.Errorf("want %s, got a value tagged %s", kindWant(st.kind), v.Tag)
		}
		if v.Tag == "!!null" {
			switch st.kind {
			case kindString:
				return st.assign("")
			case kindList:
				return st.assignList(nil)
			}
			return fmt.Errorf("want %s, got no value", kindWant(st.kind))
		}
		switch st.kind {
		case kindInt:
			if v.Tag != "!!int" {
				return fmt.Errorf("want an integer, got %s %q", nodeWord(v), v.Value)
			}
			var n int
			if err := v.Decode(&n); err != nil {
				return fmt.Errorf("want an integer, got %q", v.Value)
			}
			return st.assign(fmt.Sprint(n))
		case kindBool:
			if v.Tag != "!!bool" {
				return fmt.Errorf("want true or false, got %s %q", nodeWord(v), v.Value)
			}
			var b bool
			if err := v.Decode(&b); err != nil {
				return fmt.Errorf("want true or false, got %q", v.Value)
			}
			return st.assign(fmt.Sprint(b))
		}
		// Strings take any scalar as written; durations and lists parse it.
		return st.assign(v.Value)
	case yaml.SequenceNode:
		if st.kind != kindList {
			return fmt.Errorf("want %s, got a list", kindWant(st.kind))
		}
		items := []string{}
		for _, item := range v.Content {
			item = resolve(item)
			if item.Kind != yaml.ScalarNode || !coreTags[item.Tag] || item.Tag == "!!null" {
				return fmt.Errorf("list item at line %d: want a string, got %s", item.Line, nodeWord(item))
			}
			items = append(items, splitList(item.Value)...)
		}
		return st.assignList(items)
	}
	return fmt.Errorf("want %s, got %s", kindWant(st.kind), nodeWord(v))
}

// kindWant names what a setting of kind k takes, for messages.
func kindWant(k kind) string {
	return [...]string{"a string", "an integer", "true or false", "a duration such as 1s or 250ms", "a list"}[k]
}

// nodeWord names what a node is, for messages.
func nodeWord(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case "!!null":
		return "no value"
	case "!!str":
		return "a string"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	}
	return "a value tagged " + n.Tag
}

func quoteKey(k *yaml.Node) string {
	if k.Kind == yaml.ScalarNode {
		return fmt.Sprintf("%q", k.Value)
	}
	return nodeWord(k)
}

// suggest returns ` (did you mean "x"?)` for the known setting nearest to
// name, or a pointer to -h.
func (s *Set) suggest(name string) string {
	best, bestD := "", 3
	for _, st := range s.settings {
		if d := distance(name, st.Name); d < bestD {
			best, bestD = st.Name, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return fmt.Sprintf(" (fulcrum %s -h lists the settings)", s.cmd)
}

// distance is the Levenshtein distance of a and b, capped for long inputs.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
