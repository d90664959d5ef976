package protocol

// Partial payment: one basket paid with several tenders (iyzico VUK 507
// partial-payment start / add-payment / complete). Each step is its own
// request through the outbox, because each moves money (or opens a sale
// on the fiscal device) and must survive a crash like a sale:
//
//	partial_start     the basket: amount, items, customer
//	partial_add       one tender of it: amount, original_id = the start
//	partial_complete  closes the sale: original_id = the start
//
// The steps of one basket run in order on their terminal, like every
// request; a step waits for its start to be final.
const (
	TypePartialStart    = "partial_start"
	TypePartialAdd      = "partial_add"
	TypePartialComplete = "partial_complete"
)

// Expires reports whether a command of type t carries a deadline
// (expires_in, else agent.sale_timeout): those that need the customer at
// the terminal with a card. Sent later, the device would wait for a card
// nobody presents.
func Expires(t string) bool { return t == TypeSale || t == TypePartialAdd }

// OriginalType is the command type that original_id must name for a
// command of type t: the partial_start for the later partial steps, a
// sale for refund and void.
func OriginalType(t string) string {
	switch t {
	case TypePartialAdd, TypePartialComplete:
		return TypePartialStart
	}
	return TypeSale
}
