package agent

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
)

// TestIyzicoShopDay runs a VUK 507 shop day over a real WebSocket against
// the simulator: a sale with items, a partial refund by line, the
// refundable amounts as a call, a basket paid with two cards, a void,
// end of day with the summary, and a void after end of day, which must
// tell the register to refund instead.
func TestIyzicoShopDay(t *testing.T) {
	h := startAgent(t, "", nil)
	c := h.dial(t)
	result := func(cmd, id string) (status string, pay map[string]any, errCode, errMsg string) {
		t.Helper()
		c.send(cmd)
		ev := c.until("result", id)
		json.Unmarshal(ev.Payment, &pay)
		if ev.Error != nil {
			errCode, errMsg = ev.Error.Code, ev.Error.Message
		}
		return ev.Status, pay, errCode, errMsg
	}
	mustApprove := func(cmd, id string) map[string]any {
		t.Helper()
		st, pay, code, msg := result(cmd, id)
		if st != "approved" {
			t.Fatalf("%s: %s %s %s", id, st, code, msg)
		}
		return pay
	}

	mustApprove(`{"type":"sale","id":"S1","terminal":"kasa-1","amount":"42.50","items":[
		{"name":"Çay","quantity":"2","unit_price":"15.00","amount":"30.00","vat_rate":10},
		{"name":"Simit","quantity":1,"amount":"12.50","vat_rate":1}]}`, "S1")
	mustApprove(`{"type":"refund","id":"R1","terminal":"kasa-1","original_id":"S1","amount":"15.00",
		"items":[{"name":"Çay","quantity":"1","amount":"15.00","vat_rate":10}]}`, "R1")

	c.send(`{"type":"call","id":"C1","terminal":"kasa-1","op":"refundable_sale_info","params":{"original_id":"S1"}}`)
	reply := c.until("reply", "C1")
	if !strings.Contains(string(reply.Data), `"total_refundable":"27.50"`) {
		t.Errorf("refundable_sale_info = %s", reply.Data)
	}
	c.send(`{"type":"call","id":"C2","terminal":"kasa-1","op":"refundable_sale_info","params":{"original_id":"NOPE"}}`)
	if ev := c.until("error", "C2"); ev.Error.Code != "unknown_original" || ev.Error.Field != "params.original_id" {
		t.Errorf("unknown original = %+v", ev.Error)
	}

	start := mustApprove(`{"type":"partial_start","id":"P1","terminal":"kasa-1","amount":"100.00",
		"items":[{"name":"Demlik","quantity":"1","amount":"100.00","vat_rate":20}]}`, "P1")
	detail, _ := json.Marshal(start["detail"])
	if !strings.Contains(string(detail), `"sale_number":"SN`) {
		t.Errorf("partial_start detail = %s", detail)
	}
	if e := c.errorFor(`{"type":"partial_add","id":"P1-x","terminal":"kasa-1","original_id":"P1","amount":"100.01"}`); e.Code != "amount_exceeds_original" {
		t.Errorf("add over the basket = %+v", e)
	}
	if e := c.errorFor(`{"type":"partial_add","id":"P1-y","terminal":"kasa-1","original_id":"S1","amount":"1.00"}`); e.Code != "invalid_original" {
		t.Errorf("add to a sale = %+v", e)
	}
	a1 := mustApprove(`{"type":"partial_add","id":"P1-1","terminal":"kasa-1","original_id":"P1","amount":"60.00"}`, "P1-1")
	mustApprove(`{"type":"partial_add","id":"P1-2","terminal":"kasa-1","original_id":"P1","amount":"40.00"}`, "P1-2")
	done := mustApprove(`{"type":"partial_complete","id":"P1-done","terminal":"kasa-1","original_id":"P1"}`, "P1-done")
	if a1["payment_id"] == "" || done["amount"] != "100.00" {
		t.Errorf("partial add %v, complete %v", a1, done)
	}

	mustApprove(`{"type":"sale","id":"S2","terminal":"kasa-1","amount":"10.00"}`, "S2")
	mustApprove(`{"type":"void","id":"V2","terminal":"kasa-1","original_id":"S2"}`, "V2")
	mustApprove(`{"type":"sale","id":"S3","terminal":"kasa-1","amount":"20.00"}`, "S3")
	eod := mustApprove(`{"type":"end_of_day","id":"EOD1","terminal":"kasa-1","summary":true}`, "EOD1")
	if eod["batch_no"] != "1" || h.sim.Hits("eod useSummary=true") != 1 {
		t.Errorf("end of day = %v", eod)
	}
	st, _, code, msg := result(`{"type":"void","id":"V3","terminal":"kasa-1","original_id":"S3"}`, "V3")
	if st != "failed" || code != "void_not_allowed" || !strings.Contains(msg, "send a refund") {
		t.Errorf("void after end of day = %s %s %q", st, code, msg)
	}
	mustApprove(`{"type":"refund","id":"R3","terminal":"kasa-1","original_id":"S3","amount":"20.00"}`, "R3")

	// Refused at accept time, nothing stored: weighed goods on VUK 507.
	if e := c.errorFor(`{"type":"sale","id":"S4","terminal":"kasa-1","amount":"5.00","items":[{"name":"Peynir","quantity":"0.250","amount":"5.00","vat_rate":1}]}`); e.Code != "invalid_field" || e.Field != "items[0].quantity" {
		t.Errorf("weighed item = %+v", e)
	}
	if e := c.errorFor(`{"type":"end_of_day","id":"EOD2","terminal":"kasa-1","summary":"yes"}`); e.Code != "invalid_field" || e.Field != "summary" {
		t.Errorf("bad summary = %+v", e)
	}
}

// TestPartialAddExpires: a card part waits for its basket to open; if
// that takes longer than the part's expires_in, the part expires and is
// never sent (the customer has gone), like a sale.
func TestPartialAddExpires(t *testing.T) {
	h := startAgent(t, "", nil)
	c := h.dial(t)
	h.sim.SetFaults(iyzicosim.Faults{Latency: 2 * time.Second, Paths: []string{"/v2/terminal-host/gmu/partial-payment/start"}})
	c.send(`{"type":"partial_start","id":"B1","terminal":"kasa-1","amount":"10.00"}`)
	c.send(`{"type":"partial_add","id":"B1-1","terminal":"kasa-1","original_id":"B1","amount":"10.00","expires_in":1}`)
	got := map[string]string{}
	for len(got) < 2 {
		if ev := c.next(); ev.Type == "result" {
			got[ev.ID] = ev.Status
		}
	}
	if got["B1-1"] != "expired" || got["B1"] != "approved" {
		t.Errorf("results %v, want the part expired and the start approved", got)
	}
	if n := h.sim.Hits("/v2/terminal-host/gmu/partial-payment/add-payment"); n != 0 {
		t.Errorf("the expired part was sent %d times", n)
	}
}

// TestVUK509RefusesPartial: a VUK 509 terminal has no partial payment;
// the agent refuses it at accept time and stores nothing.
func TestVUK509RefusesPartial(t *testing.T) {
	cfg := config.Demo()
	sim := iyzicosim.New(iyzicosim.Options{ClientID: cfg.Iyzico.ClientID, ClientSecret: cfg.Iyzico.ClientSecret,
		Username: cfg.Iyzico.Username, Password: cfg.Iyzico.Password, Devices: []string{"P00134", "P00135", "P509"}})
	h := startAgentWith(t, "", sim, nil, func(c *config.Config) {
		c.Terminals = append(c.Terminals, config.Terminal{Name: "kasa-9", Provider: "iyzico", DeviceID: "P509", Model: "vuk509"})
	})
	c := h.dial(t)
	if e := c.errorFor(`{"type":"partial_start","id":"B9","terminal":"kasa-9","amount":"10.00"}`); e.Code != "unsupported_operation" || !strings.Contains(e.Message, "VUK 509") {
		t.Errorf("partial_start on 509 = %+v", e)
	}
	c.send(`{"type":"query","id":"B9"}`)
	if ev := c.next(); ev.Type != "error" || ev.Error.Code != "not_found" {
		t.Errorf("query after refusal = %+v, want not_found", ev)
	}
	c.send(`{"type":"sale","id":"S9","terminal":"kasa-9","amount":"10.00"}`)
	if ev := c.until("result", "S9"); ev.Status != "approved" {
		t.Errorf("509 sale = %+v", ev)
	}
}

// TestBareDeclineIsNeverSentAgain: a VUK 507 bank decline without
// errorGroup, answered before iyzico recorded anything (so a status
// query would say "not found"), ends declined. It must never become
// unknown, be queried, and be sent to the terminal a second time: the
// customer would be asked for the card again for a sale the register
// did not ask twice for.
func TestBareDeclineIsNeverSentAgain(t *testing.T) {
	h := startAgent(t, "", nil)
	c := h.dial(t)
	const salePath = "/v2/terminal-host/gmu/payment"
	h.sim.SetFaults(iyzicosim.Faults{Paths: []string{salePath}, Error: &iyzicosim.InjectedError{Code: "10051", Message: "Yetersiz bakiye", Times: 1}})
	c.send(`{"type":"sale","id":"D1","terminal":"kasa-1","amount":"10.00"}`)
	ev := c.until("result", "D1")
	if ev.Status != "declined" || ev.Error == nil || ev.Error.Code != "card_declined" {
		t.Fatalf("result %+v %+v", ev, ev.Error)
	}
	if n := h.sim.Hits(salePath); n != 1 {
		t.Errorf("the sale went to the terminal %d times", n)
	}
	if n := h.sim.Hits("/v2/terminal-host/gmu/payment/query-transaction-status"); n != 0 {
		t.Errorf("a decline was queried %d times", n)
	}
	if l := h.sim.Ledger(); len(l) != 0 {
		t.Errorf("money moved: %+v", l)
	}
}

// TestRefundLinesCheckedAtAccept: a VUK 507 refund is checked against
// the stored sale's lines less its refunds approved or still pending, and
// one that does not fit is refused at accept time with a stable code
// naming the field; nothing is stored for it.
func TestRefundLinesCheckedAtAccept(t *testing.T) {
	const refundPath = "/v2/terminal-host/gmu/payment/refund"
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	var holding atomic.Bool
	h := startAgentWith(t, "", nil, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == refundPath && holding.Load() {
				select {
				case <-gate:
				case <-r.Context().Done():
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}, nil)
	t.Cleanup(open) // before the simulator's server closes (cleanups run last first)
	c := h.dial(t)
	result := func(cmd, id string) string {
		t.Helper()
		c.send(cmd)
		return c.until("result", id).Status
	}
	if st := result(`{"type":"sale","id":"S1","terminal":"kasa-1","amount":"85.00","items":[
		{"name":"Çay","quantity":"2","unit_price":"15.00","amount":"30.00","vat_rate":10},
		{"name":"Kek","quantity":"1","amount":"40.00","vat_rate":20,"unit":"KGM"},
		{"name":"Su","quantity":"3","unit_price":"5.00","amount":"15.00","vat_rate":20}]}`, "S1"); st != "approved" {
		t.Fatalf("sale %s", st)
	}
	if st := result(`{"type":"refund","id":"R1","terminal":"kasa-1","original_id":"S1","amount":"15.00","items":[{"name":"Çay","quantity":"1","amount":"15.00","vat_rate":10}]}`, "R1"); st != "approved" {
		t.Fatalf("R1 %s", st)
	}
	holding.Store(true)
	c.send(`{"type":"refund","id":"R2","terminal":"kasa-1","original_id":"S1","amount":"15.00","items":[{"name":"Su","quantity":"3","amount":"15.00","vat_rate":20}]}`)
	c.until("accepted", "R2")
	if ev := c.until("state", "R2"); ev.State != "sending" {
		t.Fatalf("R2 %+v", ev)
	}
	for _, tc := range []struct{ cmd, code, field string }{
		{`{"type":"refund","id":"R3","terminal":"kasa-1","original_id":"S1","amount":"5.00","items":[{"name":"Su","quantity":"1","amount":"5.00","vat_rate":20}]}`, "refund_exceeds_sold", "items[0].quantity"},
		{`{"type":"refund","id":"R3","terminal":"kasa-1","original_id":"S1","amount":"30.00","items":[{"name":"Çay","quantity":"2","amount":"30.00","vat_rate":10}]}`, "refund_exceeds_sold", "items[0].quantity"},
		{`{"type":"refund","id":"R3","terminal":"kasa-1","original_id":"S1","amount":"5.00","items":[{"name":"Kahve","quantity":"1","amount":"5.00","vat_rate":20}]}`, "refund_item_not_sold", "items[0].name"},
		{`{"type":"refund","id":"R3","terminal":"kasa-1","original_id":"S1","amount":"15.00","items":[{"name":"Çay","quantity":"1","amount":"15.00","vat_rate":20}]}`, "refund_item_not_sold", "items[0].vat_rate"},
		{`{"type":"refund","id":"R3","terminal":"kasa-1","original_id":"S1","amount":"10.00"}`, "refund_items_required", "items"},
		{`{"type":"refund","id":"R3","terminal":"kasa-1","original_id":"S1","amount":"55.01"}`, "refund_exceeds_sold", "amount"},
	} {
		if e := c.errorFor(tc.cmd); e.Code != tc.code || e.Field != tc.field {
			t.Errorf("%s: %+v, want %s on %s", tc.cmd, e, tc.code, tc.field)
		}
	}
	c.send(`{"type":"query","id":"R3"}`)
	if ev := c.next(); ev.Type != "error" || ev.Error.Code != "not_found" {
		t.Errorf("a refused refund was stored: %+v", ev)
	}
	open()
	if st := c.until("result", "R2").Status; st != "approved" {
		t.Fatalf("R2 %s", st)
	}
	// The rest, without items: the tea and the cake, each under its own group.
	if st := result(`{"type":"refund","id":"R4","terminal":"kasa-1","original_id":"S1","amount":"55.00"}`, "R4"); st != "approved" {
		t.Fatalf("R4 %s", st)
	}
	if e := c.errorFor(`{"type":"refund","id":"R5","terminal":"kasa-1","original_id":"S1","amount":"0.01"}`); e.Code != "refund_exceeds_sold" {
		t.Errorf("refund of a fully refunded sale: %+v", e)
	}
}
