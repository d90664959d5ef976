package paywall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/tezgah/tezgah/bridge"
)

// Call implements bridge.Caller: the PhysicalAPI operations that move no
// money, answered at once (docs/providers/paywall.md lists them).
//
//	terminals     the merchant's terminals (§1) and whether this one is connected (§3.2)
//	connectivity  whether this terminal is connected to Paywall (§3.2)
//	payment       one payment by params.payment_id: inquiry, activities, products (§11.1, §11.3, §11.4)
//	payments      the payment list of params.date (or start_date..end_date), params.page (§11.2)
func (c *Client) Call(ctx context.Context, call bridge.Call) (json.RawMessage, error) {
	var p map[string]json.RawMessage
	if len(call.Params) > 0 {
		if err := json.Unmarshal(call.Params, &p); err != nil {
			return nil, bridge.Inputf("params", "params must be a JSON object")
		}
	}
	str := func(name string) (string, error) {
		raw, ok := p[name]
		if !ok {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", bridge.Inputf("params."+name, "must be a string")
		}
		return s, nil
	}
	var out any
	var err error
	switch call.Op {
	case "terminals":
		out, err = c.terminals(ctx, call.Terminal)
	case "connectivity":
		var conn bool
		conn, err = c.connected(ctx, call.Terminal)
		out = map[string]any{"terminal": call.Terminal.Name, "device_id": call.Terminal.DeviceID, "connected": conn}
	case "payment":
		var id string
		if id, err = str("payment_id"); err == nil {
			if !IsGUID(id) {
				return nil, bridge.Inputf("params.payment_id", "the sale's payment.payment_id (a Paywall PaymentRequestId, a Guid) is required")
			}
			out, err = c.payment(ctx, id)
		}
	case "payments":
		out, err = c.payments(ctx, p, str)
	default:
		return nil, fmt.Errorf("paywall has no call %q (there are terminals, connectivity, payment, payments): %w", call.Op, bridge.ErrUnsupported)
	}
	if err != nil {
		return nil, callError(err)
	}
	return json.Marshal(out)
}

// callError turns a failure answer into a bridge.Error: a call is never
// "final", the register may ask again.
func callError(err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		if ae.is(CodePaymentNotFound, ClientPaymentNotFound) {
			return bridge.Inputf("params.payment_id", "Paywall knows no such payment")
		}
		return &bridge.Error{Kind: bridge.NotSent, Code: "provider_refused", Err: ae}
	}
	return err
}

// Connected implements bridge.Prober with the connectivity check.
func (c *Client) Connected(ctx context.Context, t bridge.Terminal) (bool, error) {
	ok, err := c.connected(ctx, t)
	if err != nil {
		return false, callError(err)
	}
	return ok, nil
}

func (c *Client) connected(ctx context.Context, t bridge.Terminal) (bool, error) {
	id, tag := target(t)
	var out Connectivity
	if err := c.do(ctx, http.MethodPost, "/api/terminal/connectivity/check", ConnectivityRequest{TerminalID: id, TerminalTagCode: tag}, &out); err != nil {
		return false, err
	}
	return out.IsSocketConnected, nil
}

// maxTerminalPages bounds the terminal list (a shop has a handful).
const maxTerminalPages = 20

func (c *Client) terminals(ctx context.Context, t bridge.Terminal) (any, error) {
	var items []TerminalItem
	for page := 0; page < maxTerminalPages; page++ {
		var out Page[TerminalItem]
		if err := c.do(ctx, http.MethodPost, "/api/terminal/list", PageRequest{PageIndex: page, PageSize: listPageSize}, &out); err != nil {
			return nil, err
		}
		items = append(items, out.Items...)
		if len(out.Items) == 0 || page+1 >= out.Pagination.PageCount {
			break
		}
	}
	conn, err := c.connected(ctx, t)
	if err != nil {
		return nil, err
	}
	return map[string]any{"terminals": items, "terminal": t.Name, "device_id": t.DeviceID, "connected": conn}, nil
}

func (c *Client) payment(ctx context.Context, id string) (any, error) {
	var in Inquiry
	if err := c.do(ctx, http.MethodGet, "/api/payment/inquiry/"+url.PathEscape(id), nil, &in); err != nil {
		return nil, err
	}
	acts, err := c.activities(ctx, id)
	if err != nil {
		return nil, err
	}
	var prods Page[PaymentProduct]
	if err := c.do(ctx, http.MethodPost, "/api/payment/products", PageRequest{PageSize: listPageSize, PaymentRequestID: id}, &prods); err != nil {
		return nil, err
	}
	return map[string]any{"payment": in, "activities": acts, "products": prods.Items}, nil
}

func (c *Client) payments(ctx context.Context, p map[string]json.RawMessage, str func(string) (string, error)) (any, error) {
	day, err := str("date")
	if err != nil {
		return nil, err
	}
	start, err := str("start_date")
	if err != nil {
		return nil, err
	}
	end, err := str("end_date")
	if err != nil {
		return nil, err
	}
	if day != "" {
		start, end = day, day
	}
	if start == "" && end == "" {
		today := c.cfg.Now().In(c.cfg.Zone).Format("2006-01-02")
		start, end = today, today
	}
	for _, f := range []struct{ name, v string }{{"start_date", start}, {"end_date", end}} {
		if _, err := time.Parse("2006-01-02", f.v); err != nil {
			return nil, bridge.Inputf("params."+f.name, "must be a date like 2026-11-24")
		}
	}
	page := 0
	if raw, ok := p["page"]; ok {
		if err := json.Unmarshal(raw, &page); err != nil || page < 0 {
			return nil, bridge.Inputf("params.page", "must be a page number from 0")
		}
	}
	var out Page[PaymentItem]
	if err := c.do(ctx, http.MethodPost, "/api/payment/list", PageRequest{PageIndex: page, PageSize: listPageSize, StartDate: start, EndDate: end}, &out); err != nil {
		return nil, err
	}
	return out, nil
}
