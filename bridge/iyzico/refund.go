package iyzico

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/money"
)

// VUK 507 refunds by line (§4.3, §4.5). A refund is a fiscal record: each
// returned line must carry the tax group, unit and unit price it was sold
// under, so every refund line is derived from the stored original sale's
// line — never from the refund's own vat_rate or unit, nor from the
// adapter's defaults. The same matching runs twice: at accept time
// (Validate) against the sale and the refunds of it already approved or
// still pending, so a refund that cannot be done is refused before it is
// stored; and at send time against refundable-sale-info, iyzico's own
// record of what each line has left.

// Stable codes of a refund refused for its lines (docs/providers/iyzico.md).
const (
	CodeRefundItemNotSold   = "refund_item_not_sold"  // no sold line has that name (and vat_rate, unit)
	CodeRefundExceedsSold   = "refund_exceeds_sold"   // more quantity or amount than the line has left
	CodeRefundItemsRequired = "refund_items_required" // a partial refund of a sale with several lines names none
	codeRefundNotFound      = "refund_item_not_found" // at send time: iyzico's record has no room for the line
	codeRefundExceeds       = "refund_exceeds_refundable"
)

// soldLine is one line of the original sale as it went to iyzico, with
// what is left of it to refund.
type soldLine struct {
	item     SaleItem // as sold: name, unit, tax group, unit price
	vat      int      // the register's VAT rate for it; -1 for the generic line
	unit     string   // the register's unit ("" = the default)
	code     string   // the register's product code
	qty      int      // left to refund
	amount   int64    // left to refund, minor units
	relateID string   // refundable-sale-info's id of the line, at send time
}

// soldLines rebuilds the original sale's lines exactly as saleItems sent
// them: with items, one per item; without, the one generic line.
func (c *Client) soldLines(o *bridge.Original) ([]soldLine, error) {
	items, err := c.saleItems(bridge.Request{Amount: o.Amount, Items: o.Items})
	if err != nil {
		return nil, err
	}
	out := make([]soldLine, len(items))
	for i, si := range items {
		a, err := money.Parse(si.TotalPriceAmount, o.Amount.Currency)
		if err != nil {
			return nil, err
		}
		out[i] = soldLine{item: si, vat: -1, qty: si.ItemQuantity, amount: a.Minor}
		if i < len(o.Items) {
			out[i].vat, out[i].unit, out[i].code = o.Items[i].VATRate, o.Items[i].Unit, o.Items[i].Code
		}
	}
	return out, nil
}

// refundLine is one sold line a refund returns: how many and how much.
type refundLine struct {
	line   int
	qty    int
	amount int64
}

func sameName(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// planRefund matches a refund (its items, or none) to the sold lines and
// takes what it returns off them. The refusal names the refund's field.
func planRefund(lines []soldLine, items []bridge.Item, amount money.Amount) ([]refundLine, *bridge.InputError) {
	cur := amount.Currency
	show := func(m int64) string { return money.Amount{Minor: m, Currency: cur}.String() }
	var out []refundLine
	if len(items) > 0 {
		for n, want := range items {
			p := fmt.Sprintf("items[%d]", n)
			qty, ok := quantity507(want.Quantity)
			if !ok {
				return nil, &bridge.InputError{Field: p + ".quantity", Code: "invalid_field", Message: "iyzico VUK 507 takes whole quantities only"}
			}
			amt, err := money.Positive(want.Amount, cur)
			if err != nil {
				return nil, &bridge.InputError{Field: p + ".amount", Code: "invalid_field", Message: err.Error()}
			}
			var named, matched []int
			for i, l := range lines {
				if !sameName(l.item.Name, want.Name) || (want.Code != "" && l.code != "" && want.Code != l.code) {
					continue
				}
				named = append(named, i)
				if (l.vat < 0 || l.vat == want.VATRate) && (want.Unit == "" || l.unit == "" || want.Unit == l.unit || want.Unit == l.item.UnitCode) {
					matched = append(matched, i)
				}
			}
			switch {
			case len(named) == 0:
				return nil, &bridge.InputError{Field: p + ".name", Code: CodeRefundItemNotSold,
					Message: fmt.Sprintf("the sale has no line %q; its lines are %s", want.Name, lineNames(lines))}
			case len(matched) == 0:
				l := lines[named[0]]
				return nil, &bridge.InputError{Field: p + ".vat_rate", Code: CodeRefundItemNotSold,
					Message: fmt.Sprintf("%q was sold at VAT %d%% in %s, not VAT %d%% in %s: a refund returns the line as it was sold", want.Name, l.vat, l.item.UnitCode, want.VATRate, orDefault(want.Unit, "the default unit"))}
			}
			took := false
			for _, i := range matched {
				l := &lines[i]
				if l.amount >= amt.Minor && l.qty >= qty {
					l.amount -= amt.Minor
					l.qty -= qty
					out = append(out, refundLine{line: i, qty: qty, amount: amt.Minor})
					took = true
					break
				}
			}
			if !took {
				l := lines[matched[0]]
				field := p + ".amount"
				if l.qty < qty {
					field = p + ".quantity"
				}
				return nil, &bridge.InputError{Field: field, Code: CodeRefundExceedsSold,
					Message: fmt.Sprintf("%q has %d piece(s) for %s left to refund (sold, less refunds approved or pending); this asks %d for %s", want.Name, l.qty, show(l.amount), qty, amt)}
			}
		}
		return out, nil
	}
	var left int64
	for _, l := range lines {
		left += l.amount
	}
	switch {
	case amount.Minor > left:
		return nil, &bridge.InputError{Field: "amount", Code: CodeRefundExceedsSold,
			Message: fmt.Sprintf("%s is more than the %s left to refund of the sale (refunds approved or pending count)", amount, show(left))}
	case amount.Minor == left:
		// The whole rest: every line with what it has left.
		for i := range lines {
			l := &lines[i]
			if l.amount == 0 {
				continue
			}
			out = append(out, refundLine{line: i, qty: max(l.qty, 1), amount: l.amount})
			l.amount, l.qty = 0, 0
		}
		return out, nil
	case len(lines) == 1:
		// One line: the part can only be of it.
		l := &lines[0]
		qty := 1
		if unit, err := money.Parse(l.item.UnitPriceAmount, amount.Currency); err == nil && unit.Minor > 0 && amount.Minor%unit.Minor == 0 {
			qty = min(int(amount.Minor/unit.Minor), max(l.qty, 1))
		}
		l.amount -= amount.Minor
		l.qty = max(l.qty-qty, 0)
		return []refundLine{{line: 0, qty: qty, amount: amount.Minor}}, nil
	}
	return nil, &bridge.InputError{Field: "items", Code: CodeRefundItemsRequired,
		Message: fmt.Sprintf("the sale has %d lines under their own tax groups; a partial refund on a VUK 507 fiscal receipt must name the lines it returns in items (lines: %s), or refund the whole %s left", len(lines), lineNames(lines), show(left))}
}

func lineNames(lines []soldLine) string {
	names := make([]string, len(lines))
	for i, l := range lines {
		names[i] = strconv.Quote(l.item.Name)
	}
	return strings.Join(names, ", ")
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// validateRefund is Validate for a VUK 507 refund: the refund must fit
// the sale less the refunds of it approved or still pending.
func (c *Client) validateRefund(r bridge.Request) error {
	if r.Original == nil {
		return nil
	}
	lines, err := c.soldLines(r.Original)
	if err != nil {
		// The sale itself was accepted, so only a config change since
		// (no tax group for its rate) gets here; the send reports it.
		return nil
	}
	for _, prev := range r.Original.Refunds {
		if _, ie := planRefund(lines, prev.Items, prev.Amount); ie != nil {
			// Accepted before lines were checked: take its amount off
			// the lines in order, so the total still counts it.
			take := prev.Amount.Minor
			for i := range lines {
				d := min(take, lines[i].amount)
				lines[i].amount -= d
				take -= d
			}
		}
	}
	if _, ie := planRefund(lines, r.Items, r.Amount); ie != nil {
		return ie
	}
	return nil
}

// refundLines builds a refund's saleItems at send time: the sale's lines
// (Request.Original.Items) linked to refundable-sale-info's lines by
// position and name, with what iyzico says each has left. Each line
// carries the sold line's tax group, unit and unit price; relatedSaleItemId
// is the info line's id (§4.3 gap, [inferred]). A nil slice comes with
// the final result of a refund that cannot be done as asked.
func (c *Client) refundLines(r bridge.Request, info GmuRefundableSaleInfoResponse) ([]SaleItem, *bridge.Result) {
	if r.Original == nil {
		return nil, &bridge.Result{Status: bridge.Failed, Code: "invalid_original", Message: "refund without its sale"}
	}
	cur := r.Amount.Currency
	lines, err := c.soldLines(r.Original)
	if err != nil {
		return nil, &bridge.Result{Status: bridge.Failed, Code: "invalid_request", Message: "the sale's lines cannot be rebuilt: " + err.Error()}
	}
	// Link each sold line to iyzico's line: the same position with the
	// same name, else the first unused line of that name.
	used := map[int]bool{}
	for i := range lines {
		lines[i].qty, lines[i].amount = 0, 0
		pick := -1
		if i < len(info.SaleItems) && sameName(info.SaleItems[i].Name, lines[i].item.Name) {
			pick = i
		} else {
			for j, it := range info.SaleItems {
				if !used[j] && sameName(it.Name, lines[i].item.Name) {
					pick = j
					break
				}
			}
		}
		if pick < 0 || used[pick] {
			continue // iyzico lists nothing left for it
		}
		used[pick] = true
		it := info.SaleItems[pick]
		a, err := money.Parse(it.ReturnableAmount, cur)
		if err != nil || a.Minor < 0 {
			continue
		}
		lines[i].amount, lines[i].qty, lines[i].relateID = a.Minor, max(it.ReturnableQuantity, 0), strconv.Itoa(it.ID)
		if lines[i].qty == 0 && a.Minor > 0 {
			// A line refunded before by amount only may list no whole
			// piece left; its amount still decides.
			lines[i].qty = lines[i].item.ItemQuantity
		}
	}
	plan, ie := planRefund(lines, r.Items, r.Amount)
	if ie != nil {
		code := codeRefundExceeds
		if ie.Code == CodeRefundItemNotSold || len(r.Items) > 0 {
			code = codeRefundNotFound
		}
		if ie.Code == CodeRefundItemsRequired {
			code = CodeRefundItemsRequired
		}
		return nil, &bridge.Result{Status: bridge.Failed, Code: code, Message: ie.Field + ": " + ie.Message + " (iyzico's refundable-sale-info)"}
	}
	out := make([]SaleItem, 0, len(plan))
	for _, p := range plan {
		l := lines[p.line]
		a := money.Amount{Minor: p.amount, Currency: cur}
		gross := a
		if unit, err := money.Parse(l.item.UnitPriceAmount, cur); err == nil && unit.Minor*int64(p.qty) > gross.Minor {
			gross.Minor = unit.Minor * int64(p.qty)
		}
		out = append(out, SaleItem{Name: l.item.Name, Generic: l.item.Generic, UnitCode: l.item.UnitCode, TaxGroupCode: l.item.TaxGroupCode,
			ItemQuantity: p.qty, UnitPriceAmount: l.item.UnitPriceAmount, GrossPriceAmount: gross.String(), TotalPriceAmount: a.String(),
			RelatedSaleItemID: l.relateID, ReturnAmount: a.String()})
	}
	return out, nil
}
