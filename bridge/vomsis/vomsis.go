// Package vomsis is tezgah's adapter for the Vomsis Sanal POS API V3, the
// virtual POS used for card-not-present sales (phone and mail orders):
// token, BIN check, installments, 3-D Secure payment, cancel and refund,
// transaction detail, the transaction list and customers. It implements
// bridge.Provider, bridge.Validator, bridge.Caller and bridge.CardPayer.
//
// The source is ../shared/reference/vomsis-vpos-api.md (§ numbers below)
// and its Postman collection. Three rules shape it:
//
//   - Card data comes from the agent's in-memory vault (bridge.CardSource),
//     once. A sale that cannot be sent now fails with "retry_later"
//     instead of waiting, and one whose card is gone fails with
//     "card_data_unavailable": card data is never kept for a later try.
//   - A sale is 3-D Secure: Vomsis answers with HTML for the payer's
//     browser, which the adapter serves on a local page (Pages) while it
//     waits. The returnUrl post-back is unsigned (§4) and only wakes the
//     adapter; the outcome is what /transaction/find says for the same
//     referanceNo (§6).
//   - Anything that may have reached Vomsis is reconciled with
//     /transaction/find by referanceNo, never resent blindly.
package vomsis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/money"
)

// Config configures a Client.
type Config struct {
	BaseURL   string // https://uygulama.vomsis.com/api/vpos/v3
	AppKey    string
	AppSecret string
	// Lang selects the language of Vomsis's messages: tr or en (§4).
	Lang string
	// ClientIP is sent as clientIp (required, §4). A phone order has no
	// payer IP; the shop's public address is the honest value.
	ClientIP string
	// ThreeDSTimeout is how long a sale waits for the payer to finish the
	// 3-D page before it is checked one last time and ends.
	ThreeDSTimeout time.Duration
	// LateWindow is how long, after a cancel or ThreeDSTimeout, the sale
	// still listens for the bank when a browser was given the bank form:
	// a payer already on the bank's 3-D page may complete it. An approval
	// then is voided (or refunded) at once. LatePoll is how often find
	// is asked meanwhile (the post-back may never come: the payer can
	// close the window after the bank approved).
	LateWindow time.Duration // default 5m
	LatePoll   time.Duration // default 10s
	// TokenTTL is how long a token is reused. Vomsis documents no
	// lifetime (§1); 23 h as in the third-party integration, and a 401
	// logs in again anyway.
	TokenTTL time.Duration
	// Timeout bounds one HTTP call.
	Timeout    time.Duration
	HTTPClient *http.Client
	Now        func() time.Time
	// Cards hands over a sale's card, once. Pages serves the 3-D page.
	Cards CardSource
	Pages *Pages
}

// CardSource is bridge.CardSource.
type CardSource = bridge.CardSource

// Client is a Vomsis Sanal POS API client for one merchant application.
type Client struct {
	cfg  Config
	http *http.Client

	mu      sync.Mutex // guards token, expires, gate
	token   string
	expires time.Time
	// gate is when the rate-limit window reopens after Vomsis said none
	// is left (X-RateLimit-Remaining: 0).
	gate time.Time
}

// NewClient checks cfg and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	var missing []string
	for _, f := range []struct{ k, v string }{{"base URL", cfg.BaseURL}, {"app key", cfg.AppKey}, {"app secret", cfg.AppSecret}} {
		if f.v == "" {
			missing = append(missing, f.k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("vomsis: missing %s", strings.Join(missing, ", "))
	}
	if cfg.Cards == nil || cfg.Pages == nil {
		return nil, errors.New("vomsis: a card source and a page server are required")
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Lang == "" {
		cfg.Lang = "tr"
	}
	if cfg.ClientIP == "" {
		cfg.ClientIP = "127.0.0.1"
	}
	if cfg.ThreeDSTimeout <= 0 {
		cfg.ThreeDSTimeout = 10 * time.Minute
	}
	if cfg.LateWindow <= 0 {
		cfg.LateWindow = 5 * time.Minute
	}
	if cfg.LatePoll <= 0 {
		cfg.LatePoll = 10 * time.Second
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 23 * time.Hour
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	return &Client{cfg: cfg, http: hc}, nil
}

// NeedsCard implements bridge.CardPayer: a Vomsis sale carries the card.
func (c *Client) NeedsCard(op bridge.Op) bool { return op == bridge.OpSale }

// Validate implements bridge.Validator.
func (c *Client) Validate(r bridge.Request) error {
	switch r.Op {
	case bridge.OpSale, bridge.OpRefund, bridge.OpVoid:
	case bridge.OpEndOfDay:
		return fmt.Errorf("a Vomsis virtual POS has no end of day: the bank settles it; nothing to send: %w", bridge.ErrUnsupported)
	default:
		return fmt.Errorf("vomsis does not do %q: %w", r.Op, bridge.ErrUnsupported)
	}
	if cu := r.Customer; cu != nil {
		for _, f := range []struct {
			field, v string
			max      int
		}{
			{"customer.email", cu.Email, 30}, {"customer.phone", cu.Phone, 15}, {"customer.tax_office", cu.TaxOffice, 30},
			{"customer.address", cu.Address, 70}, {"customer.company_name", cu.CompanyName, 50},
		} {
			if n := len([]rune(f.v)); n > f.max {
				return bridge.Inputf(f.field, "Vomsis takes at most %d characters here (§4), got %d", f.max, n)
			}
		}
	}
	return nil
}

// apiError is an HTTP answer that refuses the call (4xx other than 401
// and 429): Vomsis did not do it.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("vomsis: HTTP %d: %s", e.Status, e.Message) }

// loginToken returns a cached token or logs in (§1). Every failure here
// is NotSent: no business call was made.
func (c *Client) loginToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.cfg.Now().Before(c.expires) {
		return c.token, nil
	}
	// form-data as in the collection (§1).
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("app_key", c.cfg.AppKey)
	mw.WriteField("app_secret", c.cfg.AppSecret)
	mw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.BaseURL+"/auth/token", &body)
	if err != nil {
		return "", &bridge.Error{Kind: bridge.NotSent, Code: "auth_failed", Err: errors.New("vomsis: token: bad base URL")}
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", &bridge.Error{Kind: bridge.NotSent, Code: "connect_failed", Err: fmt.Errorf("vomsis: token: %w", bridge.Scrub(err))}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusTooManyRequests {
		return "", &bridge.Error{Kind: bridge.NotSent, Code: "rate_limited", RetryAfter: c.retryAfter(resp.Header), Err: errors.New("vomsis: token: HTTP 429")}
	}
	var out TokenResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil || out.AccessToken == "" {
		// The body may echo the request; only the status goes in the error.
		return "", &bridge.Error{Kind: bridge.NotSent, Code: "auth_failed", Err: fmt.Errorf("vomsis: token refused (HTTP %d): check app_key, app_secret and the allowed IP addresses in Vomsis API settings", resp.StatusCode)}
	}
	c.token, c.expires = out.AccessToken, c.cfg.Now().Add(c.cfg.TokenTTL)
	return c.token, nil
}

func (c *Client) dropToken(tok string) {
	c.mu.Lock()
	if c.token == tok {
		c.token = ""
	}
	c.mu.Unlock()
}

// retryAfter reads Retry-After (seconds or a date), else the rate-limit
// reset (X-RateLimit-Reset, epoch seconds, Laravel style [inferred]).
func (c *Client) retryAfter(h http.Header) time.Duration {
	now := c.cfg.Now()
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return time.Duration(s) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil && t.After(now) {
			return t.Sub(now)
		}
	}
	if v := h.Get("X-RateLimit-Reset"); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil {
			if t := time.Unix(s, 0); t.After(now) {
				return t.Sub(now)
			}
		}
	}
	return 0
}

// rateWindow is the assumed rate-limit window: the headers show a limit
// of 100 but not its period (§ header notes) [inferred: per minute].
const rateWindow = time.Minute

// noteRate reads X-RateLimit-* from an answer: when none is left, calls
// wait until the window reopens instead of being refused.
func (c *Client) noteRate(h http.Header) {
	rem := h.Get("X-RateLimit-Remaining")
	if rem == "" {
		return
	}
	if n, err := strconv.Atoi(rem); err != nil || n > 0 {
		return
	}
	wait := c.retryAfter(h)
	if wait <= 0 {
		wait = rateWindow
	}
	c.mu.Lock()
	if t := c.cfg.Now().Add(wait); t.After(c.gate) {
		c.gate = t
	}
	c.mu.Unlock()
}

// gated returns how long calls must still wait for the rate limit.
func (c *Client) gated() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gate.Sub(c.cfg.Now())
}

// do sends one business call and returns the answer's body for 2xx. It
// returns *apiError for a refusal (4xx), *bridge.Error when there is no
// usable answer: NotSent when the call certainly did not get through
// (connect failure, 401 twice, 429, 503), Unknown when it may have.
func (c *Client) do(ctx context.Context, method, path string, in any) ([]byte, int, error) {
	if wait := c.gated(); wait > 0 {
		return nil, 0, &bridge.Error{Kind: bridge.NotSent, Code: "rate_limited", RetryAfter: wait,
			Err: fmt.Errorf("vomsis: %s: rate limit used up; waiting for the window to reopen", path)}
	}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, 0, fmt.Errorf("vomsis: %s: %w", path, err)
		}
	}
	for try := 0; ; try++ {
		tok, err := c.loginToken(ctx)
		if err != nil {
			return nil, 0, err
		}
		raw, status, err := c.once(ctx, method, path, body, tok)
		if err != nil {
			return nil, 0, err
		}
		if status == http.StatusUnauthorized {
			// A refused token means the call was not processed (§1: log
			// in again and retry once).
			c.dropToken(tok)
			if try == 0 {
				continue
			}
			return nil, 0, &bridge.Error{Kind: bridge.NotSent, Code: "auth_failed", Err: fmt.Errorf("vomsis: %s: token refused twice", path)}
		}
		if status >= 400 {
			return raw, status, &apiError{Status: status, Message: message(raw)}
		}
		return raw, status, nil
	}
}

// message picks a human message out of an error body, Laravel style
// ({"message": ...}) [inferred, §"Not documented"].
func message(raw []byte) string {
	var v struct {
		Message      FlexString `json:"message"`
		ErrorMessage FlexString `json:"error_message"`
	}
	if json.Unmarshal(raw, &v) == nil {
		if v.Message != "" {
			return string(v.Message)
		}
		if v.ErrorMessage != "" {
			return string(v.ErrorMessage)
		}
	}
	return "no message"
}

// once makes one HTTP request. bridge.Do tells whether it was written: a
// failure before that is NotSent, after it Unknown.
func (c *Client) once(ctx context.Context, method, path string, body []byte, tok string) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+path, rd)
	if err != nil {
		return nil, 0, &bridge.Error{Kind: bridge.NotSent, Code: "bad_request", Err: fmt.Errorf("vomsis: %s: bad URL", path)}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := bridge.Do(c.http, req, "vomsis: "+path)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, 0, &bridge.Error{Kind: bridge.Unknown, Code: "connection_lost", Err: fmt.Errorf("vomsis: %s: reading answer: %w", path, err)}
	}
	c.noteRate(resp.Header)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		wait := c.retryAfter(resp.Header)
		if wait <= 0 {
			wait = rateWindow
		}
		return nil, 0, &bridge.Error{Kind: bridge.NotSent, Code: "rate_limited", RetryAfter: wait, Err: fmt.Errorf("vomsis: %s: HTTP 429", path)}
	case resp.StatusCode == http.StatusServiceUnavailable:
		return nil, 0, &bridge.Error{Kind: bridge.NotSent, Code: "http_503", RetryAfter: c.retryAfter(resp.Header), Err: fmt.Errorf("vomsis: %s: HTTP 503", path)}
	case resp.StatusCode >= 500:
		return nil, 0, &bridge.Error{Kind: bridge.Unknown, Code: "http_" + strconv.Itoa(resp.StatusCode), Err: fmt.Errorf("vomsis: %s: HTTP %d", path, resp.StatusCode)}
	}
	return raw, resp.StatusCode, nil
}

// find is /transaction/find (§6). It returns bridge.ErrNotFound when
// Vomsis positively answers that it has no such referanceNo: HTTP 404, or
// success false without data [inferred: the not-found answer is not
// documented].
func (c *Client) find(ctx context.Context, ref string) (*FindData, error) {
	raw, status, err := c.do(ctx, http.MethodGet, "/transaction/find", FindRequest{ReferanceNo: ref})
	var ae *apiError
	if errors.As(err, &ae) {
		if ae.Status == http.StatusNotFound {
			return nil, bridge.ErrNotFound
		}
		return nil, &bridge.Error{Kind: bridge.Unknown, Code: "query_failed", Err: err}
	}
	if err != nil {
		return nil, err
	}
	var out FindResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, &bridge.Error{Kind: bridge.Unknown, Code: "bad_response", Err: fmt.Errorf("vomsis: find: HTTP %d: %w", status, err)}
	}
	if !out.Success || out.Data == nil {
		if !out.Success && out.Data == nil {
			return nil, bridge.ErrNotFound
		}
		return nil, &bridge.Error{Kind: bridge.Unknown, Code: "bad_response", Err: errors.New("vomsis: find: success without data")}
	}
	if string(out.Data.ReferanceNo) != "" && string(out.Data.ReferanceNo) != ref {
		return nil, &bridge.Error{Kind: bridge.Unknown, Code: "bad_response", Err: errors.New("vomsis: find answered for another referanceNo")}
	}
	return out.Data, nil
}

// saleResult turns a transaction's detail into a sale's final result, or
// final=false when it is not final.
func saleResult(d *FindData, cur string) (bridge.Result, bool) {
	switch string(d.Status) {
	case StatusSuccessful, StatusCancelled, StatusRefunded:
		// Cancelled or refunded later: the sale itself was paid.
		return bridge.Result{Status: bridge.Approved, Payment: payment(d, cur)}, true
	case StatusFailed:
		msg := string(d.ErrorMessage)
		if msg == "" {
			msg = "the bank or 3-D Secure refused the payment"
		}
		return bridge.Result{Status: bridge.Declined, Code: "card_declined", Message: msg, ProviderCode: string(d.ErrorCode)}, true
	}
	return bridge.Result{}, false
}

func payment(d *FindData, cur string) *bridge.Payment {
	date := ""
	if t, err := time.Parse("2006-01-02 15:04:05", string(d.TransactionDate)); err == nil {
		date = t.Format("20060102")
	}
	detail, _ := json.Marshal(map[string]any{
		"status": string(d.Status), "transaction_date": string(d.TransactionDate), "pos_name": string(d.PosName),
		"bank": string(d.CreditCardBank), "installment": int(d.Installment), "installment_ratio": string(d.InstallmentRatio),
		"paid_amount": string(d.PaidAmount),
	})
	return &bridge.Payment{
		Provider: "vomsis", PaymentID: string(d.ReferanceNo), PaymentDate: date, Amount: string(d.Amount),
		Currency: cur, MaskedPAN: maskPAN(string(d.MaskedPan)), Detail: detail,
	}
}

// maskPAN keeps a masked number as Vomsis gives it ("544078******6021"),
// and masks anything that looks like a whole number, should one appear.
func maskPAN(s string) string {
	digits := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	if digits <= 10 || len(s) < 12 {
		return s
	}
	return s[:6] + strings.Repeat("*", len(s)-10) + s[len(s)-4:]
}

// Send implements bridge.Provider.
func (c *Client) Send(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	switch r.Op {
	case bridge.OpSale:
		return c.sale(ctx, r)
	case bridge.OpVoid, bridge.OpRefund:
		return c.transaction(ctx, r)
	}
	return bridge.Result{Status: bridge.Failed, Code: "unsupported_operation", Message: "Vomsis does not do " + string(r.Op)}, nil
}

// sale is the 3-D Secure payment of §4.
func (c *Client) sale(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	card, ok := c.cfg.Cards.Take(r.ID)
	if !ok {
		return bridge.Result{Status: bridge.Failed, Code: "card_data_unavailable",
			Message: "the card data is no longer in memory (the agent restarted or the sale waited too long); nothing was charged: send the sale again with a new id"}, nil
	}
	pg, err := c.cfg.Pages.prepare(r.ID, r.Reference)
	if err != nil {
		return bridge.Result{Status: bridge.Failed, Code: "retry_later", Message: "the agent could not open a 3-D Secure page; nothing was charged: send the sale again with a new id"}, nil
	}
	defer pg.close()
	in := PaymentRequest{
		ReferanceNo: r.Reference, CreditCardHolderName: card.Holder, CreditCardPan: card.Number,
		CreditCardExpiryMonth: card.ExpiryMonth, CreditCardExpiryYear: card.ExpiryYear, CreditCardCvc: card.CVC,
		PID: pid(r.Terminal), Installment: 1, Amount: r.Amount.String(), Currency: r.Amount.Currency,
		ClientIP: c.cfg.ClientIP, ReturnURL: pg.returnURL, Lang: c.cfg.Lang, PaymentNote: "tezgah " + r.ID,
	}
	invoice(&in, r.Customer)
	raw, status, err := c.do(ctx, http.MethodPost, "/payment", in)
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return bridge.Result{Status: bridge.Failed, Code: "payment_refused", Message: "Vomsis refused the payment: " + ae.Message,
			ProviderCode: "http_" + strconv.Itoa(ae.Status)}, nil
	case bridge.KindOf(err) == bridge.NotSent:
		// Card data is not kept for a later try (DESIGN: never queued).
		return bridge.Result{Status: bridge.Failed, Code: "retry_later",
			Message: fmt.Sprintf("Vomsis could not be reached now (%s); nothing was charged: send the sale again with a new id", bridge.CodeOf(err))}, nil
	case err != nil:
		return bridge.Result{}, err
	}
	var out PaymentResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "bad_response", Err: fmt.Errorf("vomsis: payment: HTTP %d: %w", status, err)}
	}
	if !out.Status {
		msg := string(out.Message)
		if msg == "" {
			msg = "the payment request was not accepted"
		}
		return bridge.Result{Status: bridge.Failed, Code: "payment_refused", Message: "Vomsis: " + msg}, nil
	}
	if out.Data == "" {
		return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "bad_response", Err: errors.New("vomsis: payment accepted without a 3-D page")}
	}
	if err := pg.show(ctx, out.Data); err != nil {
		// The payer cannot be sent to the page; whatever Vomsis did is
		// reconciled by find.
		return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "page_failed", Err: err}
	}
	return c.await(ctx, r, pg)
}

// await waits for the payer on the 3-D page. A post-back only wakes it:
// the result is what find says. A cancel from the register or the 3-D
// timeout ends the wait (closing).
func (c *Client) await(ctx context.Context, r bridge.Request, pg *Page) (bridge.Result, error) {
	timer := time.NewTimer(c.cfg.ThreeDSTimeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "3ds_interrupted", Err: ctx.Err()}
		case <-pg.hints:
			d, err := c.find(ctx, r.Reference)
			if err != nil {
				continue // keep waiting; the timeout asks again
			}
			if res, final := saleResult(d, r.Amount.Currency); final {
				return res, nil
			}
		case <-pg.cancelled:
			return c.closing(ctx, r, pg, true)
		case <-timer.C:
			return c.closing(ctx, r, pg, false)
		}
	}
}

// closing ends a sale whose 3-D page was cancelled by the register
// (cancelled) or timed out. The page stops serving the bank form at once.
// If no browser was ever given the form, nobody can be at the bank and
// find decides now. If one was, the payer may be on the bank's page and
// complete it: the sale listens for the post-back and asks find every
// LatePoll for LateWindow more. A payment the bank approves meanwhile (or
// approved just before) is voided at once, or refunded (undo): the
// register is never told cancelled or failed while the customer's money
// stays taken.
func (c *Client) closing(ctx context.Context, r bridge.Request, pg *Page, cancelled bool) (bridge.Result, error) {
	opened := pg.stop()
	until := time.NewTimer(c.cfg.LateWindow)
	defer until.Stop()
	poll := time.NewTicker(c.cfg.LatePoll)
	defer poll.Stop()
	over := !opened
	for {
		d, err := c.find(ctx, r.Reference)
		switch {
		case err == nil && string(d.Status) == StatusSuccessful:
			return c.undo(ctx, r, d, cancelled)
		case err == nil:
			if res, final := saleResult(d, r.Amount.Currency); final {
				return res, nil // declined, or already cancelled or refunded
			}
		case !errors.Is(err, bridge.ErrNotFound) && over:
			// Vomsis cannot be asked now: the agent asks again (Query)
			// and reports what it finds.
			return bridge.Result{}, err
		}
		if over {
			return c.ended(cancelled), nil
		}
		select {
		case <-ctx.Done():
			return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "3ds_interrupted", Err: ctx.Err()}
		case <-pg.hints:
		case <-poll.C:
		case <-until.C:
			over = true // one last find
		}
	}
}

// ended is the result of a sale whose 3-D page ended with no payment.
func (c *Client) ended(cancelled bool) bridge.Result {
	if cancelled {
		return bridge.Result{Status: bridge.Cancelled, Code: "cancelled_by_register",
			Message: "cancelled by the register while the 3-D Secure page was open; the bank did not approve it and nothing was charged"}
	}
	return bridge.Result{Status: bridge.Failed, Code: "3ds_expired",
		Message: fmt.Sprintf("the 3-D Secure page was not completed within %v; nothing was charged", c.cfg.ThreeDSTimeout)}
}

// undoTries bounds the automatic void's attempts; each that gets no
// answer is checked with find before the next.
const undoTries = 3

// undo voids a payment the bank approved after the register cancelled
// it or after the 3-D timeout — a cancel the same day (§5) — or, if
// Vomsis refuses the cancel, refunds it in full. The result is the
// sale's cancel or expiry with the automatic void's details in
// payment.detail.auto_void; if it cannot be undone the result is
// approved (the money is taken) with auto_void.error saying why, so the
// register can void it itself.
func (c *Client) undo(ctx context.Context, r bridge.Request, d *FindData, cancelled bool) (bridge.Result, error) {
	cur := r.Amount.Currency
	pay := payment(d, cur)
	orig := &bridge.Original{ID: r.ID, Reference: r.Reference, Amount: r.Amount, Payment: *pay}
	var done *bridge.Result
	var last string
	for try := 0; try < undoTries && done == nil; try++ {
		for _, op := range []bridge.Op{bridge.OpVoid, bridge.OpRefund} {
			res, err := c.transaction(ctx, bridge.Request{ID: r.ID, Op: op, Terminal: r.Terminal, Amount: r.Amount, Original: orig})
			if err == nil && res.Status == bridge.Approved {
				done = &res
				break
			}
			if err != nil {
				last = err.Error()
				// No answer: what did Vomsis do?
				if fd, ferr := c.find(ctx, r.Reference); ferr == nil && (string(fd.Status) == StatusCancelled || string(fd.Status) == StatusRefunded) {
					done = &bridge.Result{Status: bridge.Approved, Payment: &bridge.Payment{Provider: "vomsis", PaymentID: string(fd.ReferanceNo)}}
				}
				break // ask again after a pause, the void first
			}
			last = res.Code + ": " + res.Message // refused: try the refund
		}
		if done == nil && try+1 < undoTries {
			select {
			case <-ctx.Done():
				try = undoTries
			case <-time.After(time.Duration(try+1) * c.cfg.LatePoll):
			}
		}
	}
	detail := map[string]any{}
	_ = json.Unmarshal(pay.Detail, &detail)
	if done == nil {
		detail["auto_void"] = map[string]any{"error": last}
		pay.Detail, _ = json.Marshal(detail)
		return bridge.Result{Status: bridge.Approved, Payment: pay, Code: "auto_void_failed",
			Message: "the bank approved the payment after the 3-D page was cancelled or timed out, and the automatic void failed (" + last + "): the customer was charged; void or refund it"}, nil
	}
	av := map[string]any{"type": "cancel"}
	if done.Payment != nil {
		av["islem_id"], av["trans_id"] = done.Payment.PaymentID, done.Payment.HostReference
		var dd map[string]any
		if json.Unmarshal(done.Payment.Detail, &dd) == nil && dd["type"] == "iade" {
			av["type"] = "refund"
		}
	}
	detail["auto_void"] = av
	pay.Detail, _ = json.Marshal(detail)
	res := c.ended(cancelled)
	res.Payment = pay
	res.Message = "the bank approved the payment after the 3-D page was " + map[bool]string{true: "cancelled by the register", false: "timed out"}[cancelled] +
		"; the agent voided it at once (payment.detail.auto_void): the customer's money was returned"
	return res, nil
}

// Withdraw is the register's cancel of a sale waiting on its 3-D page:
// the page stops serving the bank form and the sale ends (closing). It
// fails when the sale has no open page (not yet sent, or already over).
func (c *Client) Withdraw(ctx context.Context, r bridge.Request) error {
	if r.Op != bridge.OpSale {
		return fmt.Errorf("vomsis: a %s cannot be withdrawn once sent: %w", r.Op, bridge.ErrUnsupported)
	}
	pg := c.cfg.Pages.byReference(r.Reference)
	if pg == nil {
		return errors.New("vomsis: the sale has no open 3-D page")
	}
	pg.withdraw()
	return nil
}

// invoice maps the register's customer to the invoice fields of §4.
func invoice(in *PaymentRequest, cu *bridge.Customer) {
	if cu == nil {
		return
	}
	in.InvoiceType = "individual"
	if cu.Type == bridge.Corporate {
		in.InvoiceType = "commercial"
		in.UserCompanyTitle = cu.CompanyName
	}
	in.UserName = strings.TrimSpace(strings.Join([]string{cu.FirstName, cu.MiddleName, cu.LastName}, " "))
	in.UserName = strings.Join(strings.Fields(in.UserName), " ")
	in.UserEmail, in.UserPhone, in.UserTaxOffice, in.UserAddress = cu.Email, cu.Phone, cu.TaxOffice, cu.Address
	in.UserTaxNo = cu.TaxNumber
	if in.UserTaxNo == "" {
		in.UserTaxNo = cu.IdentityNumber
	}
}

// pid is the terminal's device_id read as Vomsis's POS id; empty lets
// Vomsis choose.
func pid(t bridge.Terminal) int {
	n, _ := strconv.Atoi(t.DeviceID)
	return n
}

// transaction is cancel (void) or refund (§5), by the sale's referanceNo.
func (c *Client) transaction(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	if r.Original == nil {
		return bridge.Result{Status: bridge.Failed, Code: "internal_error", Message: "no original sale"}, nil
	}
	in := TransactionRequest{TransactionType: "cancel", ReferanceNo: r.Original.Reference, Amount: "0"}
	if r.Op == bridge.OpRefund {
		in.TransactionType, in.Amount = "refund", Decimal(r.Amount.String())
		if err := c.rememberRefunded(ctx, r); err != nil {
			return bridge.Result{}, err
		}
	}
	raw, status, err := c.do(ctx, http.MethodPost, "/transaction", in)
	var ae *apiError
	if errors.As(err, &ae) {
		return bridge.Result{Status: bridge.Failed, Code: "provider_refused", Message: "Vomsis refused: " + ae.Message, ProviderCode: "http_" + strconv.Itoa(ae.Status)}, nil
	}
	if err != nil {
		return bridge.Result{}, err
	}
	var out TransactionResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "bad_response", Err: fmt.Errorf("vomsis: transaction: HTTP %d: %w", status, err)}
	}
	return transactionResult(r, out)
}

// transactionResult classifies /transaction's answer: only approved +
// Approved + "00" is success (§5); a decline or error names the bank's
// code (a pass-through whose meanings Vomsis does not document).
func transactionResult(r bridge.Request, out TransactionResponse) (bridge.Result, error) {
	code := string(out.ProcReturnCode)
	if code == "" {
		code = string(out.ErrorCode)
	}
	msg := string(out.ErrorMessage)
	switch {
	case strings.EqualFold(string(out.Status), "approved") && strings.EqualFold(string(out.Response), "Approved") && (code == "00" || code == ""):
		amt := r.Amount
		if r.Op == bridge.OpVoid {
			amt = r.Original.Amount
		}
		detail, _ := json.Marshal(map[string]string{"type": string(out.Type), "islem_id": string(out.IslemID), "iade_tutar": string(out.IadeTutar)})
		return bridge.Result{Status: bridge.Approved, Payment: &bridge.Payment{
			Provider: "vomsis", PaymentID: string(out.IslemID), HostReference: string(out.TransID),
			Amount: amt.String(), Currency: amt.Currency, MaskedPAN: r.Original.Payment.MaskedPAN, Detail: detail,
		}}, nil
	case strings.EqualFold(string(out.Response), "Declined") || strings.EqualFold(string(out.Status), "declined"):
		if msg == "" {
			msg = "the bank declined the " + string(r.Op)
		}
		c := "refund_declined"
		if r.Op == bridge.OpVoid {
			c = "void_not_allowed"
		}
		return bridge.Result{Status: bridge.Declined, Code: c, Message: msg, ProviderCode: code}, nil
	case strings.EqualFold(string(out.Response), "Error"):
		if msg == "" {
			msg = "Vomsis answered Error"
		}
		return bridge.Result{Status: bridge.Failed, Code: "provider_error", Message: msg, ProviderCode: code}, nil
	}
	return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "bad_response",
		Err: fmt.Errorf("vomsis: transaction answer %q/%q is neither approved nor declined", out.Status, out.Response)}
}

// Query implements bridge.Provider by /transaction/find on the sale's
// referanceNo (the request's own for a sale, the original's for a void or
// refund).
func (c *Client) Query(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	ref := r.Reference
	if r.Op != bridge.OpSale {
		if r.Original == nil {
			return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "no_original"}
		}
		ref = r.Original.Reference
	}
	d, err := c.find(ctx, ref)
	if err != nil {
		if r.Op != bridge.OpSale && errors.Is(err, bridge.ErrNotFound) {
			// The sale itself is unknown: the question cannot be answered.
			return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "original_not_found", Err: err}
		}
		return bridge.Result{}, err
	}
	st := string(d.Status)
	switch r.Op {
	case bridge.OpSale:
		if res, final := saleResult(d, r.Amount.Currency); final {
			return res, nil
		}
	case bridge.OpVoid:
		switch st {
		case StatusCancelled:
			return bridge.Result{Status: bridge.Approved, Payment: &bridge.Payment{Provider: "vomsis", PaymentID: string(d.ReferanceNo),
				Amount: r.Original.Amount.String(), Currency: r.Original.Amount.Currency, MaskedPAN: maskPAN(string(d.MaskedPan))}}, nil
		case StatusSuccessful:
			// Still a plain sale: the cancel was not done, and a second
			// cancel cannot move money twice.
			return bridge.Result{}, bridge.ErrNotFound
		}
	case bridge.OpRefund:
		if res, err, ok := c.queryRefund(ctx, r); ok {
			return res, err
		}
		if st == StatusRefunded {
			return bridge.Result{Status: bridge.Approved, Payment: &bridge.Payment{Provider: "vomsis", PaymentID: string(d.ReferanceNo),
				Amount: r.Amount.String(), Currency: r.Amount.Currency, MaskedPAN: maskPAN(string(d.MaskedPan))}}, nil
		}
		// Whether a partial refund changes the status is not documented
		// (§6): "Başarılı" proves nothing, and a resend could refund
		// twice. Stay unknown; docs/providers/vomsis.md says how to settle
		// it by hand.
	}
	return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "status_" + statusCode(st), Err: fmt.Errorf("vomsis: transaction status %q does not settle the %s", st, r.Op)}
}

func statusCode(st string) string {
	switch st {
	case StatusSuccessful:
		return "successful"
	case StatusFailed:
		return "failed"
	case StatusCancelled:
		return "cancel"
	case StatusRefunded:
		return "refund"
	}
	return "unrecognised"
}

// refundedPrefix marks the provider_ref of a refund: the sale's refunded
// total (iade_tutar) read just before the refund was sent, or "?" when it
// could not be read.
const refundedPrefix = "refunded:"

// rememberRefunded stores, durably and before the refund is sent, how
// much of the sale Vomsis had refunded so far. A lost refund answer is
// then settled by comparing: the total grew by the amount (done), or did
// not change (not done: safe to send again). find alone cannot tell,
// since a partial refund's effect on its status is not documented (§6).
// Every failure here is NotSent: the refund itself was not sent.
func (c *Client) rememberRefunded(ctx context.Context, r bridge.Request) error {
	mark := "?" // not listed: go on without a baseline; the query falls back to find
	total, err := c.refunded(ctx, r.Original.Reference, r.Amount.Currency)
	switch {
	case err == nil:
		mark = total.String()
	case !errors.Is(err, errNotListed):
		return &bridge.Error{Kind: bridge.NotSent, Code: "refund_baseline_" + bridge.CodeOf(err), RetryAfter: bridge.RetryAfterOf(err),
			Err: fmt.Errorf("vomsis: reading the refunded total before a refund: %w", err)}
	}
	if r.Remember == nil {
		return nil
	}
	if err := r.Remember(ctx, refundedPrefix+mark); err != nil {
		return &bridge.Error{Kind: bridge.NotSent, Code: "store_failed", Err: err}
	}
	return nil
}

var errNotListed = errors.New("vomsis: the sale is not in the transactions list")

// refunded reads the sale's refunded total (iade_tutar) from
// /transactions-list (§7): its row is under "refund" once refunded, else
// under "successful". No paging is documented.
func (c *Client) refunded(ctx context.Context, ref, cur string) (money.Amount, error) {
	for _, status := range []string{"refund", "successful"} {
		raw, _, err := c.do(ctx, http.MethodGet, "/transactions-list?status="+status, nil)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				return money.Amount{}, &bridge.Error{Kind: bridge.Unknown, Code: "list_refused", Err: err}
			}
			return money.Amount{}, err
		}
		var out struct {
			Data []struct {
				ReferansKodu FlexString `json:"referans_kodu"`
				IadeTutar    FlexString `json:"iade_tutar"`
			} `json:"data"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return money.Amount{}, &bridge.Error{Kind: bridge.Unknown, Code: "bad_response", Err: fmt.Errorf("vomsis: transactions-list: %w", err)}
		}
		for _, row := range out.Data {
			if string(row.ReferansKodu) != ref {
				continue
			}
			if row.IadeTutar == "" {
				return money.Amount{Currency: cur}, nil
			}
			a, err := money.Parse(string(row.IadeTutar), cur)
			if err != nil || a.Minor < 0 {
				return money.Amount{}, &bridge.Error{Kind: bridge.Unknown, Code: "bad_response", Err: fmt.Errorf("vomsis: iade_tutar %q", row.IadeTutar)}
			}
			return a, nil
		}
	}
	return money.Amount{}, errNotListed
}

// queryRefund settles a refund by its remembered baseline. ok is false
// when there is none to use.
func (c *Client) queryRefund(ctx context.Context, r bridge.Request) (bridge.Result, error, bool) {
	if r.ProviderRef == "" {
		// rememberRefunded stores the baseline before every refund call,
		// and a failure to store it stops the call: no baseline means this
		// refund was never sent.
		return bridge.Result{}, bridge.ErrNotFound, true
	}
	mark, ok := strings.CutPrefix(r.ProviderRef, refundedPrefix)
	if !ok || mark == "?" {
		return bridge.Result{}, nil, false
	}
	before, err := money.Parse(mark, r.Amount.Currency)
	if err != nil {
		return bridge.Result{}, nil, false
	}
	now, err := c.refunded(ctx, r.Original.Reference, r.Amount.Currency)
	if err != nil {
		return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "query_" + bridge.CodeOf(err), Err: err}, true
	}
	switch {
	case now.Minor >= before.Minor+r.Amount.Minor:
		return bridge.Result{Status: bridge.Approved, Payment: &bridge.Payment{Provider: "vomsis", PaymentID: r.Original.Reference,
			Amount: r.Amount.String(), Currency: r.Amount.Currency, MaskedPAN: r.Original.Payment.MaskedPAN}}, nil, true
	case now.Minor == before.Minor:
		return bridge.Result{}, bridge.ErrNotFound, true
	}
	return bridge.Result{}, &bridge.Error{Kind: bridge.Unknown, Code: "refund_total_unclear",
		Err: fmt.Errorf("vomsis: refunded total went from %s to %s, neither +%s nor unchanged", before, now, r.Amount)}, true
}
