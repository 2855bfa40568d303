// Package main is the fulcrum command: the one binary of the fulcrum load-balancer service.
//
//	fulcrum server   control plane (API, controller, health manager) with an embedded agent
//	fulcrum agent    a data-plane node
//	fulcrum engine   the native proxy engine run standalone from a config file
//
// This package holds flags and wiring only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand: it parses its own arguments and runs until ctx ends.
type command struct {
	name  string
	short string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"server", "run the control plane (API, controller) with an embedded agent", runServer},
		{"agent", "run a data-plane node that takes its config from a server", runAgent},
		{"agent-token", "issue a join token (a new agent, or --name X [--replace])", runAgentToken},
		{"agent-revoke", "revoke an agent's certificate", runAgentRevoke},
		{"engine", "run the native proxy engine from a data-plane config file", runEngine},
		{"lab", "hosts as network namespaces on one bridged segment (tests, demos)", runLab},
		{"backup", "write a consistent backup of a server's data dir (database and keys), online", runBackup},
		{"restore", "restore a backup into a new data dir", runRestore},
		{"rotate-secret-key", "new key-encryption key for the key manager's payloads, old keys retired (online)", runRotateSecretKey},
		{"rotate-master-key", "seal the database's keys under a new master key (several servers)", runRotateMasterKey},
		{"version", "print the version, commit, Go version, API and schema versions", runVersion},
		{"completion", "print the bash shell completion script", runCompletion},
		{"man", "print the manual page (roff)", runMan},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fulcrum:", err)
		}
		os.Exit(exitCode(err))
	}
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	if args[0] == "--version" {
		return runVersion(ctx, nil, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: fulcrum <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-17s %s\n", c.name, c.short)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'fulcrum <command> -h' for the flags of a command.")
}
