package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Item is one line of a sale as the register describes it, the same for
// every provider: iyzico VUK 507 saleItems and Paywall Products are both
// built from it (see each adapter for the mapping and the codes it needs).
type Item struct {
	Name string `json:"name"`
	// Quantity is an exact decimal with at most three decimals ("1",
	// "0.250" kg); never a float.
	Quantity string `json:"quantity"`
	// UnitPrice and Amount are decimal strings in the sale's currency;
	// Amount is the line total the customer pays. The sale's amount is the
	// sum of its items' Amounts.
	UnitPrice string `json:"unit_price,omitempty"`
	Amount    string `json:"amount"`
	// VATRate is the line's VAT in whole percent (0, 1, 10, 20 in Turkey);
	// adapters map it to their provider's tax group code.
	VATRate int `json:"vat_rate"`
	// Unit is the UN/ECE Recommendation 20 unit code ("C62" piece, "KGM"
	// kilogram); empty means the provider's default.
	Unit string `json:"unit,omitempty"`
	// Code is the register's product code or barcode, for receipts.
	Code string `json:"code,omitempty"`
}

// Customer is the buyer, when the register knows it (an e-invoice or
// e-archive receipt needs it).
type Customer struct {
	Type           string `json:"type"` // "individual" or "corporate"
	FirstName      string `json:"first_name,omitempty"`
	MiddleName     string `json:"middle_name,omitempty"`
	LastName       string `json:"last_name,omitempty"`
	IdentityNumber string `json:"identity_number,omitempty"` // TCKN, individuals
	CompanyName    string `json:"company_name,omitempty"`
	TaxOffice      string `json:"tax_office,omitempty"`
	TaxNumber      string `json:"tax_number,omitempty"` // VKN, companies
	Email          string `json:"email,omitempty"`
	Phone          string `json:"phone,omitempty"`
	Address        string `json:"address,omitempty"`
	City           string `json:"city,omitempty"`
	Country        string `json:"country,omitempty"`
}

// Customer types.
const (
	Individual = "individual"
	Corporate  = "corporate"
)

// InputError is an adapter's verdict that a request cannot be sent as the
// register wrote it (a field its provider needs, a value it refuses). The
// agent turns it into an "invalid_field" error at accept time, so nothing
// is stored.
type InputError struct {
	Field   string // protocol field, e.g. "items[0].vat_rate"
	Message string
	// Code is the stable error code for the register; empty means
	// "invalid_field".
	Code string
}

func (e *InputError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }

// Inputf builds an *InputError.
func Inputf(field, format string, args ...any) *InputError {
	return &InputError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrUnsupported is wrapped by adapters for an operation their provider
// does not offer (Paywall has no refund); the message says what to do
// instead. The agent answers "unsupported_operation" and stores nothing.
var ErrUnsupported = errors.New("operation not supported by the provider")

// Validator is implemented by adapters that check a request before it is
// accepted: Validate sees the request as it will be sent (no Reference
// yet) and returns an *InputError or an error wrapping ErrUnsupported.
type Validator interface {
	Validate(r Request) error
}

// Call is a provider operation that moves no money (a BIN check, the
// installment options, refundable amounts, the terminal list): it is not
// queued, and its answer goes straight back to the register.
type Call struct {
	ID       string // the register's correlation id; for logs only
	Op       string // provider-specific name, e.g. "bin_check"
	Terminal Terminal
	Params   json.RawMessage // the register's "params" object; nil when none
	// Original is the approved sale named by params.original_id, resolved
	// by the agent from its outbox; nil when params names none.
	Original *Original
}

// Caller is implemented by adapters that offer calls. Call returns the
// answer as a JSON object for the register, an *InputError for bad
// params, an error wrapping ErrUnsupported for an unknown op, or an
// *Error when the provider could not be asked.
type Caller interface {
	Call(ctx context.Context, c Call) (json.RawMessage, error)
}

// RememberFunc stores a provider-assigned id durably. See Request.Remember.
type RememberFunc func(ctx context.Context, providerRef string) error

// Prober is implemented by adapters that can tell whether a terminal is
// reachable right now without moving money (Paywall's connectivity
// check). The agent asks it for the status command.
type Prober interface {
	Connected(ctx context.Context, t Terminal) (bool, error)
}
