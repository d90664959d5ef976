package agent

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/bridge/vomsis/vomsissim"
	"github.com/tezgah/tezgah/internal/wireschema"
)

type harness struct {
	sim  *iyzicosim.Server
	url  string
	cfg  *config.Config
	stop func()
	dir  string
	a    *Agent
}

// startAgent runs a real agent against an iyzicosim HTTP server, with its
// database in a temp dir, and returns once it listens.
func startAgent(t *testing.T, dir string, sim *iyzicosim.Server) *harness {
	t.Helper()
	return startAgentWith(t, dir, sim, nil, nil)
}

// startAgentWith is startAgent with the simulator's handler wrapped (to
// break the network in a test's way) and the config tuned.
func startAgentWith(t *testing.T, dir string, sim *iyzicosim.Server, wrap func(http.Handler) http.Handler, tune func(*config.Config)) *harness {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := config.Demo()
	if sim == nil {
		sim = iyzicosim.New(iyzicosim.Options{
			ClientID: cfg.Iyzico.ClientID, ClientSecret: cfg.Iyzico.ClientSecret,
			Username: cfg.Iyzico.Username, Password: cfg.Iyzico.Password,
			Devices: []string{"P00134", "P00135"},
		})
	}
	var handler http.Handler = sim
	if wrap != nil {
		handler = wrap(sim)
	}
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	cfg.Iyzico.BaseURL = ts.URL
	cfg.Paywall.BaseURL = startPaywallSim(t, cfg).URL
	vts := httptest.NewServer(vomsissim.New(vomsissim.Options{AppKey: cfg.Vomsis.AppKey, AppSecret: cfg.Vomsis.AppSecret}))
	t.Cleanup(vts.Close)
	cfg.Vomsis.BaseURL = vts.URL + vomsissim.APIPrefix
	cfg.Agent.DataDir = dir
	cfg.Agent.Listen = "127.0.0.1:0"
	if tune != nil {
		tune(cfg)
	}
	h := runAgent(t, cfg, Options{Version: "test", Log: testLog(t)})
	h.sim = sim
	return h
}

type client struct {
	t *testing.T
	c *websocket.Conn
}

func (h *harness) dial(t *testing.T) *client {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(h.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c}
}

func (c *client) send(s string) {
	c.t.Helper()
	if err := c.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) next() protocol.Event {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := c.c.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return checkEvent(c.t, data)
}

// checkEvent decodes a frame the agent sent, failing the test if the
// protocol's JSON Schema (docs/schema/) does not describe it.
func checkEvent(t testing.TB, data []byte) protocol.Event {
	t.Helper()
	if err := wireschema.ForTest(t).Event(data); err != nil {
		t.Errorf("the agent sent an event outside the schema: %v", err)
	}
	var ev protocol.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return ev
}

// until reads events until one of type typ for id arrives.
func (c *client) until(typ, id string) protocol.Event {
	c.t.Helper()
	for {
		ev := c.next()
		if ev.Type == typ && (id == "" || ev.ID == id) {
			return ev
		}
		if ev.Type == "error" && ev.ID == id {
			c.t.Fatalf("error for %s: %+v", id, ev.Error)
		}
	}
}

func (c *client) errorFor(cmd string) *protocol.Error {
	c.t.Helper()
	c.send(cmd)
	ev := c.next()
	if ev.Type != "error" || ev.Error == nil {
		c.t.Fatalf("%s: got %+v, want an error", cmd, ev)
	}
	return ev.Error
}

func TestSaleRefundVoidEndOfDay(t *testing.T) {
	h := startAgent(t, "", nil)
	c := h.dial(t)

	c.send(`{"type":"sale","id":"S1","terminal":"kasa-1","amount":"150.00"}`)
	if ev := c.next(); ev.Type != "accepted" || ev.ID != "S1" || ev.Seq == 0 || ev.State != "queued" {
		t.Fatalf("first event %+v, want accepted", ev)
	}
	if ev := c.next(); ev.Type != "state" || ev.State != "sending" || ev.Attempt != 1 {
		t.Fatalf("second event %+v, want sending", ev)
	}
	res := c.until("result", "S1")
	pay := paymentOf(t, res)
	if res.Status != "approved" || pay.Provider != "iyzico" || pay.PaymentID == "" || pay.Amount != "150.00" {
		t.Fatalf("result %+v payment %s", res, res.Payment)
	}

	c.send(`{"type":"refund","id":"F1","terminal":"kasa-1","original_id":"S1","amount":"50.00"}`)
	if r := c.until("result", "F1"); r.Status != "approved" {
		t.Fatalf("refund %+v", r)
	}
	c.send(`{"type":"sale","id":"S2","terminal":"kasa-2","amount":"20.00"}`)
	c.until("result", "S2")
	c.send(`{"type":"void","id":"V1","terminal":"kasa-2","original_id":"S2"}`)
	if r := c.until("result", "V1"); r.Status != "approved" {
		t.Fatalf("void %+v", r.Error)
	}
	c.send(`{"type":"end_of_day","id":"EOD-1","terminal":"kasa-1"}`)
	if r := c.until("result", "EOD-1"); r.Status != "approved" {
		t.Fatalf("end of day %+v", r.Error)
	}
}

func TestDeclineAndIdempotency(t *testing.T) {
	h := startAgent(t, "", nil)
	c := h.dial(t)
	c.send(`{"type":"sale","id":"D1","terminal":"kasa-1","amount":"10.51"}`)
	r := c.until("result", "D1")
	if r.Status != "declined" || r.Error == nil || r.Error.Code == "" {
		t.Fatalf("magic decline amount: %+v", r)
	}
	c.send(`{"type":"sale","id":"A1","terminal":"kasa-1","amount":"10.00"}`)
	first := c.until("result", "A1")
	charges := len(h.sim.Ledger())

	// The same command again: the stored result, and no new charge.
	c.send(`{"type":"sale","id":"A1","terminal":"kasa-1","amount":"10.0"}`)
	again := c.next()
	if again.Type != "result" || !again.Replay || again.Seq != first.Seq || string(again.Payment) != string(first.Payment) {
		t.Fatalf("repeat: %+v, want replay of %+v", again, first)
	}
	if n := len(h.sim.Ledger()); n != charges {
		t.Fatalf("ledger grew from %d to %d on a repeated id", charges, n)
	}
	if e := c.errorFor(`{"type":"sale","id":"A1","terminal":"kasa-1","amount":"11.00"}`); e.Code != protocol.CodeIDConflict {
		t.Fatalf("conflict: %+v", e)
	}
	c.send(`{"type":"query","id":"A1"}`)
	if q := c.next(); q.Type != "result" || !q.Replay || q.Status != "approved" {
		t.Fatalf("query: %+v", q)
	}
}

func TestValidationAgainstConfig(t *testing.T) {
	h := startAgent(t, "", nil)
	c := h.dial(t)
	c.send(`{"type":"sale","id":"S1","terminal":"kasa-1","amount":"30.00"}`)
	c.until("result", "S1")
	c.send(`{"type":"sale","id":"D1","terminal":"kasa-1","amount":"30.51"}`)
	c.until("result", "D1")
	tests := []struct{ cmd, code, field string }{
		{`{"type":"sale","id":"X1","terminal":"kasa-9","amount":"1.00"}`, protocol.CodeUnknownTerminal, "terminal"},
		{`{"type":"refund","id":"X2","terminal":"kasa-1","original_id":"NOPE","amount":"1.00"}`, protocol.CodeUnknownOriginal, "original_id"},
		{`{"type":"refund","id":"X3","terminal":"kasa-1","original_id":"S1","amount":"30.01"}`, protocol.CodeAmountExceeds, "amount"},
		{`{"type":"void","id":"X4","terminal":"kasa-1","original_id":"D1"}`, protocol.CodeInvalidOriginal, "original_id"},
		{`{"type":"refund","id":"X5","terminal":"kasa-1","original_id":"S1","amount":"1.00","currency":"EUR"}`, protocol.CodeInvalidField, "currency"},
		{`{"type":"cancel","id":"S1"}`, protocol.CodeNotCancellable, "id"},
	}
	for _, tc := range tests {
		if e := c.errorFor(tc.cmd); e.Code != tc.code || e.Field != tc.field {
			t.Errorf("%s: %+v, want %s/%s", tc.cmd, e, tc.code, tc.field)
		}
	}
	c.send(`{"type":"status"}`)
	st := c.until("status", "")
	if len(st.Terminals) != len(h.cfg.Terminals) || st.Terminals[0].Name != "kasa-1" || st.Agent == nil {
		t.Fatalf("status %+v", st)
	}
}

// Requests accepted before a graceful stop are finished after restart,
// and a register that reconnects gets their results through resume.
func TestRestartResumes(t *testing.T) {
	dir := t.TempDir()
	h := startAgent(t, dir, nil)
	h.sim.SetFaults(iyzicosim.Faults{Hang: true}) // provider black-holes calls
	c := h.dial(t)
	c.send(`{"type":"sale","id":"P1","terminal":"kasa-1","amount":"5.00"}`)
	acc := c.until("accepted", "P1")
	c.send(`{"type":"sale","id":"P2","terminal":"kasa-1","amount":"6.00"}`)
	c.until("accepted", "P2")
	h.stop()

	h.sim.SetFaults(iyzicosim.Faults{})
	h2 := startAgent(t, dir, h.sim)
	c2 := h2.dial(t)
	c2.send(`{"type":"resume","since":` + itoa(acc.Seq) + `}`)
	got := map[string]string{}
	for len(got) < 2 {
		ev := c2.next()
		if ev.Type == "result" {
			got[ev.ID] = ev.Status
		}
	}
	if got["P1"] != "approved" || got["P2"] != "approved" {
		t.Fatalf("after restart: %v", got)
	}
	charged := map[string]int{}
	for _, e := range h.sim.Ledger() {
		charged[e.Reference]++
	}
	for ref, n := range charged {
		if n > 1 {
			t.Fatalf("reference %s charged %d times", ref, n)
		}
	}
	if _, err := filepath.Abs(dir); err != nil || !strings.HasPrefix(h2.cfg.Agent.DataDir, dir) {
		t.Fatal("data dir not kept")
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}
