package clients_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	agentpkg "github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/internal/agenttest"
)

// TestClientExtras runs the C# and Java conformance programs' steps that
// are not in the shared table, against a real agent whose iyzico answers
// after 1 s:
//   - resume_send / resume_collect: a register stops right after its sale
//     was accepted; a new process with the same cursor file gets the one
//     result through resume alone; with a fresh cursor file it does not
//     (hello's last_seq starts after it), which shows the cursor did it;
//   - async_chain (Java): a stage chained on sendAsync may call the
//     blocking client without stopping the thread that reads answers.
func TestClientExtras(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs real agents and toolchains")
	}
	cfg := config.Demo()
	sim := agenttest.IyzicoOnly(t, cfg, iyzicosim.Options{})
	sim.SetFaults(iyzicosim.Faults{Latency: time.Second})
	url := agenttest.Run(t, cfg, agentpkg.Options{})

	for _, l := range []struct {
		name  string
		tools []string
		exe   []string
	}{
		{"csharp", []string{"mcs", "mono"}, []string{"mono", "bin/Conformance.exe"}},
		{"java", []string{"javac", "java"}, []string{"java", "-cp", "build", "Conformance"}},
	} {
		t.Run(l.name, func(t *testing.T) {
			for _, tool := range l.tools {
				if _, err := exec.LookPath(tool); err != nil {
					if os.Getenv("CI") == "true" {
						t.Fatalf("%s not installed (CI=true: every toolchain must be)", tool)
					}
					t.Skipf("%s not installed", tool)
				}
			}
			dir, _ := filepath.Abs(l.name)
			if out, err := extrasCmd(dir, "sh", "build.sh").CombinedOutput(); err != nil {
				t.Fatalf("build.sh: %v\n%s", err, out)
			}
			step := func(args ...string) (string, error) {
				c := extrasCmd(dir, l.exe[0], append(append(l.exe[1:], "--url", url, "--timeout", "60"), args...)...)
				var out bytes.Buffer
				c.Stdout, c.Stderr = &out, &out
				err := c.Run()
				return strings.TrimSpace(out.String()), err
			}
			tmp := t.TempDir()
			cursor, copied := filepath.Join(tmp, "cursor"), filepath.Join(tmp, "copy")
			reg := "extras-" + l.name

			out, err := step("--register", reg, "--cursor", cursor, "--step", "resume_send", "--terminal", "kasa-2")
			if err != nil || !strings.HasPrefix(out, "OK resume_send ") {
				t.Fatalf("resume_send: %v: %s", err, out)
			}
			id := strings.Fields(out)[2]
			b, err := os.ReadFile(cursor)
			if err != nil {
				t.Fatalf("resume_send left no cursor file: %v", err)
			}
			if err := os.WriteFile(copied, b, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err = step("--register", reg, "--cursor", cursor, "--step", "resume_collect", "--id", id)
			if err != nil || out != "OK resume_collect "+id+" approved" {
				t.Fatalf("resume_collect with the cursor file: %v: %s", err, out)
			}
			// The result is stored now. A register without a cursor file starts at
			// hello's last_seq, past it: nothing comes. The saved cursor brings it again.
			out, err = step("--register", reg, "--cursor", filepath.Join(tmp, "fresh"), "--step", "resume_collect", "--id", id, "--timeout", "5")
			if err == nil || !strings.Contains(out, "FAIL resume_collect no result for "+id) {
				t.Fatalf("resume_collect without a cursor file: want no result, got %v: %s", err, out)
			}
			out, err = step("--register", reg, "--cursor", copied, "--step", "resume_collect", "--id", id)
			if err != nil || out != "OK resume_collect "+id+" approved" {
				t.Fatalf("resume_collect with the saved cursor: %v: %s", err, out)
			}

			if l.name == "java" {
				out, err = step("--register", reg, "--step", "async_chain")
				if err != nil || out != "OK async_chain approved" {
					t.Fatalf("async_chain: %v: %s", err, out)
				}
			}
		})
	}
}

func extrasCmd(dir, name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Dir = dir
	return c
}
