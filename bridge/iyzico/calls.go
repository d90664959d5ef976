package iyzico

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tezgah/tezgah/bridge"
)

// Validate implements bridge.Validator: it refuses at accept time what
// the terminal's model cannot do, so nothing is stored that could only
// fail later.
func (c *Client) Validate(r bridge.Request) error {
	switch r.Terminal.Model {
	case VUK507:
	case VUK509:
		switch r.Op {
		case bridge.OpPartialStart, bridge.OpPartialAdd, bridge.OpPartialComplete:
			return fmt.Errorf("iyzico VUK 509 terminals have no partial payment (only VUK 507 does); take each card as its own sale: %w", bridge.ErrUnsupported)
		}
		// VUK 509 takes no sale items: the fiscal document is made
		// elsewhere (§1). Items are accepted and kept with the request,
		// for the register's own records, but not sent.
		return nil
	default:
		return fmt.Errorf("terminal %s has model %q, not vuk507 or vuk509: %w", r.Terminal.Name, r.Terminal.Model, bridge.ErrUnsupported)
	}
	switch r.Op {
	case bridge.OpSale, bridge.OpPartialStart, bridge.OpPartialAdd, bridge.OpRefund:
		// §4.1: currency enum TRY, USD, EUR.
		if cur := r.Amount.Currency; cur != "" && cur != "TRY" && cur != "USD" && cur != "EUR" {
			return bridge.Inputf("currency", "iyzico VUK 507 takes TRY, USD or EUR, not %s", cur)
		}
	}
	for i, it := range r.Items {
		if _, ok := quantity507(it.Quantity); !ok {
			return bridge.Inputf(fmt.Sprintf("items[%d].quantity", i),
				"iyzico VUK 507 takes whole quantities only (itemQuantity is an integer); sell weighed goods as quantity 1 with the line amount")
		}
		if r.Op == bridge.OpSale || r.Op == bridge.OpPartialStart {
			if _, err := c.saleItem(it, r.Amount.Currency); err != nil {
				return bridge.Inputf(fmt.Sprintf("items[%d]", i), "%v", err)
			}
			if c.taxGroup(it.VATRate) == "" {
				return bridge.Inputf(fmt.Sprintf("items[%d].vat_rate", i),
					"no iyzico tax group is configured for VAT %d%%: set iyzico.tax_groups or iyzico.tax_group_code", it.VATRate)
			}
		}
	}
	if r.Op == bridge.OpRefund {
		return c.validateRefund(r)
	}
	return nil
}

// Call ops.
const (
	// CallRefundableSaleInfo is §4.3: what of a sale can still be
	// refunded, line by line.
	CallRefundableSaleInfo = "refundable_sale_info"
	// CallTransactionStatus is §4.2 / §3.2: iyzico's own record of a sale,
	// asked live.
	CallTransactionStatus = "transaction_status"
)

// Call implements bridge.Caller.
func (c *Client) Call(ctx context.Context, call bridge.Call) (json.RawMessage, error) {
	switch call.Op {
	case CallRefundableSaleInfo:
		if call.Terminal.Model != VUK507 {
			return nil, fmt.Errorf("refundable_sale_info exists only on iyzico VUK 507 terminals; on VUK 509 refund up to the sale amount: %w", bridge.ErrUnsupported)
		}
		if call.Original == nil {
			return nil, bridge.Inputf("params.original_id", `params.original_id is required: the id of the approved sale, e.g. {"original_id":"R1-000123"}`)
		}
		info, err := c.refundableInfo(ctx, call.Terminal.DeviceID, call.Original.Reference, "")
		if err != nil {
			return nil, callError(err)
		}
		return json.Marshal(refundableReply(info))
	case CallTransactionStatus:
		if call.Original == nil {
			return nil, bridge.Inputf("params.original_id", `params.original_id is required: the id of the sale, e.g. {"original_id":"R1-000123"}`)
		}
		res, err := c.Query(ctx, bridge.Request{Op: bridge.OpSale, Terminal: call.Terminal, Reference: call.Original.Reference,
			Amount: call.Original.Amount})
		if errors.Is(err, bridge.ErrNotFound) {
			return json.Marshal(map[string]any{"status": "not_found"})
		}
		if err != nil {
			return nil, callError(err)
		}
		return json.Marshal(res)
	}
	return nil, fmt.Errorf("iyzico has no call %q (calls: %s, %s): %w", call.Op, CallRefundableSaleInfo, CallTransactionStatus, bridge.ErrUnsupported)
}

// callError maps a failed read-only call: "not found" is the register's
// problem (a sale iyzico does not know), everything else means the
// answer could not be had now.
func callError(err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		if isNotFound(ae) {
			return bridge.Inputf("params.original_id", "iyzico does not know this sale (%s %s)", ae.Code, ae.Message)
		}
		return &bridge.Error{Kind: bridge.Unknown, Code: "provider_error", Err: ae}
	}
	var be *bridge.Error
	if errors.As(err, &be) {
		return err
	}
	return &bridge.Error{Kind: bridge.Unknown, Code: "provider_error", Err: err}
}

// refundableLine and refundableData are the reply of refundable_sale_info
// in the protocol's snake_case.
type refundableLine struct {
	ID                 int    `json:"id"`
	Name               string `json:"name"`
	Quantity           int    `json:"quantity"`
	Amount             string `json:"amount"`
	VATAmount          string `json:"vat_amount,omitempty"`
	RefundableQuantity int    `json:"refundable_quantity"`
	RefundableAmount   string `json:"refundable_amount"`
}

type refundableData struct {
	SaleNumber      string           `json:"sale_number,omitempty"`
	SaleUID         string           `json:"sale_uid,omitempty"`
	TotalRefundable string           `json:"total_refundable"`
	Currency        string           `json:"currency,omitempty"`
	Items           []refundableLine `json:"items"`
}

func refundableReply(info GmuRefundableSaleInfoResponse) refundableData {
	d := refundableData{SaleNumber: info.SaleNumber, SaleUID: info.SaleUID, TotalRefundable: info.TotalReturnableAmount,
		Currency: info.Currency, Items: []refundableLine{}}
	for _, it := range info.SaleItems {
		d.Items = append(d.Items, refundableLine{ID: it.ID, Name: it.Name, Quantity: it.ItemQuantity, Amount: it.TotalPriceAmount,
			VATAmount: it.VatAmount, RefundableQuantity: it.ReturnableQuantity, RefundableAmount: it.ReturnableAmount})
	}
	return d
}
