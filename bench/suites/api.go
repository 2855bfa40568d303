package main

// The api suite measures fulcrum's API latency with 1,000 load balancers
// stored. It builds and starts a real server (SQLite, noauth, noop provider)
// on a temporary data directory, drives it over loopback HTTP and prints
// medians over several rounds.

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/benchkit"
)

func runAPI(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	lbs := fs.Int("lbs", 1000, "load balancers to store")
	rounds := fs.Int("rounds", 5, "measurement rounds (medians are reported)")
	samples := fs.Int("samples", 200, "requests per operation per round")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return apiBench(ctx, *lbs, *rounds, *samples)
}

func apiBench(ctx context.Context, nLB, rounds, samples int) error {
	dir, bin, cleanup, err := benchkit.Workdir("fulcrum-apibench-")
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

	fmt.Printf("storing %d load balancers ...\n", nLB)
	start := time.Now()
	var ids []string
	for i := 0; i < nLB; i++ {
		var out struct{ Loadbalancer struct{ ID string } }
		err := c.Do("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
			"name": fmt.Sprintf("bench-%04d", i), "vip_subnet_id": "6d7b0a60-6a7e-4c3a-9d1b-2f4f9d6c1e01",
			"tags": []string{"bench"}}}, 201, &out)
		if err != nil {
			return err
		}
		ids = append(ids, out.Loadbalancer.ID)
	}
	fmt.Printf("stored in %.1fs\n", time.Since(start).Seconds())
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.WaitActive(ctx, ids[0]); err != nil {
		return err
	}
	var pool struct{ Pool struct{ ID string } }
	if err := c.Do("POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
		"loadbalancer_id": ids[0], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201, &pool); err != nil {
		return err
	}

	ops := []string{"list100", "show", "member_create"}
	med := map[string][][2]float64{}
	port := 1
	for r := 0; r < rounds; r++ {
		for _, op := range ops {
			var lat []float64
			for i := 0; i < samples; i++ {
				var err error
				t0 := time.Now()
				switch op {
				case "list100":
					err = c.Do("GET", "/v2/lbaas/loadbalancers?limit=100", nil, 200, nil)
				case "show":
					err = c.Do("GET", "/v2/lbaas/loadbalancers/"+ids[(i*7919)%len(ids)], nil, 200, nil)
				case "member_create":
					port++
					err = c.Do("POST", "/v2/lbaas/pools/"+pool.Pool.ID+"/members", map[string]any{"member": map[string]any{
						"address": "127.0.0.1", "protocol_port": port}}, 201, nil)
				}
				if err != nil {
					return err
				}
				lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
			}
			p50, p99 := benchkit.Pct(lat, 50), benchkit.Pct(lat, 99)
			med[op] = append(med[op], [2]float64{p50, p99})
			fmt.Printf("round %d  %-14s p50 %7.2f ms  p99 %7.2f ms\n", r+1, op, p50, p99)
		}
	}
	fmt.Println()
	results := map[string]float64{}
	for _, op := range ops {
		var p50s, p99s []float64
		for _, v := range med[op] {
			p50s = append(p50s, v[0])
			p99s = append(p99s, v[1])
		}
		results[op+"_p50"] = benchkit.Pct(p50s, 50)
		results[op+"_p99"] = benchkit.Pct(p99s, 50)
		fmt.Printf("median of %d rounds  %-14s p50 %7.2f ms  p99 %7.2f ms\n", rounds, op, results[op+"_p50"], results[op+"_p99"])
	}
	fmt.Println("reference: real Octavia 11 on this kind of machine: list p50 86 ms, member create p50 222 ms")
	fmt.Printf("RESULT api_list100_p50_ms %.2f\n", results["list100_p50"])
	fmt.Printf("RESULT api_list100_p99_ms %.2f\n", results["list100_p99"])
	fmt.Printf("RESULT api_show_p50_ms %.2f\n", results["show_p50"])
	fmt.Printf("RESULT api_show_p99_ms %.2f\n", results["show_p99"])
	fmt.Printf("RESULT api_member_create_p50_ms %.2f\n", results["member_create_p50"])
	fmt.Printf("RESULT api_member_create_p99_ms %.2f\n", results["member_create_p99"])
	return nil
}
