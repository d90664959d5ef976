package pairing

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestPairCheckRevoke(t *testing.T) {
	dir := t.TempDir()
	s := Open(dir)
	tok, err := s.Pair("kasa-3")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) != len(TokenPrefix)+43 {
		t.Fatalf("token %q: want %s + 43 base64url characters (32 random bytes)", tok, TokenPrefix)
	}
	// A second process (the running agent) sees the new token at once.
	other := Open(dir)
	if name, ok, err := other.Check(tok); err != nil || !ok || name != "kasa-3" {
		t.Fatalf("Check(new token) = %q, %v, %v", name, ok, err)
	}
	for _, bad := range []string{"", tok[:len(tok)-1], tok + "x", strings.ToUpper(tok)} {
		if _, ok, _ := other.Check(bad); ok {
			t.Fatalf("Check(%q) accepted", bad)
		}
	}
	if _, err := s.Pair("kasa-3"); !errors.Is(err, ErrExists) {
		t.Fatalf("pairing a name twice: %v, want ErrExists", err)
	}
	tok4, err := s.Pair("kasa-4")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke("kasa-3"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := other.Check(tok); ok {
		t.Fatal("revoked token still accepted")
	}
	if name, ok, _ := other.Check(tok4); !ok || name != "kasa-4" {
		t.Fatal("revoking kasa-3 broke kasa-4")
	}
	if err := s.Revoke("kasa-3"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking twice: %v, want ErrNotFound", err)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].Name != "kasa-4" {
		t.Fatalf("List = %+v, %v", list, err)
	}
}

// The file holds hashes only, and only the owner can read it.
func TestFileHoldsNoToken(t *testing.T) {
	dir := t.TempDir()
	s := Open(dir)
	tok, err := s.Pair("kasa-1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimPrefix(tok, TokenPrefix)
	if strings.Contains(string(b), secret) {
		t.Fatalf("the pairing file contains the token:\n%s", b)
	}
	if !strings.Contains(string(b), hash(tok)) {
		t.Fatalf("the pairing file lacks the token's hash:\n%s", b)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(s.Path())
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("data dir holds %d files after pairing, want only %s (no temp files left)", len(entries), File)
	}
}

func TestBadNamesAndFiles(t *testing.T) {
	s := Open(t.TempDir())
	for _, name := range []string{"", "Kasa", "kasa 3", "-x", strings.Repeat("a", 65), "../x"} {
		if _, err := s.Pair(name); err == nil {
			t.Errorf("Pair(%q) accepted", name)
		}
	}
	if err := os.WriteFile(s.Path(), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Check("tzg_x"); err == nil || ok {
		t.Fatalf("damaged file: ok=%v err=%v, want an error", ok, err)
	} else if !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("error %q does not say the file is damaged", err)
	}
}

// The agent reads the file on every connection attempt with a token,
// rather than caching it; this measures what that costs with a large
// shop's worth of registers.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("registers=%d", n), func(b *testing.B) {
			s := Open(b.TempDir())
			var tok string
			for i := range n {
				t, err := s.Pair(fmt.Sprintf("kasa-%d", i))
				if err != nil {
					b.Fatal(err)
				}
				tok = t
			}
			b.ResetTimer()
			for b.Loop() {
				if _, ok, err := s.Check(tok); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
