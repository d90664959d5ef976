package config

import (
	"strings"
	"testing"
)

const validPaywall = `
[paywall]
base_url = "https://physical-api.example"
api_key = "env:TEZGAH_TEST_PW_KEY"
api_client = "c"
unit_code_ids = { KGM = 2 }
statuses = { "6" = "pending", "8" = "declined" }
[[terminal]]
name = "kasa-3"
provider = "paywall"
device_id = "8ff33705-57c7-42dc-8341-a0053e7f3009"
[[terminal]]
name = "kasa-4"
provider = "paywall"
device_id = "testpos"
mode = "sync"
`

func TestPaywall(t *testing.T) {
	t.Setenv("TEZGAH_TEST_PW_KEY", "secret-key")
	c, err := Parse("t.toml", []byte(validPaywall))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Paywall
	if p.APIKey != "secret-key" || p.CurrencyIDs["TRY"] != 1 || p.DefaultVATRate != 20 || p.UnitCodeIDs["KGM"] != 2 || p.Statuses["8"] != "declined" {
		t.Fatalf("%+v", p)
	}
	if c.Terminals[0].Mode != "async" || c.Terminals[0].Model != "async" || c.Terminals[1].Model != "sync" {
		t.Fatalf("modes %+v", c.Terminals)
	}
	if r := c.Redacted().Paywall; r.APIKey != "***" || r.APIClient != "***" || c.Paywall.APIKey != "secret-key" {
		t.Fatalf("redacted %+v", r)
	}

	for _, tc := range []struct{ name, from, to, want string }{
		{"mode", `mode = "sync"`, `mode = "push"`, `terminal[2].mode: "push" is not one of async, sync`},
		{"model", `mode = "sync"`, `model = "vuk507"`, "paywall terminals take mode"},
		{"tag", `"testpos"`, `"` + strings.Repeat("t", 26) + `"`, "terminal[2].device_id"},
		{"status", `"8" = "declined"`, `"8" = "maybe"`, "paywall.statuses.8"},
		{"url", `https://physical-api.example`, `physical-api.example`, "paywall.base_url"},
		{"unknown key", `api_client = "c"`, `api_secret = "c"`, `unknown key "paywall.api_secret"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(strings.Replace(validPaywall, tc.from, tc.to, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Parse("t.toml", []byte(validPaywall[strings.Index(validPaywall, "[[terminal]]"):])); err == nil || !strings.Contains(err.Error(), "need a [paywall] table") {
		t.Fatalf("no table: %v", err)
	}
}
