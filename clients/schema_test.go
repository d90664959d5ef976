package clients_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// schemaDefs reads the $defs of the protocol's JSON Schema.
func schemaDefs(t *testing.T) map[string]struct {
	Properties map[string]json.RawMessage `json:"properties"`
	Enum       []string                   `json:"enum"`
} {
	t.Helper()
	raw, err := os.ReadFile("../docs/schema/tezgah-v1.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
			Enum       []string                   `json:"enum"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s.Defs
}

func props(t *testing.T, def string, drop ...string) []string {
	t.Helper()
	d, ok := schemaDefs(t)[def]
	if !ok {
		t.Fatalf("schema has no $defs/%s", def)
	}
	var out []string
	for k := range d.Properties {
		if !slices.Contains(drop, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func enum(t *testing.T, def string) []string {
	t.Helper()
	out := slices.Clone(schemaDefs(t)[def].Enum)
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// snake turns a TypeScript field name into the wire's: paymentId → payment_id.
func snake(s string) string {
	return strings.ToLower(regexp.MustCompile(`([a-z0-9])([A-Z])`).ReplaceAllString(s, "${1}_${2}"))
}

// The event fields a library's typed objects leave to raw: type is the
// object's kind; attempt and reason on a result are for logs ("branch on
// status and error.code, not on this", says the schema).
var resultNotTyped = []string{"type", "attempt", "reason"}

// TestPythonTypesMatchSchema holds the Python library's typed objects to
// docs/schema/tezgah-v1.schema.json: same field names, same enums.
func TestPythonTypesMatchSchema(t *testing.T) {
	py := python(t)
	out, err := exec.Command(py, "-c", `
import json, sys, dataclasses
sys.path.insert(0, "python")
import tezgah
f = lambda c: sorted(x.name for x in dataclasses.fields(c) if x.name != "raw")
print(json.dumps({"payment": f(tezgah.Payment), "error": f(tezgah.ErrorInfo), "result": f(tezgah.Result),
  "state": f(tezgah.StateEvent), "statuses": sorted(tezgah.STATUSES), "states": sorted(tezgah.STATES)}))
`).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var got map[string][]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := map[string][]string{
		"payment":  props(t, "payment"),
		"error":    props(t, "error"),
		"result":   props(t, "result_event", resultNotTyped...),
		"state":    props(t, "state_event", "type"),
		"statuses": enum(t, "status_name"),
		"states":   enum(t, "state_name"),
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("python %s: %v, schema: %v", k, got[k], w)
		}
	}
}

// TestTypeScriptTypesMatchSchema holds tezgah.d.ts (camelCase) and the
// module's exported enums to the schema.
func TestTypeScriptTypesMatchSchema(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("js", "tezgah.d.ts"))
	if err != nil {
		t.Fatal(err)
	}
	iface := func(name string, drop ...string) []string {
		m := regexp.MustCompile(`(?s)export interface ` + name + ` \{(.*?)\n\}`).FindSubmatch(src)
		if m == nil {
			t.Fatalf("tezgah.d.ts has no interface %s", name)
		}
		var out []string
		for _, f := range regexp.MustCompile(`(?m)^\s+(?:readonly )?(\w+)\??:`).FindAllSubmatch(m[1], -1) {
			if n := snake(string(f[1])); !slices.Contains(drop, n) {
				out = append(out, n)
			}
		}
		return sorted(out)
	}
	union := func(name string) []string {
		m := regexp.MustCompile(`export type ` + name + ` = ([^;]*);`).FindSubmatch(src)
		if m == nil {
			t.Fatalf("tezgah.d.ts has no type %s", name)
		}
		var out []string
		for _, v := range regexp.MustCompile(`'([a-z_]+)'`).FindAllSubmatch(m[1], -1) {
			out = append(out, string(v[1]))
		}
		return sorted(out)
	}
	cases := []struct {
		what      string
		got, want []string
	}{
		{"interface Payment", iface("Payment"), props(t, "payment")},
		{"interface ErrorInfo", iface("ErrorInfo"), props(t, "error")},
		{"interface Result", iface("Result", "raw", "approved"), props(t, "result_event", resultNotTyped...)},
		{"interface StateEvent", iface("StateEvent", "raw"), props(t, "state_event", "type")},
		{"type Status", union("Status"), enum(t, "status_name")},
		{"type State", union("State"), enum(t, "state_name")},
	}
	for _, c := range cases {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("tezgah.d.ts %s: %v, schema: %v", c.what, c.got, c.want)
		}
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing(t, "schema check of tezgah.mjs: skipped, node not installed")
	}
	out, err := exec.Command("node", "--input-type=module", "-e",
		`const m = await import("./js/tezgah.mjs"); console.log(JSON.stringify({statuses: [...m.STATUSES].sort(), states: [...m.STATES].sort()}))`).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var got struct{ Statuses, States []string }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !slices.Equal(got.Statuses, enum(t, "status_name")) || !slices.Equal(got.States, enum(t, "state_name")) {
		t.Errorf("tezgah.mjs STATUSES %v STATES %v; schema %v %v", got.Statuses, got.States, enum(t, "status_name"), enum(t, "state_name"))
	}
}

// TestPythonUnit runs the Python library's own unit tests (CI's only test
// command is go test).
func TestPythonUnit(t *testing.T) {
	py := python(t)
	c := exec.Command(py, "-m", "unittest", "discover", "-s", "tests")
	c.Dir = "python"
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("python -m unittest: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
