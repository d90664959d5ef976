package paywallsim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tezgah/tezgah/bridge/paywall/paywallsim"
)

func post(t *testing.T, url, body string, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("apikeyprivate", key)
	req.Header.Set("apiclientprivate", "c")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The simulator answers in the docs' casings and accepts only the
// documented fields (reference §0, §5, §7, §10.1).
func TestWireFormat(t *testing.T) {
	sim := paywallsim.New(paywallsim.Options{APIKey: "k", APIClient: "c", Terminals: []string{paywallsim.DemoTerminal}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	sale := `{"TerminalId":"` + paywallsim.DemoTerminal + `","MerchantUniqueCode":"2b8f2a3c-0c0e-4a52-9d6e-1f5b5c8d9e01","Amount":22,"CurrencyId":1,` +
		`"Products":[{"Name":"Saç Tıraşı","TaxGroupId":10,"UnitCodeId":1,"Amount":22,"Quantity":1}]}`

	if code, body := post(t, srv.URL+"/api/payment/async/sale", sale, "wrong"); code != http.StatusUnauthorized || !strings.Contains(body, `"Failed":true`) {
		t.Fatalf("bad keys: %d %s", code, body)
	}
	for name, bad := range map[string]string{
		"unknown field":     strings.Replace(sale, `"Amount":22,`, `"Amount":22,"Ammount":22,`, 1),
		"sync-only field":   strings.Replace(sale, `{`, `{"SendNotificationDeviceDisconnected":false,`, 1),
		"products sum":      strings.Replace(sale, `"Amount":22,"Quantity"`, `"Amount":21,"Quantity"`, 1),
		"code is not guid":  strings.Replace(sale, `2b8f2a3c-0c0e-4a52-9d6e-1f5b5c8d9e01`, `REF000000000001`, 1),
		"unknown tax group": strings.Replace(sale, `"TaxGroupId":10`, `"TaxGroupId":8`, 1),
	} {
		if _, body := post(t, srv.URL+"/api/payment/async/sale", bad, "k"); !strings.Contains(body, `"Failed":true`) {
			t.Errorf("%s accepted: %s", name, body)
		}
	}
	_, body := post(t, srv.URL+"/api/payment/async/sale", sale, "k")
	var env struct {
		Result struct{ PaymentRequestId string }
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil || !strings.HasPrefix(body, `{"Result":`) || env.Result.PaymentRequestId == "" {
		t.Fatalf("sale answer %s", body)
	}
	if _, body := post(t, srv.URL+"/api/payment/async/sale", sale, "k"); !strings.Contains(body, "MerchantUniqueCodeAlreadyExist") {
		t.Errorf("duplicate code: %s", body)
	}
	_, body = post(t, srv.URL+"/api/payment/async/cancel", `{"PaymentRequestId":"`+env.Result.PaymentRequestId+`"}`, "k")
	if !strings.HasPrefix(body, `{"result":`) || !bytes.Contains([]byte(body), []byte(`"paymentRequestActivityTypeId":2`)) {
		t.Errorf("cancel answer not camelCase as in the docs: %s", body)
	}
	if l := sim.Ledger(); len(l) != 2 || l[0].Op != "sale" || l[1].Op != "void" {
		t.Errorf("ledger %+v", l)
	}
}
