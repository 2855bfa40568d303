//go:build oracle

// Package oracle is the differential harness: it sends the same request
// sequence to a real OpenStack Octavia (started by run.sh) and to a fresh
// `fulcrum server --provider noop`, normalises ids, timestamps and hrefs,
// compares status codes and bodies, and writes a report. Every difference
// must be explained (docs/octavia-differences.md) or the test fails.
//
// It runs on demand only (build tag oracle): ./test/oracle/run.sh.
package oracle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/servertest"
)

var bin string

func TestMain(m *testing.M) {
	dir, cleanup, err := servertest.TempDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, err = servertest.Binary(dir)
	if err != nil {
		cleanup()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// side is one API under test with the ids captured from its answers.
type side struct {
	name string
	base string
	ids  map[string]string // label → id
	hc   *http.Client
}

func newSide(name, base string) *side {
	return &side{name: name, base: strings.TrimRight(base, "/"), ids: map[string]string{}, hc: &http.Client{Timeout: 60 * time.Second}}
}

// answer is one HTTP response.
type answer struct {
	status int
	raw    []byte
	body   any // decoded JSON, nil when none
}

var labelRE = regexp.MustCompile(`\{([a-zA-Z0-9_]+)\}`)

// expand replaces {label} with the side's captured id; missing names the
// first label this side never captured (an earlier create failed there).
func (s *side) expand(text string) (out, missing string) {
	out = labelRE.ReplaceAllStringFunc(text, func(m string) string {
		label := m[1 : len(m)-1]
		id, ok := s.ids[label]
		if !ok && missing == "" {
			missing = label
		}
		return id
	})
	return out, missing
}

func (s *side) do(t *testing.T, method, path, body, project string) answer {
	t.Helper()
	body, m1 := s.expand(body)
	path, m2 := s.expand(path)
	if m1+m2 != "" {
		return answer{raw: []byte("not sent: no object was captured as " + m1 + m2)}
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if project == "" {
		project = defaultProject
	}
	req.Header.Set("X-Project-Id", project)
	var resp *http.Response
	for attempt := 0; ; attempt++ {
		resp, err = s.hc.Do(req)
		if err == nil || attempt == 3 {
			break
		}
		time.Sleep(time.Second)
		if body != "" {
			req.Body = io.NopCloser(strings.NewReader(body))
		}
	}
	if err != nil {
		t.Fatalf("%s %s %s: %v", s.name, method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) == nil {
			a.body = v
		}
	}
	return a
}

// capture stores the id (or key) of the single object in a.
func (s *side) capture(t *testing.T, a answer, label, key string, firstOfList bool) {
	m, ok := a.body.(map[string]any)
	if !ok || len(m) == 0 || len(m) != 1 && !firstOfList {
		t.Errorf("%s: cannot capture %s from %s", s.name, label, a.raw)
		return
	}
	for k, v := range m {
		if firstOfList {
			l, _ := v.([]any)
			if strings.HasSuffix(k, "_links") || len(l) == 0 {
				continue
			}
			v = l[0]
		}
		obj, _ := v.(map[string]any)
		id, _ := obj[key].(string)
		if id == "" {
			t.Errorf("%s: no %s to capture as %s in %s", s.name, key, label, a.raw)
			return
		}
		s.ids[label] = id
	}
}

// waitLB polls the load balancer until it is ACTIVE (or ERROR, or gone).
func (s *side) waitLB(t *testing.T, label string) {
	t.Helper()
	if _, ok := s.ids[label]; !ok {
		return
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		a := s.do(t, "GET", "/v2/lbaas/loadbalancers/{"+label+"}", "", "")
		if a.status == 404 {
			return
		}
		if m, ok := a.body.(map[string]any); ok {
			l, _ := m["loadbalancer"].(map[string]any)
			if st := l["provisioning_status"]; st == "ACTIVE" || st == "ERROR" {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: load balancer %s never settled", s.name, label)
}

// waitActive polls path until the object under key is ACTIVE (or ERROR,
// or gone).
func (s *side) waitActive(t *testing.T, path, key string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		a := s.do(t, "GET", path, "", "")
		if a.status != 200 {
			return
		}
		if m, ok := a.body.(map[string]any); ok {
			o, _ := m[key].(map[string]any)
			if st := o["provisioning_status"]; st == "ACTIVE" || st == "ERROR" {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: %s never settled", s.name, path)
}

// waitGone polls path until it answers 404.
func (s *side) waitGone(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if st := s.do(t, "GET", path, "", "").status; st == 404 || st == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: %s never went away", s.name, path)
}

// ---------------------------------------------------------------- normalise

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// constantIDs are ids the script itself sends (the same on both sides).
var constantIDs = map[string]bool{subnetA: true, subnetB: true, otherUUID: true, "00000000-0000-0000-0000-000000000000": true}

// newerKeys are attributes of API versions after Octavia 11 (v2.27 HSTS,
// v2.28 vip_vnic_type, v2.29 vip_sg_ids, v2.30 member vnic_type): fulcrum
// serves 2.30, the oracle does not know them.
var newerKeys = map[string]bool{"hsts_max_age": true, "hsts_include_subdomains": true, "hsts_preload": true,
	"vip_vnic_type": true, "vip_sg_ids": true, "vnic_type": true}

// normaliser rewrites one side's answer into a comparable form.
type normaliser struct {
	s      *side
	labels map[string]string // id → label
	// exactProvider keeps the provider a load balancer shows (steps that
	// compare it; elsewhere each side's default provider differs).
	exactProvider bool
}

func newNormaliser(s *side) *normaliser {
	n := &normaliser{s: s, labels: map[string]string{}}
	for label, id := range s.ids {
		n.labels[id] = label
	}
	return n
}

func (n *normaliser) str(v string) string {
	v = strings.ReplaceAll(v, n.s.base, "<base>")
	return uuidRE.ReplaceAllStringFunc(v, func(id string) string {
		if l, ok := n.labels[id]; ok {
			return "<" + l + ">"
		}
		if constantIDs[id] {
			return id
		}
		return "<uuid>"
	})
}

func (n *normaliser) value(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			if n.s.name == "fulcrum" && newerKeys[k] {
				continue
			}
			out[k] = n.value(k, val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = n.value(key, val)
		}
		return out
	case string:
		switch key {
		case "created_at", "updated_at", "cert_expiration":
			return "<time>"
		case "vip_address", "ha_ip", "lb_network_ip":
			return "<address>"
		case "provider":
			if !n.exactProvider {
				return "<provider>"
			}
		}
		return sortOneOf(n.str(x))
	}
	return v
}

// sortLists orders the objects of every list in v by their normalised id
// (creation-order ties between objects created within the same second are
// broken by random ids upstream).
func sortLists(v any) {
	switch x := v.(type) {
	case map[string]any:
		for _, val := range x {
			sortLists(val)
		}
	case []any:
		for _, val := range x {
			sortLists(val)
		}
		sort.SliceStable(x, func(i, j int) bool { return sortKey(x[i]) < sortKey(x[j]) })
	}
}

func sortKey(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	for _, k := range []string{"id", "name", "address"} {
		if s, ok := m[k].(string); ok && s != "<uuid>" {
			return s
		}
	}
	return ""
}

var oneOfRE = regexp.MustCompile(`Value should be one of: (.*)$`)

// sortOneOf orders the values of WSME's enum messages, which Octavia prints
// in Python set order (different in every process).
func sortOneOf(s string) string {
	return oneOfRE.ReplaceAllStringFunc(s, func(m string) string {
		vals := strings.Split(oneOfRE.FindStringSubmatch(m)[1], ", ")
		sort.Strings(vals)
		return "Value should be one of: " + strings.Join(vals, ", ")
	})
}

// diff compares two normalised JSON values and lists the differences.
func diff(path string, a, b any, out *[]string) {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: octavia %s, fulcrum %s", path, show(a), show(b)))
			return
		}
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			va, ina := x[k]
			vb, inb := y[k]
			switch {
			case !ina:
				*out = append(*out, fmt.Sprintf("%s.%s: only fulcrum has it (%s)", path, k, show(vb)))
			case !inb:
				*out = append(*out, fmt.Sprintf("%s.%s: only octavia has it (%s)", path, k, show(va)))
			default:
				diff(path+"."+k, va, vb, out)
			}
		}
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			*out = append(*out, fmt.Sprintf("%s: octavia %s, fulcrum %s", path, show(a), show(b)))
			return
		}
		for i := range x {
			diff(fmt.Sprintf("%s[%d]", path, i), x[i], y[i], out)
		}
	default:
		if show(a) != show(b) {
			*out = append(*out, fmt.Sprintf("%s: octavia %s, fulcrum %s", path, show(a), show(b)))
		}
	}
}

func show(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
