package ha

import (
	"context"
	"testing"
	"time"
)

// TestThousandVIPs: one group carrying 1,000 VIPs (1,000 load balancers on one pair): every
// VIP is plumbed on the MASTER, and when its node is SIGKILLed every one of them is on the
// other host within seconds.
func TestThousandVIPs(t *testing.T) {
	l := startLab(t, 0)
	res, err := l.Scale(context.Background(), 1, 1000, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if res.AllPlumbed > 10*time.Second {
		t.Errorf("1,000 VIPs took %v to move, want a few seconds at most", res.AllPlumbed)
	}
}
