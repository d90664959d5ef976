package filedrop_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/filedrop"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/internal/testwait"
)

// TestAllOrNothingProviderChecks: a command the provider's adapter
// refuses when it is stored — protocol.md's own "Elma 0.5 KGM" line on a
// VUK 507 terminal, which takes whole quantities only — stops the whole
// file under all_or_nothing before anything of it is stored. Before, the
// other sale and the end of day ran.
func TestAllOrNothingProviderChecks(t *testing.T) {
	e := startAgent(t, nil)
	const name = "elma.ndjson"
	e.drop(t, name, []byte(`{"type":"sale","id":"S-1","terminal":"kasa-1","amount":"20.00"}
{"type":"sale","id":"R1-000130","terminal":"kasa-1","amount":"150.50","items":[{"name":"Saç Tıraşı","quantity":"1","unit_price":"100.00","amount":"100.00","vat_rate":20,"unit":"C62","code":"869000"},{"name":"Elma","quantity":"0.5","amount":"50.50","vat_rate":1,"unit":"KGM"}],"customer":{"type":"individual","first_name":"Eda","last_name":"Yılmaz","identity_number":"12345678901"}}
{"type":"end_of_day","terminal":"kasa-1"}
`))
	got := e.errorFile(t, "failed", name)
	if !strings.Contains(got, "line 2, field items[1].quantity: invalid_field") || !strings.Contains(got, "its other 2 commands were checked") {
		t.Errorf("error file:\n%s", got)
	}
	if l := e.sim.Ledger(); len(l) != 0 {
		t.Errorf("part of an all_or_nothing file ran: %+v", l)
	}
	if n := e.sim.Hits("/v2/terminal-host/gmu/payment"); n != 0 {
		t.Errorf("%d sales reached the terminal", n)
	}
}

// TestNotAFile: a folder or a symbolic link put into inbox/ is answered
// like a bad file — moved to failed/ with an error file saying why — and
// a link is never followed: the file it points to stays untouched and is
// not run. Before, both stayed in inbox/ forever with no word.
func TestNotAFile(t *testing.T) {
	e := startAgent(t, nil)
	inbox := filepath.Join(e.dir, "inbox")
	outside := filepath.Join(t.TempDir(), "outside.json")
	content := fixture(t, "eod.json")
	if err := os.WriteFile(outside, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(inbox, "link.json")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	if err := os.Mkdir(filepath.Join(inbox, "gun-sonu.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inbox, "gun-sonu.json", "eod.json"), content, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"link.json":     "not_a_file: it is a symbolic link",
		"gun-sonu.json": "not_a_file: it is a folder",
	} {
		// The error file is written before the entry moves.
		testwait.For(t, name+" in failed/", 60*time.Second, func() bool {
			_, err := os.Lstat(filepath.Join(e.dir, "failed", name))
			return err == nil
		}, nil)
		if got := string(wait(t, filepath.Join(e.dir, "failed", name+".error.txt"), time.Second)); !strings.Contains(got, want) {
			t.Errorf("%s: error file:\n%s", name, got)
		}
	}
	if fi, err := os.Lstat(filepath.Join(e.dir, "failed", "link.json")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link itself is not in failed/: %v %v", fi, err)
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != string(content) {
		t.Errorf("the link's target was touched: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "failed", "gun-sonu.json", "eod.json")); err != nil {
		t.Errorf("the folder was not moved whole: %v", err)
	}
	if l := e.sim.Ledger(); len(l) != 0 {
		t.Errorf("something ran: %+v", l)
	}
	// Counted just after the move.
	testwait.For(t, "/metrics to count both", 10*time.Second, func() bool {
		return strings.Contains(e.metrics(t), `tezgah_filedrop_files_total{outcome="not_a_file"} 2`)
	}, func() string { return grepLines(e.metrics(t), "tezgah_filedrop") })
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestChangedWhileProcessing: a file taken while its writer paused, and
// appended to while its commands run, is stopped and reported as
// changed_while_processing: the commands stored are in the result with
// their results, and the error file says what was added did not run.
// Before, the appended lines were silently dropped.
func TestChangedWhileProcessing(t *testing.T) {
	e := startAgent(t, nil)
	// The terminal takes its time, so the file is still being run when
	// the writer comes back.
	e.sim.SetFaults(iyzicosim.Faults{Latency: 5 * time.Second})
	const name = "yarim.ndjson"
	path := filepath.Join(e.dir, "inbox", name)
	first := `{"type":"sale","id":"S-1","terminal":"kasa-1","amount":"11.00"}` + "\n" +
		`{"type":"sale","id":"S-2","terminal":"kasa-1","amount":"12.00"}` + "\n"
	// The writer keeps the file open and pauses longer than stable_for;
	// its handle follows the file into processing/.
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(first)
	testwait.For(t, "the first sale to reach the terminal", 60*time.Second, func() bool {
		return e.sim.Hits("/v2/terminal-host/gmu/payment") > 0
	}, nil)
	f.WriteString(`{"type":"sale","id":"S-3","terminal":"kasa-1","amount":"13.00"}` + "\n" +
		`{"type":"end_of_day","terminal":"kasa-1"}` + "\n")
	f.Close()
	e.sim.SetFaults(iyzicosim.Faults{})

	r := e.result(t, name)
	if r.Error == nil || r.Error.Code != filedrop.CodeChangedWhileProcessing {
		t.Fatalf("result error %+v, want %s", r.Error, filedrop.CodeChangedWhileProcessing)
	}
	if len(r.Commands) != 2 {
		t.Fatalf("result has %d commands, want the 2 taken: %+v", len(r.Commands), r.Commands)
	}
	for _, c := range r.Commands {
		if c.Status != "approved" && c.Status != filedrop.StatusNotRun {
			t.Errorf("line %d: %s", c.Line, c.Status)
		}
	}
	if r.Commands[0].Status != "approved" {
		t.Errorf("line 1, stored before the change, is %s", r.Commands[0].Status)
	}
	approved := strings.Count(statuses(r), "approved")
	if n := len(e.sim.Ledger()); n != approved {
		t.Errorf("ledger %d, result reports %d approved", n, approved)
	}
	got := string(wait(t, filepath.Join(e.dir, "done", name+".error.txt"), time.Second))
	if !strings.Contains(got, "changed_while_processing") || !strings.Contains(got, "nothing written later did") {
		t.Errorf("error file:\n%s", got)
	}
	if b, _ := os.ReadFile(filepath.Join(e.dir, "done", name)); !strings.Contains(string(b), "S-3") {
		t.Errorf("done/ lacks the file as its writer left it:\n%s", b)
	}
}

// TestPollOnly: with notifications off (filedrop.poll, for network
// shares where they never come) the rescan alone finds files.
func TestPollOnly(t *testing.T) {
	e := startAgent(t, func(c *config.Config) {
		c.Filedrop.Poll = true
		c.Filedrop.Rescan.Duration = 300 * time.Millisecond
	})
	e.drop(t, "polled.json", fixture(t, "eod.json"))
	if got := statuses(e.result(t, "polled.json")); got != "approved" {
		t.Errorf("statuses %s", got)
	}
}

// TestCSVNaturalCells: a CSV written by hand or by Excel can ask for the
// end of day's summary with "evet" and carry a sale's lines and buyer as
// JSON in a cell; both run. Before, summary=true was refused as "not a
// JSON bool" and items could not be given at all.
func TestCSVNaturalCells(t *testing.T) {
	e := startAgent(t, nil)
	const name = "excel.csv"
	e.drop(t, name, []byte("\ufefftype;id;terminal;amount;items;customer;summary\r\n"+
		`sale;S-1;kasa-1;100.00;"[{""name"":""Saç Tıraşı"",""quantity"":""1"",""unit_price"":""100.00"",""amount"":""100.00"",""vat_rate"":20,""unit"":""C62""}]";"{""type"":""individual"",""first_name"":""Eda"",""last_name"":""Yılmaz"",""identity_number"":""12345678901""}";`+"\r\n"+
		"end_of_day;EOD-1;kasa-1;;;;Evet\r\n"))
	r := e.result(t, name)
	if got := statuses(r); got != "approved,approved" {
		t.Fatalf("statuses %s %+v", got, r.Commands)
	}
}

// TestChangedBeforeAnythingRan: a file found changed when it resumes —
// its copy in processing/ says it held one sale, it now holds two — of
// which nothing was stored goes back to inbox/ and then runs whole, with
// no error: it had only been taken too early.
func TestChangedBeforeAnythingRan(t *testing.T) {
	dir := t.TempDir()
	const name = "erken.ndjson"
	half := `{"type":"sale","id":"E-1","terminal":"kasa-1","amount":"3.00"}` + "\n"
	whole := half + `{"type":"sale","id":"E-2","terminal":"kasa-1","amount":"4.00"}` + "\n"
	os.MkdirAll(filepath.Join(dir, "processing"), 0o700)
	for path, content := range map[string]string{
		filepath.Join(dir, "processing", filedrop.SchemeMark): "",
		filedrop.SnapshotPath(dir, name):                      half,
		filepath.Join(dir, "processing", name):                whole,
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e := startAgent(t, func(c *config.Config) { c.Filedrop.Dir = dir })
	r := e.result(t, name)
	if got := statuses(r); got != "approved,approved" || r.Error != nil {
		t.Errorf("statuses %s, error %+v", got, r.Error)
	}
	if n := len(e.sim.Ledger()); n != 2 {
		t.Errorf("ledger %d, want the 2 sales once each", n)
	}
}
