// Package iyzico is tezgah's adapter for the iyzico Terminal API (physical
// POS): OAuth2 login, and sale, refund, void, query and end of day for
// both fiscal models — VUK 507 (GMU, /v2/terminal-host/gmu/...) and VUK
// 509 (/v2/terminal-host/...) — plus, on VUK 507, sale lines, refunds by
// line and partial payment (gmu.go). It implements bridge.Provider,
// bridge.Validator (what a terminal's model cannot do is refused at
// accept time) and bridge.Caller (refundable_sale_info,
// transaction_status; calls.go). docs/providers/iyzico.md is the user's
// view: field mapping and the answer → result table.
//
// The source of truth is ../shared/reference/iyzico-terminal-api.md (§
// numbers below refer to it). iyzico documents no idempotency for a
// repeated transactionReferenceId (§1, open question 3), so the adapter
// never resends on its own: every failure is classified as certainly not
// sent (bridge.NotSent) or possibly done (bridge.Unknown), and the agent
// queries before anything is sent again.
package iyzico

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tezgah/tezgah/bridge"
)

// Config configures a Client.
type Config struct {
	BaseURL        string // https://api.iyzipay.com or the sandbox
	ClientID       string
	ClientSecret   string
	Username       string
	Password       string
	Locale         string // tr | en
	SaleAppName    string
	SaleAppVersion string
	TaxGroupCode   string // VUK 507 sale item VAT group; values undocumented (§4.1)
	// TaxGroups maps an item's VAT rate (whole percent) to its
	// taxGroupCode; rates not in it take TaxGroupCode.
	TaxGroups map[int]string
	UnitCode  string // default C62 (piece), §4.1
	// Timeout bounds one HTTP call. A sale blocks until the card is
	// presented; iyzico's own device wait is undocumented (§1, open
	// question 4), so the default is well above the 90 s the third-party
	// client uses.
	Timeout    time.Duration
	HTTPClient *http.Client
	Now        func() time.Time
}

// Models.
const (
	VUK507 = "vuk507"
	VUK509 = "vuk509"
)

// Client is an iyzico Terminal API client for one merchant account.
type Client struct {
	cfg  Config
	http *http.Client

	mu      sync.Mutex // guards access, refresh, expires
	access  string
	refresh string
	expires time.Time
}

// maxIdlePerHost bounds the idle connections kept to the provider's API.
const maxIdlePerHost = 64

// NewClient checks cfg and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	var missing []string
	for k, v := range map[string]string{"base URL": cfg.BaseURL, "client id": cfg.ClientID, "client secret": cfg.ClientSecret, "username": cfg.Username, "password": cfg.Password} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("iyzico: missing %s", strings.Join(missing, ", "))
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Locale == "" {
		cfg.Locale = "tr"
	}
	if cfg.SaleAppName == "" {
		cfg.SaleAppName = "tezgah"
	}
	if cfg.SaleAppVersion == "" {
		cfg.SaleAppVersion = "dev"
	}
	if cfg.UnitCode == "" {
		cfg.UnitCode = "C62"
	}
	if cfg.TaxGroupCode == "" {
		cfg.TaxGroupCode = "KDV20"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 150 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
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

// locale507 is upper case as in the VUK 507 examples ("TR", §1); VUK 509
// takes the enum tr/en.
func (c *Client) locale(model string) string {
	if model == VUK507 {
		return strings.ToUpper(c.cfg.Locale)
	}
	return c.cfg.Locale
}

// refreshMargin: refresh before a call when less than this is left, since
// a sale blocks for card entry and must not die on an expiring token
// (§2.3 [inferred]).
const refreshMargin = 2 * time.Minute

// token returns a valid access token, logging in or refreshing as needed.
// A failure here means nothing was sent: NotSent.
func (c *Client) token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	if c.access != "" && now.Add(refreshMargin).Before(c.expires) {
		return c.access, nil
	}
	if c.refresh != "" {
		if err := c.grant(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.refresh}}); err == nil {
			return c.access, nil
		}
		c.refresh = ""
	}
	code, err := c.authorize(ctx)
	if err != nil {
		return "", err
	}
	if err := c.grant(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {code}}); err != nil {
		return "", err
	}
	return c.access, nil
}

func (c *Client) dropToken() {
	c.mu.Lock()
	c.access, c.expires = "", time.Time{}
	c.mu.Unlock()
}

// authorize is §2.1. request_timestamp's unit is undocumented (open
// question 1); seconds, as the third-party client defaults to.
func (c *Client) authorize(ctx context.Context) (string, error) {
	form := url.Values{
		"scope": {"iyzipayApiGateway"}, "client_id": {c.cfg.ClientID}, "client_secret": {c.cfg.ClientSecret},
		"response_type": {"code"}, "username": {c.cfg.Username}, "password": {c.cfg.Password},
		"request_timestamp": {strconv.FormatInt(c.cfg.Now().Unix(), 10)},
	}
	var out AuthorizeResponse
	if err := c.form(ctx, "/in-store/oauth2/authorize", form, false, &out); err != nil {
		return "", err
	}
	if out.Code == "" {
		return "", &bridge.Error{Kind: bridge.NotSent, Code: "auth_failed", Err: errors.New("iyzico: authorize returned no code")}
	}
	return out.Code, nil
}

// grant is §2.2 (authorization_code or refresh_token on /token). Called
// with c.mu held.
func (c *Client) grant(ctx context.Context, form url.Values) error {
	var out TokenResponse
	if err := c.form(ctx, "/in-store/oauth2/token", form, true, &out); err != nil {
		return err
	}
	if out.AccessToken == "" {
		return &bridge.Error{Kind: bridge.NotSent, Code: "auth_failed", Err: errors.New("iyzico: token response without access_token")}
	}
	c.access, c.refresh = out.AccessToken, out.RefreshToken
	c.expires = c.cfg.Now().Add(time.Duration(out.ExpiresIn) * time.Second)
	return nil
}

// form posts a login form. Every failure is NotSent: no business call
// was made. The error never contains the form (it holds credentials).
func (c *Client) form(ctx context.Context, path string, form url.Values, basic bool, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.BaseURL+path, strings.NewReader(form.Encode()))
	if err != nil {
		return &bridge.Error{Kind: bridge.NotSent, Code: "auth_failed", Err: fmt.Errorf("iyzico: %s: bad request", path)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(c.cfg.ClientID, c.cfg.ClientSecret)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &bridge.Error{Kind: bridge.NotSent, Code: "connect_failed", Err: fmt.Errorf("iyzico: login: %w", bridge.Scrub(err))}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		e := &bridge.Error{Kind: bridge.NotSent, Code: "auth_failed", Err: fmt.Errorf("iyzico: %s: HTTP %d", path, resp.StatusCode)}
		if resp.StatusCode == http.StatusTooManyRequests {
			e.Code, e.RetryAfter = "rate_limited", bridge.RetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())
		}
		return e
	}
	if err := json.Unmarshal(body, out); err != nil {
		return &bridge.Error{Kind: bridge.NotSent, Code: "auth_failed", Err: fmt.Errorf("iyzico: %s: %w", path, err)}
	}
	return nil
}

// scrub drops the URL from a transport error (it is the host only, but
// keep errors uniform and short).

// apiError is a business answer with a failure status (§5).
type apiError struct {
	Status, Code, Group, Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("iyzico: %s %s: %s", e.Group, e.Code, e.Message)
}

// Token errors that mean "log in again and retry once" (§2.3, §5).
var reauthCodes = map[string]bool{"100310": true, "100311": true, "380204": true}

// call posts a JSON business call and decodes a successful answer into
// out. It returns *apiError for a failure answer and *bridge.Error when
// there is no answer.
func (c *Client) call(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("iyzico: %s: %w", path, err)
	}
	for try := 0; ; try++ {
		raw, status, err := c.post(ctx, path, body)
		if err != nil {
			return err
		}
		reauth, err := readAnswer(path, status, raw, out)
		if reauth {
			// A rejected token means the call was not processed.
			c.dropToken()
			if try == 0 {
				continue
			}
			return &bridge.Error{Kind: bridge.NotSent, Code: "auth_failed", Err: fmt.Errorf("iyzico: %s: token refused twice", path)}
		}
		return err
	}
}

// readAnswer reads a business answer into out. It reports reauth for a
// refused token (HTTP 401, or §5's 100310/100311/380204 in any status),
// an *apiError for a failure status, and a bridge.Error Unknown for an
// answer it cannot read: the call went out, so its outcome is unknown.
// iyzico answers failures with 200 too (§1: check status, not the HTTP
// code), so the status field decides, compared case-insensitively
// ("success" on VUK 507, "SUCCESS" on VUK 509).
func readAnswer(path string, status int, raw []byte, out any) (reauth bool, err error) {
	var env Envelope
	jerr := json.Unmarshal(raw, &env)
	if status == http.StatusUnauthorized || (jerr == nil && reauthCodes[env.ErrorCode]) {
		return true, nil
	}
	if jerr != nil {
		return false, &bridge.Error{Kind: bridge.Unknown, Code: "bad_response", Err: fmt.Errorf("iyzico: %s: HTTP %d: %w", path, status, jerr)}
	}
	if !strings.EqualFold(env.Status, "success") {
		return false, &apiError{Status: env.Status, Code: env.ErrorCode, Group: env.ErrorGroup, Message: env.ErrorMessage}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return false, &bridge.Error{Kind: bridge.Unknown, Code: "bad_response", Err: fmt.Errorf("iyzico: %s: %w", path, err)}
	}
	return false, nil
}

// post sends one request. bridge.Do tells whether the request was
// written: a failure before that is NotSent, after it Unknown.
func (c *Client) post(ctx context.Context, path string, body []byte) ([]byte, int, error) {
	tok, err := c.token(ctx)
	if err != nil {
		return nil, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, 0, fmt.Errorf("iyzico: %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := bridge.Do(c.http, req, "iyzico: "+path)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, 0, &bridge.Error{Kind: bridge.Unknown, Code: "connection_lost", Err: fmt.Errorf("iyzico: %s: reading answer: %w", path, err)}
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, 0, &bridge.Error{Kind: bridge.NotSent, Code: "rate_limited",
			RetryAfter: bridge.RetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now()), Err: fmt.Errorf("iyzico: %s: HTTP 429", path)}
	case resp.StatusCode == http.StatusServiceUnavailable:
		// A 503 says the service did not take the request. iyzico does not
		// document it; the agent queries before any resend regardless.
		return nil, 0, &bridge.Error{Kind: bridge.NotSent, Code: "http_503",
			RetryAfter: bridge.RetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now()), Err: fmt.Errorf("iyzico: %s: HTTP 503", path)}
	case resp.StatusCode >= 500:
		return nil, 0, &bridge.Error{Kind: bridge.Unknown, Code: "http_" + strconv.Itoa(resp.StatusCode), Err: fmt.Errorf("iyzico: %s: HTTP %d", path, resp.StatusCode)}
	}
	return raw, resp.StatusCode, nil
}

// codeGroups is the error-codes page's table (§5): every Terminal API
// code it documents, with its group. VUK 507's answer schemas declare no
// errorGroup (iyzico-openapi.yaml: the GMU responses carry status,
// errorCode and errorMessage only), so an answer without one is classified
// by its code.
var codeGroups = map[string]string{
	"380103": "TIMEOUT_ERROR",
	"100310": "SYSTEM_ERROR", "100311": "SYSTEM_ERROR", "380102": "SYSTEM_ERROR",
	"380201": "DEVICE_ERROR", "380202": "DEVICE_ERROR", "380203": "DEVICE_ERROR", "380204": "DEVICE_ERROR", "380205": "DEVICE_ERROR",
	"380104": "VALIDATION_ERROR", "380105": "VALIDATION_ERROR", "380111": "VALIDATION_ERROR",
	"380101": "BUSINESS_ERROR", "380107": "BUSINESS_ERROR", "380108": "BUSINESS_ERROR", "380109": "BUSINESS_ERROR", "380112": "BUSINESS_ERROR",
}

// groupOf is the answer's errorGroup, or, when iyzico sent none, the group
// its errorCode belongs to: a documented Terminal API code (codeGroups),
// or a bank's answer. BANK_ERROR forwards the bank's code (§5), and
// iyzico's error-codes page says bank error codes are five digits from
// 10000 ("Banka Hata Kodları 10000 ile başlar", docs.iyzico.com
// ek-bilgiler/hata-kodlari; the reference's own example is 10051): the
// bank answered, the card was refused, nothing moved. Anything else stays
// "" and is reconciled by query.
func groupOf(e *apiError) string {
	if e.Group != "" {
		return e.Group
	}
	if g, ok := codeGroups[e.Code]; ok {
		return g
	}
	if isBankCode(e.Code) {
		return "BANK_ERROR"
	}
	return ""
}

// isBankCode reports a five-digit code from 10000 to 10999.
func isBankCode(code string) bool {
	if len(code) != 5 || !strings.HasPrefix(code, "10") {
		return false
	}
	_, err := strconv.Atoi(code)
	return err == nil
}

// classify turns a failure answer into a final result or a bridge.Error,
// per the table in docs/providers/iyzico.md (§5 with the reference's
// classification).
func classify(op bridge.Op, e *apiError) (bridge.Result, error) {
	failed := func(code string) (bridge.Result, error) {
		return bridge.Result{Status: bridge.Failed, Code: code, Message: e.Message, ProviderCode: e.Code}, nil
	}
	group := groupOf(e)
	switch {
	case e.Code == "380103" || group == "TIMEOUT_ERROR":
		// The device did not answer in time: it may still have charged.
		return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "device_timeout", Err: e}
	case e.Code == "380201":
		return bridge.Result{}, &bridge.Error{Kind: bridge.NotSent, Code: "terminal_busy", Err: e}
	case group == "BANK_ERROR":
		return bridge.Result{Status: bridge.Declined, Code: "card_declined", Message: e.Message, ProviderCode: e.Code}, nil
	case e.Code == "380107" || e.Code == "380108" || e.Code == "380109":
		return failed("payment_not_found")
	case e.Code == "380112":
		if op == bridge.OpVoid {
			return voidRefused(e)
		}
		return failed("insufficient_refundable")
	case e.Code == "380101" || e.Code == "380102":
		return failed("device_not_allowed")
	case group == "VALIDATION_ERROR":
		return failed("provider_validation_error")
	case group == "BUSINESS_ERROR":
		if op == bridge.OpVoid {
			return voidRefused(e)
		}
		return failed("provider_business_error")
	case group == "PAYMENT_ERROR":
		return failed("payment_error")
	}
	// SYSTEM_ERROR ("transient issue, unexpected situation"), DEVICE_ERROR
	// codes whose meaning is undocumented (380202/3/5), and anything
	// unknown: the device may have acted, so reconcile by query.
	return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "provider_error", Err: e}
}

// voidRefused explains a refused void: iyzico voids only the same day,
// before end of day (§4.4; §3.4), and documents no dedicated code for
// "too late", so every business refusal of a void says what to do next.
func voidRefused(e *apiError) (bridge.Result, error) {
	return bridge.Result{Status: bridge.Failed, Code: "void_not_allowed", ProviderCode: e.Code,
		Message: "iyzico refused the void (" + e.Message + "). A void is only possible on the day of the sale, " +
			"before the terminal's end of day; after that send a refund for the sale instead"}, nil
}

// inputFailed turns a request the adapter cannot express (caught by
// Validate at accept time, so only for requests stored before an upgrade)
// into a final failure: nothing was sent.
func inputFailed(err error) (bridge.Result, error) {
	return bridge.Result{Status: bridge.Failed, Code: "invalid_request", Message: err.Error()}, nil
}

// Send implements bridge.Provider.
func (c *Client) Send(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	var res bridge.Result
	var err error
	switch r.Terminal.Model {
	case VUK507:
		res, err = c.send507(ctx, r)
	case VUK509:
		res, err = c.send509(ctx, r)
	default:
		return bridge.Result{Status: bridge.Failed, Code: "unsupported_model", Message: "terminal model " + r.Terminal.Model + " is not vuk507 or vuk509"}, nil
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return classify(r.Op, ae)
	}
	return res, err
}

// Query implements bridge.Provider: query-transaction-status by the
// request's own reference (§4.2; §3.2 combination 2). Only an explicit
// answer is final: success (approved), a bank decline (declined), "not
// found" (bridge.ErrNotFound). Anything else keeps the outcome unknown.
func (c *Client) Query(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	var res bridge.Result
	var err error
	switch r.Terminal.Model {
	case VUK507:
		if r.Op == bridge.OpPartialStart && r.ProviderRef != "" {
			// The saleNumber was stored the moment it arrived: the flow
			// is open at iyzico, which is all a start does.
			return bridge.Result{Status: bridge.Approved, Payment: &bridge.Payment{Provider: "iyzico", Amount: r.Amount.String(),
				Currency: r.Amount.Currency, Detail: detailJSON(partialDetail{SaleNumber: r.ProviderRef})}}, nil
		}
		var out GmuPaymentResponse
		err = c.call(ctx, "/v2/terminal-host/gmu/payment/query-transaction-status", GmuQueryRequest{
			Locale: c.locale(VUK507), ConversationID: r.Reference, DeviceUniqueID: r.Terminal.DeviceID, TransactionReferenceID: r.Reference,
		}, &out)
		if err == nil {
			res = c.queried507(r, out)
		}
	case VUK509:
		var out PaymentResponse509
		err = c.call(ctx, "/v2/terminal-host/payment/query-transaction-status", QueryRequest509{
			ConversationID: r.Reference, Locale: c.locale(VUK509), DeviceUniqueID: r.Terminal.DeviceID, TransactionReferenceID: r.Reference,
		}, &out)
		if err == nil {
			res = result509(r.Op, out)
		}
	default:
		return bridge.Result{}, bridge.ErrNotFound
	}
	var ae *apiError
	if errors.As(err, &ae) {
		switch {
		case ae.Code == "380107" || ae.Code == "380108" || ae.Code == "380109":
			return bridge.Result{}, bridge.ErrNotFound
		case groupOf(ae) == "BANK_ERROR":
			return bridge.Result{Status: bridge.Declined, Code: "card_declined", Message: ae.Message, ProviderCode: ae.Code}, nil
		}
		return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "query_failed", Err: ae}
	}
	return res, err
}

// queried507 turns a query answer into the result the request itself
// would have had. The query answers with the payment record (§4.2); for
// the partial-payment steps the reference is silent on what it returns,
// so the saleNumber is taken from the answer or, failing that, from the
// start.
func (c *Client) queried507(r bridge.Request, out GmuPaymentResponse) bridge.Result {
	switch r.Op {
	case bridge.OpPartialStart:
		return bridge.Result{Status: bridge.Approved, Payment: &bridge.Payment{Provider: "iyzico", Amount: r.Amount.String(),
			Currency: r.Amount.Currency, Detail: detailJSON(partialDetail{SaleNumber: out.SaleNumber})}}
	case bridge.OpPartialAdd, bridge.OpPartialComplete:
		res := approved507(out)
		sn := out.SaleNumber
		if s, ok := saleNumber(r.Original); ok {
			sn = s
		}
		res.Payment.Detail = detailJSON(partialDetail{SaleNumber: sn})
		return res
	case bridge.OpVoid:
		res := approved507(out)
		res.Payment.HostReference = out.CancelHostReference
		return res
	case bridge.OpRefund:
		res := approved507(out)
		res.Payment.HostReference = out.RefundHostReference
		return res
	}
	return approved507(out)
}

func masked(bin, last4 string) string {
	if bin == "" && last4 == "" {
		return ""
	}
	return bin + "******" + last4
}

func approved507(o GmuPaymentResponse) bridge.Result {
	date := ""
	if o.PaymentDate != 0 {
		date = strconv.Itoa(o.PaymentDate)
	}
	return bridge.Result{Status: bridge.Approved, Payment: &bridge.Payment{
		Provider: "iyzico", PaymentID: o.PaymentID, PaymentDate: date, AuthCode: o.AuthCode,
		HostReference: o.HostReference, Amount: o.Price, Currency: o.Currency, CardType: o.CardType,
		MaskedPAN: masked(o.BinNumber, o.LastFourDigits), BatchNo: o.BatchNo,
	}}
}

// result509 is approved509 with the host reference of the operation
// itself: the void's cancelHostReference, the refund's
// refundHostReference (§3.1 fields), as on VUK 507.
func result509(op bridge.Op, o PaymentResponse509) bridge.Result {
	res := approved509(o)
	switch {
	case op == bridge.OpVoid && o.CancelHostReference != "":
		res.Payment.HostReference = o.CancelHostReference
	case op == bridge.OpRefund && o.RefundHostReference != "":
		res.Payment.HostReference = o.RefundHostReference
	}
	return res
}

func approved509(o PaymentResponse509) bridge.Result {
	return bridge.Result{Status: bridge.Approved, Payment: &bridge.Payment{
		Provider: "iyzico", PaymentID: o.PaymentID, PaymentDate: o.PaymentDate, AuthCode: o.AuthCode,
		HostReference: o.HostReference, Amount: string(o.Price), Currency: o.Currency, CardType: o.CardType,
		MaskedPAN: masked(o.BinNumber, o.LastFourDigits), BatchNo: o.BatchNo,
	}}
}

func paymentDate507(p bridge.Payment) int {
	n, _ := strconv.Atoi(p.PaymentDate)
	return n
}

func (c *Client) send507(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	loc, dev, ref := c.locale(VUK507), r.Terminal.DeviceID, r.Reference
	switch r.Op {
	case bridge.OpSale:
		body, err := c.paymentRequest507(r)
		if err != nil {
			return inputFailed(err)
		}
		var out GmuPaymentResponse
		if err := c.call(ctx, "/v2/terminal-host/gmu/payment", body, &out); err != nil {
			return bridge.Result{}, err
		}
		return approved507(out), nil
	case bridge.OpPartialStart:
		res, err := c.partialStart(ctx, r)
		var ie *bridge.InputError
		if errors.As(err, &ie) {
			return inputFailed(err)
		}
		return res, err
	case bridge.OpPartialAdd:
		return c.partialAdd(ctx, r)
	case bridge.OpPartialComplete:
		return c.partialComplete(ctx, r)
	case bridge.OpVoid:
		if r.Original == nil {
			return bridge.Result{Status: bridge.Failed, Code: "invalid_original", Message: "void without its sale"}, nil
		}
		var out GmuVoidResponse
		err := c.call(ctx, "/v2/terminal-host/gmu/payment/void", GmuVoidRequest{
			Locale: loc, ConversationID: ref, DeviceUniqueID: dev, PaymentID: r.Original.Payment.PaymentID,
			PaymentDate: paymentDate507(r.Original.Payment), TransactionReferenceID: ref,
		}, &out)
		if err != nil {
			return bridge.Result{}, err
		}
		return bridge.Result{Status: bridge.Approved, Payment: &bridge.Payment{
			Provider: "iyzico", PaymentID: out.PaymentID, AuthCode: out.AuthCode, HostReference: out.CancelHostReference,
			Amount: out.Price, Currency: out.Currency, MaskedPAN: masked(out.BinNumber, out.LastFourDigits),
		}}, nil
	case bridge.OpRefund:
		return c.refund507(ctx, r)
	case bridge.OpEndOfDay:
		var out GmuEodResponse
		if err := c.call(ctx, "/v2/terminal-host/gmu/eod", GmuEodRequest{Locale: loc, ConversationID: ref, DeviceUniqueID: dev, UseSummary: r.Summary}, &out); err != nil {
			return bridge.Result{}, err
		}
		detail, _ := json.Marshal(map[string]any{"batch_no": out.BatchNo, "result_message": out.ResultMessage, "totals": out.Tails})
		return bridge.Result{Status: bridge.Approved, Payment: &bridge.Payment{Provider: "iyzico", BatchNo: out.BatchNo, Detail: detail}}, nil
	}
	return bridge.Result{Status: bridge.Failed, Code: "unsupported_operation", Message: string(r.Op) + " is not an iyzico operation"}, nil
}

// refund507 asks refundable-sale-info (read-only, §4.3) for the original
// sale's lines, then returns the amount over them first-fit, linking each
// with relatedSaleItemId = the line's id (§4.3 gap, [inferred]).
func (c *Client) refund507(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	if r.Original == nil {
		return bridge.Result{Status: bridge.Failed, Code: "invalid_original", Message: "refund without its sale"}, nil
	}
	loc, dev, ref := c.locale(VUK507), r.Terminal.DeviceID, r.Reference
	info, err := c.refundableInfo(ctx, dev, r.Original.Reference, ref)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			// Nothing was refunded by a read-only call: a refusal is final.
			res, cerr := classify(r.Op, ae)
			if cerr != nil {
				return bridge.Result{}, &bridge.Error{Kind: bridge.NotSent, Code: "refundable_info_failed", Err: ae}
			}
			return res, nil
		}
		if bridge.KindOf(err) == bridge.Unknown {
			// A lost answer to a read-only call changes nothing either.
			return bridge.Result{}, &bridge.Error{Kind: bridge.NotSent, Code: "refundable_info_failed", Err: err}
		}
		return bridge.Result{}, err
	}
	items, refused := c.refundLines(r, info)
	if refused != nil {
		return *refused, nil
	}
	var out GmuRefundResponse
	if err := c.call(ctx, "/v2/terminal-host/gmu/payment/refund", GmuRefundRequest{
		Locale: loc, ConversationID: ref, DeviceUniqueID: dev, PaymentID: r.Original.Payment.PaymentID,
		PaymentDate: paymentDate507(r.Original.Payment), TransactionReferenceID: ref,
		SaleAppName: c.cfg.SaleAppName, SaleAppVersion: c.cfg.SaleAppVersion, SaleItems: items,
	}, &out); err != nil {
		return bridge.Result{}, err
	}
	return bridge.Result{Status: bridge.Approved, Payment: &bridge.Payment{
		Provider: "iyzico", PaymentID: r.Original.Payment.PaymentID, AuthCode: out.AuthCode, HostReference: out.HostReference,
		Amount: out.Price, Currency: out.Currency, MaskedPAN: masked(out.BinNumber, out.LastFourDigits), BatchNo: out.BatchNo,
	}}, nil
}

func (c *Client) send509(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	loc, dev, ref := c.locale(VUK509), r.Terminal.DeviceID, r.Reference
	var out PaymentResponse509
	var err error
	switch r.Op {
	case bridge.OpSale:
		err = c.call(ctx, "/v2/terminal-host/payment", PaymentRequest509{
			ConversationID: ref, Locale: loc, DeviceUniqueID: dev, TransactionReferenceID: ref,
			Price: json.Number(r.Amount.String()), Currency: r.Amount.Currency, SalesType: "SALE",
		}, &out)
	case bridge.OpRefund, bridge.OpVoid:
		if r.Original == nil {
			return bridge.Result{Status: bridge.Failed, Code: "invalid_original", Message: string(r.Op) + " without its sale"}, nil
		}
		if r.Op == bridge.OpRefund {
			err = c.call(ctx, "/v2/terminal-host/payment/refund", RefundRequest509{
				ConversationID: ref, Locale: loc, PaymentID: r.Original.Payment.PaymentID, DeviceUniqueID: dev,
				Price: json.Number(r.Amount.String()), TransactionReferenceID: ref, PaymentDate: r.Original.Payment.PaymentDate,
			}, &out)
		} else {
			err = c.call(ctx, "/v2/terminal-host/payment/void", VoidRequest509{
				ConversationID: ref, Locale: loc, PaymentID: r.Original.Payment.PaymentID, PaymentDate: r.Original.Payment.PaymentDate,
				DeviceUniqueID: dev, TransactionReferenceID: ref,
			}, &out)
		}
	case bridge.OpEndOfDay:
		var eod EodResponse509
		if err := c.call(ctx, "/v2/terminal-host/eod", EodRequest509{ConversationID: ref, Locale: loc, DeviceUniqueID: dev, UseSummary: r.Summary}, &eod); err != nil {
			return bridge.Result{}, err
		}
		detail, _ := json.Marshal(map[string]any{"batch_no": eod.BatchNo, "result_message": eod.ResultMessage, "totals": eod.Totals})
		return bridge.Result{Status: bridge.Approved, Payment: &bridge.Payment{Provider: "iyzico", BatchNo: eod.BatchNo, Detail: detail}}, nil
	default:
		return bridge.Result{Status: bridge.Failed, Code: "unsupported_operation", Message: string(r.Op) + " is not an iyzico operation"}, nil
	}
	if err != nil {
		return bridge.Result{}, err
	}
	return result509(r.Op, out), nil
}
