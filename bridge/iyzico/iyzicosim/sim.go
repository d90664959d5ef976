// Package iyzicosim is a simulator of the iyzico Terminal API: a real HTTP
// server on the same paths with the same payloads (the wire types of
// package iyzico, built from ../shared/reference/iyzico-terminal-api.md),
// with per-device state, a ledger of every money movement, and fault
// injection. It serves the demo mode, the tests and cmd/tezgah-sim.
//
// State rules: one operation at a time per device (380201 otherwise);
// void only for payments of the device's current batch, i.e. before its
// end of day; refunds up to what is left of the sale and of each line
// (380112 otherwise), each refund line under the taxGroupCode and unitCode
// its sold line had (380105 otherwise: a fiscal device records the return
// under the sale's tax group [inferred; the reference is silent]); a sale's lines must add up to its price; partial
// payment parts never exceed what is left to pay, and only a fully paid
// partial sale completes.
//
// A repeated transactionReferenceId: iyzico documents no deduplication
// (reference §1, open question 3). By default the simulator does the
// worst case — it acts again (charges twice) and counts the repeat
// (Repeats), which is what tezgah's tests must never cause. With
// Options.ReplayReferences it answers a repeat with the first answer and
// moves no money, the idempotent behaviour a register might hope for.
//
// Magic amounts: a sale whose minor part is 51 (e.g. 10.51) is declined by
// the "bank" (BANK_ERROR 10051, "Yetersiz bakiye").
package iyzicosim

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tezgah/tezgah/bridge/internal/simfault"
	"github.com/tezgah/tezgah/bridge/iyzico"
	"github.com/tezgah/tezgah/money"
)

// Demo credentials, used by tezgah's demo mode and tezgah-sim's defaults.
const (
	DemoClientID     = "demo-client"
	DemoClientSecret = "demo-secret"
	DemoUsername     = "demo"
	DemoPassword     = "demo"
)

// Options configure a Server.
type Options struct {
	ClientID, ClientSecret, Username, Password string
	Devices                                    []string      // deviceUniqueIds the merchant has
	TokenTTL                                   time.Duration // default 2h (expires_in 7199, §2.2)
	RetryAfter                                 int           // seconds in 429 answers, default 1
	Seed                                       uint64
	Now                                        func() time.Time
	// ReplayReferences answers a repeated transactionReferenceId on a
	// money-moving path with the first answer instead of acting again.
	ReplayReferences bool
	// OmitErrorGroup507 answers VUK 507 failures without errorGroup:
	// iyzico's error-codes page gives a group for every error (§5), but
	// the GMU response schemas declare no such field, so the live API may
	// well not send it.
	OmitErrorGroup507 bool
}

// Faults are injected failures; see SetFaults and PUT /_sim/faults.
type Faults struct {
	Latency         time.Duration `json:"latency"`         // added to every business call, while the device is busy
	FailRate5xx     float64       `json:"fail_rate"`       // 500 before processing
	RateLimitRate   float64       `json:"rate_limit_rate"` // 429 + Retry-After before processing
	DropAfterRecord float64       `json:"drop_rate"`       // record the money movement, then drop the connection unanswered
	ExpireTokens    bool          `json:"expire_tokens"`   // every token issued so far expires now (once)
	Hang            bool          `json:"hang"`            // black hole: never answer business calls
	// Paths limits the faults above (but Latency and ExpireTokens) and
	// Error to these business paths; empty means every path.
	Paths []string `json:"paths,omitempty"`
	// Error answers matching business calls with an iyzico error (§5).
	Error *InjectedError `json:"error,omitempty"`
}

// InjectedError makes business calls fail with a documented errorCode
// and errorGroup (reference §5).
type InjectedError struct {
	Code    string `json:"code"`
	Group   string `json:"group"`
	Message string `json:"message,omitempty"`
	// Status is the HTTP status; 0 means the path's documented failure
	// status (400; 422 for the VUK 509 void).
	Status int `json:"status,omitempty"`
	// AfterRecord processes the call first (money moves) and then
	// answers the error: a device timeout after the card was charged.
	AfterRecord bool `json:"after_record,omitempty"`
	// Times is how many calls get the error; 0 means every call.
	Times int `json:"times,omitempty"`
}

// Entry is one money movement in the ledger.
type Entry struct {
	Op        string    `json:"op"` // sale | refund | void
	Device    string    `json:"device"`
	Reference string    `json:"transactionReferenceId"`
	PaymentID string    `json:"paymentId"`
	Amount    int64     `json:"amount"` // minor units
	Currency  string    `json:"currency"`
	At        time.Time `json:"at"`
}

type txn struct {
	op       string
	ref      string
	device   string
	failed   *iyzico.Envelope // set for a declined or failed operation
	pay      *payment         // the payment it created or touched
	response any              // what was answered, for queries
}

type payment struct {
	id, ref, device, currency string
	amount, refunded          int64
	voided                    bool
	batch                     int
	date                      int
	authCode, hostRef         string
	lines                     []*line
}

// line is one sale item as the device keeps it, for refundable-sale-info
// and refunds by line (§4.3, §4.5).
type line struct {
	id             int
	name           string
	qty, returned  int
	total, left    int64
	taxGroup, unit string // as sold: a refund of the line must carry the same (a fiscal record)
}

type device struct {
	busy  bool
	batch int
}

// Server is the simulator. It implements http.Handler.
type Server struct {
	opts Options
	now  func() time.Time

	mu       sync.Mutex // guards everything below
	faults   Faults
	rng      *mrand.Rand
	codes    map[string]time.Time
	tokens   map[string]time.Time
	refresh  map[string]bool
	devices  map[string]*device
	byRef    map[string]*txn
	payments map[string]*payment
	partials map[string]*partial // by saleNumber
	answers  map[string]answer   // path + " " + transactionReferenceId
	repeats  int
	hits     map[string]int
	ledger   []Entry
	seq      int
}

// answer is what a money-moving call was answered, for replays.
type answer struct {
	status int
	body   any
}

// New returns a simulator.
func New(opts Options) *Server {
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 7199 * time.Second
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts: opts, now: opts.Now,
		rng:   mrand.New(mrand.NewPCG(opts.Seed, 0x17a1c0)),
		codes: map[string]time.Time{}, tokens: map[string]time.Time{}, refresh: map[string]bool{},
		devices: map[string]*device{}, byRef: map[string]*txn{}, payments: map[string]*payment{},
		partials: map[string]*partial{}, answers: map[string]answer{}, hits: map[string]int{},
	}
	for _, d := range opts.Devices {
		s.devices[d] = &device{batch: 1}
	}
	return s
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.ExpireTokens {
		for t := range s.tokens {
			s.tokens[t] = time.Time{}
		}
		f.ExpireTokens = false
	}
	if f.Error != nil {
		e := *f.Error // the caller's copy stays theirs; Times counts down here
		f.Error = &e
	}
	f.Paths = append([]string(nil), f.Paths...)
	s.faults = f
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
	return append([]Entry(nil), s.ledger...)
}

// ChargesByReference counts sale charges per transactionReferenceId.
func (s *Server) ChargesByReference() map[string]int {
	out := map[string]int{}
	for _, e := range s.Ledger() {
		if e.Op == "sale" {
			out[e.Reference]++
		}
	}
	return out
}

// Repeats counts money-moving calls that reused a transactionReferenceId.
func (s *Server) Repeats() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.repeats
}

// Hits counts calls by path; token calls also count under
// "/in-store/oauth2/token grant_type=<grant>".
func (s *Server) Hits(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[key]
}

func (s *Server) hit(key string) {
	s.mu.Lock()
	s.hits[key]++
	s.mu.Unlock()
}

func (s *Server) roll(p float64) bool { return p > 0 && s.rng.Float64() < p }

func randToken() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
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
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	s.hit(r.URL.Path)
	switch r.URL.Path {
	case "/in-store/oauth2/authorize":
		s.authorize(w, r)
	case "/in-store/oauth2/token", "/in-store/oauth2/token/refresh":
		s.token(w, r)
	default:
		h, ok := routes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		s.business(w, r, h)
	}
}

// authorize is §2.1: all fields required, single-use code valid 10 min.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f := r.PostForm
	for _, k := range []string{"scope", "client_id", "client_secret", "response_type", "username", "password", "request_timestamp"} {
		if f.Get(k) == "" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"errorCode": "invalid_request", "description": k + " is required"})
			return
		}
	}
	if f.Get("scope") != "iyzipayApiGateway" || f.Get("response_type") != "code" ||
		f.Get("client_id") != s.opts.ClientID || f.Get("client_secret") != s.opts.ClientSecret ||
		f.Get("username") != s.opts.Username || f.Get("password") != s.opts.Password {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"errorCode": "invalid_client", "description": "Bad credentials"})
		return
	}
	code := randToken()
	now := s.now()
	s.mu.Lock()
	s.codes[code] = now.Add(10 * time.Minute)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, iyzico.AuthorizeResponse{Code: code, IssuedAt: now.Format(time.RFC3339Nano), ExpiredAt: now.Add(10 * time.Minute).Format(time.RFC3339Nano)})
}

// token is §2.2/§2.3: Basic client auth; authorization_code or refresh_token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != s.opts.ClientID || secret != s.opts.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	r.ParseForm()
	f := r.PostForm
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hits["/in-store/oauth2/token grant_type="+f.Get("grant_type")]++
	switch f.Get("grant_type") {
	case "authorization_code":
		exp, ok := s.codes[f.Get("code")]
		delete(s.codes, f.Get("code")) // single use
		if !ok || s.now().After(exp) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
	case "refresh_token":
		if !s.refresh[f.Get("refresh_token")] {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_grant"})
			return
		}
		delete(s.refresh, f.Get("refresh_token"))
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	access, refresh := randToken(), randToken()
	s.tokens[access] = s.now().Add(s.opts.TokenTTL)
	s.refresh[refresh] = true
	writeJSON(w, http.StatusOK, iyzico.TokenResponse{AccessToken: access, RefreshToken: refresh, Scope: "iyzipayApiGateway",
		TokenType: "Bearer", ExpiresIn: int(s.opts.TokenTTL / time.Second)})
}

// handler processes one business call with s.mu held and the device
// reserved. It returns the HTTP status and body, and whether money moved
// (only then may the drop fault apply).
type handler struct {
	model  string // "vuk507" | "vuk509"
	op     string
	decode func() any
	do     func(s *Server, req any) (status int, body any, moved bool)
}

func fail(model, op, code, group, msg string) (int, any, bool) {
	status := http.StatusBadRequest
	if model == "vuk509" && op == "void" {
		status = http.StatusUnprocessableEntity // §3.4: void failures are 422
	}
	env := iyzico.Envelope{Status: "failure", ErrorCode: code, ErrorGroup: group, ErrorMessage: msg}
	if model == "vuk509" {
		env.ConsumerErrorMessage = msg
	}
	return status, env, false
}

func (s *Server) business(w http.ResponseWriter, r *http.Request, h handler) {
	now := s.now()
	// Read the body first: the server notices a client that goes away
	// only once the body is consumed, and a black-holed call must end
	// when its client gives up.
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	exp, known := s.tokens[tok]
	f := s.faults
	applies := len(f.Paths) == 0 || slices.Contains(f.Paths, r.URL.Path)
	var limited, broken, drop bool
	var inj *InjectedError
	if applies {
		limited, broken, drop = s.roll(f.RateLimitRate), s.roll(f.FailRate5xx), s.roll(f.DropAfterRecord)
		if e := s.faults.Error; e != nil {
			c := *e
			inj = &c
			if e.Times > 0 {
				if e.Times--; e.Times == 0 {
					s.faults.Error = nil
				}
			}
		}
	}
	s.mu.Unlock()
	// An unknown or expired token is §5's SYSTEM_ERROR 100310/100311. The
	// reference gives no HTTP status for it; the path's documented
	// failure status keeps the answer inside the schema.
	switch {
	case !known:
		status, body, _ := fail(h.model, h.op, "100310", "SYSTEM_ERROR", "Invalid token!")
		s.write(w, h, status, body)
		return
	case now.After(exp):
		status, body, _ := fail(h.model, h.op, "100311", "SYSTEM_ERROR", "Access token expired!")
		s.write(w, h, status, body)
		return
	case applies && f.Hang:
		<-r.Context().Done()
		return
	case limited:
		w.Header().Set("Retry-After", strconv.Itoa(s.opts.RetryAfter))
		s.write(w, h, http.StatusTooManyRequests, iyzico.Envelope{Status: "failure", ErrorMessage: "Too many requests"})
		return
	case broken:
		http.Error(w, "simulated internal error", http.StatusInternalServerError)
		return
	case inj != nil && !inj.AfterRecord:
		s.injected(w, h, inj)
		return
	}
	req := h.decode()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(req); err != nil {
		status, body, _ := fail(h.model, h.op, "380104", "VALIDATION_ERROR", "Invalid request body: "+err.Error())
		s.write(w, h, status, body)
		return
	}
	if msg := validate(req); msg != "" {
		status, body, _ := fail(h.model, h.op, "380105", "VALIDATION_ERROR", msg)
		s.write(w, h, status, body)
		return
	}
	dev := deviceOf(req)
	ref := moneyRef(req)
	key := r.URL.Path + " " + ref
	readOnly := h.op == "query" || h.op == "refundable"
	s.mu.Lock()
	if a, isAdd := req.(*iyzico.GmuPartialAddRequest); isAdd && dev == "" {
		// deviceUniqueId is optional on add-payment (§4.6): the flow's.
		if p := s.partials[a.SaleNumber]; p != nil {
			dev = p.device
		}
	}
	d, ok := s.devices[dev]
	if dev == "" && readOnly {
		// Optional on query and refundable-sale-info (§4.2, §4.3): a
		// read needs no device.
		d, ok = &device{}, true
	}
	if !ok {
		s.mu.Unlock()
		status, body, _ := fail(h.model, h.op, "380101", "BUSINESS_ERROR", "Auth Device not found! For username: "+s.opts.Username)
		s.write(w, h, status, body)
		return
	}
	if prev, seen := s.answers[key]; seen && ref != "" {
		if s.opts.ReplayReferences {
			s.mu.Unlock()
			s.write(w, h, prev.status, prev.body)
			return
		}
		s.repeats++
	}
	if d.busy && !readOnly {
		s.mu.Unlock()
		status, body, _ := fail(h.model, h.op, "380201", "DEVICE_ERROR", "Terminal is currently busy, please wait for the previous operation to complete")
		s.write(w, h, status, body)
		return
	}
	if !readOnly {
		d.busy = true
	}
	s.mu.Unlock()
	if f.Latency > 0 { // the customer presenting the card
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
		}
	}
	s.mu.Lock()
	status, body, moved := h.do(s, req)
	if !readOnly {
		d.busy = false
		if ref != "" {
			s.answers[key] = answer{status, body}
		}
	}
	s.mu.Unlock()
	if moved && drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close() // recorded, never answered
				return
			}
		}
	}
	if inj != nil && inj.AfterRecord {
		s.injected(w, h, inj)
		return
	}
	s.write(w, h, status, body)
}

// write answers a business call. With Options.OmitErrorGroup507 a VUK
// 507 answer loses errorGroup, as the GMU schemas declare none.
func (s *Server) write(w http.ResponseWriter, h handler, status int, body any) {
	if !s.opts.OmitErrorGroup507 || h.model != "vuk507" {
		writeJSON(w, status, body)
		return
	}
	raw, err := json.Marshal(body)
	var m map[string]json.RawMessage
	if err != nil || json.Unmarshal(raw, &m) != nil {
		writeJSON(w, status, body)
		return
	}
	delete(m, "errorGroup")
	writeJSON(w, status, m)
}

// injected answers an injected error.
func (s *Server) injected(w http.ResponseWriter, h handler, e *InjectedError) {
	msg := e.Message
	if msg == "" {
		msg = "simulated " + e.Group + " " + e.Code
	}
	status, body, _ := fail(h.model, h.op, e.Code, e.Group, msg)
	if e.Status != 0 {
		status = e.Status
	}
	s.write(w, h, status, body)
}

func (s *Server) nextPayment(ref, dev, cur string, amount int64, d *device) *payment {
	s.seq++
	now := s.now()
	date, _ := strconv.Atoi(now.Format("20060102"))
	p := &payment{id: strconv.Itoa(29811000 + s.seq), ref: ref, device: dev, currency: cur, amount: amount,
		batch: d.batch, date: date, authCode: fmt.Sprintf("%06d", 100000+s.seq), hostRef: fmt.Sprintf("HR%010d", s.seq)}
	s.payments[p.id] = p
	return p
}

func (s *Server) record(op string, p *payment, ref string, amount int64) {
	s.ledger = append(s.ledger, Entry{Op: op, Device: p.device, Reference: ref, PaymentID: p.id, Amount: amount, Currency: p.currency, At: s.now()})
}

func parseAmount(v, cur string) (int64, bool) {
	a, err := money.Positive(v, cur)
	return a.Minor, err == nil
}

func amountString(minor int64, cur string) string {
	return money.Amount{Minor: minor, Currency: cur}.String()
}

func jsonNumber(s string) json.Number { return json.Number(s) }
