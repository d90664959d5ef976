package vomsis_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/bridge/vomsis"
	"github.com/tezgah/tezgah/bridge/vomsis/vomsissim"
)

func late(window, poll time.Duration) func(*vomsis.Config) {
	return func(c *vomsis.Config) { c.LateWindow, c.LatePoll = window, poll }
}

func ledgerOps(e *env) []string {
	var ops []string
	for _, l := range e.sim.Ledger() {
		ops = append(ops, l.Op)
	}
	return ops
}

// autoVoid reads payment.detail.auto_void of a result.
func autoVoid(t *testing.T, res bridge.Result) map[string]any {
	t.Helper()
	if res.Payment == nil {
		t.Fatalf("no payment in %+v", res)
	}
	var d map[string]any
	if err := json.Unmarshal(res.Payment.Detail, &d); err != nil {
		t.Fatal(err)
	}
	av, _ := d["auto_void"].(map[string]any)
	return av
}

// pageStatus is what the payer's browser gets for the 3-D page now.
func pageStatus(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCancelWhileOn3DSPage: the register's cancel of a sale waiting on
// its 3-D page is taken: the page stops serving the bank form, and the
// sale ends cancelled. If the bank still approves afterwards — the payer
// was already on the bank's page — the payment is voided at once and the
// result says so; the register is never told cancelled or failed while
// the money stays taken.
func TestCancelWhileOn3DSPage(t *testing.T) {
	ctx := context.Background()
	t.Run("page never opened", func(t *testing.T) {
		e := setup(t, time.Minute, late(time.Minute, time.Minute))
		r := e.sale(t, "C1", "REF000000000C01", "20.00")
		done := e.send(r)
		e.waitURL(t, done)
		if err := e.client.Withdraw(ctx, r); err != nil {
			t.Fatal(err)
		}
		o := wait(t, done)
		if o.err != nil || o.res.Status != bridge.Cancelled || o.res.Code != "cancelled_by_register" || o.res.Payment != nil {
			t.Fatalf("%+v %v", o.res, o.err)
		}
		if len(e.sim.Ledger()) != 0 || e.pages.Open() != 0 {
			t.Errorf("ledger %v, %d pages open", ledgerOps(e), e.pages.Open())
		}
		if err := e.client.Withdraw(ctx, r); err == nil {
			t.Error("a finished sale was withdrawn again")
		}
	})
	t.Run("post-back after cancel", func(t *testing.T) {
		e := setup(t, time.Minute, late(time.Minute, time.Minute))
		r := e.sale(t, "C2", "REF000000000C02", "20.00")
		done := e.send(r)
		page := e.waitURL(t, done)
		payer, err := vomsissim.Open(http.DefaultClient, page) // the payer is at the bank
		if err != nil {
			t.Fatal(err)
		}
		if err := e.client.Withdraw(ctx, r); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return pageStatus(t, page) == http.StatusGone })
		if err := payer.Decide(true); err != nil { // the bank approves after the cancel
			t.Fatal(err)
		}
		if status, err := payer.PostBack(); err != nil || status != http.StatusOK {
			t.Fatalf("post-back: %d %v", status, err)
		}
		o := wait(t, done)
		if o.err != nil || o.res.Status != bridge.Cancelled {
			t.Fatalf("%+v %v", o.res, o.err)
		}
		if av := autoVoid(t, o.res); av["type"] != "cancel" || av["islem_id"] == "" {
			t.Errorf("auto_void %v", av)
		}
		if ops := ledgerOps(e); len(ops) != 2 || ops[0] != "sale" || ops[1] != "cancel" || e.sim.Status(r.Reference) != vomsis.StatusCancelled {
			t.Errorf("ledger %v, status %q", ops, e.sim.Status(r.Reference))
		}
	})
	t.Run("approved at the bank with no post-back", func(t *testing.T) {
		e := setup(t, time.Minute, late(time.Minute, 20*time.Millisecond))
		r := e.sale(t, "C3", "REF000000000C03", "20.00")
		done := e.send(r)
		payer, err := vomsissim.Open(http.DefaultClient, e.waitURL(t, done))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.client.Withdraw(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := payer.Decide(true); err != nil { // and the window is closed: find finds it
			t.Fatal(err)
		}
		o := wait(t, done)
		if o.err != nil || o.res.Status != bridge.Cancelled || autoVoid(t, o.res)["type"] != "cancel" {
			t.Fatalf("%+v %v", o.res, o.err)
		}
		if ops := ledgerOps(e); len(ops) != 2 {
			t.Errorf("ledger %v", ops)
		}
	})
	t.Run("declined at the bank after cancel", func(t *testing.T) {
		e := setup(t, time.Minute, late(time.Minute, time.Minute))
		r := e.sale(t, "C4", "REF000000000C04", "20.00")
		done := e.send(r)
		payer, err := vomsissim.Open(http.DefaultClient, e.waitURL(t, done))
		if err != nil {
			t.Fatal(err)
		}
		e.client.Withdraw(ctx, r)
		payer.Decide(false)
		payer.PostBack()
		if o := wait(t, done); o.err != nil || o.res.Status != bridge.Declined {
			t.Fatalf("%+v %v", o.res, o.err)
		}
		if len(e.sim.Ledger()) != 0 {
			t.Errorf("ledger %v", ledgerOps(e))
		}
	})
	t.Run("nothing within the late window", func(t *testing.T) {
		e := setup(t, time.Minute, late(200*time.Millisecond, 50*time.Millisecond))
		r := e.sale(t, "C5", "REF000000000C05", "20.00")
		done := e.send(r)
		if _, err := vomsissim.Open(http.DefaultClient, e.waitURL(t, done)); err != nil {
			t.Fatal(err)
		}
		e.client.Withdraw(ctx, r)
		if o := wait(t, done); o.err != nil || o.res.Status != bridge.Cancelled || o.res.Payment != nil {
			t.Fatalf("%+v %v", o.res, o.err)
		}
	})
}

// TestPostBackAfterTimeout: a payer who completes the bank's page after
// the 3-D timeout is not left charged for a sale the register was told
// failed: the late approval is voided and the result says so.
func TestPostBackAfterTimeout(t *testing.T) {
	e := setup(t, 200*time.Millisecond, late(time.Minute, time.Minute))
	r := e.sale(t, "T1", "REF000000000T01", "30.00")
	done := e.send(r)
	page := e.waitURL(t, done)
	payer, err := vomsissim.Open(http.DefaultClient, page)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return pageStatus(t, page) == http.StatusGone }) // timed out
	if err := payer.Decide(true); err != nil {
		t.Fatal(err)
	}
	if status, err := payer.PostBack(); err != nil || status != http.StatusOK {
		t.Fatalf("post-back: %d %v", status, err)
	}
	o := wait(t, done)
	if o.err != nil || o.res.Status != bridge.Failed || o.res.Code != "3ds_expired" || autoVoid(t, o.res)["type"] != "cancel" {
		t.Fatalf("%+v %v", o.res, o.err)
	}
	if ops := ledgerOps(e); len(ops) != 2 || ops[1] != "cancel" {
		t.Errorf("ledger %v", ops)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not waiting for time
	}
}

// TestLateApprovalRefundedOrReported: when Vomsis refuses the automatic
// cancel, the late approval is refunded in full instead; when it refuses
// that too, the result is approved — the money is taken, and the register
// must be told so — with the reason in auto_void.error.
func TestLateApprovalRefundedOrReported(t *testing.T) {
	for _, tc := range []struct {
		name    string
		decline []string
		status  bridge.Status
		ops     string
	}{
		{"cancel refused", []string{"cancel"}, bridge.Cancelled, "sale,refund"},
		{"cancel and refund refused", []string{"cancel", "refund"}, bridge.Approved, "sale"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, time.Minute, late(time.Minute, 10*time.Millisecond))
			e.sim.SetFaults(vomsissim.Faults{Decline: tc.decline})
			r := e.sale(t, "L1", "REF000000000L01", "40.00")
			done := e.send(r)
			payer, err := vomsissim.Open(http.DefaultClient, e.waitURL(t, done))
			if err != nil {
				t.Fatal(err)
			}
			if err := e.client.Withdraw(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			payer.Decide(true)
			payer.PostBack()
			o := wait(t, done)
			if o.err != nil || o.res.Status != tc.status {
				t.Fatalf("%+v %v", o.res, o.err)
			}
			av := autoVoid(t, o.res)
			switch tc.status {
			case bridge.Cancelled:
				if av["type"] != "refund" {
					t.Errorf("auto_void %v", av)
				}
			case bridge.Approved:
				if av["error"] == nil || o.res.Code != "auto_void_failed" {
					t.Errorf("auto_void %v, code %q", av, o.res.Code)
				}
			}
			if got := strings.Join(ledgerOps(e), ","); got != tc.ops {
				t.Errorf("ledger %s, want %s", got, tc.ops)
			}
		})
	}
}
