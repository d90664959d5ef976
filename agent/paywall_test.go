package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/bridge/paywall/paywallsim"
	"github.com/tezgah/tezgah/internal/testwait"
)

// simClock is paywallsim's time: real time plus an offset the test moves,
// so the 5-second rollback rule is crossed without waiting.
type simClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.offset) }
func (c *simClock) Add(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// startPaywallSim serves a paywallsim for cfg's Paywall terminals.
func startPaywallSim(t testing.TB, cfg *config.Config, opts ...func(*paywallsim.Options)) *httptest.Server {
	t.Helper()
	o := paywallsim.Options{APIKey: cfg.Paywall.APIKey, APIClient: cfg.Paywall.APIClient}
	for _, tm := range cfg.Terminals {
		if tm.Provider == "paywall" {
			o.Terminals = append(o.Terminals, tm.DeviceID)
		}
	}
	for _, f := range opts {
		f(&o)
	}
	ts := httptest.NewServer(paywallsim.New(o))
	t.Cleanup(ts.Close)
	return ts
}

func ledgerOf(t *testing.T, base string) []paywallsim.Entry {
	t.Helper()
	resp, err := http.Get(base + "/_sim/ledger")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []paywallsim.Entry
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPaywallOverWebSocket(t *testing.T) {
	h := startAgent(t, "", nil)
	c := h.dial(t)

	c.send(`{"type":"sale","id":"P1","terminal":"kasa-3","amount":"22.00",
	  "items":[{"name":"Saç Tıraşı","quantity":"1","amount":"22.00","vat_rate":10}],
	  "customer":{"type":"individual","first_name":"Eda","last_name":"Meda","identity_number":"11111111110"}}`)
	res := c.until("result", "P1")
	pay := paymentOf(t, res)
	if res.Status != "approved" || pay.Provider != "paywall" || pay.PaymentID == "" || pay.Amount != "22.00" {
		t.Fatalf("result %+v payment %s", res, res.Payment)
	}
	if l := ledgerOf(t, h.cfg.Paywall.BaseURL); len(l) != 1 || l[0].Amount != 2200 {
		t.Fatalf("ledger %+v", l)
	}

	for _, cmd := range []string{
		`{"type":"refund","id":"PF1","terminal":"kasa-3","original_id":"P1","amount":"5.00"}`,
		`{"type":"end_of_day","id":"PE1","terminal":"kasa-3"}`,
	} {
		if e := c.errorFor(cmd); e.Code != "unsupported_operation" || !strings.Contains(e.Message, "panel") {
			t.Errorf("%s: %+v", cmd, e)
		}
	}
	if e := c.errorFor(`{"type":"sale","id":"P2","terminal":"kasa-3","amount":"10.00","items":[{"name":"x","quantity":"1","amount":"10.00","vat_rate":8}]}`); e.Code != "invalid_field" || e.Field != "items[0].vat_rate" {
		t.Errorf("vat: %+v", e)
	}
	// Nothing was stored for the refused commands.
	c.send(`{"type":"query","id":"PF1"}`)
	if ev := c.next(); ev.Type != "error" || ev.Error.Code != "not_found" {
		t.Errorf("refused refund was stored: %+v", ev)
	}

	c.send(`{"type":"void","id":"PV1","terminal":"kasa-3","original_id":"P1"}`)
	if r := c.until("result", "PV1"); r.Status != "approved" {
		t.Fatalf("void %+v", r.Error)
	}

	c.send(`{"type":"call","id":"c1","terminal":"kasa-3","op":"terminals"}`)
	rep := c.until("reply", "c1")
	var data struct {
		Terminals []json.RawMessage `json:"terminals"`
		Connected bool              `json:"connected"`
	}
	if err := json.Unmarshal(rep.Data, &data); err != nil || len(data.Terminals) != 1 || !data.Connected {
		t.Fatalf("terminals reply %s", rep.Data)
	}
	c.send(`{"type":"call","id":"c2","terminal":"kasa-3","op":"payment","params":{"payment_id":"` + pay.PaymentID + `"}}`)
	if rep := c.until("reply", "c2"); !strings.Contains(string(rep.Data), `"activities"`) {
		t.Fatalf("payment reply %s", rep.Data)
	}
}

// A register's cancel of a sale already on its way to a sync terminal
// withdraws it (Paywall's rollback) while the device has not picked it up.
func TestPaywallCancelWithdraws(t *testing.T) {
	clk := &simClock{}
	cfg := config.Demo()
	cfg.Terminals = []config.Terminal{{Name: "kasa-9", Provider: "paywall", DeviceID: "38e895c3-1a9a-4b73-8816-8557d1d031d6", Mode: "sync", Model: "sync"}}
	cfg.Iyzico = nil
	cfg.Paywall.PollInterval.Duration = 20 * time.Millisecond
	cfg.Paywall.BaseURL = startPaywallSim(t, cfg, func(o *paywallsim.Options) { o.PickupDelay = time.Hour; o.Now = clk.Now }).URL
	cfg.Agent.DataDir = t.TempDir()
	cfg.Agent.Listen = "127.0.0.1:0"
	h := runAgent(t, cfg, Options{Version: "test", Log: testLog(t)})
	a := h.a
	c := h.dial(t)

	c.send(`{"type":"sale","id":"W1","terminal":"kasa-9","amount":"12.00"}`)
	c.until("accepted", "W1")
	// Wait until the PaymentRequestId is stored: then the sale is on the
	// terminal's queue at Paywall.
	testwait.For(t, "the PaymentRequestId to be stored", 10*time.Second, func() bool {
		r, _, err := a.store.Get(context.Background(), "", "W1")
		return err == nil && r.ProviderRef != ""
	}, nil)
	clk.Add(6 * time.Second) // past the 5-second rule, before pick-up
	c.send(`{"type":"cancel","id":"W1"}`)
	res := c.until("result", "W1")
	if res.Status == "approved" || res.Error == nil {
		t.Fatalf("withdrawn sale: %+v", res)
	}
	if l := ledgerOf(t, cfg.Paywall.BaseURL); len(l) != 0 {
		t.Fatalf("ledger %+v", l)
	}
}

// The demo runs both simulators in-process: a sale on the Paywall
// terminal and one on an iyzico terminal are both approved.
func TestDemoModeServesPaywall(t *testing.T) {
	cfg := config.Demo()
	cfg.Agent.DataDir = t.TempDir()
	cfg.Agent.Listen = "127.0.0.1:0"
	h := runAgent(t, cfg, Options{Version: "test", Demo: true, Log: testLog(t)})
	c := h.dial(t)
	c.send(`{"type":"sale","id":"D3","terminal":"kasa-3","amount":"15.00"}`)
	c.send(`{"type":"sale","id":"D1","terminal":"kasa-1","amount":"15.00"}`)
	for seen := map[string]bool{}; len(seen) < 2; {
		r := c.until("result", "")
		if r.Status != "approved" {
			t.Fatalf("%s: %+v", r.ID, r)
		}
		seen[r.ID] = true
	}
}

// status tells a register whether each Paywall terminal is reachable,
// asking Paywall's connectivity check; other providers' terminals carry
// no such field.
func TestStatusShowsPaywallConnectivity(t *testing.T) {
	h := startAgent(t, "", nil)
	c := h.dial(t)
	connected := func() map[string]*bool {
		c.send(`{"type":"status"}`)
		out := map[string]*bool{}
		for _, ti := range c.until("status", "").Terminals {
			out[ti.Name] = ti.Connected
		}
		return out
	}
	got := connected()
	if got["kasa-3"] == nil || !*got["kasa-3"] || got["kasa-1"] != nil {
		t.Fatalf("connected = kasa-3 %v, kasa-1 %v; want true and absent", got["kasa-3"], got["kasa-1"])
	}
	body := `{"disconnected":["` + h.cfg.Terminals[2].DeviceID + `"]}`
	req, _ := http.NewRequest(http.MethodPut, h.cfg.Paywall.BaseURL+"/_sim/faults", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := connected(); got["kasa-3"] == nil || *got["kasa-3"] {
		t.Fatalf("after the terminal's socket went down: connected = %v, want false", got["kasa-3"])
	}
}
