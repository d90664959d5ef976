package clients_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The C#, Java and Pascal clients hand-write their wire names (no code
// generation on .NET Framework, Java 11 or fpc). Every quoted snake_case
// word in a library, its example and its conformance program — a field it
// reads or writes, a command or event type, a status, a state, an error
// code it branches on — must be a property name, a const or an enum value
// of the JSON Schema, or one of the clients' own codes. A typo such as
// "payment_Id" or "action_uri" fails here.
var wireNameFiles = map[string][]string{
	"csharp": {"csharp/Tezgah.cs", "csharp/Example/Register.cs", "csharp/Conformance/Conformance.cs"},
	"java": {"java/src/main/java/tr/tezgah/client/TezgahClient.java", "java/examples/Register.java",
		"java/conformance/Conformance.java"},
	"pascal": {"pascal/tezgah.pas", "pascal/example_register.pas", "pascal/conformance.pas"},
}

var (
	// Codes the clients make up (never on the wire), and protocol error codes
	// that the schema leaves free (error.code is a pattern with examples).
	clientWords = words("timeout closed not_connected invalid_answer no_random rate_limited unavailable shutting_down unknown_type")
	// Words of the languages and of the conformance programs' arguments and steps.
	languageWords = words("unchecked yyyymmddhhnnss yyyyMMddHHmmss url step cursor sale_refund_void_query_eod paywall_sale vomsis_3ds kill_restart same_id two_registers resume_send resume_collect async_chain")
	// Names every library must use: the money rules depend on them (and it
	// shows the scan found the library's names at all).
	requiredWords  = words("result replay seq payment_id action_url retry_after_ms busy approved waiting sending id_conflict")
	websocketWords = words("hello accepted resume last_seq") // not over the HTTP door (Pascal)
	quotedWord     = regexp.MustCompile(`["']([a-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*)["']`)
)

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

func TestClientWireNamesInSchema(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "schema", "tezgah-v1.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	schemaWords(schema, known)
	defs, _ := schema.(map[string]any)["$defs"].(map[string]any)
	for _, def := range []string{"payment", "error", "status_name", "state_name"} {
		if defs[def] == nil {
			t.Fatalf("schema has no $defs/%s", def)
		}
	}
	for lang, files := range wireNameFiles {
		used := map[string]bool{}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range quotedWord.FindAllStringSubmatch(string(b), -1) {
				if len(m[1]) > 1 && !languageWords[m[1]] {
					used[m[1]] = true
				}
			}
		}
		var unknown, missing []string
		for w := range used {
			if !known[w] && !clientWords[w] {
				unknown = append(unknown, w)
			}
		}
		for w := range requiredWords {
			if !used[w] {
				missing = append(missing, w)
			}
		}
		if lang != "pascal" {
			for w := range websocketWords {
				if !used[w] {
					missing = append(missing, w)
				}
			}
		}
		sort.Strings(unknown)
		sort.Strings(missing)
		if len(unknown) > 0 {
			t.Errorf("%s: names the schema does not know: %s", lang, strings.Join(unknown, ", "))
		}
		if len(missing) > 0 {
			t.Errorf("%s: never uses: %s", lang, strings.Join(missing, ", "))
		}
	}
}

// schemaWords collects property names and string consts, enums and examples.
func schemaWords(node any, out map[string]bool) {
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			switch k {
			case "properties":
				if props, ok := v.(map[string]any); ok {
					for name := range props {
						out[name] = true
					}
				}
			case "const", "enum", "examples":
				vals, ok := v.([]any)
				if !ok {
					vals = []any{v}
				}
				for _, x := range vals {
					if s, ok := x.(string); ok {
						out[s] = true
					}
				}
			}
			schemaWords(v, out)
		}
	case []any:
		for _, x := range n {
			schemaWords(x, out)
		}
	}
}
