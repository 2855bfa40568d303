package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// api is a minimal Octavia client speaking plain JSON, so these tests check
// the wire, not a library's interpretation of it.
type api struct {
	base    string
	project string
	hc      *http.Client
	// provider is the provider of the load balancers newLB creates ("" = the default).
	provider string
}

func newAPI(base string) *api {
	return &api{base: base, project: "e2e", hc: &http.Client{Timeout: 20 * time.Second}}
}

type reply struct {
	code int
	body map[string]any
	raw  []byte
}

// call returns the status and decoded body; err is a transport failure
// (connection refused, reset, timeout) whose outcome is unknown.
func (a *api) call(method, path string, body any) (reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("X-Project-Id", a.project)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{code: resp.StatusCode, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			return r, fmt.Errorf("%s %s: %d, undecodable body %q", method, path, resp.StatusCode, raw)
		}
	}
	return r, nil
}

// id returns body[wrapper].id.
func (r reply) id(wrapper string) string {
	obj, _ := r.body[wrapper].(map[string]any)
	s, _ := obj["id"].(string)
	return s
}

func (r reply) field(wrapper, key string) string {
	obj, _ := r.body[wrapper].(map[string]any)
	s, _ := obj[key].(string)
	return s
}
