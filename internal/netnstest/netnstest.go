// Package netnstest gives tests a network of their own: Linux network
// namespaces joined by a veth pair, with addresses from 10.213.0.0/30
// that exist only inside them. Multicast DNS and LAN clients can then be
// tested for real without touching the machine's own network. It needs
// root and iproute2's `ip`; where either is missing the test is skipped
// with the reason.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// The two ends of the veth pair.
const (
	AddrA = "10.213.0.1"
	AddrB = "10.213.0.2"
)

// NS is one network namespace.
type NS struct {
	Name string
	Addr string // its end of the veth pair
}

// Command returns cmd to be run inside the namespace.
func (n NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

var seq atomic.Int64

// Pair creates namespaces a and b joined by a veth pair, each with its
// loopback up and a multicast route on its veth end. They are deleted
// when the test ends, failed or not.
func Pair(t *testing.T) (a, b NS) {
	t.Helper()
	a = NS{Name: newName(t, "a"), Addr: AddrA}
	b = NS{Name: newName(t, "b"), Addr: AddrB}
	ipCmd(t, "link", "add", "tz"+suffix(a.Name), "netns", a.Name, "type", "veth", "peer", "name", "tz"+suffix(b.Name), "netns", b.Name)
	for _, n := range []NS{a, b} {
		up(t, n, "tz"+suffix(n.Name))
	}
	return a, b
}

// Single creates one namespace holding both ends of a veth pair (AddrA
// and AddrB), for a test that runs a service and its client in one
// process.
func Single(t *testing.T) NS {
	t.Helper()
	n := NS{Name: newName(t, "s"), Addr: AddrA}
	ipCmd(t, "-n", n.Name, "link", "add", "tza", "type", "veth", "peer", "name", "tzb")
	up(t, n, "tza")
	ipCmd(t, "-n", n.Name, "addr", "add", AddrB+"/30", "dev", "tzb")
	ipCmd(t, "-n", n.Name, "link", "set", "tzb", "up")
	return n
}

// Exec runs `ip -n NAME args...` and fails the test if it fails.
func (n NS) Exec(t *testing.T, args ...string) {
	t.Helper()
	ipCmd(t, append([]string{"-n", n.Name}, args...)...)
}

func newName(t *testing.T, role string) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("network namespaces are Linux only")
	}
	if os.Geteuid() != 0 {
		t.Skip("creating network namespaces needs root; run the tests as root (CI does)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2's ip is not installed (apt-get install iproute2)")
	}
	name := fmt.Sprintf("tezgah-%d-%d%s", os.Getpid(), seq.Add(1), role)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace (%v: %s): not allowed in this container?", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	return name
}

// suffix keeps interface names under Linux's 15 characters.
func suffix(name string) string {
	i := strings.LastIndex(name, "-")
	return name[i+1:]
}

func up(t *testing.T, n NS, dev string) {
	t.Helper()
	ipCmd(t, "-n", n.Name, "link", "set", "lo", "up")
	ipCmd(t, "-n", n.Name, "addr", "add", n.Addr+"/30", "dev", dev)
	ipCmd(t, "-n", n.Name, "link", "set", dev, "up")
	ipCmd(t, "-n", n.Name, "route", "add", "224.0.0.0/4", "dev", dev)
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// InSingle runs the calling test again as a child process inside a fresh
// namespace made by Single, and reports whether this process is that
// child (which then runs the test's body). In the parent it returns
// false once the child has passed, failing the test if it did not.
func InSingle(t *testing.T) bool {
	t.Helper()
	const env = "TEZGAH_TEST_NETNS"
	if os.Getenv(env) == t.Name() {
		return true
	}
	ns := Single(t)
	cmd := ns.Command(os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("inside namespace %s:\n%s", ns.Name, out)
	if err != nil {
		t.Fatalf("the test failed inside the namespace: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatal("the test did not run inside the namespace")
	}
	return false
}
