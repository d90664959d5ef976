// Package bridge is the provider-neutral model between the agent and the
// payment providers: what a request is (Request), what came of it
// (Result), and what an adapter must do (Provider). Each provider adapter
// (bridge/iyzico, ...) turns these into its own wire format and back, and
// classifies every failure by the one question that keeps money safe: may
// the provider have acted on it (Error.Kind)?
package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tezgah/tezgah/money"
)

// Op is what a request asks the terminal to do.
type Op string

// The operations every provider path understands.
const (
	OpSale     Op = "sale"
	OpRefund   Op = "refund"
	OpVoid     Op = "void"
	OpEndOfDay Op = "end_of_day"
)

// Partial payment: one basket paid with several tenders. Only providers
// with a partial-payment flow (iyzico VUK 507) accept them.
const (
	OpPartialStart    Op = "partial_start"
	OpPartialAdd      Op = "partial_add"
	OpPartialComplete Op = "partial_complete"
)

// Terminal is one physical payment terminal as configured.
type Terminal struct {
	Name     string // the register's name for it, e.g. "kasa-1"
	Provider string // "iyzico"
	DeviceID string // the provider's device id (iyzico deviceUniqueId)
	Model    string // provider-specific model, e.g. iyzico "vuk507"
}

// Request is one operation ready for a provider.
type Request struct {
	ID        string       // the register's id; for logs only
	Op        Op           //
	Terminal  Terminal     //
	Amount    money.Amount // sale and refund; zero for void and end of day
	Reference string       // ours, assigned at accept time, same for every attempt and query
	// Original is the approved sale a refund or void refers to.
	Original *Original
	// Items and Customer describe a sale for fiscal receipts; empty when
	// the register sent none.
	Items    []Item
	Customer *Customer
	// Extra carries provider-specific fields from the register as raw
	// JSON; nil when there are none.
	Extra json.RawMessage
	// ProviderRef is the provider's own id for this request (Paywall
	// PaymentRequestId, iyzico paymentId) if an earlier attempt stored
	// one; Query uses it where the provider can only be asked by its id.
	ProviderRef string
	// Remember stores a provider-assigned id durably. An adapter whose
	// provider hands back an id before the outcome is final calls it the
	// moment the id arrives, before anything else, so that a crash or a
	// lost answer afterwards is reconciled by that id. Nil in tests that
	// do not need it: adapters check.
	Remember RememberFunc
	// Summary asks an end of day for the detailed summary slip (iyzico
	// useSummary).
	Summary bool
	// Deadline is a sale's deadline (DESIGN.md: the customer has gone by
	// then); zero for none. The agent never sends a sale after it; an
	// adapter whose provider can still take back a sale the terminal has
	// not picked up (Paywall's rollback) does so once it passes, and
	// answers Expired.
	Deadline time.Time
}

// Original is what a refund or void needs of the sale it refers to.
type Original struct {
	ID        string
	Reference string
	Amount    money.Amount
	Payment   Payment
	// Items are the sale's lines as the register sent them; empty when
	// it sent none.
	Items []Item
	// Refunds are the other refunds of the sale that are approved or
	// still pending, for checking a new refund against what is left. The
	// agent fills it at accept time only (Validator); at send time the
	// provider's own figures decide.
	Refunds []Refund
}

// Refund is an earlier refund of a sale: its amount and, when the
// register named them, its lines.
type Refund struct {
	ID     string
	Amount money.Amount
	Items  []Item
}

// Status is the final outcome of a request at the provider.
type Status string

// Final statuses a provider can report.
const (
	Approved Status = "approved" // done: money moved (or the day closed)
	Declined Status = "declined" // the bank or card said no; nothing moved
	Failed   Status = "failed"   // the provider refused the request; nothing moved
	// Expired: the sale's deadline passed before the terminal took it,
	// and the adapter took it back from the provider; nothing moved.
	Expired Status = "expired"
	// Cancelled: the register's cancel stopped the request at the
	// provider. Nothing moved, or what moved was undone (the Result's
	// Payment then says how).
	Cancelled Status = "cancelled"
)

// Result is a provider's final answer to a request.
type Result struct {
	Status  Status   `json:"status"`
	Payment *Payment `json:"payment,omitempty"`
	// Code and Message explain a decline or failure: Code is tezgah's
	// stable code (e.g. "card_declined"), ProviderCode the provider's own.
	Code         string `json:"code,omitempty"`
	Message      string `json:"message,omitempty"`
	ProviderCode string `json:"provider_code,omitempty"`
}

// Payment is what the provider tells us about a completed transaction.
// Fields a provider does not return stay empty.
type Payment struct {
	Provider      string `json:"provider"`
	PaymentID     string `json:"payment_id,omitempty"`
	PaymentDate   string `json:"payment_date,omitempty"` // YYYYMMDD posting date
	AuthCode      string `json:"auth_code,omitempty"`
	HostReference string `json:"host_reference,omitempty"`
	Amount        string `json:"amount,omitempty"` // decimal string as the provider confirmed it
	Currency      string `json:"currency,omitempty"`
	CardType      string `json:"card_type,omitempty"`
	MaskedPAN     string `json:"masked_pan,omitempty"` // BIN + last four only, never the full number
	BatchNo       string `json:"batch_no,omitempty"`
	// Detail holds provider-specific extras (end-of-day totals, sale
	// numbers) as JSON for the register; nil when there are none.
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Provider is what an adapter offers the agent.
//
// Send performs r once. It returns a Result for every final answer
// (approved, declined, failed) and an *Error for everything else.
//
// Query asks the provider what became of r.Reference without doing
// anything. It returns the final Result if the provider knows one,
// ErrNotFound if the provider says it never saw the reference (only then
// may the agent send again), and an *Error otherwise.
type Provider interface {
	Send(ctx context.Context, r Request) (Result, error)
	Query(ctx context.Context, r Request) (Result, error)
}

// ErrNotFound is returned by Query when the provider positively reports
// that it has no transaction with the request's reference.
var ErrNotFound = errors.New("bridge: reference not known to the provider")

// Kind says what a failed call means for the money.
type Kind int

const (
	// NotSent: the request certainly did not reach the provider, or the
	// provider said it did nothing (connect refused, DNS, 429, busy). Safe
	// to send again after a pause.
	NotSent Kind = iota + 1
	// Unknown: the provider may have acted (timeout, connection lost after
	// the request left, 5xx). The outcome must be queried before anything
	// is sent again.
	Unknown
)

func (k Kind) String() string {
	switch k {
	case NotSent:
		return "not_sent"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is a call that ended without a final answer.
type Error struct {
	Kind Kind
	// RetryAfter is the provider's requested pause (Retry-After, rate
	// limit reset); zero means use the agent's own backoff.
	RetryAfter time.Duration
	// Code is a short stable reason for logs and state events, e.g.
	// "connect_failed", "timeout", "http_503", "rate_limited".
	Code string
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("%s: %s", e.Kind, e.Code)
	}
	return fmt.Sprintf("%s: %s: %v", e.Kind, e.Code, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf classifies err: an *Error gives its Kind; anything else is
// treated as Unknown, the safe assumption.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Unknown
}

// RetryAfterOf returns the provider's requested pause carried by err.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// CodeOf returns the short reason carried by err.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	return "error"
}
