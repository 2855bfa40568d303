package dataplane

import (
	"strings"
	"testing"
)

func TestValidateVRRP(t *testing.T) {
	good := func() VRRPGroup {
		return VRRPGroup{Name: "lb-1", Segment: "physnet", VRID: 1, Priority: 100, AdvertIntervalMS: 200,
			SourceIP: "198.18.0.2", Peer: "198.18.0.3", VIPs: map[string][]string{"lb1": {"198.18.0.100/32"}}}
	}
	tests := []struct {
		name   string
		change func(c *Config)
		want   string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"bad name", func(c *Config) { c.VRRP[0].Name = "a b" }, "vrrp[0].name"},
		{"no segment", func(c *Config) { c.VRRP[0].Segment = "" }, "vrrp[0].segment"},
		{"vrid 0", func(c *Config) { c.VRRP[0].VRID = 0 }, "vrrp[0].vrid"},
		{"priority 255", func(c *Config) { c.VRRP[0].Priority = 255 }, "vrrp[0].priority"},
		{"advert not a multiple of 10", func(c *Config) { c.VRRP[0].AdvertIntervalMS = 205 }, "vrrp[0].advert_interval_ms"},
		{"IPv6 source", func(c *Config) { c.VRRP[0].SourceIP = "2001:db8::1" }, "vrrp[0].source_ip"},
		{"peer is source", func(c *Config) { c.VRRP[0].Peer = "198.18.0.2" }, "vrrp[0].peer"},
		{"no VIPs", func(c *Config) { c.VRRP[0].VIPs = nil }, "vrrp[0].vips"},
		{"VIP without prefix", func(c *Config) { c.VRRP[0].VIPs["lb1"] = []string{"198.18.0.100"} }, `vrrp[0].vips["lb1"][0]`},
		{"VIP is a member", func(c *Config) { c.VRRP[0].VIPs["lb1"] = []string{"198.18.0.3/32"} }, "address of a member"},
		{"duplicate VRID", func(c *Config) {
			g := good()
			g.Name, g.VIPs = "lb-2", map[string][]string{"lb2": {"198.18.0.101/32"}}
			c.VRRP = append(c.VRRP, g)
		}, "vrrp[1].vrid"},
		{"VIP in two groups", func(c *Config) {
			g := good()
			g.Name, g.VRID = "lb-2", 2
			c.VRRP = append(c.VRRP, g)
		}, "also a VIP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{Listeners: []Listener{}, Pools: []Pool{}, VRRP: []VRRPGroup{good()}}
			tt.change(c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestHeartbeatCheckVRRP(t *testing.T) {
	ok := Heartbeat{Capabilities: []string{CapabilityVRRP}, Segments: []Segment{{Name: "physnet", Interface: "eth0", Address: "198.18.0.2/24"}},
		VRRP: []VRRPState{{Group: "lb-1", State: VRRPMaster, Priority: 100}}}
	if err := ok.CheckVRRP(); err != nil {
		t.Fatal(err)
	}
	for name, hb := range map[string]Heartbeat{
		"address without prefix": {Segments: []Segment{{Name: "p", Interface: "eth0", Address: "198.18.0.2"}}},
		"long interface":         {Segments: []Segment{{Name: "p", Interface: strings.Repeat("e", 16), Address: "198.18.0.2/24"}}},
		"unknown state":          {VRRP: []VRRPState{{Group: "lb-1", State: "LEADER"}}},
		"bad group":              {VRRP: []VRRPState{{Group: "", State: VRRPMaster}}},
		"too many capabilities":  {Capabilities: make([]string, 17)},
	} {
		if err := hb.CheckVRRP(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
