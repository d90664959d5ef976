package protocol

import (
	"strings"
	"testing"
)

func TestDecodePartialPayment(t *testing.T) {
	ok := []struct{ name, in string }{
		{"start", `{"type":"partial_start","id":"B1","terminal":"kasa-1","amount":"100.00","items":[{"name":"Demlik","amount":"100.00","vat_rate":20}]}`},
		{"add", `{"type":"partial_add","id":"B1-1","terminal":"kasa-1","original_id":"B1","amount":"60.00","expires_in":90}`},
		{"complete", `{"type":"partial_complete","id":"B1-c","terminal":"kasa-1","original_id":"B1"}`},
		{"refund with items", `{"type":"refund","id":"R1","terminal":"kasa-1","original_id":"S1","amount":"15.00","items":[{"name":"Çay","amount":"15.00","vat_rate":10}]}`},
		{"end of day with summary", `{"type":"end_of_day","id":"E1","terminal":"kasa-1","summary":true}`},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Decode([]byte(tc.in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !IsRequest(c.Type) {
				t.Errorf("%s is not a request", c.Type)
			}
		})
	}
	bad := []struct{ name, in, code, field string }{
		{"add without original", `{"type":"partial_add","id":"B1-1","terminal":"kasa-1","amount":"60.00"}`, CodeMissingField, "original_id"},
		{"add without amount", `{"type":"partial_add","id":"B1-1","terminal":"kasa-1","original_id":"B1"}`, CodeMissingField, "amount"},
		{"complete with amount", `{"type":"partial_complete","id":"B1-c","terminal":"kasa-1","original_id":"B1","amount":"1.00"}`, CodeUnknownField, "amount"},
		{"start with expires_in", `{"type":"partial_start","id":"B1","terminal":"kasa-1","amount":"1.00","expires_in":60}`, CodeUnknownField, "expires_in"},
		{"refund items not adding up", `{"type":"refund","id":"R1","terminal":"kasa-1","original_id":"S1","amount":"15.00","items":[{"name":"Çay","amount":"14.00","vat_rate":10}]}`, CodeInvalidField, "items"},
		{"summary not a bool", `{"type":"end_of_day","id":"E1","terminal":"kasa-1","summary":"yes"}`, CodeInvalidField, "summary"},
		{"summary on a sale", `{"type":"sale","id":"S1","terminal":"kasa-1","amount":"1.00","summary":true}`, CodeUnknownField, "summary"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in))
			if err == nil || err.Code != tc.code || err.Field != tc.field {
				t.Fatalf("Decode = %v, want %s on %s", err, tc.code, tc.field)
			}
		})
	}
}

// TestCanonicalSummary: summary is part of the idempotency body when
// set, and absent otherwise, so ids stored before it existed keep their
// hash.
func TestCanonicalSummary(t *testing.T) {
	plain, _ := Decode([]byte(`{"type":"end_of_day","id":"E1","terminal":"kasa-1"}`))
	off, _ := Decode([]byte(`{"type":"end_of_day","id":"E1","terminal":"kasa-1","summary":false}`))
	on, _ := Decode([]byte(`{"type":"end_of_day","id":"E1","terminal":"kasa-1","summary":true}`))
	if strings.Contains(string(plain.Canonical()), "summary") || string(plain.Canonical()) != string(off.Canonical()) {
		t.Errorf("canonical without summary = %s / %s", plain.Canonical(), off.Canonical())
	}
	if string(on.Canonical()) == string(off.Canonical()) {
		t.Error("summary true and false hash the same")
	}
}

func TestOriginalTypeAndExpires(t *testing.T) {
	for typ, want := range map[string]string{TypeRefund: TypeSale, TypeVoid: TypeSale, TypePartialAdd: TypePartialStart, TypePartialComplete: TypePartialStart} {
		if got := OriginalType(typ); got != want {
			t.Errorf("OriginalType(%s) = %s, want %s", typ, got, want)
		}
	}
	for typ, want := range map[string]bool{TypeSale: true, TypePartialAdd: true, TypePartialStart: false, TypeRefund: false, TypeEndOfDay: false} {
		if Expires(typ) != want {
			t.Errorf("Expires(%s) = %v", typ, !want)
		}
	}
}
