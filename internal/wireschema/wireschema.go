// Package wireschema checks protocol v1 frames against the JSON Schema in
// docs/schema/tezgah-v1.schema.json, the machine-readable contract the
// client libraries are generated from and checked against. Tests use it
// to hold the agent to that contract: every example in the docs, every
// command the decoder accepts and every event a test register receives
// must validate, so the schema cannot drift from what the agent does.
//
// The schema stays a plain file under docs/ (it is for register
// developers and their tools); Load finds it from the module root.
package wireschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// File is the schema's path relative to the module root.
const File = "docs/schema/tezgah-v1.schema.json"

// Schema is the compiled protocol v1 schema.
type Schema struct {
	command, event *jsonschema.Schema
	// byType holds each command's and event's own definition, so a
	// refusal names what is wrong with that one rather than listing why
	// the frame matches none of the fourteen alternatives.
	commands, events map[string]*jsonschema.Schema
}

// Load compiles the schema file at path.
func Load(path string) (*Schema, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wireschema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("wireschema: %s: %w", path, err)
	}
	var top struct {
		ID   string                     `json:"$id"`
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("wireschema: %s: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(top.ID, doc); err != nil {
		return nil, fmt.Errorf("wireschema: %s: %w", path, err)
	}
	compile := func(def string) (*jsonschema.Schema, error) {
		s, err := c.Compile(top.ID + "#/$defs/" + def)
		if err != nil {
			return nil, fmt.Errorf("wireschema: %s: %s: %w", path, def, err)
		}
		return s, nil
	}
	s := &Schema{commands: map[string]*jsonschema.Schema{}, events: map[string]*jsonschema.Schema{}}
	if s.command, err = compile("command"); err != nil {
		return nil, err
	}
	if s.event, err = compile("event"); err != nil {
		return nil, err
	}
	for name := range top.Defs {
		var m map[string]*jsonschema.Schema
		var typ string
		if t, ok := strings.CutSuffix(name, "_command"); ok {
			m, typ = s.commands, t
		} else if t, ok := strings.CutSuffix(name, "_event"); ok {
			m, typ = s.events, t
		} else {
			continue
		}
		if m[typ], err = compile(name); err != nil {
			return nil, err
		}
	}
	return s, nil
}

var (
	defaultOnce   sync.Once
	defaultSchema *Schema
	defaultErr    error
)

// Default loads the schema of the module this package is built in,
// found by walking up from the working directory to go.mod (tests run
// in their package's directory). It is loaded once.
func Default() (*Schema, error) {
	defaultOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			defaultErr = fmt.Errorf("wireschema: %w", err)
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				defaultSchema, defaultErr = Load(filepath.Join(dir, File))
				return
			}
			up := filepath.Dir(dir)
			if up == dir {
				defaultErr = errors.New("wireschema: no go.mod above the working directory")
				return
			}
			dir = up
		}
	})
	return defaultSchema, defaultErr
}

// ForTest is Default for a test: it fails t when the schema cannot be
// loaded.
func ForTest(t testing.TB) *Schema {
	t.Helper()
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Types lists the command and the event types the schema defines.
func (s *Schema) Types() (commands, events []string) {
	for t := range s.commands {
		commands = append(commands, t)
	}
	for t := range s.events {
		events = append(events, t)
	}
	return commands, events
}

// Command reports whether data is one valid protocol v1 command.
func (s *Schema) Command(data []byte) error {
	return validate(data, "command", s.command, s.commands)
}

// Event reports whether data is one valid protocol v1 event.
func (s *Schema) Event(data []byte) error {
	return validate(data, "event", s.event, s.events)
}

func validate(data []byte, what string, all *jsonschema.Schema, byType map[string]*jsonschema.Schema) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("wireschema: %s is not one JSON value: %w", what, err)
	}
	err = all.Validate(v)
	if err == nil {
		return nil
	}
	if obj, ok := v.(map[string]any); ok {
		if typ, ok := obj["type"].(string); ok && byType[typ] != nil {
			if terr := byType[typ].Validate(v); terr != nil {
				err = terr
			}
		}
	}
	return fmt.Errorf("wireschema: not a valid %s: %s\n%w", what, bytes.TrimSpace(data), err)
}
