package main

import (
	"regexp"
	"testing"
)

// The .msi's ProductCode follows from the version alone: a rebuild is
// the same product (Windows Installer repairs it instead of installing
// it a second time), another version is another product (MajorUpgrade
// replaces it). e2e/wine's TestMSI checks this with msiexec.
func TestProductCode(t *testing.T) {
	a, again, b := ProductCode("1.0.0"), ProductCode("1.0.0"), ProductCode("1.0.1")
	if a != again {
		t.Fatalf("ProductCode(1.0.0) is %s, then %s", a, again)
	}
	if a == b {
		t.Fatalf("1.0.0 and 1.0.1 share ProductCode %s", a)
	}
	uuid5 := regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)
	for _, c := range []string{a, b} {
		if !uuid5.MatchString(c) {
			t.Errorf("%s is not an upper-case RFC 9562 version 5 UUID", c)
		}
	}
	// Pinned: a change here makes every installed tezgah a stranger to
	// the next .msi of its own version.
	if a != "2E48A1B8-C140-5768-871B-799777D99D2B" {
		t.Errorf("ProductCode(1.0.0) = %s; it must never change", a)
	}
}
