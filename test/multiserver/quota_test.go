package multiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
)

// TestQuotaAndIPAMExactAcrossServers: load balancer creates racing through
// three servers (Keystone auth, one project whose quota allows 5) are
// accepted exactly up to the quota — the others answer 403 — and every
// accepted load balancer has a VIP address of its own: the quota row and
// the address allocations are locked in the database, not in a server.
func TestQuotaAndIPAMExactAcrossServers(t *testing.T) {
	c := newCluster(t, 3, "--auth", "keystone", "--embedded-agent=false")
	tok := adminToken(t, c.servers[0].url(), c.servers[0].proc.DataDir)
	code, body := authed(t, tok, "GET", c.servers[1].url()+"/identity/v3/projects?name=admin", nil)
	var projects struct {
		Projects []struct {
			ID string `json:"id"`
		} `json:"projects"`
	}
	if json.Unmarshal(body, &projects); code != 200 || len(projects.Projects) != 1 {
		t.Fatalf("the admin project: %d %s", code, body)
	}
	project := projects.Projects[0].ID
	code, body = authed(t, tok, "GET", c.servers[2].url()+"/networking/v2.0/subnets?name=private-subnet", nil)
	var subnets struct {
		Subnets []struct {
			ID string `json:"id"`
		} `json:"subnets"`
	}
	if json.Unmarshal(body, &subnets); code != 200 || len(subnets.Subnets) != 1 {
		t.Fatalf("the private subnet: %d %s", code, body)
	}
	const quota, tries = 5, 24
	if code, body := authed(t, tok, "PUT", c.servers[0].url()+"/v2/lbaas/quotas/"+project,
		map[string]any{"quota": map[string]any{"load_balancer": quota}}); code != 202 {
		t.Fatalf("set the quota: %d %s", code, body)
	}
	type result struct {
		code int
		vip  string
	}
	results := make([]result, tries)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			b, _ := json.Marshal(map[string]any{"loadbalancer": map[string]any{"name": fmt.Sprintf("race-%d", i), "vip_subnet_id": subnets.Subnets[0].ID}})
			req, _ := http.NewRequest("POST", c.servers[i%3].url()+"/v2/lbaas/loadbalancers", bytes.NewReader(b))
			req.Header.Set("X-Auth-Token", tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("create %d through %s: %v", i, c.servers[i%3].name, err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code := resp.StatusCode
			var r struct {
				LoadBalancer struct {
					VIP string `json:"vip_address"`
				} `json:"loadbalancer"`
			}
			json.Unmarshal(body, &r)
			results[i] = result{code, r.LoadBalancer.VIP}
			if code != 201 && code != 403 {
				t.Errorf("create %d through %s: %d %s", i, c.servers[i%3].name, code, body)
			}
		}()
	}
	close(start)
	wg.Wait()
	created, vips := 0, map[string]int{}
	for i, r := range results {
		if r.code == 201 {
			created++
			if r.vip == "" {
				t.Errorf("create %d: no VIP address", i)
			}
			vips[r.vip]++
		}
	}
	if created != quota {
		t.Errorf("%d load balancers created through three servers with a quota of %d", created, quota)
	}
	for vip, n := range vips {
		if n > 1 {
			t.Errorf("VIP %s given to %d load balancers", vip, n)
		}
	}
	code, body = authed(t, tok, "GET", c.servers[1].url()+"/v2/lbaas/loadbalancers", nil)
	var list struct {
		LoadBalancers []json.RawMessage `json:"loadbalancers"`
	}
	if json.Unmarshal(body, &list); code != 200 || len(list.LoadBalancers) != quota {
		t.Errorf("listed %d load balancers, want %d: %d %s", len(list.LoadBalancers), quota, code, body)
	}
}
