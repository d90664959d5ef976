package config

import (
	"strings"
	"testing"
)

func TestTaxGroups(t *testing.T) {
	with := func(table string) string {
		return strings.Replace(valid, `password = "p"`, "password = \"p\"\ntax_groups = "+table, 1)
	}
	c, err := Parse("t.toml", []byte(with(`{ "1" = "KDV1", "20" = "KDV20" }`)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Iyzico.TaxGroups["1"] != "KDV1" || c.Iyzico.TaxGroups["20"] != "KDV20" {
		t.Fatalf("tax_groups = %v", c.Iyzico.TaxGroups)
	}
	for _, tc := range []struct{ table, want string }{
		{`{ "yirmi" = "KDV20" }`, `iyzico.tax_groups.yirmi: "yirmi" is not a VAT rate`},
		{`{ "020" = "KDV20" }`, `iyzico.tax_groups.020`},
		{`{ "101" = "X" }`, `iyzico.tax_groups.101`},
		{`{ "10" = "" }`, `iyzico.tax_groups.10: is empty`},
	} {
		_, err := Parse("t.toml", []byte(with(tc.table)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.table, err, tc.want)
		}
	}
}
