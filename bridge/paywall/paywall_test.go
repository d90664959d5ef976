package paywall_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/bridge/paywall"
	"github.com/tezgah/tezgah/bridge/paywall/paywallsim"
	"github.com/tezgah/tezgah/money"
)

const (
	term1 = "8ff33705-57c7-42dc-8341-a0053e7f3009"
	term2 = "38e895c3-1a9a-4b73-8816-8557d1d031d6"
)

// clock is the simulator's time, moved by the test: the device's pick-up
// and the 5-second rollback rule are tested without sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	sim   *paywallsim.Server
	srv   *httptest.Server
	c     *paywall.Client
	clock *clock
	// rollbacks counts rollback requests the simulator has answered.
	rollbacks atomic.Int64
}

func setup(t *testing.T, opts paywallsim.Options, mod ...func(*paywall.Config)) *env {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	opts.APIKey, opts.APIClient = "key", "client"
	if opts.Terminals == nil {
		opts.Terminals = []string{term1, term2}
	}
	opts.Tags = map[string]string{term2: "kasa-tag"}
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	e := &env{sim: paywallsim.New(opts), clock: clk}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.sim.ServeHTTP(w, r)
		if strings.HasSuffix(r.URL.Path, "/rollback") {
			e.rollbacks.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	cfg := paywall.Config{BaseURL: srv.URL, APIKey: "key", APIClient: "client", PollInterval: 2 * time.Millisecond, SaleWait: 5 * time.Second,
		Timeout: 5 * time.Second, Now: clk.Now}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := paywall.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.c = srv, c
	return e
}

func amount(t *testing.T, s string) money.Amount {
	t.Helper()
	a, err := money.Positive(s, "TRY")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// remembered records what Request.Remember stored.
type remembered struct {
	mu  sync.Mutex
	ids []string
}

func (r *remembered) fn(_ context.Context, id string) error {
	r.mu.Lock()
	r.ids = append(r.ids, id)
	r.mu.Unlock()
	return nil
}

func (r *remembered) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ids) == 0 {
		return ""
	}
	return r.ids[len(r.ids)-1]
}

func sale(ref, amt string, t *testing.T, mode string, rem *remembered) bridge.Request {
	r := bridge.Request{ID: "R-" + ref, Op: bridge.OpSale, Terminal: bridge.Terminal{Name: "kasa-3", Provider: "paywall", DeviceID: term1, Model: mode},
		Amount: amount(t, amt), Reference: ref}
	if rem != nil {
		r.Remember = rem.fn
	}
	return r
}

func TestSale(t *testing.T) {
	for _, mode := range []string{paywall.Async, paywall.Sync} {
		t.Run(mode, func(t *testing.T) {
			e := setup(t, paywallsim.Options{})
			rem := &remembered{}
			r := sale("REF000000000001", "22.00", t, mode, rem)
			r.Items = []bridge.Item{{Name: "Saç Tıraşı", Quantity: "1", Amount: "12.00", VATRate: 10}, {Name: "Şampuan", Quantity: "2.000", Amount: "10.00", VATRate: 20}}
			r.Customer = &bridge.Customer{Type: bridge.Individual, FirstName: "Eda", LastName: "Meda", IdentityNumber: "11111111110"}
			res, err := e.c.Send(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != bridge.Approved || res.Payment == nil || res.Payment.PaymentID == "" || res.Payment.Amount != "22.00" {
				t.Fatalf("result %+v", res)
			}
			if rem.last() != res.Payment.PaymentID {
				t.Errorf("remembered %v, payment id %s", rem.ids, res.Payment.PaymentID)
			}
			l := e.sim.Ledger()
			if len(l) != 1 || l[0].MerchantUniqueCode != paywall.MerchantCode(r.Reference) || l[0].Amount != 2200 {
				t.Errorf("ledger %+v", l)
			}
		})
	}
}

func TestMerchantCodeIsAFixedGUID(t *testing.T) {
	a, b := paywall.MerchantCode("REF000000000001"), paywall.MerchantCode("REF000000000001")
	if a != b || !paywall.IsGUID(a) || a == paywall.MerchantCode("REF000000000002") {
		t.Fatalf("%s %s", a, b)
	}
}

func TestSaleDeclinedOnTheDevice(t *testing.T) {
	e := setup(t, paywallsim.Options{})
	res, err := e.c.Send(context.Background(), sale("REF000000000002", "10.51", t, paywall.Async, nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != bridge.Declined || res.Code != "payment_failed" || !strings.Contains(res.Message, "Failed") && res.Message == "" {
		t.Fatalf("result %+v", res)
	}
	if len(e.sim.Ledger()) != 0 {
		t.Error("a declined sale is in the ledger")
	}
}

func TestTerminalTagCode(t *testing.T) {
	e := setup(t, paywallsim.Options{})
	r := sale("REF000000000003", "5.00", t, paywall.Async, nil)
	r.Terminal.DeviceID = "kasa-tag"
	res, err := e.c.Send(context.Background(), r)
	if err != nil || res.Status != bridge.Approved {
		t.Fatalf("%+v %v", res, err)
	}
	if l := e.sim.Ledger(); len(l) != 1 || l[0].Terminal != term2 {
		t.Errorf("ledger %+v", l)
	}
}

func TestValidate(t *testing.T) {
	e := setup(t, paywallsim.Options{})
	base := func() bridge.Request { return sale("", "10.00", t, paywall.Async, nil) }
	cases := []struct {
		name  string
		mod   func(r *bridge.Request)
		field string // "" = unsupported
	}{
		{"refund", func(r *bridge.Request) { r.Op = bridge.OpRefund }, ""},
		{"end of day", func(r *bridge.Request) { r.Op = bridge.OpEndOfDay }, ""},
		{"vat rate", func(r *bridge.Request) {
			r.Items = []bridge.Item{{Name: "x", Quantity: "1", Amount: "10.00", VATRate: 8}}
		}, "items[0].vat_rate"},
		{"unit", func(r *bridge.Request) {
			r.Items = []bridge.Item{{Name: "x", Quantity: "1", Amount: "10.00", VATRate: 20, Unit: "KGM"}}
		}, "items[0].unit"},
		{"weighed", func(r *bridge.Request) {
			r.Items = []bridge.Item{{Name: "x", Quantity: "0.250", Amount: "10.00", VATRate: 20}}
		}, "items[0].quantity"},
		{"name", func(r *bridge.Request) {
			r.Items = []bridge.Item{{Name: strings.Repeat("x", 76), Quantity: "1", Amount: "10.00", VATRate: 20}}
		}, "items[0].name"},
		{"sum", func(r *bridge.Request) {
			r.Items = []bridge.Item{{Name: "x", Quantity: "1", Amount: "9.00", VATRate: 20}}
		}, "items"},
		{"corporate", func(r *bridge.Request) { r.Customer = &bridge.Customer{Type: bridge.Corporate, CompanyName: "A"} }, "customer.type"},
		{"identity", func(r *bridge.Request) {
			r.Customer = &bridge.Customer{Type: bridge.Individual, IdentityNumber: strings.Repeat("1", 21)}
		}, "customer.identity_number"},
		{"currency", func(r *bridge.Request) { r.Amount = money.Amount{Minor: 1000, Currency: "USD"} }, "currency"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.mod(&r)
			err := e.c.Validate(r)
			var ie *bridge.InputError
			switch {
			case tc.field == "" && !errors.Is(err, bridge.ErrUnsupported):
				t.Fatalf("want unsupported, got %v", err)
			case tc.field == "" && !strings.Contains(err.Error(), "panel"):
				t.Errorf("message does not say what to do instead: %v", err)
			case tc.field != "" && (!errors.As(err, &ie) || ie.Field != tc.field):
				t.Fatalf("want field %s, got %v", tc.field, err)
			}
		})
	}
	if err := e.c.Validate(base()); err != nil {
		t.Fatal(err)
	}
	v := base()
	v.Op = bridge.OpVoid
	if err := e.c.Validate(v); err != nil {
		t.Fatal(err)
	}
}

func TestConfiguredCodes(t *testing.T) {
	e := setup(t, paywallsim.Options{}, func(c *paywall.Config) {
		c.UnitCodeIDs = map[string]int{"KGM": 2}
		c.CustomerTypeIDs = map[string]int{bridge.Individual: 1, bridge.Corporate: 2}
		c.ReceiptTop, c.ReceiptBottom = "Tezgah Kuaför", "Yine bekleriz"
		c.MethodIDs = []int{1, 2}
	})
	r := sale("REF000000000004", "10.00", t, paywall.Sync, nil)
	r.Items = []bridge.Item{{Name: "x", Quantity: "1", Amount: "10.00", VATRate: 1, Unit: "KGM"}}
	r.Customer = &bridge.Customer{Type: bridge.Corporate, CompanyName: "Tezgah A.Ş.", TaxOffice: "Kadıköy", TaxNumber: "1234567890"}
	res, err := e.c.Send(context.Background(), r)
	if err != nil || res.Status != bridge.Approved {
		t.Fatalf("%+v %v", res, err)
	}
}

// A lost answer before the PaymentRequestId arrived is found in the
// day's payment list by MerchantUniqueCode, and the id is stored then.
func TestLostAnswerReconciledByList(t *testing.T) {
	e := setup(t, paywallsim.Options{})
	e.sim.SetFaults(paywallsim.Faults{DropAfterRecord: 1})
	rem := &remembered{}
	r := sale("REF000000000005", "30.00", t, paywall.Async, rem)
	_, err := e.c.Send(context.Background(), r)
	if bridge.KindOf(err) != bridge.Unknown {
		t.Fatalf("want unknown, got %v", err)
	}
	if rem.last() != "" {
		t.Fatal("remembered an id from a lost answer")
	}
	e.sim.SetFaults(paywallsim.Faults{})
	res, err := e.c.Query(context.Background(), r)
	if err != nil || res.Status != bridge.Approved {
		t.Fatalf("%+v %v", res, err)
	}
	if rem.last() != res.Payment.PaymentID {
		t.Errorf("remembered %v", rem.ids)
	}
	if n := len(e.sim.Ledger()); n != 1 {
		t.Errorf("%d charges", n)
	}
	// A sale Paywall never saw is positively not found.
	if _, err := e.c.Query(context.Background(), sale("REF000000000006", "1.00", t, paywall.Async, nil)); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("want not found, got %v", err)
	}
}

// "MerchantUniqueCode already exists" is looked up, not failed.
func TestDuplicateCodeIsLookedUp(t *testing.T) {
	e := setup(t, paywallsim.Options{})
	r := sale("REF000000000007", "40.00", t, paywall.Async, nil)
	first, err := e.c.Send(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.c.Send(context.Background(), r)
	if err != nil || again.Status != bridge.Approved || again.Payment.PaymentID != first.Payment.PaymentID {
		t.Fatalf("%+v %v", again, err)
	}
	if n := len(e.sim.Ledger()); n != 1 {
		t.Errorf("%d charges", n)
	}
}

func TestQueryPendingIsUnknown(t *testing.T) {
	e := setup(t, paywallsim.Options{PickupDelay: time.Hour})
	rem := &remembered{}
	r := sale("REF000000000008", "8.00", t, paywall.Async, rem)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := e.c.Send(ctx, r); done <- err }()
	waitFor(t, func() bool { return rem.last() != "" })
	cancel()
	if err := <-done; bridge.KindOf(err) != bridge.Unknown || bridge.CodeOf(err) != "pending" {
		t.Fatalf("send: %v", err)
	}
	r.ProviderRef = rem.last()
	if _, err := e.c.Query(context.Background(), r); bridge.CodeOf(err) != "pending" {
		t.Fatalf("query: %v", err)
	}
	// A busy terminal refuses another sale: not sent, try later.
	_, err := e.c.Send(context.Background(), sale("REF000000000009", "8.00", t, paywall.Async, nil))
	if bridge.KindOf(err) != bridge.NotSent || bridge.CodeOf(err) != "terminal_busy" {
		t.Fatalf("second sale: %v", err)
	}
	e.clock.Add(2 * time.Hour)
	if res, err := e.c.Query(context.Background(), r); err != nil || res.Status != bridge.Approved {
		t.Fatalf("%+v %v", res, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond) // polling a condition, not waiting for time
	}
}

func TestVoid(t *testing.T) {
	e := setup(t, paywallsim.Options{})
	s, err := e.c.Send(context.Background(), sale("REF000000000010", "50.00", t, paywall.Async, nil))
	if err != nil || s.Status != bridge.Approved {
		t.Fatal(s, err)
	}
	v := bridge.Request{ID: "V1", Op: bridge.OpVoid, Terminal: bridge.Terminal{Name: "kasa-3", DeviceID: term1, Model: paywall.Async}, Reference: "REF000000000011",
		Original: &bridge.Original{ID: "R-REF000000000010", Reference: "REF000000000010", Payment: *s.Payment}}
	if _, err := e.c.Query(context.Background(), v); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("query before void: %v", err)
	}
	res, err := e.c.Send(context.Background(), v)
	if err != nil || res.Status != bridge.Approved {
		t.Fatalf("%+v %v", res, err)
	}
	if res, err := e.c.Query(context.Background(), v); err != nil || res.Status != bridge.Approved {
		t.Fatalf("query after void: %+v %v", res, err)
	}
	// The sale still reads approved: it happened, and was voided since.
	if res, err := e.c.Query(context.Background(), sale("REF000000000010", "50.00", t, paywall.Async, nil)); err != nil || res.Status != bridge.Approved {
		t.Fatalf("sale after void: %+v %v", res, err)
	}
	l := e.sim.Ledger()
	if len(l) != 2 || l[1].Op != "void" {
		t.Errorf("ledger %+v", l)
	}
	// A second void is refused for good.
	res, err = e.c.Send(context.Background(), v)
	if err != nil || res.Status != bridge.Failed || res.Code != "void_not_allowed" {
		t.Fatalf("second void: %+v %v", res, err)
	}
}

// The rollback rules: not in the first 5 s, not after the device picked
// the command up; and async terminals have none.
func TestWithdraw(t *testing.T) {
	e := setup(t, paywallsim.Options{PickupDelay: 10 * time.Second})
	rem := &remembered{}
	r := sale("REF000000000012", "12.00", t, paywall.Sync, rem)
	done := make(chan bridge.Result, 1)
	go func() {
		res, err := e.c.Send(context.Background(), r)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	waitFor(t, func() bool { return rem.last() != "" })
	r.ProviderRef = rem.last()
	// Too early: the simulator's clock stands still at the sale's first
	// second, so every try is refused and Withdraw keeps trying. (One
	// Withdraw throughout: a second one after cancelling the first could
	// race the first's last request, which may still land.)
	withdrawn := make(chan error, 1)
	go func() { withdrawn <- e.c.Withdraw(context.Background(), r) }()
	waitFor(t, func() bool { return e.rollbacks.Load() >= 3 })
	select {
	case err := <-withdrawn:
		t.Fatalf("withdrawn within the first 5 s: %v", err)
	default:
	}
	e.clock.Add(6 * time.Second)
	if err := <-withdrawn; err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.Status == bridge.Approved {
		t.Fatalf("withdrawn sale approved: %+v", res)
	}
	if n := len(e.sim.Ledger()); n != 0 {
		t.Errorf("%d charges", n)
	}

	// Picked up: too late.
	rem2 := &remembered{}
	r2 := sale("REF000000000013", "12.00", t, paywall.Sync, rem2)
	go func() { res, _ := e.c.Send(context.Background(), r2); done <- res }()
	waitFor(t, func() bool { return rem2.last() != "" })
	r2.ProviderRef = rem2.last()
	e.clock.Add(11 * time.Second)
	if err := e.c.Withdraw(context.Background(), r2); err == nil {
		t.Fatal("withdrew a sale the device has")
	}
	if res := <-done; res.Status != bridge.Approved {
		t.Fatalf("%+v", res)
	}

	r2.Terminal.Model = paywall.Async
	if err := e.c.Withdraw(context.Background(), r2); !errors.Is(err, bridge.ErrUnsupported) {
		t.Fatalf("async withdraw: %v", err)
	}
}

func TestFaults(t *testing.T) {
	cases := []struct {
		name   string
		faults paywallsim.Faults
		key    string
		kind   bridge.Kind
		code   string
	}{
		{"rate limited", paywallsim.Faults{RateLimitRate: 1}, "key", bridge.NotSent, "rate_limited"},
		{"500", paywallsim.Faults{FailRate5xx: 1}, "key", bridge.Unknown, "http_500"},
		{"dropped", paywallsim.Faults{DropAfterRecord: 1}, "key", bridge.Unknown, "connection_lost"},
		{"bad keys", paywallsim.Faults{}, "wrong", bridge.NotSent, "auth_failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, paywallsim.Options{}, func(c *paywall.Config) { c.APIKey = tc.key })
			e.sim.SetFaults(tc.faults)
			_, err := e.c.Send(context.Background(), sale("REF000000000014", "1.00", t, paywall.Async, nil))
			if bridge.KindOf(err) != tc.kind || bridge.CodeOf(err) != tc.code {
				t.Fatalf("got %v (%s %s)", err, bridge.KindOf(err), bridge.CodeOf(err))
			}
			if tc.code == "rate_limited" && bridge.RetryAfterOf(err) != time.Second {
				t.Errorf("retry after %v", bridge.RetryAfterOf(err))
			}
		})
	}
	t.Run("hang", func(t *testing.T) {
		e := setup(t, paywallsim.Options{})
		e.sim.SetFaults(paywallsim.Faults{Hang: true})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := e.c.Send(ctx, sale("REF000000000015", "1.00", t, paywall.Async, nil))
		if bridge.KindOf(err) != bridge.Unknown {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("connect refused", func(t *testing.T) {
		e := setup(t, paywallsim.Options{})
		e.srv.Close()
		_, err := e.c.Send(context.Background(), sale("REF000000000016", "1.00", t, paywall.Async, nil))
		if bridge.KindOf(err) != bridge.NotSent {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("refused sale is final", func(t *testing.T) {
		e := setup(t, paywallsim.Options{}, func(c *paywall.Config) { c.CurrencyIDs = map[string]int{"TRY": 7} })
		res, err := e.c.Send(context.Background(), sale("REF000000000017", "1.00", t, paywall.Async, nil))
		if err != nil || res.Status != bridge.Failed || res.Code != "invalid_currency" || !strings.Contains(res.ProviderCode, "UnexpectedCurrency") {
			t.Fatalf("%+v %v", res, err)
		}
	})
}

func call(t *testing.T, c *paywall.Client, op, params string) (map[string]any, error) {
	t.Helper()
	raw, err := c.Call(context.Background(), bridge.Call{ID: "c1", Op: op, Terminal: bridge.Terminal{Name: "kasa-3", DeviceID: term1}, Params: json.RawMessage(params)})
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out, nil
}

func TestCalls(t *testing.T) {
	e := setup(t, paywallsim.Options{})
	out, err := call(t, e.c, "terminals", "")
	if err != nil || len(out["terminals"].([]any)) != 2 || out["connected"] != true {
		t.Fatalf("%v %v", out, err)
	}
	e.sim.SetFaults(paywallsim.Faults{Disconnected: []string{term1}})
	if out, err := call(t, e.c, "connectivity", ""); err != nil || out["connected"] != false {
		t.Fatalf("%v %v", out, err)
	}
	e.sim.SetFaults(paywallsim.Faults{})
	s, err := e.c.Send(context.Background(), sale("REF000000000018", "22.00", t, paywall.Async, nil))
	if err != nil {
		t.Fatal(err)
	}
	out, err = call(t, e.c, "payment", `{"payment_id":"`+s.Payment.PaymentID+`"}`)
	if err != nil || len(out["activities"].([]any)) != 1 || len(out["products"].([]any)) != 1 {
		t.Fatalf("%v %v", out, err)
	}
	out, err = call(t, e.c, "payments", `{"date":"2026-11-24"}`)
	if err != nil || len(out["Items"].([]any)) != 1 {
		t.Fatalf("%v %v", out, err)
	}
	var ie *bridge.InputError
	for _, tc := range []struct{ op, params, field string }{
		{"payment", `{}`, "params.payment_id"},
		{"payment", `{"payment_id":"00000000-0000-4000-8000-000000000000"}`, "params.payment_id"},
		{"payments", `{"date":"24.11.2026"}`, "params.start_date"},
		{"payments", `{"page":-1}`, "params.page"},
		{"payments", `[]`, "params"},
	} {
		if _, err := call(t, e.c, tc.op, tc.params); !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("%s %s: %v", tc.op, tc.params, err)
		}
	}
	if _, err := call(t, e.c, "refund", ""); !errors.Is(err, bridge.ErrUnsupported) {
		t.Errorf("unknown op: %v", err)
	}
	e.sim.SetFaults(paywallsim.Faults{FailRate5xx: 1})
	var be *bridge.Error
	if _, err := call(t, e.c, "terminals", ""); !errors.As(err, &be) {
		t.Errorf("provider down: %v", err)
	}
}

// Both casings of the docs decode into the same envelope (§0).
func TestEnvelopeCasing(t *testing.T) {
	for _, raw := range []string{
		`{"Result":{"PaymentRequestId":"a","PaymentStatus":4},"Failed":false,"Message":null,"ClientMessage":null,"Succeeded":true}`,
		`{"result":{"paymentRequestId":"a","paymentStatus":4},"failed":false,"message":null,"clientMessage":null,"succeeded":true}`,
		`{"RESULT":{"PAYMENTREQUESTID":"a","paymentstatus":4},"ErrorCode":0,"succeeded":true}`,
	} {
		env, err := paywall.DecodeEnvelope([]byte(raw))
		if err != nil || !env.OK() {
			t.Fatalf("%s: %+v %v", raw, env, err)
		}
		var r paywall.CommandResult
		if err := json.Unmarshal(env.Result, &r); err != nil || r.PaymentRequestID != "a" || r.PaymentStatus != 4 {
			t.Fatalf("%s: %+v %v", raw, r, err)
		}
	}
	for _, raw := range []string{
		`{"succeeded":true,"failed":true}`,
		`{"Succeeded":true,"ErrorCode":119}`,
		`{"failed":true,"errorCode":119,"clientMessage":"MerchantUniqueCodeAlreadyExist"}`,
	} {
		env, err := paywall.DecodeEnvelope([]byte(raw))
		if err != nil || env.OK() {
			t.Fatalf("%s: %+v %v", raw, env, err)
		}
	}
	if _, err := paywall.DecodeEnvelope([]byte(`<html>bad gateway</html>`)); err == nil {
		t.Fatal("html taken for an answer")
	}
}

// A proxy's page or garbage after the sale went out is unknown, never final.
func TestUnreadableAnswerIsUnknown(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>oops</html>")) }))
	t.Cleanup(srv.Close)
	c, err := paywall.NewClient(paywall.Config{BaseURL: srv.URL, APIKey: "k", APIClient: "c"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), sale("REF000000000019", "1.00", t, paywall.Async, nil))
	if bridge.KindOf(err) != bridge.Unknown || bridge.CodeOf(err) != "bad_response" {
		t.Fatalf("got %v", err)
	}
}

// TestDeadlineRollsBack: a sync sale whose deadline passes while the
// device has not picked it up (a 6 s pick-up delay against a 2 s
// deadline) is taken back and ends expired, uncharged; refused in the
// rollback's first 5 seconds, the adapter asks again; once the device has
// it, the sale is followed to its real outcome.
func TestDeadlineRollsBack(t *testing.T) {
	t.Run("withdrawn", func(t *testing.T) {
		e := setup(t, paywallsim.Options{PickupDelay: 6 * time.Second})
		rem := &remembered{}
		r := sale("REF000000000031", "31.00", t, paywall.Sync, rem)
		r.Deadline = e.clock.Now().Add(2 * time.Second)
		done := make(chan bridge.Result, 1)
		go func() {
			res, err := e.c.Send(context.Background(), r)
			if err != nil {
				t.Error(err)
			}
			done <- res
		}()
		waitFor(t, func() bool { return rem.last() != "" })
		if e.rollbacks.Load() != 0 {
			t.Fatal("rolled back before the deadline")
		}
		e.clock.Add(3 * time.Second) // past the deadline, inside the 5-second rule
		n := e.rollbacks.Load()
		waitFor(t, func() bool { return e.rollbacks.Load() >= n+2 })
		select {
		case res := <-done:
			t.Fatalf("ended inside the 5-second rule: %+v", res)
		default:
		}
		e.clock.Add(2500 * time.Millisecond) // 5.5 s: past the rule, before pick-up
		res := <-done
		if res.Status != bridge.Expired || res.Code != "deadline_passed" || res.Payment == nil || res.Payment.PaymentID != rem.last() {
			t.Fatalf("result %+v", res)
		}
		e.clock.Add(time.Hour)
		if l := e.sim.Ledger(); len(l) != 0 {
			t.Fatalf("charged after the deadline: %+v", l)
		}
		// Asked again (a lost answer), the sale still reads as not charged.
		r.ProviderRef = rem.last()
		if res, err := e.c.Query(context.Background(), r); err != nil || res.Status == bridge.Approved {
			t.Fatalf("query %+v %v", res, err)
		}
	})
	t.Run("picked up first", func(t *testing.T) {
		e := setup(t, paywallsim.Options{PickupDelay: 6 * time.Second})
		e.sim.SetFaults(paywallsim.Faults{CardTime: 10 * time.Second})
		rem := &remembered{}
		r := sale("REF000000000032", "32.00", t, paywall.Sync, rem)
		r.Deadline = e.clock.Now().Add(2 * time.Second)
		done := make(chan bridge.Result, 1)
		go func() { res, _ := e.c.Send(context.Background(), r); done <- res }()
		waitFor(t, func() bool { return rem.last() != "" })
		e.clock.Add(7 * time.Second) // the device has it, the customer is at the card
		waitFor(t, func() bool { return e.rollbacks.Load() >= 1 })
		n := e.rollbacks.Load()
		e.clock.Add(10 * time.Second)
		if res := <-done; res.Status != bridge.Approved {
			t.Fatalf("result %+v", res)
		}
		if e.rollbacks.Load() != n {
			t.Errorf("kept rolling back a sale the device had")
		}
		if l := e.sim.Ledger(); len(l) != 1 {
			t.Fatalf("ledger %+v", l)
		}
	})
	t.Run("query after the deadline", func(t *testing.T) {
		e := setup(t, paywallsim.Options{PickupDelay: 6 * time.Second})
		rem := &remembered{}
		r := sale("REF000000000033", "33.00", t, paywall.Sync, rem)
		r.Deadline = e.clock.Now().Add(2 * time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		sent := make(chan error, 1)
		go func() { _, err := e.c.Send(ctx, r); sent <- err }()
		waitFor(t, func() bool { return rem.last() != "" })
		cancel() // the agent lost the call: it reconciles by query
		if err := <-sent; bridge.KindOf(err) != bridge.Unknown {
			t.Fatalf("send: %v", err)
		}
		r.ProviderRef = rem.last()
		e.clock.Add(5500 * time.Millisecond)
		res, err := e.c.Query(context.Background(), r)
		if err != nil || res.Status != bridge.Expired {
			t.Fatalf("query %+v %v", res, err)
		}
		e.clock.Add(time.Hour)
		if l := e.sim.Ledger(); len(l) != 0 {
			t.Fatalf("ledger %+v", l)
		}
	})
}
