// Package paywallsim is a simulator of Paywall's PhysicalAPI: a real HTTP
// server on the same paths, with the same bodies, casing and envelopes
// (the wire types of package paywall, built from
// ../shared/reference/paywall-physical-api.md), with per-terminal state, a
// ledger of every money movement, and the fault injection of iyzicosim.
// It serves the demo mode, the tests and cmd/tezgah-sim.
//
// A payment lives like on a real terminal: the sale call creates it
// ("SentToDevice") and returns at once; the device picks it up after
// Options.PickupDelay and finishes it after Faults.CardTime more (the
// customer presenting the card). Time is read from Options.Now on every
// call, so tests drive it with a fake clock and never sleep.
//
// State rules: a terminal with a payment or cancel in progress refuses
// another command (269 ThisOperationCannotDoInThisTime); a rollback works
// only before the device picked the command up (92 otherwise) and not in
// its first 5 seconds (269) — §6, §8; a cancel only after a successful sale
// (92 otherwise); a reused MerchantUniqueCode is refused (119
// MerchantUniqueCodeAlreadyExist, A.4). Error codes are those of the
// vendor SDK's platform enum (A.4): PhysicalAPI's own list is not published.
//
// Statuses use the Payment API numbering (§14.3, unconfirmed for
// PhysicalAPI): 2 SentToDevice (seen in A.2), 4 Successful, 5 Failed.
//
// Magic amounts: a sale whose minor part is 51 (e.g. 10.51) fails on the
// device ("Yetersiz bakiye").
package paywallsim

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tezgah/tezgah/bridge/internal/simfault"
	"github.com/tezgah/tezgah/bridge/paywall"
	"github.com/tezgah/tezgah/money"
)

// Demo credentials and terminal, used by tezgah's demo mode and
// tezgah-sim's defaults. The terminal id is the docs' sale example's.
const (
	DemoAPIKey    = "demo-paywall-key"
	DemoAPIClient = "demo-paywall-client"
	DemoTerminal  = "8ff33705-57c7-42dc-8341-a0053e7f3009"
)

// Payment statuses the simulator reports.
const (
	StatusSentToDevice = 2
	StatusSuccessful   = 4
	StatusFailed       = 5
)

// Options configure a Server.
type Options struct {
	APIKey, APIClient string
	// Terminals are the merchant's terminal ids (Guids); Tags optionally
	// gives a TerminalTagCode per id.
	Terminals []string
	Tags      map[string]string
	// PickupDelay is how long the device takes to receive a command.
	PickupDelay time.Duration
	RetryAfter  int // seconds in 429 answers, default 1
	// AcceptDuplicates charges a reused MerchantUniqueCode again instead
	// of refusing it: whether Paywall deduplicates is not documented
	// (§5), and the worst case is what tezgah's tests must catch.
	AcceptDuplicates bool
	Seed             uint64
	Now              func() time.Time
}

// Faults are injected failures; see SetFaults and PUT /_sim/faults.
type Faults struct {
	Latency         time.Duration `json:"latency"`         // added to every business call's answer
	CardTime        time.Duration `json:"card_time"`       // the device's time from pick-up to result
	FailRate5xx     float64       `json:"fail_rate"`       // 500 before processing
	RateLimitRate   float64       `json:"rate_limit_rate"` // 429 + Retry-After before processing
	DropAfterRecord float64       `json:"drop_rate"`       // process a command, then drop the connection unanswered
	Hang            bool          `json:"hang"`            // black hole: never answer business calls
	Disconnected    []string      `json:"disconnected"`    // terminal ids whose socket is down (connectivity check)
}

// Entry is one money movement in the ledger.
type Entry struct {
	Op                 string    `json:"op"` // sale | void
	Terminal           string    `json:"terminalId"`
	MerchantUniqueCode string    `json:"merchantUniqueCode"`
	PaymentRequestID   string    `json:"paymentRequestId"`
	Amount             int64     `json:"amount"` // minor units
	Currency           string    `json:"currency"`
	At                 time.Time `json:"at"`
}

type activity struct {
	id       string
	typ      int
	status   int
	sent     time.Time
	picked   time.Time
	done     time.Time
	declined bool
	message  string
}

type payment struct {
	id, muc, display, terminal, callback, channel string
	amount                                        int64
	currencyID                                    int
	products                                      []paywall.Product
	created                                       time.Time
	acts                                          []*activity
}

func (p *payment) last() *activity { return p.acts[len(p.acts)-1] }

type terminal struct {
	id, tag string
	busy    *payment // a command of this payment is on the device
}

// Server is the simulator. It implements http.Handler.
type Server struct {
	opts Options
	now  func() time.Time

	mu        sync.Mutex // guards everything below
	faults    Faults
	rng       *mrand.Rand
	terminals map[string]*terminal
	payments  map[string]*payment
	order     []*payment
	byCode    map[string]*payment
	ledger    []Entry
}

// New returns a simulator.
func New(opts Options) *Server {
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, now: opts.Now, rng: mrand.New(mrand.NewPCG(opts.Seed, 0x9a7a11)),
		terminals: map[string]*terminal{}, payments: map[string]*payment{}, byCode: map[string]*payment{}}
	for _, id := range opts.Terminals {
		s.terminals[strings.ToLower(id)] = &terminal{id: id, tag: opts.Tags[id]}
	}
	return s
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// currentFaults returns the injected faults in force.
func (s *Server) currentFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Ledger returns a copy of every money movement so far.
func (s *Server) Ledger() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	return append([]Entry(nil), s.ledger...)
}

// advance finishes what the devices have finished by now. Called with
// s.mu held.
func (s *Server) advance() {
	now := s.now()
	for _, t := range s.terminals {
		p := t.busy
		if p == nil {
			continue
		}
		a := p.last()
		if a.status != StatusSentToDevice {
			t.busy = nil
			continue
		}
		if now.Before(a.done) {
			continue
		}
		t.busy = nil
		if a.declined {
			a.status, a.message = StatusFailed, "Yetersiz bakiye"
			continue
		}
		a.status = StatusSuccessful
		op := "sale"
		if a.typ == paywall.TypeCancel {
			op = "void"
		}
		s.ledger = append(s.ledger, Entry{Op: op, Terminal: p.terminal, MerchantUniqueCode: p.muc, PaymentRequestID: p.id,
			Amount: p.amount, Currency: "TRY", At: a.done})
	}
}

func (s *Server) roll(p float64) bool { return p > 0 && s.rng.Float64() < p }

func guid() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// pascal and camel are the two envelope casings of the docs (§0): most
// pages answer PascalCase, the cancel and rollback pages camelCase.
type pascal struct {
	Result        any     `json:"Result"`
	ErrorCode     *int    `json:"ErrorCode,omitempty"`
	Failed        bool    `json:"Failed"`
	Message       *string `json:"Message"`
	ClientMessage *string `json:"ClientMessage"`
	Succeeded     bool    `json:"Succeeded"`
}

type camel struct {
	Result        any     `json:"result"`
	ErrorCode     *int    `json:"errorCode,omitempty"`
	Failed        bool    `json:"failed"`
	Message       *string `json:"message"`
	ClientMessage *string `json:"clientMessage"`
	Succeeded     bool    `json:"succeeded"`
}

type commandResult struct {
	PaymentRequestID             string `json:"paymentRequestId"`
	PaymentRequestActivityID     string `json:"paymentRequestActivityId"`
	PaymentRequestActivityTypeID int    `json:"paymentRequestActivityTypeId"`
	PaymentStatus                int    `json:"paymentStatus"`
}

func ok(result any) pascal { return pascal{Result: result, Succeeded: true} }

func okCamel(result any) camel { return camel{Result: result, Succeeded: true} }

// answer is one HTTP answer.
type answer struct {
	status int
	body   any
	moved  bool // a command was processed: the drop fault may apply
}

func failure(code int, client, msg string) answer {
	return answer{status: http.StatusOK, body: pascal{ErrorCode: &code, Failed: true, Message: &msg, ClientMessage: &client}}
}

func failureCamel(code int, client, msg string) answer {
	return answer{status: http.StatusOK, body: camel{ErrorCode: &code, Failed: true, Message: &msg, ClientMessage: &client}}
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_sim/healthz":
		fmt.Fprintln(w, "ok")
		return
	case "/_sim/ledger":
		writeJSON(w, http.StatusOK, s.Ledger())
		return
	case "/_sim/faults":
		simfault.Serve(w, r, s.currentFaults, s.SetFaults)
		return
	}
	var h func(raw []byte) answer
	path := r.URL.Path
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/api/payment/inquiry/"):
		id := strings.TrimPrefix(path, "/api/payment/inquiry/")
		h = func([]byte) answer { return s.inquiry(id) }
	case r.Method != http.MethodPost:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	case path == "/api/payment/sync/sale":
		h = func(b []byte) answer { return s.sale(b, true) }
	case path == "/api/payment/async/sale":
		h = func(b []byte) answer { return s.sale(b, false) }
	case path == "/api/payment/sync/cancel", path == "/api/payment/async/cancel":
		h = s.cancel
	case path == "/api/payment/sync/sale/rollback":
		h = func(b []byte) answer { return s.rollback(b, paywall.TypeSale) }
	case path == "/api/payment/sync/cancel/rollback":
		h = func(b []byte) answer { return s.rollback(b, paywall.TypeCancel) }
	case path == "/api/payment/list":
		h = s.list
	case path == "/api/payment/activities":
		h = s.activities
	case path == "/api/payment/products":
		h = s.products
	case path == "/api/terminal/list":
		h = s.terminalList
	case path == "/api/terminal/connectivity/check":
		h = s.connectivity
	default:
		http.NotFound(w, r)
		return
	}
	s.serve(w, r, h)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, h func([]byte) answer) {
	// Read the body first: the server notices a client that goes away
	// only once the body is consumed.
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	if r.Header.Get("apikeyprivate") != s.opts.APIKey || r.Header.Get("apiclientprivate") != s.opts.APIClient {
		code, msg, client := 401, "Unauthorized", "Unauthorized"
		writeJSON(w, http.StatusUnauthorized, pascal{ErrorCode: &code, Failed: true, Message: &msg, ClientMessage: &client})
		return
	}
	s.mu.Lock()
	f := s.faults
	limited, broken, drop := s.roll(f.RateLimitRate), s.roll(f.FailRate5xx), s.roll(f.DropAfterRecord)
	s.mu.Unlock()
	switch {
	case f.Hang:
		<-r.Context().Done()
		return
	case limited:
		w.Header().Set("Retry-After", strconv.Itoa(s.opts.RetryAfter))
		http.Error(w, "Too many requests", http.StatusTooManyRequests)
		return
	case broken:
		http.Error(w, "simulated internal error", http.StatusInternalServerError)
		return
	}
	if f.Latency > 0 {
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	s.advance()
	a := h(raw)
	s.mu.Unlock()
	if a.moved && drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close() // processed, never answered
				return
			}
		}
	}
	writeJSON(w, a.status, a.body)
}

// decode reads a body strictly: the simulator accepts only what the
// schema allows (reference README).
func decode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	return nil
}

func invalid(msg string) answer { return failure(2, "InvalidData", msg) }

func amountOf(n json.Number) (int64, bool) {
	s := string(n)
	if w, f, ok := strings.Cut(s, "."); ok {
		f = strings.TrimRight(f, "0")
		s = w
		if f != "" {
			s = w + "." + f
		}
	}
	a, err := money.Positive(s, "TRY")
	return a.Minor, err == nil
}

func tooLong(v string, n int) bool { return utf8.RuneCountInString(v) > n }

var taxGroups = map[int]bool{0: true, 1: true, 10: true, 20: true} // §14.2

// sale is §5 (sync) and §10.1 (async).
func (s *Server) sale(raw []byte, sync bool) answer {
	var req paywall.SaleRequest
	if err := decode(raw, &req); err != nil {
		return invalid("Invalid request body: " + err.Error())
	}
	if !sync && req.SendNotificationDeviceDisconnected != nil {
		return invalid("SendNotificationDeviceDisconnected is a sync sale field")
	}
	t := s.terminalOf(req.TerminalID, req.TerminalTagCode)
	switch {
	case req.TerminalID == "" && req.TerminalTagCode == "":
		return invalid("TerminalId or TerminalTagCode is required")
	case tooLong(req.TerminalTagCode, 25):
		return invalid("TerminalTagCode is longer than 25")
	case t == nil:
		return failure(404, "NotFound", "Terminal not found")
	case !paywall.IsGUID(req.MerchantUniqueCode):
		return failure(101, "UnexpectedMerchantUniqueCode", "MerchantUniqueCode must be a Guid")
	case tooLong(req.DisplayCode, 25):
		return invalid("DisplayCode is longer than 25")
	case tooLong(req.CallbackAddress, 150):
		return invalid("CallbackAddress is longer than 150")
	case req.CurrencyID != 1:
		return failure(99, "UnexpectedCurrency", "Unexpected currency")
	case len(req.Products) == 0:
		return invalid("Products cannot be empty")
	}
	amount, okAmount := amountOf(req.Amount)
	if !okAmount {
		return failure(51, "Amount", "Amount is not valid")
	}
	var sum int64
	for i, p := range req.Products {
		a, ok := amountOf(p.Amount)
		switch {
		case !ok:
			return failure(51, "Amount", fmt.Sprintf("Products[%d].Amount is not valid", i))
		case p.Name == "" || tooLong(p.Name, 75):
			return invalid(fmt.Sprintf("Products[%d].Name must be 1-75 characters", i))
		case !taxGroups[p.TaxGroupID]:
			return invalid(fmt.Sprintf("Products[%d].TaxGroupId %d is not a tax group", i, p.TaxGroupID))
		case p.Quantity <= 0 || p.UnitCodeID <= 0:
			return invalid(fmt.Sprintf("Products[%d] needs a Quantity and a UnitCodeId", i))
		}
		sum += a
	}
	if sum != amount {
		return failure(112, "PaymentAmountNotConvenient", "The total amount of products must equal the transaction amount")
	}
	if c := req.Customer; c != nil && (c.Type <= 0 || tooLong(c.FirstName, 50) || tooLong(c.LastName, 50) || tooLong(c.Identity, 20) ||
		tooLong(c.CompanyName, 175) || tooLong(c.TaxNumber, 25) || tooLong(c.Email, 100) || tooLong(c.Address, 255)) {
		return invalid("Customer is not valid")
	}
	if ro := req.ReceiptOptions; ro != nil {
		for _, rt := range []*paywall.ReceiptText{ro.Top, ro.Bottom} {
			if rt != nil && (tooLong(rt.Text, 150) || rt.FontSize < 0 || rt.FontSize > 99) {
				return invalid("ReceiptOptions text is longer than 150 or its FontSize has more than 2 digits")
			}
		}
	}
	if _, dup := s.byCode[strings.ToLower(req.MerchantUniqueCode)]; dup && !s.opts.AcceptDuplicates {
		return failure(paywall.CodeMUCAlreadyExist, paywall.ClientMUCAlreadyExist, "MerchantUniqueCode already exists")
	}
	if t.busy != nil {
		return failure(paywall.CodeCannotDoInThisTime, paywall.ClientCannotDoInThisTime, "The terminal is busy with another payment")
	}
	now := s.now()
	channel := "Async"
	if sync {
		channel = "Sync"
	}
	p := &payment{id: guid(), muc: req.MerchantUniqueCode, display: req.DisplayCode, terminal: t.id, callback: req.CallbackAddress,
		channel: channel, amount: amount, currencyID: req.CurrencyID, products: req.Products, created: now}
	p.acts = []*activity{s.command(paywall.TypeSale, now)}
	p.last().declined = amount%100 == 51
	s.payments[strings.ToLower(p.id)] = p
	s.byCode[strings.ToLower(p.muc)] = p
	s.order = append(s.order, p)
	t.busy = p
	a := p.last()
	return answer{status: http.StatusOK, moved: true, body: ok(paywall.CommandResult{PaymentRequestID: p.id, PaymentRequestActivityID: a.id,
		PaymentRequestActivityTypeID: a.typ, PaymentStatus: a.status})}
}

// command is a new activity sent to the device now.
func (s *Server) command(typ int, now time.Time) *activity {
	picked := now.Add(s.opts.PickupDelay)
	return &activity{id: guid(), typ: typ, status: StatusSentToDevice, sent: now, picked: picked, done: picked.Add(s.faults.CardTime)}
}

func (s *Server) terminalOf(id, tag string) *terminal {
	if id != "" {
		return s.terminals[strings.ToLower(id)]
	}
	for _, t := range s.terminals {
		if t.tag != "" && t.tag == tag {
			return t
		}
	}
	return nil
}

func (s *Server) paymentOf(raw []byte) (*payment, answer, bool) {
	var req paywall.PaymentRequestRef
	if err := decode(raw, &req); err != nil || !paywall.IsGUID(req.PaymentRequestID) {
		return nil, failureCamel(2, "InvalidData", "PaymentRequestId (Guid) is required"), false
	}
	p := s.payments[strings.ToLower(req.PaymentRequestID)]
	if p == nil {
		return nil, failureCamel(paywall.CodePaymentNotFound, paywall.ClientPaymentNotFound, "Payment not found"), false
	}
	return p, answer{}, true
}

func camelResult(p *payment) commandResult {
	a := p.last()
	return commandResult{PaymentRequestID: p.id, PaymentRequestActivityID: a.id, PaymentRequestActivityTypeID: a.typ, PaymentStatus: a.status}
}

// cancel is §7 / §10.2: a full cancel of a successful sale.
func (s *Server) cancel(raw []byte) answer {
	p, fail, found := s.paymentOf(raw)
	if !found {
		return fail
	}
	a := p.last()
	if a.typ != paywall.TypeSale || a.status != StatusSuccessful {
		return failureCamel(paywall.CodeNotConvenient, "PaymentNotConvenientForOperation", "Only a successful sale can be cancelled")
	}
	t := s.terminals[strings.ToLower(p.terminal)]
	if t.busy != nil {
		return failureCamel(paywall.CodeCannotDoInThisTime, paywall.ClientCannotDoInThisTime, "The terminal is busy with another payment")
	}
	p.acts = append(p.acts, s.command(paywall.TypeCancel, s.now()))
	t.busy = p
	return answer{status: http.StatusOK, moved: true, body: okCamel(camelResult(p))}
}

// rollback is §6 / §8: withdraw a command the device has not received,
// and not in its first 5 seconds.
func (s *Server) rollback(raw []byte, typ int) answer {
	p, fail, found := s.paymentOf(raw)
	if !found {
		return fail
	}
	a := p.last()
	now := s.now()
	switch {
	case a.typ != typ || a.status != StatusSentToDevice:
		return failureCamel(paywall.CodeNotConvenient, "PaymentNotConvenientForOperation", "There is no command of this kind waiting for the device")
	case now.Before(a.sent.Add(5 * time.Second)):
		return failureCamel(paywall.CodeCannotDoInThisTime, paywall.ClientCannotDoInThisTime, "Commands cannot be revoked within the first 5 seconds")
	case !now.Before(a.picked):
		return failureCamel(paywall.CodeNotConvenient, "PaymentNotConvenientForOperation", "The device has already received the command")
	}
	a.status, a.message, a.done = StatusFailed, "Rolled back", now
	if t := s.terminals[strings.ToLower(p.terminal)]; t.busy == p {
		t.busy = nil
	}
	if typ == paywall.TypeCancel {
		// The sale stands: its activity is the payment's state again.
		p.acts = p.acts[:len(p.acts)-1]
	}
	return answer{status: http.StatusOK, moved: true, body: okCamel(camelResult(p))}
}

var statusNames = map[int]string{StatusSentToDevice: "SentToDevice", StatusSuccessful: "Successful", StatusFailed: "Failed"}
var typeNames = map[int]string{paywall.TypeSale: "Sale", paywall.TypeCancel: "Cancel"}

const dateLayout = "2006-01-02T15:04:05.999999"

// trt is the zone of Paywall's zone-less dates [inferred, A.2].
var trt = time.FixedZone("TRT", 3*60*60)

func (s *Server) inquiry(id string) answer {
	p := s.payments[strings.ToLower(id)]
	if p == nil {
		return failure(paywall.CodePaymentNotFound, paywall.ClientPaymentNotFound, "Payment not found")
	}
	a := p.last()
	var mod *string
	if len(p.acts) > 1 || a.status != StatusSentToDevice {
		m := a.done.In(trt).Format(dateLayout)
		mod = &m
	}
	return answer{status: http.StatusOK, body: ok(paywall.Inquiry{PaymentRequestID: p.id, PaymentRequestActivityID: a.id, TerminalID: p.terminal,
		MerchantUniqueCode: p.muc, DisplayCode: p.display, CallbackAddress: p.callback, Amount: json.Number(money.Amount{Minor: p.amount, Currency: "TRY"}.String()),
		PaymentChannelID: map[string]int{"Async": 1, "Sync": 2}[p.channel], PaymentChannel: p.channel, CurrencyID: p.currencyID, Currency: "TRY", IP: "127.0.0.1",
		PaymentTypeID: a.typ, PaymentType: typeNames[a.typ], PaymentStatusID: a.status, PaymentStatus: statusNames[a.status],
		CreatedDate: p.created.In(trt).Format(dateLayout), ModifiedDate: mod})}
}

func paged[T any](items []T, index, size int) paywall.Page[T] {
	if size <= 0 {
		size = 10
	}
	count := (len(items) + size - 1) / size
	from := min(index*size, len(items))
	to := min(from+size, len(items))
	return paywall.Page[T]{Items: append([]T{}, items[from:to]...), Pagination: paywall.Pagination{CurrentPage: index, PageCount: count, PageSize: size, TotalCount: len(items)}}
}

func pageOf(raw []byte) (paywall.PageRequest, answer, bool) {
	var req paywall.PageRequest
	if err := decode(raw, &req); err != nil {
		return req, invalid("Invalid request body: " + err.Error()), false
	}
	if req.PageIndex < 0 || req.PageSize < 0 || req.PageSize > 1000 {
		return req, invalid("pageIndex/pageSize out of range"), false
	}
	return req, answer{}, true
}

// list is §11.2: the payments created between startDate and endDate
// (inclusive, local dates), newest first.
func (s *Server) list(raw []byte) answer {
	req, fail, good := pageOf(raw)
	if !good {
		return fail
	}
	start, err1 := time.ParseInLocation("2006-01-02", req.StartDate, trt)
	end, err2 := time.ParseInLocation("2006-01-02", req.EndDate, trt)
	if err1 != nil || err2 != nil {
		return invalid("startDate and endDate must be yyyy-MM-dd")
	}
	if end.Sub(start) > 31*24*time.Hour {
		return failure(113, "DateRangeMustBeLessThan31Days", "Date range must be less than 31 days")
	}
	end = end.AddDate(0, 0, 1)
	var items []paywall.PaymentItem
	for i := len(s.order) - 1; i >= 0; i-- {
		p := s.order[i]
		if p.created.Before(start) || !p.created.Before(end) {
			continue
		}
		a := p.last()
		items = append(items, paywall.PaymentItem{ID: p.id, TerminalID: p.terminal, ConnectionName: "Varsayılan 1", MerchantUniqueCode: p.muc,
			DisplayCode: p.display, Amount: json.Number(money.Amount{Minor: p.amount, Currency: "TRY"}.String()), PaymentChannelName: p.channel,
			CurrencyID: p.currencyID, CurrencyName: "TRY", IP: "127.0.0.1", PaymentRequestActivityID: a.id, PaymentTypeID: a.typ,
			PaymentTypeName: typeNames[a.typ], PaymentStatusID: a.status, PaymentStatusName: statusNames[a.status], Date: p.created.In(trt).Format(dateLayout)})
	}
	return answer{status: http.StatusOK, body: ok(paged(items, req.PageIndex, req.PageSize))}
}

func (s *Server) activities(raw []byte) answer {
	req, fail, good := pageOf(raw)
	if !good {
		return fail
	}
	p := s.payments[strings.ToLower(req.PaymentRequestID)]
	if p == nil {
		return failure(paywall.CodePaymentNotFound, paywall.ClientPaymentNotFound, "Payment not found")
	}
	var items []paywall.Activity
	for _, a := range p.acts {
		items = append(items, paywall.Activity{ID: a.id, PaymentTypeID: a.typ, PaymentTypeName: typeNames[a.typ], PaymentStatusID: a.status,
			PaymentStatusName: statusNames[a.status], Date: a.sent.In(trt).Format(dateLayout)})
	}
	return answer{status: http.StatusOK, body: ok(paged(items, req.PageIndex, req.PageSize))}
}

func (s *Server) products(raw []byte) answer {
	req, fail, good := pageOf(raw)
	if !good {
		return fail
	}
	p := s.payments[strings.ToLower(req.PaymentRequestID)]
	if p == nil {
		return failure(paywall.CodePaymentNotFound, paywall.ClientPaymentNotFound, "Payment not found")
	}
	var items []paywall.PaymentProduct
	for _, pr := range p.products {
		items = append(items, paywall.PaymentProduct(pr))
	}
	return answer{status: http.StatusOK, body: ok(paged(items, req.PageIndex, req.PageSize))}
}

func (s *Server) terminalList(raw []byte) answer {
	req, fail, good := pageOf(raw)
	if !good {
		return fail
	}
	ids := make([]string, 0, len(s.terminals))
	for _, t := range s.terminals {
		ids = append(ids, t.id)
	}
	sort.Strings(ids)
	var items []paywall.TerminalItem
	for n, id := range ids {
		items = append(items, paywall.TerminalItem{ID: id, ConnectionID: "5b0e8d7c-0000-4000-8000-000000000001", BrandID: 1, ProviderID: 1, RegionID: 1,
			ConnectionName: "Varsayılan 1", TerminalID: fmt.Sprintf("PW%06d", n+1), SerialNo: fmt.Sprintf("SN%08d", n+1), MerchantID: "demo"})
	}
	return answer{status: http.StatusOK, body: ok(paged(items, req.PageIndex, req.PageSize))}
}

func (s *Server) connectivity(raw []byte) answer {
	var req paywall.ConnectivityRequest
	if err := decode(raw, &req); err != nil {
		return invalid("Invalid request body: " + err.Error())
	}
	t := s.terminalOf(req.TerminalID, req.TerminalTagCode)
	if t == nil {
		return failure(404, "NotFound", "Terminal not found")
	}
	conn := true
	for _, d := range s.faults.Disconnected {
		if strings.EqualFold(d, t.id) {
			conn = false
		}
	}
	return answer{status: http.StatusOK, body: ok(paywall.Connectivity{IsSocketConnected: conn})}
}
