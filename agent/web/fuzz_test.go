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
