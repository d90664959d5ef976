package clients_test

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tezgah/tezgah/internal/syncbuf"

	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
)

// TestExampleRegisters runs the Python and JS example registers (a sale,
// then its refund) and cuts the agent's power while the sale is at the
// provider: the example must reconnect and print both results.
func TestExampleRegisters(t *testing.T) {
	if runtime.GOOS == "windows" || testing.Short() {
		t.Skip("needs a Unix and real agents (not -short)")
	}
	w := startWorld(t, buildAgent(t))
	examples := []struct {
		name string
		cmd  func(t *testing.T) []string
		dir  string
	}{
		{"python", func(t *testing.T) []string { return []string{python(t), "examples/register.py"} }, "python"},
		{"js", func(t *testing.T) []string {
			if _, err := exec.LookPath("node"); err != nil {
				missing(t, "example js: skipped, node not installed")
			}
			// The example needs ws: install the locked dependencies in a copy.
			wd := filepath.Join(t.TempDir(), "js")
			copyTree(t, "js", wd)
			npmCI(t, wd, "--omit=dev")
			return []string{"node", filepath.Join(wd, "examples/register.mjs")}
		}, "js"},
	}
	inflight := regexp.MustCompile(`^\[kasa-2\] \S+-\d{14}-\S+: waiting for card`)
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			cmd := ex.cmd(t)
			w.iyzico.SetFaults(iyzicosim.Faults{Latency: 2 * time.Second})
			defer w.iyzico.SetFaults(iyzicosim.Faults{})
			ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
			defer cancel()
			c := exec.CommandContext(ctx, cmd[0], append(cmd[1:], "--url", w.a.wsURL(), "--register", "example-"+ex.name,
				"--terminal", "kasa-2", "--amount", "150.00", "--cursor", filepath.Join(t.TempDir(), "cursor"))...)
			c.Dir = ex.dir
			out, err := c.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr syncbuf.Buffer
			c.Stderr = &stderr
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			var lines []string
			killed := false
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines = append(lines, sc.Text())
				t.Logf("  %s", sc.Text())
				if !killed && inflight.MatchString(sc.Text()) {
					killed = true
					if err := w.a.restart(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := c.Wait(); err != nil {
				t.Fatalf("example: %v\n%s", err, stderr.String())
			}
			all := strings.Join(lines, "\n")
			for _, want := range []string{"agent lost, reconnecting", "Sale: APPROVED", "Refund: APPROVED"} {
				if !strings.Contains(all, want) {
					t.Errorf("the example never printed %q", want)
				}
			}
			if !killed {
				t.Error("the example never showed the sale at the terminal")
			}
		})
	}
}
