package wireschema_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/internal/wireschema"
)

func load(t *testing.T) *wireschema.Schema {
	t.Helper()
	s, err := wireschema.Default()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEveryTypeDefined holds the schema to the protocol's list of
// commands and to the events docs/protocol.md describes.
func TestEveryTypeDefined(t *testing.T) {
	s := load(t)
	cmds, evs := s.Types()
	slices.Sort(cmds)
	slices.Sort(evs)
	want := append(slices.Clone(protocol.Types), "hello")
	slices.Sort(want)
	want = slices.Compact(want)
	if !slices.Equal(cmds, want) {
		t.Errorf("schema commands %v, protocol has %v", cmds, want)
	}
	wantEv := []string{"accepted", "error", "hello", "pong", "reply", "result", "resumed", "state", "status"}
	if !slices.Equal(evs, wantEv) {
		t.Errorf("schema events %v, want %v", evs, wantEv)
	}
}

// example is one JSON value found in a ```json block of a doc.
type example struct {
	where string // file:line
	raw   []byte
}

// docExamples reads every ```json block of the docs under root. A block
// holds JSON values separated by white space: one per line, or objects
// spread over several lines. Every value must be valid JSON: a block
// meant as a sketch uses another language tag.
func docExamples(t *testing.T, root string, files ...string) []example {
	t.Helper()
	var out []example
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		line, start := 0, 0
		var block *bytes.Buffer
		for sc.Scan() {
			line++
			text := sc.Text()
			trimmed := strings.TrimSpace(text)
			switch {
			case block == nil && trimmed == "```json":
				block, start = &bytes.Buffer{}, line+1
			case block != nil && trimmed == "```":
				dec := json.NewDecoder(bytes.NewReader(block.Bytes()))
				for {
					var v json.RawMessage
					err := dec.Decode(&v)
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Errorf("%s:%d: a ```json block that is not JSON: %v", f, start, err)
						break
					}
					// The line of the value: count newlines before its end.
					off := int(dec.InputOffset()) - len(v)
					at := start + bytes.Count(block.Bytes()[:max(off, 0)], []byte("\n"))
					out = append(out, example{where: f + ":" + strconv.Itoa(at), raw: v})
				}
				block = nil
			case block != nil:
				block.WriteString(text)
				block.WriteByte('\n')
			}
		}
	}
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = filepath.Dir(dir)
	}
}

// TestDocExamples: every JSON example in the protocol reference and the
// register guide is a valid command or event.
func TestDocExamples(t *testing.T) {
	s := load(t)
	exs := docExamples(t, moduleRoot(t), "docs/protocol.md", "docs/registers.md")
	if len(exs) < 40 {
		t.Fatalf("found only %d examples; is the block scanner broken?", len(exs))
	}
	for _, ex := range exs {
		cerr, eerr := s.Command(ex.raw), s.Event(ex.raw)
		if cerr != nil && eerr != nil {
			t.Errorf("%s: neither a valid command nor a valid event:\nas a command: %v\nas an event: %v", ex.where, cerr, eerr)
		}
	}
}

// Commands both the schema and protocol.Decode accept.
var goodCommands = []string{
	`{"type":"sale","id":"R1-000123","terminal":"kasa-1","amount":"150.00","currency":"TRY","expires_in":120}`,
	`{"type":"sale","id":"a","terminal":"kasa-1","amount":150.1}`,
	`{"type":"sale","id":"R1/2026:11.23_x-1","terminal":"kasa-1","amount":"0.01","currency":"GBP"}`,
	`{"type":"sale","id":"` + strings.Repeat("x", 64) + `","terminal":"kasa-1","amount":"100000000000.00"}`,
	`{"type":"sale","id":"S1","terminal":"kasa-1","amount":"99999999999.99","expires_in":3600}`,
	`{"type":"sale","id":"S2","terminal":"kasa-1","amount":"150.50","items":[{"name":"Saç Tıraşı","quantity":"1","unit_price":"100.00","amount":"100.00","vat_rate":20,"unit":"C62","code":"869000"},{"name":"Elma","quantity":"0.5","amount":"50.50","vat_rate":1,"unit":"KGM"}],"customer":{"type":"individual","first_name":"Eda","last_name":"Yılmaz","identity_number":"12345678901"}}`,
	`{"type":"sale","id":"S3","terminal":"kasa-1","amount":"10","items":[{"name":"Çay","quantity":2,"amount":10,"vat_rate":0}],"customer":{"type":"corporate","company_name":"Acar Ltd.","tax_office":"Kadıköy","tax_number":"1234567890","email":"a@b.c"}}`,
	`{"type":"sale","id":"TEL-0042","terminal":"vpos-1","amount":"150.00","card":{"number":"4508 0345 0803 4509","expiry_month":"1","expiry_year":"31","cvc":"123","holder":"Zeynep Kaya"}}`,
	`{"type":"refund","id":"R1-000124","terminal":"kasa-1","original_id":"R1-000123","amount":"50.00"}`,
	`{"type":"refund","id":"R1-000124","terminal":"kasa-1","original_id":"R1-000123","amount":"15.00","currency":"TRY","items":[{"name":"Çay","quantity":"1","amount":"15.00","vat_rate":10}]}`,
	`{"type":"void","id":"R1-000125","terminal":"kasa-1","original_id":"R1-000123"}`,
	`{"type":"end_of_day","id":"EOD-2026-11-23-kasa-1","terminal":"kasa-1"}`,
	`{"type":"end_of_day","id":"EOD-2026-11-24-kasa-1","terminal":"kasa-1","summary":false}`,
	`{"type":"partial_start","id":"B1","terminal":"kasa-1","amount":"100.00","items":[{"name":"Demlik","amount":"100.00","vat_rate":20}]}`,
	`{"type":"partial_add","id":"B1-1","terminal":"kasa-1","original_id":"B1","amount":"60.00","expires_in":90}`,
	`{"type":"partial_complete","id":"B1-done","terminal":"kasa-1","original_id":"B1"}`,
	`{"type":"query","id":"R1-000123"}`,
	`{"type":"resume","since":0}`,
	`{"type":"resume","since":41}`,
	`{"type":"resume","since":41,"scope":"register"}`,
	`{"type":"resume","since":41,"scope":"all"}`,
	`{"type":"hello","register":"kasa-pc-1"}`,
	`{"type":"hello","register":"` + strings.Repeat("K", 64) + `"}`,
	`{"type":"hello","register":"a.b_c-D9"}`,
	`{"type":"cancel","id":"R1-000126"}`,
	`{"type":"status"}`,
	`{"type":"ping"}`,
	`{"type":"call","id":"c-1","terminal":"kasa-1","op":"refundable_sale_info","params":{"original_id":"R1-000123"}}`,
	`{"type":"call","id":"c-2","terminal":"vpos-1","op":"installments"}`,
}

// Commands both refuse: each names what is wrong.
var badCommands = []struct{ name, cmd string }{
	{"not an object", `[1,2]`},
	{"no type", `{"id":"R1"}`},
	{"unknown type", `{"type":"charge","id":"R1"}`},
	{"typo field", `{"type":"sale","id":"R1","terminal":"kasa-1","ammount":"1.00"}`},
	{"sale without id", `{"type":"sale","terminal":"kasa-1","amount":"1.00"}`},
	{"empty id", `{"type":"sale","id":"","terminal":"kasa-1","amount":"1.00"}`},
	{"id 65 chars", `{"type":"sale","id":"` + strings.Repeat("x", 65) + `","terminal":"kasa-1","amount":"1.00"}`},
	{"id with space", `{"type":"sale","id":"R 1","terminal":"kasa-1","amount":"1.00"}`},
	{"id starts with dash", `{"type":"sale","id":"-R1","terminal":"kasa-1","amount":"1.00"}`},
	{"id not a string", `{"type":"sale","id":123,"terminal":"kasa-1","amount":"1.00"}`},
	{"no terminal", `{"type":"sale","id":"R1","amount":"1.00"}`},
	{"empty terminal", `{"type":"sale","id":"R1","terminal":"","amount":"1.00"}`},
	{"no amount", `{"type":"sale","id":"R1","terminal":"kasa-1"}`},
	{"three decimals", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"150.123"}`},
	{"three decimals number", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":150.123}`},
	{"zero", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"0.00"}`},
	{"zero number", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":0}`},
	{"negative", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"-5.00"}`},
	{"negative number", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":-5}`},
	{"comma", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"150,00"}`},
	{"thousands", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1,500.00"}`},
	{"exponent string", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1e3"}`},
	{"leading zero", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"0150.00"}`},
	{"dot only", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"150."}`},
	{"too large", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"100000000000.01"}`},
	{"amount bool", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":true}`},
	{"currency", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","currency":"JPY"}`},
	{"currency lower", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","currency":"try"}`},
	{"expires_in 0", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","expires_in":0}`},
	{"expires_in 3601", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","expires_in":3601}`},
	{"expires_in string", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","expires_in":"120"}`},
	{"items empty", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","items":[]}`},
	{"items 501", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"501.00","items":[` + strings.TrimSuffix(strings.Repeat(`{"name":"x","amount":"1.00","vat_rate":20},`, 501), ",") + `]}`},
	{"item without name", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","items":[{"amount":"1.00","vat_rate":20}]}`},
	{"item name 101", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","items":[{"name":"` + strings.Repeat("ş", 101) + `","amount":"1.00","vat_rate":20}]}`},
	{"item name two lines", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","items":[{"name":"a\nb","amount":"1.00","vat_rate":20}]}`},
	{"item without vat", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","items":[{"name":"x","amount":"1.00"}]}`},
	{"item vat 101", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","items":[{"name":"x","amount":"1.00","vat_rate":101}]}`},
	{"item vat string", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","items":[{"name":"x","amount":"1.00","vat_rate":"20"}]}`},
	{"item quantity 4 decimals", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","items":[{"name":"x","quantity":"0.2505","amount":"1.00","vat_rate":20}]}`},
	{"item quantity zero", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","items":[{"name":"x","quantity":"0.000","amount":"1.00","vat_rate":20}]}`},
	{"item unit lower", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","items":[{"name":"x","amount":"1.00","vat_rate":20,"unit":"kgm"}]}`},
	{"item unknown field", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","items":[{"name":"x","amount":"1.00","vat_rate":20,"price":"1"}]}`},
	{"customer without type", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","customer":{"first_name":"A","last_name":"B"}}`},
	{"customer bad type", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","customer":{"type":"company","company_name":"A"}}`},
	{"individual without last name", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","customer":{"type":"individual","first_name":"A"}}`},
	{"corporate without name", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","customer":{"type":"corporate","tax_number":"1234567890"}}`},
	{"tckn 10 digits", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","customer":{"type":"individual","first_name":"A","last_name":"B","identity_number":"1234567890"}}`},
	{"vkn letters", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","customer":{"type":"corporate","company_name":"A","tax_number":"12345678ab"}}`},
	{"email without at", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","customer":{"type":"corporate","company_name":"A","email":"a.b.c"}}`},
	{"customer unknown field", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","customer":{"type":"corporate","company_name":"A","vat_no":"1"}}`},
	{"card short", `{"type":"sale","id":"R1","terminal":"vpos-1","amount":"1.00","card":{"number":"45080345","expiry_month":"12","expiry_year":"2031","cvc":"123","holder":"Z K"}}`},
	{"card month 13", `{"type":"sale","id":"R1","terminal":"vpos-1","amount":"1.00","card":{"number":"4508034508034509","expiry_month":"13","expiry_year":"2031","cvc":"123","holder":"Z K"}}`},
	{"card year 3 digits", `{"type":"sale","id":"R1","terminal":"vpos-1","amount":"1.00","card":{"number":"4508034508034509","expiry_month":"12","expiry_year":"203","cvc":"123","holder":"Z K"}}`},
	{"card cvc 2", `{"type":"sale","id":"R1","terminal":"vpos-1","amount":"1.00","card":{"number":"4508034508034509","expiry_month":"12","expiry_year":"2031","cvc":"12","holder":"Z K"}}`},
	{"card no holder", `{"type":"sale","id":"R1","terminal":"vpos-1","amount":"1.00","card":{"number":"4508034508034509","expiry_month":"12","expiry_year":"2031","cvc":"123"}}`},
	{"card number as number", `{"type":"sale","id":"R1","terminal":"vpos-1","amount":"1.00","card":{"number":4508034508034509,"expiry_month":"12","expiry_year":"2031","cvc":"123","holder":"Z K"}}`},
	{"refund without original", `{"type":"refund","id":"R2","terminal":"kasa-1","amount":"1.00"}`},
	{"refund bad original", `{"type":"refund","id":"R2","terminal":"kasa-1","original_id":"R 1","amount":"1.00"}`},
	{"refund with expires_in", `{"type":"refund","id":"R2","terminal":"kasa-1","original_id":"R1","amount":"1.00","expires_in":60}`},
	{"refund with customer", `{"type":"refund","id":"R2","terminal":"kasa-1","original_id":"R1","amount":"1.00","customer":{"type":"corporate","company_name":"A"}}`},
	{"void with amount", `{"type":"void","id":"V1","terminal":"kasa-1","original_id":"R1","amount":"1.00"}`},
	{"end_of_day summary string", `{"type":"end_of_day","id":"E1","terminal":"kasa-1","summary":"yes"}`},
	{"end_of_day with amount", `{"type":"end_of_day","id":"E1","terminal":"kasa-1","amount":"1.00"}`},
	{"partial_start with expires_in", `{"type":"partial_start","id":"B1","terminal":"kasa-1","amount":"1.00","expires_in":60}`},
	{"partial_add with items", `{"type":"partial_add","id":"B1-1","terminal":"kasa-1","original_id":"B1","amount":"1.00","items":[{"name":"x","amount":"1.00","vat_rate":20}]}`},
	{"partial_complete without original", `{"type":"partial_complete","id":"B1-done","terminal":"kasa-1"}`},
	{"query without id", `{"type":"query"}`},
	{"query with terminal", `{"type":"query","id":"R1","terminal":"kasa-1"}`},
	{"resume without since", `{"type":"resume"}`},
	{"resume negative", `{"type":"resume","since":-1}`},
	{"resume since string", `{"type":"resume","since":"41"}`},
	{"cancel without id", `{"type":"cancel"}`},
	{"resume scope unknown", `{"type":"resume","since":1,"scope":"mine"}`},
	{"resume scope not a string", `{"type":"resume","since":1,"scope":1}`},
	{"hello without register", `{"type":"hello"}`},
	{"hello empty register", `{"type":"hello","register":""}`},
	{"hello register 65", `{"type":"hello","register":"` + strings.Repeat("K", 65) + `"}`},
	{"hello register colon", `{"type":"hello","register":"kasa:1"}`},
	{"hello register space", `{"type":"hello","register":"kasa 1"}`},
	{"hello register @filedrop", `{"type":"hello","register":"@filedrop"}`},
	{"hello with id", `{"type":"hello","register":"kasa-1","id":"x"}`},
	{"status with id", `{"type":"status","id":"x"}`},
	{"ping with field", `{"type":"ping","data":1}`},
	{"call without op", `{"type":"call","id":"c1","terminal":"kasa-1"}`},
	{"call op upper", `{"type":"call","id":"c1","terminal":"kasa-1","op":"BinCheck"}`},
	{"call params array", `{"type":"call","id":"c1","terminal":"kasa-1","op":"bin_check","params":[1]}`},
	{"call without terminal", `{"type":"call","id":"c1","op":"bin_check"}`},
}

// TestSchemaRefusesBadCommands: what the agent refuses, the schema
// refuses too, so a client checking its frames against the schema finds
// the mistake before it reaches the agent.
func TestSchemaRefusesBadCommands(t *testing.T) {
	s := load(t)
	for _, tc := range badCommands {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Command([]byte(tc.cmd)); err == nil {
				t.Errorf("schema accepts %s", tc.cmd)
			}
		})
	}
}

// TestSchemaAgreesWithDecoder: on every good and every bad command the
// schema and the agent's decoder say the same.
func TestSchemaAgreesWithDecoder(t *testing.T) {
	s := load(t)
	for _, cmd := range goodCommands {
		if err := s.Command([]byte(cmd)); err != nil {
			t.Errorf("schema refuses a good command: %v", err)
		}
		if _, perr := protocol.Decode([]byte(cmd)); perr != nil {
			t.Errorf("decoder refuses %s: %v", cmd, perr)
		}
	}
	for _, tc := range badCommands {
		if _, perr := protocol.Decode([]byte(tc.cmd)); perr == nil {
			t.Errorf("%s: decoder accepts %s", tc.name, tc.cmd)
		}
	}
}

// TestKnownDifferences pins down where JSON Schema cannot follow the
// decoder, so a change on either side shows up here and in the docs
// (docs/protocol.md, "The schema").
func TestKnownDifferences(t *testing.T) {
	s := load(t)
	tests := []struct {
		name          string
		cmd           string
		schema, agent bool // accepted by each
	}{
		// The schema sees only a number's value, not its spelling.
		{"amount number with exponent", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":1.5e2}`, true, false},
		{"amount number with three decimals of zeros", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":150.000}`, true, false},
		// Cross-field rules.
		{"items not adding up", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"2.00","items":[{"name":"x","amount":"1.00","vat_rate":20}]}`, true, false},
		{"original_id is the id", `{"type":"refund","id":"R1","terminal":"kasa-1","original_id":"R1","amount":"1.00"}`, true, false},
		{"card check digit", `{"type":"sale","id":"R1","terminal":"vpos-1","amount":"1.00","card":{"number":"4508034508034508","expiry_month":"12","expiry_year":"2031","cvc":"123","holder":"Z K"}}`, true, false},
		// The agent reads null as absent; the contract has no nulls.
		{"null currency", `{"type":"sale","id":"R1","terminal":"kasa-1","amount":"1.00","currency":null}`, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			serr := s.Command([]byte(tc.cmd))
			_, perr := protocol.Decode([]byte(tc.cmd))
			if (serr == nil) != tc.schema {
				t.Errorf("schema accepts = %v, want %v (%v)", serr == nil, tc.schema, serr)
			}
			if (perr == nil) != tc.agent {
				t.Errorf("decoder accepts = %v, want %v (%v)", perr == nil, tc.agent, perr)
			}
		})
	}
}

// TestEvents: the event definitions refuse what a register must never
// have to handle.
func TestEvents(t *testing.T) {
	s := load(t)
	good := []string{
		`{"type":"accepted","id":"R1","register":"kasa-pc-1","seq":1,"state":"queued"}`,
		`{"type":"accepted","id":"R1","register":"@filedrop","seq":1,"state":"queued","replay":true}`,
		`{"type":"state","id":"R1","register":"local","seq":2,"state":"queued","reason":"waiting_for_original","next_attempt_at":"2026-11-24T09:12:05.5Z"}`,
		`{"type":"result","id":"R1","register":"local","seq":3,"status":"cancelled","reason":"cancelled_by_register","error":{"code":"cancelled","message":"cancelled before it was sent; nothing was charged"}}`,
		`{"type":"error","id":"R1","error":{"code":"busy","retry_after_ms":1000,"message":"busy"}}`,
		`{"type":"error","error":{"code":"frame_too_large","message":"frame is larger than 65536 bytes; nothing was stored"}}`,
		`{"type":"resumed","since":0,"last_seq":0,"scope":"all"}`,
		`{"type":"pong"}`,
		`{"type":"reply","id":"c-1","op":"terminals","data":[1,2]}`,
		`{"type":"hello","register":"kasa-pc-1","agent":"shop-7","protocol":1,"last_seq":0}`,
		`{"type":"status","agent":{"id":"a","version":"v","uptime_s":0}}`,
	}
	for _, ev := range good {
		if err := s.Event([]byte(ev)); err != nil {
			t.Errorf("schema refuses a good event: %v", err)
		}
	}
	bad := []struct{ name, ev string }{
		{"accepted without seq", `{"type":"accepted","id":"R1","register":"kasa-pc-1","state":"queued"}`},
		{"accepted without register", `{"type":"accepted","id":"R1","seq":1,"state":"queued"}`},
		{"register with colon", `{"type":"accepted","id":"R1","register":"a:b","seq":1,"state":"queued"}`},
		{"replay false", `{"type":"accepted","id":"R1","register":"r","seq":1,"state":"queued","replay":false}`},
		{"state final", `{"type":"state","id":"R1","register":"r","seq":2,"state":"approved"}`},
		{"result unknown status", `{"type":"result","id":"R1","register":"r","seq":3,"status":"ok"}`},
		{"approved with error", `{"type":"result","id":"R1","register":"r","seq":3,"status":"approved","error":{"code":"x","message":"m"}}`},
		{"declined without error", `{"type":"result","id":"R1","register":"r","seq":3,"status":"declined"}`},
		{"payment without provider", `{"type":"result","id":"R1","register":"r","seq":3,"status":"approved","payment":{"payment_id":"1"}}`},
		{"busy without retry_after_ms", `{"type":"error","id":"R1","error":{"code":"busy","message":"busy"}}`},
		{"retry_after_ms zero", `{"type":"error","id":"R1","error":{"code":"busy","retry_after_ms":0,"message":"busy"}}`},
		{"error with seq", `{"type":"error","seq":4,"error":{"code":"x","message":"m"}}`},
		{"hello protocol 2", `{"type":"hello","register":"r","agent":"a","protocol":2,"last_seq":0}`},
		{"unknown event", `{"type":"ack"}`},
		{"undocumented field", `{"type":"pong","at":1}`},
	}
	for _, tc := range bad {
		if err := s.Event([]byte(tc.ev)); err == nil {
			t.Errorf("%s: schema accepts %s", tc.name, tc.ev)
		}
	}
}
