package filedrop

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/tezgah/tezgah/agent/protocol"
)

// Error codes of file problems that the protocol itself does not have.
// Like the protocol's, they are stable: back-office programs match on them.
const (
	CodeInvalidEncoding   = "invalid_encoding"   // not UTF-8 (Windows-1254, UTF-16)
	CodeLineTooLong       = "line_too_long"      // a line or command over MaxLineBytes
	CodeInvalidCSV        = "invalid_csv"        // bad quoting, cell count, header
	CodeDuplicateID       = "duplicate_id"       // the same id twice in one file
	CodeUnsupportedFormat = "unsupported_format" // not .json, .ndjson or .csv
	CodeNoCommands        = "no_commands"        // an empty file or array
	CodeUnreadable        = "unreadable"         // the file could not be read
)

// MaxLineBytes bounds one line (.ndjson, .csv) or one command (.json). A
// command is a few hundred bytes; anything near this is not a command file.
const MaxLineBytes = 1 << 20

// format is a drop file's kind, named by its extension.
type format string

const (
	formatJSON   format = "json"
	formatNDJSON format = "ndjson"
	formatCSV    format = "csv"
)

// formatOf maps a file name to its format; extensions from Windows tools
// come in any case.
func formatOf(name string) (format, bool) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		return formatJSON, true
	case ".ndjson", ".jsonl":
		return formatNDJSON, true
	case ".csv":
		return formatCSV, true
	}
	return "", false
}

// entry is one command as read from a file, before it is decoded: a JSON
// object (CSV rows are turned into one, so every format meets one decoder),
// or the reason that place of the file is not one.
type entry struct {
	Line int             // 1-based line where the command starts
	N    int             // 1-based number of the command in the file
	Raw  []byte          // one JSON object; nil when Err is set
	Err  *protocol.Error // this command cannot be read; the next may
}

// fileError is a problem that stops reading a file: after it, where the
// next command starts is unknown. Line 0 means the file as a whole.
type fileError struct {
	Line int
	Err  *protocol.Error
}

func (e *fileError) Error() string {
	if e.Line == 0 {
		return e.Err.Error()
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

// reader yields a file's entries one at a time, holding at most one
// command in memory. next returns io.EOF at the end, a *fileError when the
// rest of the file cannot be read, or another error when reading failed.
type reader interface {
	next() (entry, error)
}

// newReader returns the reader for f. lines is a second reader over the
// same bytes, used by the .json reader to turn offsets into line numbers
// without keeping the file in memory; the other formats ignore it.
func newReader(f format, r, lines io.Reader) (reader, error) {
	br, err := openText(r)
	if err != nil {
		return nil, err
	}
	switch f {
	case formatNDJSON:
		return newNDJSON(br), nil
	case formatCSV:
		return newCSV(br)
	}
	return newJSON(br, lines), nil
}

// openText skips a UTF-8 byte order mark (Notepad and Excel write one) and
// refuses UTF-16, which some Windows tools save by default and which would
// otherwise surface as a baffling syntax error.
func openText(r io.Reader) (*bufio.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	b, err := br.Peek(3)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
		return br, nil
	}
	if bytes.HasPrefix(b, []byte("\xff\xfe")) || bytes.HasPrefix(b, []byte("\xfe\xff")) {
		return nil, &fileError{Line: 1, Err: protocol.Errorf(CodeInvalidEncoding, "",
			"the file is UTF-16; save it as UTF-8 (in Notepad: Save as, Encoding UTF-8)")}
	}
	return br, nil
}

func encodingError(field string) *protocol.Error {
	return protocol.Errorf(CodeInvalidEncoding, field,
		"not valid UTF-8 (Windows-1254 or ISO-8859-9 text?); save the file as UTF-8")
}

// ndjsonReader reads one command per line; blank lines are skipped.
type ndjsonReader struct {
	sc      *bufio.Scanner
	line, n int
}

func newNDJSON(r io.Reader) *ndjsonReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	return &ndjsonReader{sc: sc}
}

func (r *ndjsonReader) next() (entry, error) {
	for r.sc.Scan() {
		r.line++
		b := bytes.TrimSpace(r.sc.Bytes()) // ScanLines already dropped a CRLF's \r
		if len(b) == 0 {
			continue
		}
		r.n++
		e := entry{Line: r.line, N: r.n}
		switch {
		case !utf8.Valid(b):
			e.Err = encodingError("")
		case b[0] != '{':
			e.Err = protocol.Errorf(protocol.CodeInvalidJSON, "", "each line of an .ndjson file must be one JSON object")
		default:
			e.Raw = bytes.Clone(b)
		}
		return e, nil
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return entry{}, &fileError{Line: r.line + 1, Err: protocol.Errorf(CodeLineTooLong, "",
				"the line is longer than %d bytes", MaxLineBytes)}
		}
		return entry{}, err
	}
	return entry{}, io.EOF
}

// jsonReader reads a .json file: one command object, or an array of them,
// decoded one element at a time.
type jsonReader struct {
	br    *bufio.Reader
	dec   *json.Decoder
	lines *lineCounter
	n     int
	state int // 0 not started, 1 in an array, 2 done
}

func newJSON(br *bufio.Reader, lines io.Reader) *jsonReader {
	return &jsonReader{br: br, lines: &lineCounter{r: bufio.NewReader(lines), line: 1}}
}

func (r *jsonReader) fail(off int64, code, format string, args ...any) error {
	r.state = 2
	return &fileError{Line: r.lines.at(off), Err: protocol.Errorf(code, "", format, args...)}
}

func (r *jsonReader) next() (entry, error) {
	switch r.state {
	case 2:
		return entry{}, io.EOF
	case 0:
		return r.start()
	}
	if !r.dec.More() {
		off := r.dec.InputOffset()
		if _, err := r.dec.Token(); err != nil { // the closing ]
			return entry{}, r.syntax(err, off)
		}
		if err := r.trailing(); err != io.EOF {
			return entry{}, r.fail(r.dec.InputOffset(), protocol.CodeInvalidJSON, "there is more after the closing ]: a .json file holds one array or one object")
		}
		r.state = 2
		if r.n == 0 {
			return entry{}, &fileError{Err: protocol.Errorf(CodeNoCommands, "", "the array is empty: there is nothing to run")}
		}
		return entry{}, io.EOF
	}
	return r.element()
}

// start peeks at the first byte to tell a single object from an array;
// json.Decoder.Token would consume the object's opening brace.
func (r *jsonReader) start() (entry, error) {
	var skipped int64
	for {
		c, err := r.br.ReadByte()
		if err == io.EOF {
			r.state = 2
			return entry{}, &fileError{Err: protocol.Errorf(CodeNoCommands, "", "the file is empty: there is nothing to run")}
		}
		if err != nil {
			return entry{}, err
		}
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			skipped++
			continue
		}
		r.br.UnreadByte()
		// Decoder offsets count from here; the line counter adds the
		// blank bytes skipped before it.
		r.dec = json.NewDecoder(r.br)
		r.lines.skip(skipped)
		switch c {
		case '[':
			r.dec.Token()
			r.state = 1
			return r.next()
		case '{':
			r.state = 1
			e, err := r.element()
			if err != nil {
				return e, err
			}
			if err := r.trailing(); err != io.EOF {
				return entry{}, r.fail(r.dec.InputOffset(), protocol.CodeInvalidJSON, "there is more after the command object: put several commands in an array [ ... ] or use .ndjson")
			}
			r.state = 2
			return e, nil
		}
		r.state = 2
		return entry{}, &fileError{Line: r.lines.at(0), Err: protocol.Errorf(protocol.CodeInvalidJSON, "",
			"a .json file holds one command object {...} or an array [...] of them")}
	}
}

// trailing reads past the end of the JSON value; io.EOF means there is
// nothing but blanks, and the decoder's offset is then past the extra.
func (r *jsonReader) trailing() error {
	_, err := r.dec.Token()
	if err == nil {
		return errors.New("more")
	}
	return err
}

func (r *jsonReader) element() (entry, error) {
	start := r.dec.InputOffset()
	var raw json.RawMessage
	if err := r.dec.Decode(&raw); err != nil {
		return entry{}, r.syntax(err, start)
	}
	end := r.dec.InputOffset()
	if len(raw) > MaxLineBytes {
		return entry{}, r.fail(end-int64(len(raw)), CodeLineTooLong, "the command is longer than %d bytes", MaxLineBytes)
	}
	r.n++
	e := entry{Line: r.lines.at(end - int64(len(raw))), N: r.n}
	switch {
	case !utf8.Valid(raw):
		e.Err = encodingError("")
	case raw[0] != '{':
		e.Err = protocol.Errorf(protocol.CodeInvalidJSON, "", "command %d is not a JSON object", r.n)
	default:
		e.Raw = raw
	}
	return e, nil
}

func (r *jsonReader) syntax(err error, off int64) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offsets are relative to where this decoder started, which is the
		// first non-blank byte (see start).
		return r.fail(se.Offset, protocol.CodeInvalidJSON, "JSON syntax error: %v", se)
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return r.fail(r.dec.InputOffset(), protocol.CodeInvalidJSON, "the file ends in the middle of the JSON")
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return r.fail(off, protocol.CodeInvalidJSON, "JSON: %v", err)
	}
	r.state = 2
	return err
}

// lineCounter turns increasing byte offsets into line numbers by reading
// a second copy of the file alongside the decoder, so that a command's
// line costs no memory. Offsets are relative to base.
type lineCounter struct {
	r    *bufio.Reader
	pos  int64 // bytes consumed from r
	base int64 // offset of decoder byte 0 in r
	line int
	bom  bool
}

// skip records that the decoder's offsets start n bytes into the text.
func (c *lineCounter) skip(n int64) { c.base = n }

// at returns the line of decoder offset off; offsets must not decrease.
func (c *lineCounter) at(off int64) int {
	if !c.bom {
		c.bom = true
		if b, _ := c.r.Peek(3); bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
			c.r.Discard(3)
		}
	}
	target := c.base + off
	for c.pos < target {
		b, err := c.r.ReadByte()
		if err != nil {
			break
		}
		c.pos++
		if b == '\n' {
			c.line++
		}
	}
	return c.line
}

// csvReader reads a .csv file whose header row names protocol fields.
type csvReader struct {
	r      *csv.Reader
	header []string
	n      int
}

// intFields are the protocol fields that are JSON numbers; every other
// cell becomes a JSON string, which is what the protocol wants for ids,
// names and amounts ("150.00" stays exact).
var intFields = map[string]bool{"expires_in": true, "since": true}

// boolFields are the protocol's JSON booleans. A spreadsheet has no JSON
// true, so the spellings people type are taken, in any case.
var boolFields = map[string]bool{"summary": true}

var csvBools = map[string]string{
	"true": "true", "false": "false", "1": "true", "0": "false",
	"yes": "true", "no": "false", "evet": "true", "hayır": "false", "hayir": "false",
}

// jsonFields are the protocol fields that are a JSON array or object: in
// a CSV cell they are written as JSON, e.g. items as
// [{"name":"Elma","quantity":"1","amount":"50.50","vat_rate":1}] (quoted,
// with each " doubled, as spreadsheets save it).
var jsonFields = map[string]byte{"items": '[', "customer": '{'}

// csvBool reads a boolean cell; Turkish "HAYIR" lowers to "hayir"
// outside a Turkish locale, so both spellings are known.
func csvBool(cell string) (string, bool) {
	v, ok := csvBools[strings.ToLower(cell)]
	return v, ok
}

func newCSV(br *bufio.Reader) (*csvReader, error) {
	cr := csv.NewReader(br)
	cr.Comma = sniffComma(br)
	cr.FieldsPerRecord = -1 // checked per row, so the message can say which
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, &fileError{Err: protocol.Errorf(CodeNoCommands, "", "the file is empty: a header row and one row per command are needed")}
	}
	if err != nil {
		return nil, csvError(err)
	}
	r := &csvReader{r: cr}
	seen := map[string]bool{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(h))
		if !utf8.ValidString(h) {
			return nil, &fileError{Line: 1, Err: encodingError("")}
		}
		if h == "" {
			return nil, &fileError{Line: 1, Err: protocol.Errorf(CodeInvalidCSV, "", "column %d of the header row has no name", i+1)}
		}
		if seen[h] {
			return nil, &fileError{Line: 1, Err: protocol.Errorf(CodeInvalidCSV, h, "the header row names %q twice", h)}
		}
		seen[h] = true
		r.header = append(r.header, h)
	}
	return r, nil
}

// sniffComma picks the separator from the header line: Excel with Turkish
// regional settings saves "CSV" with semicolons, because the comma is the
// decimal separator there.
func sniffComma(br *bufio.Reader) rune {
	b, _ := br.Peek(4096)
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	best, comma := 0, ','
	for _, c := range []rune{',', ';', '\t'} {
		if n := bytes.Count(b, []byte(string(c))); n > best {
			best, comma = n, c
		}
	}
	return comma
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &fileError{Line: pe.StartLine, Err: protocol.Errorf(CodeInvalidCSV, "", "%v", pe.Err)}
	}
	return err
}

func (r *csvReader) next() (entry, error) {
	before := r.r.InputOffset()
	rec, err := r.r.Read()
	if err == io.EOF {
		if r.n == 0 {
			return entry{}, &fileError{Err: protocol.Errorf(CodeNoCommands, "", "the file has a header row but no commands")}
		}
		return entry{}, io.EOF
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if r.r.InputOffset() == before {
			return entry{}, csvError(err) // no progress: the rest cannot be read
		}
		r.n++
		return entry{Line: pe.StartLine, N: r.n, Err: protocol.Errorf(CodeInvalidCSV, "", "%v", pe.Err)}, nil
	}
	if err != nil {
		return entry{}, err
	}
	r.n++
	line, _ := r.r.FieldPos(0)
	e := entry{Line: line, N: r.n}
	if len(rec) != len(r.header) {
		e.Err = protocol.Errorf(CodeInvalidCSV, "", "the row has %d cells, the header row %d", len(rec), len(r.header))
		return e, nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for i, cell := range rec {
		cell = strings.TrimSpace(cell)
		if cell == "" {
			continue // an empty cell is an absent field, as Excel writes them
		}
		if !utf8.ValidString(cell) {
			e.Err = encodingError(r.header[i])
			return e, nil
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		k, _ := json.Marshal(r.header[i])
		b.Write(k)
		b.WriteByte(':')
		h := r.header[i]
		switch open, isJSON := jsonFields[h]; {
		case intFields[h] && isSmallInt(cell):
			b.WriteString(cell)
		case boolFields[h]:
			v, ok := csvBool(cell)
			if !ok {
				e.Err = protocol.Errorf(protocol.CodeInvalidField, h, "%s must be true or false (1/0, evet/hayır, yes/no also do), not %q", h, cell)
				return e, nil
			}
			b.WriteString(v)
		case isJSON:
			if cell[0] != open || !json.Valid([]byte(cell)) {
				kind := "an array [...]"
				if open == '{' {
					kind = "an object {...}"
				}
				e.Err = protocol.Errorf(protocol.CodeInvalidField, h, "in a CSV file %s is written as JSON, %s, in one cell", h, kind)
				return e, nil
			}
			var c bytes.Buffer
			json.Compact(&c, []byte(cell))
			b.Write(c.Bytes())
		default:
			v, _ := json.Marshal(cell)
			b.Write(v)
		}
	}
	b.WriteByte('}')
	e.Raw = b.Bytes()
	return e, nil
}

func isSmallInt(s string) bool {
	if len(s) == 0 || len(s) > 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s[0] != '0' || len(s) == 1
}
