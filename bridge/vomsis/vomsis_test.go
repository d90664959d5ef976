package vomsis_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/bridge/cardvault"
	"github.com/tezgah/tezgah/bridge/vomsis"
	"github.com/tezgah/tezgah/bridge/vomsis/vomsissim"
	"github.com/tezgah/tezgah/money"
)

type env struct {
	sim    *vomsissim.Server
	client *vomsis.Client
	pages  *vomsis.Pages
	vault  *cardvault.Vault
	waits  chan string
}

func setup(t *testing.T, threeDS time.Duration, mods ...func(*vomsis.Config)) *env {
	t.Helper()
	sim := vomsissim.New(vomsissim.Options{})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	e := &env{sim: sim, vault: cardvault.New(), waits: make(chan string, 8)}
	e.pages = vomsis.NewPages(func(ctx context.Context, id, u string) error { e.waits <- u; return nil }, nil)
	ps := httptest.NewServer(e.pages)
	t.Cleanup(ps.Close)
	if err := e.pages.SetBaseURL(ps.URL); err != nil {
		t.Fatal(err)
	}
	cfg := vomsis.Config{
		BaseURL: ts.URL + vomsissim.APIPrefix, AppKey: vomsissim.DemoAppKey, AppSecret: vomsissim.DemoAppSecret,
		ThreeDSTimeout: threeDS, Timeout: 5 * time.Second, Cards: e.vault, Pages: e.pages,
	}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := vomsis.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
	return e
}

const pan, cvc = "4508034508034509", "000"

func (e *env) sale(t *testing.T, id, ref, amount string) bridge.Request {
	t.Helper()
	e.vault.Put(id, bridge.Card{Number: pan, ExpiryMonth: "02", ExpiryYear: "2030", CVC: cvc, Holder: "Kamil Acar"}, time.Minute)
	a, err := money.Positive(amount, "TRY")
	if err != nil {
		t.Fatal(err)
	}
	return bridge.Request{ID: id, Op: bridge.OpSale, Terminal: bridge.Terminal{Name: "vpos-1", Provider: "vomsis"}, Amount: a, Reference: ref}
}

type outcome struct {
	res bridge.Result
	err error
}

func (e *env) send(r bridge.Request) chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		res, err := e.client.Send(context.Background(), r)
		ch <- outcome{res, err}
	}()
	return ch
}

func (e *env) waitURL(t *testing.T, done chan outcome) string {
	t.Helper()
	select {
	case u := <-e.waits:
		return u
	case o := <-done:
		t.Fatalf("send ended before the 3-D page opened: %+v %v", o.res, o.err)
	case <-time.After(10 * time.Second):
		t.Fatal("no 3-D page")
	}
	return ""
}

func wait(t *testing.T, done chan outcome) outcome {
	t.Helper()
	select {
	case o := <-done:
		return o
	case <-time.After(15 * time.Second):
		t.Fatal("send did not finish")
	}
	return outcome{}
}

func TestSale3DSApproved(t *testing.T) {
	e := setup(t, time.Minute)
	done := e.send(e.sale(t, "S1", "REF000000000001", "150.00"))
	page := e.waitURL(t, done)
	if status, err := vomsissim.Browse(http.DefaultClient, page, true); err != nil || status != http.StatusOK {
		t.Fatalf("browse: %d %v", status, err)
	}
	o := wait(t, done)
	if o.err != nil || o.res.Status != bridge.Approved || o.res.Payment == nil {
		t.Fatalf("result %+v %v", o.res, o.err)
	}
	p := o.res.Payment
	if p.Provider != "vomsis" || p.PaymentID != "REF000000000001" || p.Amount != "150.00" || p.MaskedPAN != "450803******4509" || len(p.PaymentDate) != 8 {
		t.Fatalf("payment %+v", p)
	}
	if l := e.sim.Ledger(); len(l) != 1 || l[0].Reference != "REF000000000001" || l[0].Amount != 15000 {
		t.Fatalf("ledger %+v", l)
	}
	if e.vault.Len() != 0 || e.pages.Open() != 0 {
		t.Fatalf("card or page kept: %d cards, %d pages", e.vault.Len(), e.pages.Open())
	}
	if resp, err := http.Get(page); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("page still served after the sale: %v %v", resp.StatusCode, err)
	}
}

func TestSale3DSDeclined(t *testing.T) {
	for _, tc := range []struct {
		name, amount string
		approve      bool
		code         string
	}{
		{"payer refuses", "20.00", false, "3D"},
		{"bank declines", "10.51", true, "51"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, time.Minute)
			done := e.send(e.sale(t, "S1", "REF000000000002", tc.amount))
			vomsissim.Browse(http.DefaultClient, e.waitURL(t, done), tc.approve)
			o := wait(t, done)
			if o.err != nil || o.res.Status != bridge.Declined || o.res.Code != "card_declined" || o.res.ProviderCode != tc.code {
				t.Fatalf("result %+v %v", o.res, o.err)
			}
			if len(e.sim.Ledger()) != 0 {
				t.Fatal("a declined sale moved money")
			}
		})
	}
}

// A post-back is unsigned and comes through the payer's browser: a forged
// "success" for the right reference, or one for another reference,
// changes nothing. The sale ends only as find says: here, never
// completed, so it expires.
func TestForgedPostBackChangesNothing(t *testing.T) {
	e := setup(t, 500*time.Millisecond)
	done := e.send(e.sale(t, "S1", "REF000000000003", "99.00"))
	page := e.waitURL(t, done)
	forged := url.Values{"trans_id": {"1"}, "order_id": {"x"}, "referans_kodu": {"REF000000000003"}, "status_code": {"00"}, "error_code": {"00"}}
	resp, err := http.PostForm(page+"/return", forged)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("post-back: %v %v", resp, err)
	}
	forged.Set("referans_kodu", "OTHER0000000000")
	resp, err = http.PostForm(page+"/return", forged)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("mismatched post-back: %v %v", resp.StatusCode, err)
	}
	o := wait(t, done)
	if o.err != nil || o.res.Status != bridge.Failed || o.res.Code != "3ds_expired" {
		t.Fatalf("forged post-back led to %+v %v", o.res, o.err)
	}
	if len(e.sim.Ledger()) != 0 {
		t.Fatal("money moved")
	}
}

func TestCardGoneOrVomsisDown(t *testing.T) {
	e := setup(t, time.Minute)
	r := e.sale(t, "S1", "REF000000000004", "10.00")
	e.vault.Drop("S1")
	res, err := e.client.Send(context.Background(), r)
	if err != nil || res.Status != bridge.Failed || res.Code != "card_data_unavailable" {
		t.Fatalf("no card: %+v %v", res, err)
	}
	for _, f := range []vomsissim.Faults{{Unavailable: true}, {RateLimitRate: 1}} {
		e.sim.SetFaults(f)
		r = e.sale(t, "S2", "REF000000000005", "10.00")
		res, err = e.client.Send(context.Background(), r)
		if err != nil || res.Status != bridge.Failed || res.Code != "retry_later" {
			t.Fatalf("%+v: %+v %v", f, res, err)
		}
		if e.vault.Len() != 0 {
			t.Fatal("card kept for a later try")
		}
	}
	if e.sim.Status("REF000000000005") != "-" {
		t.Fatal("the simulator saw a payment")
	}
}

func TestLostAnswerIsUnknownAndFindReconciles(t *testing.T) {
	e := setup(t, time.Minute)
	done := e.send(e.sale(t, "S1", "REF000000000006", "40.00"))
	vomsissim.Browse(http.DefaultClient, e.waitURL(t, done), true)
	sale := wait(t, done).res
	orig := &bridge.Original{ID: "S1", Reference: "REF000000000006", Amount: money.Amount{Minor: 4000, Currency: "TRY"}, Payment: *sale.Payment}
	refund := bridge.Request{ID: "F1", Op: bridge.OpRefund, Amount: money.Amount{Minor: 1000, Currency: "TRY"}, Reference: "REF000000000007", Original: orig}
	// As the dispatcher does: what Remember stores comes back as
	// ProviderRef on the query.
	refund.Remember = func(_ context.Context, ref string) error { refund.ProviderRef = ref; return nil }

	// Never sent (no baseline stored): the query says so, and a resend is
	// safe.
	if _, err := e.client.Query(context.Background(), refund); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("query of a refund never sent: %v", err)
	}
	// Sent, done, answer lost: settled by the refunded total.
	e.sim.SetFaults(vomsissim.Faults{DropAfterRecord: 1})
	_, err := e.client.Send(context.Background(), refund)
	if bridge.KindOf(err) != bridge.Unknown {
		t.Fatalf("dropped answer: %v, want unknown", err)
	}
	if refund.ProviderRef != "refunded:0.00" {
		t.Fatalf("baseline %q", refund.ProviderRef)
	}
	e.sim.SetFaults(vomsissim.Faults{})
	res, err := e.client.Query(context.Background(), refund)
	if err != nil || res.Status != bridge.Approved || res.Payment.Amount != "10.00" {
		t.Fatalf("query: %+v %v", res, err)
	}
	// A second partial refund whose call never got through: the total did
	// not move from its baseline, so it was not done.
	second := refund
	second.ID, second.Reference, second.ProviderRef = "F2", "REF00000000000A", "refunded:10.00"
	if _, err := e.client.Query(context.Background(), second); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("query of a refund not applied: %v", err)
	}
	if l := e.sim.Ledger(); len(l) != 2 || l[1].Op != "refund" || l[1].Amount != 1000 {
		t.Fatalf("ledger %+v", l)
	}
	// Over-refunding is declined by the bank.
	refund.Amount = money.Amount{Minor: 5000, Currency: "TRY"}
	res, err = e.client.Send(context.Background(), refund)
	if err != nil || res.Status != bridge.Declined || res.Code != "refund_declined" {
		t.Fatalf("over-refund: %+v %v", res, err)
	}
	// A sale Vomsis never saw: only then may the agent resend.
	if _, err := e.client.Query(context.Background(), bridge.Request{Op: bridge.OpSale, Reference: "NEVERSENT000000"}); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("unknown reference: %v", err)
	}
}

func TestVoid(t *testing.T) {
	e := setup(t, time.Minute)
	done := e.send(e.sale(t, "S1", "REF000000000008", "40.00"))
	vomsissim.Browse(http.DefaultClient, e.waitURL(t, done), true)
	sale := wait(t, done).res
	void := bridge.Request{ID: "V1", Op: bridge.OpVoid, Reference: "REF000000000009",
		Original: &bridge.Original{ID: "S1", Reference: "REF000000000008", Amount: money.Amount{Minor: 4000, Currency: "TRY"}, Payment: *sale.Payment}}
	// Before the cancel, find shows a plain sale: the void never happened.
	if _, err := e.client.Query(context.Background(), void); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("query before void: %v", err)
	}
	res, err := e.client.Send(context.Background(), void)
	if err != nil || res.Status != bridge.Approved || res.Payment.Amount != "40.00" || res.Payment.HostReference == "" {
		t.Fatalf("void: %+v %v", res, err)
	}
	if res, err := e.client.Query(context.Background(), void); err != nil || res.Status != bridge.Approved {
		t.Fatalf("query after void: %+v %v", res, err)
	}
	res, err = e.client.Send(context.Background(), void)
	if err != nil || res.Status != bridge.Declined || res.Code != "void_not_allowed" {
		t.Fatalf("second void: %+v %v", res, err)
	}
}

func TestTransportFaults(t *testing.T) {
	e := setup(t, time.Minute)
	ctx := context.Background()
	call := bridge.Call{Op: "installments"}
	// A token refused mid-life: log in again, once.
	if _, err := e.client.Call(ctx, call); err != nil {
		t.Fatal(err)
	}
	e.sim.SetFaults(vomsissim.Faults{ExpireTokens: true})
	if _, err := e.client.Call(ctx, call); err != nil {
		t.Fatalf("after token expiry: %v", err)
	}
	tests := []struct {
		name  string
		f     vomsissim.Faults
		kind  bridge.Kind
		code  string
		after time.Duration
	}{
		{"429", vomsissim.Faults{RateLimitRate: 1}, bridge.NotSent, "rate_limited", time.Second},
		{"503", vomsissim.Faults{Unavailable: true}, bridge.NotSent, "http_503", time.Second},
		{"500", vomsissim.Faults{FailRate5xx: 1}, bridge.Unknown, "http_500", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.sim.SetFaults(tc.f)
			_, err := e.client.Call(ctx, call)
			var be *bridge.Error
			if !errors.As(err, &be) || be.Kind != tc.kind || be.Code != tc.code || be.RetryAfter != tc.after {
				t.Fatalf("got %#v", err)
			}
		})
	}
	e.sim.SetFaults(vomsissim.Faults{Hang: true})
	hctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err := e.client.Call(hctx, call)
	if bridge.KindOf(err) != bridge.Unknown || bridge.CodeOf(err) != "timeout" {
		t.Fatalf("hang: %v", err)
	}
}

// X-RateLimit-Remaining: 0 makes the adapter wait for the window rather
// than spend calls on 429s.
func TestRateLimitHeadersGateCalls(t *testing.T) {
	e := setup(t, time.Minute)
	ctx := context.Background()
	for i := 0; i < vomsissim.RateLimit; i++ {
		if _, err := e.client.Call(ctx, bridge.Call{Op: "installments"}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err := e.client.Call(ctx, bridge.Call{Op: "installments"})
	var be *bridge.Error
	if !errors.As(err, &be) || be.Kind != bridge.NotSent || be.Code != "rate_limited" || be.RetryAfter <= 0 || be.RetryAfter > time.Minute {
		t.Fatalf("call past the limit: %#v", err)
	}
	if !strings.Contains(be.Error(), "window") {
		t.Fatalf("not gated locally: %v", be)
	}
}

func TestCalls(t *testing.T) {
	e := setup(t, time.Minute)
	ctx := context.Background()
	call := func(op, params string) (map[string]any, error) {
		raw, err := e.client.Call(ctx, bridge.Call{Op: op, Params: json.RawMessage(params)})
		if err != nil {
			return nil, err
		}
		var v map[string]any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: reply %s is not an object", op, raw)
		}
		return v, nil
	}
	v, err := call("bin_check", `{"card_number":"5440781213736121","amount":"1.90"}`)
	if err != nil || v["card"].(map[string]any)["card_family"] != "Bonus" || len(v["installments"].([]any)) != 6 {
		t.Fatalf("bin_check: %v %v", v, err)
	}
	v, err = call("installments", ``)
	if err != nil || len(v["families"].([]any)) != 4 {
		t.Fatalf("installments: %v %v", v, err)
	}
	v, err = call("transaction_find", `{"reference":"NEVERSENT000000"}`)
	if err != nil || v["found"] != false {
		t.Fatalf("find: %v %v", v, err)
	}
	v, err = call("transactions_list", `{"status":"refund"}`)
	if err != nil || len(v["transactions"].([]any)) != 0 {
		t.Fatalf("list: %v %v", v, err)
	}
	v, err = call("customer_store", `{"email":"test7@vomsis.com","password":"123123","company_title":"Acar Ltd.","gsm":"+905325556688",
		"invoice_information":{"name":"Adres 1","type":"individual","name_surname":"Kamil Acar"}}`)
	if err != nil {
		t.Fatal(err)
	}
	id := int(v["data"].(map[string]any)["id"].(float64))
	idp := `{"customer_id":` + strconv.Itoa(id)
	if v, err = call("customer_update", idp+`,"phone":"+905325551111"}`); err != nil || v["data"].(map[string]any)["phone"] != "+905325551111" {
		t.Fatalf("update: %v %v", v, err)
	}
	if v, err = call("customers_list", `{}`); err != nil || len(v["customers"].([]any)) != 1 {
		t.Fatalf("list: %v %v", v, err)
	}
	if _, err = call("customer_delete", idp+`}`); err != nil {
		t.Fatal(err)
	}
	var ie *bridge.InputError
	if _, err = call("customer_detail", idp+`}`); !errors.As(err, &ie) {
		t.Fatalf("detail of a deleted customer: %v", err)
	}
	for _, tc := range []struct{ op, params, field string }{
		{"bin_check", `{"card_number":"12ab","amount":"1.00"}`, "params.card_number"},
		{"bin_check", `{"card_number":"544078","amount":"-1"}`, "params.amount"},
		{"bin_check", `{"card_number":"544078","amount":"1","cvc":"1"}`, "params.cvc"},
		{"transaction_find", `{"reference":"short"}`, "params.reference"},
		{"transactions_list", `{"status":"all"}`, "params.status"},
		{"customer_update", `{"email":"x@y"}`, "params.customer_id"},
		{"customer_detail", `{"customer_id":"7"}`, "params.customer_id"},
	} {
		_, err := call(tc.op, tc.params)
		if !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("%s %s: %v, want input error on %s", tc.op, tc.params, err, tc.field)
		}
		if strings.Contains(err.Error(), "544078") {
			t.Errorf("error echoes the card number: %v", err)
		}
	}
	if _, err := call("charge", `{}`); !errors.Is(err, bridge.ErrUnsupported) {
		t.Fatalf("unknown op: %v", err)
	}
}

func TestValidate(t *testing.T) {
	e := setup(t, time.Minute)
	err := e.client.Validate(bridge.Request{Op: bridge.OpEndOfDay})
	if !errors.Is(err, bridge.ErrUnsupported) {
		t.Fatalf("end of day: %v", err)
	}
	err = e.client.Validate(bridge.Request{Op: bridge.OpSale, Amount: money.Amount{Minor: 1, Currency: "TRY"},
		Customer: &bridge.Customer{Type: "individual", Email: strings.Repeat("a", 30) + "@x.com"}})
	var ie *bridge.InputError
	if !errors.As(err, &ie) || ie.Field != "customer.email" {
		t.Fatalf("long email: %v", err)
	}
	if !e.client.NeedsCard(bridge.OpSale) || e.client.NeedsCard(bridge.OpRefund) {
		t.Fatal("NeedsCard")
	}
}
