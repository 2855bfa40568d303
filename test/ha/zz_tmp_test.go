package ha

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestTmpHold(t *testing.T) {
	l := startAgentLab(t)
	fmt.Fprintf(os.Stderr, "LAB ns=%s url=http://%s:9876 lb=%s\n", l.Ctl.Namespace, l.Ctl.Addr, l.LB)
	os.WriteFile("/tmp/hacli-ready", []byte(fmt.Sprintf("%s http://%s:9876 %s", l.Ctl.Namespace, l.Ctl.Addr, l.LB)), 0o644)
	for i := 0; i < 600; i++ {
		if _, err := os.Stat("/tmp/hacli-done"); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
}
