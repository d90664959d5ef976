package iyzicosim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tezgah/tezgah/bridge/iyzico"
)

// client speaks to the simulator as raw HTTP, to reach the rules an
// adapter never breaks on purpose.
type client struct {
	t     *testing.T
	url   string
	token string
}

func newSim(t *testing.T, opts Options) (*Server, *client) {
	t.Helper()
	opts.ClientID, opts.ClientSecret, opts.Username, opts.Password = "id", "secret", "user", "pass"
	if opts.Devices == nil {
		opts.Devices = []string{"D1", "D2"}
	}
	s := New(opts)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c := &client{t: t, url: srv.URL}
	c.token = c.login()
	return s, c
}

func (c *client) form(path string, v url.Values, basic bool) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.url+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth("id", "secret")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (c *client) login() string {
	c.t.Helper()
	_, a := c.form("/in-store/oauth2/authorize", url.Values{"scope": {"iyzipayApiGateway"}, "client_id": {"id"}, "client_secret": {"secret"},
		"response_type": {"code"}, "username": {"user"}, "password": {"pass"}, "request_timestamp": {"1"}}, false)
	code, _ := a["code"].(string)
	st, tok := c.form("/in-store/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}}, true)
	if st != 200 {
		c.t.Fatalf("token: %d %v", st, tok)
	}
	if st, _ := c.form("/in-store/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}}, true); st != 400 {
		c.t.Errorf("a code used twice: HTTP %d, want 400 (single use, §2.1)", st)
	}
	return tok["access_token"].(string)
}

func (c *client) post(path string, body any) (int, map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, c.url+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func item(name, total string) iyzico.SaleItem {
	return iyzico.SaleItem{Name: name, UnitCode: "C62", TaxGroupCode: "KDV20", ItemQuantity: 1, UnitPriceAmount: total, GrossPriceAmount: total, TotalPriceAmount: total}
}

func sale(ref, price string, items ...iyzico.SaleItem) iyzico.GmuPaymentRequest {
	return iyzico.GmuPaymentRequest{DeviceUniqueID: "D1", TransactionReferenceID: ref, Price: price, PaidPrice: price, PaymentType: "CARD",
		SaleAppName: "t", SaleAppVersion: "1", SaleDocumentType: "1", SaleItems: items}
}

func code(out map[string]any) string { s, _ := out["errorCode"].(string); return s }

func TestSimulatorRules(t *testing.T) {
	_, c := newSim(t, Options{})
	const pay = "/v2/terminal-host/gmu/payment"
	if _, out := c.post(pay, sale("A", "10.00", item("x", "9.00"))); code(out) != "380105" {
		t.Errorf("lines not adding up: %v", out)
	}
	_, out := c.post(pay, sale("B", "10.00", item("x", "4.00"), item("y", "6.00")))
	if out["status"] != "success" {
		t.Fatalf("sale: %v", out)
	}
	pid, date := out["paymentId"].(string), out["paymentDate"].(float64)
	refund := func(ref, related, amount string) map[string]any {
		it := item("x", amount)
		it.RelatedSaleItemID, it.ReturnAmount = related, amount
		_, out := c.post("/v2/terminal-host/gmu/payment/refund", iyzico.GmuRefundRequest{DeviceUniqueID: "D1", PaymentID: pid, PaymentDate: int(date),
			TransactionReferenceID: ref, SaleAppName: "t", SaleAppVersion: "1", SaleItems: []iyzico.SaleItem{it}})
		return out
	}
	if out := refund("R1", "9", "1.00"); code(out) != "380105" {
		t.Errorf("refund of a line the sale does not have: %v", out)
	}
	if out := refund("R2", "1", "4.01"); code(out) != "380112" {
		t.Errorf("refund above the line: %v", out)
	}
	if out := refund("R3", "1", "4.00"); out["status"] != "success" {
		t.Errorf("refund of the line: %v", out)
	}
	if out := refund("R4", "1", "0.01"); code(out) != "380112" {
		t.Errorf("refund of a refunded line: %v", out)
	}
	_, info := c.post("/v2/terminal-host/gmu/payment/refundable-sale-info", iyzico.GmuRefundableSaleInfoRequest{TransactionReferenceID: "B"})
	if info["totalReturnableAmount"] != "6.00" {
		t.Errorf("refundable: %v", info)
	}
	// A refunded payment cannot be voided; one of another device is unknown.
	if _, out := c.post("/v2/terminal-host/gmu/payment/void", iyzico.GmuVoidRequest{DeviceUniqueID: "D1", PaymentID: pid, PaymentDate: int(date), TransactionReferenceID: "V1"}); code(out) != "380112" {
		t.Errorf("void after refund: %v", out)
	}
	if _, out := c.post("/v2/terminal-host/gmu/payment/void", iyzico.GmuVoidRequest{DeviceUniqueID: "D2", PaymentID: pid, PaymentDate: int(date), TransactionReferenceID: "V2"}); code(out) != "380107" {
		t.Errorf("void from another device: %v", out)
	}
	if _, out := c.post(pay, iyzico.GmuPaymentRequest{DeviceUniqueID: "NOPE", TransactionReferenceID: "C", Price: "1.00", PaidPrice: "1.00", PaymentType: "CARD",
		SaleAppName: "t", SaleAppVersion: "1", SaleDocumentType: "1", SaleItems: []iyzico.SaleItem{item("x", "1.00")}}); code(out) != "380101" {
		t.Errorf("unknown device: %v", out)
	}
}

func TestSimulatorPartialPayment(t *testing.T) {
	_, c := newSim(t, Options{})
	_, out := c.post("/v2/terminal-host/gmu/partial-payment/start", sale("P", "10.00", item("x", "10.00")))
	sn, _ := out["saleNumber"].(string)
	if sn == "" || out["remainingPaymentAmount"] != "10.00" {
		t.Fatalf("start: %v", out)
	}
	add := func(ref, price, dev string) map[string]any {
		_, out := c.post("/v2/terminal-host/gmu/partial-payment/add-payment", iyzico.GmuPartialAddRequest{SaleNumber: sn, Price: price, DeviceUniqueID: dev, TransactionReferenceID: ref})
		return out
	}
	complete := func(ref string) map[string]any {
		_, out := c.post("/v2/terminal-host/gmu/partial-payment/complete", iyzico.GmuPartialCompleteRequest{DeviceUniqueID: "D1", TransactionReferenceID: ref, SaleNumber: sn})
		return out
	}
	if out := add("A0", "10.01", "D1"); code(out) != "380105" {
		t.Errorf("add above the remaining: %v", out)
	}
	if out := add("A1", "4.00", ""); out["status"] != "success" || out["saleNumber"] != sn {
		t.Errorf("add without deviceUniqueId (optional in §4.6): %v", out)
	}
	if out := complete("C0"); code(out) != "380105" || out["remainingPaymentAmount"] != "6.00" {
		t.Errorf("complete while 6.00 is left: %v", out)
	}
	if out := add("A2", "6.00", "D2"); code(out) != "380107" {
		t.Errorf("add from another device: %v", out)
	}
	add("A3", "6.00", "D1")
	if out := complete("C1"); out["status"] != "success" || out["remainingPaymentAmount"] != "0.00" || out["price"] != "10.00" {
		t.Errorf("complete: %v", out)
	}
	if out := add("A4", "0.01", "D1"); code(out) != "380105" {
		t.Errorf("add after complete: %v", out)
	}
	_, q := c.post("/v2/terminal-host/gmu/payment/query-transaction-status", iyzico.GmuQueryRequest{DeviceUniqueID: "D1", TransactionReferenceID: "P"})
	if q["saleNumber"] != sn {
		t.Errorf("query of the start: %v", q)
	}
}

// TestSimulatorBusy: one operation at a time per device (380201), but a
// query is always answered.
func TestSimulatorBusy(t *testing.T) {
	s, c := newSim(t, Options{})
	s.SetFaults(Faults{Latency: time.Second, Paths: []string{"/v2/terminal-host/gmu/payment"}})
	first := make(chan map[string]any, 1)
	go func() {
		_, out := c.post("/v2/terminal-host/gmu/payment", sale("X1", "1.00", item("x", "1.00")))
		first <- out
	}()
	busy := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.devices["D1"].busy
	}
	deadline := time.Now().Add(5 * time.Second)
	for !busy() {
		if time.Now().After(deadline) {
			t.Fatal("the first sale never reached the device")
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
	s.SetFaults(Faults{}) // the second call must not wait
	if _, out := c.post("/v2/terminal-host/gmu/payment", sale("X2", "1.00", item("x", "1.00"))); code(out) != "380201" {
		t.Errorf("second sale while the device is busy: %v", out)
	}
	if _, out := c.post("/v2/terminal-host/gmu/payment/query-transaction-status", iyzico.GmuQueryRequest{DeviceUniqueID: "D1", TransactionReferenceID: "X2"}); code(out) != notFoundCode {
		t.Errorf("query while busy: %v", out)
	}
	if out := <-first; out["status"] != "success" || len(s.Ledger()) != 1 {
		t.Errorf("first sale %v, ledger %v", out, s.Ledger())
	}
}

func TestSimulatorTokens(t *testing.T) {
	s, c := newSim(t, Options{})
	if _, out := c.post("/v2/terminal-host/gmu/eod", iyzico.GmuEodRequest{DeviceUniqueID: "D1"}); out["status"] != "success" {
		t.Fatalf("eod: %v", out)
	}
	s.SetFaults(Faults{ExpireTokens: true})
	if st, out := c.post("/v2/terminal-host/gmu/eod", iyzico.GmuEodRequest{DeviceUniqueID: "D1"}); st != 400 || code(out) != "100311" {
		t.Errorf("expired token: %d %v", st, out)
	}
	c.token = "forged"
	if st, out := c.post("/v2/terminal-host/eod", iyzico.EodRequest509{ConversationID: "c", Locale: "tr", DeviceUniqueID: "D1"}); st != 400 || code(out) != "100310" {
		t.Errorf("unknown token: %d %v", st, out)
	}
	if st, _ := c.form("/in-store/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, true); st != 401 {
		t.Errorf("unknown refresh token: %d", st)
	}
}

// TestSimulatorFaultsPerPath: a fault limited to one path hits that path
// and no other, for every business path.
func TestSimulatorFaultsPerPath(t *testing.T) {
	s, c := newSim(t, Options{})
	for path := range routes {
		other := "/v2/terminal-host/gmu/eod"
		if path == other {
			other = "/v2/terminal-host/eod"
		}
		s.SetFaults(Faults{FailRate5xx: 1, Paths: []string{path}})
		if st, _ := c.post(path, map[string]any{}); st != http.StatusInternalServerError {
			t.Errorf("%s: HTTP %d with its fault on, want 500", path, st)
		}
		if st, _ := c.post(other, map[string]any{"conversationId": "c", "locale": "tr", "deviceUniqueId": "D1"}); st == http.StatusInternalServerError {
			t.Errorf("%s: its fault hit %s", path, other)
		}
		s.SetFaults(Faults{Paths: []string{path}, Error: &InjectedError{Code: "380201", Group: "DEVICE_ERROR", Times: 1}})
		if _, out := c.post(path, map[string]any{}); code(out) != "380201" {
			t.Errorf("%s: injected error not answered: %v", path, out)
		}
	}
}
