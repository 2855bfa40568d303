package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// version and commit are set at link time by release builds:
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=$(git rev-parse HEAD)" ./cmd/fulcrum
//
// Left empty, they come from the build information Go records (the module
// version of `go install …@v1.2.0`, the VCS revision of `go build` in a
// checkout); `go run` and builds outside a checkout say "devel"/"unknown".
var (
	version string
	commit  string
)

// buildInfo is what `fulcrum version` reports.
type buildInfo struct {
	Version  string // v1.2.0, or devel
	Commit   string // VCS revision, or unknown
	Time     string // commit time, if known
	Modified bool   // built from a tree with uncommitted changes
	Go       string // go1.26.0
	Platform string // linux/amd64
	API      string // Octavia API version answered as CURRENT
	Schema   int    // newest database migration of SQLite
	SchemaPG int    // and of PostgreSQL (the same unless a migration exists for one only)
}

// readBuildInfo combines the link-time variables with Go's build
// information (bi may be nil).
func readBuildInfo(bi *debug.BuildInfo, ldVersion, ldCommit string) buildInfo {
	out := buildInfo{Version: "devel", Commit: "unknown", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		API: apiserver.CurrentVersion(), Schema: sqlstore.SchemaVersion("sqlite"),
		SchemaPG: sqlstore.SchemaVersion("postgres")}
	if bi != nil {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			out.Version = v
		}
		if bi.GoVersion != "" {
			out.Go = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				out.Commit = s.Value
			case "vcs.time":
				out.Time = s.Value
			case "vcs.modified":
				out.Modified = s.Value == "true"
			}
		}
	}
	if ldVersion != "" {
		out.Version = ldVersion
	}
	if ldCommit != "" {
		out.Commit = ldCommit
	}
	return out
}

// currentBuild is this binary's buildInfo.
func currentBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return readBuildInfo(bi, version, commit)
}

// short is "fulcrum v1.2.0 (commit abc123, schema 55)" for messages.
func (b buildInfo) short() string {
	c := b.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	return fmt.Sprintf("fulcrum %s (commit %s, schema version %d)", b.Version, c, b.Schema)
}

func (b buildInfo) print(w io.Writer) {
	commit := b.Commit
	if b.Time != "" {
		commit += " (" + b.Time + ")"
	}
	if b.Modified {
		commit += " with uncommitted changes"
	}
	fmt.Fprintf(w, "fulcrum %s\n", b.Version)
	fmt.Fprintf(w, "  commit:      %s\n", commit)
	fmt.Fprintf(w, "  go:          %s %s\n", b.Go, b.Platform)
	fmt.Fprintf(w, "  api:         Octavia %s\n", b.API)
	if b.Schema == b.SchemaPG {
		fmt.Fprintf(w, "  schema:      %d (database migrations, SQLite and PostgreSQL)\n", b.Schema)
	} else {
		fmt.Fprintf(w, "  schema:      %d (SQLite), %d (PostgreSQL)\n", b.Schema, b.SchemaPG)
	}
}

// runVersion is `fulcrum version`.
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: fulcrum version (or fulcrum --version)\n\nPrints the version, the commit, the Go version, the Octavia API version and the database schema version.")
		if args[0] == "-h" || args[0] == "--help" {
			return flag.ErrHelp
		}
		return fmt.Errorf("%w: version takes no arguments", errUsage)
	}
	currentBuild().print(stdout)
	return nil
}

// refuseNewerSchema names this binary in the store's refusal of a database
// a newer fulcrum migrated.
func refuseNewerSchema(err error) error {
	var newer *sqlstore.NewerSchemaError
	if errors.As(err, &newer) {
		return fmt.Errorf("%w (this is %s)", err, currentBuild().short())
	}
	return err
}
