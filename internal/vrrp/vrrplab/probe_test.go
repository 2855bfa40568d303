package vrrplab

import (
	"errors"
	"testing"
	"time"
)

// TestAnalyze: the outage is the longest run of consecutive failed starts, not stretched by a
// lone failure seconds later (a request that timed out on a starved machine); FailSpan keeps
// the span of all of them.
func TestAnalyze(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	var reqs []Request
	add := func(at time.Duration, fail bool) {
		r := Request{Start: t0.Add(at), End: t0.Add(at + time.Millisecond), Served: "a"}
		if fail {
			r.Served, r.Err = "", errors.New("dial tcp: i/o timeout")
		}
		reqs = append(reqs, r)
	}
	at := time.Duration(0)
	step := func(n int, fail bool) {
		for range n {
			add(at, fail)
			at += ProbeInterval
		}
	}
	step(20, false)
	step(24, true) // the switch: 24 starts, 120 ms
	step(300, false)
	step(1, true) // a lone timeout 1.6 s later
	step(20, false)
	step(3, true) // a short second run
	step(5, false)

	res := Analyze(reqs)
	if res.Requests != len(reqs) || res.Failed != 28 || res.Errors["i/o timeout"] != 28 {
		t.Errorf("requests %d failed %d errors %v, want %d, 28, 28 i/o timeouts", res.Requests, res.Failed, res.Errors, len(reqs))
	}
	if want := 24 * ProbeInterval; res.Outage != want {
		t.Errorf("outage %v, want the switch's run, %v", res.Outage, want)
	}
	if want := (24+300+1+20+3-1)*ProbeInterval + ProbeInterval; res.FailSpan != want {
		t.Errorf("fail span %v, want %v", res.FailSpan, want)
	}
	if res.ClientStall != ProbeInterval {
		t.Errorf("client stall %v, want %v", res.ClientStall, ProbeInterval)
	}
	if none := Analyze(reqs[:20]); none.Failed != 0 || none.Outage != 0 || none.FailSpan != 0 {
		t.Errorf("no failure: %+v", none)
	}
}
