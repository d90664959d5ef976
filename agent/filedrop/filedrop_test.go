package filedrop_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/filedrop"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
)

// env is a real agent (SQLite outbox, dispatcher, iyzico adapter) on the
// iyzico simulator over loopback HTTP, with its drop folder enabled.
type env struct {
	sim *iyzicosim.Server
	dir string // the drop folder
	cfg *config.Config
}

func startAgent(t testing.TB, edit func(*config.Config)) *env {
	t.Helper()
	cfg := config.Demo()
	sim := iyzicosim.New(iyzicosim.Options{
		ClientID: cfg.Iyzico.ClientID, ClientSecret: cfg.Iyzico.ClientSecret,
		Username: cfg.Iyzico.Username, Password: cfg.Iyzico.Password,
		Devices: []string{"P00134", "P00135"},
	})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	cfg.Iyzico.BaseURL = ts.URL
	cfg.Agent.DataDir = t.TempDir()
	cfg.Agent.Listen = "127.0.0.1:0"
	cfg.Filedrop.Enabled = true
	cfg.Filedrop.StableFor.Duration = 50 * time.Millisecond
	cfg.Filedrop.Rescan.Duration = 200 * time.Millisecond
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := agent.New(cfg, agent.Options{Version: "test", Log: log, Ready: func(u string) { ready <- u }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("agent stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not start")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("agent did not stop")
		}
	})
	return &env{sim: sim, dir: agent.FiledropDir(cfg), cfg: cfg}
}

// drop writes a file into the inbox the way careful programs do: under a
// temporary name first, then renamed.
func (e *env) drop(t testing.TB, name string, content []byte) {
	t.Helper()
	tmp := filepath.Join(e.dir, "inbox", name+".part")
	if err := os.WriteFile(tmp, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.dir, "inbox", name)); err != nil {
		t.Fatal(err)
	}
}

// wait polls for a file until it exists, and returns its content.
func wait(t testing.TB, path string, d time.Duration) []byte {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			return b
		}
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, path)
		}
		<-tick.C
	}
}

// result is the result file as a program reads it.
type result struct {
	File     string           `json:"file"`
	SHA256   string           `json:"sha256"`
	Format   string           `json:"format"`
	Policy   string           `json:"policy"`
	Commands []filedrop.Row   `json:"commands"`
	Summary  filedrop.Summary `json:"summary"`
}

func (e *env) result(t testing.TB, name string) result {
	t.Helper()
	// The result is written before the file moves, so once the file is
	// in done/ its result is complete.
	wait(t, filepath.Join(e.dir, "done", name), 60*time.Second)
	b, err := os.ReadFile(filepath.Join(e.dir, "done", name+".result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("result file is not JSON: %v\n%s", err, b)
	}
	return r
}

func (e *env) errorFile(t testing.TB, sub, name string) string {
	t.Helper()
	wait(t, filepath.Join(e.dir, sub, name), 60*time.Second)
	b, err := os.ReadFile(filepath.Join(e.dir, sub, name+".error.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func statuses(r result) string {
	var s []string
	for _, c := range r.Commands {
		s = append(s, c.Status)
	}
	return strings.Join(s, ",")
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFormats(t *testing.T) {
	e := startAgent(t, nil)
	cases := []struct {
		name, fixture string
		want          string // statuses in file order
		sales         string // kasa-1 approved sales total
	}{
		{"eod-kasa-1.json", "eod.json", "approved", ""},
		{"gun-sonu.json", "array.json", "approved,approved,declined,approved", "150.00"},
		{"satislar.ndjson", "crlf-bom.ndjson", "approved,approved,approved", "350.25"},
		{"Şişli Şubesi gün sonu.csv", "sisli.csv", "approved,approved,approved,approved", "1249.90"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.drop(t, tc.name, fixture(t, tc.fixture))
			r := e.result(t, tc.name)
			if got := statuses(r); got != tc.want {
				t.Fatalf("statuses %s, want %s\n%+v", got, tc.want, r.Commands)
			}
			if r.File != tc.name || len(r.SHA256) != 64 {
				t.Errorf("header: file %q sha256 %q", r.File, r.SHA256)
			}
			if r.Summary.Commands != len(r.Commands) {
				t.Errorf("summary counts %d commands, the file has %d", r.Summary.Commands, len(r.Commands))
			}
			for _, c := range r.Commands {
				if c.Status == "approved" && c.Type != "end_of_day" && !strings.Contains(string(c.Payment), "payment_id") {
					t.Errorf("line %d approved without a payment id: %s", c.Line, c.Payment)
				}
				if len(c.RequestID) > 64 {
					t.Errorf("request id %q is longer than the protocol allows", c.RequestID)
				}
			}
			if tc.sales != "" {
				k1 := r.Summary.Terminals[0]
				if k1.Terminal != "kasa-1" || len(k1.Totals) != 1 || k1.Totals[0].SalesAmount != tc.sales {
					t.Errorf("kasa-1 summary %+v, want sales %s", k1, tc.sales)
				}
			}
		})
	}
}
