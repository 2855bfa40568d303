package dataplane

import "testing"

func TestConnectionLoggingNeedsContract3(t *testing.T) {
	raw := `{"contract":3,"version":1,"listeners":[{"id":"l","loadbalancer_id":"lb","protocol":"TCP","addresses":["127.0.0.1"],
		"protocol_port":80,"connection_logging":false}],"pools":[]}`
	c, err := Decode([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Listeners[0]; l.ConnectionLogging == nil || *l.ConnectionLogging {
		t.Fatalf("connection_logging = %v, want false", l.ConnectionLogging)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if n := c.NeededContract(); n != 3 {
		t.Fatalf("NeededContract = %d, want 3", n)
	}
	c.Listeners[0].ConnectionLogging = nil
	c.Listeners[0].Ingress = &Ingress{Allow: []string{"10.0.0.0/8"}}
	if n := c.NeededContract(); n != 2 {
		t.Fatalf("without connection_logging NeededContract = %d, want 2", n)
	}
}
