package web

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeAction feeds the support actions' body parser anything a
// client could send: it must return an id that is sane, or an error.
func FuzzDecodeAction(f *testing.F) {
	for _, s := range []string{`{"id":"R1-000123"}`, `{"id":""}`, `{"id":1}`, `{"ids":["a"]}`, `{"id":"a"}{"id":"b"}`, `[`, ``, `{"id":"\u0000"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		id, err := decodeAction(strings.NewReader(body))
		if err != nil {
			if id != "" {
				t.Fatalf("error %v with id %q", err, id)
			}
			return
		}
		if id == "" || len(id) > maxActionID || !utf8.ValidString(id) {
			t.Fatalf("accepted id %q from %q", id, body)
		}
	})
}

// FuzzHostAllowed: only IP literals, localhost and the configured name
// pass the DNS-rebinding guard, whatever the Host header holds.
func FuzzHostAllowed(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8417", "[::1]:8417", "localhost", "LOCALHOST.:1", "kasa-pc.local", "evil.example", "evil.example:8417", "", "[", "127.0.0.1.evil.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		ok := hostAllowed(host, []string{"kasa-pc.local"})
		lower := strings.ToLower(host)
		if ok && strings.Contains(lower, "evil") {
			t.Fatalf("Host %q let through", host)
		}
	})
}
