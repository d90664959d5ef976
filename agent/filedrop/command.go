package filedrop

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/tezgah/tezgah/agent/protocol"
)

// maxID is protocol v1's id length.
const maxID = 64

// keyLen is how many hex digits of the file key go into ids: 64 bits of
// SHA-256 over the whole file name and the content hash.
const keyLen = 16

// namer gives a file's commands their outbox ids,
// <stem>:<file key>:<own id>, so the same file dropped again maps onto the
// same requests (and runs nothing twice), while another file — another
// name in any byte, even only in case, or the same name with other
// content — cannot collide with it or with ids registers send over
// WebSocket. The stem is only there for people reading ids: it may be
// shortened or lose letters, so it never decides anything; the key does.
type namer struct {
	stem string
	key  string             // fileKey(name, content hash)
	own  map[string]*ownCmd // by the id written in the file: for duplicates and original_id
	// byLine names commands without an id by their line (.ndjson, .csv)
	// rather than their number (.json).
	byLine bool
	// legacy, if set, returns the id an older version stored own under,
	// if it did: a file that version took before the upgrade keeps those
	// ids, so nothing of it runs twice (see run.legacy).
	legacy func(own string) (string, bool)
}

func newNamer(name, fileHash string, f format) *namer {
	return &namer{stem: idStem(name), key: fileKey(name, fileHash), own: map[string]*ownCmd{}, byLine: f != formatJSON}
}

// fileKey is the part of every id that tells files apart: a hash of the
// whole name, byte for byte, and of the content. idStem alone would not
// do: it maps "Şişli" and "Sisli", "a b" and "a_b" to one stem, and a
// long name must be cut to fit 64 characters.
func fileKey(name, fileHash string) string {
	h := sha256.New()
	h.Write([]byte("tezgah filedrop v2\x00"))
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(fileHash))
	return hex.EncodeToString(h.Sum(nil))[:keyLen]
}

// idStem turns a file name into id characters: Turkish letters become
// their ASCII base letters, anything else outside the protocol's id
// alphabet becomes "_".
func idStem(name string) string {
	stem := strings.TrimSuffix(name, filepath.Ext(name))
	var b strings.Builder
	for _, r := range stem {
		if t, ok := turkishASCII[r]; ok {
			r = t
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || !isAlnum(s[0]) {
		s = "f" + s
	}
	return s
}

var turkishASCII = map[rune]rune{'ç': 'c', 'Ç': 'C', 'ğ': 'g', 'Ğ': 'G', 'ı': 'i', 'İ': 'I', 'ö': 'o', 'Ö': 'O', 'ş': 's', 'Ş': 'S', 'ü': 'u', 'Ü': 'U'}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// unnamed is the own id of a command written without one: "-L<line>"
// (.ndjson, .csv) or "-N<number>" (.json). An id written in a file must
// start with a letter or digit, so these never meet one.
func (n *namer) unnamed(e entry) string {
	if n.byLine {
		return fmt.Sprintf("-L%d", e.Line)
	}
	return fmt.Sprintf("-N%d", e.N)
}

// id is the one place a file command's outbox id is made. When the whole
// would pass 64 characters the stem is shortened first, and a long own id
// is replaced by "." and a hash of itself (no written id starts with
// "."): still one id per command, just no longer readable.
func (n *namer) id(own string) string {
	if n.legacy != nil {
		if id, ok := n.legacy(own); ok {
			return id
		}
	}
	fixed := len(n.key) + 2
	if len(n.stem)+fixed+len(own) > maxID && len(own) > 32 {
		sum := sha256.Sum256([]byte(own))
		own = "." + hex.EncodeToString(sum[:8])
	}
	stem := n.stem[:min(len(n.stem), maxID-fixed-len(own))]
	return stem + ":" + n.key + ":" + own
}

var (
	legacyKey = regexp.MustCompile(`:[0-9a-f]{12}:`)
	fileKeyed = regexp.MustCompile(`:[0-9a-f]{16}:`)
)

// IsLegacyID reports whether id has the shape legacyID gives: the ids
// the version before fileKey stored. That version had no registers, so
// its requests are register "local" since the outbox's migration to
// per-register ids; the agent looks them up there.
func IsLegacyID(id string) bool {
	return legacyKey.MatchString(id) && !fileKeyed.MatchString(id)
}

// legacyID is the id the version before fileKey gave own: the stem cut
// to fit, the first 12 hex digits of the content hash, and L<line> /
// N<number> for commands without an id. It is used only to find what
// that version stored for a file it left in processing/.
func legacyID(name, fileHash, own string) string {
	const hashLen = 12
	stem, hash := idStem(name), fileHash[:hashLen]
	own = strings.TrimPrefix(own, "-") // "-L3" was "L3"
	fixed := hashLen + 2
	if len(stem)+fixed+len(own) <= maxID {
		return stem + ":" + hash + ":" + own
	}
	if len(own) > 32 {
		sum := sha256.Sum256([]byte(own))
		own = hex.EncodeToString(sum[:8])
	}
	return stem[:min(len(stem), maxID-fixed-len(own))] + ":" + hash + ":" + own
}

// ownCmd is what a file's own id named, so a refund or void later in the
// file can be checked against it before anything runs. It is small: the
// only per-command state a file keeps while it is read.
type ownCmd struct {
	line int
	cmd  *protocol.Command // nil when that command was bad
}

// command is one decoded command of a file, with what the result file
// shows about where it came from.
type command struct {
	entry
	OwnID string // the id written in the file, if any
	Cmd   protocol.Command
	// Original is the command original_id names when it is in the same
	// file; nil otherwise.
	Original *ownCmd
}

// decode turns an entry into a command through the protocol's own
// decoder, after replacing its id with the namespaced one. A query keeps
// its id: it asks about a request the agent already knows.
func (n *namer) decode(e entry) (command, *protocol.Error) {
	c := command{entry: e}
	if e.Err != nil {
		return c, e.Err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(e.Raw, &obj); err != nil || obj == nil {
		// Let the protocol decoder word the problem as it does for frames.
		_, perr := protocol.Decode(e.Raw)
		if perr == nil {
			perr = protocol.Errorf(protocol.CodeInvalidJSON, "", "not a JSON object")
		}
		return c, perr
	}
	var typ string
	if json.Unmarshal(obj["type"], &typ) != nil {
		_, perr := protocol.Decode(e.Raw)
		return c, orInvalid(perr)
	}
	switch {
	case typ == protocol.TypeQuery:
	case protocol.IsRequest(typ):
		if raw, ok := obj["id"]; ok {
			if json.Unmarshal(raw, &c.OwnID) != nil || c.OwnID == "" {
				return c, protocol.Errorf(protocol.CodeInvalidField, "id", "id must be a non-empty string")
			}
			if first, dup := n.own[c.OwnID]; dup {
				return c, protocol.Errorf(CodeDuplicateID, "id", "id %q is already used on line %d of this file", c.OwnID, first.line)
			}
			if !validOwnID(c.OwnID) {
				return c, protocol.Errorf(protocol.CodeInvalidField, "id", "id must be 1-64 characters of A-Z a-z 0-9 . _ : / - starting with a letter or digit")
			}
		}
		own := c.OwnID
		if own == "" {
			// A .json array may sit on one line, so its commands are
			// counted; the line-based formats use the line.
			own = n.unnamed(e)
		}
		id, _ := json.Marshal(n.id(own))
		obj["id"] = id
		var orig string
		if json.Unmarshal(obj["original_id"], &orig) == nil {
			if o, inFile := n.own[orig]; inFile {
				v, _ := json.Marshal(n.id(orig))
				obj["original_id"] = v
				c.Original = o
			}
		}
		if c.OwnID != "" {
			n.own[c.OwnID] = &ownCmd{line: e.Line}
		}
	case contains(protocol.Types, typ):
		return c, protocol.Errorf(protocol.CodeUnsupportedOp, "type",
			"%s is not available in files: a file can hold sale, refund, void, end_of_day and query", typ)
	}
	if _, ok := obj["card"]; ok {
		// Card data must never rest on disk; the agent will not carry it
		// further from a file (its value is never echoed either).
		return c, protocol.Errorf(protocol.CodeInvalidField, "card",
			"card data is never taken from files: take card-not-present sales at the register, and delete this file")
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return c, protocol.Errorf(protocol.CodeInvalidJSON, "", "not a JSON object")
	}
	cmd, perr := protocol.Decode(raw)
	if perr != nil {
		return c, perr
	}
	c.Cmd = cmd
	if o := n.own[c.OwnID]; c.OwnID != "" && o != nil && o.line == e.Line {
		o.cmd = &cmd
	}
	return c, nil
}

// validOwnID is the protocol's id rule, checked on the id as written so
// the message speaks about what the user wrote.
func validOwnID(s string) bool {
	if len(s) == 0 || len(s) > maxID || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != ':' && c != '/' && c != '-' {
			return false
		}
	}
	return true
}

func orInvalid(e *protocol.Error) *protocol.Error {
	if e == nil {
		return protocol.Errorf(protocol.CodeInvalidField, "type", "type must be a string")
	}
	return e
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
