package haproxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// TestRefusals: what HAProxy 2.6 cannot express is refused by Apply with a
// dataplane.FieldError at the field, one per field (so an agent can tell each load
// balancer at fault), and the config in force keeps serving.
func TestRefusals(t *testing.T) {
	a := startBackend(t, "a")
	port := freePort(t)
	e := newEngine(t, Options{})
	good := oneListener(port, pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a.member("ma")))
	mustApply(t, e, good)
	udpPort := freePort(t)
	tests := []struct {
		name   string
		mutate func(c *dataplane.Config)
		want   []string
	}{
		{"UDP listener and pool", func(c *dataplane.Config) {
			l := tcpListener("lu", dataplane.ProtocolUDP, udpPort, "pu")
			l.LoadBalancerID = "lb-udp"
			c.Listeners = append(c.Listeners, l)
			p := pool("pu", dataplane.ProtocolUDP, dataplane.RoundRobin, a.member("mu"))
			p.HealthMonitor = &dataplane.HealthMonitor{Type: dataplane.MonitorUDPConnect, Delay: 1, Timeout: 1, MaxRetries: 1, MaxRetriesDown: 1, AdminStateUp: true}
			c.Pools = append(c.Pools, p)
		}, []string{
			"listeners[1].protocol: UDP is not supported by the haproxy engine",
			"pools[1].protocol: UDP is not supported by the haproxy engine",
			"pools[1].healthmonitor.type: UDP-CONNECT health monitors are not supported by the haproxy engine",
		}},
		{"PING monitor", func(c *dataplane.Config) {
			c.Pools[0].HealthMonitor = &dataplane.HealthMonitor{Type: dataplane.MonitorPing, Delay: 1, Timeout: 1, MaxRetries: 1, MaxRetriesDown: 1, AdminStateUp: true}
		}, []string{"pools[0].healthmonitor.type: PING health monitors are not supported by the haproxy engine: HAProxy 2.6 has no ICMP probe"}},
		{"a quote in a header rule's name", func(c *dataplane.Config) {
			c.Listeners[0].L7Policies = []dataplane.L7Policy{toPool("p", 1, "p1", l7rule(dataplane.RuleHeader, dataplane.CompareEqualTo, "X-It's", "1"))}
		}, []string{"listeners[0].l7policies[0].rules[0].key: the haproxy engine cannot name a header holding \"'\""}},
		{"a DN field HAProxy cannot name", func(c *dataplane.Config) {
			c.Listeners[0].L7Policies = []dataplane.L7Policy{toPool("p", 1, "p1", l7rule(dataplane.RuleSSLDNField, dataplane.CompareEqualTo, "C N", "x"))}
		}, []string{"listeners[0].l7policies[0].rules[0].key: the haproxy engine takes an attribute name or dotted OID"}},
		{"a control character in a rule value", func(c *dataplane.Config) {
			c.Listeners[0].L7Policies = []dataplane.L7Policy{toPool("p", 1, "p1", l7rule(dataplane.RulePath, dataplane.CompareEqualTo, "", "/a\x00b"))}
		}, []string{"listeners[0].l7policies[0].rules[0].value: the haproxy engine cannot carry control characters"}},
		{"a regular expression HAProxy's PCRE2 refuses", func(c *dataplane.Config) {
			// Valid RE2 (a code point above 255); HAProxy compiles without UTF mode.
			c.Listeners[0].L7Policies = []dataplane.L7Policy{toPool("p", 1, "p1", l7rule(dataplane.RulePath, dataplane.CompareRegex, "", `^/\x{263a}`))}
		}, []string{`listeners[0].l7policies[0].rules[0]: refused by HAProxy: config : parsing`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := good.Clone()
			bad.Version = 2
			tc.mutate(bad)
			err := e.Apply(context.Background(), bad)
			if err == nil {
				t.Fatal("applied")
			}
			if !errors.Is(err, dataplane.ErrInvalid) {
				t.Errorf("not a dataplane.ErrInvalid: %v", err)
			}
			fields := map[string]bool{}
			for _, fe := range unwrapAll(err) {
				var f *dataplane.FieldError
				if errors.As(fe, &f) {
					fields[f.Path] = true
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
				path, _, _ := strings.Cut(w, ": ")
				if !fields[path] {
					t.Errorf("no FieldError at %s among %v", path, fields)
				}
			}
			if code, body := get(t, newClient(), fmt.Sprintf("http://127.0.0.1:%d/", port)); code != 200 || body != "a" || e.Version() != 1 {
				t.Fatalf("old config no longer serving: %d %q version %d", code, body, e.Version())
			}
		})
	}
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unwrapAll(e)...)
		}
		return out
	}
	return []error{err}
}

// TestCheckBinary: a missing or too-old HAProxy, or one without Lua, is refused with a
// message that says what to install; Debian's 2.6 passes.
func TestCheckBinary(t *testing.T) {
	info, err := CheckBinary(context.Background(), "")
	if err != nil {
		t.Fatalf("the installed HAProxy: %v", err)
	}
	if info.Major != 2 || info.Minor < 6 || info.Path == "" {
		t.Fatalf("info %+v", info)
	}
	dir := t.TempDir()
	fake := func(name, output string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\ncat <<'EOF'\n"+output+"\nEOF\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nothing-here"), "install Debian's haproxy package (2.6 or newer)"},
		{"too old", fake("old", "HA-Proxy version 2.4.22-0+deb11u1 2023/02/14 - https://haproxy.org/\nBuilt with Lua version : Lua 5.3.3\nFeature list : +OPENSSL"), "is HAProxy 2.4.22-0+deb11u1, too old: the engine needs 2.6 or newer"},
		{"not haproxy", fake("other", "nginx version: nginx/1.22.1"), "does not look like HAProxy"},
		{"no Lua", fake("nolua", "HAProxy version 2.8.5-1 2023/12/09\nFeature list : +OPENSSL -LUA"), "built without Lua"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckBinary(context.Background(), tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if _, err := New(Options{Dir: testDir(t), Binary: tc.path}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want the same refusal", err)
			}
		})
	}
}
