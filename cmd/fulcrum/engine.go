package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
	"github.com/fulcrumlb/fulcrum/internal/engine"
	"github.com/fulcrumlb/fulcrum/internal/engine/procs"
	"github.com/fulcrumlb/fulcrum/internal/engine/proxy"
)

// runEngine runs the native engine standalone from a data-plane config file, re-reading it
// on SIGHUP, until ctx ends.
func runEngine(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	defer signal.Stop(reload)
	return engineMain(ctx, args, stderr, reload)
}

// engineMain is runEngine with the reload trigger injected (for tests).
func engineMain(ctx context.Context, args []string, stderr io.Writer, reload <-chan os.Signal) error {
	fs := flag.NewFlagSet("engine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "data-plane config file (JSON, see docs/dataplane.md)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6060)")
	freeBind := fs.Bool("freebind", false, "bind listener addresses not configured on this host (IP_FREEBIND)")
	accessLog := fs.String("access-log", "", accessLogUsage)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: fulcrum engine --config FILE [flags]")
		fmt.Fprintln(stderr, "\nRuns the native proxy engine from a data-plane config; SIGHUP re-reads the file.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: engine needs --config FILE", errUsage)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level: %v", errUsage, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	if *pprofAddr != "" {
		stop, err := servePprof(*pprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
	}

	al, err := openAccessLog(*accessLog, log)
	if err != nil {
		return err
	}
	if al != nil {
		defer al.Close()
	}
	e := engine.New(engine.Options{Logger: log, FreeBind: *freeBind, Proxy: proxy.Options{AccessLog: al}})
	defer e.Close()
	// With FULCRUM_ENGINE_SIZE_PROCS=1, GOMAXPROCS sized to the load (docs/dataplane.md)
	// until the engine returns.
	defer procs.Start(ctx, procs.Options{Logger: log})()
	load := func() error {
		data, err := os.ReadFile(*cfgPath)
		if err != nil {
			return fmt.Errorf("read config: %w", err)
		}
		cfg, err := dataplane.Decode(data)
		if err != nil {
			return err
		}
		before := e.Version()
		if err := e.Apply(ctx, cfg); err != nil {
			return err
		}
		if before == cfg.Version && before != 0 {
			log.Info("config unchanged", "version", cfg.Version)
			return nil
		}
		log.Info("config applied", "version", cfg.Version, "listeners", len(cfg.Listeners), "pools", len(cfg.Pools), "addrs", e.Addrs())
		return nil
	}
	if err := load(); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			return nil
		case <-reload:
			log.Info("reloading config", "file", *cfgPath)
			if err := load(); err != nil {
				log.Error("reload refused; the previous config keeps serving", "err", err)
			}
		}
	}
}

// servePprof serves the profiling endpoints on a loopback address.
func servePprof(addr string, log *slog.Logger) (func(), error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: --pprof: %v", errUsage, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%w: --pprof must be a loopback address", errUsage)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof server", "err", err)
		}
	}()
	log.Info("pprof listening", "addr", ln.Addr().String())
	return func() { srv.Close(); <-done }, nil
}
