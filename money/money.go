// Package money is tezgah's amount type: an exact count of minor units
// (kuruş, cents) with its ISO 4217 currency. Amounts enter and leave the
// agent as decimal strings; there is no float64 anywhere on the path, so
// "150.10" is 15010 kuruş and never 150.09999.
package money

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Amount is a quantity of money in the currency's minor units.
type Amount struct {
	Minor    int64  // e.g. 15010 for 150.10 TRY
	Currency string // ISO 4217 alphabetic code, upper case
}

// minorDigits lists the currencies tezgah accepts and their minor digits.
// The providers in ../shared/reference document TRY, USD and EUR (iyzico
// VUK 507 enum); an unknown currency is refused rather than guessed.
var minorDigits = map[string]int{
	"TRY": 2,
	"USD": 2,
	"EUR": 2,
	"GBP": 2,
}

// Errors returned by Parse; callers branch on them to pick a protocol code.
var (
	ErrSyntax    = errors.New("not a decimal amount")
	ErrPrecision = errors.New("too many decimal places")
	ErrRange     = errors.New("amount out of range")
	ErrCurrency  = errors.New("unsupported currency")
	ErrNotPos    = errors.New("amount must be greater than zero")
)

// MaxMinor bounds amounts to something a shop counter can mean (10^13
// minor units = 100 billion TRY) and keeps sums far from int64 overflow.
const MaxMinor = 10_000_000_000_000

// Digits reports the minor digits of currency and whether it is supported.
func Digits(currency string) (int, bool) {
	d, ok := minorDigits[currency]
	return d, ok
}

// Parse reads a plain decimal string ("150", "150.1", "150.10") in
// currency. It refuses signs, exponents, spaces, thousands separators and
// more fractional digits than the currency has, so that what the register
// meant is never rounded away. Zero is allowed here; Positive checks > 0.
func Parse(s, currency string) (Amount, error) {
	digits, ok := minorDigits[currency]
	if !ok {
		return Amount{}, fmt.Errorf("%w: %q", ErrCurrency, currency)
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") || !allDigits(whole) || !allDigits(frac) {
		return Amount{}, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	if len(frac) > digits {
		return Amount{}, fmt.Errorf("%w: %q has %d, %s allows %d", ErrPrecision, s, len(frac), currency, digits)
	}
	if len(whole) > 1 && whole[0] == '0' {
		return Amount{}, fmt.Errorf("%w: %q has a leading zero", ErrSyntax, s)
	}
	if len(whole) > 14 {
		return Amount{}, fmt.Errorf("%w: %q", ErrRange, s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return Amount{}, fmt.Errorf("%w: %q", ErrRange, s)
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac, 10, 64) // all digits, at most `digits` long
	}
	for i := len(frac); i < digits; i++ {
		f *= 10
	}
	scale := int64(math.Pow10(digits))
	if w > MaxMinor/scale {
		return Amount{}, fmt.Errorf("%w: %q", ErrRange, s)
	}
	m := w*scale + f
	if m > MaxMinor {
		return Amount{}, fmt.Errorf("%w: %q", ErrRange, s)
	}
	return Amount{Minor: m, Currency: currency}, nil
}

// Positive is Parse that also requires the amount to be above zero.
func Positive(s, currency string) (Amount, error) {
	a, err := Parse(s, currency)
	if err != nil {
		return a, err
	}
	if a.Minor <= 0 {
		return Amount{}, fmt.Errorf("%w: %q", ErrNotPos, s)
	}
	return a, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String prints the amount as a decimal with exactly the currency's minor
// digits, e.g. "150.10". It is the form sent to providers that take
// decimal strings (iyzico VUK 507) and shown to registers.
func (a Amount) String() string {
	digits, ok := minorDigits[a.Currency]
	if !ok {
		digits = 2
	}
	if digits == 0 {
		return strconv.FormatInt(a.Minor, 10)
	}
	neg := a.Minor < 0
	m := a.Minor
	if neg {
		m = -m
	}
	s := strconv.FormatInt(m, 10)
	for len(s) <= digits {
		s = "0" + s
	}
	s = s[:len(s)-digits] + "." + s[len(s)-digits:]
	if neg {
		s = "-" + s
	}
	return s
}

// IsZero reports whether a is the zero value (no currency either).
func (a Amount) IsZero() bool { return a == Amount{} }
