// Package e2e holds tests that run tezgah and tezgah-sim as real
// processes: crash tests with SIGKILL and provider outages.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tezgah/tezgah/internal/testbin"
)

// build compiles the two commands once per test binary run.
func build(t *testing.T) (agent, sim string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL crash tests need a Unix")
	}
	return testbin.Build(t, "../cmd/tezgah", "-race"), testbin.Build(t, "../cmd/tezgah-sim", "-race")
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// proc is a started process whose stdout is scanned for its address.
type proc struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

// start runs bin with args and waits for a stdout line matching re, whose
// first group is the address.
func start(t *testing.T, re *regexp.Regexp, logw io.Writer, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stderr = logw
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(logw, sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	select {
	case p.addr = <-found:
	case <-p.done:
		t.Fatalf("%s exited before it listened", bin)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not listen within 30s", bin)
	}
	return p
}

func (p *proc) kill() {
	p.cmd.Process.Kill() // SIGKILL on Unix
	<-p.done
}

var (
	simListening   = regexp.MustCompile(`listening on (http://\S+)`)
	agentListening = regexp.MustCompile(`listening on (ws://\S+)`)
)

// ledgerEntry is one money movement the simulator recorded.
type ledgerEntry struct {
	Op        string `json:"op"`
	Reference string `json:"transactionReferenceId"`
	PaymentID string `json:"paymentId"`
	Amount    int64  `json:"amount"`
}

func ledger(t *testing.T, simURL string) []ledgerEntry {
	t.Helper()
	resp, err := http.Get(simURL + "/_sim/ledger")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l []ledgerEntry
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return l
}

func setFaults(t *testing.T, simURL string, faults map[string]any) {
	t.Helper()
	b, _ := json.Marshal(faults)
	req, _ := http.NewRequest(http.MethodPut, simURL+"/_sim/faults", strings.NewReader(string(b)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("set faults: %s", resp.Status)
	}
}

// writeConfig writes an agent config for terminals on the simulator.
func writeConfig(t *testing.T, dir, simURL string, terminals int, extra string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "[agent]\nlisten = \"127.0.0.1:0\"\ndata_dir = %q\n%s\n", filepath.Join(dir, "data"), extra)
	fmt.Fprintf(&b, "[iyzico]\nbase_url = %q\nclient_id = \"demo-client\"\nclient_secret = \"demo-secret\"\nusername = \"demo\"\npassword = \"demo\"\ntax_group_code = \"KDV20\"\ntimeout = \"5s\"\n", simURL)
	for i := 1; i <= terminals; i++ {
		fmt.Fprintf(&b, "\n[[terminal]]\nname = \"kasa-%d\"\nprovider = \"iyzico\"\ndevice_id = \"DEV%d\"\nmodel = \"vuk507\"\n", i, i)
	}
	path := filepath.Join(dir, "tezgah.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func devices(n int) string {
	var d []string
	for i := 1; i <= n; i++ {
		d = append(d, fmt.Sprint("DEV", i))
	}
	return strings.Join(d, ",")
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s", d, what)
		case <-tick.C:
		}
	}
}

// processLog is the file the test's processes log to; if the test fails,
// its tail goes into the test's output.
func processLog(t *testing.T, dir string) *os.File {
	t.Helper()
	path := filepath.Join(dir, "log.txt")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(path)
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("process logs (tail):\n%s", b)
		}
	})
	return f
}
