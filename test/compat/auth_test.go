package compat_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// TestBadCredentialsEndToEnd: every service of a real server answers a
// missing, malformed or tampered token, and a wrong password or unknown
// user, with 401 and Keystone's error body.
func TestBadCredentialsEndToEnd(t *testing.T) {
	s := startServer(t, "--auth", "keystone")
	login := func(user, password string) (*http.Response, map[string]any) {
		body, _ := json.Marshal(map[string]any{"auth": map[string]any{
			"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
				"name": user, "password": password, "domain": map[string]any{"id": "default"}}}},
			"scope": map[string]any{"project": map[string]any{"name": "admin", "domain": map[string]any{"id": "default"}}},
		}})
		res, err := http.Post(s.URL+"/identity/v3/auth/tokens", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res, out
	}
	res, _ := login("admin", s.Password)
	good := res.Header.Get("X-Subject-Token")
	if res.StatusCode != 201 || good == "" {
		t.Fatalf("admin login: %d", res.StatusCode)
	}
	tampered := []byte(good)
	tampered[10] ^= 0x01
	if tampered[10] == good[10] {
		tampered[10] = 'A'
	}
	keystoneError := func(t *testing.T, code int, body map[string]any) {
		t.Helper()
		e, _ := body["error"].(map[string]any)
		if code != 401 || e == nil || e["code"] != 401.0 || e["title"] != "Unauthorized" || e["message"] != "The request you have made requires authentication." {
			t.Errorf("got %d %v, want 401 with Keystone's body", code, body)
		}
	}
	for _, tc := range []struct{ name, user, password string }{{"wrong password", "admin", "nope"}, {"unknown user", "nobody", "nope"}} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := login(tc.user, tc.password)
			keystoneError(t, res.StatusCode, body)
		})
	}
	for _, path := range []string{"/v2.0/lbaas/loadbalancers", "/v2/lbaas/quotas", "/networking/v2.0/subnets", "/v2.0/subnets", "/identity/v3/projects"} {
		for name, token := range map[string]string{"no token": "", "malformed token": "not-a-token", "tampered token": string(tampered)} {
			t.Run(path+"/"+name, func(t *testing.T) {
				req, _ := http.NewRequest("GET", s.URL+path, nil)
				if token != "" {
					req.Header.Set("X-Auth-Token", token)
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				raw, _ := io.ReadAll(res.Body)
				var body map[string]any
				_ = json.Unmarshal(raw, &body)
				keystoneError(t, res.StatusCode, body)
			})
		}
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		req.Header.Set("X-Auth-Token", good)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("GET %s with a good token: %d", path, res.StatusCode)
		}
	}
}
