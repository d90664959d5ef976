package filedrop

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

// got is an entry in a comparable form: "L<line>#<n> <raw or code/field>".
func readAll(t testing.TB, f format, data []byte) (out []string, fatal *fileError) {
	t.Helper()
	rd, err := newReader(f, bytes.NewReader(data), bytes.NewReader(data))
	for err == nil {
		var e entry
		e, err = rd.next()
		if err != nil {
			break
		}
		if e.Err != nil {
			out = append(out, fmt.Sprintf("L%d#%d %s/%s", e.Line, e.N, e.Err.Code, e.Err.Field))
		} else {
			out = append(out, fmt.Sprintf("L%d#%d %s", e.Line, e.N, e.Raw))
		}
	}
	if err == io.EOF {
		return out, nil
	}
	if !errors.As(err, &fatal) {
		t.Fatalf("unexpected error %v", err)
	}
	return out, fatal
}

func TestReaders(t *testing.T) {
	cases := []struct {
		name  string
		f     format
		in    string
		want  []string
		fatal string // "L<line> code"
	}{
		{"ndjson crlf bom", formatNDJSON, "\ufeff{\"a\":1}\r\n\r\n  {\"b\":2} \r\n",
			[]string{`L1#1 {"a":1}`, `L3#2 {"b":2}`}, ""},
		{"ndjson bad lines continue", formatNDJSON, "{\"a\":1}\n[1]\n{\"c\":\"\xde\"}\n{\"d\":4}",
			[]string{`L1#1 {"a":1}`, "L2#2 invalid_json/", "L3#3 invalid_encoding/", `L4#4 {"d":4}`}, ""},
		{"ndjson utf16", formatNDJSON, "\xfe\xff\x00{", nil, "L1 invalid_encoding"},
		{"json object", formatJSON, "\ufeff\r\n\r\n{\"type\":\"end_of_day\"}\r\n", []string{`L3#1 {"type":"end_of_day"}`}, ""},
		{"json array pretty", formatJSON, "[\n  {\"a\":1},\n\n  {\"b\":\n 2}\n]\n",
			[]string{`L2#1 {"a":1}`, "L4#2 {\"b\":\n 2}"}, ""},
		{"json array one line", formatJSON, `[{"a":1},{"b":2},3]`,
			[]string{`L1#1 {"a":1}`, `L1#2 {"b":2}`, "L1#3 invalid_json/"}, ""},
		{"json syntax", formatJSON, "[\n{\"a\":1},\n{\"b\" 2}\n]", []string{`L2#1 {"a":1}`}, "L3 invalid_json"},
		{"json trailing", formatJSON, "{\"a\":1}\n{\"b\":2}", nil, "L2 invalid_json"},
		{"json truncated", formatJSON, "[{\"a\":1},", []string{`L1#1 {"a":1}`}, "L1 invalid_json"},
		{"json empty", formatJSON, " \n ", nil, "L0 no_commands"},
		{"json scalar", formatJSON, "\n\"x\"", nil, "L2 invalid_json"},
		{"csv semicolon bom crlf", formatCSV, "\ufeffType;ID;Terminal;Amount;expires_in\r\nsale;S-1;kasa-1;10.00;60\r\n\r\nend_of_day;;kasa-1;;\r\n",
			[]string{`L2#1 {"type":"sale","id":"S-1","terminal":"kasa-1","amount":"10.00","expires_in":60}`,
				`L4#2 {"type":"end_of_day","terminal":"kasa-1"}`}, ""},
		{"csv quoted newline", formatCSV, "type,note\nsale,\"a\nb\"\nsale,c\n",
			[]string{`L2#1 {"type":"sale","note":"a\nb"}`, `L4#2 {"type":"sale","note":"c"}`}, ""},
		{"csv bad expires_in stays a string", formatCSV, "type,expires_in\nsale,1e3\n",
			[]string{`L2#1 {"type":"sale","expires_in":"1e3"}`}, ""},
		{"csv cells", formatCSV, "a,b\n1\n1,2\n", []string{"L2#1 invalid_csv/", `L3#2 {"a":"1","b":"2"}`}, ""},
		{"csv bad quote", formatCSV, "a,b\n1,\"x\"y\n3,4\n", []string{"L2#1 invalid_csv/", `L3#2 {"a":"3","b":"4"}`}, ""},
		{"csv duplicate header", formatCSV, "a,A\n1,2\n", nil, "L1 invalid_csv"},
		{"csv header only", formatCSV, "type,terminal\r\n", nil, "L0 no_commands"},
		{"csv summary spellings", formatCSV, "type;summary\nend_of_day;TRUE\nend_of_day;Evet\nend_of_day;0\nend_of_day;HAYIR\nend_of_day;hayır\nend_of_day;no\nend_of_day;belki\n",
			[]string{`L2#1 {"type":"end_of_day","summary":true}`, `L3#2 {"type":"end_of_day","summary":true}`, `L4#3 {"type":"end_of_day","summary":false}`,
				`L5#4 {"type":"end_of_day","summary":false}`, `L6#5 {"type":"end_of_day","summary":false}`, `L7#6 {"type":"end_of_day","summary":false}`,
				"L8#7 invalid_field/summary"}, ""},
		{"csv items and customer as JSON", formatCSV, "type;amount;items;customer\n" +
			`sale;50.50;"[{""name"":""Elma"",""quantity"":""1"",""amount"":""50.50"",""vat_rate"":1}]";"{""type"":""individual"", ""first_name"":""Eda""}"` + "\n" +
			"sale;1.00;Elma;\nsale;1.00;;[1]\n",
			[]string{`L2#1 {"type":"sale","amount":"50.50","items":[{"name":"Elma","quantity":"1","amount":"50.50","vat_rate":1}],"customer":{"type":"individual","first_name":"Eda"}}`,
				"L3#2 invalid_field/items", "L4#3 invalid_field/customer"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, fatal := readAll(t, tc.f, []byte(tc.in))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			gotFatal := ""
			if fatal != nil {
				gotFatal = fmt.Sprintf("L%d %s", fatal.Line, fatal.Err.Code)
			}
			if gotFatal != tc.fatal {
				t.Errorf("fatal %q, want %q (%v)", gotFatal, tc.fatal, fatal)
			}
		})
	}
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$`)

func TestNamer(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	key := func(name string) string { return fileKey(name, hash) }
	cases := []struct{ file, own, want string }{
		{"eod.json", "EOD-1", "eod:" + key("eod.json") + ":EOD-1"},
		{"Şişli Şubesi gün sonu.csv", "-L2", "Sisli_Subesi_gun_sonu:" + key("Şişli Şubesi gün sonu.csv") + ":-L2"},
		{"-x.ndjson", "-L1", "f-x:" + key("-x.ndjson") + ":-L1"},
		{strings.Repeat("long", 20) + ".csv", "S-1", strings.Repeat("long", 20)[:43] + ":" + key(strings.Repeat("long", 20)+".csv") + ":S-1"},
		{"a.csv", strings.Repeat("9", 60), ""}, // hashed: checked for shape only
	}
	for _, tc := range cases {
		n := newNamer(tc.file, hash, formatCSV)
		got := n.id(tc.own)
		if tc.want != "" && got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.file, tc.own, got, tc.want)
		}
		if !idPattern.MatchString(got) {
			t.Errorf("%s %s: %q is not a protocol id", tc.file, tc.own, got)
		}
		if got2 := newNamer(tc.file, hash, formatCSV).id(tc.own); got2 != got {
			t.Errorf("not deterministic: %q %q", got, got2)
		}
	}
	if a, b := newNamer("x.csv", hash, formatCSV).id(strings.Repeat("1", 60)), newNamer("x.csv", hash, formatCSV).id(strings.Repeat("1", 59)+"2"); a == b {
		t.Errorf("two long ids map to one: %q", a)
	}
}

// TestNamerNoCollisions: files with the same content whose names differ
// anywhere — after the part of the name that fits in an id, only in case,
// only in Turkish letters or in characters ids cannot hold, only in the
// extension — get different ids for every command. Issue 19: names cut to
// 48 characters made the second day's file report the first day's
// results.
func TestNamerNoCollisions(t *testing.T) {
	hash := strings.Repeat("0", 64)
	long := strings.Repeat("ç", 120) // 240 bytes
	names := []string{
		"Kadikoy Moda Subesi gun sonu raporu kasa-1 2026-11-24.ndjson",
		"Kadikoy Moda Subesi gun sonu raporu kasa-1 2026-11-25.ndjson",
		long + "a.ndjson" + strings.Repeat("x", 6),       // 255 bytes
		long + "b.ndjson" + strings.Repeat("x", 6),       // 255 bytes, differing in the middle
		long + "a.ndjson" + strings.Repeat("x", 5) + "y", // differing in the last byte
		"EOD.ndjson", "eod.ndjson", "Eod.ndjson", "eod.NDJSON",
		"Şişli.ndjson", "Sisli.ndjson", "şişli.ndjson", "ŞİŞLİ.ndjson", "SISLI.ndjson",
		"çğıİöşü.ndjson", "cgiIosu.ndjson", "ÇĞIİÖŞÜ.ndjson",
		"a b.ndjson", "a_b.ndjson", "a+b.ndjson", "a.b.ndjson",
		"gün sonu.ndjson", "gun sonu.ndjson", "gün sonu.jsonl", "gün sonu.json",
	}
	seen := map[string]string{}
	for _, name := range names {
		if len(name) > 255 {
			t.Fatalf("test name %d bytes", len(name))
		}
		for _, own := range []string{"S-1", "-L1", "-N1", strings.Repeat("E", 64)} {
			n := newNamer(name, hash, formatNDJSON)
			id := n.id(own)
			if !idPattern.MatchString(id) {
				t.Errorf("%q %s: %q is not a protocol id", name, own, id)
			}
			if other, dup := seen[id]; dup {
				t.Errorf("%q and %s share id %q", name, other, id)
			}
			seen[id] = fmt.Sprintf("%q (%s)", name, own)
		}
	}
	// Within one file: a command without an id never takes the id
	// written on another line.
	n := newNamer("x.ndjson", hash, formatNDJSON)
	if a, b := n.id("L2"), n.id(n.unnamed(entry{Line: 2, N: 2})); a == b {
		t.Errorf("own id L2 and line 2 without an id share %q", a)
	}
}

func TestLegacyID(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	cases := []struct{ file, own, want string }{
		{"eod.json", "EOD-1", "eod:abababababab:EOD-1"},
		{"Şişli Şubesi gün sonu.csv", "-L2", "Sisli_Subesi_gun_sonu:abababababab:L2"},
		{strings.Repeat("long", 20) + ".csv", "S-1", strings.Repeat("long", 20)[:47] + ":abababababab:S-1"},
	}
	for _, tc := range cases {
		if got := legacyID(tc.file, hash, tc.own); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.file, tc.own, got, tc.want)
		}
		if !IsLegacyID(tc.want) {
			t.Errorf("IsLegacyID(%q) = false", tc.want)
		}
		// Today's ids for the same command are never taken for legacy ones.
		if now := newNamer(tc.file, hash, formatCSV).id(tc.own); IsLegacyID(now) {
			t.Errorf("IsLegacyID(%q) = true for a new id", now)
		}
	}
}

// TestDecodeNamespaces: ids are namespaced, an original_id naming a sale in
// the same file follows it, one naming anything else is kept.
func TestDecodeNamespaces(t *testing.T) {
	n := newNamer("f.ndjson", strings.Repeat("0", 64), formatNDJSON)
	k := "f:" + fileKey("f.ndjson", strings.Repeat("0", 64)) + ":"
	lines := []string{
		`{"type":"sale","id":"S-1","terminal":"kasa-1","amount":"10"}`,
		`{"type":"sale","terminal":"kasa-1","amount":"10"}`,
		`{"type":"refund","terminal":"kasa-1","amount":"5","original_id":"S-1"}`,
		`{"type":"void","terminal":"kasa-1","original_id":"WS-9"}`,
		`{"type":"query","id":"WS-9"}`,
	}
	want := []string{
		k + "S-1 ",
		k + "-L2 ",
		k + "-L3 " + k + "S-1",
		k + "-L4 WS-9",
		"WS-9 ",
	}
	for i, l := range lines {
		c, perr := n.decode(entry{Line: i + 1, N: i + 1, Raw: []byte(l)})
		if perr != nil {
			t.Fatalf("line %d: %v", i+1, perr)
		}
		if got := c.Cmd.ID + " " + c.Cmd.OriginalID; got != want[i] {
			t.Errorf("line %d: %q, want %q", i+1, got, want[i])
		}
	}
}

// fuzzReader checks what every reader promises for any input: it ends,
// lines never go backwards, each entry is an object or a coded error, and
// a decoded command has a protocol id.
func fuzzReader(t *testing.T, f format, data []byte) {
	rd, err := newReader(f, bytes.NewReader(data), bytes.NewReader(data))
	if err != nil {
		var fe *fileError
		if !errors.As(err, &fe) || fe.Err.Code == "" {
			t.Fatalf("bad error %v", err)
		}
		return
	}
	nm := newNamer("fuzz.x", strings.Repeat("f", 64), f)
	line, n := 0, 0
	for i := 0; ; i++ {
		if i > len(data)+2 {
			t.Fatalf("more entries than bytes: the reader does not end")
		}
		e, err := rd.next()
		if err == io.EOF {
			return
		}
		if err != nil {
			var fe *fileError
			if !errors.As(err, &fe) || fe.Err.Code == "" || fe.Line < 0 {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		if e.Line < line || e.Line < 1 || e.N != n+1 {
			t.Fatalf("entry line %d n %d after line %d n %d", e.Line, e.N, line, n)
		}
		line, n = e.Line, e.N
		if (e.Err == nil) == (e.Raw == nil) {
			t.Fatalf("entry has both or neither of Raw and Err: %+v", e)
		}
		if e.Err != nil {
			if e.Err.Code == "" || e.Err.Message == "" {
				t.Fatalf("error without code or message: %+v", e.Err)
			}
			continue
		}
		if f == formatCSV && !json.Valid(e.Raw) {
			t.Fatalf("CSV row became invalid JSON: %s", e.Raw)
		}
		c, perr := nm.decode(e)
		if perr != nil {
			if perr.Code == "" {
				t.Fatalf("decode error without code: %+v", perr)
			}
			continue
		}
		if c.Cmd.ID != "" && !idPattern.MatchString(c.Cmd.ID) {
			t.Fatalf("id %q is not a protocol id", c.Cmd.ID)
		}
	}
}

func FuzzNDJSON(f *testing.F) {
	f.Add([]byte("\ufeff{\"type\":\"sale\",\"terminal\":\"kasa-1\",\"amount\":\"1.00\"}\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzReader(t, formatNDJSON, data) })
}

func FuzzJSON(f *testing.F) {
	f.Add([]byte(`[{"type":"end_of_day","terminal":"kasa-1"}]`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzReader(t, formatJSON, data) })
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("type;terminal;amount\r\nsale;kasa-1;1.00\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzReader(t, formatCSV, data) })
}

// BenchmarkRead10k reads and decodes files of 10,000 commands in each
// format, as the validate, submit and report passes each do once.
func BenchmarkRead10k(b *testing.B) {
	const n = 10000
	files := map[format][]byte{}
	var nd, js, cs bytes.Buffer
	js.WriteString("[\n")
	cs.WriteString("type;id;terminal;amount;currency\r\n")
	for i := range n {
		fmt.Fprintf(&nd, `{"type":"sale","id":"S-%05d","terminal":"kasa-1","amount":"%d.50","currency":"TRY"}`+"\r\n", i, i)
		if i > 0 {
			js.WriteString(",\n")
		}
		fmt.Fprintf(&js, `  {"type":"sale","id":"S-%05d","terminal":"kasa-1","amount":"%d.50","currency":"TRY"}`, i, i)
		fmt.Fprintf(&cs, "sale;S-%05d;kasa-1;%d.50;TRY\r\n", i, i)
	}
	js.WriteString("\n]\n")
	files[formatNDJSON], files[formatJSON], files[formatCSV] = nd.Bytes(), js.Bytes(), cs.Bytes()
	for _, f := range []format{formatNDJSON, formatJSON, formatCSV} {
		b.Run(string(f), func(b *testing.B) {
			data := files[f]
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				rd, err := newReader(f, bytes.NewReader(data), bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				nm := newNamer("bench."+string(f), strings.Repeat("0", 64), f)
				count := 0
				for {
					e, err := rd.next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					if _, perr := nm.decode(e); perr != nil {
						b.Fatal(perr)
					}
					count++
				}
				if count != n {
					b.Fatalf("%d commands", count)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/command")
		})
	}
}

// genReader produces a file of n commands on the fly, never holding it.
type genReader struct {
	head, line string
	n, i       int
	buf        []byte
}

func (g *genReader) Read(p []byte) (int, error) {
	for len(g.buf) < len(p) && g.i <= g.n {
		if g.i == 0 {
			g.buf = append(g.buf, g.head...)
		} else {
			g.buf = fmt.Appendf(g.buf, g.line, g.i)
		}
		g.i++
	}
	if len(g.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.buf)
	g.buf = g.buf[:copy(g.buf, g.buf[n:])]
	return n, nil
}

// TestReadersStream reads files far larger than the heap it allows: a
// reader that kept the file would need more than the bound for it alone.
func TestReadersStream(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 3 x 30 MB")
	}
	const n = 300000
	const bound = 8 << 20 // the smallest file, the CSV, is 10 MB
	cases := []struct {
		f          format
		head, line string
	}{
		{formatNDJSON, "", `{"type":"sale","id":"S-%07d","terminal":"kasa-1","amount":"10.50","currency":"TRY","expires_in":600}` + "\r\n"},
		{formatJSON, "[\n", `  {"type":"sale","id":"S-%07d","terminal":"kasa-1","amount":"10.50","currency":"TRY","expires_in":600},` + "\n"},
		{formatCSV, "type;id;terminal;amount;currency;expires_in\r\n", "sale;S-%07d;kasa-1;10.50;TRY;600\r\n"},
	}
	for _, tc := range cases {
		t.Run(string(tc.f), func(t *testing.T) {
			gen := func() io.Reader { return &genReader{head: tc.head, line: tc.line, n: n} }
			rd, err := newReader(tc.f, gen(), gen())
			if err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			var peak uint64
			count := 0
			for {
				e, err := rd.next()
				if err != nil {
					break // the generated .json ends without its ]
				}
				if e.Err != nil {
					t.Fatalf("line %d: %v", e.Line, e.Err)
				}
				count++
				if count%20000 == 0 {
					var m runtime.MemStats
					runtime.ReadMemStats(&m)
					peak = max(peak, m.HeapAlloc)
				}
			}
			if count != n {
				t.Fatalf("read %d of %d commands", count, n)
			}
			if peak > bound {
				t.Errorf("heap reached %d MB reading a %d-command file", peak>>20, n)
			}
			t.Logf("%d commands, peak heap %.1f MB", count, float64(peak)/(1<<20))
		})
	}
}

// TestCompanion: result and error file names fit the file system's 255
// bytes for any dropped name, stay valid UTF-8, and two long names that
// differ only at their end keep different companions.
func TestCompanion(t *testing.T) {
	long := strings.Repeat("ğ", 120) // 240 bytes
	a, b := long+"-24.ndjson", long+"-25.ndjson"
	seen := map[string]bool{}
	for _, name := range []string{"eod.json", a, b, strings.Repeat("x", 255)} {
		for _, suffix := range []string{".result.json", ".result.csv", ".error.txt"} {
			c := companion(name, suffix)
			if len(c) > maxName || !utf8.ValidString(c) || !strings.HasSuffix(c, suffix) || seen[c] {
				t.Errorf("companion(%q, %s) = %q (%d bytes)", name, suffix, c, len(c))
			}
			seen[c] = true
		}
	}
	if got := companion("eod.json", ".result.json"); got != "eod.json.result.json" {
		t.Errorf("a short name's companion is %q", got)
	}
}
