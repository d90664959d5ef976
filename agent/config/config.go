// Package config loads tezgah's one TOML configuration file: strict
// (unknown keys are errors with their line), with defaults for everything
// a shop need not decide, and secrets that may come from the environment
// or a separate file. docs/configuration.md describes every key.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Config is the whole file.
type Config struct {
	Agent     Agent      `toml:"agent"`
	Iyzico    *Iyzico    `toml:"iyzico"`
	Paywall   *Paywall   `toml:"paywall"`
	Vomsis    *Vomsis    `toml:"vomsis"`
	Terminals []Terminal `toml:"terminal"`
	LAN       LAN        `toml:"lan"`
	Filedrop  Filedrop   `toml:"filedrop"`
	// dataDirDefaulted is set when the file left agent.data_dir out, so
	// the installed service can put the data in its own place.
	dataDirDefaulted bool
}

// Filedrop is the [filedrop] table: the folder integration for
// back-office programs (docs/filedrop.md).
type Filedrop struct {
	Enabled bool `toml:"enabled"`
	// Dir holds inbox/, processing/, done/ and failed/; empty means
	// <data_dir>/filedrop, decided at run time so --data-dir moves it too.
	Dir           string   `toml:"dir"`
	StableFor     Duration `toml:"stable_for"`
	Rescan        Duration `toml:"rescan"`
	Policy        string   `toml:"policy"`
	ResultFormats []string `toml:"result_formats"`
}

// DataDirDefaulted reports whether agent.data_dir came from the default
// rather than the file.
func (c *Config) DataDirDefaulted() bool { return c.dataDirDefaulted }

// ServiceDataDir is the data directory of the installed service when the
// file sets none: the StateDirectory systemd made for it
// ($STATE_DIRECTORY, /var/lib/tezgah), or %ProgramData%\tezgah\data.
func ServiceDataDir() string {
	if runtime.GOOS == "windows" {
		return filepath.Join(filepath.Dir(DefaultPath()), "data")
	}
	if d, _, _ := strings.Cut(os.Getenv("STATE_DIRECTORY"), ":"); d != "" {
		return d
	}
	return "/var/lib/tezgah"
}

// Agent is the [agent] table.
type Agent struct {
	ID             string   `toml:"id"`
	Listen         string   `toml:"listen"`
	DataDir        string   `toml:"data_dir"`
	AllowedOrigins []string `toml:"allowed_origins"`
	AllowedHosts   []string `toml:"allowed_hosts"`
	PairingToken   string   `toml:"pairing_token"`
	SaleTimeout    Duration `toml:"sale_timeout"`
	Retention      Duration `toml:"retention"`
	LogLevel       string   `toml:"log_level"`
	MaxFrameBytes  int64    `toml:"max_frame_bytes"`
	// The busy bounds (busy.go).
	MaxAcceptWait        Duration          `toml:"max_accept_wait"`
	MaxQueuedPerTerminal int               `toml:"max_queued_per_terminal"`
	MaxOutageAmount      map[string]string `toml:"max_outage_amount"`
}

// Iyzico is the [iyzico] table.
type Iyzico struct {
	BaseURL        string   `toml:"base_url"`
	ClientID       string   `toml:"client_id"`
	ClientSecret   string   `toml:"client_secret"`
	Username       string   `toml:"username"`
	Password       string   `toml:"password"`
	Locale         string   `toml:"locale"`
	SaleAppName    string   `toml:"sale_app_name"`
	SaleAppVersion string   `toml:"sale_app_version"`
	TaxGroupCode   string   `toml:"tax_group_code"`
	UnitCode       string   `toml:"unit_code"`
	Timeout        Duration `toml:"timeout"`

	// TaxGroups maps a VAT rate in whole percent ("20") to the VUK 507
	// taxGroupCode for it; rates not listed take TaxGroupCode.
	TaxGroups map[string]string `toml:"tax_groups"`
}

// Vomsis is the [vomsis] table: the Vomsis Sanal POS API V3 account for
// card-not-present sales (docs/providers/vomsis.md).
type Vomsis struct {
	BaseURL   string `toml:"base_url"`
	AppKey    string `toml:"app_key"`
	AppSecret string `toml:"app_secret"`
	Lang      string `toml:"lang"`
	ClientIP  string `toml:"client_ip"`
	// PageURL is how the payer's browser reaches the agent for the 3-D
	// Secure page and returnUrl; default http://127.0.0.1:<listen port>.
	PageURL        string   `toml:"page_url"`
	ThreeDSTimeout Duration `toml:"three_ds_timeout"`
	Timeout        Duration `toml:"timeout"`
}

// DefaultVomsisURL is the live API (reference: no sandbox is published).
const DefaultVomsisURL = "https://uygulama.vomsis.com/api/vpos/v3"

// Terminal is one [[terminal]].
type Terminal struct {
	Name     string `toml:"name"`
	Provider string `toml:"provider"`
	DeviceID string `toml:"device_id"`
	Model    string `toml:"model"`
	// Mode is a Paywall terminal's sale call, "async" (default) or
	// "sync"; it is carried to the adapter as the terminal's Model.
	Mode string `toml:"mode"`
}

// Duration is a TOML string such as "120s" or "720h".
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like \"120s\", \"30m\" or \"720h\"", b)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// DefaultListen is loopback only: LAN listening is a deliberate choice.
const DefaultListen = "127.0.0.1:8417"

// DefaultPath is where the file lives on this OS.
func DefaultPath() string {
	if runtime.GOOS == "windows" {
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return filepath.Join(pd, "tezgah", "tezgah.toml")
	}
	return "/etc/tezgah/tezgah.toml"
}

// DefaultDataDir is the per-user data directory used by `tezgah run`
// when the file does not set one.
func DefaultDataDir() string {
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "tezgah")
		}
	case "darwin":
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, "Library", "Application Support", "tezgah")
		}
	default:
		if d := os.Getenv("XDG_STATE_HOME"); d != "" {
			return filepath.Join(d, "tezgah")
		}
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, ".local", "state", "tezgah")
		}
	}
	return filepath.Join(os.TempDir(), "tezgah")
}

// Demo is the configuration of `tezgah run --demo`: two iyzico VUK 507
// terminals, one Paywall terminal and one Vomsis virtual POS on the
// in-process simulators, whose demo credentials these are.
func Demo() *Config {
	c := &Config{
		Agent: Agent{Listen: DefaultListen},
		Iyzico: &Iyzico{
			ClientID: "demo-client", ClientSecret: "demo-secret", Username: "demo", Password: "demo",
			TaxGroupCode: "KDV20",
		},
		Terminals: []Terminal{
			{Name: "kasa-1", Provider: "iyzico", DeviceID: "P00134", Model: "vuk507"},
			{Name: "kasa-2", Provider: "iyzico", DeviceID: "P00135", Model: "vuk507"},
			// The Paywall terminal of the docs' sale example, on paywallsim.
			{Name: "kasa-3", Provider: "paywall", DeviceID: "8ff33705-57c7-42dc-8341-a0053e7f3009", Mode: "async"},
			{Name: "vpos-1", Provider: "vomsis"},
		},
		Paywall: &Paywall{APIKey: "demo-paywall-key", APIClient: "demo-paywall-client"},
		Vomsis:  &Vomsis{AppKey: "demo-app-key", AppSecret: "demo-app-secret"},
	}
	// The demo shows the folder integration too: drop a file into
	// <data>/filedrop/inbox and read the result in done/.
	c.Filedrop.Enabled = true
	c.defaults()
	return c
}

// Load reads, checks and completes the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load from bytes; name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	var c Config
	dec := toml.NewDecoder(strings.NewReader(string(data))).DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, decodeError(name, err)
	}
	if err := c.resolveSecrets(name); err != nil {
		return nil, err
	}
	c.defaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &c, nil
}

var allowedKeys = map[string]string{
	"":         "agent, iyzico, paywall, vomsis, terminal, lan, filedrop",
	"lan":      lanKeys,
	"filedrop": "enabled, dir, stable_for, rescan, policy, result_formats",
	"agent":    "id, listen, data_dir, allowed_origins, allowed_hosts, pairing_token, sale_timeout, retention, log_level, max_frame_bytes, max_accept_wait, max_queued_per_terminal, max_outage_amount",
	"iyzico":   "base_url, client_id, client_secret, username, password, locale, sale_app_name, sale_app_version, tax_group_code, tax_groups, unit_code, timeout",
	"terminal": "name, provider, device_id, model, mode",
	"paywall":  paywallKeys,
	"vomsis":   "base_url, app_key, app_secret, lang, client_ip, page_url, three_ds_timeout, timeout",
}

func decodeError(name string, err error) error {
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) {
		var msgs []string
		for _, e := range sm.Errors {
			row, _ := e.Position()
			key := strings.Join(e.Key(), ".")
			table := ""
			if k := e.Key(); len(k) > 1 {
				table = k[0]
			}
			msgs = append(msgs, fmt.Sprintf("%s:%d: unknown key %q (allowed: %s)", name, row, key, allowedKeys[table]))
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		return fmt.Errorf("%s:%d: %s: %s", name, row, strings.Join(de.Key(), "."), de.Error())
	}
	return fmt.Errorf("%s: %w", name, err)
}

// resolveSecrets replaces "env:NAME" and "file:/path" in secret fields.
func (c *Config) resolveSecrets(name string) error {
	fields := map[string]*string{"agent.pairing_token": &c.Agent.PairingToken}
	if c.Iyzico != nil {
		fields["iyzico.client_secret"] = &c.Iyzico.ClientSecret
		fields["iyzico.password"] = &c.Iyzico.Password
	}
	if c.Paywall != nil {
		fields["paywall.api_key"] = &c.Paywall.APIKey
		fields["paywall.api_client"] = &c.Paywall.APIClient
	}
	if c.Vomsis != nil {
		fields["vomsis.app_secret"] = &c.Vomsis.AppSecret
	}
	var errs []error
	for key, p := range fields {
		v, err := secret(*p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", name, key, err))
			continue
		}
		*p = v
	}
	return errors.Join(errs...)
}

func secret(v string) (string, error) {
	if env, ok := strings.CutPrefix(v, "env:"); ok {
		s, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return s, nil
	}
	if path, ok := strings.CutPrefix(v, "file:"); ok {
		fi, err := os.Stat(path)
		if err != nil {
			return "", err
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("%s is readable by other users (mode %v): chmod 600 it", path, fi.Mode().Perm())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return v, nil
}

func (c *Config) defaults() {
	a := &c.Agent
	if a.ID == "" {
		a.ID, _ = os.Hostname()
	}
	if a.Listen == "" {
		a.Listen = DefaultListen
	}
	if a.DataDir == "" {
		a.DataDir = DefaultDataDir()
		c.dataDirDefaulted = true
	}
	if a.SaleTimeout.Duration == 0 {
		a.SaleTimeout.Duration = 120 * time.Second
	}
	if a.Retention.Duration == 0 {
		a.Retention.Duration = 30 * 24 * time.Hour
	}
	if a.LogLevel == "" {
		a.LogLevel = "info"
	}
	if a.MaxFrameBytes == 0 {
		a.MaxFrameBytes = 64 << 10
	}
	c.lanDefaults()
	c.paywallDefaults()
	c.busyDefaults()
	fd := &c.Filedrop
	if fd.StableFor.Duration == 0 {
		fd.StableFor.Duration = 2 * time.Second
	}
	if fd.Rescan.Duration == 0 {
		fd.Rescan.Duration = 10 * time.Second
	}
	if fd.Policy == "" {
		fd.Policy = "all_or_nothing"
	}
	if len(fd.ResultFormats) == 0 {
		fd.ResultFormats = []string{"json"}
	}
	if i := c.Iyzico; i != nil {
		if i.Locale == "" {
			i.Locale = "tr"
		}
		if i.SaleAppName == "" {
			i.SaleAppName = "tezgah"
		}
		if i.UnitCode == "" {
			i.UnitCode = "C62"
		}
		if i.Timeout.Duration == 0 {
			i.Timeout.Duration = 150 * time.Second
		}
	}
	if v := c.Vomsis; v != nil {
		if v.BaseURL == "" {
			v.BaseURL = DefaultVomsisURL
		}
		if v.Lang == "" {
			v.Lang = "tr"
		}
		if v.ClientIP == "" {
			v.ClientIP = "127.0.0.1"
		}
		if v.ThreeDSTimeout.Duration == 0 {
			v.ThreeDSTimeout.Duration = 10 * time.Minute
		}
		if v.Timeout.Duration == 0 {
			v.Timeout.Duration = 60 * time.Second
		}
	}
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Validate reports every problem at once, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	switch c.Agent.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("agent.log_level", "%q is not one of debug, info, warn, error", c.Agent.LogLevel)
	}
	if c.Agent.SaleTimeout.Duration < time.Second || c.Agent.SaleTimeout.Duration > time.Hour {
		bad("agent.sale_timeout", "%v is outside 1s..1h", c.Agent.SaleTimeout.Duration)
	}
	if c.Agent.Retention.Duration < 24*time.Hour {
		bad("agent.retention", "%v is under 24h: results must outlive a register's day", c.Agent.Retention.Duration)
	}
	if c.Agent.MaxFrameBytes < 1024 {
		bad("agent.max_frame_bytes", "%d is under 1024", c.Agent.MaxFrameBytes)
	}
	if i := c.Iyzico; i != nil {
		if !strings.HasPrefix(i.BaseURL, "https://") && !strings.HasPrefix(i.BaseURL, "http://") {
			bad("iyzico.base_url", "%q is not an http(s) URL such as https://api.iyzipay.com", i.BaseURL)
		}
		for key, v := range map[string]string{"iyzico.client_id": i.ClientID, "iyzico.client_secret": i.ClientSecret, "iyzico.username": i.Username, "iyzico.password": i.Password} {
			if v == "" {
				bad(key, "is required")
			}
		}
		if i.Locale != "tr" && i.Locale != "en" {
			bad("iyzico.locale", "%q is not one of tr, en", i.Locale)
		}
		for rate, code := range i.TaxGroups {
			if _, err := TaxRate(rate); err != nil {
				bad("iyzico.tax_groups."+rate, "%v", err)
			}
			if code == "" {
				bad("iyzico.tax_groups."+rate, "is empty: give iyzico's taxGroupCode for VAT %s%%", rate)
			}
		}
	}
	c.validatePaywall(bad)
	c.validateBusy(bad)
	if v := c.Vomsis; v != nil {
		if !strings.HasPrefix(v.BaseURL, "https://") && !strings.HasPrefix(v.BaseURL, "http://") {
			bad("vomsis.base_url", "%q is not an http(s) URL such as %s", v.BaseURL, DefaultVomsisURL)
		}
		if v.AppKey == "" {
			bad("vomsis.app_key", "is required (Vomsis panel → API Ayarları)")
		}
		if v.AppSecret == "" {
			bad("vomsis.app_secret", "is required (Vomsis panel → API Ayarları)")
		}
		if v.Lang != "tr" && v.Lang != "en" {
			bad("vomsis.lang", "%q is not one of tr, en", v.Lang)
		}
		if len(v.ClientIP) > 15 {
			bad("vomsis.client_ip", "%q is longer than Vomsis's 15 characters (an IPv4 address)", v.ClientIP)
		}
		if v.PageURL != "" && !strings.HasPrefix(v.PageURL, "http://") && !strings.HasPrefix(v.PageURL, "https://") {
			bad("vomsis.page_url", "%q is not an http(s) URL such as http://127.0.0.1:8417", v.PageURL)
		}
		if v.ThreeDSTimeout.Duration < 30*time.Second || v.ThreeDSTimeout.Duration > time.Hour {
			bad("vomsis.three_ds_timeout", "%v is outside 30s..1h", v.ThreeDSTimeout.Duration)
		}
	}
	if fd := c.Filedrop; fd.Enabled {
		if fd.StableFor.Duration < 10*time.Millisecond || fd.StableFor.Duration > time.Hour {
			bad("filedrop.stable_for", "%v is outside 10ms..1h", fd.StableFor.Duration)
		}
		if fd.Rescan.Duration < 100*time.Millisecond || fd.Rescan.Duration > time.Hour {
			bad("filedrop.rescan", "%v is outside 100ms..1h", fd.Rescan.Duration)
		}
	}
	if p := c.Filedrop.Policy; p != "all_or_nothing" && p != "skip_invalid" {
		bad("filedrop.policy", "%q is not one of all_or_nothing, skip_invalid", p)
	}
	for _, f := range c.Filedrop.ResultFormats {
		if f != "json" && f != "csv" {
			bad("filedrop.result_formats", "%q is not one of json, csv", f)
		}
	}
	if len(c.Terminals) == 0 {
		bad("terminal", "at least one [[terminal]] is required")
	}
	seen := map[string]bool{}
	for n, t := range c.Terminals {
		key := fmt.Sprintf("terminal[%d]", n+1)
		if !namePattern.MatchString(t.Name) {
			bad(key+".name", "%q must be 1-64 of a-z 0-9 . _ - (e.g. \"kasa-1\")", t.Name)
		}
		if seen[t.Name] {
			bad(key+".name", "%q is used twice", t.Name)
		}
		seen[t.Name] = true
		switch t.Provider {
		case "iyzico":
			if c.Iyzico == nil {
				bad(key+".provider", "iyzico terminals need an [iyzico] table")
			}
			if t.Model != "vuk507" && t.Model != "vuk509" {
				bad(key+".model", "%q is not one of vuk507, vuk509", t.Model)
			}
			if t.DeviceID == "" || len(t.DeviceID) > 64 {
				bad(key+".device_id", "is required, at most 64 characters (iyzico deviceUniqueId)")
			}
		case "paywall":
			c.validatePaywallTerminal(key, t, bad)
		case "vomsis":
			if c.Vomsis == nil {
				bad(key+".provider", "vomsis terminals need a [vomsis] table")
			}
			if t.DeviceID != "" && !digitsOnly(t.DeviceID) {
				bad(key+".device_id", "%q is not a Vomsis POS id (pid, digits); leave it empty to let Vomsis choose", t.DeviceID)
			}
			if t.Model != "" {
				bad(key+".model", "vomsis terminals take no model")
			}
		default:
			bad(key+".provider", "%q is not one of iyzico, paywall, vomsis", t.Provider)
		}
	}
	errs = append(errs, c.validateLAN()...)
	return errors.Join(errs...)
}

// TaxRate reads a key of iyzico.tax_groups: a VAT rate in whole percent.
func TaxRate(key string) (int, error) {
	n, err := strconv.Atoi(key)
	if err != nil || n < 0 || n > 100 || strconv.Itoa(n) != key {
		return 0, fmt.Errorf("%q is not a VAT rate in whole percent from 0 to 100 (e.g. \"20\")", key)
	}
	return n, nil
}

// Redacted returns a copy with secrets replaced, for printing.
func (c *Config) Redacted() *Config {
	r := *c
	if r.Agent.PairingToken != "" {
		r.Agent.PairingToken = "***"
	}
	if c.Iyzico != nil {
		i := *c.Iyzico
		i.ClientSecret, i.Password = "***", "***"
		r.Iyzico = &i
	}
	if c.Paywall != nil {
		p := *c.Paywall
		p.APIKey, p.APIClient = "***", "***"
		r.Paywall = &p
	}
	if c.Vomsis != nil {
		v := *c.Vomsis
		v.AppSecret = "***"
		r.Vomsis = &v
	}
	r.Terminals = append([]Terminal(nil), c.Terminals...)
	return &r
}

func digitsOnly(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return len(s) > 0 && len(s) <= 3
}
