// Package main is the dataplane command, the data-plane benchmark driver behind bench/run: it starts loopback
// Go backends, runs wrk and a TCP bulk client against the direct path, HAProxy and
// `fulcrum engine` (interleaved, several runs each), measures proxy CPU from /proc, times
// applying 1,000 listeners, and prints medians, ratios and RESULT lines.
//
//	dataplane run    -fulcrum PATH [-runs 3] [-dur 6s]   the whole benchmark
//	dataplane tls    -fulcrum PATH [-runs 3] [-dur 6s]   TERMINATED_HTTPS against HAProxy (bench/tls)
//	dataplane apply  [-n 1000]                           apply time and idle memory (one process)
//	dataplane serve  -http A,B -sink C                   backends only (for manual runs)
//	dataplane bulk   -addr A [-dur 3s]                   TCP bulk throughput to A
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dataplane run|apply|serve [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "run":
		err = runBench(ctx, os.Args[2:])
	case "tls":
		err = runTLSBench(ctx, os.Args[2:])
	case "apply":
		err = runApply(ctx, os.Args[2:])
	case "serve":
		err = runServe(ctx, os.Args[2:])
	case "bulk":
		fs := flag.NewFlagSet("bulk", flag.ExitOnError)
		addr := fs.String("addr", "127.0.0.1:18091", "address to send to")
		d := fs.Duration("dur", 3*time.Second, "duration")
		fs.Parse(os.Args[2:])
		var g float64
		if g, err = bulk(*addr, *d, 200<<30); err == nil {
			fmt.Printf("%.2f GB/s\n", g)
		}
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dataplane:", err)
		os.Exit(1)
	}
}

func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	httpAddrs := fs.String("http", "127.0.0.1:18081,127.0.0.1:18082", "HTTP backend addresses")
	sink := fs.String("sink", "127.0.0.1:18091", "TCP sink address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stop, err := startBackends(strings.Split(*httpAddrs, ","), *sink)
	if err != nil {
		return err
	}
	defer stop()
	<-ctx.Done()
	return nil
}

// startBackends starts HTTP backends answering "ok" (2 bytes) and a TCP sink.
func startBackends(httpAddrs []string, sink string) (func(), error) {
	var closers []func()
	stop := func() {
		for _, c := range closers {
			c()
		}
	}
	for _, a := range httpAddrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			stop()
			return nil, err
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("ok"))
		})}
		go srv.Serve(ln)
		closers = append(closers, func() { srv.Close() })
	}
	ln, err := net.Listen("tcp", sink)
	if err != nil {
		stop()
		return nil, err
	}
	closers = append(closers, func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1<<20)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return stop, nil
}

// bulk writes to addr for dur (at most maxBytes), half-closes and waits for the peer to
// close, and returns the throughput in GB/s.
func bulk(addr string, dur time.Duration, maxBytes int64) (float64, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	start := time.Now()
	end := start.Add(dur)
	var total int64
	c.SetDeadline(end.Add(30 * time.Second))
	for time.Now().Before(end) && total < maxBytes {
		n, err := c.Write(buf)
		total += int64(n)
		if err != nil {
			return 0, err
		}
	}
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c) // returns when the sink closes: everything arrived
	return float64(total) / time.Since(start).Seconds() / 1e9, nil
}
