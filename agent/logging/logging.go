// Package logging builds the agent's structured logger: log/slog with a
// level from agent.log_level, behind a handler that redacts secrets and
// card numbers before any line reaches a file, a terminal or a support
// ticket.
//
// Redaction works on two levels. An attribute whose key names a secret
// (password, secret, token, authorization, apikey..., card, pan, cvc, ...)
// is replaced whole, whatever its value. Any other string — the message
// too — is scanned for runs of 13 to 19 digits (spaces and dashes allowed
// between them) that pass the Luhn check, and those are masked to their
// last four digits: a provider error that echoes a card number, or a
// request body logged by mistake, still cannot leak one.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Redacted replaces the value of an attribute whose key names a secret.
const Redacted = "[REDACTED]"

// ParseLevel reads agent.log_level: debug, info (also ""), warn or error.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return slog.LevelInfo, fmt.Errorf("log level %q: use debug, info, warn or error", s)
}

// New returns the agent's logger: slog text lines on w at level, redacted.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(Redact(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})))
}

// Redact wraps h so that every record it handles is redacted first.
func Redact(h slog.Handler) slog.Handler {
	if r, ok := h.(*redactor); ok {
		return r
	}
	return &redactor{h: h}
}

// redactor needs no state of its own: secret keys are matched at every
// group depth, so WithGroup only passes through.
type redactor struct {
	h slog.Handler
}

func (r *redactor) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r *redactor) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, MaskPANs(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r *redactor) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redactAttr(a)
	}
	return &redactor{h: r.h.WithAttrs(red)}
}

func (r *redactor) WithGroup(name string) slog.Handler {
	return &redactor{h: r.h.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	if SecretKey(a.Key) {
		// Also for a group: a group named "card" is all card data.
		return slog.String(a.Key, Redacted)
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, MaskPANs(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]slog.Attr, len(g))
		for i, ga := range g {
			red[i] = redactAttr(ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	case slog.KindAny:
		// Errors, byte slices and structs are printed by the handler; a
		// card number inside one would escape the string check, so look
		// at the printed form and keep the value only when it is clean.
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case []byte:
			s = string(x)
		default:
			s = fmt.Sprintf("%+v", x)
		}
		if m := MaskPANs(s); m != s {
			return slog.String(a.Key, m)
		}
		if _, ok := v.Any().([]byte); ok {
			return slog.String(a.Key, s)
		}
		return slog.Attr{Key: a.Key, Value: v}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// secretWords are matched against attribute keys with case, dashes,
// underscores and dots removed: "Client-Secret", "client_secret" and
// "iyzico.clientSecret" all contain "secret".
var secretWords = []string{
	"password", "passwd", "secret", "token", "authorization", "apikey", "apisecret",
	"cookie", "credential", "privatekey", "cvc", "cvv", "cvv2", "pin",
	"cardnumber", "cardno", "pan", "expiry", "card",
}

// cleanKeys are keys that contain a secret word but name no secret.
var cleanKeys = map[string]bool{"span": true, "spin": true, "panel": true}

// SecretKey reports whether an attribute key names a secret or card data.
func SecretKey(key string) bool {
	k := strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		case r == '-' || r == '_' || r == '.' || r == ' ':
			return -1
		}
		return r
	}, key)
	if cleanKeys[k] {
		return false
	}
	for _, w := range secretWords {
		if w == "pan" || w == "pin" || w == "card" {
			// Short words match only at either end of the key: "pin",
			// "card_no" and "customer_pan" are caught, "company",
			// "spinner" and "discarded" are not.
			if k == w || strings.HasSuffix(k, w) || strings.HasPrefix(k, w) {
				return true
			}
			continue
		}
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// MaskPANs masks card numbers in s, keeping their last four digits.
// Digits come in groups; single spaces or dashes between groups join them
// into a run, as card numbers are printed. Within a run, every sequence of
// whole consecutive groups with 13–19 digits that passes the Luhn check is
// masked, so "qty 12 4111 1111 1111 1111" loses the card and keeps the
// 12. A single group of more than 19 digits (fields glued together) is
// searched for any Luhn-valid 13–19 digit window. Amounts, references and
// timestamps are left alone unless they happen to pass the Luhn check at
// a card number's length; a masked timestamp costs less than a leaked
// card.
func MaskPANs(s string) string {
	if !hasLongDigitRun(s) {
		return s
	}
	b := []byte(s)
	i := 0
	for i < len(b) {
		if !isDigit(b[i]) {
			i++
			continue
		}
		// A run: groups of digits joined by single separators.
		var groups [][2]int // [start, end) of each group in b
		j := i
		for {
			k := j
			for k < len(b) && isDigit(b[k]) {
				k++
			}
			groups = append(groups, [2]int{j, k})
			if k+1 < len(b) && (b[k] == ' ' || b[k] == '-') && isDigit(b[k+1]) {
				j = k + 1
				continue
			}
			j = k
			break
		}
		maskRun(b, groups)
		i = j
	}
	return string(b)
}

func maskRun(b []byte, groups [][2]int) {
	hide := map[int]bool{}
	for gi := range groups {
		n := 0
		for gj := gi; gj < len(groups); gj++ {
			n += groups[gj][1] - groups[gj][0]
			if n > 19 {
				break
			}
			if n >= 13 && luhn(b[groups[gi][0]:groups[gj][1]]) {
				hideAllButLast4(b, groups[gi][0], groups[gj][1], hide)
			}
		}
		if g := groups[gi]; g[1]-g[0] > 19 {
			for w := 13; w <= 19; w++ {
				for st := g[0]; st+w <= g[1]; st++ {
					if luhn(b[st : st+w]) {
						hideAllButLast4(b, st, st+w, hide)
					}
				}
			}
		}
	}
	for i := range hide {
		b[i] = '*'
	}
}

// hideAllButLast4 marks the digits of b[from:to] but its last four.
func hideAllButLast4(b []byte, from, to int, hide map[int]bool) {
	keep := 4
	for i := to - 1; i >= from; i-- {
		if !isDigit(b[i]) {
			continue
		}
		if keep > 0 {
			keep--
			continue
		}
		hide[i] = true
	}
}

func hasLongDigitRun(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		switch {
		case isDigit(s[i]):
			n++
			if n >= 13 {
				return true
			}
		case s[i] == ' ' || s[i] == '-':
		default:
			n = 0
		}
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// luhn reports whether the digits of d (separators skipped) pass the
// Luhn check that every card number passes.
func luhn(d []byte) bool {
	sum, pos := 0, 0
	for i := len(d) - 1; i >= 0; i-- {
		if !isDigit(d[i]) {
			continue
		}
		v := int(d[i] - '0')
		if pos%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		pos++
	}
	return sum%10 == 0
}
