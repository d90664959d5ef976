package iyzico_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/bridge/iyzico"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
)

// want is what a failure must become: a final result (status + code)
// or an error of a kind (+ code). It is the table of
// docs/providers/iyzico.md, row for row.
type want struct {
	status bridge.Status
	kind   bridge.Kind
	code   string
}

// errorTable is every errorCode and group the reference documents (§5)
// plus the HTTP outcomes, as answered to a sale.
var errorTable = []struct {
	name   string
	inject iyzicosim.InjectedError
	want   want
}{
	{"380103 device timeout", iyzicosim.InjectedError{Code: "380103", Group: "TIMEOUT_ERROR"}, want{kind: bridge.Unknown, code: "device_timeout"}},
	{"100310 invalid token twice", iyzicosim.InjectedError{Code: "100310", Group: "SYSTEM_ERROR", Times: 2}, want{kind: bridge.NotSent, code: "auth_failed"}},
	{"100311 token expired twice", iyzicosim.InjectedError{Code: "100311", Group: "SYSTEM_ERROR", Times: 2}, want{kind: bridge.NotSent, code: "auth_failed"}},
	{"100311 token expired once", iyzicosim.InjectedError{Code: "100311", Group: "SYSTEM_ERROR", Times: 1}, want{status: bridge.Approved}},
	{"380204 session ended twice", iyzicosim.InjectedError{Code: "380204", Group: "DEVICE_ERROR", Times: 2}, want{kind: bridge.NotSent, code: "auth_failed"}},
	{"380102 no access to device", iyzicosim.InjectedError{Code: "380102", Group: "SYSTEM_ERROR"}, want{status: bridge.Failed, code: "device_not_allowed"}},
	{"380201 terminal busy", iyzicosim.InjectedError{Code: "380201", Group: "DEVICE_ERROR"}, want{kind: bridge.NotSent, code: "terminal_busy"}},
	{"380202 device error", iyzicosim.InjectedError{Code: "380202", Group: "DEVICE_ERROR"}, want{kind: bridge.Unknown, code: "provider_error"}},
	{"380203 device error", iyzicosim.InjectedError{Code: "380203", Group: "DEVICE_ERROR"}, want{kind: bridge.Unknown, code: "provider_error"}},
	{"380205 device error", iyzicosim.InjectedError{Code: "380205", Group: "DEVICE_ERROR"}, want{kind: bridge.Unknown, code: "provider_error"}},
	{"380104 validation", iyzicosim.InjectedError{Code: "380104", Group: "VALIDATION_ERROR"}, want{status: bridge.Failed, code: "provider_validation_error"}},
	{"380105 validation", iyzicosim.InjectedError{Code: "380105", Group: "VALIDATION_ERROR"}, want{status: bridge.Failed, code: "provider_validation_error"}},
	{"380111 validation", iyzicosim.InjectedError{Code: "380111", Group: "VALIDATION_ERROR"}, want{status: bridge.Failed, code: "provider_validation_error"}},
	{"380101 device not found", iyzicosim.InjectedError{Code: "380101", Group: "BUSINESS_ERROR"}, want{status: bridge.Failed, code: "device_not_allowed"}},
	{"380107 payment not found", iyzicosim.InjectedError{Code: "380107", Group: "BUSINESS_ERROR"}, want{status: bridge.Failed, code: "payment_not_found"}},
	{"380108 payment not found", iyzicosim.InjectedError{Code: "380108", Group: "BUSINESS_ERROR"}, want{status: bridge.Failed, code: "payment_not_found"}},
	{"380109 payment not found", iyzicosim.InjectedError{Code: "380109", Group: "BUSINESS_ERROR"}, want{status: bridge.Failed, code: "payment_not_found"}},
	{"380112 amount not available", iyzicosim.InjectedError{Code: "380112", Group: "BUSINESS_ERROR"}, want{status: bridge.Failed, code: "insufficient_refundable"}},
	{"other business error", iyzicosim.InjectedError{Code: "380999", Group: "BUSINESS_ERROR"}, want{status: bridge.Failed, code: "provider_business_error"}},
	{"bank error", iyzicosim.InjectedError{Code: "10051", Group: "BANK_ERROR"}, want{status: bridge.Declined, code: "card_declined"}},
	{"payment error", iyzicosim.InjectedError{Code: "10012", Group: "PAYMENT_ERROR"}, want{status: bridge.Failed, code: "payment_error"}},
	{"other system error", iyzicosim.InjectedError{Code: "100001", Group: "SYSTEM_ERROR"}, want{kind: bridge.Unknown, code: "provider_error"}},
	{"unknown group", iyzicosim.InjectedError{Code: "1", Group: "NEW_ERROR"}, want{kind: bridge.Unknown, code: "provider_error"}},
	{"HTTP 401 twice", iyzicosim.InjectedError{Status: 401, Code: "100310", Group: "SYSTEM_ERROR", Times: 2}, want{kind: bridge.NotSent, code: "auth_failed"}},
	{"HTTP 503", iyzicosim.InjectedError{Status: 503, Code: "0", Group: "SYSTEM_ERROR"}, want{kind: bridge.NotSent, code: "http_503"}},
	{"HTTP 502", iyzicosim.InjectedError{Status: 502, Code: "0", Group: "SYSTEM_ERROR"}, want{kind: bridge.Unknown, code: "http_502"}},
}

func check(t *testing.T, res bridge.Result, err error, w want) {
	t.Helper()
	if w.kind != 0 {
		if err == nil || bridge.KindOf(err) != w.kind || bridge.CodeOf(err) != w.code {
			t.Fatalf("got %+v, %v; want %s %s", res, err, w.kind, w.code)
		}
		return
	}
	if err != nil || res.Status != w.status || (w.code != "" && res.Code != w.code) {
		t.Fatalf("got %+v, %v; want %s %s", res, err, w.status, w.code)
	}
}

func TestErrorMapping(t *testing.T) {
	const salePath = "/v2/terminal-host/gmu/payment"
	for _, tc := range errorTable {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.ct.allow(401, 502, 503)
			inj := tc.inject
			e.faults(iyzicosim.Faults{Paths: []string{salePath}, Error: &inj})
			r := bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "10.00"), Reference: ref()}
			res, err := e.c.Send(context.Background(), r)
			check(t, res, err, tc.want)
			if tc.want.status != bridge.Approved && len(e.sim.Ledger()) != 0 {
				t.Errorf("money moved: %+v", e.sim.Ledger())
			}
		})
	}
}

// TestErrorMappingHTTP covers what never gets an iyzico answer.
func TestErrorMappingHTTP(t *testing.T) {
	sale := func(e *env) (bridge.Result, error) {
		return e.c.Send(context.Background(), bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "10.00"), Reference: ref()})
	}
	t.Run("429 honours Retry-After", func(t *testing.T) {
		e := newEnv(t, func(o *iyzicosim.Options, _ *iyzico.Config) { o.RetryAfter = 7 })
		e.ct.allow(429)
		sale(e) // log in first: the fault applies to business calls only
		e.faults(iyzicosim.Faults{RateLimitRate: 1})
		_, err := sale(e)
		if bridge.KindOf(err) != bridge.NotSent || bridge.CodeOf(err) != "rate_limited" || bridge.RetryAfterOf(err) != 7*time.Second {
			t.Errorf("err = %v (retry after %v)", err, bridge.RetryAfterOf(err))
		}
	})
	t.Run("500 before processing is unknown", func(t *testing.T) {
		e := newEnv(t, nil)
		e.ct.allow(500)
		e.faults(iyzicosim.Faults{FailRate5xx: 1})
		_, err := sale(e)
		if bridge.KindOf(err) != bridge.Unknown || bridge.CodeOf(err) != "http_500" {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("connection dropped after the charge is unknown and reconciled", func(t *testing.T) {
		e := newEnv(t, nil)
		e.faults(iyzicosim.Faults{DropAfterRecord: 1})
		r := bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "10.00"), Reference: ref()}
		_, err := e.c.Send(context.Background(), r)
		if bridge.KindOf(err) != bridge.Unknown {
			t.Fatalf("err = %v, want unknown", err)
		}
		e.faults(iyzicosim.Faults{})
		res, err := e.c.Query(context.Background(), r)
		if err != nil || res.Status != bridge.Approved || len(e.sim.Ledger()) != 1 || res.Payment.PaymentID != e.sim.Ledger()[0].PaymentID {
			t.Errorf("query = %+v, %v; ledger %+v", res, err, e.sim.Ledger())
		}
	})
	t.Run("no answer in time is unknown", func(t *testing.T) {
		e := newEnv(t, func(_ *iyzicosim.Options, c *iyzico.Config) {
			c.HTTPClient.Timeout = 300 * time.Millisecond
		})
		sale(e)
		e.faults(iyzicosim.Faults{Hang: true})
		_, err := sale(e)
		if bridge.KindOf(err) != bridge.Unknown || bridge.CodeOf(err) != "timeout" {
			t.Errorf("err = %v, want unknown timeout", err)
		}
	})
	t.Run("nothing listening is not sent", func(t *testing.T) {
		e := newEnv(t, nil)
		c, _ := iyzico.NewClient(iyzico.Config{BaseURL: "http://127.0.0.1:1", ClientID: "a", ClientSecret: "b", Username: "c", Password: "d", HTTPClient: e.cfg.HTTPClient})
		_, err := c.Send(context.Background(), bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "1.00"), Reference: ref()})
		if bridge.KindOf(err) != bridge.NotSent || bridge.CodeOf(err) != "connect_failed" {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("device timeout after the charge is reconciled as approved", func(t *testing.T) {
		e := newEnv(t, nil)
		e.faults(iyzicosim.Faults{Error: &iyzicosim.InjectedError{Code: "380103", Group: "TIMEOUT_ERROR", AfterRecord: true, Times: 1}})
		r := bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "10.00"), Reference: ref()}
		_, err := e.c.Send(context.Background(), r)
		check(t, bridge.Result{}, err, want{kind: bridge.Unknown, code: "device_timeout"})
		res, err := e.c.Query(context.Background(), r)
		check(t, res, err, want{status: bridge.Approved})
	})
}

// TestVoidErrorMapping: a void's business refusals tell the register to
// refund, on both models (VUK 509 answers them with HTTP 422, §3.4).
func TestVoidErrorMapping(t *testing.T) {
	for _, term := range []bridge.Terminal{t507, t509} {
		for _, code := range []string{"380112", "380999"} {
			t.Run(term.Model+" "+code, func(t *testing.T) {
				e := newEnv(t, nil)
				_, orig := e.approved(bridge.Request{Op: bridge.OpSale, Terminal: term, Amount: try(t, "10.00")})
				e.faults(iyzicosim.Faults{Error: &iyzicosim.InjectedError{Code: code, Group: "BUSINESS_ERROR"}})
				res := e.send(bridge.Request{Op: bridge.OpVoid, Terminal: term, Original: &orig})
				if res.Status != bridge.Failed || res.Code != "void_not_allowed" || res.ProviderCode != code {
					t.Errorf("void = %+v", res)
				}
			})
		}
	}
}

// TestQueryMapping: only "not found" lets the agent send again.
func TestQueryMapping(t *testing.T) {
	for _, term := range []bridge.Terminal{t507, t509} {
		t.Run(term.Model, func(t *testing.T) {
			e := newEnv(t, nil)
			ctx := context.Background()
			q := func(ref string) (bridge.Result, error) {
				return e.c.Query(ctx, bridge.Request{Op: bridge.OpSale, Terminal: term, Reference: ref})
			}
			if _, err := q(ref()); !errors.Is(err, bridge.ErrNotFound) {
				t.Errorf("never sent: %v, want ErrNotFound", err)
			}
			declined := bridge.Request{Op: bridge.OpSale, Terminal: term, Amount: try(t, "10.51"), Reference: ref()}
			e.send(declined)
			if res, err := q(declined.Reference); err != nil || res.Status != bridge.Declined {
				t.Errorf("declined sale: %+v, %v", res, err)
			}
			for _, inj := range []iyzicosim.InjectedError{{Code: "380103", Group: "TIMEOUT_ERROR"}, {Code: "380105", Group: "VALIDATION_ERROR"}, {Code: "380201", Group: "DEVICE_ERROR"}} {
				e.faults(iyzicosim.Faults{Error: &inj})
				if _, err := q(declined.Reference); bridge.KindOf(err) != bridge.Unknown || errors.Is(err, bridge.ErrNotFound) {
					t.Errorf("query answered %s: %v, want unknown", inj.Code, err)
				}
			}
		})
	}
}

// TestSimulatorReferences: a reused transactionReferenceId is charged
// again and counted (iyzico documents no deduplication), or replayed
// with ReplayReferences.
func TestSimulatorReferences(t *testing.T) {
	for _, replay := range []bool{false, true} {
		e := newEnv(t, func(o *iyzicosim.Options, _ *iyzico.Config) { o.ReplayReferences = replay })
		r := bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "10.00"), Reference: ref()}
		a, _ := e.approved(r)
		b, _ := e.approved(r)
		charges := len(e.sim.Ledger())
		switch {
		case !replay && (charges != 2 || e.sim.Repeats() != 1):
			t.Errorf("default: %d charges, %d repeats; want 2, 1", charges, e.sim.Repeats())
		case replay && (charges != 1 || a.Payment.PaymentID != b.Payment.PaymentID):
			t.Errorf("replay: %d charges, payments %s %s", charges, a.Payment.PaymentID, b.Payment.PaymentID)
		}
	}
}

// TestSimulatorFaultPaths: faults limited to one path leave the others
// alone.
func TestSimulatorFaultPaths(t *testing.T) {
	e := newEnv(t, nil)
	e.ct.allow(http.StatusInternalServerError)
	e.faults(iyzicosim.Faults{FailRate5xx: 1, Paths: []string{"/v2/terminal-host/gmu/eod"}})
	e.approved(bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "10.00")})
	_, err := e.c.Send(context.Background(), bridge.Request{Op: bridge.OpEndOfDay, Terminal: t507, Reference: ref()})
	if bridge.CodeOf(err) != "http_500" {
		t.Errorf("end of day = %v, want http_500", err)
	}
	if !slices.Contains([]int{1}, e.sim.Hits("/v2/terminal-host/gmu/eod")) {
		t.Errorf("eod hits %d", e.sim.Hits("/v2/terminal-host/gmu/eod"))
	}
}

// TestDeclineWithoutErrorGroup: VUK 507's schemas declare no errorGroup,
// so a bank's decline may come as a bare errorCode. It is a decline in
// both shapes, on the sale and on the query; only the undocumented stays
// unknown.
func TestDeclineWithoutErrorGroup(t *testing.T) {
	for _, omit := range []bool{false, true} {
		name := "with errorGroup"
		if omit {
			name = "without errorGroup"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(o *iyzicosim.Options, _ *iyzico.Config) { o.OmitErrorGroup507 = omit })
			r := bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "10.51"), Reference: ref()}
			res, err := e.c.Send(context.Background(), r)
			check(t, res, err, want{status: bridge.Declined, code: "card_declined"})
			if res.ProviderCode != "10051" {
				t.Errorf("provider code %q", res.ProviderCode)
			}
			res, err = e.c.Query(context.Background(), r)
			check(t, res, err, want{status: bridge.Declined, code: "card_declined"})
			if n := len(e.sim.Ledger()); n != 0 {
				t.Errorf("%d money movements", n)
			}
		})
	}
	for _, tc := range []struct {
		code string
		want want
	}{
		{"10051", want{status: bridge.Declined, code: "card_declined"}},
		{"10005", want{status: bridge.Declined, code: "card_declined"}},
		{"380105", want{status: bridge.Failed, code: "provider_validation_error"}},
		{"380112", want{status: bridge.Failed, code: "insufficient_refundable"}},
		{"380201", want{kind: bridge.NotSent, code: "terminal_busy"}},
		{"380103", want{kind: bridge.Unknown, code: "device_timeout"}},
		{"380202", want{kind: bridge.Unknown, code: "provider_error"}},
		{"999999", want{kind: bridge.Unknown, code: "provider_error"}},
	} {
		t.Run("bare "+tc.code, func(t *testing.T) {
			e := newEnv(t, nil)
			e.faults(iyzicosim.Faults{Paths: []string{"/v2/terminal-host/gmu/payment"}, Error: &iyzicosim.InjectedError{Code: tc.code}})
			res, err := e.c.Send(context.Background(), bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "10.00"), Reference: ref()})
			check(t, res, err, tc.want)
		})
	}
}
