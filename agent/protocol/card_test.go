package protocol

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const testPAN, testCVC = "4508034508034509", "000"

func TestCardNeverInCanonicalOrErrors(t *testing.T) {
	c, perr := Decode([]byte(`{"type":"sale","id":"C1","terminal":"vpos-1","amount":"10.00",
		"card":{"number":"4508 0345 0803 4509","expiry_month":"2","expiry_year":"30","cvc":"000","holder":"Kamil Acar"}}`))
	if perr != nil {
		t.Fatal(perr)
	}
	if c.Card == nil || c.Card.Number != testPAN || c.Card.ExpiryMonth != "02" || c.Card.ExpiryYear != "2030" || c.Card.CVC != testCVC {
		t.Fatalf("card not decoded: %#v", c.Card)
	}
	for name, s := range map[string]string{
		"canonical": string(c.Canonical()),
		"fmt %v":    fmt.Sprintf("%v %+v", c, *c.Card),
		"fmt %#v":   fmt.Sprintf("%#v", c.Card),
	} {
		if strings.Contains(s, testPAN) || strings.Contains(s, "Kamil") {
			t.Errorf("%s shows card data: %s", name, s)
		}
	}
	b, _ := json.Marshal(c)
	if strings.Contains(string(b), testPAN) {
		t.Errorf("JSON shows card data: %s", b)
	}
	// The same sale without the card is the same request: the card is
	// not part of the idempotency body.
	c2, _ := Decode([]byte(`{"type":"sale","id":"C1","terminal":"vpos-1","amount":"10.00"}`))
	if string(c2.Canonical()) != string(c.Canonical()) {
		t.Errorf("canonical differs with and without the card")
	}
}

func TestCardErrors(t *testing.T) {
	base := `{"number":"4508034508034509","expiry_month":"02","expiry_year":"2030","cvc":"123","holder":"A B"}`
	tests := []struct {
		name, card, field, code string
	}{
		{"bad luhn", strings.Replace(base, "4509", "4508", 1), "card.number", CodeInvalidField},
		{"letters", strings.Replace(base, "4508034508034509", "45080345080345x9", 1), "card.number", CodeInvalidField},
		{"number as JSON number", strings.Replace(base, `"4508034508034509"`, `4508034508034509`, 1), "card.number", CodeInvalidField},
		{"month 13", strings.Replace(base, `"02"`, `"13"`, 1), "card.expiry_month", CodeInvalidField},
		{"year 3 digits", strings.Replace(base, `"2030"`, `"203"`, 1), "card.expiry_year", CodeInvalidField},
		{"cvc short", strings.Replace(base, `"123"`, `"12"`, 1), "card.cvc", CodeInvalidField},
		{"no holder", strings.Replace(base, `"A B"`, `""`, 1), "card.holder", CodeMissingField},
		{"no cvc", strings.Replace(base, `"cvc":"123",`, ``, 1), "card.cvc", CodeMissingField},
		{"unknown field", strings.Replace(base, `"cvc"`, `"cvv2":"1","cvc"`, 1), "card.cvv2", CodeUnknownField},
		{"not object", `"4508034508034509"`, "card", CodeInvalidField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, perr := Decode([]byte(`{"type":"sale","id":"C1","terminal":"vpos-1","amount":"10.00","card":` + tc.card + `}`))
			if perr == nil || perr.Field != tc.field || perr.Code != tc.code {
				t.Fatalf("got %v, want %s on %s", perr, tc.code, tc.field)
			}
			for _, secret := range []string{"4508034508034509", "45080345080345", "123"} {
				if strings.Contains(perr.Message, secret) {
					t.Errorf("message echoes card data: %s", perr.Message)
				}
			}
		})
	}
	if _, perr := Decode([]byte(`{"type":"refund","id":"R1","terminal":"vpos-1","original_id":"C1","amount":"1.00","card":` + base + `}`)); perr == nil || perr.Code != CodeUnknownField {
		t.Fatalf("refund with a card: %v", perr)
	}
}
