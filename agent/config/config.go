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
	Terminals []Terminal `toml:"terminal"`
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

// Terminal is one [[terminal]].
type Terminal struct {
	Name     string `toml:"name"`
	Provider string `toml:"provider"`
	DeviceID string `toml:"device_id"`
	Model    string `toml:"model"`
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
// terminals on the in-process simulator, whose demo credentials these are.
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
		},
	}
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
	"":         "agent, iyzico, terminal",
	"agent":    "id, listen, data_dir, allowed_origins, allowed_hosts, pairing_token, sale_timeout, retention, log_level, max_frame_bytes",
	"iyzico":   "base_url, client_id, client_secret, username, password, locale, sale_app_name, sale_app_version, tax_group_code, tax_groups, unit_code, timeout",
	"terminal": "name, provider, device_id, model",
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
		default:
			bad(key+".provider", "%q is not one of iyzico", t.Provider)
		}
	}
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
	r.Terminals = append([]Terminal(nil), c.Terminals...)
	return &r
}
