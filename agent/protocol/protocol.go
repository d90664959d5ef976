// Package protocol is tezgah's protocol v1: the JSON commands a register
// sends and the events the agent answers with, one object per WebSocket
// text frame (and one per line in file-drop files). It decodes commands
// strictly — every bad input becomes an *Error with a stable code and the
// field at fault — and turns outbox events into wire events. It does no
// I/O; docs/protocol.md is its user-facing description.
package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/money"
)

// Command types.
const (
	TypeSale     = "sale"
	TypeRefund   = "refund"
	TypeVoid     = "void"
	TypeEndOfDay = "end_of_day"
	TypeQuery    = "query"
	TypeResume   = "resume"
	TypeCancel   = "cancel"
	TypeStatus   = "status"
	TypePing     = "ping"
	// TypeHello names the register on a WebSocket connection (issue 16);
	// ids are scoped per register.
	TypeHello = "hello"
	// TypeCall asks a provider something that moves no money (BIN check,
	// installments, refundable amounts, terminal list); it is answered at
	// once with a "reply" event and never stored.
	TypeCall = "call"
)

// Error codes. They are part of the protocol: never rename one.
const (
	CodeInvalidJSON      = "invalid_json"   // not one JSON object
	CodeUnknownType      = "unknown_type"   // type is not a command
	CodeMissingField     = "missing_field"  // a required field is absent or empty
	CodeInvalidField     = "invalid_field"  // wrong JSON type or format
	CodeUnknownField     = "unknown_field"  // a field this command does not have
	CodeInvalidAmount    = "invalid_amount" // not a plain decimal, <= 0, or too many decimals
	CodeUnsupportedCurr  = "unsupported_currency"
	CodeFrameTooLarge    = "frame_too_large"
	CodeUnsupportedFrame = "unsupported_frame" // binary frame
	CodeUnknownTerminal  = "unknown_terminal"
	CodeUnknownOriginal  = "unknown_original" // original_id is not a request the agent knows
	CodeInvalidOriginal  = "invalid_original" // original_id is not a sale, or not approved
	CodeAmountExceeds    = "amount_exceeds_original"
	CodeIDConflict       = "id_conflict"
	CodeNotFound         = "not_found"
	CodeNotCancellable   = "not_cancellable"
	CodeUnsupportedOp    = "unsupported_operation"
	CodeRateLimited      = "rate_limited"
	CodeUnavailable      = "unavailable" // the agent could not store it now: nothing stored, retry
	CodeShuttingDown     = "shutting_down"
	CodeUnauthorized     = "unauthorized"
	// CodeProviderUnavailable: a call could not get the provider's answer
	// now (network, provider error); nothing changed, ask again later.
	CodeProviderUnavailable = "provider_unavailable"
	CodeInternal            = "internal_error"
	// CodeBusy: the agent cannot accept within its bound now; nothing was
	// stored. The register sends the same command again after
	// Error.RetryAfterMS.
	CodeBusy = "busy"
	// CodeRegisterMismatch: a hello (or Tezgah-Register header) names
	// another register than the one the connection is bound to.
	CodeRegisterMismatch = "register_mismatch"
)

// Error is the error object of an "error" event.
type Error struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// RetryAfterMS comes with CodeBusy: when to send the command again.
	RetryAfterMS int `json:"retry_after_ms,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s (%s): %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf builds an *Error.
func Errorf(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Command is a decoded, validated command.
type Command struct {
	Type string
	// Register is who sent the command. It is not part of a command's
	// JSON: the front door sets it from the connection (hello, the
	// pairing token) before the command reaches the agent; empty means
	// the register "local". With ID it is the idempotency key.
	Register   string
	ID         string
	Terminal   string
	Amount     money.Amount // sale, refund
	OriginalID string       // refund, void
	ExpiresIn  int          // sale: seconds until the sale expires if not sent; 0 = agent default
	Since      int64        // resume
	Scope      string       // resume: ScopeRegister (default) or ScopeAll
	// Items and Customer describe a sale for the fiscal receipt.
	Items    []bridge.Item
	Customer *bridge.Customer
	// Op and Params are a call's provider operation and its arguments.
	Op     string
	Params json.RawMessage
	// Card is a card-not-present sale's card data. It is deliberately not
	// part of Canonical: it is never stored, only held in memory until
	// the one attempt to send it.
	Card *bridge.Card
	// Summary asks end_of_day for the detailed summary slip.
	Summary bool
}

// wire is the JSON shape of every command; which fields a type allows is
// checked after decoding, so an error can name the field.
type wire struct {
	Type       *string         `json:"type"`
	ID         *string         `json:"id"`
	Terminal   *string         `json:"terminal"`
	Amount     json.RawMessage `json:"amount"`
	Currency   *string         `json:"currency"`
	OriginalID *string         `json:"original_id"`
	ExpiresIn  *int            `json:"expires_in"`
	Since      *int64          `json:"since"`
	Items      json.RawMessage `json:"items"`
	Customer   json.RawMessage `json:"customer"`
	Op         *string         `json:"op"`
	Params     json.RawMessage `json:"params"`
	Card       json.RawMessage `json:"card"`
	Summary    *bool           `json:"summary"`
	Register   *string         `json:"register"`
	Scope      *string         `json:"scope"`
}

// allowed lists the fields each command accepts besides "type".
var allowed = map[string][]string{
	TypeSale:     {"id", "terminal", "amount", "currency", "expires_in", "items", "customer", "card"},
	TypeRefund:   {"id", "terminal", "amount", "currency", "original_id", "items"},
	TypeVoid:     {"id", "terminal", "original_id"},
	TypeEndOfDay: {"id", "terminal", "summary"},
	TypeQuery:    {"id"},
	TypeResume:   {"since", "scope"},
	TypeHello:    {"register"},
	TypeCancel:   {"id"},
	TypeStatus:   {},
	TypePing:     {},
	TypeCall:     {"id", "terminal", "op", "params"},
	// Partial payment: one basket paid with several tenders (partial.go).
	TypePartialStart:    {"id", "terminal", "amount", "currency", "items", "customer"},
	TypePartialAdd:      {"id", "terminal", "amount", "currency", "original_id", "expires_in"},
	TypePartialComplete: {"id", "terminal", "original_id"},
}

// Types lists the command types in a stable order, for messages.
var Types = []string{TypeHello, TypeSale, TypeRefund, TypeVoid, TypeEndOfDay, TypeQuery, TypeResume, TypeCancel, TypeStatus, TypePing, TypeCall,
	TypePartialStart, TypePartialAdd, TypePartialComplete}

// idPattern is deliberately plain ASCII: ids end up in provider
// references, file names and logs, and old registers' encodings vary.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$`)

// registerPattern is a hello's register name. It leaves out ':', '/' and
// '@' on purpose: names the agent gives itself (the file drop's
// "@filedrop") can never be claimed by a register.
var registerPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidRegister reports whether name may be sent in a hello.
func ValidRegister(name string) bool { return registerPattern.MatchString(name) }

// Resume scopes.
const (
	ScopeRegister = "register" // the default: this register's requests only
	ScopeAll      = "all"      // every register's: for monitors
)

var opPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// MaxExpiresIn bounds a sale's deadline: past an hour the customer has
// certainly left the counter.
const MaxExpiresIn = 3600

// skipValue takes any JSON value and keeps nothing: Decode needs only
// the names of the fields a frame has, not a copy of each value (six
// allocations fewer for a sale).
type skipValue struct{}

func (*skipValue) UnmarshalJSON([]byte) error { return nil }

// Decode parses one command frame. On failure it returns an *Error; the
// caller stores nothing.
func Decode(data []byte) (Command, *Error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM from Windows tools
	var present map[string]skipValue
	if err := json.Unmarshal(data, &present); err != nil || present == nil {
		return Command{}, Errorf(CodeInvalidJSON, "", "the frame must be one JSON object: %s", jsonProblem(err))
	}
	var w wire
	if err := json.Unmarshal(data, &w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Command{}, Errorf(CodeInvalidField, te.Field, "%s must be a JSON %s", te.Field, kindOf(te.Type.Kind().String()))
		}
		return Command{}, Errorf(CodeInvalidJSON, "", "the frame must be one JSON object: %s", jsonProblem(err))
	}
	if w.Type == nil || *w.Type == "" {
		return Command{}, Errorf(CodeMissingField, "type", "type is required: one of %s", strings.Join(Types, ", "))
	}
	typ := *w.Type
	fields, ok := allowed[typ]
	if !ok {
		return Command{}, Errorf(CodeUnknownType, "type", "unknown command type %q: one of %s", typ, strings.Join(Types, ", "))
	}
	for k := range present {
		if k != "type" && !contains(fields, k) {
			return Command{}, Errorf(CodeUnknownField, k, "%s does not take %q (allowed: %s)", typ, k, strings.Join(append([]string{"type"}, fields...), ", "))
		}
	}
	c := Command{Type: typ}
	if contains(fields, "id") {
		if w.ID == nil || *w.ID == "" {
			return Command{}, Errorf(CodeMissingField, "id", "id is required")
		}
		if !idPattern.MatchString(*w.ID) {
			return Command{}, Errorf(CodeInvalidField, "id", "id must be 1-64 characters of A-Z a-z 0-9 . _ : / - starting with a letter or digit")
		}
		c.ID = *w.ID
	}
	if contains(fields, "terminal") {
		if w.Terminal == nil || *w.Terminal == "" {
			return Command{}, Errorf(CodeMissingField, "terminal", "terminal is required")
		}
		c.Terminal = *w.Terminal
	}
	if contains(fields, "original_id") {
		if w.OriginalID == nil || *w.OriginalID == "" {
			return Command{}, Errorf(CodeMissingField, "original_id", "original_id is required: the id of the sale to %s", typ)
		}
		if !idPattern.MatchString(*w.OriginalID) {
			return Command{}, Errorf(CodeInvalidField, "original_id", "original_id is not a valid id")
		}
		if *w.OriginalID == c.ID {
			return Command{}, Errorf(CodeInvalidField, "original_id", "original_id must name another request, not this one")
		}
		c.OriginalID = *w.OriginalID
	}
	if contains(fields, "amount") {
		cur := "TRY"
		if w.Currency != nil {
			cur = *w.Currency
			if _, ok := money.Digits(cur); !ok {
				return Command{}, Errorf(CodeUnsupportedCurr, "currency", "currency %q is not supported: use TRY, USD, EUR or GBP", cur)
			}
		}
		a, perr := parseAmount(w.Amount, cur, "amount")
		if perr != nil {
			return Command{}, perr
		}
		c.Amount = a
	}
	if len(w.Items) > 0 && string(w.Items) != "null" {
		items, perr := decodeItems(w.Items, c.Amount)
		if perr != nil {
			return Command{}, perr
		}
		c.Items = items
	}
	if len(w.Customer) > 0 && string(w.Customer) != "null" {
		cu, perr := decodeCustomer(w.Customer)
		if perr != nil {
			return Command{}, perr
		}
		c.Customer = cu
	}
	if len(w.Card) > 0 && string(w.Card) != "null" {
		card, perr := decodeCard(w.Card)
		if perr != nil {
			return Command{}, perr
		}
		c.Card = card
	}
	if typ == TypeCall {
		if w.Op == nil || *w.Op == "" {
			return Command{}, Errorf(CodeMissingField, "op", "op is required: the provider operation to call, e.g. \"bin_check\"")
		}
		if !opPattern.MatchString(*w.Op) {
			return Command{}, Errorf(CodeInvalidField, "op", "op must be 1-40 of a-z 0-9 _ starting with a letter")
		}
		c.Op = *w.Op
		if len(w.Params) > 0 && string(w.Params) != "null" {
			if w.Params[0] != '{' {
				return Command{}, Errorf(CodeInvalidField, "params", "params must be a JSON object")
			}
			c.Params = w.Params
		}
	}
	if w.Summary != nil {
		c.Summary = *w.Summary
	}
	if w.ExpiresIn != nil {
		if *w.ExpiresIn < 1 || *w.ExpiresIn > MaxExpiresIn {
			return Command{}, Errorf(CodeInvalidField, "expires_in", "expires_in must be whole seconds from 1 to %d", MaxExpiresIn)
		}
		c.ExpiresIn = *w.ExpiresIn
	}
	if typ == TypeResume {
		if w.Since == nil {
			return Command{}, Errorf(CodeMissingField, "since", "since is required: the last seq you processed, 0 for everything kept")
		}
		if *w.Since < 0 {
			return Command{}, Errorf(CodeInvalidField, "since", "since must be 0 or more")
		}
		c.Since = *w.Since
		c.Scope = ScopeRegister
		if w.Scope != nil {
			if *w.Scope != ScopeRegister && *w.Scope != ScopeAll {
				return Command{}, Errorf(CodeInvalidField, "scope", `scope must be "register" (the default: this register's requests) or "all"`)
			}
			c.Scope = *w.Scope
		}
	}
	if typ == TypeHello {
		if w.Register == nil || *w.Register == "" {
			return Command{}, Errorf(CodeMissingField, "register", "register is required: this register's name, e.g. \"kasa-pc-1\"")
		}
		if !ValidRegister(*w.Register) {
			return Command{}, Errorf(CodeInvalidField, "register", "register must be 1-64 characters of A-Z a-z 0-9 . _ -")
		}
		c.Register = *w.Register
	}
	return c, nil
}

// parseAmount accepts a decimal string or a JSON number, read exactly
// from its text: 150.1 means 150.10, and 150.123 is refused, never rounded.
func parseAmount(raw json.RawMessage, cur, field string) (money.Amount, *Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return money.Amount{}, Errorf(CodeMissingField, field, `%s is required, e.g. "150.00"`, field)
	}
	var s string
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &s); err != nil {
			return money.Amount{}, Errorf(CodeInvalidAmount, field, "%s is not a valid string", field)
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		s = string(raw)
	default:
		return money.Amount{}, Errorf(CodeInvalidAmount, field, `%s must be a decimal string like "150.00" or a JSON number`, field)
	}
	a, err := money.Positive(s, cur)
	switch {
	case err == nil:
		return a, nil
	case errors.Is(err, money.ErrPrecision):
		d, _ := money.Digits(cur)
		return money.Amount{}, Errorf(CodeInvalidAmount, field, "%s %s has more than %d decimal places for %s", field, s, d, cur)
	case errors.Is(err, money.ErrNotPos):
		return money.Amount{}, Errorf(CodeInvalidAmount, field, "%s must be greater than zero", field)
	case errors.Is(err, money.ErrRange):
		return money.Amount{}, Errorf(CodeInvalidAmount, field, "%s %s is too large", field, s)
	}
	return money.Amount{}, Errorf(CodeInvalidAmount, field, `%s %q is not a plain decimal: digits with an optional "." and no sign, exponent or separators`, field, s)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func kindOf(k string) string {
	switch k {
	case "string":
		return "string"
	case "int", "int64":
		return "integer"
	case "ptr":
		return "value of the documented type"
	}
	return k
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	if err == nil {
		return "got null"
	}
	return "not an object"
}

// Canonical returns the body whose hash makes the idempotency key: the
// fields that decide what happens to money, in normalised form, so that
// "150.0" and "150.00" are the same request and expires_in is not part of
// it (a register retrying with another deadline is the same sale).
func (c Command) Canonical() []byte {
	v := struct {
		Type       string           `json:"type"`
		ID         string           `json:"id"`
		Terminal   string           `json:"terminal"`
		Amount     string           `json:"amount,omitempty"`
		Currency   string           `json:"currency,omitempty"`
		OriginalID string           `json:"original_id,omitempty"`
		Items      []bridge.Item    `json:"items,omitempty"`
		Customer   *bridge.Customer `json:"customer,omitempty"`
		Summary    bool             `json:"summary,omitempty"`
	}{Type: c.Type, ID: c.ID, Terminal: c.Terminal, OriginalID: c.OriginalID, Items: c.Items, Customer: c.Customer, Summary: c.Summary}
	if !c.Amount.IsZero() {
		v.Amount, v.Currency = c.Amount.String(), c.Amount.Currency
	}
	b, _ := json.Marshal(v) // cannot fail: strings, ints and slices of them
	return b
}

// IsRequest reports whether t is a command that becomes an outbox request.
func IsRequest(t string) bool {
	switch t {
	case TypeSale, TypeRefund, TypeVoid, TypeEndOfDay, TypePartialStart, TypePartialAdd, TypePartialComplete:
		return true
	}
	return false
}
