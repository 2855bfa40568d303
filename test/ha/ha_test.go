package ha

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/vrrp/vrrplab"
)

// logWriter sends the nodes' logs to the test log while the test runs.
type logWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// startLab starts a pair and closes it when the test ends (failed or not), failing the test
// if anything of it is left behind.
func startLab(t *testing.T, advert time.Duration) *vrrplab.Lab {
	t.Helper()
	lw := &logWriter{t: t}
	l, err := vrrplab.Start(context.Background(), vrrplab.Options{AdvertInterval: advert, Stderr: lw, Debug: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("teardown: %v", err)
		}
		lw.mu.Lock()
		lw.done = true
		lw.mu.Unlock()
	})
	return l
}

// TestFailover injects every fault into the MASTER of a pair, with the default settings
// (200 ms adverts) and a fast one (50 ms), and checks from a client opening a new connection
// every 5 ms that the other member takes the VIP and serves, that the client's outage stays
// within VRRP's detection time (with room for a loaded machine), and that a planned
// handover drops at most the few connections in flight at the instant the client's ARP
// entry moves (a handover that let the VIP go before the BACKUP took it would fail every
// request of the gap, tens of them). The figures go to the test log; bench/activestandby
// reports medians.
func TestFailover(t *testing.T) {
	for _, setting := range []struct {
		name   string
		advert time.Duration
	}{{"default", 0}, {"fast", 50 * time.Millisecond}} {
		t.Run(setting.name, func(t *testing.T) {
			l := startLab(t, setting.advert)
			for _, f := range vrrplab.Faults {
				res, err := l.Measure(context.Background(), f)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				t.Logf("%s; errors %v", res, res.Errors)
				if res.From == res.To {
					t.Errorf("%s: the VIP stayed on %s", f, res.From)
				}
				if res.Outage > 3*time.Second {
					t.Errorf("%s: outage %v, want well under VRRP's detection time plus GARP (3 s allowed)", f, res.Outage)
				}
				if f == vrrplab.Planned && res.Failed > 3 {
					t.Errorf("planned handover: %d failed requests (%v), want at most the few in flight at the switch", res.Failed, res.Errors)
				}
			}
		})
	}
}

// TestPartition: the two members stop hearing each other while both still reach the client
// (their bridge ports isolated). The split-brain rule of docs/active-standby.md: the BACKUP
// becomes MASTER after VRRP's detection time, so both hold the VIP for as long as the
// partition lasts and the client follows the last GARP (the new MASTER's); once adverts flow
// again, the lower priority MASTER yields within an advert interval or two, and the winner,
// hearing the loser's lower-priority advert, re-sends GARPs so the client comes back to it.
func TestPartition(t *testing.T) {
	l := startLab(t, 0)
	res, err := l.Partition(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if !res.BothHeldVIP {
		t.Errorf("during the partition the VIP was not on both members")
	}
	if res.DuringServedBy == "" {
		t.Errorf("the client was not served during the partition")
	}
	// The higher priority (the pair's preferred member) wins, whoever held the VIP last.
	want := "b"
	if l.Node("a").Host.Addr == l.Pair().Master.Addr {
		want = "a"
	}
	if res.Winner != want {
		t.Errorf("winner %s, want %s (the higher priority)", res.Winner, want)
	}
	if !res.LowerPriNotice {
		t.Errorf("the winner did not report the loser's lower-priority advert (no GARP refresh after the heal)")
	}
	if res.Resolved > 3*time.Second || res.Served > 5*time.Second {
		t.Errorf("after the heal: one MASTER after %v, client served by it after %v; want within a few advert intervals", res.Resolved, res.Served)
	}
}
