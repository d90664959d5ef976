package money

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		cur  string
		want int64
		err  error
	}{
		{"whole", "150", "TRY", 15000, nil},
		{"one digit", "150.1", "TRY", 15010, nil},
		{"two digits", "150.10", "TRY", 15010, nil},
		{"zero", "0", "TRY", 0, nil},
		{"small", "0.01", "TRY", 1, nil},
		{"max", "100000000000.00", "TRY", MaxMinor, nil},
		{"too many digits", "1.001", "TRY", 0, ErrPrecision},
		{"float artefact", "150.09999999999999", "TRY", 0, ErrPrecision},
		{"exponent", "1e3", "TRY", 0, ErrSyntax},
		{"negative", "-1.00", "TRY", 0, ErrSyntax},
		{"plus", "+1.00", "TRY", 0, ErrSyntax},
		{"comma", "1,00", "TRY", 0, ErrSyntax},
		{"space", " 1.00", "TRY", 0, ErrSyntax},
		{"empty", "", "TRY", 0, ErrSyntax},
		{"dot only", ".", "TRY", 0, ErrSyntax},
		{"trailing dot", "1.", "TRY", 0, ErrSyntax},
		{"leading dot", ".5", "TRY", 0, ErrSyntax},
		{"leading zero", "01.00", "TRY", 0, ErrSyntax},
		{"over max", "100000000000.01", "TRY", 0, ErrRange},
		{"huge", "99999999999999999999999", "TRY", 0, ErrRange},
		{"currency", "1.00", "XXX", 0, ErrCurrency},
		{"lower currency", "1.00", "try", 0, ErrCurrency},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in, tc.cur)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Parse(%q) error = %v, want %v", tc.in, err, tc.err)
			}
			if err == nil && got.Minor != tc.want {
				t.Fatalf("Parse(%q) = %d, want %d", tc.in, got.Minor, tc.want)
			}
		})
	}
}

func TestPositive(t *testing.T) {
	if _, err := Positive("0.00", "TRY"); !errors.Is(err, ErrNotPos) {
		t.Fatalf("Positive(0.00) error = %v, want ErrNotPos", err)
	}
	if a, err := Positive("0.01", "TRY"); err != nil || a.Minor != 1 {
		t.Fatalf("Positive(0.01) = %v, %v", a, err)
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		a    Amount
		want string
	}{
		{Amount{15010, "TRY"}, "150.10"},
		{Amount{1, "TRY"}, "0.01"},
		{Amount{0, "TRY"}, "0.00"},
		{Amount{-5, "EUR"}, "-0.05"},
		{Amount{100, "USD"}, "1.00"},
	}
	for _, tc := range tests {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.a, got, tc.want)
		}
	}
}

// FuzzParseAmount checks that whatever Parse accepts prints back to a
// string that parses to the same amount, and never panics on any input.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"150.10", "0", "0.01", "1e3", "-1", "1.001", "99999999999999999999", ".5", "1."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s, "TRY")
		if err != nil {
			return
		}
		if a.Minor < 0 || a.Minor > MaxMinor {
			t.Fatalf("Parse(%q) = %d out of range", s, a.Minor)
		}
		b, err := Parse(a.String(), "TRY")
		if err != nil || b != a {
			t.Fatalf("round trip %q -> %q -> %v, %v", s, a.String(), b, err)
		}
	})
}
