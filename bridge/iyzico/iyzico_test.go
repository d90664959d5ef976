package iyzico_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/bridge/iyzico"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/money"
)

// clock is a settable clock shared by the adapter and the simulator, so
// token lifetimes can be crossed without waiting.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var (
	t507 = bridge.Terminal{Name: "kasa-1", Provider: "iyzico", DeviceID: "P00134", Model: iyzico.VUK507}
	t509 = bridge.Terminal{Name: "kasa-9", Provider: "iyzico", DeviceID: "PAV860047264", Model: iyzico.VUK509}
)

type env struct {
	t     *testing.T
	sim   *iyzicosim.Server
	url   string
	c     *iyzico.Client
	ct    *contractTransport
	clock *clock
	cfg   iyzico.Config
}

var refs atomic.Int64

// ref returns a fresh 15-character reference, like the outbox's.
func ref() string { return fmt.Sprintf("T%014d", refs.Add(1)) }

func newEnv(t *testing.T, mod func(*iyzicosim.Options, *iyzico.Config)) *env {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	opts := iyzicosim.Options{ClientID: "cid", ClientSecret: "csecret-XYZ", Username: "kasiyer", Password: "pw-SECRET-123",
		Devices: []string{t507.DeviceID, t509.DeviceID}, Now: clk.Now}
	ct := newContract(t)
	cfg := iyzico.Config{ClientID: "cid", ClientSecret: "csecret-XYZ", Username: "kasiyer", Password: "pw-SECRET-123",
		TaxGroupCode: "KDV20", TaxGroups: map[int]string{1: "KDV1", 10: "KDV10", 20: "KDV20"}, Timeout: 5 * time.Second,
		HTTPClient: &http.Client{Transport: ct, Timeout: 5 * time.Second}, Now: clk.Now}
	if mod != nil {
		mod(&opts, &cfg)
	}
	sim := iyzicosim.New(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL
	c, err := iyzico.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, sim: sim, url: srv.URL, c: c, ct: ct, clock: clk, cfg: cfg}
}

func try(t *testing.T, amount string) money.Amount {
	t.Helper()
	a, err := money.Parse(amount, "TRY")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// send sends r and insists on a final result.
func (e *env) send(r bridge.Request) bridge.Result {
	e.t.Helper()
	if r.Reference == "" {
		r.Reference = ref()
	}
	res, err := e.c.Send(context.Background(), r)
	if err != nil {
		e.t.Fatalf("%s: %v", r.Op, err)
	}
	return res
}

func (e *env) approved(r bridge.Request) (bridge.Result, bridge.Original) {
	e.t.Helper()
	if r.Reference == "" {
		r.Reference = ref()
	}
	res := e.send(r)
	if res.Status != bridge.Approved || res.Payment == nil {
		e.t.Fatalf("%s %s: got %+v, want approved", r.Op, r.Amount, res)
	}
	return res, bridge.Original{ID: r.ID, Reference: r.Reference, Amount: r.Amount, Payment: *res.Payment, Items: r.Items}
}

func (e *env) faults(f iyzicosim.Faults) { e.sim.SetFaults(f) }

func items() []bridge.Item {
	return []bridge.Item{
		{Name: "Çay", Quantity: "2", UnitPrice: "15.00", Amount: "30.00", VATRate: 10},
		{Name: "Simit", Quantity: "1", Amount: "12.50", VATRate: 1, Unit: "C62"},
	}
}

func TestSaleSendsItemsAndBuyer(t *testing.T) {
	e := newEnv(t, nil)
	cust := &bridge.Customer{Type: bridge.Corporate, CompanyName: "Tezgah Ltd", TaxOffice: "Kadıköy", TaxNumber: "1234567890", Email: "a@b.tr", City: "İstanbul"}
	_, orig := e.approved(bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "42.50"), Items: items(), Customer: cust})

	var sent iyzico.GmuPaymentRequest
	if err := json.Unmarshal(e.ct.lastBody("/v2/terminal-host/gmu/payment"), &sent); err != nil {
		t.Fatal(err)
	}
	want := []iyzico.SaleItem{
		{Name: "Çay", UnitCode: "C62", TaxGroupCode: "KDV10", ItemQuantity: 2, UnitPriceAmount: "15.00", GrossPriceAmount: "30.00", TotalPriceAmount: "30.00"},
		{Name: "Simit", UnitCode: "C62", TaxGroupCode: "KDV1", ItemQuantity: 1, UnitPriceAmount: "12.50", GrossPriceAmount: "12.50", TotalPriceAmount: "12.50"},
	}
	if fmt.Sprint(sent.SaleItems) != fmt.Sprint(want) {
		t.Errorf("saleItems\n got %+v\nwant %+v", sent.SaleItems, want)
	}
	if sent.BuyerInfo == nil || sent.BuyerInfo.CustomerType != 2 || sent.BuyerInfo.CompanyName != "Tezgah Ltd" || sent.BuyerInfo.TaxNumber != "1234567890" {
		t.Errorf("buyerInfo = %+v", sent.BuyerInfo)
	}
	if sent.NotificationEmail != "a@b.tr" || sent.Price != "42.50" || sent.PaidPrice != "42.50" || sent.TransactionReferenceID != orig.Reference {
		t.Errorf("payment request = %+v", sent)
	}

	// Without items: one generic line under the fallback tax group.
	e.approved(bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "10.00")})
	json.Unmarshal(e.ct.lastBody("/v2/terminal-host/gmu/payment"), &sent)
	if len(sent.SaleItems) != 1 || !sent.SaleItems[0].Generic || sent.SaleItems[0].TaxGroupCode != "KDV20" || sent.SaleItems[0].TotalPriceAmount != "10.00" {
		t.Errorf("generic line = %+v", sent.SaleItems)
	}
}

func TestValidate(t *testing.T) {
	e := newEnv(t, nil)
	cases := []struct {
		name  string
		r     bridge.Request
		field string // "" for ErrUnsupported, "-" for fine
	}{
		{"507 sale with items", bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "42.50"), Items: items()}, "-"},
		{"507 weighed item", bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "5.00"),
			Items: []bridge.Item{{Name: "Peynir", Quantity: "0.250", Amount: "5.00", VATRate: 1}}}, "items[0].quantity"},
		{"507 quantity without unit price that does not divide", bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "10.00"),
			Items: []bridge.Item{{Name: "Su", Quantity: "3", Amount: "10.00", VATRate: 1}}}, "items[0]"},
		{"507 GBP", bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: money.Amount{Minor: 100, Currency: "GBP"}}, "currency"},
		{"507 partial start", bridge.Request{Op: bridge.OpPartialStart, Terminal: t507, Amount: try(t, "10.00")}, "-"},
		{"509 partial start", bridge.Request{Op: bridge.OpPartialStart, Terminal: t509, Amount: try(t, "10.00")}, ""},
		{"509 partial add", bridge.Request{Op: bridge.OpPartialAdd, Terminal: t509, Amount: try(t, "10.00")}, ""},
		{"509 sale with items", bridge.Request{Op: bridge.OpSale, Terminal: t509, Amount: try(t, "42.50"), Items: items()}, "-"},
		{"509 GBP sale", bridge.Request{Op: bridge.OpSale, Terminal: t509, Amount: money.Amount{Minor: 100, Currency: "GBP"}}, "-"},
		{"unknown model", bridge.Request{Op: bridge.OpSale, Terminal: bridge.Terminal{Name: "x", Model: "vuk999"}, Amount: try(t, "1.00")}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := e.c.Validate(tc.r)
			var ie *bridge.InputError
			switch {
			case tc.field == "-":
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
			case tc.field == "":
				if !errors.Is(err, bridge.ErrUnsupported) {
					t.Fatalf("Validate = %v, want ErrUnsupported", err)
				}
			case !errors.As(err, &ie) || ie.Field != tc.field:
				t.Fatalf("Validate = %v, want an InputError on %s", err, tc.field)
			}
		})
	}
}

func TestPartialPayment(t *testing.T) {
	e := newEnv(t, nil)
	var remembered string
	start := bridge.Request{Op: bridge.OpPartialStart, Terminal: t507, Amount: try(t, "42.50"), Items: items(), Reference: ref(),
		Remember: func(_ context.Context, id string) error { remembered = id; return nil }}
	res, so := e.approved(start)
	var d struct{ SaleNumber, RemainingAmount string }
	json.Unmarshal(res.Payment.Detail, &struct {
		S *string `json:"sale_number"`
		R *string `json:"remaining_amount"`
	}{&d.SaleNumber, &d.RemainingAmount})
	if d.SaleNumber == "" || d.RemainingAmount != "42.50" || remembered != d.SaleNumber {
		t.Fatalf("start detail = %s, remembered %q", res.Payment.Detail, remembered)
	}
	so.ID = "P1"

	complete := func() bridge.Result {
		return e.send(bridge.Request{Op: bridge.OpPartialComplete, Terminal: t507, Original: &so})
	}
	if r := complete(); r.Status != bridge.Failed || r.Code != "provider_validation_error" || !strings.Contains(r.Message, "42.50") {
		t.Errorf("complete before paying = %+v, want failed with the remaining amount", r)
	}
	add1, _ := e.approved(bridge.Request{Op: bridge.OpPartialAdd, Terminal: t507, Amount: try(t, "30.00"), Original: &so})
	if add1.Payment.PaymentID == "" || add1.Payment.AuthCode == "" {
		t.Errorf("add = %+v", add1.Payment)
	}
	if r := e.send(bridge.Request{Op: bridge.OpPartialAdd, Terminal: t507, Amount: try(t, "13.00"), Original: &so}); r.Status != bridge.Failed {
		t.Errorf("add over the remaining amount = %+v, want failed", r)
	}
	if r := e.send(bridge.Request{Op: bridge.OpPartialAdd, Terminal: t507, Amount: try(t, "10.51"), Original: &so}); r.Status != bridge.Declined {
		t.Errorf("declined card = %+v, want declined", r)
	}
	addRef := ref()
	e.approved(bridge.Request{Op: bridge.OpPartialAdd, Terminal: t507, Amount: try(t, "12.50"), Original: &so, Reference: addRef})
	done, _ := e.approved(bridge.Request{Op: bridge.OpPartialComplete, Terminal: t507, Original: &so})
	if done.Payment.Amount != "42.50" || !strings.Contains(string(done.Payment.Detail), `"remaining_amount":"0.00"`) {
		t.Errorf("complete = %+v %s", done.Payment, done.Payment.Detail)
	}
	if r := complete(); r.Status != bridge.Failed {
		t.Errorf("second complete = %+v, want failed", r)
	}
	var charged int64
	for _, l := range e.sim.Ledger() {
		charged += l.Amount
	}
	if charged != 4250 {
		t.Errorf("ledger total %d, want 4250: %+v", charged, e.sim.Ledger())
	}

	// Reconciling each step by query gives the step's own result.
	q, err := e.c.Query(context.Background(), bridge.Request{Op: bridge.OpPartialAdd, Terminal: t507, Reference: addRef, Original: &so})
	if err != nil || q.Status != bridge.Approved || q.Payment.Amount != "12.50" || !strings.Contains(string(q.Payment.Detail), d.SaleNumber) {
		t.Errorf("query add = %+v, %v", q, err)
	}
	q, err = e.c.Query(context.Background(), bridge.Request{Op: bridge.OpPartialStart, Terminal: t507, Reference: start.Reference, Amount: start.Amount})
	if err != nil || q.Status != bridge.Approved || !strings.Contains(string(q.Payment.Detail), d.SaleNumber) {
		t.Errorf("query start = %+v, %v", q, err)
	}
	q, err = e.c.Query(context.Background(), bridge.Request{Op: bridge.OpPartialStart, Terminal: t507, Reference: ref(), ProviderRef: d.SaleNumber})
	if err != nil || q.Status != bridge.Approved || !strings.Contains(string(q.Payment.Detail), d.SaleNumber) {
		t.Errorf("query start by stored saleNumber = %+v, %v", q, err)
	}
}

func TestRefundByLine(t *testing.T) {
	e := newEnv(t, nil)
	_, orig := e.approved(bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "42.50"), Items: items()})
	refund := func(amount string, it []bridge.Item) bridge.Result {
		return e.send(bridge.Request{Op: bridge.OpRefund, Terminal: t507, Amount: try(t, amount), Original: &orig, Items: it})
	}
	r, _ := e.approved(bridge.Request{Op: bridge.OpRefund, Terminal: t507, Amount: try(t, "15.00"), Original: &orig,
		Items: []bridge.Item{{Name: "çay", Quantity: "1", Amount: "15.00", VATRate: 10}}})
	if r.Payment.Amount != "15.00" {
		t.Errorf("refund = %+v", r.Payment)
	}
	var sent iyzico.GmuRefundRequest
	json.Unmarshal(e.ct.lastBody("/v2/terminal-host/gmu/payment/refund"), &sent)
	if len(sent.SaleItems) != 1 || sent.SaleItems[0].RelatedSaleItemID != "1" || sent.SaleItems[0].ReturnAmount != "15.00" || sent.SaleItems[0].TaxGroupCode != "KDV10" {
		t.Errorf("refund lines = %+v", sent.SaleItems)
	}

	info := e.call(iyzico.CallRefundableSaleInfo, t507, &orig)
	if !strings.Contains(info, `"total_refundable":"27.50"`) || !strings.Contains(info, `"name":"Çay","quantity":2,"amount":"30.00","refundable_quantity":1,"refundable_amount":"15.00"`) {
		t.Errorf("refundable_sale_info = %s", info)
	}
	if r := refund("20.00", []bridge.Item{{Name: "Simit", Quantity: "1", Amount: "20.00", VATRate: 1}}); r.Code != "refund_item_not_found" {
		t.Errorf("refund more than the line = %+v", r)
	}
	if r := refund("30.00", nil); r.Code != "refund_exceeds_refundable" {
		t.Errorf("refund more than left = %+v", r)
	}
	e.approved(bridge.Request{Op: bridge.OpRefund, Terminal: t507, Amount: try(t, "27.50"), Original: &orig})
	if r := refund("0.01", nil); r.Status != bridge.Failed {
		t.Errorf("refund of a fully refunded sale = %+v", r)
	}
	var refunded int64
	for _, l := range e.sim.Ledger() {
		if l.Op == "refund" {
			refunded += l.Amount
		}
	}
	if refunded != 4250 {
		t.Errorf("refunded %d, want 4250", refunded)
	}
}

func (e *env) call(op string, term bridge.Terminal, orig *bridge.Original) string {
	e.t.Helper()
	out, err := e.c.Call(context.Background(), bridge.Call{ID: "c1", Op: op, Terminal: term, Original: orig})
	if err != nil {
		e.t.Fatalf("call %s: %v", op, err)
	}
	return string(out)
}

func TestVoidSameDayOnly(t *testing.T) {
	for _, term := range []bridge.Terminal{t507, t509} {
		t.Run(term.Model, func(t *testing.T) {
			e := newEnv(t, nil)
			_, s1 := e.approved(bridge.Request{Op: bridge.OpSale, Terminal: term, Amount: try(t, "20.00")})
			v, _ := e.approved(bridge.Request{Op: bridge.OpVoid, Terminal: term, Original: &s1})
			if v.Payment.HostReference == "" {
				t.Errorf("void = %+v", v.Payment)
			}
			_, s2 := e.approved(bridge.Request{Op: bridge.OpSale, Terminal: term, Amount: try(t, "30.00")})
			e.approved(bridge.Request{Op: bridge.OpEndOfDay, Terminal: term})
			r := e.send(bridge.Request{Op: bridge.OpVoid, Terminal: term, Original: &s2})
			if r.Status != bridge.Failed || r.Code != "void_not_allowed" || !strings.Contains(r.Message, "send a refund") {
				t.Errorf("void after end of day = %+v", r)
			}
			e.approved(bridge.Request{Op: bridge.OpRefund, Terminal: term, Amount: try(t, "30.00"), Original: &s2})
		})
	}
}

func TestEndOfDaySummary(t *testing.T) {
	for _, term := range []bridge.Terminal{t507, t509} {
		t.Run(term.Model, func(t *testing.T) {
			e := newEnv(t, nil)
			e.approved(bridge.Request{Op: bridge.OpSale, Terminal: term, Amount: try(t, "20.00")})
			e.approved(bridge.Request{Op: bridge.OpSale, Terminal: term, Amount: try(t, "5.00")})
			r, _ := e.approved(bridge.Request{Op: bridge.OpEndOfDay, Terminal: term, Summary: true})
			if r.Payment.BatchNo != "1" || !strings.Contains(string(r.Payment.Detail), `"totalTransactionAmount":"25.00"`) {
				t.Errorf("end of day = %+v %s", r.Payment, r.Payment.Detail)
			}
			r, _ = e.approved(bridge.Request{Op: bridge.OpEndOfDay, Terminal: term})
			if r.Payment.BatchNo != "2" {
				t.Errorf("second end of day batch = %q", r.Payment.BatchNo)
			}
			if e.sim.Hits("eod useSummary=true") != 1 || e.sim.Hits("eod useSummary=false") != 1 {
				t.Errorf("useSummary true/false = %d/%d, want 1/1", e.sim.Hits("eod useSummary=true"), e.sim.Hits("eod useSummary=false"))
			}
		})
	}
}

func TestVUK509(t *testing.T) {
	e := newEnv(t, nil)
	r, orig := e.approved(bridge.Request{Op: bridge.OpSale, Terminal: t509, Amount: try(t, "100.00"), Items: items()})
	if r.Payment.PaymentDate != "20261124" || r.Payment.MaskedPAN == "" {
		t.Errorf("509 sale = %+v", r.Payment)
	}
	q, err := e.c.Query(context.Background(), bridge.Request{Op: bridge.OpSale, Terminal: t509, Reference: orig.Reference})
	if err != nil || q.Payment.PaymentID != r.Payment.PaymentID {
		t.Errorf("query = %+v, %v", q, err)
	}
	e.approved(bridge.Request{Op: bridge.OpRefund, Terminal: t509, Amount: try(t, "40.00"), Original: &orig})
	if x := e.send(bridge.Request{Op: bridge.OpRefund, Terminal: t509, Amount: try(t, "60.01"), Original: &orig}); x.Code != "insufficient_refundable" {
		t.Errorf("over-refund = %+v", x)
	}
	if d := e.send(bridge.Request{Op: bridge.OpSale, Terminal: t509, Amount: try(t, "10.51")}); d.Status != bridge.Declined || d.Code != "card_declined" {
		t.Errorf("decline = %+v", d)
	}
	if _, err := e.c.Call(context.Background(), bridge.Call{Op: iyzico.CallRefundableSaleInfo, Terminal: t509, Original: &orig}); !errors.Is(err, bridge.ErrUnsupported) {
		t.Errorf("refundable_sale_info on 509 = %v", err)
	}
	st := e.call(iyzico.CallTransactionStatus, t509, &orig)
	if !strings.Contains(st, `"status":"approved"`) {
		t.Errorf("transaction_status = %s", st)
	}
}

func TestCalls(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	_, orig := e.approved(bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "10.00")})
	var ie *bridge.InputError
	if _, err := e.c.Call(ctx, bridge.Call{Op: iyzico.CallRefundableSaleInfo, Terminal: t507}); !errors.As(err, &ie) || ie.Field != "params.original_id" {
		t.Errorf("without original = %v", err)
	}
	ghost := orig
	ghost.Reference = ref()
	if _, err := e.c.Call(ctx, bridge.Call{Op: iyzico.CallRefundableSaleInfo, Terminal: t507, Original: &ghost}); !errors.As(err, &ie) {
		t.Errorf("unknown sale = %v, want InputError", err)
	}
	if got := e.call(iyzico.CallTransactionStatus, t507, &ghost); got != `{"status":"not_found"}` {
		t.Errorf("transaction_status of unknown = %s", got)
	}
	if _, err := e.c.Call(ctx, bridge.Call{Op: "bin_check", Terminal: t507}); !errors.Is(err, bridge.ErrUnsupported) {
		t.Errorf("unknown op = %v", err)
	}
	e.faults(iyzicosim.Faults{FailRate5xx: 1})
	e.ct.allow(500)
	var be *bridge.Error
	if _, err := e.c.Call(ctx, bridge.Call{Op: iyzico.CallRefundableSaleInfo, Terminal: t507, Original: &orig}); !errors.As(err, &be) {
		t.Errorf("provider down = %v, want *bridge.Error", err)
	}
}

func TestOAuth(t *testing.T) {
	sale := func(e *env) bridge.Result {
		return e.send(bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "1.00")})
	}
	const salePath = "/v2/terminal-host/gmu/payment"
	t.Run("logs in once and caches the token", func(t *testing.T) {
		e := newEnv(t, nil)
		for range 3 {
			sale(e)
		}
		if a, c := e.sim.Hits("/in-store/oauth2/authorize"), e.sim.Hits("/in-store/oauth2/token grant_type=authorization_code"); a != 1 || c != 1 {
			t.Errorf("authorize %d, code grants %d; want 1, 1", a, c)
		}
	})
	t.Run("refreshes before expiry", func(t *testing.T) {
		e := newEnv(t, func(o *iyzicosim.Options, _ *iyzico.Config) { o.TokenTTL = 10 * time.Minute })
		sale(e)
		e.clock.Advance(9 * time.Minute) // 1 minute left: inside the refresh margin
		sale(e)
		if r := e.sim.Hits("/in-store/oauth2/token grant_type=refresh_token"); r != 1 {
			t.Errorf("refresh grants %d, want 1", r)
		}
		if s := e.sim.Hits(salePath); s != 2 {
			t.Errorf("sale calls %d, want 2: no call may be refused for an expired token", s)
		}
	})
	t.Run("refreshes an expired token without logging in again", func(t *testing.T) {
		e := newEnv(t, func(o *iyzicosim.Options, _ *iyzico.Config) { o.TokenTTL = 10 * time.Minute })
		sale(e)
		e.clock.Advance(20 * time.Minute)
		sale(e)
		if a, r := e.sim.Hits("/in-store/oauth2/authorize"), e.sim.Hits("/in-store/oauth2/token grant_type=refresh_token"); a != 1 || r != 1 {
			t.Errorf("authorize %d, refresh grants %d; want 1, 1", a, r)
		}
	})
	t.Run("retries once on 401", func(t *testing.T) {
		e := newEnv(t, nil)
		e.ct.allow(http.StatusUnauthorized)
		sale(e)
		e.faults(iyzicosim.Faults{Paths: []string{salePath}, Error: &iyzicosim.InjectedError{Status: 401, Code: "100310", Group: "SYSTEM_ERROR", Times: 1}})
		if r := sale(e); r.Status != bridge.Approved {
			t.Fatalf("sale after one 401 = %+v", r)
		}
		if s := e.sim.Hits(salePath); s != 3 {
			t.Errorf("sale calls %d, want 3 (one, then a refused one and its retry)", s)
		}
		if len(e.sim.Ledger()) != 2 {
			t.Errorf("ledger %d entries, want 2", len(e.sim.Ledger()))
		}
	})
	t.Run("expired token answer re-authenticates", func(t *testing.T) {
		e := newEnv(t, nil)
		sale(e)
		e.faults(iyzicosim.Faults{ExpireTokens: true})
		if r := sale(e); r.Status != bridge.Approved {
			t.Fatalf("sale = %+v", r)
		}
	})
	t.Run("a token refused twice is not sent", func(t *testing.T) {
		e := newEnv(t, nil)
		e.ct.allow(http.StatusUnauthorized)
		e.faults(iyzicosim.Faults{Paths: []string{salePath}, Error: &iyzicosim.InjectedError{Status: 401, Code: "100311", Group: "SYSTEM_ERROR"}})
		_, err := e.c.Send(context.Background(), bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "1.00"), Reference: ref()})
		if bridge.KindOf(err) != bridge.NotSent || bridge.CodeOf(err) != "auth_failed" {
			t.Errorf("err = %v, want not_sent auth_failed", err)
		}
	})
	t.Run("bad credentials never show in errors", func(t *testing.T) {
		e := newEnv(t, func(o *iyzicosim.Options, _ *iyzico.Config) { o.Password = "other" })
		_, err := e.c.Send(context.Background(), bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "1.00"), Reference: ref()})
		if bridge.KindOf(err) != bridge.NotSent || bridge.CodeOf(err) != "auth_failed" {
			t.Fatalf("err = %v, want not_sent auth_failed", err)
		}
		for _, secret := range []string{e.cfg.Password, e.cfg.ClientSecret} {
			if strings.Contains(fmt.Sprintf("%v %+v", err, err), secret) {
				t.Errorf("error %q shows a secret", err)
			}
		}
		if len(e.sim.Ledger()) != 0 {
			t.Error("money moved without a login")
		}
	})
}

// TestQueryAgreesWithSend: a result reconciled by query is the result the
// call itself would have given, so a register sees the same payment
// whether or not an answer was lost.
func TestQueryAgreesWithSend(t *testing.T) {
	for _, term := range []bridge.Terminal{t507, t509} {
		t.Run(term.Model, func(t *testing.T) {
			e := newEnv(t, nil)
			_, s1 := e.approved(bridge.Request{Op: bridge.OpSale, Terminal: term, Amount: try(t, "42.50"), Items: items()})
			_, s2 := e.approved(bridge.Request{Op: bridge.OpSale, Terminal: term, Amount: try(t, "10.00")})
			reqs := []bridge.Request{
				{Op: bridge.OpSale, Terminal: term, Amount: try(t, "7.00")},
				{Op: bridge.OpRefund, Terminal: term, Amount: try(t, "12.50"), Original: &s1, Items: []bridge.Item{{Name: "Simit", Quantity: "1", Amount: "12.50", VATRate: 1}}},
				{Op: bridge.OpVoid, Terminal: term, Original: &s2},
			}
			for _, r := range reqs {
				r.Reference = ref()
				sent := e.send(r)
				got, err := e.c.Query(context.Background(), r)
				if err != nil {
					t.Fatalf("%s: query: %v", r.Op, err)
				}
				a, b := *sent.Payment, *got.Payment
				a.Detail, b.Detail, a.BatchNo, b.BatchNo, a.CardType, b.CardType, a.PaymentDate, b.PaymentDate = nil, nil, "", "", "", "", "", ""
				if sent.Status != got.Status || fmt.Sprint(a) != fmt.Sprint(b) {
					t.Errorf("%s: sent %+v, queried %+v", r.Op, a, b)
				}
			}
		})
	}
}
