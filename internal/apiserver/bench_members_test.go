package apiserver_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkBatchUpdate1000Members times one batch member update of 1,000
// members (500 updated, 500 created, 500 deleted) through the HTTP handler
// on the real SQLite store: one transaction.
func BenchmarkBatchUpdate1000Members(b *testing.B) {
	h := newHarness(b, harnessOpts{})
	lbID := h.createLB("bench")
	pool := h.must(201, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"loadbalancer_id": lbID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}).obj("pool")["id"].(string)
	body := func(round int) map[string]any {
		ms := make([]any, 1000)
		for i := range ms {
			k := i + round*500
			ms[i] = map[string]any{"address": fmt.Sprintf("10.%d.%d.%d", k/65536%256, k/256%256, k%256), "protocol_port": 80}
		}
		return map[string]any{"members": ms}
	}
	h.must(202, "PUT", "/v2/lbaas/pools/"+pool+"/members", body(0))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.must(202, "PUT", "/v2/lbaas/pools/"+pool+"/members", body(i+1))
	}
}

// BenchmarkList10000Members times listing a pool of 10,000 members
// (limit=0: no page limit).
func BenchmarkList10000Members(b *testing.B) {
	h := newHarness(b, harnessOpts{})
	lbID := h.createLB("bench")
	pool := h.must(201, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"loadbalancer_id": lbID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}).obj("pool")["id"].(string)
	for chunk := 0; chunk < 10; chunk++ {
		ms := make([]any, 1000)
		for i := range ms {
			k := chunk*1000 + i
			ms[i] = map[string]any{"address": fmt.Sprintf("10.%d.%d.%d", k/65536%256, k/256%256, k%256), "protocol_port": 80}
		}
		h.must(202, "PUT", "/v2/lbaas/pools/"+pool+"/members?additive_only=true", map[string]any{"members": ms})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n := len(h.must(200, "GET", "/v2/lbaas/pools/"+pool+"/members?limit=0", nil).list("members")); n != 10000 {
			b.Fatalf("listed %d members", n)
		}
	}
}

// BenchmarkCreateMember8Clients times member creates by 8 concurrent
// clients, each in a pool of its own load balancer (the api bench's write
// load, without the controller), through the HTTP handler on the real
// SQLite store with group commit.
func BenchmarkCreateMember8Clients(b *testing.B) {
	h := newHarness(b, harnessOpts{})
	const clients = 8
	pools := make([]string, clients)
	for i := range pools {
		lbID := h.createLB(fmt.Sprintf("bench-%d", i))
		pools[i] = h.must(201, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
			"loadbalancer_id": lbID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}).obj("pool")["id"].(string)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				body := fmt.Sprintf(`{"member": {"address": "127.0.0.1", "protocol_port": %d}}`, n%65535+1)
				req, _ := http.NewRequest("POST", h.srv.URL+"/v2/lbaas/pools/"+pools[c]+"/members", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Project-Id", "p1")
				resp, err := hc.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 201 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
}
