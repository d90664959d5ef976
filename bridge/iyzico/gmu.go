package iyzico

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/money"
)

// VUK 507 (GMU) specifics: sale items, the buyer, partial payment and
// refunds by line (reference §4).

// taxGroup is the taxGroupCode for a VAT rate: the configured table
// first, then the one fallback code. iyzico publishes no list of valid
// codes (§4.1, open question 7), so tezgah never derives one on its own.
func (c *Client) taxGroup(vat int) string {
	if g, ok := c.cfg.TaxGroups[vat]; ok {
		return g
	}
	return c.cfg.TaxGroupCode
}

// quantity507 reads an item quantity as iyzico's integer itemQuantity
// (§4.1: "itemQuantity (integer)"); weighed goods ("0.250") cannot be
// expressed and are refused at accept time by Validate.
func quantity507(q string) (int, bool) {
	if q == "" {
		return 1, true
	}
	whole, frac, _ := strings.Cut(q, ".")
	if strings.Trim(frac, "0") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(whole)
	return n, err == nil && n > 0
}

// saleItems maps the register's lines to §4.1 SaleItems. A sale without
// lines becomes one generic line for the whole amount under the fallback
// tax group, as before items existed in the protocol.
func (c *Client) saleItems(r bridge.Request) ([]SaleItem, error) {
	if len(r.Items) == 0 {
		amt := r.Amount.String()
		return []SaleItem{{Name: "Satış", Generic: true, UnitCode: c.cfg.UnitCode, TaxGroupCode: c.cfg.TaxGroupCode,
			ItemQuantity: 1, UnitPriceAmount: amt, GrossPriceAmount: amt, TotalPriceAmount: amt}}, nil
	}
	out := make([]SaleItem, 0, len(r.Items))
	for i, it := range r.Items {
		si, err := c.saleItem(it, r.Amount.Currency)
		if err != nil {
			return nil, bridge.Inputf(fmt.Sprintf("items[%d]", i), "%v", err)
		}
		out = append(out, si)
	}
	return out, nil
}

func (c *Client) saleItem(it bridge.Item, cur string) (SaleItem, error) {
	qty, ok := quantity507(it.Quantity)
	if !ok {
		return SaleItem{}, fmt.Errorf("quantity %s: iyzico VUK 507 takes whole quantities only; sell weighed goods as quantity 1 with the line amount", it.Quantity)
	}
	total, err := money.Positive(it.Amount, cur)
	if err != nil {
		return SaleItem{}, fmt.Errorf("amount: %w", err)
	}
	unit := total
	if it.UnitPrice != "" {
		if unit, err = money.Positive(it.UnitPrice, cur); err != nil {
			return SaleItem{}, fmt.Errorf("unit_price: %w", err)
		}
	} else if qty != 1 {
		if total.Minor%int64(qty) != 0 {
			return SaleItem{}, fmt.Errorf("unit_price is needed: amount %s does not divide by quantity %d", total, qty)
		}
		unit.Minor = total.Minor / int64(qty)
	}
	// grossPriceAmount is the line before discounts (unit × quantity),
	// totalPriceAmount what the customer pays for it (§4.1).
	gross := money.Amount{Minor: unit.Minor * int64(qty), Currency: cur}
	if gross.Minor < total.Minor {
		gross = total
	}
	uc := it.Unit
	if uc == "" {
		uc = c.cfg.UnitCode
	}
	name := it.Name
	if name == "" {
		name = "Satış"
	}
	return SaleItem{Name: name, UnitCode: uc, TaxGroupCode: c.taxGroup(it.VATRate), ItemQuantity: qty,
		UnitPriceAmount: unit.String(), GrossPriceAmount: gross.String(), TotalPriceAmount: total.String()}, nil
}

// buyer maps the register's customer to §4.1 BuyerInfo. The schema has
// no e-mail or phone in BuyerInfo; those go to notificationEmail and
// notificationPhone. The identity number of an individual is their tax
// number ("VKN or TCKN").
func buyer(cu *bridge.Customer) *BuyerInfo {
	if cu == nil {
		return nil
	}
	b := &BuyerInfo{FirstName: cu.FirstName, MiddleName: cu.MiddleName, FamilyName: cu.LastName,
		CompanyName: cu.CompanyName, TaxOfficeCode: cu.TaxOffice, TaxNumber: cu.TaxNumber, Country: cu.Country, City: cu.City}
	switch cu.Type {
	case bridge.Corporate:
		b.CustomerType = 2
	default:
		b.CustomerType = 1
		if b.TaxNumber == "" {
			b.TaxNumber = cu.IdentityNumber
		}
	}
	return b
}

// paymentRequest507 is the body of a sale and of a partial-payment start
// (§4.6: "body = GmuPaymentRequest").
func (c *Client) paymentRequest507(r bridge.Request) (GmuPaymentRequest, error) {
	items, err := c.saleItems(r)
	if err != nil {
		return GmuPaymentRequest{}, err
	}
	amt := r.Amount.String()
	req := GmuPaymentRequest{
		Locale: c.locale(VUK507), ConversationID: r.Reference, DeviceUniqueID: r.Terminal.DeviceID, TransactionReferenceID: r.Reference,
		Price: amt, PaidPrice: amt, PaymentType: "CARD", Currency: r.Amount.Currency, Installment: 1,
		SaleAppName: c.cfg.SaleAppName, SaleAppVersion: c.cfg.SaleAppVersion,
		// "1" (e-invoice) or "9" (expense voucher) are the only values
		// the schema allows (§4.1); a retail card sale is the former.
		SaleDocumentType: "1",
		SaleItems:        items,
		BuyerInfo:        buyer(r.Customer),
	}
	if r.Customer != nil {
		req.NotificationEmail, req.NotificationPhone = r.Customer.Email, r.Customer.Phone
	}
	return req, nil
}

// partialDetail is what a partial_start result carries for the later
// steps (in Payment.Detail) and what the register sees of the flow.
type partialDetail struct {
	SaleNumber      string `json:"sale_number"`
	RemainingAmount string `json:"remaining_amount,omitempty"`
}

func detailJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v) // plain structs of strings
	return b
}

// saleNumber reads the saleNumber stored with the partial_start result.
func saleNumber(o *bridge.Original) (string, bool) {
	if o == nil {
		return "", false
	}
	var d partialDetail
	if json.Unmarshal(o.Payment.Detail, &d) != nil || d.SaleNumber == "" {
		return "", false
	}
	return d.SaleNumber, true
}

// partialStart is §4.6 step 1. iyzico hands back saleNumber, the id of
// the whole flow; it is stored at once (Remember) so that a crash before
// the result is written still knows it.
func (c *Client) partialStart(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	body, err := c.paymentRequest507(r)
	if err != nil {
		return bridge.Result{}, err
	}
	var out GmuPartialStartResponse
	if err := c.call(ctx, "/v2/terminal-host/gmu/partial-payment/start", body, &out); err != nil {
		return bridge.Result{}, err
	}
	if r.Remember != nil && out.SaleNumber != "" {
		if err := r.Remember(ctx, out.SaleNumber); err != nil {
			return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "store_failed", Err: err}
		}
	}
	return bridge.Result{Status: bridge.Approved, Payment: &bridge.Payment{Provider: "iyzico", Amount: r.Amount.String(),
		Currency: r.Amount.Currency, Detail: detailJSON(partialDetail{SaleNumber: out.SaleNumber, RemainingAmount: out.RemainingPaymentAmount})}}, nil
}

// partialAdd is §4.6 step 2: one card for part of the basket.
func (c *Client) partialAdd(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	sn, ok := saleNumber(r.Original)
	if !ok {
		return bridge.Result{Status: bridge.Failed, Code: "invalid_original", Message: "partial_add needs the saleNumber of an approved partial_start"}, nil
	}
	var out GmuPaymentResponse
	if err := c.call(ctx, "/v2/terminal-host/gmu/partial-payment/add-payment", GmuPartialAddRequest{
		Locale: c.locale(VUK507), ConversationID: r.Reference, DeviceUniqueID: r.Terminal.DeviceID, TransactionReferenceID: r.Reference,
		SaleNumber: sn, Price: r.Amount.String(), Installment: 1, Currency: r.Amount.Currency,
	}, &out); err != nil {
		return bridge.Result{}, err
	}
	res := approved507(out)
	res.Payment.Detail = detailJSON(partialDetail{SaleNumber: sn})
	return res, nil
}

// partialComplete is §4.6 step 3. A success with something still to pay
// contradicts the schema ("must be 0"); it is reported as failed rather
// than as a finished sale.
func (c *Client) partialComplete(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	sn, ok := saleNumber(r.Original)
	if !ok {
		return bridge.Result{Status: bridge.Failed, Code: "invalid_original", Message: "partial_complete needs the saleNumber of an approved partial_start"}, nil
	}
	var out GmuPartialCompleteResponse
	if err := c.call(ctx, "/v2/terminal-host/gmu/partial-payment/complete", GmuPartialCompleteRequest{
		Locale: c.locale(VUK507), ConversationID: r.Reference, DeviceUniqueID: r.Terminal.DeviceID, TransactionReferenceID: r.Reference, SaleNumber: sn,
	}, &out); err != nil {
		return bridge.Result{}, err
	}
	if rem, err := money.Parse(out.RemainingPaymentAmount, r.Original.Amount.Currency); out.RemainingPaymentAmount != "" && (err != nil || rem.Minor != 0) {
		return bridge.Result{Status: bridge.Failed, Code: "partial_payment_incomplete", ProviderCode: out.ErrorCode,
			Message: "iyzico completed the sale with " + out.RemainingPaymentAmount + " still to pay"}, nil
	}
	res := approved507(out.GmuPaymentResponse)
	res.Payment.Detail = detailJSON(partialDetail{SaleNumber: sn, RemainingAmount: out.RemainingPaymentAmount})
	return res, nil
}

// refundableInfo is §4.3 for the sale with reference ref.
func (c *Client) refundableInfo(ctx context.Context, dev, ref, conv string) (GmuRefundableSaleInfoResponse, error) {
	var info GmuRefundableSaleInfoResponse
	err := c.call(ctx, "/v2/terminal-host/gmu/payment/refundable-sale-info", GmuRefundableSaleInfoRequest{
		Locale: c.locale(VUK507), ConversationID: conv, DeviceUniqueID: dev, TransactionReferenceID: ref,
	}, &info)
	return info, err
}

// isNotFound reports iyzico's "payment not found" codes (§5).
func isNotFound(e *apiError) bool {
	return e.Code == "380107" || e.Code == "380108" || e.Code == "380109"
}
