package vrrplab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Request is one client request to the VIP: a new TCP connection, GET /, the answer.
type Request struct {
	Start, End time.Time
	// Served names the host that answered.
	Served string
	Err    error
}

// RequestTimeout bounds one request: a request fails when it gets no 200 within it. One
// second is Linux's initial SYN retransmission timeout, so a request whose SYN was lost
// (sent while no host held the VIP) fails.
const RequestTimeout = time.Second

// request runs one request from the client host.
func (l *Lab) request(ctx context.Context, timeout time.Duration) Request {
	r := Request{Start: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := l.Client.Dial(ctx, nil, "tcp", netip.AddrPortFrom(l.VIP, Port).String())
	if err != nil {
		r.End, r.Err = time.Now(), err
		return r
	}
	defer c.Close()
	c.SetDeadline(r.Start.Add(timeout))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n"); err != nil {
		r.End, r.Err = time.Now(), err
		return r
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		r.End, r.Err = time.Now(), err
		return r
	}
	body, err := io.ReadAll(resp.Body)
	r.End = time.Now()
	switch {
	case err != nil:
		r.Err = err
	case resp.StatusCode != http.StatusOK:
		r.Err = fmt.Errorf("status %d", resp.StatusCode)
	default:
		r.Served = string(body)
	}
	return r
}

// Probe opens a new connection to the VIP every Interval until stopped, or until its bounds
// (MaxRequests, MaxDuration) are reached.
type Probe struct {
	lab    *Lab
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup

	mu   sync.Mutex
	reqs []Request
}

// Probe bounds.
const (
	ProbeInterval    = 5 * time.Millisecond
	ProbeMaxDuration = 60 * time.Second
	ProbeMaxRequests = int(ProbeMaxDuration / ProbeInterval)
)

// StartProbe starts the client.
func (l *Lab) StartProbe(ctx context.Context) *Probe {
	ctx, cancel := context.WithTimeout(ctx, ProbeMaxDuration)
	p := &Probe{lab: l, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(ProbeInterval)
		defer t.Stop()
		for range ProbeMaxRequests {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				r := l.request(context.Background(), RequestTimeout)
				p.mu.Lock()
				p.reqs = append(p.reqs, r)
				p.mu.Unlock()
			}()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// Stop ends the probe, waits for requests in flight and returns every request, by start
// time.
func (p *Probe) Stop() []Request {
	p.cancel()
	<-p.done
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Clone(p.reqs)
	slices.SortFunc(out, func(a, b Request) int { return a.Start.Compare(b.Start) })
	return out
}

// Served counts the consecutive latest requests (by start time) that host answered, among
// those that have completed.
func (p *Probe) Served(host string, since time.Time) int {
	p.mu.Lock()
	reqs := slices.Clone(p.reqs)
	p.mu.Unlock()
	slices.SortFunc(reqs, func(a, b Request) int { return a.Start.Compare(b.Start) })
	n := 0
	for i := len(reqs) - 1; i >= 0; i-- {
		r := reqs[i]
		if r.Start.Before(since) {
			break
		}
		if r.Err != nil || r.Served != host {
			if n > 0 {
				break
			}
			continue
		}
		n++
	}
	return n
}

// Result is what the client saw of one fault.
type Result struct {
	Fault    Fault
	Requests int
	// Failed requests: errors (refused, reset) and requests without an answer within
	// RequestTimeout.
	Failed int
	// Outage is the longest run of consecutive failed requests (by start time), from the
	// first one's start to the last one's plus one probe interval: how long new connections
	// kept failing. Zero when none failed. (Measured on starts rather than on completions, so
	// that a stall of the client itself on a loaded machine, when it starts no requests, does
	// not count; and on runs, so that a lone request that timed out on a starved machine
	// seconds after the switch does not stretch the switch's outage: FailSpan has it.)
	Outage time.Duration
	// FailSpan is the span of all the failed requests' start times plus one probe interval
	// (Outage when they all failed in one run).
	FailSpan time.Duration
	// ClientStall is the longest time between two request starts (ProbeInterval when the
	// client kept up).
	ClientStall time.Duration
	// From and To name the MASTER before the fault and the host that served at the end.
	From, To string
	// Errors counts the failed requests by cause.
	Errors map[string]int
}

func (r Result) String() string {
	return fmt.Sprintf("%-18s %s→%s outage %4.0f ms, %3d failed of %4d over %.0f ms (client stall %.0f ms)", r.Fault, r.From, r.To, ms(r.Outage), r.Failed, r.Requests, ms(r.FailSpan), ms(r.ClientStall))
}

// Analyze computes a Result from a probe's requests (sorted by start).
func Analyze(reqs []Request) Result {
	res := Result{Requests: len(reqs), Errors: map[string]int{}}
	var first, last, runStart time.Time
	for i, r := range reqs {
		if i > 0 {
			res.ClientStall = max(res.ClientStall, r.Start.Sub(reqs[i-1].Start))
		}
		if r.Err == nil {
			runStart = time.Time{}
			continue
		}
		res.Failed++
		res.Errors[shortErr(r.Err)]++
		if first.IsZero() {
			first = r.Start
		}
		last = r.Start
		if runStart.IsZero() {
			runStart = r.Start
		}
		res.Outage = max(res.Outage, r.Start.Sub(runStart)+ProbeInterval)
	}
	if res.Failed > 0 {
		res.FailSpan = last.Sub(first) + ProbeInterval
	}
	return res
}

// shortErr keeps the end of an error's text, where the cause is ("connection refused", "i/o
// timeout").
func shortErr(err error) string {
	s := err.Error()
	for _, k := range []string{"connection refused", "connection reset by peer", "i/o timeout", "no route to host", "EOF", "deadline exceeded"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	if len(s) > 60 {
		s = s[len(s)-60:]
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
