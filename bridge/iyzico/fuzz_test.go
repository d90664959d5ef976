package iyzico

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/money"
)

// FuzzReadAnswer: any answer iyzico could send is either a reauth, a
// success decoded into the right type, an *apiError, or an Unknown
// bridge.Error — never a panic, never a success for a failure status.
func FuzzReadAnswer(f *testing.F) {
	f.Add(200, []byte(`{"status":"success","errorCode":"0","paymentId":"29811001","price":"10.00","paymentDate":20261124}`))
	f.Add(400, []byte(`{"status":"failure","errorCode":"380103","errorGroup":"TIMEOUT_ERROR","errorMessage":"Timeout"}`))
	f.Add(400, []byte(`{"status":"failure","errorCode":"100311","errorGroup":"SYSTEM_ERROR"}`))
	f.Add(401, []byte(``))
	f.Add(200, []byte(`{"status":"SUCCESS","paymentDate":"20261124"}`))
	f.Add(200, []byte(`{"status":"success","paymentDate":"x"}`))
	f.Add(200, []byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, status int, raw []byte) {
		var out GmuPaymentResponse
		reauth, err := readAnswer("/p", status, raw, &out)
		if reauth {
			if err != nil {
				t.Fatal("reauth with an error")
			}
			return
		}
		var env Envelope
		jerr := json.Unmarshal(raw, &env)
		var ae *apiError
		switch {
		case err == nil:
			if jerr != nil || !equalFold(env.Status, "success") {
				t.Fatalf("success for %q", raw)
			}
		case errors.As(err, &ae):
			if equalFold(env.Status, "success") {
				t.Fatalf("failure for a success status: %q", raw)
			}
		default:
			if bridge.KindOf(err) != bridge.Unknown {
				t.Fatalf("unreadable answer classified %v", bridge.KindOf(err))
			}
		}
	})
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// FuzzRefundLines: whatever refundable-sale-info says, a refund's lines
// add up to the refund exactly and never take more from a line than it
// has left.
func FuzzRefundLines(f *testing.F) {
	f.Add([]byte(`{"status":"success","saleItems":[{"id":1,"name":"Çay","returnableAmount":"30.00"},{"id":2,"name":"Simit","returnableAmount":"12.50"}]}`), int64(3500), "")
	f.Add([]byte(`{"status":"success","saleItems":[{"id":1,"name":"Çay","returnableAmount":"30.00"}]}`), int64(1500), "çay")
	f.Add([]byte(`{"status":"success","saleItems":[{"id":1,"name":"a","returnableAmount":"-1"},{"id":1,"name":"a","returnableAmount":"5"}]}`), int64(100), "a")
	f.Fuzz(func(t *testing.T, raw []byte, minor int64, itemName string) {
		if minor <= 0 || minor > 1e12 {
			return
		}
		var info GmuRefundableSaleInfoResponse
		if json.Unmarshal(raw, &info) != nil {
			return
		}
		c, _ := NewClient(Config{BaseURL: "http://x", ClientID: "a", ClientSecret: "b", Username: "c", Password: "d"})
		amt := money.Amount{Minor: minor, Currency: "TRY"}
		r := bridge.Request{Op: bridge.OpRefund, Amount: amt}
		if itemName != "" {
			r.Items = []bridge.Item{{Name: itemName, Quantity: "1", Amount: amt.String(), VATRate: 20}}
		}
		lines, refused := c.refundLines(r, info)
		if refused != nil {
			return
		}
		left := map[string]int64{}
		for _, it := range info.SaleItems {
			if a, err := money.Parse(it.ReturnableAmount, "TRY"); err == nil {
				left[itoa(it.ID)] = a.Minor // the last line with an id wins, as in refundLines
			}
		}
		var sum int64
		for _, l := range lines {
			a, err := money.Positive(l.ReturnAmount, "TRY")
			if err != nil {
				t.Fatalf("line amount %q: %v", l.ReturnAmount, err)
			}
			left[l.RelatedSaleItemID] -= a.Minor
			if left[l.RelatedSaleItemID] < 0 {
				t.Fatalf("line %s over-refunded: %+v from %s", l.RelatedSaleItemID, lines, raw)
			}
			sum += a.Minor
		}
		if sum != minor {
			t.Fatalf("lines add up to %d, refund is %d", sum, minor)
		}
	})
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
