package installer

import (
	"strings"
	"testing"
)

func TestParseEnv(t *testing.T) {
	got, err := ParseEnv("# secrets for tezgah\n\nIYZICO_PASSWORD=p@ss=word\nexport A_1 = \"quoted value\"\nB='x'\n; comment\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"IYZICO_PASSWORD": "p@ss=word", "A_1": "quoted value", "B": "x"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range []string{"no equals sign", "1A=x", "A-B=x", "=x"} {
		if _, err := ParseEnv("OK=1\n" + bad); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzParseEnv(f *testing.F) {
	f.Add("A=1\n# c\nexport B=\"2\"\n")
	f.Add("=\n")
	f.Fuzz(func(t *testing.T, s string) {
		vars, err := ParseEnv(s)
		if err != nil {
			return
		}
		for k := range vars {
			if !validEnvName(k) {
				t.Fatalf("invalid name %q accepted", k)
			}
		}
	})
}
