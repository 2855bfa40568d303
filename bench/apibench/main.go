// Command apibench measures fulcrum's API latency with 1,000 load balancers
// stored. It builds and starts a real server on a temporary data directory,
// drives it over loopback HTTP and prints medians over several rounds,
// ending with one "RESULT <name> <value>" line per figure.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

func main() {
	lbs := flag.Int("lbs", 1000, "load balancers to store")
	rounds := flag.Int("rounds", 5, "measurement rounds (medians are reported)")
	samples := flag.Int("samples", 200, "requests per operation per round")
	flag.Parse()
	if err := run(*lbs, *rounds, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "apibench:", err)
		os.Exit(1)
	}
}

type client struct {
	base string
	hc   *http.Client
}

func (c *client) do(method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("X-Project-Id", "bench")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func run(nLB, rounds, samples int) error {
	dir, err := os.MkdirTemp("", "fulcrum-apibench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "fulcrum")
	build := exec.Command("go", "build", "-o", bin, "./cmd/fulcrum")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	srv := exec.Command(bin, "server", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
		"--auth", "noauth", "--provider", "noop", "--log-level", "warn")
	stdout, _ := srv.StdoutPipe()
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	addr, err := waitBanner(stdout)
	if err != nil {
		return err
	}
	go io.Copy(io.Discard, stdout)
	c := &client{base: "http://" + addr, hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}

	fmt.Printf("storing %d load balancers ...\n", nLB)
	start := time.Now()
	var ids []string
	for i := 0; i < nLB; i++ {
		var out struct{ Loadbalancer struct{ ID string } }
		err := c.do("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{
			"name": fmt.Sprintf("bench-%04d", i), "vip_subnet_id": "6d7b0a60-6a7e-4c3a-9d1b-2f4f9d6c1e01",
			"tags": []string{"bench"}}}, 201, &out)
		if err != nil {
			return err
		}
		ids = append(ids, out.Loadbalancer.ID)
	}
	fmt.Printf("stored in %.1fs\n", time.Since(start).Seconds())
	// A pool to add members to, on the first load balancer.
	if err := waitActive(c, ids[0]); err != nil {
		return err
	}
	var pool struct{ Pool struct{ ID string } }
	if err := c.do("POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
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
					err = c.do("GET", "/v2/lbaas/loadbalancers?limit=100", nil, 200, nil)
				case "show":
					err = c.do("GET", "/v2/lbaas/loadbalancers/"+ids[(i*7919)%len(ids)], nil, 200, nil)
				case "member_create":
					port++
					err = c.do("POST", "/v2/lbaas/pools/"+pool.Pool.ID+"/members", map[string]any{"member": map[string]any{
						"address": "127.0.0.1", "protocol_port": port}}, 201, nil)
				}
				if err != nil {
					return err
				}
				lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
			}
			p50, p99 := pct(lat, 50), pct(lat, 99)
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
		results[op+"_p50"] = pct(p50s, 50)
		results[op+"_p99"] = pct(p99s, 50)
		fmt.Printf("median of %d rounds  %-14s p50 %7.2f ms  p99 %7.2f ms\n", rounds, op, results[op+"_p50"], results[op+"_p99"])
	}
	fmt.Printf("RESULT api_list100_p50_ms %.2f\n", results["list100_p50"])
	fmt.Printf("RESULT api_list100_p99_ms %.2f\n", results["list100_p99"])
	fmt.Printf("RESULT api_show_p50_ms %.2f\n", results["show_p50"])
	fmt.Printf("RESULT api_show_p99_ms %.2f\n", results["show_p99"])
	fmt.Printf("RESULT api_member_create_p50_ms %.2f\n", results["member_create_p50"])
	fmt.Printf("RESULT api_member_create_p99_ms %.2f\n", results["member_create_p99"])
	return nil
}

var bannerRE = regexp.MustCompile(`on http://([0-9.:\[\]a-f]+)`)

func waitBanner(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	deadline := time.AfterFunc(30*time.Second, func() {})
	defer deadline.Stop()
	for sc.Scan() {
		if m := bannerRE.FindStringSubmatch(sc.Text()); m != nil {
			return m[1], nil
		}
	}
	return "", fmt.Errorf("server exited before printing its address")
}

func waitActive(c *client, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		var out struct {
			Loadbalancer struct {
				ProvisioningStatus string `json:"provisioning_status"`
			}
		}
		if err := c.do("GET", "/v2/lbaas/loadbalancers/"+id, nil, 200, &out); err != nil {
			return err
		}
		if out.Loadbalancer.ProvisioningStatus == "ACTIVE" {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("load balancer %s not ACTIVE in 30s", id)
}

func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}
