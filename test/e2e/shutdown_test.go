package e2e

import (
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
)

// TestSIGTERMDrainsAndStopsCleanly sends SIGTERM while clients are busy: the
// server exits 0, and every request either completes or is refused before it
// starts — none is cut off mid-response.
func TestSIGTERMDrainsAndStopsCleanly(t *testing.T) {
	srv := servertest.Start(t, bin, "", "--auth", "noauth", "--provider", "noop", "--log-level", "warn")
	a := newAPI(srv.URL)
	a.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"vip_subnet_id": vipSubnet(a)}}, 201)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, refused int
	var broken []error
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newAPI(srv.URL)
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := c.call("GET", "/v2/lbaas/loadbalancers", nil)
				mu.Lock()
				switch {
				case err == nil && r.code == 200:
					ok++
				case err != nil && (errors.Is(err, syscall.ECONNREFUSED) || isRefused(err)):
					refused++
				default:
					broken = append(broken, err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	// SIGTERM once the clients are busy (not after a fixed time, which a
	// loaded machine can spend before the first request completes).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := ok
		mu.Unlock()
		if n >= 8 {
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("only %d requests completed in 30s before the shutdown (broken: %v)", n, broken)
		}
	}
	clean := srv.Stop(20 * time.Second)
	close(stop)
	wg.Wait()
	if !clean {
		t.Fatalf("server did not exit 0 after SIGTERM:\n%s", srv.Logs())
	}
	if ok == 0 {
		t.Fatal("no request completed before the shutdown")
	}
	for _, err := range broken {
		// A keep-alive connection closed by the server between requests shows as EOF on the next
		// request's write; what must never happen is a response cut off mid-body.
		if err != nil && !isClosedBetweenRequests(err) {
			t.Errorf("request broken by the shutdown: %v", err)
		}
	}
	t.Logf("%d requests completed, %d refused after the listener closed", ok, refused)
}

func isRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// isClosedBetweenRequests: a keep-alive connection the server closed while
// idle fails the next request before any response byte; a cut-off response
// would be an "unexpected EOF" while reading the body.
func isClosedBetweenRequests(err error) bool {
	s := err.Error()
	if strings.Contains(s, "unexpected EOF") {
		return false
	}
	return strings.Contains(s, "EOF") || strings.Contains(s, "connection reset") || strings.Contains(s, "server closed idle connection")
}
