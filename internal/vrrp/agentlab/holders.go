package agentlab

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/vrrp/vrrplab"
)

// Holders watches which agents have the VIP plumbed, every HoldersPoll, to measure how long
// two of them hold it at once (the split-brain rule, docs/active-standby.md). Bounded:
// it stops by itself after HoldersMax.
type Holders struct {
	agents []*Agent
	stop   chan struct{}
	done   chan struct{}

	mu    sync.Mutex
	spans []Span // times more than one agent held the VIP
	open  *Span
	now   []string // holders at the last poll
}

// Span is one stretch of time during which several agents held the VIP.
type Span struct {
	From, To time.Time
	Who      []string
}

// Duration of the span.
func (s Span) Duration() time.Duration { return s.To.Sub(s.From) }

// Polling bounds of Holders.
const (
	HoldersPoll = 10 * time.Millisecond
	HoldersMax  = 10 * time.Minute
)

// WatchHolders starts watching the given agents (all of the lab's when none are given).
func (l *Lab) WatchHolders(agents ...*Agent) *Holders {
	if len(agents) == 0 {
		agents = l.Agents
	}
	h := &Holders{agents: agents, stop: make(chan struct{}), done: make(chan struct{})}
	go h.run()
	return h
}

func (h *Holders) run() {
	defer close(h.done)
	t := time.NewTicker(HoldersPoll)
	defer t.Stop()
	deadline := time.After(HoldersMax)
	for {
		var who []string
		for _, a := range h.agents {
			if a.HoldsVIP() {
				who = append(who, a.Name)
			}
		}
		now := time.Now()
		h.mu.Lock()
		h.now = who
		switch {
		case len(who) > 1 && h.open == nil:
			h.open = &Span{From: now, To: now, Who: who}
		case len(who) > 1:
			h.open.To = now
		case h.open != nil:
			h.open.To = now
			h.spans = append(h.spans, *h.open)
			h.open = nil
		}
		h.mu.Unlock()
		select {
		case <-h.stop:
			return
		case <-deadline:
			return
		case <-t.C:
		}
	}
}

// Now returns the agents that held the VIP at the last poll.
func (h *Holders) Now() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.now...)
}

// Spans returns the stretches during which several agents held the VIP, the one under way
// (if any) up to now.
func (h *Holders) Spans() []Span {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := append([]Span(nil), h.spans...)
	if h.open != nil {
		s := *h.open
		s.To = time.Now()
		out = append(out, s)
	}
	return out
}

// Longest is the longest span that started at or after since (0 if none).
func (h *Holders) Longest(since time.Time) time.Duration {
	var d time.Duration
	for _, s := range h.Spans() {
		if !s.From.Before(since) {
			d = max(d, s.Duration())
		}
	}
	return d
}

// Stop ends the watch.
func (h *Holders) Stop() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
}

func (h *Holders) String() string {
	var b strings.Builder
	for _, s := range h.Spans() {
		fmt.Fprintf(&b, "%s +%v %v\n", s.From.Format("15:04:05.000"), s.Duration().Round(time.Millisecond), s.Who)
	}
	return b.String()
}

// SplitResult is what a partition between the two members of a steady pair gave.
type SplitResult struct {
	// BothHeld is how long both members held the VIP; Alone how long after the cut the
	// newer MASTER held it alone.
	BothHeld, Alone time.Duration
	// Failed requests of the client during the partition and the heal.
	Failed, Requests int
}

// SplitBrain cuts the path between the members of a steady pair (both still reach the
// server and the client), waits until one member alone holds the VIP, keeps the partition
// for hold more, heals it and waits until the pair is steady again.
func (l *Lab) SplitBrain(ctx context.Context, hold time.Duration) (SplitResult, error) {
	var res SplitResult
	master, err := l.Steady(ctx)
	if err != nil {
		return res, err
	}
	amps, err := l.Amphorae()
	if err != nil {
		return res, err
	}
	var pair []*Agent
	for _, x := range amps {
		pair = append(pair, l.Agent(x.ComputeID))
	}
	if len(pair) != 2 || pair[0] == nil || pair[1] == nil {
		return res, fmt.Errorf("amphorae %+v: want two on lab agents", amps)
	}
	h := l.WatchHolders(pair...)
	defer h.Stop()
	p := l.StartProbe()
	stopped := false
	defer func() {
		if !stopped {
			p.Stop()
		}
	}()
	if err := poll(ctx, 30*time.Second, "the client served", func() bool { return p.ServedRun("", time.Time{}) >= 20 }); err != nil {
		return res, err
	}
	cut := time.Now()
	for _, a := range pair {
		if err := a.Host.SetIsolated(ctx, true); err != nil {
			return res, err
		}
	}
	other := pair[0]
	if other == master {
		other = pair[1]
	}
	if err := poll(ctx, 30*time.Second, "one member alone holding the VIP", func() bool { return other.HoldsVIP() && !master.HoldsVIP() }); err != nil {
		return res, err
	}
	res.Alone = time.Since(cut)
	time.Sleep(hold)
	res.BothHeld = h.Longest(cut)
	for _, a := range pair {
		if err := a.Host.SetIsolated(ctx, false); err != nil {
			return res, err
		}
	}
	if _, err := l.Steady(ctx); err != nil {
		return res, err
	}
	stopped = true
	r := vrrplab.Analyze(p.Stop())
	res.Failed, res.Requests = r.Failed, r.Requests
	return res, nil
}
