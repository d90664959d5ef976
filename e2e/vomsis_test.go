package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/bridge/vomsis/vomsissim"
)

const (
	cnpPAN    = "4508034508034509"
	cnpHolder = "Zeynep Kartsahibi"
	cnpCard   = `"card":{"number":"4508034508034509","expiry_month":"12","expiry_year":"2031","cvc":"7391","holder":"Zeynep Kartsahibi"}`
)

// cnpCVC matches the CVC as a stand-alone digit run; four digits so that
// the binary database cannot contain it by chance.
var cnpCVC = regexp.MustCompile(`(^|[^0-9])7391([^0-9]|$)`)

// TestVomsisCrashWhileWaitingOn3DS SIGKILLs the agent while two card sales
// wait on their 3-D pages. On disk, as the crash left it (database, -wal,
// -shm) and in the logs there is no card data. After the restart the sale
// whose payer finished at the bank meanwhile is approved by find, exactly
// once; the other cannot be sent again (its card died with the process)
// and ends card_data_unavailable, never charged.
func TestVomsisCrashWhileWaitingOn3DS(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs processes")
	}
	agentBin, simBin := build(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "log.txt")
	logf, _ := os.Create(logPath)
	defer logf.Close()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("process logs:\n%s", b)
		}
	})
	sim := start(t, simListening, logf, simBin, "--listen", "127.0.0.1:0")
	cfg := filepath.Join(dir, "tezgah.toml")
	data := filepath.Join(dir, "data")
	conf := fmt.Sprintf(`[agent]
listen = "127.0.0.1:0"
data_dir = %q
log_level = "debug"
[vomsis]
base_url = "%s/api/vpos/v3"
app_key = "demo-app-key"
app_secret = "demo-app-secret"
three_ds_timeout = "5m"
timeout = "5s"
[[terminal]]
name = "vpos-1"
provider = "vomsis"
[[terminal]]
name = "vpos-2"
provider = "vomsis"
`, data, sim.addr)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	agent := start(t, agentListening, logf, agentBin, "run", "--config", cfg)
	ws := dialWS(t, agent.addr)
	for _, s := range []string{
		`{"type":"sale","id":"PAID","terminal":"vpos-1","amount":"120.00",` + cnpCard + `}`,
		`{"type":"sale","id":"LEFT","terminal":"vpos-2","amount":"80.00",` + cnpCard + `}`,
	} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	pages := map[string]string{}
	for len(pages) < 2 {
		ev := readEvent(t, ws)
		if ev.State == "waiting" {
			pages[ev.ID] = ev.ActionURL
		}
		if ev.Type == "result" || ev.Type == "error" {
			t.Fatalf("ended before its 3-D page: %+v", ev)
		}
	}
	// The payer of PAID has the bank page open when the agent dies.
	bank := openBankPage(t, pages["PAID"])
	agent.kill()
	noCardData(t, data, logPath, "after SIGKILL")

	// The payer approves at the bank while the agent is down; the
	// post-back to the dead agent is lost.
	resp, err := http.PostForm(bank.Action, bank.Fields)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("bank approval: %v %v", resp, err)
	}
	resp.Body.Close()

	agent = start(t, agentListening, logf, agentBin, "run", "--config", cfg)
	ws = dialWS(t, agent.addr)
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"resume","since":0}`))
	results := map[string]wsEvent{}
	deadline := time.Now().Add(60 * time.Second)
	for len(results) < 2 && time.Now().Before(deadline) {
		ev := readEvent(t, ws)
		if ev.Type == "result" {
			results[ev.ID] = ev
		}
	}
	if r := results["PAID"]; r.Status != "approved" {
		t.Errorf("PAID: %+v, want approved by find after the restart", r)
	}
	if r := results["LEFT"]; r.Status != "failed" || r.Error == nil || r.Error.Code != "card_data_unavailable" {
		t.Errorf("LEFT: %+v, want failed card_data_unavailable", r)
	}
	var l []vomsissim.Entry
	getJSON(t, sim.addr+vomsissim.AdminPrefix+"/ledger", &l)
	if len(l) != 1 || l[0].Amount != 12000 {
		t.Errorf("ledger %+v, want the one approved sale", l)
	}
	agent.kill()
	noCardData(t, data, logPath, "at the end")
}

type wsEvent struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	State     string `json:"state"`
	Status    string `json:"status"`
	ActionURL string `json:"action_url"`
	Error     *struct {
		Code string `json:"code"`
	} `json:"error"`
}

func dialWS(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readEvent(t *testing.T, c *websocket.Conn) wsEvent {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var ev wsEvent
	if err := c.ReadJSON(&ev); err != nil {
		t.Fatalf("read: %v", err)
	}
	return ev
}

// openBankPage does what the payer's browser does up to the bank's
// approve button: load the agent's page, follow its form to the bank.
func openBankPage(t *testing.T, page string) vomsissim.FormPost {
	t.Helper()
	resp, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	forms := vomsissim.ParseForms(doc)
	if resp.StatusCode != http.StatusOK || len(forms) == 0 {
		t.Fatalf("3-D page: %d %s", resp.StatusCode, doc)
	}
	resp, err = http.PostForm(forms[0].Action, forms[0].Fields)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, f := range vomsissim.ParseForms(doc) {
		if f.Fields.Get("result") == "ok" {
			return f
		}
	}
	t.Fatalf("no approve button on the bank page: %s", doc)
	return vomsissim.FormPost{}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// noCardData searches every file of the data directory and the process
// logs for the card.
func noCardData(t *testing.T, data, logPath, when string) {
	t.Helper()
	files := []string{logPath}
	filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 2 {
		t.Fatalf("%s: nothing in %s: the search would prove nothing", when, data)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{cnpPAN, cnpHolder, "450803450803"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s: %s contains %q", when, f, s)
			}
		}
		if cnpCVC.Match(b) {
			t.Errorf("%s: %s contains the CVC", when, f)
		}
	}
	t.Logf("%s: searched %s", when, strings.Join(files, ", "))
}
