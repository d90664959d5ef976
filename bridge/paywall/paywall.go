// Package paywall is tezgah's adapter for Paywall's PhysicalAPI (physical
// POS terminals): sale (async or sync), void through the cancel call,
// withdrawing a command the terminal has not picked up (the rollback
// calls), and the read-only operations — payment inquiry, payment list,
// activities, products, terminal list and connectivity. It implements
// bridge.Provider, bridge.Validator and bridge.Caller.
//
// The source of truth is ../shared/reference/paywall-physical-api.md (§
// numbers below refer to it). PhysicalAPI has no idempotency key and no
// refund or end-of-day call (§9, §12). Its sale returns a PaymentRequestId
// at once and the card result later, so Send stores that id through
// Request.Remember the moment it arrives and then polls the inquiry (§11.1)
// until the payment is final. A sale whose answer was lost before the id
// was stored is found again by paging the payment list for the day and
// matching MerchantUniqueCode (§11.2, §16.2) — never by sending it again.
//
// MerchantUniqueCode is typed Guid in the docs (§5), and tezgah's
// reference is 15 characters, so the adapter sends a Guid derived from the
// reference by a hash (MerchantCode): it is fixed at accept time with the
// reference and never changes for the request.
package paywall

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/money"
)

// Modes of a terminal (bridge.Terminal.Model): which sale call it takes.
// "async" is for terminals running the POS provider's own application,
// "sync" for terminals running Paywall's (§5, §10); only sync has the
// rollback calls.
const (
	Async = "async"
	Sync  = "sync"
)

// Outcome is what a payment status means to tezgah. The physical-POS
// Payment Status table was not found (§14.3), so the meaning of each id
// is configuration (Config.Statuses).
type Outcome string

// Outcomes.
const (
	Pending Outcome = "pending"
	Approve Outcome = "approved"
	Decline Outcome = "declined"
	Fail    Outcome = "failed"
)

// DefaultStatuses is the Payment API's status table
// (https://developer.paywall.one/payment-orchestration-integration-document/system-data/payment-statuses):
// 4 Successful, 5 Failed, 7 Failed (On Query). That the physical-POS list
// uses the same numbering is not confirmed (§14.3): every id not listed
// here, and every id of a real account that differs, must be set in
// [paywall] statuses. Unlisted ids are pending, the safe reading: the
// agent keeps asking and never reports a result it does not know.
func DefaultStatuses() map[int]Outcome {
	return map[int]Outcome{4: Approve, 5: Decline, 7: Decline}
}

// Config configures a Client. Ids of the enumerations the docs leave
// undocumented are configuration (see docs/providers/paywall.md).
type Config struct {
	BaseURL   string // PhysicalAPI address from the Paywall panel; no host is published (§0, A.1)
	APIKey    string // apikeyprivate
	APIClient string // apiclientprivate

	CurrencyIDs                                                   map[string]int  // ISO code -> CurrencyId; default TRY=1 (A.2 example)
	UnitCodeIDs                                                   map[string]int  // UN/ECE unit -> UnitCodeId; none documented (§14.6)
	DefaultUnitID                                                 int             // for lines without a unit; default 1, the docs' example value
	CustomerTypeIDs                                               map[string]int  // "individual"/"corporate" -> Customer.Type; default individual=1 (§14.7 example)
	MethodIDs                                                     []int           // Methods[]; empty sends none (optional, §5; ids undocumented §14.4)
	Statuses                                                      map[int]Outcome // PaymentStatusId -> outcome; default DefaultStatuses
	TaxGroupIDs                                                   map[int]int     // VAT % -> TaxGroupId; default the documented 0,1,10,20 (§14.2)
	DefaultTaxRate                                                int             // VAT % of the one line sent when a sale has no items; default 20
	ProductName                                                   string          // that line's name; default "Satış"
	ReceiptTop                                                    string          // ReceiptOptions texts, ≤ 150 characters; empty prints none
	ReceiptBottom                                                 string          //
	ReceiptFontSize                                               int             // default 10, the docs' example
	SkipPrintCustomer, SkipPrintMerchant, SkipPaymentOptionScreen bool
	// NotifyDisconnected sets SendNotificationDeviceDisconnected on sync
	// sales: a locked device gets the sale later as a push. Off by default:
	// a late push is a late charge (§16.4).
	NotifyDisconnected bool
	// PollInterval is the pause between inquiries while a payment is on
	// the terminal; SaleWait bounds how long Send polls before it hands
	// the request back as unknown (the agent keeps querying).
	PollInterval time.Duration // default 1s
	SaleWait     time.Duration // default 150s
	// Timeout bounds one HTTP call; none of them waits for the card.
	Timeout    time.Duration // default 30s
	HTTPClient *http.Client
	Now        func() time.Time
	// Zone is the time zone of the payment list's dates, which carry none
	// (A.2: Turkey local time [inferred]); default UTC+3.
	Zone *time.Location
}

// Client is a PhysicalAPI client for one merchant.
type Client struct {
	cfg  Config
	http *http.Client
}

// maxIdlePerHost bounds the idle connections kept to the provider's API.
const maxIdlePerHost = 64

// NewClient checks cfg and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	var missing []string
	if cfg.BaseURL == "" {
		missing = append(missing, "base URL")
	}
	if cfg.APIKey == "" {
		missing = append(missing, "api key (apikeyprivate)")
	}
	if cfg.APIClient == "" {
		missing = append(missing, "api client (apiclientprivate)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("paywall: missing %s", strings.Join(missing, ", "))
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.CurrencyIDs == nil {
		cfg.CurrencyIDs = map[string]int{"TRY": 1}
	}
	if cfg.DefaultUnitID == 0 {
		cfg.DefaultUnitID = 1
	}
	if cfg.CustomerTypeIDs == nil {
		cfg.CustomerTypeIDs = map[string]int{bridge.Individual: 1}
	}
	if cfg.Statuses == nil {
		cfg.Statuses = DefaultStatuses()
	}
	if cfg.TaxGroupIDs == nil {
		cfg.TaxGroupIDs = map[int]int{0: 0, 1: 1, 10: 10, 20: 20}
	}
	if cfg.DefaultTaxRate == 0 {
		cfg.DefaultTaxRate = 20
	}
	if _, ok := cfg.TaxGroupIDs[cfg.DefaultTaxRate]; !ok {
		return nil, fmt.Errorf("paywall: default VAT rate %d%% has no tax group id", cfg.DefaultTaxRate)
	}
	if cfg.ProductName == "" {
		cfg.ProductName = "Satış"
	}
	if cfg.ReceiptFontSize == 0 {
		cfg.ReceiptFontSize = 10
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.SaleWait <= 0 {
		cfg.SaleWait = 150 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Zone == nil {
		cfg.Zone = time.FixedZone("TRT", 3*60*60)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		// One idle connection per terminal that may call at once: the
		// default keeps 2 per host, and 50 busy terminals then opened a
		// new TCP connection for almost every call (a tenth of the
		// agent's CPU in bench/busy).
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = maxIdlePerHost
		hc = &http.Client{Timeout: cfg.Timeout, Transport: tr}
	}
	return &Client{cfg: cfg, http: hc}, nil
}

// MerchantCode is the MerchantUniqueCode of the request with tezgah
// reference ref: a Guid-shaped hash of it, so the code is as fixed as the
// reference and the field's Guid type (§5) is honoured.
func MerchantCode(ref string) string {
	h := sha256.Sum256([]byte("tezgah/paywall/" + ref))
	h[6] = h[6]&0x0f | 0x80 // version 8: custom
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	s := hex.EncodeToString(h[:16])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// target addresses a terminal: a Guid device_id is a TerminalId, anything
// else its TerminalTagCode (§5: one or the other).
func target(t bridge.Terminal) (id, tag string) {
	if IsGUID(t.DeviceID) {
		return t.DeviceID, ""
	}
	return "", t.DeviceID
}

// apiError is an answer with Failed set.
type apiError struct {
	Path   string
	Status int
	Env    Envelope
}

func (e *apiError) Error() string {
	return fmt.Sprintf("paywall: %s: HTTP %d: error %d %s: %s", e.Path, e.Status, e.Env.Code(), e.Env.ClientMessage, e.Env.Message)
}

func (e *apiError) is(code int, client string) bool {
	return e.Env.Code() == code || strings.EqualFold(e.Env.ClientMessage, client)
}

// do sends one call and decodes a successful Result into out (when out is
// not nil). It returns *apiError for a failure answer and *bridge.Error
// when there is no readable answer. bridge.Do tells whether the request
// was written: a failure before that is NotSent, after it Unknown.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("paywall: %s: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+path, body)
	if err != nil {
		return fmt.Errorf("paywall: %s: %w", path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("apikeyprivate", c.cfg.APIKey)
	req.Header.Set("apiclientprivate", c.cfg.APIClient)
	resp, err := bridge.Do(c.http, req, "paywall: "+path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return &bridge.Error{Kind: bridge.Unknown, Code: "connection_lost", Err: fmt.Errorf("paywall: %s: reading answer: %w", path, err)}
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return &bridge.Error{Kind: bridge.NotSent, Code: "rate_limited",
			RetryAfter: bridge.RetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now()), Err: fmt.Errorf("paywall: %s: HTTP 429", path)}
	case resp.StatusCode == http.StatusServiceUnavailable:
		// Paywall does not document 503; as for iyzico it is read as "not
		// taken", and the agent queries before any resend regardless.
		return &bridge.Error{Kind: bridge.NotSent, Code: "http_503",
			RetryAfter: bridge.RetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now()), Err: fmt.Errorf("paywall: %s: HTTP 503", path)}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		// Refused keys: nothing was done. Retrying will not help until
		// the configuration is fixed, but nothing is lost either.
		return &bridge.Error{Kind: bridge.NotSent, Code: "auth_failed", Err: fmt.Errorf("paywall: %s: HTTP %d (check apikeyprivate/apiclientprivate)", path, resp.StatusCode)}
	case resp.StatusCode >= 500:
		return &bridge.Error{Kind: bridge.Unknown, Code: "http_" + strconv.Itoa(resp.StatusCode), Err: fmt.Errorf("paywall: %s: HTTP %d", path, resp.StatusCode)}
	}
	env, err := DecodeEnvelope(raw)
	if err != nil {
		return &bridge.Error{Kind: bridge.Unknown, Code: "bad_response", Err: fmt.Errorf("paywall: %s: HTTP %d: %w", path, resp.StatusCode, err)}
	}
	if !env.OK() {
		return &apiError{Path: path, Status: resp.StatusCode, Env: env}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(env.Result, out); err != nil {
		return &bridge.Error{Kind: bridge.Unknown, Code: "bad_response", Err: fmt.Errorf("paywall: %s: result: %w", path, err)}
	}
	return nil
}

// ---- validation and mapping ----

// Validate implements bridge.Validator: it refuses what PhysicalAPI cannot
// do and what it would refuse, naming the protocol field, before anything
// is stored.
func (c *Client) Validate(r bridge.Request) error {
	switch r.Op {
	case bridge.OpRefund:
		return fmt.Errorf("refund is not possible: Paywall PhysicalAPI has no refund call: void the sale the same day (type \"void\", cancelled on the terminal), or refund it from the Paywall merchant panel or on the terminal: %w", bridge.ErrUnsupported)
	case bridge.OpEndOfDay:
		return fmt.Errorf("end_of_day is not possible: Paywall PhysicalAPI has no end-of-day call: the terminal's provider closes the day by the connection's end-of-day setting in the Paywall panel: %w", bridge.ErrUnsupported)
	case bridge.OpVoid:
		return nil
	case bridge.OpSale:
		_, err := c.saleBody(r)
		return err
	}
	return fmt.Errorf("%s is not a Paywall operation: %w", r.Op, bridge.ErrUnsupported)
}

// limit checks a text field's length in characters (the docs' "Uzunluk").
func limit(field, v string, n int) error {
	if l := utf8.RuneCountInString(v); l > n {
		return bridge.Inputf(field, "Paywall takes at most %d characters here; this is %d", n, l)
	}
	return nil
}

// decimal renders an exact amount as a JSON number.
func decimal(a money.Amount) json.Number { return json.Number(a.String()) }

// saleBody builds the sale request, refusing what Paywall would refuse.
func (c *Client) saleBody(r bridge.Request) (SaleRequest, error) {
	cur, ok := c.cfg.CurrencyIDs[r.Amount.Currency]
	if !ok {
		return SaleRequest{}, bridge.Inputf("currency", "no Paywall CurrencyId is configured for %s; add it to [paywall] currency_ids", r.Amount.Currency)
	}
	id, tag := target(r.Terminal)
	s := SaleRequest{
		TerminalID: id, TerminalTagCode: tag, MerchantUniqueCode: MerchantCode(r.Reference),
		Amount: decimal(r.Amount), CurrencyID: cur,
		SkipPrintCustomer: c.cfg.SkipPrintCustomer, SkipPrintMerchant: c.cfg.SkipPrintMerchant, SkipPaymentOptionScreen: c.cfg.SkipPaymentOptionScreen,
	}
	// DisplayCode (≤ 25) shows the register's id on the device's list.
	s.DisplayCode = r.ID
	if utf8.RuneCountInString(s.DisplayCode) > 25 {
		s.DisplayCode = string([]rune(s.DisplayCode)[:25])
	}
	for _, m := range c.cfg.MethodIDs {
		s.Methods = append(s.Methods, Method{PaymentMethodID: m})
	}
	if r.Terminal.Model == Sync {
		b := c.cfg.NotifyDisconnected
		s.SendNotificationDeviceDisconnected = &b
	}
	if c.cfg.ReceiptTop != "" || c.cfg.ReceiptBottom != "" {
		ro := &ReceiptOptions{}
		if c.cfg.ReceiptTop != "" {
			ro.TopSupport, ro.Top = true, &ReceiptText{Text: c.cfg.ReceiptTop, FontSize: c.cfg.ReceiptFontSize}
		}
		if c.cfg.ReceiptBottom != "" {
			ro.BottomSupport, ro.Bottom = true, &ReceiptText{Text: c.cfg.ReceiptBottom, FontSize: c.cfg.ReceiptFontSize}
		}
		s.ReceiptOptions = ro
	}
	if len(r.Items) == 0 {
		// Products is required (§5) and must add up to Amount: one line.
		s.Products = []Product{{Name: c.cfg.ProductName, TaxGroupID: c.cfg.TaxGroupIDs[c.cfg.DefaultTaxRate], UnitCodeID: c.cfg.DefaultUnitID, Amount: s.Amount, Quantity: 1}}
	}
	var sum int64
	for i, it := range r.Items {
		p := fmt.Sprintf("items[%d]", i)
		if err := limit(p+".name", it.Name, 75); err != nil {
			return SaleRequest{}, err
		}
		tg, ok := c.cfg.TaxGroupIDs[it.VATRate]
		if !ok {
			return SaleRequest{}, bridge.Inputf(p+".vat_rate", "Paywall tax groups are for VAT %s%%; %d%% has none", c.rates(), it.VATRate)
		}
		unit := c.cfg.DefaultUnitID
		if it.Unit != "" {
			if unit, ok = c.cfg.UnitCodeIDs[it.Unit]; !ok {
				return SaleRequest{}, bridge.Inputf(p+".unit", "no Paywall UnitCodeId is configured for unit %q; add it to [paywall] unit_code_ids or leave unit out", it.Unit)
			}
		}
		// Paywall's Quantity is an int (§5): a weighed line ("0.250") has
		// no exact rendering there.
		whole, frac, _ := strings.Cut(it.Quantity, ".")
		q, err := strconv.Atoi(whole)
		if err != nil || q <= 0 || strings.Trim(frac, "0") != "" {
			return SaleRequest{}, bridge.Inputf(p+".quantity", "Paywall takes whole quantities; send a weighed line as quantity 1 with the weight in its name")
		}
		a, err := money.Parse(it.Amount, r.Amount.Currency)
		if err != nil {
			return SaleRequest{}, bridge.Inputf(p+".amount", "%v", err)
		}
		sum += a.Minor
		s.Products = append(s.Products, Product{Name: it.Name, TaxGroupID: tg, UnitCodeID: unit, Amount: decimal(a), Quantity: q})
	}
	if len(r.Items) > 0 && sum != r.Amount.Minor {
		// The protocol checks this too; Paywall refuses it (§5, §15 code 26).
		return SaleRequest{}, bridge.Inputf("items", "the lines add up to %s, not the sale's %s", money.Amount{Minor: sum, Currency: r.Amount.Currency}, r.Amount)
	}
	if cu := r.Customer; cu != nil {
		typ, ok := c.cfg.CustomerTypeIDs[cu.Type]
		if !ok {
			return SaleRequest{}, bridge.Inputf("customer.type", "no Paywall customer Type is configured for %q; add it to [paywall] customer_type_ids", cu.Type)
		}
		for _, f := range []struct {
			field, v string
			n        int
		}{
			{"customer.first_name", cu.FirstName, 50}, {"customer.middle_name", cu.MiddleName, 50}, {"customer.last_name", cu.LastName, 50},
			{"customer.company_name", cu.CompanyName, 175}, {"customer.tax_office", cu.TaxOffice, 50}, {"customer.tax_number", cu.TaxNumber, 25},
			{"customer.phone", cu.Phone, 20}, {"customer.email", cu.Email, 100}, {"customer.identity_number", cu.IdentityNumber, 20},
			{"customer.country", cu.Country, 50}, {"customer.city", cu.City, 100}, {"customer.address", cu.Address, 255},
		} {
			if err := limit(f.field, f.v, f.n); err != nil {
				return SaleRequest{}, err
			}
		}
		s.Customer = &Customer{Type: typ, FirstName: cu.FirstName, MiddleName: cu.MiddleName, LastName: cu.LastName,
			CompanyName: cu.CompanyName, TaxOfficeCode: cu.TaxOffice, TaxNumber: cu.TaxNumber, Phone: cu.Phone, Email: cu.Email,
			Identity: cu.IdentityNumber, Country: cu.Country, City: cu.City, Address: cu.Address}
	}
	return s, nil
}

func (c *Client) rates() string {
	var out []string
	for _, r := range []int{0, 1, 8, 10, 18, 20} {
		if _, ok := c.cfg.TaxGroupIDs[r]; ok {
			out = append(out, strconv.Itoa(r))
		}
	}
	return strings.Join(out, ", ")
}

// ---- outcome ----

// outcome reads what a PaymentStatusId means, by the configured table;
// inquire combines it with the activity type. Never the envelope's
// Succeeded alone (§0): that only says the inquiry itself worked.
func (c *Client) outcome(statusID int) Outcome {
	if o, ok := c.cfg.Statuses[statusID]; ok {
		return o
	}
	return Pending
}

// result turns a payment's final state into a Result.
func (c *Client) result(o Outcome, in Inquiry, message string) bridge.Result {
	pay := &bridge.Payment{Provider: "paywall", PaymentID: in.PaymentRequestID, HostReference: in.PaymentRequestActivityID, Currency: in.Currency}
	if a, err := parseAmount(string(in.Amount), in.Currency); err == nil {
		pay.Amount = a
	}
	if d, err := time.Parse("2006-01-02T15:04:05", trimFraction(in.CreatedDate)); err == nil {
		pay.PaymentDate = d.Format("20060102")
	}
	detail, _ := json.Marshal(map[string]any{"payment_status_id": in.PaymentStatusID, "payment_status": in.PaymentStatus,
		"payment_type_id": in.PaymentTypeID, "merchant_unique_code": in.MerchantUniqueCode, "terminal_id": in.TerminalID})
	pay.Detail = detail
	switch o {
	case Approve:
		return bridge.Result{Status: bridge.Approved, Payment: pay, Message: message}
	case Decline:
		return bridge.Result{Status: bridge.Declined, Code: "payment_failed", Message: orText(message, in.PaymentStatus), ProviderCode: strconv.Itoa(in.PaymentStatusID), Payment: pay}
	}
	return bridge.Result{Status: bridge.Failed, Code: "payment_failed", Message: orText(message, in.PaymentStatus), ProviderCode: strconv.Itoa(in.PaymentStatusID), Payment: pay}
}

func orText(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func trimFraction(s string) string {
	if i := strings.IndexByte(s, '.'); i > 0 {
		return s[:i]
	}
	return s
}

// parseAmount reads a provider amount ("22", "1.44", "22.500") exactly.
func parseAmount(s, currency string) (string, error) {
	if currency == "" {
		currency = "TRY"
	}
	if w, f, ok := strings.Cut(s, "."); ok {
		f = strings.TrimRight(f, "0")
		s = w
		if f != "" {
			s = w + "." + f
		}
	}
	a, err := money.Parse(s, currency)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

// ---- sale, void, query ----

// Send implements bridge.Provider.
func (c *Client) Send(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	switch r.Op {
	case bridge.OpSale:
		return c.sale(ctx, r)
	case bridge.OpVoid:
		return c.void(ctx, r)
	}
	// Validate refuses these at accept time; a request stored by an older
	// version still gets a clear answer, and nothing moved.
	err := c.Validate(r)
	return bridge.Result{Status: bridge.Failed, Code: "unsupported_operation", Message: strings.TrimSuffix(fmt.Sprint(err), ": "+bridge.ErrUnsupported.Error())}, nil
}

func (c *Client) salePath(t bridge.Terminal) string {
	if t.Model == Sync {
		return "/api/payment/sync/sale"
	}
	return "/api/payment/async/sale"
}

func (c *Client) sale(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	if r.ProviderRef != "" {
		// An earlier attempt already created the payment: follow it.
		return c.follow(ctx, r, r.ProviderRef, TypeSale)
	}
	body, err := c.saleBody(r)
	if err != nil {
		return bridge.Result{Status: bridge.Failed, Code: "invalid_request", Message: err.Error()}, nil
	}
	var out CommandResult
	err = c.do(ctx, http.MethodPost, c.salePath(r.Terminal), body, &out)
	var ae *apiError
	if errors.As(err, &ae) {
		if ae.is(CodeMUCAlreadyExist, ClientMUCAlreadyExist) || ae.Env.Code() == CodePaymentAPIMUCExists {
			// Our own earlier attempt got there: look it up (§16.2). Code 4
			// is "MerchantUniqueCode already exists" in the Payment API list
			// (§15) but HeaderMissing in the SDK enum (A.4); looking up is
			// right either way, while retrying blindly could let a sale that
			// exists expire unreported.
			res, qerr := c.Query(ctx, r)
			if errors.Is(qerr, bridge.ErrNotFound) {
				return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "duplicate_not_listed", Err: ae}
			}
			return res, qerr
		}
		return c.refused(ae)
	}
	if err != nil {
		return bridge.Result{}, err
	}
	if out.PaymentRequestID == "" {
		return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "bad_response", Err: errors.New("paywall: sale answer without PaymentRequestId")}
	}
	if err := c.remember(ctx, r, out.PaymentRequestID); err != nil {
		return bridge.Result{}, err
	}
	return c.follow(ctx, r, out.PaymentRequestID, TypeSale)
}

// remember stores the PaymentRequestId before anything else happens. If
// it cannot be stored the sale is still at Paywall: the agent reconciles
// it by MerchantUniqueCode, so the answer is Unknown.
func (c *Client) remember(ctx context.Context, r bridge.Request, id string) error {
	if r.Remember == nil {
		return nil
	}
	if err := r.Remember(ctx, id); err != nil {
		return &bridge.Error{Kind: bridge.Unknown, Code: "remember_failed", Err: fmt.Errorf("paywall: storing PaymentRequestId %s: %w", id, err)}
	}
	return nil
}

// refused classifies a failure answer to a money command (sale, cancel).
// The command was answered, so no order exists unless the code says the
// service failed midway.
func (c *Client) refused(ae *apiError) (bridge.Result, error) {
	code := ae.Env.Code()
	switch {
	case ae.is(CodeCannotDoInThisTime, ClientCannotDoInThisTime):
		// The terminal is busy or the timing rule refused it: nothing was
		// queued; try again shortly.
		return bridge.Result{}, &bridge.Error{Kind: bridge.NotSent, Code: "terminal_busy", Err: ae}
	case code == 5 || code == -1 || code >= 500:
		// Exception / SystemMessage / Internal...: the service failed in an
		// unknown place. Reconcile by query.
		return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "provider_error", Err: ae}
	case code == 400 || code == 401 || code == 403:
		return bridge.Result{}, &bridge.Error{Kind: bridge.NotSent, Code: "auth_failed", Err: ae}
	}
	return bridge.Result{Status: bridge.Failed, Code: failCode(code), Message: orText(ae.Env.Message, ae.Env.ClientMessage), ProviderCode: providerCode(ae.Env)}, nil
}

func providerCode(e Envelope) string {
	s := strconv.Itoa(e.Code())
	if e.ClientMessage != "" {
		s += " " + e.ClientMessage
	}
	return s
}

// failCode names a final refusal (see the table in docs/providers/paywall.md).
func failCode(code int) string {
	switch code {
	case CodePaymentNotFound, CodeActivityNotFound:
		return "payment_not_found"
	case CodeNotConvenient, 93, 94, CodeAlreadyFinalized:
		return "void_not_allowed"
	case 51, 112, 26:
		return "invalid_amount"
	case 53, 99, 8:
		return "invalid_currency"
	case 2, 3, 101, 10, 25:
		return "provider_validation_error"
	}
	return "provider_refused"
}

// follow polls the inquiry until the payment's activity of type want is
// final, ctx ends, or SaleWait passes (then the agent keeps querying).
func (c *Client) follow(ctx context.Context, r bridge.Request, id string, want int) (bridge.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.SaleWait)
	defer cancel()
	t := time.NewTimer(0)
	defer t.Stop()
	var last error
	late := false // the deadline rollback came too late: follow the sale to its end
	for {
		select {
		case <-ctx.Done():
			if last == nil {
				last = errors.New("paywall: payment still on the terminal")
			}
			return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "pending", Err: last}
		case <-t.C:
		}
		res, err := c.inquire(ctx, id, want)
		if err == nil {
			return res, nil
		}
		last = err
		if want == TypeSale && !late && bridge.CodeOf(err) == "pending" {
			res, done, tooLate := c.expire(ctx, r, id)
			if done {
				return res, nil
			}
			late = tooLate
		}
		t.Reset(c.cfg.PollInterval)
	}
}

// expire takes back a sale still waiting for its terminal once its
// deadline has passed (the sync sale rollback, §6): the customer has gone,
// and a terminal that picks it up later — after a pick-up delay, or
// switched on minutes later — would charge a card nobody presents for
// this sale, or a customer who has left. done reports a sale withdrawn:
// its result is Expired, nothing was charged. tooLate reports that
// Paywall refused because the device already has the command: the sale
// then runs to its real outcome. Before the deadline, on async terminals
// (no rollback, §10) and while the 5-second rule (§6) or the network
// refuse it, neither: the caller asks again at its next poll, and a
// rollback cannot charge, so asking again is safe.
func (c *Client) expire(ctx context.Context, r bridge.Request, id string) (res bridge.Result, done, tooLate bool) {
	if r.Op != bridge.OpSale || r.Terminal.Model != Sync || r.Deadline.IsZero() || c.cfg.Now().Before(r.Deadline) {
		return bridge.Result{}, false, false
	}
	err := c.do(ctx, http.MethodPost, "/api/payment/sync/sale/rollback", PaymentRequestRef{PaymentRequestID: id}, nil)
	var ae *apiError
	switch {
	case err == nil:
	case errors.As(err, &ae) && ae.is(CodeCannotDoInThisTime, ClientCannotDoInThisTime):
		return bridge.Result{}, false, false // the first 5 seconds: again at the next poll
	case errors.As(err, &ae):
		return bridge.Result{}, false, true // the device has it (92): follow it
	default:
		return bridge.Result{}, false, false
	}
	pay := &bridge.Payment{Provider: "paywall", PaymentID: id, Currency: r.Amount.Currency}
	pay.Detail, _ = json.Marshal(map[string]any{"rolled_back": true, "merchant_unique_code": MerchantCode(r.Reference)})
	return bridge.Result{Status: bridge.Expired, Code: "deadline_passed", Payment: pay,
		Message: "the sale's deadline passed before the terminal picked it up; it was withdrawn from the terminal (rollback) and the customer was not charged"}, true, false
}

// inquire asks for one payment. It returns the final Result, or an
// *bridge.Error (Unknown "pending" while the terminal works on it).
func (c *Client) inquire(ctx context.Context, id string, want int) (bridge.Result, error) {
	var in Inquiry
	err := c.do(ctx, http.MethodGet, "/api/payment/inquiry/"+url.PathEscape(id), nil, &in)
	var ae *apiError
	if errors.As(err, &ae) {
		// Paywall gave us this id: "not found" is not "never received".
		return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "query_failed", Err: ae}
	}
	if err != nil {
		return bridge.Result{}, err
	}
	if want == TypeCancel && in.PaymentTypeID != TypeCancel {
		return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "pending", Err: fmt.Errorf("paywall: payment %s has no cancel activity yet", id)}
	}
	o := c.outcome(in.PaymentStatusID)
	if want == TypeSale && in.PaymentTypeID == TypeCancel {
		// The sale went through and was cancelled since (a void, or on the
		// terminal): the sale itself was approved.
		o = Approve
	}
	if o == Pending {
		return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "pending", Err: fmt.Errorf("paywall: payment %s is %s (%d)", id, in.PaymentStatus, in.PaymentStatusID)}
	}
	return c.result(o, in, ""), nil
}

func (c *Client) cancelPath(t bridge.Terminal) string {
	if t.Model == Sync {
		return "/api/payment/sync/cancel"
	}
	return "/api/payment/async/cancel"
}

// void cancels the original sale (§7, §10.2): a full cancel by its
// PaymentRequestId, followed like a sale until the cancel activity is final.
func (c *Client) void(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	if r.Original == nil || r.Original.Payment.PaymentID == "" {
		return bridge.Result{Status: bridge.Failed, Code: "invalid_original", Message: "void without the sale's PaymentRequestId"}, nil
	}
	id := r.Original.Payment.PaymentID
	if err := c.remember(ctx, r, id); err != nil {
		return bridge.Result{}, err
	}
	var out CommandResult
	err := c.do(ctx, http.MethodPost, c.cancelPath(r.Terminal), PaymentRequestRef{PaymentRequestID: id}, &out)
	var ae *apiError
	if errors.As(err, &ae) {
		return c.refused(ae)
	}
	if err != nil {
		return bridge.Result{}, err
	}
	return c.follow(ctx, r, id, TypeCancel)
}

// Query implements bridge.Provider. A sale with a stored PaymentRequestId
// is asked by it (§11.1); one without is looked for in the payment list of
// the day by its MerchantUniqueCode (§11.2). A void is found by a cancel
// activity on its sale (§11.3). ErrNotFound only when Paywall's own
// records positively lack it.
func (c *Client) Query(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	switch r.Op {
	case bridge.OpVoid:
		if r.Original == nil {
			return bridge.Result{}, bridge.ErrNotFound
		}
		return c.queryVoid(ctx, r.Original.Payment.PaymentID)
	case bridge.OpSale:
	default:
		return bridge.Result{}, bridge.ErrNotFound // never sent: Send refuses it
	}
	if r.ProviderRef != "" {
		res, err := c.inquire(ctx, r.ProviderRef, TypeSale)
		if bridge.CodeOf(err) == "pending" {
			if res, done, _ := c.expire(ctx, r, r.ProviderRef); done {
				return res, nil
			}
		}
		return res, err
	}
	item, err := c.findByCode(ctx, MerchantCode(r.Reference))
	if err != nil {
		return bridge.Result{}, err
	}
	if err := c.remember(ctx, r, item.ID); err != nil {
		return bridge.Result{}, err
	}
	return c.inquire(ctx, item.ID, TypeSale)
}

// listPageSize keeps the day's scan to few calls.
const listPageSize = 100

// findByCode pages the payment list from yesterday to today (Paywall's
// dates are local and zone-less; two days cover a sale near midnight and
// a clock a little off) for code.
func (c *Client) findByCode(ctx context.Context, code string) (PaymentItem, error) {
	now := c.cfg.Now().In(c.cfg.Zone)
	req := PageRequest{PageSize: listPageSize, StartDate: now.AddDate(0, 0, -1).Format("2006-01-02"), EndDate: now.Format("2006-01-02")}
	for page := 0; ; page++ {
		req.PageIndex = page
		var out Page[PaymentItem]
		err := c.do(ctx, http.MethodPost, "/api/payment/list", req, &out)
		var ae *apiError
		if errors.As(err, &ae) {
			return PaymentItem{}, &bridge.Error{Kind: bridge.Unknown, Code: "query_failed", Err: ae}
		}
		if err != nil {
			return PaymentItem{}, err
		}
		for _, it := range out.Items {
			if strings.EqualFold(it.MerchantUniqueCode, code) {
				return it, nil
			}
		}
		if len(out.Items) == 0 || page+1 >= out.Pagination.PageCount || page >= 1000 {
			return PaymentItem{}, bridge.ErrNotFound
		}
	}
}

// queryVoid looks for a cancel activity on the sale.
func (c *Client) queryVoid(ctx context.Context, id string) (bridge.Result, error) {
	acts, err := c.activities(ctx, id)
	if err != nil {
		return bridge.Result{}, err
	}
	for _, a := range acts {
		if a.PaymentTypeID == TypeCancel {
			return c.inquire(ctx, id, TypeCancel)
		}
	}
	return bridge.Result{}, bridge.ErrNotFound
}

func (c *Client) activities(ctx context.Context, id string) ([]Activity, error) {
	var all []Activity
	for page := 0; page < 100; page++ {
		var out Page[Activity]
		err := c.do(ctx, http.MethodPost, "/api/payment/activities", PageRequest{PageIndex: page, PageSize: listPageSize, PaymentRequestID: id}, &out)
		var ae *apiError
		if errors.As(err, &ae) {
			return nil, &bridge.Error{Kind: bridge.Unknown, Code: "query_failed", Err: ae}
		}
		if err != nil {
			return nil, err
		}
		all = append(all, out.Items...)
		if len(out.Items) == 0 || page+1 >= out.Pagination.PageCount {
			break
		}
	}
	return all, nil
}

// ---- withdraw ----

// rollbackWait is the docs' rule: no rollback in the first 5 seconds (§6, §8).
const rollbackWait = 5 * time.Second

// Withdraw takes back a sale or void command the terminal has not picked
// up yet (the sync rollback calls, §6, §8). r.ProviderRef is the
// PaymentRequestId. A rollback is refused in the command's first 5 s, so
// Withdraw keeps trying for a little longer than that; it fails once the
// device has the command, and the request then finishes with its real
// result. Async terminals have no rollback (§10).
func (c *Client) Withdraw(ctx context.Context, r bridge.Request) error {
	if r.Terminal.Model != Sync {
		return fmt.Errorf("async Paywall terminals have no rollback: the sale stays on the terminal until paid or abandoned there; void it afterwards: %w", bridge.ErrUnsupported)
	}
	id := r.ProviderRef
	if r.Op == bridge.OpVoid && r.Original != nil {
		id = r.Original.Payment.PaymentID
	}
	if id == "" {
		return errors.New("paywall: withdraw: no PaymentRequestId stored yet")
	}
	path := "/api/payment/sync/sale/rollback"
	if r.Op == bridge.OpVoid {
		path = "/api/payment/sync/cancel/rollback"
	}
	ctx, cancel := context.WithTimeout(ctx, rollbackWait+5*time.Second)
	defer cancel()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("paywall: withdraw %s: %w", id, ctx.Err())
		case <-t.C:
		}
		err := c.do(ctx, http.MethodPost, path, PaymentRequestRef{PaymentRequestID: id}, nil)
		var ae *apiError
		if err == nil {
			return nil
		}
		if errors.As(err, &ae) && !ae.is(CodeCannotDoInThisTime, ClientCannotDoInThisTime) {
			return fmt.Errorf("paywall: withdraw %s: %w", id, err)
		}
		// Too early, or no answer: a rollback cannot charge, so try again.
		t.Reset(c.cfg.PollInterval)
	}
}
