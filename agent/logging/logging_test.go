package logging

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestMaskPANs(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"visa test card", "card 4111111111111111 declined", "card ************1111 declined"},
		{"spaced", "pan=4111 1111 1111 1111.", "pan=**** **** **** 1111."},
		{"dashed", "5555-5555-5555-4444", "****-****-****-4444"},
		{"19 digits", "6011000990139424", "************9424"},
		{"luhn fails", "4111111111111112", "4111111111111112"},
		{"amount", "amount 150.00 TRY", "amount 150.00 TRY"},
		{"short id", "R1-000123", "R1-000123"},
		{"unix ms", "at 1764000000001", "at 1764000000001"},
		{"quantity before card", "qty 12 4111 1111 1111 1111", "qty 12 **** **** **** 1111"},
		{"glued fields", "x41111111111111110000000y", "x******************00000y"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MaskPANs(tc.in); got != tc.want {
				t.Errorf("MaskPANs(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSecretKey(t *testing.T) {
	for key, want := range map[string]bool{
		"password": true, "client_secret": true, "ClientSecret": true, "Authorization": true,
		"access_token": true, "pairing-token": true, "apiKey": true, "api_key_id": true,
		"cvc": true, "card_number": true, "pan": true, "card": true, "pin": true, "expiry": true,
		"id": false, "terminal": false, "reference": false, "amount": false, "err": false,
		"company": false, "span": false, "discarded": false, "expires_in": false, "status": false,
	} {
		if got := SecretKey(key); got != want {
			t.Errorf("SecretKey(%q) = %v, want %v", key, got, want)
		}
	}
}

type body struct {
	Card string
	N    int
}

func TestRedactHandler(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, slog.LevelInfo)
	log = log.With("client_secret", "s3cr3t-value", "terminal", "kasa-1")
	log.WithGroup("iyzico").Info("token refreshed for 4111111111111111",
		"access_token", "eyJhbGciOi.secret",
		"err", errors.New("provider said: card 5555555555554444 expired"),
		"body", body{Card: "4111 1111 1111 1111", N: 3},
		"raw", []byte(`{"pan":"4111111111111111"}`),
		slog.Group("card", "number", "4111111111111111", "cvc", "123"),
		"id", "R1-000123",
		"amount", "150.00",
	)
	log.Debug("not shown")
	out := buf.String()
	for _, leak := range []string{"s3cr3t-value", "eyJhbGciOi", "4111111111111111", "5555555555554444", "4111 1111 1111 1111", "cvc=123", "not shown"} {
		if strings.Contains(out, leak) {
			t.Errorf("log leaks %q:\n%s", leak, out)
		}
	}
	for _, keep := range []string{"terminal=kasa-1", "id=R1-000123", "amount=150.00", "************1111", "************4444", "client_secret=[REDACTED]", "iyzico.card=[REDACTED]"} {
		if !strings.Contains(out, keep) {
			t.Errorf("log lacks %q:\n%s", keep, out)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"": slog.LevelInfo, "debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		got, err := ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(loud): no error")
	}
}

// leftPAN is an independent, brute-force statement of what MaskPANs must
// guarantee: it returns a Luhn-valid 13–19 digit sequence of whole digit
// groups (joined by single spaces or dashes) left in s, or "". The four
// digits a mask keeps (right after a '*') start no sequence: they are
// what is left of a card already masked.
func leftPAN(s string) string {
	isSep := func(c byte) bool { return c == ' ' || c == '-' }
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) || (i > 0 && (isDigit(s[i-1]) || s[i-1] == '*')) {
			continue
		}
		n := 0
		for j := i; j < len(s); j++ {
			if isDigit(s[j]) {
				n++
				if n > 19 {
					break
				}
				if n >= 13 && (j+1 == len(s) || !isDigit(s[j+1])) && luhn([]byte(s[i:j+1])) {
					return s[i : j+1]
				}
				continue
			}
			if isSep(s[j]) && j > i && isDigit(s[j-1]) && j+1 < len(s) && isDigit(s[j+1]) {
				continue
			}
			break
		}
	}
	return ""
}

// FuzzMaskPANs checks that no card number survives masking, whatever
// surrounds it, that a card number planted between separators is always
// caught, and that text with no long digit run is left as it was.
func FuzzMaskPANs(f *testing.F) {
	for _, s := range []string{"4111111111111111", "card 4111 1111 1111 1111 ok", "5555-5555-5555-4444", "x41111111111111110000000y", "150.00", "", "1-2-3-4", "qty 12 4111 1111 1111 1111"} {
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, s := range []string{a, a + " 4111111111111111 " + b, a + ":5555-5555-5555-4444:" + b} {
			out := MaskPANs(s)
			if len(out) != len(s) {
				t.Fatalf("MaskPANs changed the length: %q -> %q", s, out)
			}
			if p := leftPAN(out); p != "" {
				t.Fatalf("card number %q left in %q (from %q)", p, out, s)
			}
			if !hasLongDigitRun(s) && out != s {
				t.Fatalf("changed text with no long digit run: %q -> %q", s, out)
			}
		}
	})
}
