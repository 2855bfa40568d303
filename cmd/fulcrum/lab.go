package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/netlab"
)

// runLab is `fulcrum lab up|down|exec|list`: hosts as network namespaces on one bridged
// segment (internal/netlab, docs/lab.md).
func runLab(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := func() {
		fmt.Fprintln(stderr, `usage:
  fulcrum lab up [--subnet 198.18.0.0/24] LAB HOST...   create a lab: one namespace per host on one bridge
  fulcrum lab exec LAB HOST [--] COMMAND [ARG...]      run a command inside a host
  fulcrum lab list                                     list the labs on this machine
  fulcrum lab down LAB...                              remove labs (namespaces, processes in them)
  fulcrum lab down --stale                             remove the labs of crashed test runs

Names: a lowercase letter then lowercase letters or digits (LAB up to 16, HOST up to 13).
Addresses come from 198.18.0.0/15 only; host i gets the subnet's address i. Needs root.`)
	}
	if len(args) == 0 {
		usage()
		return errUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage()
		return nil
	case "up":
		return labUp(ctx, args[1:], stdout, stderr, usage)
	case "down":
		return labDown(ctx, args[1:], stdout, stderr, usage)
	case "exec":
		return labExec(ctx, args[1:], stdout, stderr, usage)
	case "list":
		return labList(stdout)
	}
	usage()
	return fmt.Errorf("%w: unknown lab command %q", errUsage, args[0])
}

func labUp(ctx context.Context, args []string, stdout, stderr io.Writer, usage func()) error {
	fs := flag.NewFlagSet("lab up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usage
	subnet := fs.String("subnet", netlab.DefaultSubnet.String(), "the segment's subnet, inside 198.18.0.0/15")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		usage()
		return fmt.Errorf("%w: lab up needs a lab name and at least one host", errUsage)
	}
	p, err := netip.ParsePrefix(*subnet)
	if err != nil {
		return fmt.Errorf("%w: --subnet: %v", errUsage, err)
	}
	l, err := netlab.Create(ctx, netlab.Spec{Name: fs.Arg(0), Hosts: fs.Args()[1:], Subnet: p, Persistent: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lab %s: subnet %s, bridge in namespace %s\n", l.Name, l.Subnet, l.Bridge)
	for _, h := range l.Hosts {
		fmt.Fprintf(stdout, "  %-13s %-15s %s %s\n", h.Name, h.Addr, h.Interface, h.Namespace)
	}
	fmt.Fprintf(stdout, "run a command in a host:  fulcrum lab exec %s %s -- ip addr\n", l.Name, l.Hosts[0].Name)
	fmt.Fprintf(stdout, "remove the lab:           fulcrum lab down %s\n", l.Name)
	return nil
}

func labDown(ctx context.Context, args []string, stdout, stderr io.Writer, usage func()) error {
	fs := flag.NewFlagSet("lab down", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usage
	stale := fs.Bool("stale", false, "remove the labs whose owning process is gone (crashed test runs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *stale {
		if fs.NArg() > 0 {
			return fmt.Errorf("%w: lab down --stale takes no names", errUsage)
		}
		removed, err := netlab.Sweep(ctx)
		for _, n := range removed {
			fmt.Fprintf(stdout, "removed stale lab %s\n", n)
		}
		return err
	}
	if fs.NArg() == 0 {
		usage()
		return fmt.Errorf("%w: lab down needs a lab name (or --stale)", errUsage)
	}
	var errs []error
	for _, n := range fs.Args() {
		if err := netlab.Remove(ctx, n); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(stdout, "removed lab %s\n", n)
	}
	return errors.Join(errs...)
}

func labExec(ctx context.Context, args []string, stdout, stderr io.Writer, usage func()) error {
	if len(args) < 3 || (args[2] == "--" && len(args) < 4) {
		usage()
		return fmt.Errorf("%w: lab exec needs a lab, a host and a command", errUsage)
	}
	h, err := netlab.Lookup(args[0], args[1])
	if err != nil {
		return err
	}
	argv := args[2:]
	if argv[0] == "--" {
		argv = argv[1:]
	}
	cmd := h.Command(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%s in %s: %s", argv[0], h.Namespace, ee.ProcessState)
		}
		return err
	}
	return nil
}

func labList(stdout io.Writer) error {
	labs, err := netlab.List()
	if err != nil {
		return err
	}
	if len(labs) == 0 {
		fmt.Fprintln(stdout, "no labs")
		return nil
	}
	for _, l := range labs {
		fmt.Fprintf(stdout, "%-16s %-22s hosts: %s\n", l.Name, l.State, strings.Join(l.Hosts, " "))
	}
	return nil
}
