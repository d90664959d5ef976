package filedrop_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/filedrop"
	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/internal/agenttest"
)

// env is a real agent (SQLite outbox, dispatcher, iyzico adapter) on the
// iyzico simulator over loopback HTTP, with its drop folder enabled.
type env struct {
	sim *iyzicosim.Server
	dir string // the drop folder
	cfg *config.Config
	url string // the agent's WebSocket URL
}

func startAgent(t testing.TB, edit func(*config.Config)) *env {
	t.Helper()
	cfg := config.Demo()
	// The demo's other providers play no part here.
	sim := agenttest.IyzicoOnly(t, cfg, iyzicosim.Options{})
	cfg.Filedrop.Enabled = true
	cfg.Filedrop.StableFor.Duration = filedrop.MinStableFor
	cfg.Filedrop.Rescan.Duration = 200 * time.Millisecond
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	url := agenttest.Run(t, cfg, agent.Options{Version: "test", Log: log})
	return &env{sim: sim, dir: agent.FiledropDir(cfg), cfg: cfg, url: url}
}

// metrics returns the agent's /metrics page.
func (e *env) metrics(t testing.TB) string {
	t.Helper()
	u := strings.Replace(strings.TrimSuffix(e.url, "/v1/ws"), "ws://", "http://", 1) + "/metrics"
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
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
	Error    *protocol.Error  `json:"error"`
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
	b, err := os.ReadFile(filepath.Join(e.dir, "done", filedrop.Companion(name, ".result.json")))
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
	b, err := os.ReadFile(filepath.Join(e.dir, sub, filedrop.Companion(name, ".error.txt")))
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
	for _, tc := range cases { // at once: each waits stable_for
		e.drop(t, tc.name, fixture(t, tc.fixture))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
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

// TestBadFiles: every kind of bad file goes to failed/ with an error file
// naming the line, the field and the reason, and nothing in it runs, not
// even its good lines (all_or_nothing, the default).
func TestBadFiles(t *testing.T) {
	e := startAgent(t, nil)
	good := `{"type":"sale","id":"G-1","terminal":"kasa-1","amount":"10.00"}` + "\n"
	cases := []struct {
		name    string
		content string
		want    []string // in the error file
	}{
		{"malformed.ndjson", good + "{\"type\":\"sale\",\n", []string{"line 2: invalid_json"}},
		{"unknown-field.ndjson", good + `{"type":"sale","terminal":"kasa-1","amount":"1.00","tip":"5"}` + "\n",
			[]string{"line 2, field tip: unknown_field"}},
		{"bad-amount.csv", "type,terminal,amount\r\nsale,kasa-1,10.00\r\nsale,kasa-1,\"12,50\"\r\nsale,kasa-1,1.005\r\n",
			[]string{"line 3, field amount: invalid_amount", "line 4, field amount: invalid_amount: amount 1.005 has more than 2 decimal places"}},
		{"cp1254.csv", "type;terminal;amount\nsale;kasa-1;10.00\nsale;\xdei\xfeli;5.00\n", // "Şişli" in Windows-1254
			[]string{"line 3, field terminal: invalid_encoding"}},
		{"utf16.json", "\xff\xfe{\x00}\x00", []string{"line 1: invalid_encoding: the file is UTF-16"}},
		{"syntax.json", "[\n  {\"type\":\"sale\",\"terminal\":\"kasa-1\",\"amount\":\"1.00\"},\n  {\"type\":\"sale\" \"terminal\":\"kasa-1\"}\n]\n",
			[]string{"line 3: invalid_json: JSON syntax error", "could not be read to its end"}},
		{"terminal.ndjson", good + `{"type":"end_of_day","terminal":"Şişli Şubesi"}` + "\n",
			[]string{`line 2, field terminal: unknown_terminal: no terminal "Şişli Şubesi"`}},
		{"original.ndjson", `{"type":"void","terminal":"kasa-1","original_id":"NOPE-1"}` + "\n", []string{"line 1, field original_id: unknown_original"}},
		{"refund.csv", "type,id,terminal,amount,original_id\nsale,S-1,kasa-1,10.00,\nrefund,R-1,kasa-1,10.01,S-1\nvoid,V-1,kasa-1,,R-1\n",
			[]string{"line 3, field amount: amount_exceeds_original: refund 10.01 is more than the sale's 10.00 on line 2",
				"line 4, field original_id: invalid_original: line 3 is a refund, not a sale"}},
		{"dup.ndjson", good + good, []string{`line 2, field id: duplicate_id: id "G-1" is already used on line 1`}},
		{"cancel.ndjson", good + `{"type":"cancel","id":"G-1"}` + "\n", []string{"line 2, field type: unsupported_operation"}},
		{"card.ndjson", good + `{"type":"sale","terminal":"vpos-1","amount":"5.00","card":{"number":"4508034508034509","cvc":"000"}}` + "\n",
			[]string{"line 2, field card: invalid_field: card data is never taken from files"}},
		{"cells.csv", "type,terminal,amount\nsale,kasa-1\n", []string{"line 2: invalid_csv: the row has 2 cells, the header row 3"}},
		{"header.csv", "type,,amount\nsale,kasa-1,1.00\n", []string{"line 1: invalid_csv: column 2 of the header row has no name"}},
		{"empty.ndjson", "\r\n\r\n", []string{"no_commands"}},
		{"empty.json", "[]", []string{"no_commands"}},
		{"notes.txt", "sale kasa-1 10.00", []string{"unsupported_format"}},
	}
	for _, tc := range cases {
		e.drop(t, tc.name, []byte(tc.content))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := e.errorFile(t, "failed", tc.name)
			if strings.Contains(got, "4508034508034509") {
				t.Error("the error file repeats the card number")
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("error file lacks %q:\n%s", w, got)
				}
			}
			if _, err := os.Stat(filepath.Join(e.dir, "done", tc.name+".result.json")); err == nil {
				t.Error("a failed file got a result file")
			}
		})
	}
	if l := e.sim.Ledger(); len(l) != 0 {
		t.Errorf("bad files moved money: %+v", l)
	}
}

// TestSkipInvalid: under skip_invalid the good lines of a partly bad file
// run, the bad ones are reported in the result and the error file.
func TestSkipInvalid(t *testing.T) {
	e := startAgent(t, func(c *config.Config) { c.Filedrop.Policy = filedrop.SkipInvalid })
	// A declined sale from an earlier file: refunding it is refused by
	// the checks the agent makes before storing, run for the whole file
	// before anything runs.
	e.drop(t, "earlier.ndjson", []byte(`{"type":"sale","id":"D-1","terminal":"kasa-1","amount":"10.51"}`))
	declined := e.result(t, "earlier.ndjson").Commands[0].RequestID
	const name = "mixed.ndjson"
	e.drop(t, name, []byte(`{"type":"sale","id":"M-1","terminal":"kasa-1","amount":"10.00"}
{"type":"sale","id":"M-2","terminal":"kasa-1","amount":"-3"}
{"type":"refund","id":"M-3","terminal":"kasa-1","amount":"20.00","original_id":"M-1"}
{"type":"refund","id":"M-4","terminal":"kasa-1","amount":"1.00","original_id":"`+declined+`"}
{"type":"end_of_day","id":"M-5","terminal":"kasa-1"}
`))
	r := e.result(t, name)
	if got := statuses(r); got != "approved,invalid,invalid,invalid,approved" {
		t.Fatalf("statuses %s\n%+v", got, r.Commands)
	}
	if c := r.Commands[1]; c.Error.Code != "invalid_amount" || c.Error.Field != "amount" {
		t.Errorf("line 2 error %+v", c.Error)
	}
	if c := r.Commands[2]; c.Error.Code != "amount_exceeds_original" {
		t.Errorf("line 3 error %+v", c.Error)
	}
	if c := r.Commands[3]; c.Error.Code != "invalid_original" {
		t.Errorf("line 4 error %+v", c.Error)
	}
	errText := string(wait(t, filepath.Join(e.dir, "done", name+".error.txt"), time.Second))
	if !strings.Contains(errText, "line 2, field amount: invalid_amount") {
		t.Errorf("error file:\n%s", errText)
	}
	if n := len(e.sim.Ledger()); n != 1 {
		t.Errorf("ledger has %d movements, want the one sale", n)
	}
}

// TestSameFileTwice: a file dropped again runs nothing again and gets the
// same results.
func TestSameFileTwice(t *testing.T) {
	e := startAgent(t, func(c *config.Config) { c.Filedrop.ResultFormats = []string{"json", "csv"} })
	const name = "eod-2026-11-24.ndjson"
	content := fixture(t, "crlf-bom.ndjson")
	e.drop(t, name, content)
	first := e.result(t, name)
	ledger := len(e.sim.Ledger())
	csv1 := wait(t, filepath.Join(e.dir, "done", name+".result.csv"), time.Second)
	for _, f := range []string{name, name + ".result.json", name + ".result.csv"} {
		os.Remove(filepath.Join(e.dir, "done", f))
	}

	e.drop(t, name, content)
	second := e.result(t, name)
	if n := len(e.sim.Ledger()); n != ledger {
		t.Fatalf("dropping the file again moved money: ledger %d -> %d", ledger, n)
	}
	a, _ := json.Marshal(first.Commands)
	b, _ := json.Marshal(second.Commands)
	if string(a) != string(b) {
		t.Errorf("results differ:\n%s\n%s", a, b)
	}
	if csv2 := wait(t, filepath.Join(e.dir, "done", name+".result.csv"), time.Second); string(csv1) != string(csv2) {
		t.Errorf("CSV results differ:\n%s\n%s", csv1, csv2)
	}
	if !strings.HasPrefix(string(csv1), "\ufeffline,id,request_id,type") {
		t.Errorf("CSV result header: %q", strings.SplitN(string(csv1), "\n", 2)[0])
	}
}

// TestWaitsForCompleteFile: a file still being written is not taken, and
// temporary names are never taken.
func TestWaitsForCompleteFile(t *testing.T) {
	const stable = time.Second
	e := startAgent(t, func(c *config.Config) { c.Filedrop.StableFor.Duration = stable })
	inbox := filepath.Join(e.dir, "inbox")
	skipped := []string{"copy.tmp", "copy.part", "~lock.csv", ".hidden.json"}
	for _, n := range skipped {
		if err := os.WriteFile(filepath.Join(inbox, n), []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A writer that writes half a file, pauses, and writes the rest: taken
	// during the pause, the file would fail as malformed.
	const name = "slow.ndjson"
	f, err := os.Create(filepath.Join(inbox, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(`{"type":"sale","id":"W-1","terminal":"kasa-1",`)
	f.Sync()
	// Watch the inbox for a while shorter than stable_for: the file must
	// stay where it is.
	pause := time.Now().Add(stable * 2 / 5)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(pause) {
		if _, err := os.Stat(filepath.Join(inbox, name)); err != nil {
			t.Fatalf("the file was taken while still being written: %v", err)
		}
		<-tick.C
	}
	f.WriteString(`"amount":"5.00"}` + "\n")
	f.Close()
	r := e.result(t, name)
	if got := statuses(r); got != "approved" {
		t.Fatalf("statuses %s", got)
	}
	for _, n := range skipped {
		if _, err := os.Lstat(filepath.Join(inbox, n)); err != nil {
			t.Errorf("%s was touched: %v", n, err)
		}
	}
}

// TestFilesPresentAtStart: a file left in processing/ (a crash) and one
// dropped while the agent was down are both found by the first scan,
// with no notification to wake the watcher.
func TestFilesPresentAtStart(t *testing.T) {
	dir := t.TempDir()
	for sub, name := range map[string]string{"processing": "left.ndjson", "inbox": "early.json"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, sub, name), fixture(t, map[string]string{"left.ndjson": "crlf-bom.ndjson", "early.json": "eod.json"}[name]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e := startAgent(t, func(c *config.Config) { c.Filedrop.Dir = dir })
	if got := statuses(e.result(t, "left.ndjson")); got != "approved,approved,approved" {
		t.Errorf("left.ndjson: %s", got)
	}
	if got := statuses(e.result(t, "early.json")); got != "approved" {
		t.Errorf("early.json: %s", got)
	}
}

// BenchmarkFile runs files of 1,000 and 10,000 sales through the real
// agent and simulator, end to end (stable wait, validate, submit, every
// sale approved, result file), and reports the heap's peak while it runs:
// the file is streamed, so the peak barely grows with the file.
func BenchmarkFile(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint("commands=", n), func(b *testing.B) { benchFile(b, n) })
	}
}

func benchFile(b *testing.B, n int) {
	e := startAgent(b, func(c *config.Config) { c.Filedrop.StableFor.Duration = 10 * time.Millisecond })
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var size int
	start := time.Now()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("bench-%d.ndjson", i)
		f, err := os.Create(filepath.Join(e.dir, "inbox", name+".part"))
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriter(f)
		for j := range n {
			fmt.Fprintf(w, `{"type":"sale","id":"B%d-%05d","terminal":"kasa-%d","amount":"%d.%02d","expires_in":3600}`+"\n", i, j, 1+j%2, 1+j%500, j%50)
		}
		w.Flush()
		st, _ := f.Stat()
		size = int(st.Size())
		f.Close()
		if err := os.Rename(f.Name(), filepath.Join(e.dir, "inbox", name)); err != nil {
			b.Fatal(err)
		}
		wait(b, filepath.Join(e.dir, "done", name), 10*time.Minute)
	}
	b.StopTimer()
	close(stop)
	<-sampled
	b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "commands/s")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(size)/(1<<20), "file-MB")
}
