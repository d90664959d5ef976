package protocol

import (
	"reflect"
	"strings"
	"testing"
)

func TestDecodeValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Command
	}{
		{"sale string amount", `{"type":"sale","id":"R1-000123","terminal":"kasa-1","amount":"150.00","currency":"TRY"}`,
			Command{Type: "sale", ID: "R1-000123", Terminal: "kasa-1"}},
		{"sale number amount", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":150.1,"expires_in":60}`,
			Command{Type: "sale", ID: "R1", Terminal: "kasa-1", ExpiresIn: 60}},
		{"refund", `{"type":"refund","id":"R2","terminal":"kasa-1","original_id":"R1","amount":"50"}`,
			Command{Type: "refund", ID: "R2", Terminal: "kasa-1", OriginalID: "R1"}},
		{"void", `{"type":"void","id":"R3","terminal":"kasa-1","original_id":"R1"}`,
			Command{Type: "void", ID: "R3", Terminal: "kasa-1", OriginalID: "R1"}},
		{"eod", `{"type":"end_of_day","id":"EOD-2026-11-23-kasa-1","terminal":"kasa-1"}`,
			Command{Type: "end_of_day", ID: "EOD-2026-11-23-kasa-1", Terminal: "kasa-1"}},
		{"query", `{"type":"query","id":"R1"}`, Command{Type: "query", ID: "R1"}},
		{"resume", `{"type":"resume","since":41}`, Command{Type: "resume", Since: 41, Scope: ScopeRegister}},
		{"resume all", `{"type":"resume","since":41,"scope":"all"}`, Command{Type: "resume", Since: 41, Scope: ScopeAll}},
		{"hello", `{"type":"hello","register":"kasa-pc_1.A"}`, Command{Type: "hello", Register: "kasa-pc_1.A"}},
		{"cancel", `{"type":"cancel","id":"R1"}`, Command{Type: "cancel", ID: "R1"}},
		{"status", `{"type":"status"}`, Command{Type: "status"}},
		{"ping with BOM", "\xef\xbb\xbf{\"type\":\"ping\"}", Command{Type: "ping"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			got.Amount = tc.want.Amount // checked below
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Decode = %+v, want %+v", got, tc.want)
			}
		})
	}
	c, _ := Decode([]byte(`{"type":"sale","id":"R1","terminal":"k","amount":150.1}`))
	if c.Amount.Minor != 15010 || c.Amount.Currency != "TRY" {
		t.Fatalf("amount 150.1 = %+v, want 15010 TRY", c.Amount)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, in, code, field string
	}{
		{"not json", `{"type":`, CodeInvalidJSON, ""},
		{"array", `[1,2]`, CodeInvalidJSON, ""},
		{"null", `null`, CodeInvalidJSON, ""},
		{"two objects", `{"type":"ping"}{"type":"ping"}`, CodeInvalidJSON, ""},
		{"no type", `{"id":"R1"}`, CodeMissingField, "type"},
		{"unknown type", `{"type":"charge"}`, CodeUnknownType, "type"},
		{"type not string", `{"type":5}`, CodeInvalidField, "type"},
		{"missing id", `{"type":"sale","terminal":"k","amount":"1.00"}`, CodeMissingField, "id"},
		{"bad id", `{"type":"sale","id":"R 1","terminal":"k","amount":"1.00"}`, CodeInvalidField, "id"},
		{"long id", `{"type":"query","id":"` + strings.Repeat("a", 65) + `"}`, CodeInvalidField, "id"},
		{"missing terminal", `{"type":"sale","id":"R1","amount":"1.00"}`, CodeMissingField, "terminal"},
		{"missing amount", `{"type":"sale","id":"R1","terminal":"k"}`, CodeMissingField, "amount"},
		{"three decimals", `{"type":"sale","id":"R1","terminal":"k","amount":"1.001"}`, CodeInvalidAmount, "amount"},
		{"float artefact", `{"type":"sale","id":"R1","terminal":"k","amount":150.09999999999999}`, CodeInvalidAmount, "amount"},
		{"exponent", `{"type":"sale","id":"R1","terminal":"k","amount":1e2}`, CodeInvalidAmount, "amount"},
		{"negative", `{"type":"sale","id":"R1","terminal":"k","amount":"-1.00"}`, CodeInvalidAmount, "amount"},
		{"zero", `{"type":"sale","id":"R1","terminal":"k","amount":"0.00"}`, CodeInvalidAmount, "amount"},
		{"comma", `{"type":"sale","id":"R1","terminal":"k","amount":"1,50"}`, CodeInvalidAmount, "amount"},
		{"bool amount", `{"type":"sale","id":"R1","terminal":"k","amount":true}`, CodeInvalidAmount, "amount"},
		{"currency", `{"type":"sale","id":"R1","terminal":"k","amount":"1.00","currency":"TL"}`, CodeUnsupportedCurr, "currency"},
		{"unknown field", `{"type":"sale","id":"R1","terminal":"k","amount":"1.00","ammount":"2"}`, CodeUnknownField, "ammount"},
		{"field of other command", `{"type":"void","id":"R1","terminal":"k","original_id":"R0","amount":"1.00"}`, CodeUnknownField, "amount"},
		{"refund without original", `{"type":"refund","id":"R2","terminal":"k","amount":"1.00"}`, CodeMissingField, "original_id"},
		{"refund of itself", `{"type":"refund","id":"R2","terminal":"k","amount":"1.00","original_id":"R2"}`, CodeInvalidField, "original_id"},
		{"expires_in zero", `{"type":"sale","id":"R1","terminal":"k","amount":"1.00","expires_in":0}`, CodeInvalidField, "expires_in"},
		{"expires_in float", `{"type":"sale","id":"R1","terminal":"k","amount":"1.00","expires_in":1.5}`, CodeInvalidField, "expires_in"},
		{"resume without since", `{"type":"resume"}`, CodeMissingField, "since"},
		{"resume negative", `{"type":"resume","since":-1}`, CodeInvalidField, "since"},
		{"resume bad scope", `{"type":"resume","since":1,"scope":"mine"}`, CodeInvalidField, "scope"},
		{"hello without register", `{"type":"hello"}`, CodeMissingField, "register"},
		{"hello with @", `{"type":"hello","register":"@filedrop"}`, CodeInvalidField, "register"},
		{"hello with colon", `{"type":"hello","register":"a:b"}`, CodeInvalidField, "register"},
		{"hello too long", `{"type":"hello","register":"` + strings.Repeat("k", 65) + `"}`, CodeInvalidField, "register"},
		{"hello with id", `{"type":"hello","register":"k","id":"x"}`, CodeUnknownField, "id"},
		{"id number", `{"type":"query","id":7}`, CodeInvalidField, "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in))
			if err == nil {
				t.Fatalf("Decode(%s) succeeded", tc.in)
			}
			if err.Code != tc.code || err.Field != tc.field || err.Message == "" {
				t.Fatalf("Decode(%s) = %+v, want code %s field %q", tc.in, err, tc.code, tc.field)
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	a, _ := Decode([]byte(`{"type":"sale","id":"R1","terminal":"k","amount":"150.0","expires_in":30}`))
	b, _ := Decode([]byte(`{"amount":150,"terminal":"k","id":"R1","type":"sale","currency":"TRY"}`))
	c, _ := Decode([]byte(`{"type":"sale","id":"R1","terminal":"k","amount":"150.01"}`))
	if string(a.Canonical()) != string(b.Canonical()) {
		t.Fatalf("same sale, different canonical bodies:\n%s\n%s", a.Canonical(), b.Canonical())
	}
	if string(a.Canonical()) == string(c.Canonical()) {
		t.Fatal("different amounts share a canonical body")
	}
}

// FuzzDecodeCommand: Decode never panics, always answers with either a
// command or an error that has a code and a message, and what it accepts
// has a canonical form that decodes to the same command.
func FuzzDecodeCommand(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data)
		if err != nil {
			if err.Code == "" || err.Message == "" {
				t.Fatalf("error without code or message: %+v", err)
			}
			return
		}
		if IsRequest(c.Type) {
			again, err := Decode(c.Canonical())
			if err != nil {
				t.Fatalf("canonical %s does not decode: %v", c.Canonical(), err)
			}
			if string(again.Canonical()) != string(c.Canonical()) {
				t.Fatalf("canonical form not stable: %s vs %s", again.Canonical(), c.Canonical())
			}
		}
	})
}

// BenchmarkDecodeSale: one sale frame, as every register command is
// decoded on the connection's reader.
func BenchmarkDecodeSale(b *testing.B) {
	data := []byte(`{"type":"sale","id":"R1-000123","terminal":"kasa-1","amount":"1.00","expires_in":3600}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
