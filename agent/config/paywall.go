package config

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
)

// Paywall is the [paywall] table: Paywall PhysicalAPI. The ids of the
// enumerations Paywall's docs leave unpublished are set here; see
// docs/providers/paywall.md for what each default rests on.
type Paywall struct {
	BaseURL   string `toml:"base_url"`
	APIKey    string `toml:"api_key"`    // apikeyprivate (secret)
	APIClient string `toml:"api_client"` // apiclientprivate (secret)

	CurrencyIDs      map[string]int    `toml:"currency_ids"`
	UnitCodeIDs      map[string]int    `toml:"unit_code_ids"`
	DefaultUnitID    int               `toml:"default_unit_code_id"`
	CustomerTypeIDs  map[string]int    `toml:"customer_type_ids"`
	PaymentMethodIDs []int             `toml:"payment_method_ids"`
	Statuses         map[string]string `toml:"statuses"`
	DefaultVATRate   int               `toml:"default_vat_rate"`
	ProductName      string            `toml:"product_name"`

	ReceiptTop              string `toml:"receipt_top"`
	ReceiptBottom           string `toml:"receipt_bottom"`
	ReceiptFontSize         int    `toml:"receipt_font_size"`
	SkipPrintCustomer       bool   `toml:"skip_print_customer"`
	SkipPrintMerchant       bool   `toml:"skip_print_merchant"`
	SkipPaymentOptionScreen bool   `toml:"skip_payment_option_screen"`
	NotifyDisconnected      bool   `toml:"notify_disconnected"`

	PollInterval Duration `toml:"poll_interval"`
	SaleWait     Duration `toml:"sale_wait"`
	Timeout      Duration `toml:"timeout"`
}

const paywallKeys = "base_url, api_key, api_client, currency_ids, unit_code_ids, default_unit_code_id, customer_type_ids, " +
	"payment_method_ids, statuses, default_vat_rate, product_name, receipt_top, receipt_bottom, receipt_font_size, " +
	"skip_print_customer, skip_print_merchant, skip_payment_option_screen, notify_disconnected, poll_interval, sale_wait, timeout"

func (c *Config) paywallDefaults() {
	for i := range c.Terminals {
		t := &c.Terminals[i]
		if t.Provider != "paywall" {
			continue
		}
		if t.Mode == "" {
			t.Mode = "async"
		}
		if t.Model == "" {
			t.Model = t.Mode
		}
	}
	p := c.Paywall
	if p == nil {
		return
	}
	if p.CurrencyIDs == nil {
		p.CurrencyIDs = map[string]int{"TRY": 1}
	}
	if p.DefaultUnitID == 0 {
		p.DefaultUnitID = 1
	}
	if p.CustomerTypeIDs == nil {
		p.CustomerTypeIDs = map[string]int{"individual": 1}
	}
	if p.DefaultVATRate == 0 {
		p.DefaultVATRate = 20
	}
	if p.ProductName == "" {
		p.ProductName = "Satış"
	}
	if p.ReceiptFontSize == 0 {
		p.ReceiptFontSize = 10
	}
	if p.PollInterval.Duration == 0 {
		p.PollInterval.Duration = time.Second
	}
	if p.SaleWait.Duration == 0 {
		p.SaleWait.Duration = 150 * time.Second
	}
	if p.Timeout.Duration == 0 {
		p.Timeout.Duration = 30 * time.Second
	}
}

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (c *Config) validatePaywall(bad func(key, format string, args ...any)) {
	p := c.Paywall
	if p == nil {
		return
	}
	if !httpURL(p.BaseURL) {
		bad("paywall.base_url", "%q is not an http(s) URL: the PhysicalAPI address from the Paywall panel (Paywall publishes no fixed host)", p.BaseURL)
	}
	if p.APIKey == "" {
		bad("paywall.api_key", "is required (apikeyprivate, from the panel: Developer > Integration)")
	}
	if p.APIClient == "" {
		bad("paywall.api_client", "is required (apiclientprivate, from the panel: Developer > Integration)")
	}
	for k, v := range p.Statuses {
		if _, err := strconv.Atoi(k); err != nil {
			bad("paywall.statuses", "key %q is not a PaymentStatusId number", k)
		}
		switch v {
		case "approved", "declined", "failed", "pending":
		default:
			bad("paywall.statuses."+k, "%q is not one of approved, declined, failed, pending", v)
		}
	}
	for k := range p.CustomerTypeIDs {
		if k != "individual" && k != "corporate" {
			bad("paywall.customer_type_ids", "key %q is not individual or corporate", k)
		}
	}
	switch p.DefaultVATRate {
	case 0, 1, 10, 20:
	default:
		bad("paywall.default_vat_rate", "%d is not one of Paywall's tax groups 0, 1, 10, 20", p.DefaultVATRate)
	}
	if n := utf8.RuneCountInString(p.ProductName); n > 75 {
		bad("paywall.product_name", "is %d characters; Paywall takes at most 75", n)
	}
	for key, v := range map[string]string{"paywall.receipt_top": p.ReceiptTop, "paywall.receipt_bottom": p.ReceiptBottom} {
		if n := utf8.RuneCountInString(v); n > 150 {
			bad(key, "is %d characters; Paywall takes at most 150", n)
		}
	}
	if p.ReceiptFontSize < 1 || p.ReceiptFontSize > 99 {
		bad("paywall.receipt_font_size", "%d is outside 1..99", p.ReceiptFontSize)
	}
	if p.PollInterval.Duration < 100*time.Millisecond {
		bad("paywall.poll_interval", "%v is under 100ms", p.PollInterval.Duration)
	}
}

func httpURL(s string) bool {
	return len(s) > 7 && (s[:7] == "http://" || (len(s) > 8 && s[:8] == "https://"))
}

func (c *Config) validatePaywallTerminal(key string, t Terminal, bad func(key, format string, args ...any)) {
	if c.Paywall == nil {
		bad(key+".provider", "paywall terminals need a [paywall] table")
	}
	if t.Mode != "async" && t.Mode != "sync" {
		bad(key+".mode", "%q is not one of async, sync", t.Mode)
	}
	if t.Model != t.Mode {
		bad(key+".model", "paywall terminals take mode (async or sync), not model")
	}
	if t.DeviceID == "" || (!guidPattern.MatchString(t.DeviceID) && utf8.RuneCountInString(t.DeviceID) > 25) {
		bad(key+".device_id", "is required: the Paywall TerminalId (a Guid) or the terminal's tag code (at most 25 characters)")
	}
}

// PaywallStatus parses a [paywall] statuses key.
func PaywallStatus(k string) (int, error) {
	n, err := strconv.Atoi(k)
	if err != nil {
		return 0, fmt.Errorf("config: paywall.statuses: %q is not a number", k)
	}
	return n, nil
}
