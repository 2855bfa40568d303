package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/fulcrumlb/fulcrum"

// rule is one row of the package table.
type rule struct {
	pkg     string   // module-relative path, e.g. internal/identity/keystone
	line    int      // in ARCHITECTURE.md
	allowed []string // module-relative paths and third-party module paths
	never   []string // module-relative paths no dependency may be in, however indirect
}

// pkg is what `go list -json` says about one package.
type pkg struct {
	ImportPath   string
	Standard     bool
	GoFiles      []string
	CgoFiles     []string
	Imports      []string
	Deps         []string
	TestImports  []string
	XTestImports []string
}

var cellPath = regexp.MustCompile("^`([^`]+)`$")

// parseTable reads the package table of the "## Packages" section. The
// "may import" cell is either "stdlib" (nothing outside the standard
// library) or a comma-separated list of backquoted paths (module packages
// relative to the module, third-party code by module path), optionally
// followed by "— never" and a list of module packages that must not be a
// dependency at all, directly or not.
func parseTable(doc string) (map[string]*rule, error) {
	rules := map[string]*rule{}
	var errs []error
	in := false
	for i, line := range strings.Split(doc, "\n") {
		n := i + 1
		switch {
		case line == "## Packages":
			in = true
			continue
		case in && strings.HasPrefix(line, "#"):
			in = false
		}
		if !in || !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| package |") {
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 3 {
			errs = append(errs, fmt.Errorf("ARCHITECTURE.md:%d: want 3 cells (package | job | may import), got %d (a '|' inside a cell?)", n, len(cells)))
			continue
		}
		m := cellPath.FindStringSubmatch(strings.TrimSpace(cells[0]))
		if m == nil {
			errs = append(errs, fmt.Errorf("ARCHITECTURE.md:%d: the package cell %q is not one `path`", n, strings.TrimSpace(cells[0])))
			continue
		}
		r := &rule{pkg: m[1], line: n}
		if _, dup := rules[r.pkg]; dup {
			errs = append(errs, fmt.Errorf("ARCHITECTURE.md:%d: %s has two rows", n, r.pkg))
			continue
		}
		may, never, hasNever := strings.Cut(cells[2], "— never")
		var err error
		if strings.TrimSpace(may) != "stdlib" {
			if r.allowed, err = parsePaths(may); err != nil {
				errs = append(errs, fmt.Errorf("ARCHITECTURE.md:%d: may import of %s: %w (want \"stdlib\" or `path`, `path`, ...)", n, r.pkg, err))
				continue
			}
		}
		if hasNever {
			if r.never, err = parsePaths(never); err != nil {
				errs = append(errs, fmt.Errorf("ARCHITECTURE.md:%d: never of %s: %w", n, r.pkg, err))
				continue
			}
		}
		rules[r.pkg] = r
	}
	if len(rules) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("ARCHITECTURE.md has no package table under \"## Packages\""))
	}
	return rules, errors.Join(errs...)
}

func parsePaths(s string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(s, ",") {
		m := cellPath.FindStringSubmatch(strings.TrimSpace(item))
		if m == nil {
			return nil, fmt.Errorf("%q is not a `path`", strings.TrimSpace(item))
		}
		if slices.Contains(out, m[1]) {
			return nil, fmt.Errorf("%s is listed twice", m[1])
		}
		out = append(out, m[1])
	}
	return out, nil
}

// thirdParty reports whether an import path is outside the standard library
// and the module: its first element has a dot.
func thirdParty(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return strings.Contains(first, ".") && p != module && !strings.HasPrefix(p, module+"/")
}

func rel(p string) (string, bool) {
	return strings.CutPrefix(p, module+"/")
}

// imports is what a package's row governs: its build imports, or for a
// package made of tests only (test/e2e, ...) its tests' imports.
func imports(p *pkg) []string {
	if len(p.GoFiles)+len(p.CgoFiles) > 0 {
		return p.Imports
	}
	var out []string
	for _, i := range append(slices.Clone(p.TestImports), p.XTestImports...) {
		if i != p.ImportPath && !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	return out
}

// check returns one error per broken rule, naming the row to edit.
func check(rules map[string]*rule, pkgs []*pkg) []error {
	var errs []error
	byPath := map[string]*pkg{}
	ours := map[string]*pkg{}
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
		if r, ok := rel(p.ImportPath); ok {
			ours[r] = p
		}
	}
	for name := range ours {
		if rules[name] == nil {
			errs = append(errs, fmt.Errorf("package %s has no row in ARCHITECTURE.md's package table: add one (job, may import)", name))
		}
	}
	for _, r := range sortedRules(rules) {
		p := ours[r.pkg]
		if p == nil {
			errs = append(errs, fmt.Errorf("ARCHITECTURE.md:%d: %s is not a package of the module: remove or rename the row", r.line, r.pkg))
			continue
		}
		used := map[string]bool{}
		for _, imp := range imports(p) {
			if r2, ok := rel(imp); ok {
				if slices.Contains(r.allowed, r2) {
					used[r2] = true
				} else {
					errs = append(errs, fmt.Errorf("%s imports %s, which ARCHITECTURE.md:%d does not allow", r.pkg, r2, r.line))
				}
				continue
			}
			if !thirdParty(imp) {
				continue
			}
			i := slices.IndexFunc(r.allowed, func(m string) bool { return imp == m || strings.HasPrefix(imp, m+"/") })
			if i < 0 {
				errs = append(errs, fmt.Errorf("%s imports %s, whose module ARCHITECTURE.md:%d does not allow", r.pkg, imp, r.line))
				continue
			}
			used[r.allowed[i]] = true
		}
		for _, a := range r.allowed {
			if !used[a] {
				errs = append(errs, fmt.Errorf("ARCHITECTURE.md:%d lets %s import %s, which it does not: remove it", r.line, r.pkg, a))
			}
		}
		for _, n := range r.never {
			if ours[n] == nil {
				errs = append(errs, fmt.Errorf("ARCHITECTURE.md:%d: never %s: not a package of the module", r.line, n))
			}
			for _, d := range p.Deps {
				if rd, ok := rel(d); ok && (rd == n || strings.HasPrefix(rd, n+"/")) {
					errs = append(errs, fmt.Errorf("%s depends on %s (%s), which ARCHITECTURE.md:%d says it never may",
						r.pkg, rd, strings.Join(chain(byPath, p.ImportPath, d), " → "), r.line))
				}
			}
		}
	}
	return errs
}

// chain is a shortest import path from one package to another, in
// module-relative names.
func chain(byPath map[string]*pkg, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			var out []string
			for c := to; c != ""; c = prev[c] {
				r, _ := rel(c)
				out = append([]string{r}, out...)
			}
			return out
		}
		if p := byPath[cur]; p != nil {
			for _, i := range p.Imports {
				if _, seen := prev[i]; !seen {
					prev[i] = cur
					queue = append(queue, i)
				}
			}
		}
	}
	return []string{from, "…", to}
}

func sortedRules(rules map[string]*rule) []*rule {
	out := make([]*rule, 0, len(rules))
	for _, r := range rules {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *rule) int { return a.line - b.line })
	return out
}

// moduleRoot is the directory holding go.mod, above the test's directory.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// goList runs `go list -deps -json` over the whole module, with the build
// tags of on-demand packages so that they are checked too.
func goList(t *testing.T, root string) []*pkg {
	cmd := exec.Command("go", "list", "-tags", "oracle", "-deps", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []*pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestImportsFollowArchitectureMD is the architecture test proper.
func TestImportsFollowArchitectureMD(t *testing.T) {
	root := moduleRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := parseTable(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range check(rules, goList(t, root)) {
		t.Error(err)
	}
}

// TestCheckerCatchesEachBreak feeds the checker a small module with one
// break of each kind, so the architecture test is known to fail when the
// code or the table goes wrong.
func TestCheckerCatchesEachBreak(t *testing.T) {
	m := func(s string) string { return module + "/" + s }
	table := "# x\n\n## Packages\n\n| package | job | may import |\n|---|---|---|\n" +
		"| `internal/lb` | domain | stdlib |\n" +
		"| `internal/store` | store | `internal/lb` |\n" +
		"| `internal/agent` | node | `internal/dataplane` — never `internal/store`, `internal/nowhere` |\n" +
		"| `internal/dataplane` | contract | `internal/lb`, `golang.org/x/net` |\n" +
		"| `internal/gone` | stale | stdlib |\n" +
		"\n## Next\n\n| `internal/ignored` | x | y |\n"
	rules, err := parseTable(table)
	if err != nil {
		t.Fatal(err)
	}
	pkgs := []*pkg{
		{ImportPath: m("internal/lb"), GoFiles: []string{"a.go"}, Imports: []string{"fmt", "github.com/evil/lib"}},
		{ImportPath: m("internal/store"), GoFiles: []string{"a.go"}, Imports: []string{m("internal/lb"), m("internal/agent")}},
		{ImportPath: m("internal/agent"), GoFiles: []string{"a.go"}, Imports: []string{m("internal/dataplane")},
			Deps: []string{m("internal/dataplane"), m("internal/lb"), m("internal/store/sqlstore")}},
		{ImportPath: m("internal/dataplane"), GoFiles: []string{"a.go"}, Imports: []string{"golang.org/x/net/icmp", m("internal/store/sqlstore")}},
		{ImportPath: m("internal/store/sqlstore"), GoFiles: []string{"a.go"}},
		{ImportPath: m("test/e2e"), TestImports: []string{m("internal/servertest")}},
	}
	got := check(rules, pkgs)
	want := []string{
		"package internal/store/sqlstore has no row",
		"package test/e2e has no row",
		"ARCHITECTURE.md:11: internal/gone is not a package of the module",
		"internal/lb imports github.com/evil/lib, whose module ARCHITECTURE.md:7 does not allow",
		"internal/store imports internal/agent, which ARCHITECTURE.md:8 does not allow",
		"internal/dataplane imports internal/store/sqlstore, which ARCHITECTURE.md:10 does not allow",
		"ARCHITECTURE.md:10 lets internal/dataplane import internal/lb, which it does not",
		"internal/agent depends on internal/store/sqlstore (internal/agent → internal/dataplane → internal/store/sqlstore), which ARCHITECTURE.md:9 says it never may",
		"ARCHITECTURE.md:9: never internal/nowhere: not a package of the module",
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(e error) bool { return strings.Contains(e.Error(), w) }) {
			t.Errorf("missing error %q", w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(got), len(want), errors.Join(got...))
	}

	for _, bad := range []string{
		"| `internal/lb` | x | stdlib only |",
		"| `internal/lb` | x | lb, store |",
		"| internal/lb | x | stdlib |",
		"| `internal/lb` | x | `internal/a` — never |",
		"| `internal/lb` | x | `a`, `a` |",
		"| `internal/lb` | x |",
	} {
		if _, err := parseTable("## Packages\n\n" + bad + "\n"); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
}
