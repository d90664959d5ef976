package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const valid = `
[agent]
listen = "127.0.0.1:9000"
[iyzico]
base_url = "https://sandbox-api.iyzipay.com"
client_id = "c"
client_secret = "s"
username = "u"
password = "p"
[[terminal]]
name = "kasa-1"
provider = "iyzico"
device_id = "P1"
model = "vuk507"
`

func TestParseDefaults(t *testing.T) {
	c, err := Parse("t.toml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if c.Agent.Listen != "127.0.0.1:9000" || c.Agent.SaleTimeout.Duration != 120*time.Second ||
		c.Agent.Retention.Duration != 720*time.Hour || c.Iyzico.UnitCode != "C62" || c.Iyzico.Locale != "tr" {
		t.Fatalf("defaults not applied: %+v %+v", c.Agent, c.Iyzico)
	}
}

func TestShop(t *testing.T) {
	c, err := Parse("t.toml", []byte(strings.Replace(valid, "[agent]", "[agent]\nshop = \"İstanbul Kadıköy 014\"", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Agent.Shop != "İstanbul Kadıköy 014" {
		t.Errorf("shop %q", c.Agent.Shop)
	}
	if d := Demo(); d.Agent.Shop != "demo" {
		t.Errorf("demo shop %q, want demo: deploy/prometheus/shop-agent.yml's example label", d.Agent.Shop)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"unknown key with line", strings.Replace(valid, `device_id = "P1"`, `devce_id = "P1"`, 1),
			`t.toml:13: unknown key "terminal.devce_id" (allowed: name, provider, device_id, model, mode)`},
		{"wrong type", strings.Replace(valid, `listen = "127.0.0.1:9000"`, `listen = 9000`, 1),
			`t.toml:3: agent.listen: must be text in quotes, not a TOML integer, e.g. listen = "…"`},
		{"wrong type number", strings.Replace(valid, "[agent]", "[agent]\nmax_frame_bytes = \"big\"", 1),
			"t.toml:3: agent.max_frame_bytes: must be a whole number without quotes, not a TOML string, e.g. max_frame_bytes = 65536"},
		{"wrong type list", strings.Replace(valid, "[agent]", "[agent]\nallowed_hosts = \"kasa\"", 1),
			`t.toml:3: agent.allowed_hosts: must be a list of texts, not a TOML string, e.g. allowed_hosts = ["a", "b"]`},
		{"syntax", "[agent\nid = 1\n", "t.toml:1:7: not valid TOML: expected ']' to close table name"},
		{"bad listen port", strings.Replace(valid, `"127.0.0.1:9000"`, `"127.0.0.1:99999"`, 1),
			`t.toml:3: agent.listen: port "99999" of "127.0.0.1:99999" is not a number from 1 to 65535`},
		{"listen without port", strings.Replace(valid, `"127.0.0.1:9000"`, `"127.0.0.1"`, 1),
			`t.toml:3: agent.listen: "127.0.0.1" is not host:port`},
		{"missing key at its table", strings.Replace(valid, "password = \"p\"\n", "", 1),
			"t.toml:4: iyzico.password: is required"},
		{"bad duration", strings.Replace(valid, "[agent]", "[agent]\nsale_timeout = \"2 minutes\"", 1), `t.toml:3: agent.sale_timeout: "2 minutes" is not a duration`},
		{"bad model", strings.Replace(valid, `"vuk507"`, `"vuk508"`, 1), `terminal[1].model: "vuk508" is not one of vuk507, vuk509`},
		{"duplicate terminal", valid + "[[terminal]]\nname = \"kasa-1\"\nprovider = \"iyzico\"\ndevice_id = \"P2\"\nmodel = \"vuk509\"\n", `terminal[2].name: "kasa-1" is used twice`},
		{"no provider table", "[[terminal]]\nname = \"k\"\nprovider = \"iyzico\"\ndevice_id = \"P\"\nmodel = \"vuk507\"\n", "need an [iyzico] table"},
		{"missing env secret", strings.Replace(valid, `client_secret = "s"`, `client_secret = "env:TEZGAH_TEST_UNSET"`, 1), "t.toml:7: iyzico.client_secret: environment variable TEZGAH_TEST_UNSET is not set"},
		{"second terminal's key", valid + "[[terminal]]\nname = \"kasa-2\"\nprovider = \"iyzico\"\ndevice_id = \"P2\"\nmodel = \"vuk508\"\n",
			`t.toml:19: terminal[2].model: "vuk508" is not one of vuk507, vuk509`},
		{"missing key of second terminal", valid + "[[terminal]]\nname = \"kasa-2\"\nprovider = \"iyzico\"\nmodel = \"vuk509\"\n",
			"t.toml:15: terminal[2].device_id: is required"},
		{"shop with a control character", strings.Replace(valid, "[agent]", "[agent]\nshop = \"kad\\u0007ikoy\"", 1), `agent.shop: "kad\aikoy" must be at most 128 bytes of printable UTF-8`},
		{"shop too long", strings.Replace(valid, "[agent]", "[agent]\nshop = \""+strings.Repeat("k", 129)+"\"", 1), "agent.shop:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	t.Setenv("TEZGAH_TEST_SECRET", "from-env")
	dir := t.TempDir()
	path := filepath.Join(dir, "pw")
	os.WriteFile(path, []byte("from-file\n"), 0o600)
	in := strings.Replace(valid, `client_secret = "s"`, `client_secret = "env:TEZGAH_TEST_SECRET"`, 1)
	in = strings.Replace(in, `password = "p"`, `password = "file:`+path+`"`, 1)
	c, err := Parse("t.toml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if c.Iyzico.ClientSecret != "from-env" || c.Iyzico.Password != "from-file" {
		t.Fatalf("secrets %q %q", c.Iyzico.ClientSecret, c.Iyzico.Password)
	}
	if r := c.Redacted(); r.Iyzico.Password != "***" || c.Iyzico.Password != "from-file" {
		t.Fatal("Redacted changed the original or kept the secret")
	}
	os.Chmod(path, 0o644)
	if _, err := Parse("t.toml", []byte(in)); err == nil || !strings.Contains(err.Error(), "t.toml:9: iyzico.password: "+path+" is readable by other users") {
		t.Fatalf("world-readable secret file accepted: %v", err)
	}
}

// The example documents every key; it must stay valid.
func TestExampleConfig(t *testing.T) {
	t.Setenv("TEZGAH_PAIRING_TOKEN", "t")
	t.Setenv("IYZICO_CLIENT_SECRET", "s")
	t.Setenv("IYZICO_PASSWORD", "p")
	t.Setenv("PAYWALL_API_KEY", "k")
	t.Setenv("PAYWALL_API_CLIENT", "c")
	t.Setenv("VOMSIS_APP_SECRET", "v")
	if _, err := Load("../../configs/tezgah.example.toml"); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte("[agent]\nlisten = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		Parse("f.toml", data) // must not panic
	})
}

func TestVomsis(t *testing.T) {
	base := "[agent]\n[vomsis]\napp_key = \"k\"\napp_secret = \"env:TEZGAH_TEST_VOMSIS\"\n[[terminal]]\nname = \"vpos-1\"\nprovider = \"vomsis\"\n"
	t.Setenv("TEZGAH_TEST_VOMSIS", "the-secret")
	c, err := Parse("t.toml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.Vomsis.AppSecret != "the-secret" || c.Vomsis.BaseURL != DefaultVomsisURL || c.Vomsis.ThreeDSTimeout.Duration != 10*time.Minute {
		t.Fatalf("vomsis %+v", c.Vomsis)
	}
	if r := c.Redacted(); r.Vomsis.AppSecret != "***" || c.Vomsis.AppSecret != "the-secret" {
		t.Fatal("app_secret not redacted, or the original changed")
	}
	for _, tc := range []struct{ name, text, want string }{
		{"no table", "[agent]\n[[terminal]]\nname = \"vpos-1\"\nprovider = \"vomsis\"\n", "terminal[1].provider"},
		{"bad pid", strings.Replace(base, "provider = \"vomsis\"", "provider = \"vomsis\"\ndevice_id = \"P1\"", 1), "terminal[1].device_id"},
		{"model", strings.Replace(base, "provider = \"vomsis\"", "provider = \"vomsis\"\nmodel = \"vuk507\"", 1), "terminal[1].model"},
		{"no key", strings.Replace(base, "app_key = \"k\"\n", "", 1), "vomsis.app_key"},
		{"short 3ds", strings.Replace(base, "app_key", "three_ds_timeout = \"5s\"\napp_key", 1), "vomsis.three_ds_timeout"},
		{"unknown key", strings.Replace(base, "app_key", "app_id = \"x\"\napp_key", 1), "app_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %s", err, tc.want)
			}
		})
	}
}

func TestFiledropKeys(t *testing.T) {
	base := "[iyzico]\nbase_url = \"http://127.0.0.1:1\"\nclient_id = \"a\"\nclient_secret = \"b\"\nusername = \"c\"\npassword = \"d\"\n" +
		"[[terminal]]\nname = \"kasa-1\"\nprovider = \"iyzico\"\ndevice_id = \"D1\"\nmodel = \"vuk507\"\n"
	c, err := Parse("t.toml", []byte(base+"[filedrop]\nenabled = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if fd := c.Filedrop; !fd.Enabled || fd.StableFor.Duration != 2*time.Second || fd.Rescan.Duration != 10*time.Second ||
		fd.Policy != "all_or_nothing" || len(fd.ResultFormats) != 1 || fd.ResultFormats[0] != "json" {
		t.Errorf("defaults: %+v", fd)
	}
	for _, tc := range []struct{ extra, want string }{
		{"[filedrop]\npolicy = \"best\"\n", "filedrop.policy"},
		{"[filedrop]\nresult_formats = [\"xml\"]\n", "filedrop.result_formats"},
		{"[filedrop]\nenabled = true\nstable_for = \"0s\"\nrescan = \"1ms\"\n", "filedrop.rescan"},
		{"[filedrop]\nwatch = true\n", "unknown key \"filedrop.watch\""},
	} {
		if _, err := Parse("t.toml", []byte(base+tc.extra)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.extra, err, tc.want)
		}
	}
}

func TestParseReportsEveryProblemOnce(t *testing.T) {
	in := strings.Replace(valid, `client_secret = "s"`, `client_secret = "env:TEZGAH_TEST_UNSET"`, 1)
	in = strings.Replace(in, `"vuk507"`, `"vuk508"`, 1)
	_, err := Parse("t.toml", []byte(in))
	if err == nil {
		t.Fatal("accepted")
	}
	want := "t.toml:7: iyzico.client_secret: environment variable TEZGAH_TEST_UNSET is not set\n" +
		`t.toml:14: terminal[1].model: "vuk508" is not one of vuk507, vuk509`
	if err.Error() != want {
		t.Fatalf("got\n%s\nwant\n%s", err, want)
	}
}

func TestKeyLines(t *testing.T) {
	doc := "a = 1\n[agent]\nid = \"x\"\n[[terminal]]\nname = \"k1\"\n[[terminal]]\n\nname = \"k2\"\n[iyzico.tax_groups]\n\"10\" = \"KDV10\"\n"
	got := keyLines([]byte(doc))
	for key, line := range map[string]int{"a": 1, "agent": 2, "agent.id": 3, "terminal[1]": 4, "terminal[1].name": 5,
		"terminal[2]": 6, "terminal[2].name": 8, "iyzico.tax_groups": 9, "iyzico.tax_groups.10": 10} {
		if got[key] != line {
			t.Errorf("%s: line %d, want %d (all: %v)", key, got[key], line, got)
		}
	}
	if n := lineOf(got, "terminal[2].model"); n != 6 {
		t.Errorf("missing key of terminal[2]: line %d, want its table's 6", n)
	}
}
