package bridge

import "log/slog"

// Card is the card data of a card-not-present sale (Vomsis virtual POS).
// It lives only in memory: protocol decoding keeps it out of the stored
// body, the agent's vault hands it to the adapter once and forgets it, and
// every way of printing it (fmt, slog, JSON) shows a mask, so a stray log
// line or error cannot leak it.
type Card struct {
	Number      string
	ExpiryMonth string // "01".."12"
	ExpiryYear  string // four digits, "2030"
	CVC         string
	Holder      string
}

const cardMask = "[card redacted]"

// String implements fmt.Stringer with a mask.
func (Card) String() string { return cardMask }

// GoString implements fmt.GoStringer with a mask (%#v).
func (Card) GoString() string { return cardMask }

// LogValue implements slog.LogValuer with a mask.
func (Card) LogValue() slog.Value { return slog.StringValue(cardMask) }

// MarshalJSON writes a mask: card data is never serialised.
func (Card) MarshalJSON() ([]byte, error) { return []byte(`"` + cardMask + `"`), nil }

// CardPayer is implemented by adapters whose sales carry the card data in
// the request (card-not-present). The agent requires a card on such
// sales, refuses one everywhere else, and keeps it in memory only.
type CardPayer interface {
	NeedsCard(op Op) bool
}

// CardSource hands an adapter the card of a request, once: the entry is
// gone after Take, so a retry after a crash or an outage finds nothing and
// the request fails instead of being sent later with stored card data.
type CardSource interface {
	Take(id string) (Card, bool)
}
