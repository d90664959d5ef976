package wine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/internal/testwait"
)

// TestDemo runs the Windows build's demo under Wine and uses it as a shop
// would: a sale and its refund over WebSocket, a register that drops its
// connection and resumes, and an end-of-day file written by a Windows
// program that holds it open.
func TestDemo(t *testing.T) {
	e := setup(t)
	p, url := e.agent(t, "--demo", "--data-dir", `C:\tz\demo`, "--listen", "127.0.0.1:0")
	if !strings.Contains(p.out.String(), `data in C:\tz\demo`) {
		t.Errorf("the demo does not say where its data is:\n%s", p.out)
	}
	r := dial(t, url)

	t.Run("sale and refund", func(t *testing.T) {
		r.t = t
		r.send(map[string]any{"type": "sale", "id": "W-1", "terminal": "kasa-1", "amount": "150.00"})
		if res := r.result("W-1", 2*time.Minute); res.Status != "approved" || res.Payment.PaymentID == "" {
			t.Fatalf("sale: %+v", res)
		}
		r.send(map[string]any{"type": "refund", "id": "W-2", "terminal": "kasa-1", "original_id": "W-1", "amount": "50.00"})
		if res := r.result("W-2", 2*time.Minute); res.Status != "approved" {
			t.Fatalf("refund: %+v", res)
		}
	})

	t.Run("disconnect and resume", func(t *testing.T) {
		r.t = t
		r.send(map[string]any{"type": "sale", "id": "W-3", "terminal": "kasa-2", "amount": "12.34"})
		acc := r.next("accepted W-3", time.Minute, func(ev event) bool { return ev.Type == "accepted" && ev.ID == "W-3" })
		r.close() // the register goes away before it has the result
		r2 := dial(t, url)
		r2.send(map[string]any{"type": "resume", "since": acc.Seq})
		res := r2.result("W-3", 2*time.Minute)
		if res.Status != "approved" || res.Seq <= acc.Seq {
			t.Fatalf("resumed result %+v after accepted seq %d", res, acc.Seq)
		}
		// Once: a query answers from the store, marked as a replay.
		r2.send(map[string]any{"type": "query", "id": "W-3"})
		q := r2.next("query answer", time.Minute, func(ev event) bool { return ev.ID == "W-3" && ev.Replay })
		if q.Type != "result" || q.Seq != res.Seq {
			t.Fatalf("query after resume: %+v, result was %+v", q, res)
		}
		if n := r2.count("result", "W-3"); n != 2 { // the resumed one and the query's replay
			t.Fatalf("read %d results for W-3:\n%s", n, describe(r2.seen))
		}
	})

	t.Run("file drop", func(t *testing.T) {
		fileDrop(t, e, `C:\tz\demo\filedrop`)
	})
}

// fileDrop has holdopen write end-of-day CSVs (UTF-8 with a byte order
// mark, CRLF, `;`, Turkish names) into the inbox, one opened with no
// sharing and one sharing everything (which lets the file be renamed
// under its writer), and shows that the agent leaves both alone while
// holdopen keeps them open, and takes them once closed.
func fileDrop(t *testing.T, e *env, drop string) {
	files := map[string]string{ // name -> holdopen's share mode
		"gün sonu şube İstanbul.csv": "none",
		"Çarşı ödemeleri ığüşöç.csv": "all",
	}
	csv := "\ufefftype;id;terminal;amount;currency;original_id\r\n" +
		"sale;F-1;kasa-2;25.50;TRY;\r\n" +
		"refund;F-2;kasa-2;5.50;TRY;F-1\r\n" +
		"end_of_day;EOD-1;kasa-2;;;\r\n"
	e.writeWin(t, `C:\tz\stage\eod.csv`, []byte(csv))
	inbox, done := e.host(drop+`\inbox`), e.host(drop+`\done`)
	release := `C:\tz\stage\release`
	writers := map[string]*proc{}
	for name, share := range files {
		ready := `C:\tz\stage\ready-` + share
		w := e.start(t, e.holdopen, share, `C:\tz\stage\eod.csv`, drop+`\inbox\`+name, ready, release)
		testwait.For(t, "holdopen to write "+name, 2*time.Minute, exists(e.host(ready)), w.out.String)
		writers[name] = w
	}

	// The files are complete and unchanged from here on. A file dropped
	// after them and closed at once goes through the same stable_for
	// wait; when that one is done, the held files have been stable for as
	// long and were passed over only because they are still open.
	marker := `{"type":"end_of_day","id":"EOD-M","terminal":"kasa-1"}` + "\r\n"
	if err := os.WriteFile(filepath.Join(inbox, "marker.json"), []byte(marker), 0o644); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the marker file's result", 3*time.Minute, exists(filepath.Join(done, "marker.json.result.json")), nil)
	for name, share := range files {
		if _, err := os.Stat(filepath.Join(inbox, name)); err != nil {
			t.Errorf("%s (shared: %s) left the inbox while its writer had it open: %v", name, share, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	e.writeWin(t, release, nil)
	for name, w := range writers {
		select {
		case <-w.done:
			if w.err != nil {
				t.Fatalf("holdopen %s: %v\n%s", name, w.err, w.out)
			}
		case <-time.After(time.Minute):
			t.Fatalf("holdopen did not close %s:\n%s", name, w.out)
		}
	}
	for name := range files {
		resultFile := filepath.Join(done, name+".result.json")
		testwait.For(t, "the result of "+name, 3*time.Minute, exists(resultFile), nil)
		b, err := os.ReadFile(resultFile)
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			File     string `json:"file"`
			Format   string `json:"format"`
			Commands []struct {
				Line      int    `json:"line"`
				RequestID string `json:"request_id"`
				Status    string `json:"status"`
			} `json:"commands"`
		}
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		if res.File != name || res.Format != "csv" || len(res.Commands) != 3 {
			t.Fatalf("result: %s", b)
		}
		for i, c := range res.Commands {
			if c.Line != i+2 || c.Status != "approved" {
				t.Errorf("%s command %d: %+v", name, i, c)
			}
		}
		if !strings.HasPrefix(res.Commands[0].RequestID, "gun_sonu_sube_Istanbul:") && !strings.HasPrefix(res.Commands[0].RequestID, "Carsi_odemeleri_igusoc:") {
			t.Errorf("request ids of %s: %s", name, res.Commands[0].RequestID)
		}
	}
}

func exists(path string) func() bool {
	return func() bool {
		_, err := os.Stat(path)
		return err == nil
	}
}

// simulator is an iyzico simulator on the Linux side, outside the
// agent's process, so that its ledger outlives the agent's crashes.
type simulator struct {
	url   string
	srv   *httptest.Server
	sim   *iyzicosim.Server
	mu    sync.Mutex // guards calls
	calls []string   // the paths asked, in order
}

func newSimulator(t *testing.T) *simulator {
	t.Helper()
	s := &simulator{sim: iyzicosim.New(iyzicosim.Options{
		ClientID: iyzicosim.DemoClientID, ClientSecret: iyzicosim.DemoClientSecret,
		Username: iyzicosim.DemoUsername, Password: iyzicosim.DemoPassword,
		Devices: []string{"P00134", "P00135"},
	})}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls = append(s.calls, r.URL.Path)
		s.mu.Unlock()
		s.sim.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	s.url, s.srv = ts.URL, ts
	return s
}

func (s *simulator) called(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.calls {
		if p == path {
			n++
		}
	}
	return n
}

// faults sets the simulator's faults through its HTTP endpoint, as an
// operator would.
func (s *simulator) faults(t *testing.T, f iyzicosim.Faults) {
	t.Helper()
	b, _ := json.Marshal(f)
	req, _ := http.NewRequest(http.MethodPut, s.url+"/_sim/faults", bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /_sim/faults: %s", resp.Status)
	}
}

// config is a configuration for one iyzico terminal on s.
func (s *simulator) config(listen, dataDir string) []byte {
	return fmt.Appendf(nil, `[agent]
id = "wine-lane"
listen = %q
data_dir = '%s'

[iyzico]
base_url = %q
client_id = %q
client_secret = %q
username = %q
password = %q

[[terminal]]
name = "kasa-1"
provider = "iyzico"
device_id = "P00134"
model = "vuk507"
`, listen, dataDir, s.url, iyzicosim.DemoClientID, iyzicosim.DemoClientSecret, iyzicosim.DemoUsername, iyzicosim.DemoPassword)
}

const salePath = "/v2/terminal-host/gmu/payment"

// TestCrashMidSale kills the Windows agent while the provider holds its
// sale (the customer still at the terminal), starts it again, and checks
// that the register gets the sale's result exactly once and the provider
// charged exactly once.
func TestCrashMidSale(t *testing.T) {
	e := setup(t)
	sim := newSimulator(t)
	const cfg = `C:\tz\crash\tezgah.toml`
	e.writeWin(t, cfg, sim.config("127.0.0.1:0", `C:\tz\crash\data`))
	p, url := e.agent(t, "--config", cfg)

	sim.faults(t, iyzicosim.Faults{Latency: 10 * time.Minute})
	r := dial(t, url)
	r.send(map[string]any{"type": "sale", "id": "K-1", "terminal": "kasa-1", "amount": "99.90", "expires_in": 600})
	sending := r.next("K-1 sending", 2*time.Minute, func(ev event) bool { return ev.ID == "K-1" && ev.State == "sending" })
	testwait.For(t, "the sale to reach the provider", 2*time.Minute, func() bool { return sim.called(salePath) == 1 }, p.out.String)
	p.kill(t)
	r.close()
	if n := r.count("result", "K-1"); n != 0 {
		t.Fatalf("a result before the crash: the kill did not land mid-sale:\n%s", describe(r.seen))
	}

	// The customer pays; the terminal answers a connection that is gone.
	// The simulator learns it is gone when the connection closes, and a
	// killed Wine process's sockets can stay open for minutes (one CI run
	// saw the sale's call still held 6 minutes on): the provider's side
	// drops them, as a terminal's host does when its client vanishes.
	sim.srv.CloseClientConnections()
	sim.faults(t, iyzicosim.Faults{})
	_, url = e.agent(t, "--config", cfg)
	r2 := dial(t, url)
	r2.send(map[string]any{"type": "resume", "since": sending.Seq})
	res := r2.result("K-1", 3*time.Minute)
	if res.Status != "approved" {
		t.Fatalf("result after the restart: %+v", res)
	}
	// Everything the agent has was delivered: a second resume from the
	// start finds the one result, and nothing more arrives for it.
	r2.send(map[string]any{"type": "resume", "since": 0})
	resumed := r2.next("resumed", time.Minute, func(ev event) bool { return ev.Type == "resumed" })
	r2.next("the replay up to last_seq", time.Minute, func(ev event) bool { return ev.Seq >= resumed.LastSeq })
	if n := r2.count("result", "K-1"); n != 2 { // the live one and the replay of since=0
		t.Fatalf("read %d results for K-1:\n%s", n, describe(r2.seen))
	}
	var sales int
	for _, en := range sim.sim.Ledger() {
		if en.Op == "sale" {
			sales++
			if en.PaymentID != res.Payment.PaymentID {
				t.Errorf("ledger charge %s, the register was told %s", en.PaymentID, res.Payment.PaymentID)
			}
		}
	}
	if sales != 1 {
		t.Fatalf("the provider charged %d times:\n%+v", sales, sim.sim.Ledger())
	}
	if n := sim.called(salePath); n != 1 {
		t.Errorf("the sale was sent %d times; after the crash the agent must ask, not send again", n)
	}
}
