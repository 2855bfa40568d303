package main

// The members suite measures fulcrum's batch member update and member
// list at scale. It builds and starts a real server (SQLite, noauth, noop
// provider) on a temporary data directory and drives it over loopback
// HTTP: each round replaces a pool's 1,000 members with a batch update
// (PUT .../members: half updated, half new, the rest deleted) and times the
// request and the time until the pool is ACTIVE again (applied); then it
// grows a pool to 10,000 members and times listing them. It ends with one
// RESULT line per figure.

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/benchkit"
)

func runMembers(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("members", flag.ContinueOnError)
	rounds := fs.Int("rounds", 5, "batch update rounds (medians are reported)")
	batch := fs.Int("batch", 1000, "members per batch update")
	total := fs.Int("members", 10000, "members in the listed pool")
	samples := fs.Int("samples", 50, "list requests per measurement")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return membersBench(ctx, *rounds, *batch, *total, *samples)
}

// memberBatch is the member list of one batch update round.
func memberBatch(n, round int) []any {
	out := make([]any, n)
	for i := range out {
		// Each round shifts the set by half: n/2 matched (updated), n/2
		// new, n/2 of the previous round deleted.
		k := i + round*n/2
		out[i] = map[string]any{"address": fmt.Sprintf("10.%d.%d.%d", k/65536%256, k/256%256, k%256), "protocol_port": 8080,
			"weight": 1 + round%5, "name": fmt.Sprintf("m%d", k)}
	}
	return out
}

func membersBench(ctx context.Context, rounds, batch, total, samples int) error {
	dir, bin, cleanup, err := benchkit.Workdir("fulcrum-membersbench-")
	if err != nil {
		return err
	}
	defer cleanup()
	srv, err := benchkit.StartServer(bin, filepath.Join(dir, "data"), "--auth", "noauth", "--network", "noop", "--provider", "noop",
		"--embedded-agent=false", "--log-level", "warn")
	if err != nil {
		return err
	}
	defer benchkit.Stop(srv.Cmd)
	c := benchkit.NewClient(srv.URL)
	var lb struct{ Loadbalancer struct{ ID string } }
	if err := c.Do("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
		"name": "bench", "vip_subnet_id": "6d7b0a60-6a7e-4c3a-9d1b-2f4f9d6c1e01"}}, 201, &lb); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := c.WaitActive(ctx, lb.Loadbalancer.ID); err != nil {
		return err
	}
	newPool := func() (string, error) {
		var p struct{ Pool struct{ ID string } }
		err := c.Do("POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
			"loadbalancer_id": lb.Loadbalancer.ID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201, &p)
		if err == nil {
			err = c.WaitActive(ctx, lb.Loadbalancer.ID)
		}
		return p.Pool.ID, err
	}
	poolActive := func(id string) error {
		for ctx.Err() == nil {
			var p struct {
				Pool struct {
					ProvisioningStatus string `json:"provisioning_status"`
				}
			}
			if err := c.Do("GET", "/v2/lbaas/pools/"+id, nil, 200, &p); err != nil {
				return err
			}
			if p.Pool.ProvisioningStatus == "ACTIVE" {
				return nil
			}
			time.Sleep(2 * time.Millisecond)
		}
		return ctx.Err()
	}

	pool, err := newPool()
	if err != nil {
		return err
	}
	var puts, applied []float64
	for r := 0; r < rounds; r++ {
		body := map[string]any{"members": memberBatch(batch, r)}
		t0 := time.Now()
		if err := c.Do("PUT", "/v2/lbaas/pools/"+pool+"/members", body, 202, nil); err != nil {
			return err
		}
		put := time.Since(t0)
		if err := poolActive(pool); err != nil {
			return err
		}
		done := time.Since(t0)
		puts = append(puts, float64(put.Microseconds())/1000)
		applied = append(applied, float64(done.Microseconds())/1000)
		fmt.Printf("round %d  batch update of %d members: request %7.1f ms, applied (pool ACTIVE) %7.1f ms\n", r+1, batch, puts[r], applied[r])
	}

	big, err := newPool()
	if err != nil {
		return err
	}
	fmt.Printf("growing a pool to %d members ...\n", total)
	for done := 0; done < total; done += batch {
		body := map[string]any{"members": memberBatch(batch, 2*done/batch)}
		if err := c.Do("PUT", "/v2/lbaas/pools/"+big+"/members?additive_only=true", body, 202, nil); err != nil {
			return err
		}
		if err := poolActive(big); err != nil {
			return err
		}
	}
	list := func(query string) (float64, int, error) {
		var lat []float64
		n := 0
		for i := 0; i < samples; i++ {
			var out struct {
				Members []struct{ ID string }
			}
			t0 := time.Now()
			if err := c.Do("GET", "/v2/lbaas/pools/"+big+"/members"+query, nil, 200, &out); err != nil {
				return 0, 0, err
			}
			lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
			n = len(out.Members)
		}
		return benchkit.Pct(lat, 50), n, nil
	}
	all, nAll, err := list("?limit=0")
	if err != nil {
		return err
	}
	page, nPage, err := list("")
	if err != nil {
		return err
	}
	fmt.Printf("list of %d members (limit=0): p50 %.1f ms; default page of %d: p50 %.1f ms\n", nAll, all, nPage, page)
	if nAll != total {
		return fmt.Errorf("listed %d members, want %d", nAll, total)
	}
	fmt.Println()
	fmt.Printf("RESULT batch_update_1000_request_ms %.1f\n", benchkit.Pct(puts, 50))
	fmt.Printf("RESULT batch_update_1000_applied_ms %.1f\n", benchkit.Pct(applied, 50))
	fmt.Printf("RESULT batch_update_1000_applied_max_ms %.1f\n", benchkit.Pct(applied, 100))
	fmt.Printf("RESULT list_10000_members_p50_ms %.1f\n", all)
	fmt.Printf("RESULT list_members_page1000_p50_ms %.1f\n", page)
	return nil
}
