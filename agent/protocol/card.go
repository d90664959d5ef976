package protocol

import (
	"encoding/json"
	"strings"

	"github.com/tezgah/tezgah/bridge"
)

var cardFields = []string{"number", "expiry_month", "expiry_year", "cvc", "holder"}

// decodeCard reads a card-not-present sale's card. Its messages name the
// field at fault but never echo a value: an error event may be logged by
// the register, and card data must not end up anywhere.
func decodeCard(raw json.RawMessage) (*bridge.Card, *Error) {
	const p = "card"
	m, perr := object(raw, p, cardFields)
	if perr != nil {
		return nil, perr
	}
	str := func(key string, max int) (string, *Error) {
		field := p + "." + key
		r, ok := m[key]
		if !ok || string(r) == "null" {
			return "", Errorf(CodeMissingField, field, "%s is required", field)
		}
		var s string
		if err := json.Unmarshal(r, &s); err != nil {
			return "", Errorf(CodeInvalidField, field, "%s must be a JSON string", field)
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return "", Errorf(CodeMissingField, field, "%s is required", field)
		}
		if len(s) > max {
			return "", Errorf(CodeInvalidField, field, "%s is too long", field)
		}
		return s, nil
	}
	var c bridge.Card
	var err *Error
	if c.Number, err = str("number", 32); err != nil {
		return nil, err
	}
	c.Number = strings.NewReplacer(" ", "", "-", "").Replace(c.Number)
	if len(c.Number) < 12 || len(c.Number) > 19 || !digitsPattern.MatchString(c.Number) || !luhn(c.Number) {
		return nil, Errorf(CodeInvalidField, "card.number", "card.number must be 12-19 digits with a valid check digit")
	}
	if c.ExpiryMonth, err = str("expiry_month", 2); err != nil {
		return nil, err
	}
	if len(c.ExpiryMonth) == 1 {
		c.ExpiryMonth = "0" + c.ExpiryMonth
	}
	if !digitsPattern.MatchString(c.ExpiryMonth) || c.ExpiryMonth < "01" || c.ExpiryMonth > "12" {
		return nil, Errorf(CodeInvalidField, "card.expiry_month", `card.expiry_month must be "01" to "12"`)
	}
	if c.ExpiryYear, err = str("expiry_year", 4); err != nil {
		return nil, err
	}
	if len(c.ExpiryYear) == 2 {
		c.ExpiryYear = "20" + c.ExpiryYear
	}
	if len(c.ExpiryYear) != 4 || !digitsPattern.MatchString(c.ExpiryYear) {
		return nil, Errorf(CodeInvalidField, "card.expiry_year", `card.expiry_year must be four digits, e.g. "2030"`)
	}
	if c.CVC, err = str("cvc", 4); err != nil {
		return nil, err
	}
	if len(c.CVC) < 3 || !digitsPattern.MatchString(c.CVC) {
		return nil, Errorf(CodeInvalidField, "card.cvc", "card.cvc must be 3 or 4 digits")
	}
	if c.Holder, perr = text(m, p, "holder", 50); perr != nil {
		return nil, Errorf(CodeInvalidField, "card.holder", "card.holder must be one line of at most 50 characters")
	}
	if c.Holder == "" {
		return nil, Errorf(CodeMissingField, "card.holder", "card.holder is required: the name on the card")
	}
	return &c, nil
}

// luhn checks a card number's check digit, so a mistyped number is
// refused at the register instead of at the bank.
func luhn(n string) bool {
	sum := 0
	double := false
	for i := len(n) - 1; i >= 0; i-- {
		d := int(n[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
