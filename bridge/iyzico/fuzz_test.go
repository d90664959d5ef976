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
// add up to the refund exactly, never take more from a line than it has
// left, and carry the tax group and unit their sold line had.
func FuzzRefundLines(f *testing.F) {
	f.Add([]byte(`{"status":"success","saleItems":[{"id":1,"name":"Çay","returnableAmount":"30.00"},{"id":2,"name":"Simit","returnableAmount":"12.50"}]}`), int64(4250), "")
	f.Add([]byte(`{"status":"success","saleItems":[{"id":1,"name":"Çay","returnableAmount":"30.00"}]}`), int64(1500), "çay")
	f.Add([]byte(`{"status":"success","saleItems":[{"id":1,"name":"a","returnableAmount":"-1"},{"id":1,"name":"a","returnableAmount":"5"}]}`), int64(100), "a")
	f.Fuzz(func(t *testing.T, raw []byte, minor int64, itemName string) {
		if minor <= 0 || minor > 1e12 {
			return
		}
		var info GmuRefundableSaleInfoResponse
		if json.Unmarshal(raw, &info) != nil || len(info.SaleItems) > 50 {
			return
		}
		c, _ := NewClient(Config{BaseURL: "http://x", ClientID: "a", ClientSecret: "b", Username: "c", Password: "d",
			TaxGroups: map[int]string{10: "KDV10", 20: "KDV20"}})
		// The sale: one line per info line, sold for what the info says
		// was its total (or 1.00), alternating VAT rates and units.
		var sold []bridge.Item
		var total int64
		for i, it := range info.SaleItems {
			a, err := money.Positive(it.TotalPriceAmount, "TRY")
			if err != nil || a.Minor > 1e12 {
				a = money.Amount{Minor: 100, Currency: "TRY"}
			}
			name := it.Name
			if name == "" {
				name = "x"
			}
			item := bridge.Item{Name: name, Quantity: "1", Amount: a.String(), VATRate: 10}
			if i%2 == 1 {
				item.VATRate, item.Unit = 20, "KGM"
			}
			sold = append(sold, item)
			total += a.Minor
		}
		if total == 0 {
			return
		}
		amt := money.Amount{Minor: minor, Currency: "TRY"}
		r := bridge.Request{Op: bridge.OpRefund, Amount: amt, Original: &bridge.Original{Amount: money.Amount{Minor: total, Currency: "TRY"}, Items: sold}}
		if itemName != "" {
			r.Items = []bridge.Item{{Name: itemName, Quantity: "1", Amount: amt.String(), VATRate: 10}}
		}
		lines, refused := c.refundLines(r, info)
		if refused != nil {
			return
		}
		left := map[string]int64{}
		group := map[string]string{}
		for i, it := range info.SaleItems {
			if a, err := money.Parse(it.ReturnableAmount, "TRY"); err == nil {
				left[itoa(it.ID)] = a.Minor
			}
			if i < len(sold) {
				group[itoa(it.ID)] = c.taxGroup(sold[i].VATRate)
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
			if l.TaxGroupCode != "KDV10" && l.TaxGroupCode != "KDV20" {
				t.Fatalf("line %+v under no sold tax group", l)
			}
			if (l.TaxGroupCode == "KDV20") != (l.UnitCode == "KGM") {
				t.Fatalf("line %+v: tax group and unit not from one sold line", l)
			}
			sum += a.Minor
		}
		if sum != minor {
			t.Fatalf("lines add up to %d, refund is %d", sum, minor)
		}
	})
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// FuzzPlanRefund: whatever lines a register names in a refund, an
// accepted plan returns exactly the refund's lines (or, without lines,
// its amount), never more of a line than it had left, and only lines
// that exist.
func FuzzPlanRefund(f *testing.F) {
	f.Add("Çay", "1", "15.00", 10, "", int64(1500))
	f.Add("kek", "1", "40.00", 20, "C62", int64(4000))
	f.Add("", "", "", 0, "", int64(8500))
	f.Add("Su", "4", "20.00", 20, "", int64(2000))
	f.Fuzz(func(t *testing.T, name, qty, amount string, vat int, unit string, minor int64) {
		if minor <= 0 || minor > 1e12 {
			return
		}
		c, _ := NewClient(Config{BaseURL: "http://x", ClientID: "a", ClientSecret: "b", Username: "c", Password: "d",
			TaxGroups: map[int]string{10: "KDV10", 20: "KDV20"}})
		sale := []bridge.Item{
			{Name: "Çay", Quantity: "2", UnitPrice: "15.00", Amount: "30.00", VATRate: 10},
			{Name: "Kek", Quantity: "1", Amount: "40.00", VATRate: 20, Unit: "KGM"},
			{Name: "Su", Quantity: "3", UnitPrice: "5.00", Amount: "15.00", VATRate: 20},
		}
		lines, err := c.soldLines(&bridge.Original{Amount: money.Amount{Minor: 8500, Currency: "TRY"}, Items: sale})
		if err != nil {
			t.Fatal(err)
		}
		before := append([]soldLine(nil), lines...)
		amt := money.Amount{Minor: minor, Currency: "TRY"}
		var items []bridge.Item
		if name != "" {
			items = []bridge.Item{{Name: name, Quantity: qty, Amount: amount, VATRate: vat, Unit: unit}}
		}
		plan, ie := planRefund(lines, items, amt)
		if ie != nil {
			if ie.Field == "" || ie.Code == "" || ie.Message == "" {
				t.Fatalf("refusal without field, code or message: %+v", ie)
			}
			return
		}
		var sum int64
		for _, p := range plan {
			if p.line < 0 || p.line >= len(before) || p.amount <= 0 || p.qty <= 0 {
				t.Fatalf("bad plan line %+v", p)
			}
			if p.amount > before[p.line].amount {
				t.Fatalf("line %d over-refunded: %+v", p.line, plan)
			}
			sum += p.amount
		}
		want := minor
		if len(items) > 0 {
			a, _ := money.Positive(amount, "TRY")
			want = a.Minor
		}
		if sum != want {
			t.Fatalf("plan adds up to %d, want %d: %+v", sum, want, plan)
		}
	})
}
