package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFiledropCrash drops a file of sales into the agent's inbox, SIGKILLs
// the agent twice while the file is being processed, restarts it, and
// checks the promises of the drop folder: the file resumes and finishes,
// its result file is complete, and the provider's ledger holds exactly
// one charge for each sale reported approved and none for any other —
// also after the same file is dropped once more.
func TestFiledropCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs processes")
	}
	agentBin, simBin := build(t)
	dir := t.TempDir()
	logf := processLog(t, dir)

	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	// drop-rate: some charges are recorded and left unanswered, so the
	// agent must reconcile by query rather than charge again.
	sim := start(t, simListening, logf, simBin, "--listen", "127.0.0.1:0", "--devices", devices(2),
		"--seed", fmt.Sprint(seed), "--latency", "5ms", "--drop-rate", "0.05")
	drop := filepath.Join(dir, "drop")
	cfg := writeConfig(t, dir, sim.addr, 2, fmt.Sprintf(
		"\n[filedrop]\nenabled = true\ndir = %q\nstable_for = \"50ms\"\nrescan = \"200ms\"\n", drop))
	agent := start(t, agentListening, logf, agentBin, "run", "--config", cfg)

	const sales = 300
	var b strings.Builder
	b.WriteString("\ufeff")
	for i := range sales {
		// Every 10th amount ends in .51, which the simulator declines.
		cents := 10 + i%90
		if i%10 == 3 {
			cents = 51
		}
		fmt.Fprintf(&b, `{"type":"sale","id":"GS-%04d","terminal":"kasa-%d","amount":"%d.%02d","expires_in":3600}`+"\r\n", i, 1+i%2, 1+i%400, cents)
	}
	b.WriteString(`{"type":"end_of_day","terminal":"kasa-1"}` + "\r\n" + `{"type":"end_of_day","terminal":"kasa-2"}` + "\r\n")
	const name = "gun-sonu-2026-11-24.ndjson"
	content := []byte(b.String())
	dropFile := func() {
		tmp := filepath.Join(drop, "inbox", name+".tmp")
		if err := os.WriteFile(tmp, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(drop, "inbox", name)); err != nil {
			t.Fatal(err)
		}
	}
	dropFile()

	chargesAtLeast := func(n int) func() bool {
		return func() bool { return len(ledger(t, sim.addr)) >= n }
	}
	for k, at := range []int{60, 180} {
		waitFor(t, 60*time.Second, fmt.Sprintf("%d charges", at), chargesAtLeast(at))
		_, err := os.Stat(filepath.Join(drop, "processing", name))
		agent.kill()
		t.Logf("kill %d: agent SIGKILLed at %d charges (file in processing/: %v)", k+1, at, err == nil)
		if k == 0 && err != nil {
			t.Fatalf("the first kill was not mid-file: %v", err)
		}
		agent = start(t, agentListening, logf, agentBin, "run", "--config", cfg)
	}

	done := filepath.Join(drop, "done")
	waitFor(t, 120*time.Second, "the file to reach done/", func() bool {
		_, err := os.Stat(filepath.Join(done, name))
		return err == nil
	})
	res := readResult(t, filepath.Join(done, name+".result.json"))
	if len(res.Commands) != sales+2 {
		t.Fatalf("result has %d commands, the file %d", len(res.Commands), sales+2)
	}
	approved := map[string]string{} // payment id -> request id
	statuses := map[string]int{}
	for i, c := range res.Commands {
		statuses[c.Status]++
		if c.Line != i+1 {
			t.Errorf("command %d reports line %d", i+1, c.Line)
		}
		switch {
		case c.Type == "end_of_day":
			if c.Status != "approved" {
				t.Errorf("end of day %s: %s %+v", c.RequestID, c.Status, c.Error)
			}
		case c.Status == "approved":
			if c.Payment.PaymentID == "" {
				t.Errorf("%s approved without a payment id", c.RequestID)
			}
			approved[c.Payment.PaymentID] = c.RequestID
		case c.Status == "declined":
			if !strings.HasSuffix(c.Amount, ".51") {
				t.Errorf("%s (%s) declined: %+v", c.RequestID, c.Amount, c.Error)
			}
		default:
			t.Errorf("%s: status %s %+v", c.RequestID, c.Status, c.Error)
		}
	}
	t.Logf("results: %v", statuses)
	checkLedger := func() int {
		charges := map[string]int{}
		n := 0
		for _, e := range ledger(t, sim.addr) {
			if e.Op != "sale" {
				continue
			}
			n++
			if charges[e.Reference]++; charges[e.Reference] > 1 {
				t.Errorf("reference %s charged %d times", e.Reference, charges[e.Reference])
			}
			if _, ok := approved[e.PaymentID]; !ok {
				t.Errorf("ledger charge %s (ref %s) is not an approved sale in the result file", e.PaymentID, e.Reference)
			}
		}
		if n != len(approved) {
			t.Errorf("ledger has %d sale charges, the result file %d approved sales", n, len(approved))
		}
		return n
	}
	before := checkLedger()

	// The same file again: nothing runs, the results are the same.
	for _, f := range []string{name, name + ".result.json"} {
		os.Remove(filepath.Join(done, f))
	}
	dropFile()
	waitFor(t, 60*time.Second, "the repeated file to reach done/", func() bool {
		_, err := os.Stat(filepath.Join(done, name))
		return err == nil
	})
	again := readResult(t, filepath.Join(done, name+".result.json"))
	x, _ := json.Marshal(res.Commands)
	y, _ := json.Marshal(again.Commands)
	if string(x) != string(y) {
		t.Error("the repeated file got other results")
	}
	if after := checkLedger(); after != before {
		t.Errorf("the repeated file charged again: %d -> %d", before, after)
	}
}

type fileResult struct {
	Commands []struct {
		Line      int    `json:"line"`
		RequestID string `json:"request_id"`
		Type      string `json:"type"`
		Amount    string `json:"amount"`
		Status    string `json:"status"`
		Payment   struct {
			PaymentID string `json:"payment_id"`
		} `json:"payment"`
		Error json.RawMessage `json:"error"`
	} `json:"commands"`
}

func readResult(t *testing.T, path string) fileResult {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r fileResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}
