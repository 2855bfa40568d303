package ha

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/netlab"
	"github.com/fulcrumlb/fulcrum/internal/servertest"
)

// TestLabCommand drives `fulcrum lab` as a user would: up, list, exec (the command runs in
// the host's namespace, with the host's address; a failing command is an error), down.
func TestLabCommand(t *testing.T) {
	bin, err := servertest.Binary(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("u%x", time.Now().UnixNano()&0xffffff)
	fulcrum := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"lab"}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { fulcrum("down", name) })

	out, err := fulcrum("up", "--subnet", "198.19.7.0/28", name, "web", "client")
	if err != nil {
		t.Fatalf("lab up: %v\n%s", err, out)
	}
	for _, want := range []string{"web           198.19.7.1", "client        198.19.7.2", netlab.Namespace(name, "web")} {
		if !strings.Contains(out, want) {
			t.Errorf("lab up output lacks %q:\n%s", want, out)
		}
	}
	if out, err := fulcrum("list"); err != nil || !strings.Contains(out, name) || !strings.Contains(out, "persistent") || !strings.Contains(out, "client web") {
		t.Errorf("lab list: %v\n%s", err, out)
	}
	out, err = fulcrum("exec", name, "client", "--", "ip", "-o", "-4", "addr", "show", "dev", "eth0")
	if err != nil || !strings.Contains(out, "198.19.7.2/28") {
		t.Errorf("lab exec ip addr: %v\n%s", err, out)
	}
	if out, err := fulcrum("exec", name, "web", "sh", "-c", "exit 3"); err == nil || !strings.Contains(out, "exit status 3") {
		t.Errorf("a failing command: %v\n%s", err, out)
	}
	if out, err := fulcrum("up", name, "x"); err == nil {
		t.Errorf("second lab up with the same name succeeded:\n%s", out)
	}
	for _, bad := range [][]string{{"up", "--subnet", "10.0.0.0/24", "other", "a"}, {"up", "Bad", "a"}, {"exec", name, "nosuch", "true"}, {"bogus"}} {
		if out, err := fulcrum(bad...); err == nil {
			t.Errorf("lab %v succeeded:\n%s", bad, out)
		}
	}
	if out, err := fulcrum("down", name); err != nil {
		t.Fatalf("lab down: %v\n%s", err, out)
	}
	if infos, _ := netlab.List(); len(infos) > 0 {
		for _, i := range infos {
			if i.Name == name {
				t.Errorf("lab %s still listed after down: %+v", name, i)
			}
		}
	}
	if out, err := fulcrum("down", name); err == nil {
		t.Errorf("second lab down succeeded:\n%s", out)
	}
}
