// Package pairing keeps the tokens that let a cash register on another
// machine of the shop talk to the agent. `tezgah pair --name kasa-3`
// creates one token per register; only its SHA-256 is kept, in its own
// small file in the data directory (not in the outbox: pairing is not
// payment data and must not share its migrations), so a copied data
// directory or backup does not leak a usable token.
//
// The file is replaced atomically (temp file, fsync, rename) with mode
// 0600, and the running agent reads it on every connection attempt that
// presents a token, so a new or revoked token takes effect at once
// without a restart. The file is tiny (one line per register) and
// connection attempts are rare, so there is no cache to go stale.
package pairing

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// File is the store's file name inside the data directory.
const File = "pairing.json"

// TokenPrefix starts every token, so a token pasted into the wrong place
// (a log, a ticket) is recognisable and greppable.
const TokenPrefix = "tzg_"

var (
	// ErrExists is returned by Pair for a name that already has a token.
	ErrExists = errors.New("pairing: name already paired")
	// ErrNotFound is returned by Revoke for a name with no token.
	ErrNotFound = errors.New("pairing: no such name")
)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Pairing is one register's entry; the token itself is never stored.
type Pairing struct {
	Name    string    `json:"name"`
	SHA256  string    `json:"sha256"` // hex of SHA-256 of the whole token
	Created time.Time `json:"created"`
}

type file struct {
	Version  int       `json:"version"`
	Pairings []Pairing `json:"pairings"`
}

// Store is the pairing file of one data directory. It holds no state in
// memory: every call reads the file, so several processes (the agent and
// `tezgah pair`) share it safely as long as one writes at a time.
type Store struct {
	path string
	now  func() time.Time
}

// Open returns the store in dir. The file need not exist yet.
func Open(dir string) *Store {
	return &Store{path: filepath.Join(dir, File), now: time.Now}
}

// Path is the file's location, for messages.
func (s *Store) Path() string { return s.path }

// List returns the pairings sorted by name.
func (s *Store) List() ([]Pairing, error) {
	f, err := s.read()
	if err != nil {
		return nil, err
	}
	return f.Pairings, nil
}

// Pair creates a token for name and returns it; it is shown once and
// cannot be recovered later.
func (s *Store) Pair(name string) (string, error) {
	if !namePattern.MatchString(name) {
		return "", fmt.Errorf("pairing: name %q must be 1-64 of a-z 0-9 . _ - (e.g. \"kasa-3\")", name)
	}
	f, err := s.read()
	if err != nil {
		return "", err
	}
	for _, p := range f.Pairings {
		if p.Name == name {
			return "", fmt.Errorf("%w: %s (revoke it first to issue a new token)", ErrExists, name)
		}
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("pairing: random: %w", err)
	}
	tok := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	f.Pairings = append(f.Pairings, Pairing{Name: name, SHA256: hash(tok), Created: s.now().UTC().Truncate(time.Second)})
	if err := s.write(f); err != nil {
		return "", err
	}
	return tok, nil
}

// Revoke deletes name's token; connections already open stay open until
// they close (the agent checks tokens at connection time).
func (s *Store) Revoke(name string) error {
	f, err := s.read()
	if err != nil {
		return err
	}
	kept := f.Pairings[:0]
	for _, p := range f.Pairings {
		if p.Name != name {
			kept = append(kept, p)
		}
	}
	if len(kept) == len(f.Pairings) {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	f.Pairings = kept
	return s.write(f)
}

// Check reports which register tok belongs to. It compares every stored
// hash in constant time, so timing tells nothing about near misses.
func (s *Store) Check(tok string) (name string, ok bool, err error) {
	f, err := s.read()
	if err != nil {
		return "", false, err
	}
	h := []byte(hash(tok))
	for _, p := range f.Pairings {
		if subtle.ConstantTimeCompare(h, []byte(p.SHA256)) == 1 {
			name, ok = p.Name, true
		}
	}
	return name, ok, nil
}

// Empty reports whether no register is paired.
func (s *Store) Empty() (bool, error) {
	f, err := s.read()
	return len(f.Pairings) == 0, err
}

func hash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func (s *Store) read() (file, error) {
	var f file
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return file{Version: 1}, nil
	}
	if err != nil {
		return f, fmt.Errorf("pairing: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("pairing: %s is damaged (%v); move it away and pair the registers again", s.path, err)
	}
	if f.Version != 1 {
		return f, fmt.Errorf("pairing: %s has version %d; this tezgah reads version 1", s.path, f.Version)
	}
	sort.Slice(f.Pairings, func(i, j int) bool { return f.Pairings[i].Name < f.Pairings[j].Name })
	return f, nil
}

// write replaces the file atomically: a crash leaves the old file or the
// new one, never half of either.
func (s *Store) write(f file) error {
	f.Version = 1
	sort.Slice(f.Pairings, func(i, j int) bool { return f.Pairings[i].Name < f.Pairings[j].Name })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("pairing: %w", err)
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pairing: %w", err)
	}
	tmp, err := os.CreateTemp(dir, File+".tmp*")
	if err != nil {
		return fmt.Errorf("pairing: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("pairing: %w", err)
	}
	keepOwner(tmp, s.path)
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("pairing: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("pairing: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pairing: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("pairing: %w", err)
	}
	syncDir(dir)
	return nil
}
