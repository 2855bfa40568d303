package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/agentapi"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/pki"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"github.com/fulcrumlb/fulcrum/internal/store/sqlstore"
)

// cli runs one of the agent commands on a data directory.
func cli(t *testing.T, run func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) error, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func tokenCmd(ctx context.Context, args []string, o, e *bytes.Buffer) error {
	return runAgentToken(ctx, args, o, e)
}
func revokeCmd(ctx context.Context, args []string, o, e *bytes.Buffer) error {
	return runAgentRevoke(ctx, args, o, e)
}

func withStore(t *testing.T, dataDir string, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dataDir, "fulcrum.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Update(ctx, func(tx store.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
}

// storedToken returns the stored join token printed in stdout.
func storedToken(t *testing.T, dataDir, stdout string) *lb.JoinToken {
	t.Helper()
	tok, err := pki.ParseJoinToken(stdout)
	if err != nil {
		t.Fatalf("%q: %v", stdout, err)
	}
	var out *lb.JoinToken
	withStore(t, dataDir, func(ctx context.Context, tx store.Tx) error {
		out, err = tx.JoinTokens().Get(ctx, tok.ID)
		return err
	})
	return out
}

func TestAgentTokenPlacementAndReservedNames(t *testing.T) {
	dd := t.TempDir()
	if err := agentapi.RecordEmbeddedName(dd, "core"); err != nil {
		t.Fatal(err)
	}
	// The placement flags bind the token.
	out, stderr, err := cli(t, tokenCmd, "--data-dir", dd, "--availability-zone", "az1", "--group", "gold")
	if err != nil {
		t.Fatal(err)
	}
	if tok := storedToken(t, dd, out); tok.AvailabilityZone != "az1" || tok.Group != "gold" {
		t.Errorf("stored token %+v, want az1/gold", tok)
	}
	if !strings.Contains(stderr, `enrolls its agent in availability zone "az1", group "gold"`) {
		t.Errorf("stderr does not say the placement:\n%s", stderr)
	}
	// Defaults: the default zone and group.
	out, _, err = cli(t, tokenCmd, "--data-dir", dd)
	if err != nil {
		t.Fatal(err)
	}
	if tok := storedToken(t, dd, out); tok.AvailabilityZone != "" || tok.Group != "" {
		t.Errorf("default token %+v", tok)
	}
	// --replace keeps what it does not change, and says what moves.
	withStore(t, dd, func(ctx context.Context, tx store.Tx) error {
		return tx.Agents().Create(ctx, &lb.Agent{ID: "a1", Name: "node-1", AvailabilityZone: "az1", Group: "gold", CertSerial: "01",
			Status: lb.AgentUp, Times: lb.Times{CreatedAt: time.Now()}})
	})
	out, stderr, err = cli(t, tokenCmd, "--data-dir", dd, "--name", "node-1", "--replace", "--group", "")
	if err != nil {
		t.Fatal(err)
	}
	if tok := storedToken(t, dd, out); tok.AvailabilityZone != "az1" || tok.Group != "" {
		t.Errorf("replace with --group '': %+v, want az1 and the default group", tok)
	}
	if !strings.Contains(stderr, `moves from availability zone "az1", group "gold" to availability zone "az1", group ""`) {
		t.Errorf("stderr does not say the move:\n%s", stderr)
	}
	// Refusals: the embedded agent's names, bad placement values.
	for _, tc := range []struct {
		name  string
		run   func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) error
		args  []string
		usage bool
		want  string
	}{
		{"token for the recorded embedded name", tokenCmd, []string{"--name", "core"}, false, "embedded agent"},
		{"replace the recorded embedded name", tokenCmd, []string{"--name", "core", "--replace"}, false, "embedded agent"},
		{"replace the default embedded name", tokenCmd, []string{"--name", "embedded", "--replace"}, false, "embedded agent"},
		{"revoke the recorded embedded name", revokeCmd, []string{"--name", "core"}, true, "embedded agent"},
		{"revoke the default embedded name", revokeCmd, []string{"--name", "embedded"}, true, "embedded agent"},
		{"zone with a control character", tokenCmd, []string{"--availability-zone", "a\x01"}, true, "--availability-zone"},
		{"group too long", tokenCmd, []string{"--group", strings.Repeat("g", 256)}, true, "--group"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := cli(t, tc.run, append([]string{"--data-dir", dd}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, errUsage) != tc.usage {
				t.Fatalf("%v: %v; want an error with %q (usage %v)", tc.args, err, tc.want, tc.usage)
			}
		})
	}
	if _, _, err := cli(t, revokeCmd, "--data-dir", dd, "--name", "node-1"); err != nil {
		t.Errorf("revoke node-1: %v", err)
	}
}

// TestAgentPprofIsLoopbackOnly: the agent's --pprof serves the profiler only
// on a loopback address; another one is refused before the agent starts.
func TestAgentPprofIsLoopbackOnly(t *testing.T) {
	args := []string{"--data-dir", filepath.Join(t.TempDir(), "a"), "--name", "a1", "--pprof", "192.0.2.1:6061"}
	err := runAgent(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--pprof must be a loopback address") {
		t.Errorf("--pprof 192.0.2.1:6061: %v, want a loopback error", err)
	}
}
