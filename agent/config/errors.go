package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// FieldError is one problem with one key. Key is dotted, with array
// tables numbered from 1 as a technician counts them: "terminal[2].model".
type FieldError struct {
	Key     string
	Message string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Message }

func fieldError(key, format string, args ...any) error {
	return &FieldError{Key: key, Message: fmt.Sprintf(format, args...)}
}

// keyLines maps every table and key of a TOML document to the line it is
// written on: "iyzico" → the [iyzico] header, "iyzico.password" → that
// key's line, "terminal[2]" → the second [[terminal]] header. A problem
// found after decoding (a missing key, an unset environment variable) is
// reported at its key's line, or else at its table's, so a technician
// can find it in a file of a hundred lines.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	counts := map[string]int{}
	var p unstable.Parser
	p.Reset(data)
	table := ""
	for p.NextExpression() {
		e := p.Expression()
		var parts []string
		first := 0
		for it := e.Key(); it.Next(); {
			n := it.Node()
			if first == 0 {
				first = p.Shape(n.Raw).Start.Line
			}
			parts = append(parts, string(n.Data))
		}
		path := strings.Join(parts, ".")
		switch e.Kind {
		case unstable.Table:
			table = path
		case unstable.ArrayTable:
			counts[path]++
			table = fmt.Sprintf("%s[%d]", path, counts[path])
		case unstable.KeyValue:
			if table != "" {
				path = table + "." + path
			}
			if _, ok := lines[path]; !ok {
				lines[path] = first
			}
			continue
		default:
			continue
		}
		if _, ok := lines[table]; !ok {
			lines[table] = first
		}
	}
	// A syntax error stops the walk; what was read before it still helps.
	return lines
}

// lineOf finds the line of key, or of the nearest table above it.
func lineOf(lines map[string]int, key string) int {
	for k := key; k != ""; {
		if n, ok := lines[k]; ok {
			return n
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

// locate prefixes every FieldError in err with "name:LINE:" where the
// line is known, and the others with "name:".
func locate(name string, lines map[string]int, err error) error {
	var msgs []string
	for _, e := range flatten(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			if n := lineOf(lines, fe.Key); n > 0 {
				msgs = append(msgs, fmt.Sprintf("%s:%d: %s", name, n, e))
				continue
			}
		}
		msgs = append(msgs, fmt.Sprintf("%s: %s", name, e))
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// flatten undoes errors.Join, however nested.
func flatten(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var errs []error
	for _, e := range j.Unwrap() {
		errs = append(errs, flatten(e)...)
	}
	return errs
}

var tomlType = regexp.MustCompile(`cannot decode TOML (\w+)`)

// typeError says what a key of the wrong type should hold, in the file's
// terms rather than Go's ("struct field config.Agent.MaxFrameBytes of
// type int64").
func typeError(name string, de *toml.DecodeError) error {
	row, col := de.Position()
	key := de.Key()
	if len(key) == 0 {
		// Not a key's value: the file itself is not TOML.
		return fmt.Errorf("%s:%d:%d: not valid TOML: %s (quote text values, e.g. id = \"shop-7\"; see configs/tezgah.example.toml)",
			name, row, col, strings.TrimPrefix(de.Error(), "toml: "))
	}
	dotted := strings.Join(key, ".")
	want, example := describeKey(key)
	if want == "" {
		return fmt.Errorf("%s:%d: %s: %s", name, row, dotted, strings.TrimPrefix(de.Error(), "toml: "))
	}
	eg := key[len(key)-1] + " = " + example
	if m := tomlType.FindStringSubmatch(de.Error()); m != nil {
		return fmt.Errorf("%s:%d: %s: must be %s, not a TOML %s, e.g. %s", name, row, dotted, want, m[1], eg)
	}
	// The type was right, the value was not (a duration's own parser).
	return fmt.Errorf("%s:%d: %s: %s (must be %s, e.g. %s)", name, row, dotted, strings.TrimPrefix(de.Error(), "toml: "), want, eg)
}

var durationType = reflect.TypeFor[Duration]()

// describeKey walks Config's toml tags along key and describes the Go
// type found there as a technician would write it.
func describeKey(key []string) (want, example string) {
	t := reflect.TypeFor[Config]()
	for _, k := range key {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := fieldByTag(t, k)
			if !ok {
				return "", ""
			}
			t = f.Type
		case reflect.Map:
			t = t.Elem()
		default:
			return "", ""
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return "a duration in quotes", strconv.Quote((90 * time.Second).String())
	case t.Kind() == reflect.String:
		return "text in quotes", `"…"`
	case t.Kind() == reflect.Bool:
		return "true or false", "true"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number without quotes", "65536"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "a list of texts", `["a", "b"]`
	case t.Kind() == reflect.Map || t.Kind() == reflect.Struct:
		return "a table", "{ … } or its own [" + key[len(key)-1] + "] section"
	}
	return "", ""
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("toml"), ","); name == tag {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
