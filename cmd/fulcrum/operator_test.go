package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// TestSampleConfigsLoad: the shipped samples are real YAML (groups, lists)
// that the real commands load, and they mean what their comments say.
func TestSampleConfigsLoad(t *testing.T) {
	cfg, err := loadServerConfig([]string{"--config", "../../dist/fulcrum.yaml"}, io.Discard)
	if err != nil {
		t.Fatalf("dist/fulcrum.yaml: %v", err)
	}
	if cfg.DataDir != "/var/lib/fulcrum" || cfg.LogFormat != "json" || cfg.AgentListen != "127.0.0.1:9443" ||
		cfg.Identity.TokenExpiry.Hours() != 24 || len(cfg.API.MemberAddressDeny) != 1 || cfg.API.MemberAddressDeny[0] != "169.254.169.254/32" ||
		len(cfg.API.MemberAddressAllow) != 0 {
		t.Errorf("dist/fulcrum.yaml loaded as %+v", cfg)
	}
	// The agent's sample: the command loads the file, then stops at the
	// --name given on the command line (so it never starts an agent).
	err = runAgent(context.Background(), []string{"--config", "../../dist/fulcrum-agent.yaml", "--name", "Not A Name"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--name") {
		t.Fatalf("dist/fulcrum-agent.yaml: %v, want the file to load and --name to be refused", err)
	}
}

// TestVersion: `fulcrum version` and `fulcrum --version` print the
// version, commit, Go version, API version and schema version.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out bytes.Buffer
		if err := dispatch(context.Background(), args, &out, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, want := range []string{"fulcrum ", "commit:", runtime.Version(), "Octavia " + apiserver.CurrentVersion(),
			fmt.Sprintf("schema:      %d ", sqlstore.SchemaVersion("sqlite"))} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v printed %q, missing %q", args, out.String(), want)
			}
		}
	}
	if apiserver.CurrentVersion() != "v2.30" {
		t.Errorf("API version %q", apiserver.CurrentVersion())
	}
	if err := dispatch(context.Background(), []string{"version", "extra"}, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("version extra: %v, want a usage error", err)
	}
	if err := dispatch(context.Background(), []string{"version", "-h"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("version -h: %v, want help", err)
	}
}

// TestReadBuildInfo: link-time values win; Go's build information fills
// in the rest; `go run` (no module version, no VCS data) says devel.
func TestReadBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-01T00:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	got := readBuildInfo(bi, "", "")
	if got.Version != "v1.4.0" || got.Commit != "0123456789abcdef0123" || !got.Modified || got.Go != "go1.99.1" || got.Time == "" {
		t.Errorf("from build info: %+v", got)
	}
	got = readBuildInfo(bi, "v2.0.0", "feedface")
	if got.Version != "v2.0.0" || got.Commit != "feedface" {
		t.Errorf("ldflags: %+v", got)
	}
	got = readBuildInfo(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "", "")
	if got.Version != "devel" || got.Commit != "unknown" || got.Go != runtime.Version() {
		t.Errorf("go run: %+v", got)
	}
	var out bytes.Buffer
	readBuildInfo(bi, "", "").print(&out)
	if !strings.Contains(out.String(), "0123456789abcdef0123 (2026-12-01T00:00:00Z) with uncommitted changes") {
		t.Errorf("printed %q", out.String())
	}
}

// TestServerRefusesNewerDatabase: `fulcrum server` (and every command that
// opens the database) on a database a newer binary migrated refuses to
// start, naming both schema versions and this binary.
func TestServerRefusesNewerDatabase(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "fulcrum.db")
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: dbPath})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	binary := sqlstore.SchemaVersion("sqlite")
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)`, binary+5, "future.sql"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, args := range [][]string{
		{"server", "--data-dir", dir, "--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0", "--auth", "noauth"},
		{"agent-token", "--data-dir", dir},
		{"agent-revoke", "--data-dir", dir, "--name", "x"},
		{"backup", "--data-dir", dir, "--to", filepath.Join(t.TempDir(), "b")},
	} {
		err = dispatch(context.Background(), args, io.Discard, io.Discard)
		if err == nil {
			t.Fatalf("%s ran on a database of a newer schema", args[0])
		}
		for _, want := range []string{fmt.Sprintf("schema is version %d (future.sql)", binary+5), fmt.Sprintf("schema version %d", binary), "this is fulcrum "} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", args[0], err, want)
			}
		}
	}
}

// TestGeneratedFilesInSync: the completion script and the manual page in
// dist/ are what the commands' flag definitions generate today.
func TestGeneratedFilesInSync(t *testing.T) {
	for _, f := range []struct {
		file string
		args []string
	}{
		{"../../dist/completion/fulcrum.bash", []string{"completion", "bash"}},
		{"../../dist/man/fulcrum.1", []string{"man"}},
	} {
		var out bytes.Buffer
		if err := dispatch(context.Background(), f.args, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		have, err := os.ReadFile(f.file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(have, out.Bytes()) {
			t.Errorf("%s is stale: run go generate ./cmd/fulcrum (fulcrum %s)", f.file, strings.Join(f.args, " "))
		}
	}
	var out bytes.Buffer
	if err := dispatch(context.Background(), []string{"man"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	// Every flag of the server appears, once, with its default.
	for _, want := range []string{`.BI \-\-agent\-dead\-after " duration"`, `(default 3s; env FULCRUM_AGENT_DEAD_AFTER)`,
		`.B \-\-embedded\-agent`, `.SS fulcrum backup`, `\-\-to " string"`, "unique agent name (default: the host name) (env FULCRUM_NAME)"} {
		if strings.Count(out.String(), want) < 1 {
			t.Errorf("man page lacks %q", want)
		}
	}
}

// TestBashCompletion: the script completes commands and each command's
// own flags in a real bash.
func TestBashCompletion(t *testing.T) {
	script, err := filepath.Abs("../../dist/completion/fulcrum.bash")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	if err := os.Mkdir(filepath.Join(tmp, "data-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "b.backup"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "da-file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"fulcrum", "ba"}, "backup"},
		{[]string{"fulcrum", "--vers"}, "--version"},
		{[]string{"fulcrum", "server", "--agent-dead"}, "--agent-dead-after"},
		{[]string{"fulcrum", "agent", "--keep"}, "--keepalived"},
		{[]string{"fulcrum", "restore", "--fr"}, "--from"},
		{[]string{"fulcrum", "engine", "--ppr"}, "--pprof"},
		{[]string{"fulcrum", "backup", "--data-dir", filepath.Join(tmp, "da")}, filepath.Join(tmp, "data-dir")},
		{[]string{"fulcrum", "restore", "--from", filepath.Join(tmp, "b")}, filepath.Join(tmp, "b.backup")},
	} {
		words := make([]string, len(tc.words))
		for i, w := range tc.words {
			words[i] = fmt.Sprintf("%q", w)
		}
		cmd := exec.Command("bash", "--norc", "--noprofile", "-c", fmt.Sprintf(`source %q; COMP_WORDS=(%s); COMP_CWORD=%d; _fulcrum; printf '%%s\n' "${COMPREPLY[@]}"`,
			script, strings.Join(words, " "), len(tc.words)-1))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("%q completes to %q, want %q", tc.words, got, tc.want)
		}
	}
}

// TestSystemdUnitsVerify: systemd's own checker accepts both units (with
// the binary and the manual page where the units expect them).
func TestSystemdUnitsVerify(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "man", "man1"), 0o755); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("../../dist/man/fulcrum.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "man", "man1", "fulcrum.1"), page, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "fulcrum")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var units []string
	for _, u := range []string{"fulcrum.service", "fulcrum-agent.service"} {
		body, err := os.ReadFile(filepath.Join("../../dist/systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		text := string(body)
		for _, want := range []string{"NoNewPrivileges=true", "ProtectSystem=strict", "User=fulcrum", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "StateDirectoryMode=0700"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %s", u, want)
			}
		}
		p := filepath.Join(dir, u)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "/usr/local/bin/fulcrum", bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		units = append(units, p)
	}
	if testing.Short() {
		t.Skip("skipped under -short: systemd-analyze (Debian: systemd); test/run runs it")
	}
	cmd := exec.Command("systemd-analyze", append([]string{"verify"}, units...)...)
	cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(dir, "man"))
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestServerHelp: `fulcrum server -h` printed every default twice
// ((default "3s") (default 3s)) and said "L7 Policys"; now each flag and
// each default appears once.
func TestServerHelp(t *testing.T) {
	for _, cmd := range []string{"server", "agent", "agent-token", "backup", "restore"} {
		var out bytes.Buffer
		err := dispatch(context.Background(), []string{cmd, "-h"}, io.Discard, &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s -h: %v", cmd, err)
		}
		text := out.String()
		if strings.Contains(text, "olicys") || strings.Contains(text, `(default "`) {
			t.Errorf("%s -h:\n%s", cmd, text)
		}
		blocks := strings.Split(text, "\n  --")[1:]
		seen := map[string]bool{}
		for _, b := range blocks {
			name, _, _ := strings.Cut(b, "\n")
			name, _, _ = strings.Cut(name, " ")
			if seen[name] {
				t.Errorf("%s -h: --%s listed twice", cmd, name)
			}
			seen[name] = true
			if n := strings.Count(b, "(default "); n > 1 {
				t.Errorf("%s -h: --%s shows %d defaults:\n%s", cmd, name, n, b)
			}
			if n := strings.Count(b, "env FULCRUM_"); n != 1 {
				t.Errorf("%s -h: --%s shows %d environment variables:\n%s", cmd, name, n, b)
			}
		}
		if len(seen) < 3 {
			t.Errorf("%s -h lists %d flags:\n%s", cmd, len(seen), text)
		}
	}
	var out bytes.Buffer
	dispatch(context.Background(), []string{"server", "-h"}, io.Discard, &out)
	for _, want := range []string{"default quota of L7 policies per project", "(default 3s; env FULCRUM_AGENT_DEAD_AFTER)", "\nLoad-balancer quotas:\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("server -h lacks %q", want)
		}
	}
}
