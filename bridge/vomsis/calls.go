package vomsis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/money"
)

// Ops lists the calls (protocol "call" command) in a stable order. None
// moves money. customer_store, customer_update and customer_delete change
// Vomsis's customer records: update and delete are idempotent (the same
// call twice leaves the same record), store is not — if its answer is
// lost, a retry may create the customer twice, so look with
// customers_list first (docs/providers/vomsis.md).
var Ops = []string{"bin_check", "installments", "transaction_find", "transactions_list",
	"customers_list", "customer_detail", "customer_store", "customer_update", "customer_delete"}

var (
	digits     = regexp.MustCompile(`^[0-9]+$`)
	refPattern = regexp.MustCompile(`^[A-Za-z0-9]{15}$`)
)

// params decodes a call's params strictly into v.
func params(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return bridge.Inputf("params."+te.Field, "must be a JSON %s", te.Type.Kind())
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return bridge.Inputf("params."+strings.Trim(f, `"`), "is not a parameter of this call")
		}
		return bridge.Inputf("params", "must be a JSON object")
	}
	return nil
}

// Call implements bridge.Caller.
func (c *Client) Call(ctx context.Context, call bridge.Call) (json.RawMessage, error) {
	switch call.Op {
	case "bin_check":
		return c.binCheck(ctx, call)
	case "installments":
		if err := params(call.Params, &struct{}{}); err != nil {
			return nil, err
		}
		raw, err := c.ask(ctx, http.MethodPost, "/installments", nil)
		if err != nil {
			return nil, err
		}
		return installmentsReply(raw)
	case "transaction_find":
		var p struct {
			Reference string `json:"reference"`
		}
		if err := params(call.Params, &p); err != nil {
			return nil, err
		}
		if !refPattern.MatchString(p.Reference) {
			return nil, bridge.Inputf("params.reference", "reference is the sale's 15-character referanceNo (payment.payment_id of its result)")
		}
		d, err := c.find(ctx, p.Reference)
		if errors.Is(err, bridge.ErrNotFound) {
			return json.RawMessage(`{"found":false}`), nil
		}
		if err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"found": true, "transaction": d})
	case "transactions_list":
		var p struct {
			Status string `json:"status"`
		}
		if err := params(call.Params, &p); err != nil {
			return nil, err
		}
		path := "/transactions-list"
		switch p.Status {
		case "":
		case "successful", "failed", "cancel", "refund":
			path += "?status=" + url.QueryEscape(p.Status)
		default:
			return nil, bridge.Inputf("params.status", "status is one of successful, failed, cancel, refund (§7), or absent for all")
		}
		raw, err := c.ask(ctx, http.MethodGet, path, nil)
		if err != nil {
			return nil, err
		}
		return listReply("transactions", raw)
	case "customers_list":
		if err := params(call.Params, &struct{}{}); err != nil {
			return nil, err
		}
		raw, err := c.ask(ctx, http.MethodGet, "/customers", nil)
		if err != nil {
			return nil, err
		}
		return listReply("customers", raw)
	case "customer_detail", "customer_delete":
		var p struct {
			CustomerID int `json:"customer_id"`
		}
		if err := params(call.Params, &p); err != nil {
			return nil, err
		}
		if p.CustomerID <= 0 {
			return nil, bridge.Inputf("params.customer_id", "customer_id is required: the Vomsis customer id")
		}
		method := http.MethodGet
		if call.Op == "customer_delete" {
			method = http.MethodDelete
		}
		raw, err := c.ask(ctx, method, "/customers/"+strconv.Itoa(p.CustomerID), nil)
		if err != nil {
			return nil, err
		}
		return objectReply(raw)
	case "customer_store":
		var p struct {
			Email        string `json:"email"`
			Password     string `json:"password"`
			CompanyTitle string `json:"company_title"`
			GSM          string `json:"gsm"`
			Invoice      *struct {
				Name         string  `json:"name"`
				Type         string  `json:"type"`
				NameSurname  string  `json:"name_surname"`
				TaxNumber    string  `json:"tax_number"`
				Email        string  `json:"email"`
				Phone        string  `json:"phone"`
				Address      string  `json:"address"`
				CompanyTitle *string `json:"company_title"`
				TaxOffice    *string `json:"tax_office"`
			} `json:"invoice_information"`
		}
		if err := params(call.Params, &p); err != nil {
			return nil, err
		}
		if !strings.Contains(p.Email, "@") {
			return nil, bridge.Inputf("params.email", "email is required (§8)")
		}
		in := CustomerStoreRequest{Email: p.Email, Password: p.Password, CompanyTitle: p.CompanyTitle, GSM: p.GSM}
		if iv := p.Invoice; iv != nil {
			if iv.Type != "" && iv.Type != "individual" && iv.Type != "commercial" {
				return nil, bridge.Inputf("params.invoice_information.type", "type is individual or commercial")
			}
			in.InvoiceInformation = &InvoiceInformation{InvoiceInfoName: iv.Name, InvoiceType: iv.Type, NameSurname: iv.NameSurname,
				TaxNumber: iv.TaxNumber, InvoiceEmail: iv.Email, Phone: iv.Phone, Address: iv.Address, CompanyTitle: iv.CompanyTitle, TaxOffice: iv.TaxOffice}
		}
		raw, err := c.ask(ctx, http.MethodPost, "/customers/store", in)
		if err != nil {
			return nil, err
		}
		return objectReply(raw)
	case "customer_update":
		var p struct {
			CustomerID   int    `json:"customer_id"`
			Email        string `json:"email"`
			Password     string `json:"password"`
			CompanyTitle string `json:"company_title"`
			Phone        string `json:"phone"`
		}
		if err := params(call.Params, &p); err != nil {
			return nil, err
		}
		if p.CustomerID <= 0 {
			return nil, bridge.Inputf("params.customer_id", "customer_id is required: the Vomsis customer id")
		}
		raw, err := c.ask(ctx, http.MethodPut, "/customers/"+strconv.Itoa(p.CustomerID),
			CustomerUpdateRequest{Email: p.Email, Password: p.Password, CompanyTitle: p.CompanyTitle, Phone: p.Phone})
		if err != nil {
			return nil, err
		}
		return objectReply(raw)
	}
	return nil, fmt.Errorf("vomsis has no call %q (calls: %s): %w", call.Op, strings.Join(Ops, ", "), bridge.ErrUnsupported)
}

// ask runs a call that moves no money. A refusal (4xx) is the register's
// input as far as it can tell: an *InputError with Vomsis's message.
func (c *Client) ask(ctx context.Context, method, path string, in any) (json.RawMessage, error) {
	raw, _, err := c.do(ctx, method, path, in)
	var ae *apiError
	if errors.As(err, &ae) {
		return nil, bridge.Inputf("params", "Vomsis refused the call (HTTP %d): %s", ae.Status, ae.Message)
	}
	if err != nil {
		return nil, err
	}
	if !json.Valid(raw) {
		return nil, &bridge.Error{Kind: bridge.Unknown, Code: "bad_response", Err: fmt.Errorf("vomsis: %s: answer is not JSON", path)}
	}
	return raw, nil
}

func (c *Client) binCheck(ctx context.Context, call bridge.Call) (json.RawMessage, error) {
	var p struct {
		CardNumber string          `json:"card_number"`
		Amount     json.RawMessage `json:"amount"`
		Currency   string          `json:"currency"`
		PosID      int             `json:"pos_id"`
	}
	if err := params(call.Params, &p); err != nil {
		return nil, err
	}
	// cc_number is the card number (§2: int(16)); the message never
	// echoes it.
	if len(p.CardNumber) < 6 || len(p.CardNumber) > 19 || !digits.MatchString(p.CardNumber) {
		return nil, bridge.Inputf("params.card_number", "card_number must be 6 to 19 digits (the card number or its first digits)")
	}
	if p.Currency == "" {
		p.Currency = "TRY"
	}
	var s string
	if err := json.Unmarshal(p.Amount, &s); err != nil {
		s = string(p.Amount)
	}
	amt, err := money.Positive(s, p.Currency)
	if err != nil {
		return nil, bridge.Inputf("params.amount", `amount is required: the sale's amount as a decimal string, e.g. "150.00" (limits depend on it, §2)`)
	}
	raw, err := c.ask(ctx, http.MethodPost, "/bin-check", BinCheckRequest{CCNumber: p.CardNumber, FecName: p.Currency, PaymentPrice: Decimal(amt.String()), PID: p.PosID})
	if err != nil {
		return nil, err
	}
	var out BinCheckResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, &bridge.Error{Kind: bridge.Unknown, Code: "bad_response", Err: fmt.Errorf("vomsis: bin-check: %w", err)}
	}
	ci := out.Data.CardInfo
	return json.Marshal(map[string]any{
		"card": map[string]any{"bank_name": ci.BankName, "card_type": ci.CardType, "card_association": ci.CardAssociation,
			"card_family": ci.CardFamilyName, "bin_check_company": ci.BinCheckCompany},
		"installments": normInstallments(out.Data.Installments),
	})
}

// InstallmentOption is one option in a call reply.
type InstallmentOption struct {
	Installment int    `json:"installment"`
	PosID       int    `json:"pos_id"`
	BlockRate   string `json:"block_rate"`
	Currency    string `json:"currency"`
	Title       string `json:"title,omitempty"`
}

func normInstallments(in []Installment) []InstallmentOption {
	out := make([]InstallmentOption, 0, len(in))
	for _, i := range in {
		out = append(out, InstallmentOption{Installment: int(i.Installment), PosID: int(i.PosID), BlockRate: string(i.BlockRate), Currency: string(i.Currency), Title: string(i.Title)})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Installment < out[b].Installment })
	return out
}

// ParseInstallments reads /installments' answer in either documented
// shape (§3): PM26's data keyed by card family then by count, or
// PORTAL's pos_banks list. It returns options per card family.
func ParseInstallments(raw []byte) (map[string][]InstallmentOption, error) {
	var v struct {
		Data     json.RawMessage `json:"data"`
		PosBanks []struct {
			BankName    FlexString `json:"bank_name"`
			Family      FlexString `json:"family"`
			Installment []struct {
				Installment FlexInt    `json:"installment"`
				Title       FlexString `json:"title"`
				Status      FlexString `json:"status"`
				Rate        FlexString `json:"rate"`
			} `json:"installment"`
		} `json:"pos_banks"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("vomsis: installments: %w", err)
	}
	out := map[string][]InstallmentOption{}
	if len(v.Data) > 0 && string(v.Data) != "null" {
		var fam map[string]map[string]Installment
		if err := json.Unmarshal(v.Data, &fam); err != nil {
			return nil, fmt.Errorf("vomsis: installments: %w", err)
		}
		for name, opts := range fam {
			list := make([]Installment, 0, len(opts))
			for _, o := range opts {
				list = append(list, o)
			}
			out[name] = normInstallments(list)
		}
		return out, nil
	}
	for _, b := range v.PosBanks {
		var list []InstallmentOption
		for _, i := range b.Installment {
			if string(i.Status) == "false" {
				continue
			}
			list = append(list, InstallmentOption{Installment: int(i.Installment), BlockRate: string(i.Rate), Title: string(i.Title)})
		}
		sort.SliceStable(list, func(a, b int) bool { return list[a].Installment < list[b].Installment })
		out[string(b.Family)] = list
	}
	return out, nil
}

func installmentsReply(raw []byte) (json.RawMessage, error) {
	fams, err := ParseInstallments(raw)
	if err != nil {
		return nil, &bridge.Error{Kind: bridge.Unknown, Code: "bad_response", Err: err}
	}
	type family struct {
		Family       string              `json:"family"`
		Installments []InstallmentOption `json:"installments"`
	}
	list := make([]family, 0, len(fams))
	for name, opts := range fams {
		list = append(list, family{name, opts})
	}
	sort.Slice(list, func(a, b int) bool { return list[a].Family < list[b].Family })
	return json.Marshal(map[string]any{"families": list})
}

// listReply passes Vomsis's rows through under name; their shape is
// documented only by example (§7) or not at all (§8).
func listReply(name string, raw []byte) (json.RawMessage, error) {
	var v struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || len(v.Data) == 0 {
		if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
			v.Data = raw
		} else {
			v.Data = []byte("[]")
		}
	}
	return json.Marshal(map[string]json.RawMessage{name: v.Data})
}

// objectReply returns Vomsis's answer as the reply: customers' answers
// are not documented (§8), so they are passed on as they come.
func objectReply(raw []byte) (json.RawMessage, error) {
	if len(raw) > 0 && raw[0] == '{' {
		return raw, nil
	}
	return json.Marshal(map[string]json.RawMessage{"data": raw})
}
