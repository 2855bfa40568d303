package apiserver_test

import (
	"fmt"
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
