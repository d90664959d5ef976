package filedrop_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/filedrop"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/internal/agenttest"
	"github.com/tezgah/tezgah/internal/testwait"
)

// TestNamesNeverCollide is issue 19's repro and its kin: files with the
// same content whose names differ only after the first 48 characters,
// only in case, or only in Turkish letters, and names of 255 bytes, each
// run on their own: every command gets its own request id and its own
// outcome. Before, the second day's end of day and sale never ran and its
// result showed the first day's request ids as approved.
func TestNamesNeverCollide(t *testing.T) {
	e := startAgent(t, nil)
	content := []byte(`{"type":"sale","id":"S-1","terminal":"kasa-1","amount":"12.00"}` + "\n" +
		`{"type":"end_of_day","terminal":"kasa-1"}` + "\n")
	long := strings.Repeat("ş", 115) // 230 bytes
	names := []string{
		"Kadikoy Moda Subesi gun sonu raporu kasa-1 2026-11-24.ndjson",
		"Kadikoy Moda Subesi gun sonu raporu kasa-1 2026-11-25.ndjson",
		long + "-2026-11-24.ndjson", // 255 bytes
		long + "-2026-11-25.ndjson", // 255 bytes
		"gün sonu.ndjson", "gun sonu.ndjson", "GÜN SONU.ndjson", "Gün Sonu.ndjson",
		"çğıİöşü.ndjson", "cgiIosu.ndjson",
	}
	for _, n := range names {
		if len(n) > 255 {
			t.Fatalf("%d-byte name", len(n))
		}
	}
	// One at a time, as the back office of the issue did it, so the
	// second file meets the first one's stored requests.
	seen := map[string]string{}
	for _, name := range names {
		e.drop(t, name, content)
		r := e.result(t, name)
		if got := statuses(r); got != "approved,approved" {
			t.Errorf("%s: statuses %s", name, got)
		}
		if r.File != name {
			t.Errorf("result of %s names %s", name, r.File)
		}
		for _, c := range r.Commands {
			if other, dup := seen[c.RequestID]; dup {
				t.Errorf("%s line %d reports request %s of %s", name, c.Line, c.RequestID, other)
			}
			seen[c.RequestID] = name
			if len(c.RequestID) > 64 {
				t.Errorf("request id %q is too long", c.RequestID)
			}
		}
	}
	sales := 0
	for _, l := range e.sim.Ledger() {
		if l.Op == "sale" {
			sales++
		}
	}
	if sales != len(names) {
		t.Errorf("%d sales charged for %d files", sales, len(names))
	}
}

// TestNamesDifferingInCase: two files at once whose names differ only in
// case (a case-sensitive file system holds both) are two files.
func TestNamesDifferingInCase(t *testing.T) {
	e := startAgent(t, nil)
	probe := filepath.Join(e.dir, "inbox", "Case.probe.tmp")
	os.WriteFile(probe, nil, 0o600)
	if _, err := os.Stat(filepath.Join(e.dir, "inbox", "case.probe.tmp")); err == nil {
		t.Skip("case-insensitive file system")
	}
	os.Remove(probe)
	content := []byte(`{"type":"sale","id":"S-1","terminal":"kasa-1","amount":"7.00"}`)
	e.drop(t, "eod.json", content)
	e.drop(t, "EOD.json", content)
	a, b := e.result(t, "eod.json"), e.result(t, "EOD.json")
	if a.Commands[0].RequestID == b.Commands[0].RequestID {
		t.Fatalf("both report request %s", a.Commands[0].RequestID)
	}
	if statuses(a) != "approved" || statuses(b) != "approved" || len(e.sim.Ledger()) != 2 {
		t.Errorf("statuses %s %s, ledger %d", statuses(a), statuses(b), len(e.sim.Ledger()))
	}
}

// runOn runs an agent on a data directory of the test's choosing, so a
// second run finds what the first stored; it returns the WebSocket URL
// and a function that stops the agent and waits for it.
func runOn(t *testing.T, cfg *config.Config, dataDir string) (string, func()) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return agenttest.RunIn(t, cfg, agent.Options{Version: "test"}, dataDir)
}

// TestResumeFileOfOlderVersion: a file the version before the new ids
// took and half ran is resumed after the upgrade with that version's ids
// for what it stored — nothing runs twice — and the new ids for the rest.
func TestResumeFileOfOlderVersion(t *testing.T) {
	data, drop := t.TempDir(), t.TempDir()
	cfg := config.Demo()
	sim := agenttest.IyzicoOnly(t, cfg, iyzicosim.Options{})
	cfg.Filedrop.Enabled = false
	cfg.Filedrop.StableFor.Duration = filedrop.MinStableFor
	const name = "eski gün sonu.ndjson"
	content := `{"type":"sale","id":"S-1","terminal":"kasa-1","amount":"10.00"}` + "\n" +
		`{"type":"sale","id":"S-2","terminal":"kasa-1","amount":"20.00"}` + "\n"
	sum := sha256.Sum256([]byte(content))
	legacy := "eski_gun_sonu:" + hex.EncodeToString(sum[:])[:12] + ":S-1"

	// The older version stored line 1 under its id, then stopped.
	url, stop := runOn(t, cfg, data)
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"sale","id":"`+legacy+`","terminal":"kasa-1","amount":"10.00"}`))
	ws.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var ev struct{ Type, Status string }
		json.Unmarshal(msg, &ev)
		if ev.Type == "result" {
			if ev.Status != "approved" {
				t.Fatalf("sale %s", msg)
			}
			break
		}
	}
	ws.Close()
	stop()
	if err := os.MkdirAll(filepath.Join(drop, "processing"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(drop, "processing", name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}

	// The new version starts on the same outbox and folder.
	cfg.Filedrop.Enabled, cfg.Filedrop.Dir = true, drop
	runOn(t, cfg, data)
	e := &env{sim: sim, dir: drop, cfg: cfg}
	r := e.result(t, name)
	if got := statuses(r); got != "approved,approved" {
		t.Fatalf("statuses %s", got)
	}
	if r.Commands[0].RequestID != legacy {
		t.Errorf("line 1 reported as %s, want the older version's %s", r.Commands[0].RequestID, legacy)
	}
	if r.Commands[1].RequestID == strings.Replace(legacy, "S-1", "S-2", 1) {
		t.Errorf("line 2, never stored, kept the old id scheme: %s", r.Commands[1].RequestID)
	}
	if n := len(sim.Ledger()); n != 2 {
		t.Errorf("ledger has %d sales, want 2: the stored sale ran again", n)
	}
	// The marks of the upgrade go with the file (just after it moves).
	left := func() string {
		var names []string
		ents, _ := os.ReadDir(filepath.Join(drop, "processing"))
		for _, en := range ents {
			if en.Name() != ".ids-v2" {
				names = append(names, en.Name())
			}
		}
		return strings.Join(names, " ")
	}
	testwait.For(t, "processing/ to hold only the scheme mark", 10*time.Second, func() bool { return left() == "" }, left)
}
