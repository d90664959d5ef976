package logsink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

type eventLog struct {
	mu    sync.Mutex
	lines []string
}

func (e *eventLog) add(sev string, v []any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lines = append(e.lines, sev+": "+fmt.Sprint(v...))
	return nil
}
func (e *eventLog) Error(v ...any) error   { return e.add("E", v) }
func (e *eventLog) Warning(v ...any) error { return e.add("W", v) }
func (e *eventLog) Info(v ...any) error    { return e.add("I", v) }

func TestRecordsGoEverywhere(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	ev := &eventLog{}
	h, closer, err := New(dir, Options{Level: slog.LevelInfo, Stderr: &stderr, System: ev})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(h).With("terminal", "kasa-1")
	log.Debug("hidden")
	log.Info("started", "port", 8417)
	log.Error("provider down", "err", "dial tcp: refused")
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}

	data, err := os.ReadFile(File(dir))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 {
		t.Fatalf("file has %d lines:\n%s", len(lines), data)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil || rec["msg"] != "provider down" || rec["terminal"] != "kasa-1" {
		t.Fatalf("file record %s (%v)", lines[1], err)
	}
	if !strings.Contains(stderr.String(), "msg=started") || strings.Contains(stderr.String(), "hidden") {
		t.Fatalf("stderr %q", stderr.String())
	}
	want := []string{
		"I: msg=started terminal=kasa-1 port=8417",
		`E: msg="provider down" terminal=kasa-1 err="dial tcp: refused"`,
	}
	if fmt.Sprint(ev.lines) != fmt.Sprint(want) {
		t.Fatalf("event log %q, want %q", ev.lines, want)
	}
	if fi, err := os.Stat(File(dir)); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("log file mode %v (%v): it may hold references; keep it private", fi.Mode(), err)
	}
}
