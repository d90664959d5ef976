package agent

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tezgah/tezgah/internal/syncbuf"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/bridge/vomsis/vomsissim"
	"github.com/tezgah/tezgah/internal/testwait"
)

type vposHarness struct {
	*harness
	vsim *vomsissim.Server
	logs *syncbuf.Buffer
}

// startVposAgent runs a real agent with the demo terminals against real
// iyzicosim and vomsissim HTTP servers, logging at debug level into a
// buffer the tests search.
func startVposAgent(t *testing.T, threeDS time.Duration) *vposHarness {
	t.Helper()
	cfg := config.Demo()
	isim := iyzicosim.New(iyzicosim.Options{ClientID: cfg.Iyzico.ClientID, ClientSecret: cfg.Iyzico.ClientSecret,
		Username: cfg.Iyzico.Username, Password: cfg.Iyzico.Password, Devices: []string{"P00134", "P00135"}})
	its := httptest.NewServer(isim)
	t.Cleanup(its.Close)
	vsim := vomsissim.New(vomsissim.Options{AppKey: cfg.Vomsis.AppKey, AppSecret: cfg.Vomsis.AppSecret})
	vts := httptest.NewServer(vsim)
	t.Cleanup(vts.Close)
	cfg.Iyzico.BaseURL = its.URL
	cfg.Vomsis.BaseURL = vts.URL + vomsissim.APIPrefix
	cfg.Paywall.BaseURL = startPaywallSim(t, cfg).URL
	cfg.Vomsis.ThreeDSTimeout.Duration = threeDS
	cfg.Agent.DataDir = t.TempDir()
	cfg.Agent.Listen = "127.0.0.1:0"
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := runAgent(t, cfg, Options{Version: "test", Log: log})
	return &vposHarness{harness: h, vsim: vsim, logs: logs}
}

// A known test PAN, a holder name and a CVC that appear nowhere else. The
// CVC has four digits (Amex style) so that searching the binary database
// for it as a stand-alone digit run cannot match by chance.
const (
	testPAN    = "4508034508034509"
	testCVC    = "7391"
	testHolder = "Zeynep Kartsahibi"
	cardJSON   = `"card":{"number":"4508 0345 0803 4509","expiry_month":"12","expiry_year":"2031","cvc":"7391","holder":"Zeynep Kartsahibi"}`
)

var cvcRun = regexp.MustCompile(`(^|[^0-9])` + testCVC + `([^0-9]|$)`)

// leaks returns where card data was found among the data directory's
// files (database, -wal, -shm and anything else) and the logs.
func (h *vposHarness) leaks(t *testing.T) []string {
	t.Helper()
	var found []string
	check := func(name string, b []byte) {
		for _, s := range []string{testPAN, testHolder, "450803450803"} {
			if bytes.Contains(b, []byte(s)) {
				found = append(found, name+" contains "+s)
			}
		}
		if cvcRun.Match(b) {
			found = append(found, name+" contains the CVC")
		}
	}
	n := 0
	err := filepath.WalkDir(h.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		check(path, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no files in the data directory: the search would prove nothing")
	}
	check("logs", h.logs.Bytes())
	return found
}

func waitingURL(t *testing.T, c *client, id string) string {
	t.Helper()
	for {
		ev := c.next()
		if ev.ID != id {
			continue
		}
		switch {
		case ev.Type == "state" && ev.State == "waiting":
			if ev.ActionURL == "" {
				t.Fatalf("waiting without action_url: %+v", ev)
			}
			return ev.ActionURL
		case ev.Type == "result" || ev.Type == "error":
			t.Fatalf("%s ended before its 3-D page: %+v %+v", id, ev, ev.Error)
		}
	}
}

func TestVomsisSaleKeepsCardOffDiskAndLogs(t *testing.T) {
	h := startVposAgent(t, time.Minute)
	c := h.dial(t)
	c.send(`{"type":"sale","id":"CNP-1","terminal":"vpos-1","amount":"150.00",` + cardJSON + `}`)
	page := waitingURL(t, c, "CNP-1")
	if !strings.HasPrefix(page, strings.Replace(strings.TrimSuffix(h.url, "/v1/ws"), "ws://", "http://", 1)+"/v1/3ds/") {
		t.Fatalf("action_url %s is not on the agent", page)
	}
	// While the payer is on the page the sale is held in memory only.
	if l := h.leaks(t); len(l) > 0 {
		t.Fatalf("card data at rest while waiting: %v", l)
	}
	if status, err := vomsissim.Browse(http.DefaultClient, page, true); err != nil || status != http.StatusOK {
		t.Fatalf("3-D flow: %d %v", status, err)
	}
	res := c.until("result", "CNP-1")
	pay := paymentOf(t, res)
	if res.Status != "approved" || pay.Provider != "vomsis" || len(pay.PaymentID) != 15 || pay.MaskedPAN != "450803******4509" || pay.Amount != "150.00" {
		t.Fatalf("result %+v payment %s", res, res.Payment)
	}
	if l := h.vsim.Ledger(); len(l) != 1 || l[0].Reference != pay.PaymentID {
		t.Fatalf("ledger %+v: the referanceNo must be the sale's own", l)
	}
	// A refund of it goes by the same referanceNo.
	c.send(`{"type":"refund","id":"CNP-1-R","terminal":"vpos-1","original_id":"CNP-1","amount":"50.00"}`)
	if r := c.until("result", "CNP-1-R"); r.Status != "approved" {
		t.Fatalf("refund %+v", r.Error)
	}
	if l := h.leaks(t); len(l) > 0 {
		t.Fatalf("card data at rest: %v", l)
	}
	h.stop() // checkpoint and close: the files as they stay on disk
	if l := h.leaks(t); len(l) > 0 {
		t.Fatalf("card data at rest after shutdown: %v", l)
	}
}

// The post-back is a hint: a forged success for the right reference and
// one for another reference change nothing; the sale ends as Vomsis says.
func TestVomsisForgedPostBackChangesNothing(t *testing.T) {
	h := startVposAgent(t, time.Minute)
	c := h.dial(t)
	c.send(`{"type":"sale","id":"CNP-2","terminal":"vpos-1","amount":"75.00",` + cardJSON + `}`)
	page := waitingURL(t, c, "CNP-2")
	refs := h.vsim.Pending()
	if len(refs) != 1 || len(refs[0]) != 15 {
		t.Fatalf("pending at Vomsis: %v", refs)
	}
	forged := url.Values{"trans_id": {"1"}, "order_id": {"1"}, "referans_kodu": {refs[0]}, "status_code": {"00"}, "error_code": {"00"}}
	if resp, err := http.PostForm(page+"/return", forged); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("forged post-back: %v %v", resp, err)
	}
	forged.Set("referans_kodu", "XXXXXXXXXXXXXXX")
	if resp, err := http.PostForm(page+"/return", forged); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("mismatched post-back: %v %v", resp, err)
	}
	// The payer then refuses at the bank: the real outcome stands.
	if _, err := vomsissim.Browse(http.DefaultClient, page, false); err != nil {
		t.Fatal(err)
	}
	res := c.until("result", "CNP-2")
	if res.Status != "declined" || res.Error == nil || res.Error.Code != "card_declined" {
		t.Fatalf("result %+v %+v", res, res.Error)
	}
	if len(h.vsim.Ledger()) != 0 {
		t.Fatal("money moved")
	}
}

func TestVomsis3DSNeverCompletedExpires(t *testing.T) {
	h := startVposAgent(t, 300*time.Millisecond)
	c := h.dial(t)
	c.send(`{"type":"sale","id":"CNP-3","terminal":"vpos-1","amount":"10.00",` + cardJSON + `}`)
	page := waitingURL(t, c, "CNP-3")
	res := c.until("result", "CNP-3")
	if res.Status != "failed" || res.Error == nil || res.Error.Code != "3ds_expired" {
		t.Fatalf("result %+v %+v", res, res.Error)
	}
	if resp, err := http.Get(page); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("page after expiry: %v %v", resp.StatusCode, err)
	}
}

func TestVomsisRefusalsAndRetryLater(t *testing.T) {
	h := startVposAgent(t, time.Minute)
	c := h.dial(t)
	for _, tc := range []struct{ cmd, code, field string }{
		{`{"type":"sale","id":"X1","terminal":"kasa-1","amount":"1.00",` + cardJSON + `}`, protocol.CodeInvalidField, "card"},
		{`{"type":"sale","id":"X2","terminal":"vpos-1","amount":"1.00"}`, protocol.CodeMissingField, "card"},
		{`{"type":"end_of_day","id":"X3","terminal":"vpos-1"}`, protocol.CodeUnsupportedOp, "type"},
		{`{"type":"sale","id":"X4","terminal":"vpos-1","amount":"1.00","card":{"number":"4508034508034508","expiry_month":"12","expiry_year":"2031","cvc":"7391","holder":"A"}}`, protocol.CodeInvalidField, "card.number"},
	} {
		e := c.errorFor(tc.cmd)
		if e.Code != tc.code || e.Field != tc.field {
			t.Errorf("%s: %+v, want %s on %s", tc.cmd, e, tc.code, tc.field)
		}
		if strings.Contains(e.Message, "4508") || strings.Contains(e.Message, testCVC) {
			t.Errorf("error echoes card data: %s", e.Message)
		}
	}
	// Vomsis cannot be reached: the sale is not kept with its card for
	// later; the register is told to send it again.
	h.vsim.SetFaults(vomsissim.Faults{Unavailable: true})
	c.send(`{"type":"sale","id":"CNP-4","terminal":"vpos-1","amount":"10.00",` + cardJSON + `}`)
	res := c.until("result", "CNP-4")
	if res.Status != "failed" || res.Error == nil || res.Error.Code != "retry_later" {
		t.Fatalf("result %+v %+v", res, res.Error)
	}
	h.vsim.SetFaults(vomsissim.Faults{})
	c.send(`{"type":"call","id":"Q1","terminal":"vpos-1","op":"bin_check","params":{"card_number":"4508034508034509","amount":"10.00"}}`)
	reply := c.until("reply", "Q1")
	if !strings.Contains(string(reply.Data), `"installments"`) {
		t.Fatalf("bin_check reply %s", reply.Data)
	}
	if l := h.leaks(t); len(l) > 0 {
		t.Fatalf("card data at rest: %v", l)
	}
}

// The demo runs vomsissim in-process: a vpos-1 sale completes end to end
// with no Vomsis account.
func TestDemoModeServesVomsis(t *testing.T) {
	cfg := config.Demo()
	cfg.Agent.DataDir = t.TempDir()
	cfg.Agent.Listen = "127.0.0.1:0"
	h := runAgent(t, cfg, Options{Version: "test", Demo: true, Log: testLog(t)})
	c := h.dial(t)
	c.send(`{"type":"sale","id":"DEMO-1","terminal":"vpos-1","amount":"3.55",` + cardJSON + `}`)
	if _, err := vomsissim.Browse(http.DefaultClient, waitingURL(t, c, "DEMO-1"), true); err != nil {
		t.Fatal(err)
	}
	if res := c.until("result", "DEMO-1"); res.Status != "approved" {
		t.Fatalf("demo sale %+v %+v", res, res.Error)
	}
}

// TestVomsisCancelOn3DSPage: a register's cancel of a sale waiting on
// its 3-D page is taken (no longer not_cancellable) and the sale ends
// cancelled; a payer already at the bank who approves after the cancel
// is refunded at once by an automatic void, and the result says so.
func TestVomsisCancelOn3DSPage(t *testing.T) {
	h := startVposAgent(t, time.Minute)
	c := h.dial(t)

	c.send(`{"type":"sale","id":"CNP-7","terminal":"vpos-1","amount":"25.00",` + cardJSON + `}`)
	waitingURL(t, c, "CNP-7")
	c.send(`{"type":"cancel","id":"CNP-7"}`)
	res := c.until("result", "CNP-7")
	if res.Status != "cancelled" || res.Error == nil || res.Error.Code != "cancelled" || len(res.Payment) != 0 {
		t.Fatalf("cancel of an unopened page: %+v %+v", res, res.Error)
	}

	c.send(`{"type":"sale","id":"CNP-8","terminal":"vpos-1","amount":"26.00",` + cardJSON + `}`)
	page := waitingURL(t, c, "CNP-8")
	payer, err := vomsissim.Open(http.DefaultClient, page)
	if err != nil {
		t.Fatal(err)
	}
	c.send(`{"type":"cancel","id":"CNP-8"}`)
	testwait.For(t, "the page to stop", 10*time.Second, func() bool {
		resp, err := http.Get(page)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusGone
	}, nil)
	if err := payer.Decide(true); err != nil {
		t.Fatal(err)
	}
	if status, err := payer.PostBack(); err != nil || status != http.StatusOK {
		t.Fatalf("post-back after cancel: %d %v", status, err)
	}
	res = c.until("result", "CNP-8")
	var pay struct {
		Detail struct {
			AutoVoid map[string]any `json:"auto_void"`
		} `json:"detail"`
	}
	json.Unmarshal(res.Payment, &pay)
	if res.Status != "cancelled" || pay.Detail.AutoVoid["type"] != "cancel" || !strings.Contains(res.Error.Message, "voided") {
		t.Fatalf("late approval: %+v %s %+v", res, res.Payment, res.Error)
	}
	var ops []string
	for _, l := range h.vsim.Ledger() {
		ops = append(ops, l.Op)
	}
	if strings.Join(ops, ",") != "sale,cancel" {
		t.Fatalf("ledger %v", ops)
	}
	if leaks := h.leaks(t); len(leaks) > 0 {
		t.Errorf("card data leaked: %v", leaks)
	}
}
