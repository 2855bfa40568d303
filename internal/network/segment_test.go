package network

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseSegments(t *testing.T) {
	ss, err := ParseSegments([]string{"physnet=198.18.0.0/24", "edge=198.19.0.0/24", "physnet=198.18.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[1].Name != "physnet" || len(ss[1].Ranges) != 2 {
		t.Fatalf("segments %+v", ss)
	}
	if got := ss.Of(netip.MustParsePrefix("198.18.1.0/25")); got != "physnet" {
		t.Errorf("Of(198.18.1.0/25) = %q", got)
	}
	if got := ss.Of(netip.MustParsePrefix("198.18.0.0/23")); got != "" {
		t.Errorf("Of(198.18.0.0/23) = %q, want none (wider than a range)", got)
	}
	for _, bad := range []string{"physnet", "=198.18.0.0/24", "p=198.18.0.1/24", "p=127.1.0.0/16", "p=198.18.0.0/24,q=198.18.0.0/25", "a b=198.18.0.0/24"} {
		if _, err := ParseSegments(strings.Split(bad, ",")); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSegmentModeSubnets(t *testing.T) {
	ss, _ := ParseSegments([]string{"physnet=198.18.0.0/24"})
	seg := addressSpace{segments: ss}
	for cidr, want := range map[string]string{
		"198.18.0.0/24":  "",
		"198.18.0.64/26": "",
		"127.30.0.0/16":  "", // loopback ranges stay servable
		"198.18.0.0/23":  "segment network mode",
		"10.0.0.0/24":    "segment network mode",
		"127.0.0.0/24":   "host's own services",
	} {
		err := seg.checkServable(cidr)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", cidr, err, want)
		}
	}
	// Loopback mode still refuses the segment's range.
	if err := (addressSpace{}).checkServable("198.18.0.0/24"); err == nil {
		t.Error("loopback mode accepted 198.18.0.0/24")
	}
}
