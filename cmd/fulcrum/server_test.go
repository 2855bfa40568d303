package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// TestServerRefusesKeyRotationShorterThanHalfTheTokenLife: the ring keeps
// three keys, so a rotation period under half the token lifetime would
// drop keys of live tokens; the server refuses to start with one.
func TestServerRefusesKeyRotationShorterThanHalfTheTokenLife(t *testing.T) {
	for _, args := range [][]string{
		{"--token-key-rotation", "1h"},
		{"--token-key-rotation", "-1s"},
		{"--token-expiry", "10h", "--token-key-rotation", "4h"},
	} {
		all := append([]string{"--data-dir", filepath.Join(t.TempDir(), "d"), "--listen", "127.0.0.1:0"}, args...)
		err := runServer(context.Background(), all, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--token-key-rotation") {
			t.Errorf("%v: %v, want a --token-key-rotation error", args, err)
		}
	}
}

// TestServerPprofIsLoopbackOnly: --pprof serves the profiler only on a
// loopback address; another one is refused before the server starts.
func TestServerPprofIsLoopbackOnly(t *testing.T) {
	args := []string{"--data-dir", filepath.Join(t.TempDir(), "d"), "--listen", "127.0.0.1:0", "--pprof", "192.0.2.1:6060"}
	err := runServer(context.Background(), args, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--pprof must be a loopback address") {
		t.Errorf("--pprof 192.0.2.1:6060: %v, want a loopback error", err)
	}
}
