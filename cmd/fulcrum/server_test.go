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
