package protocol

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tezgah/tezgah/bridge"
)

func TestDecodeSaleWithItemsAndCustomer(t *testing.T) {
	in := `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"150.50",
		"items":[{"name":"Saç Tıraşı","quantity":"1","unit_price":"100","amount":"100","vat_rate":20,"unit":"C62","code":"869000"},
		         {"name":"Elma","quantity":0.5,"amount":50.5,"vat_rate":1,"unit":"KGM"}],
		"customer":{"type":"individual","first_name":"Eda","last_name":"Yılmaz","identity_number":"12345678901"}}`
	c, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []bridge.Item{
		{Name: "Saç Tıraşı", Quantity: "1", UnitPrice: "100.00", Amount: "100.00", VATRate: 20, Unit: "C62", Code: "869000"},
		{Name: "Elma", Quantity: "0.5", Amount: "50.50", VATRate: 1, Unit: "KGM"},
	}
	if !reflect.DeepEqual(c.Items, want) {
		t.Fatalf("items = %+v", c.Items)
	}
	if c.Customer == nil || c.Customer.LastName != "Yılmaz" || c.Customer.Type != bridge.Individual {
		t.Fatalf("customer = %+v", c.Customer)
	}
	// The stored body must decode to the same command: the worker rebuilds
	// the provider request from it.
	again, err := Decode(c.Canonical())
	if err != nil {
		t.Fatalf("canonical body does not decode: %v", err)
	}
	if !reflect.DeepEqual(again.Items, c.Items) || !reflect.DeepEqual(again.Customer, c.Customer) {
		t.Fatalf("canonical round trip changed the sale: %+v", again)
	}
}

func TestDecodeItemErrors(t *testing.T) {
	const head = `{"type":"sale","id":"R1","terminal":"k","amount":"10.00",`
	tests := []struct {
		name, in, code, field string
	}{
		{"items not array", head + `"items":{}}`, CodeInvalidField, "items"},
		{"empty items", head + `"items":[]}`, CodeInvalidField, "items"},
		{"sum mismatch", head + `"items":[{"name":"a","amount":"9.99","vat_rate":20}]}`, CodeInvalidField, "items"},
		{"float amount", head + `"items":[{"name":"a","amount":"9.999","vat_rate":20}]}`, CodeInvalidAmount, "items[0].amount"},
		{"missing name", head + `"items":[{"amount":"10","vat_rate":20}]}`, CodeMissingField, "items[0].name"},
		{"missing vat", head + `"items":[{"name":"a","amount":"10"}]}`, CodeMissingField, "items[0].vat_rate"},
		{"vat float", head + `"items":[{"name":"a","amount":"10","vat_rate":20.5}]}`, CodeInvalidField, "items[0].vat_rate"},
		{"bad quantity", head + `"items":[{"name":"a","quantity":"0","amount":"10","vat_rate":20}]}`, CodeInvalidField, "items[0].quantity"},
		{"quantity 4 decimals", head + `"items":[{"name":"a","quantity":"1.0001","amount":"10","vat_rate":20}]}`, CodeInvalidField, "items[0].quantity"},
		{"bad unit", head + `"items":[{"name":"a","unit":"kg","amount":"10","vat_rate":20}]}`, CodeInvalidField, "items[0].unit"},
		{"unknown item field", head + `"items":[{"name":"a","amount":"10","vat_rate":20,"price":1}]}`, CodeUnknownField, "items[0].price"},
		{"second line bad", head + `"items":[{"name":"a","amount":"5","vat_rate":20},{"name":"b","amount":"-5","vat_rate":20}]}`, CodeInvalidAmount, "items[1].amount"},
		{"customer no type", head + `"customer":{"first_name":"a"}}`, CodeMissingField, "customer.type"},
		{"customer bad type", head + `"customer":{"type":"alien"}}`, CodeInvalidField, "customer.type"},
		{"customer tckn", head + `"customer":{"type":"individual","first_name":"a","last_name":"b","identity_number":"123"}}`, CodeInvalidField, "customer.identity_number"},
		{"corporate no name", head + `"customer":{"type":"corporate","tax_number":"1234567890"}}`, CodeMissingField, "customer.company_name"},
		{"customer unknown", head + `"customer":{"type":"corporate","company_name":"x","iban":"TR"}}`, CodeUnknownField, "customer.iban"},
		{"items on void", `{"type":"void","id":"R2","terminal":"k","original_id":"R1","items":[]}`, CodeUnknownField, "items"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in))
			if err == nil {
				t.Fatal("Decode accepted it")
			}
			if err.Code != tc.code || err.Field != tc.field {
				t.Fatalf("Decode = %v, want %s on %q", err, tc.code, tc.field)
			}
		})
	}
}

func TestDecodeCall(t *testing.T) {
	c, err := Decode([]byte(`{"type":"call","id":"c1","terminal":"vpos-1","op":"bin_check","params":{"bin":"454360"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Op != "bin_check" || !json.Valid(c.Params) || string(c.Params) != `{"bin":"454360"}` {
		t.Fatalf("call = %+v", c)
	}
	for _, tc := range []struct{ in, code, field string }{
		{`{"type":"call","id":"c1","terminal":"t"}`, CodeMissingField, "op"},
		{`{"type":"call","id":"c1","terminal":"t","op":"Bin Check"}`, CodeInvalidField, "op"},
		{`{"type":"call","id":"c1","terminal":"t","op":"x","params":[1]}`, CodeInvalidField, "params"},
		{`{"type":"call","terminal":"t","op":"x"}`, CodeMissingField, "id"},
	} {
		if _, err := Decode([]byte(tc.in)); err == nil || err.Code != tc.code || err.Field != tc.field {
			t.Errorf("Decode(%s) = %v, want %s on %s", tc.in, err, tc.code, tc.field)
		}
	}
}
