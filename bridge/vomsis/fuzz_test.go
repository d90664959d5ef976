package vomsis

import (
	"encoding/json"
	"testing"
)

// FuzzParsePostBack: whatever a browser (or an attacker) posts to
// returnUrl, parsing never panics and anything accepted names a reference.
func FuzzParsePostBack(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", []byte("trans_id=730657&order_id=2136_VP2024121232383&referans_kodu=VP2024121232383&status_code=00&error_code=00&hata_mesaji="))
	f.Add("application/json", []byte(`{"trans_id":730657,"referans_kodu":"VP2024121232383","status_code":"00"}`))
	f.Add("multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"referans_kodu\"\r\n\r\nVP2024121232383\r\n--x--\r\n"))
	f.Add("", []byte("%zz"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		pb, err := ParsePostBack(ct, body)
		if err == nil && pb.ReferansKodu == "" {
			t.Fatalf("accepted a post-back without a reference: %+v", pb)
		}
	})
}

// FuzzParseInstallments: both documented shapes and anything else decode
// without panicking.
func FuzzParseInstallments(f *testing.F) {
	f.Add([]byte(`{"data":{"Axess":{"1":{"pos_id":1,"currency":"TRY","installment":1,"block_rate":"0.5000"}}}}`))
	f.Add([]byte(`{"pos_banks":[{"bank_name":"akbank","family":"Axess","installment":[{"installment":1,"title":"Tek Çekim","status":"true","rate":0,"extra_installment":"3","discount_rate":0}]}]}`))
	f.Add([]byte(`{"data":[]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ParseInstallments(raw)
	})
}

// FuzzDecodeAnswers: the answers whose fields are decoded defensively
// (numbers or strings) never panic, and a find answer is classified.
func FuzzDecodeAnswers(f *testing.F) {
	f.Add([]byte(`{"success":true,"data":{"referanceNo":"VP2024112323912","transactionDate":"2024-02-23 18:26:57","posName":"GARANTI","errorCode":"00","errorMessage":"","maskedPan":"544078******6021","creditCardBank":"Garanti Bankası","clientIp":"13.13.13.13","amount":"2.55","paidAmount":"2.58","installment":1,"installmentRatio":"1.0000","description":"not","status":"Başarılı"}}`))
	f.Add([]byte(`{"islem_id":513,"type":"iptal","trans_id":"730657","response":"Approved","proc_return_code":"00","iade_tutar":null,"error_code":"00","error_message":"","status":"approved","status_detail":"approved"}`))
	f.Add([]byte(`{"status":true,"pos_type":"akbank","data":"<html></html>"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var fr FindResponse
		if json.Unmarshal(raw, &fr) == nil && fr.Data != nil {
			saleResult(fr.Data, "TRY")
			if m := maskPAN(string(fr.Data.MaskedPan)); len(m) != len(fr.Data.MaskedPan) {
				t.Fatalf("masking changed the length: %q", m)
			}
		}
		var tr TransactionResponse
		json.Unmarshal(raw, &tr)
		var pr PaymentResponse
		json.Unmarshal(raw, &pr)
		var br BinCheckResponse
		json.Unmarshal(raw, &br)
	})
}
