package paywall

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeEnvelope feeds provider answers to the hand-written parts of
// the decoding: the envelope, its success test, the inquiry Result and the
// amount reader. None may panic, and a success must not be read from an
// answer that says Failed.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"Result":{"PaymentRequestId":"1eb856a8-0000-4000-8000-000000000000","Amount":1.44,"CurrencyId":1,"Currency":"TRY","PaymentTypeId":1,"PaymentStatusId":2,"PaymentStatus":"SentToDevice","CreatedDate":"2024-09-02T13:52:34.504179","ModifiedDate":null},"Failed":false,"Message":null,"ClientMessage":null,"Succeeded":true}`,
		`{"result":{"paymentRequestId":"72ec8714-d116-4306-8881-38a43c485da9","paymentRequestActivityId":"3a7deace-d437-4d3f-8ef8-1cba82f18e8f","paymentRequestActivityTypeId":2,"paymentStatus":4},"failed":false,"message":null,"clientMessage":null,"succeeded":true}`,
		`{"Result":true,"Failed":false,"Message":null,"ClientMessage":null,"Succeeded":true}`,
		`{"ErrorCode":119,"Failed":true,"Message":"MerchantUniqueCode already exists","ClientMessage":"MerchantUniqueCodeAlreadyExist","Succeeded":false}`,
		`{"Result":{"Items":[],"Pagination":{"CurrentPage":0,"PageCount":0,"PageSize":10,"TotalCount":0}},"Succeeded":true}`,
		`<html></html>`, `null`, `{"Result":{"Amount":"1e400"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, err := DecodeEnvelope(raw)
		if err != nil {
			return
		}
		if env.OK() && (env.Failed || !env.Succeeded) {
			t.Fatalf("success read from %s", raw)
		}
		var in Inquiry
		if json.Unmarshal(env.Result, &in) == nil {
			if s, err := parseAmount(string(in.Amount), in.Currency); err == nil && s == "" {
				t.Fatal("empty amount accepted")
			}
		}
		var p Page[PaymentItem]
		_ = json.Unmarshal(env.Result, &p)
	})
}
