package iyzico_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/bridge/iyzico"
)

// shopItems is a sale under two VAT rates, one line sold by the kilogram.
func shopItems() []bridge.Item {
	return []bridge.Item{
		{Name: "Çay", Quantity: "2", UnitPrice: "15.00", Amount: "30.00", VATRate: 10},
		{Name: "Kek", Quantity: "1", Amount: "40.00", VATRate: 20, Unit: "KGM"},
		{Name: "Su", Quantity: "3", UnitPrice: "5.00", Amount: "15.00", VATRate: 20},
	}
}

// TestRefundUnderSoldTaxGroup: every refund line goes to iyzico with the
// tax group, unit and unit price its line was sold under, whatever the
// refund says or leaves out, and a refund without items returns the rest
// line by line.
func TestRefundUnderSoldTaxGroup(t *testing.T) {
	e := newEnv(t, nil)
	_, orig := e.approved(bridge.Request{Op: bridge.OpSale, Terminal: t507, Amount: try(t, "85.00"), Items: shopItems()})
	refund := func(amount string, items []bridge.Item) []iyzico.SaleItem {
		t.Helper()
		e.approved(bridge.Request{Op: bridge.OpRefund, Terminal: t507, Amount: try(t, amount), Original: &orig, Items: items})
		var sent iyzico.GmuRefundRequest
		if err := json.Unmarshal(e.ct.lastBody("/v2/terminal-host/gmu/payment/refund"), &sent); err != nil {
			t.Fatal(err)
		}
		return sent.SaleItems
	}
	type line struct{ related, group, unit, unitPrice, amount string }
	same := func(got []iyzico.SaleItem, want []line, qty ...int) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("refund lines %+v, want %+v", got, want)
		}
		for i, g := range got {
			w := want[i]
			if g.RelatedSaleItemID != w.related || g.TaxGroupCode != w.group || g.UnitCode != w.unit || g.UnitPriceAmount != w.unitPrice ||
				g.ReturnAmount != w.amount || g.TotalPriceAmount != w.amount || g.ItemQuantity != qty[i] {
				t.Errorf("line %d = %+v, want %+v ×%d", i, g, w, qty[i])
			}
		}
	}
	// The register says nothing of the unit, or something else of it:
	// the line as sold decides.
	same(refund("15.00", []bridge.Item{{Name: "çay", Quantity: "1", Amount: "15.00", VATRate: 10}}),
		[]line{{"1", "KDV10", "C62", "15.00", "15.00"}}, 1)
	same(refund("40.00", []bridge.Item{{Name: "Kek", Quantity: "1", Amount: "40.00", VATRate: 20}}),
		[]line{{"2", "KDV20", "KGM", "40.00", "40.00"}}, 1)
	same(refund("5.00", []bridge.Item{{Name: "Su", Quantity: "1", Amount: "5.00", VATRate: 20, Unit: "C62"}}),
		[]line{{"3", "KDV20", "C62", "5.00", "5.00"}}, 1)
	// The rest, without items: each line under its own group.
	same(refund("25.00", nil), []line{{"1", "KDV10", "C62", "15.00", "15.00"}, {"3", "KDV20", "C62", "5.00", "10.00"}}, 1, 2)
	var refunded int64
	for _, l := range e.sim.Ledger() {
		if l.Op == "refund" {
			refunded += l.Amount
		}
	}
	if refunded != 8500 {
		t.Errorf("refunded %d, want 8500", refunded)
	}
}

// TestValidateRefund: a refund that does not fit the sale less its
// refunds approved or pending is refused at accept time, naming the field.
func TestValidateRefund(t *testing.T) {
	e := newEnv(t, nil)
	orig := &bridge.Original{ID: "S1", Amount: try(t, "85.00"), Items: shopItems(),
		Refunds: []bridge.Refund{{ID: "R1", Amount: try(t, "15.00"), Items: []bridge.Item{{Name: "Çay", Quantity: "1", Amount: "15.00", VATRate: 10}}}}}
	cases := []struct {
		name   string
		amount string
		items  []bridge.Item
		field  string
		code   string
	}{
		{"the other tea", "15.00", []bridge.Item{{Name: "Çay", Quantity: "1", Amount: "15.00", VATRate: 10}}, "", ""},
		{"three waters", "15.00", []bridge.Item{{Name: "Su", Quantity: "3", Amount: "15.00", VATRate: 20}}, "", ""},
		{"never sold", "15.00", []bridge.Item{{Name: "Kahve", Quantity: "1", Amount: "15.00", VATRate: 10}}, "items[0].name", iyzico.CodeRefundItemNotSold},
		{"another VAT rate", "15.00", []bridge.Item{{Name: "Çay", Quantity: "1", Amount: "15.00", VATRate: 20}}, "items[0].vat_rate", iyzico.CodeRefundItemNotSold},
		{"another unit", "40.00", []bridge.Item{{Name: "Kek", Quantity: "1", Amount: "40.00", VATRate: 20, Unit: "C62"}}, "items[0].vat_rate", iyzico.CodeRefundItemNotSold},
		{"a tea already refunded", "30.00", []bridge.Item{{Name: "Çay", Quantity: "2", Amount: "30.00", VATRate: 10}}, "items[0].quantity", iyzico.CodeRefundExceedsSold},
		{"more than the line", "45.00", []bridge.Item{{Name: "Kek", Quantity: "1", Amount: "45.00", VATRate: 20}}, "items[0].amount", iyzico.CodeRefundExceedsSold},
		{"twice the same line", "30.00", []bridge.Item{{Name: "Çay", Quantity: "1", Amount: "15.00", VATRate: 10}, {Name: "Çay", Quantity: "1", Amount: "15.00", VATRate: 10}}, "items[1].quantity", iyzico.CodeRefundExceedsSold},
		{"the whole rest", "70.00", nil, "", ""},
		{"more than the rest", "70.01", nil, "amount", iyzico.CodeRefundExceedsSold},
		{"part without lines", "10.00", nil, "items", iyzico.CodeRefundItemsRequired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := e.c.Validate(bridge.Request{Op: bridge.OpRefund, Terminal: t507, Amount: try(t, tc.amount), Items: tc.items, Original: orig})
			var ie *bridge.InputError
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.code != "" && (!errors.As(err, &ie) || ie.Field != tc.field || ie.Code != tc.code):
				t.Fatalf("err = %#v, want %s on %s", err, tc.code, tc.field)
			}
		})
	}
	// A sale of one line (or none) may be refunded in part without items.
	one := &bridge.Original{Amount: try(t, "30.00"), Items: shopItems()[:1]}
	if err := e.c.Validate(bridge.Request{Op: bridge.OpRefund, Terminal: t507, Amount: try(t, "15.00"), Original: one}); err != nil {
		t.Errorf("part of a one-line sale: %v", err)
	}
	none := &bridge.Original{Amount: try(t, "30.00")}
	if err := e.c.Validate(bridge.Request{Op: bridge.OpRefund, Terminal: t507, Amount: try(t, "12.00"), Original: none}); err != nil {
		t.Errorf("part of a sale without lines: %v", err)
	}
}
