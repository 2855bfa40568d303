package main

import (
	"os"
	"os/exec"
)

func execOutput(bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	return string(out), err
}

func startAgent(bin, server, token, dir string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, "agent", "--server", server, "--join-token", token, "--data-dir", dir, "--name", "bench-agent", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd, cmd.Start()
}
