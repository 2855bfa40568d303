package policy

import (
	"fmt"
	"strings"
)

// node is a parsed check expression.
type node interface {
	eval(ev *evaluation, depth int) bool
	// missingRules returns the first rule:NAME reference not in rules.
	missingRules(rules map[Rule]node) string
}

// maxDepth stops rule:… cycles.
const maxDepth = 32

type andNode []node
type orNode []node
type notNode struct{ n node }
type constNode bool
type check struct{ kind, match string }

func (a andNode) eval(ev *evaluation, d int) bool {
	for _, n := range a {
		if !n.eval(ev, d) {
			return false
		}
	}
	return true
}

func (o orNode) eval(ev *evaluation, d int) bool {
	for _, n := range o {
		if n.eval(ev, d) {
			return true
		}
	}
	return false
}

func (n notNode) eval(ev *evaluation, d int) bool { return !n.n.eval(ev, d) }
func (c constNode) eval(*evaluation, int) bool    { return bool(c) }

func (c check) eval(ev *evaluation, d int) bool {
	if d > maxDepth {
		return false
	}
	switch c.kind {
	case "role":
		return ev.hasRole(c.match)
	case "rule":
		n, ok := ev.e.rules[Rule(c.match)]
		return ok && n.eval(ev, d+1)
	case "is_admin":
		return strings.EqualFold(c.match, "true") == ev.isAdmin(d)
	case "project_id":
		want := c.match
		if want == "%(project_id)s" {
			want = ev.target
		} else if key, ok := targetKey(want); ok {
			want = ev.attrs[key]
		}
		return ev.c.ProjectID != "" && ev.c.ProjectID == want
	case "field":
		key, value, _ := strings.Cut(c.match, "=")
		got, ok := ev.attrs[key]
		return ok && strings.EqualFold(got, value)
	case "user_id":
		return ev.c.UserID != "" && ev.c.UserID == c.match
	}
	return false
}

func (a andNode) missingRules(r map[Rule]node) string { return firstMissing(a, r) }
func (o orNode) missingRules(r map[Rule]node) string  { return firstMissing(o, r) }
func (n notNode) missingRules(r map[Rule]node) string { return n.n.missingRules(r) }
func (constNode) missingRules(map[Rule]node) string   { return "" }
func (c check) missingRules(r map[Rule]node) string {
	if _, ok := r[Rule(c.match)]; c.kind == "rule" && !ok {
		return c.match
	}
	return ""
}

func firstMissing(ns []node, r map[Rule]node) string {
	for _, n := range ns {
		if m := n.missingRules(r); m != "" {
			return m
		}
	}
	return ""
}

// targetKey returns key of a "%(key)s" reference to a target attribute.
func targetKey(s string) (string, bool) {
	if !strings.HasPrefix(s, "%(") || !strings.HasSuffix(s, ")s") || len(s) <= 4 {
		return "", false
	}
	return s[2 : len(s)-2], true
}

// parse reads oslo.policy's check language: checks kind:match (role, rule,
// is_admin, project_id — against "%(project_id)s" or any "%(key)s" of the
// target —, user_id, and field:KEY=VALUE, which compares a target attribute
// case-insensitively), "@" (always) and "!" (never), combined
// with not, and, or (in that precedence) and parentheses. "" is "@".
func parse(s string) (node, error) {
	p := &parser{toks: tokenize(s)}
	if len(p.toks) == 0 {
		return constNode(true), nil
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	return n, nil
}

// tokenize splits on spaces and peels parentheses off the ends of words,
// as oslo.policy does, so "%(project_id)s" stays whole.
func tokenize(s string) []string {
	var out []string
	for _, f := range strings.Fields(s) {
		for strings.HasPrefix(f, "(") {
			out = append(out, "(")
			f = f[1:]
		}
		closing := 0
		for strings.HasSuffix(f, ")") && !strings.HasSuffix(f, ")s") {
			closing++
			f = f[:len(f)-1]
		}
		if f != "" {
			out = append(out, f)
		}
		for ; closing > 0; closing-- {
			out = append(out, ")")
		}
	}
	return out
}

type parser struct {
	toks []string
	pos  int
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) or() (node, error) {
	var alts orNode
	for {
		n, err := p.and()
		if err != nil {
			return nil, err
		}
		alts = append(alts, n)
		if p.peek() != "or" {
			break
		}
		p.pos++
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return alts, nil
}

func (p *parser) and() (node, error) {
	var all andNode
	for {
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		all = append(all, n)
		if p.peek() != "and" {
			break
		}
		p.pos++
	}
	if len(all) == 1 {
		return all[0], nil
	}
	return all, nil
}

func (p *parser) unary() (node, error) {
	tok := p.peek()
	switch tok {
	case "":
		return nil, fmt.Errorf("unexpected end of rule")
	case "not":
		p.pos++
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	case "(":
		p.pos++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.pos++
		return n, nil
	case "@":
		p.pos++
		return constNode(true), nil
	case "!":
		p.pos++
		return constNode(false), nil
	}
	kind, match, ok := strings.Cut(tok, ":")
	if !ok || match == "" {
		return nil, fmt.Errorf("bad check %q", tok)
	}
	switch kind {
	case "role", "rule", "is_admin", "project_id", "user_id":
	case "field":
		if key, _, ok := strings.Cut(match, "="); !ok || key == "" || strings.Contains(match, "=~") {
			return nil, fmt.Errorf("bad field check %q: want field:KEY=VALUE", tok)
		}
	default:
		return nil, fmt.Errorf("unsupported check kind %q", kind)
	}
	p.pos++
	return check{kind: kind, match: match}, nil
}
