package config

import (
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"
)

func usageSet() *Set {
	var (
		str, str2 string
		n         int
		d         time.Duration
		b         bool
		l         []string
	)
	s := New("test")
	s.String(&str, "listen", "127.0.0.1:9876", "address of the HTTP API")
	s.String(&str2, "external-url", "", "scheme://host:port clients reach the API at, for the catalog and clouds.yaml (default: from each request)")
	s.Section("Agents")
	s.Duration(&d, "agent-dead-after", 3*time.Second, "silence after which an agent is down")
	s.Duration(&d, "token-expiry", 24*time.Hour, "lifetime of tokens")
	s.Bool(&b, "embedded-agent", true, "run one agent inside the server")
	s.Section("Quotas")
	s.Int(&n, "quota-pool", -1, "default quota of pools per project (-1 unlimited)")
	s.List(&l, "member-address-deny", []string{"169.254.169.254/32", "::1/128"}, "CIDRs member addresses must not be in")
	return s
}

// TestHelpPrintsEachDefaultOnce: -h printed every default twice, once
// from the usage string and once from the flag package ((default "3s")
// (default 3s)). Now each flag shows once, with its type, its default
// once, its environment variable, under its section.
func TestHelpPrintsEachDefaultOnce(t *testing.T) {
	var out strings.Builder
	err := usageSet().Load([]string{"-h"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Load -h: %v, want flag.ErrHelp", err)
	}
	text := out.String()
	for _, want := range []struct{ flag, def, env string }{
		{"--listen string", "default 127.0.0.1:9876", "env FULCRUM_LISTEN"},
		{"--external-url string", "", "env FULCRUM_EXTERNAL_URL"},
		{"--agent-dead-after duration", "default 3s", "env FULCRUM_AGENT_DEAD_AFTER"},
		{"--token-expiry duration", "default 24h;", "env FULCRUM_TOKEN_EXPIRY"},
		{"--embedded-agent\n", "default true", "env FULCRUM_EMBEDDED_AGENT"},
		{"--quota-pool int", "default -1", "env FULCRUM_QUOTA_POOL"},
		{"--member-address-deny list", "default 169.254.169.254/32,::1/128", "env FULCRUM_MEMBER_ADDRESS_DENY"},
		{"--config file", "", "env FULCRUM_CONFIG"},
	} {
		if n := strings.Count(text, "  "+want.flag); n != 1 {
			t.Errorf("%q appears %d times, want once", want.flag, n)
		}
		if want.def != "" && strings.Count(text, want.def) != 1 {
			t.Errorf("%q appears %d times, want once", want.def, strings.Count(text, want.def))
		}
		if strings.Count(text, want.env) != 1 {
			t.Errorf("%q appears %d times, want once", want.env, strings.Count(text, want.env))
		}
	}
	if n := strings.Count(text, "(default "); n != 6 { // the six settings with a default
		t.Errorf("got %d defaults, want 6:\n%s", n, text)
	}
	if strings.Contains(text, `(default "`) || strings.Contains(text, "24h0m0s") {
		t.Errorf("flag package defaults or long durations in:\n%s", text)
	}
	if a, q := strings.Index(text, "\nAgents:\n"), strings.Index(text, "\nQuotas:\n"); a < 0 || q < a ||
		strings.Index(text, "--agent-dead-after") < a || strings.Index(text, "--quota-pool") < q || strings.Index(text, "--listen") > a {
		t.Errorf("sections out of place:\n%s", text)
	}
	for _, line := range strings.Split(text, "\n") {
		if len(line) > usageWidth && strings.Contains(strings.TrimSpace(line), " ") {
			t.Errorf("line of %d columns: %q", len(line), line)
		}
	}
}

// describer collects DescribeSettings calls and any text written.
type describer struct {
	strings.Builder
	cmd   string
	infos []Info
}

func (d *describer) DescribeSettings(cmd string, infos []Info) { d.cmd, d.infos = cmd, infos }

func TestDescriber(t *testing.T) {
	var d describer
	err := usageSet().Load([]string{"--help"}, func(string) string { return "" }, &d)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Load --help: %v, want flag.ErrHelp", err)
	}
	if d.Len() != 0 {
		t.Errorf("usage text written to a Describer: %q", d.String())
	}
	want := []Info{
		{Name: "listen", Type: "string", Usage: "address of the HTTP API", Default: "127.0.0.1:9876", Env: "FULCRUM_LISTEN"},
		{Name: "external-url", Type: "string", Usage: "scheme://host:port clients reach the API at, for the catalog and clouds.yaml (default: from each request)", Env: "FULCRUM_EXTERNAL_URL"},
		{Name: "agent-dead-after", Type: "duration", Usage: "silence after which an agent is down", Default: "3s", Env: "FULCRUM_AGENT_DEAD_AFTER", Section: "Agents"},
		{Name: "token-expiry", Type: "duration", Usage: "lifetime of tokens", Default: "24h", Env: "FULCRUM_TOKEN_EXPIRY", Section: "Agents"},
		{Name: "embedded-agent", Type: "bool", Usage: "run one agent inside the server", Default: "true", Env: "FULCRUM_EMBEDDED_AGENT", Section: "Agents"},
		{Name: "quota-pool", Type: "int", Usage: "default quota of pools per project (-1 unlimited)", Default: "-1", Env: "FULCRUM_QUOTA_POOL", Section: "Quotas"},
		{Name: "member-address-deny", Type: "list", Usage: "CIDRs member addresses must not be in", Default: "169.254.169.254/32,::1/128", Env: "FULCRUM_MEMBER_ADDRESS_DENY", Section: "Quotas"},
	}
	if d.cmd != "test" || !reflect.DeepEqual(d.infos, want) {
		t.Errorf("described %q %+v\nwant %+v", d.cmd, d.infos, want)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", time.Second: "1s", 90 * time.Second: "1m30s", time.Minute: "1m",
		24 * time.Hour: "24h", 90 * time.Minute: "1h30m", time.Hour + time.Second: "1h0m1s", 250 * time.Millisecond: "250ms"} {
		got := shortDuration(d)
		if got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(got); err != nil || back != d {
			t.Errorf("%q parses to %v, %v; want %v", got, back, err, d)
		}
	}
}
