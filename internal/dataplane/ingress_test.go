package dataplane

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestIngressContract: a listener's security-group filter is validated
// with its field path, bounded, survives the JSON round trip (an empty
// list stays "admit nobody"), and makes the config need contract 2.
func TestIngressContract(t *testing.T) {
	c := validConfig()
	if c.NeededContract() != 1 {
		t.Fatalf("a config without a filter needs contract %d", c.NeededContract())
	}
	c.Contract = 2
	c.Listeners[1].Ingress = &Ingress{Allow: []string{}}
	c.Listeners[0].Ingress = &Ingress{Allow: []string{"127.0.0.2/32", "::/0"}}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid filters: %v", err)
	}
	if c.NeededContract() != 2 {
		t.Fatalf("a config with a filter needs contract %d", c.NeededContract())
	}
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if in := back.Listeners[1].Ingress; in == nil || in.Allow == nil || len(in.Allow) != 0 {
		t.Fatalf("an empty filter came back as %+v", in)
	}
	if back.Listeners[0].Ingress == nil || len(back.Listeners[0].Ingress.Allow) != 2 {
		t.Fatalf("filter came back as %+v", back.Listeners[0].Ingress)
	}
	c.Listeners[0].Ingress.Allow = []string{"127.0.0.2/32", "10.0.0.0/33"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `listeners[0].ingress.allow[1]: invalid CIDR "10.0.0.0/33"`) {
		t.Fatalf("bad prefix: %v", err)
	}
	var many []string
	for i := 0; i <= MaxIngressPrefixes; i++ {
		many = append(many, fmt.Sprintf("10.%d.%d.1/32", i/256, i%256))
	}
	c.Listeners[0].Ingress.Allow = many
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "listeners[0].ingress.allow: 10001 prefixes, at most 10000") {
		t.Fatalf("too many prefixes: %v", err)
	}
}
