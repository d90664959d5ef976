// Package vomsissim is a simulator of the Vomsis Sanal POS API V3: a real
// HTTP server on the same paths (/api/vpos/v3/...) with the same payloads
// (the wire types of package vomsis, field for field from the Postman
// collection), with state, a fake bank 3-D Secure page that posts the
// result to returnUrl through the browser, a ledger of every money
// movement, and fault injection. It serves the demo mode, the tests and
// cmd/tezgah-sim.
//
// Where the reference is silent the simulator makes a choice and says so:
// a payment whose 3-D page is not completed is unknown to
// /transaction/find (HTTP 404, success false); a repeated referanceNo is
// refused with 422; the rate limit is 100 calls per token per minute,
// with X-RateLimit-Limit/Remaining on every answer and 429 + Retry-After
// when exhausted.
//
// Magic amounts: a sale whose minor part is 51 (e.g. 10.51) is declined
// by the "bank" at the 3-D step (error code 51, "Yetersiz bakiye").
package vomsissim

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tezgah/tezgah/bridge/internal/simfault"
	"github.com/tezgah/tezgah/bridge/vomsis"
	"github.com/tezgah/tezgah/money"
)

// Demo credentials, used by tezgah's demo mode and tezgah-sim's defaults.
const (
	DemoAppKey    = "demo-app-key"
	DemoAppSecret = "demo-app-secret"
)

// APIPrefix is the path of the API on the server: the adapter's base URL
// is the server's address followed by it.
const APIPrefix = "/api/vpos/v3"

// AdminPrefix holds the simulator's own endpoints (ledger, faults, the
// fake bank page); it does not collide with other simulators.
const AdminPrefix = "/vomsis/_sim"

// RateLimit is calls per token per window.
const RateLimit = 100

// Options configure a Server.
type Options struct {
	AppKey, AppSecret string
	RetryAfter        int // seconds in 429 answers, default 1
	Seed              uint64
	Now               func() time.Time
}

// Faults are injected failures; see SetFaults and PUT /vomsis/_sim/faults.
type Faults struct {
	Latency         time.Duration `json:"latency"`         // added to every business call
	FailRate5xx     float64       `json:"fail_rate"`       // 500 before processing
	RateLimitRate   float64       `json:"rate_limit_rate"` // 429 + Retry-After before processing
	DropAfterRecord float64       `json:"drop_rate"`       // do the call, then drop the connection unanswered
	ExpireTokens    bool          `json:"expire_tokens"`   // every token issued so far is refused (once)
	Hang            bool          `json:"hang"`            // black hole: never answer business calls
	Unavailable     bool          `json:"unavailable"`     // 503 for every business call
	// Decline makes the bank decline these /transaction types ("cancel",
	// "refund"): a cancel after the bank's end of day, say (§5: cancel is
	// same-day only [inferred]).
	Decline []string `json:"decline,omitempty"`
}

// Entry is one money movement in the ledger.
type Entry struct {
	Op        string    `json:"op"` // sale | cancel | refund
	Reference string    `json:"referanceNo"`
	Amount    int64     `json:"amount"` // minor units
	Currency  string    `json:"currency"`
	At        time.Time `json:"at"`
}

type txn struct {
	ref, oid, currency, returnURL, clientIP, holder string
	masked, transID, errCode, errMsg, note          string
	amount, refunded                                int64
	installment                                     int
	status                                          string // "" while the 3-D page is open
	at                                              time.Time
}

type customer struct {
	ID           int    `json:"id"`
	Email        string `json:"email"`
	CompanyTitle string `json:"companyTitle"`
	GSM          string `json:"gsm"`
	Phone        string `json:"phone"`
	CreatedAt    string `json:"created_at"`
}

// Server is the simulator. It implements http.Handler.
type Server struct {
	opts Options
	now  func() time.Time

	mu        sync.Mutex // guards everything below
	faults    Faults
	rng       *mrand.Rand
	tokens    map[string]bool
	window    map[string]int // calls per token in the current window
	windowEnd time.Time
	byRef     map[string]*txn
	byOID     map[string]*txn
	customers map[int]*customer
	nextCust  int
	ledger    []Entry
	seq       int
}

// New returns a simulator.
func New(opts Options) *Server {
	if opts.AppKey == "" {
		opts.AppKey, opts.AppSecret = DemoAppKey, DemoAppSecret
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Server{
		opts: opts, now: opts.Now, rng: mrand.New(mrand.NewPCG(opts.Seed, 0x50315)),
		tokens: map[string]bool{}, window: map[string]int{},
		byRef: map[string]*txn{}, byOID: map[string]*txn{}, customers: map[int]*customer{}, nextCust: 620,
	}
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.ExpireTokens {
		clear(s.tokens)
		f.ExpireTokens = false
	}
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
	return append([]Entry{}, s.ledger...)
}

// Status returns find's status for ref ("" while the 3-D page is open,
// "-" when unknown).
func (s *Server) Status(ref string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.byRef[ref]
	if t == nil {
		return "-"
	}
	return t.status
}

// Pending returns the referanceNos whose 3-D page is still open, sorted.
func (s *Server) Pending() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for ref, t := range s.byRef {
		if t.status == "" {
			out = append(out, ref)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Server) roll(p float64) bool { return p > 0 && s.rng.Float64() < p }

func randToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, AdminPrefix); ok {
		s.admin(w, r, rest)
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, APIPrefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if path == "/auth/token" && r.Method == http.MethodPost {
		s.token(w, r)
		return
	}
	s.business(w, r, path)
}

func (s *Server) admin(w http.ResponseWriter, r *http.Request, rest string) {
	switch rest {
	case "/healthz":
		fmt.Fprintln(w, "ok")
	case "/ledger":
		writeJSON(w, http.StatusOK, s.Ledger())
	case "/faults":
		simfault.Serve(w, r, s.currentFaults, s.SetFaults)
	case "/3ds":
		s.acs(w, r)
	case "/3ds/complete":
		s.complete(w, r)
	default:
		http.NotFound(w, r)
	}
}

// token is §1: form-data app_key/app_secret (urlencoded and JSON are
// accepted too, as the third-party integration sends JSON).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	key, secret := "", ""
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "multipart/form-data"):
		if err := r.ParseMultipartForm(1 << 20); err == nil {
			key, secret = r.FormValue("app_key"), r.FormValue("app_secret")
		}
	case strings.HasPrefix(ct, "application/json"):
		var v struct{ AppKey, AppSecret string }
		var raw map[string]string
		if json.NewDecoder(r.Body).Decode(&raw) == nil {
			v.AppKey, v.AppSecret = raw["app_key"], raw["app_secret"]
		}
		key, secret = v.AppKey, v.AppSecret
	default:
		r.ParseForm()
		key, secret = r.PostForm.Get("app_key"), r.PostForm.Get("app_secret")
	}
	if key != s.opts.AppKey || secret != s.opts.AppSecret || key == "" {
		writeJSON(w, http.StatusUnauthorized, vomsis.TokenResponse{Success: false, Message: "Unauthorized"})
		return
	}
	tok := randToken(30)
	s.mu.Lock()
	s.tokens[tok] = true
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, vomsis.TokenResponse{Success: true, AccessToken: tok})
}

type handler func(s *Server, w http.ResponseWriter, r *http.Request, body []byte, sub string) (status int, out any, record func())

// business authenticates, applies rate limits and faults, and runs h.
func (s *Server) business(w http.ResponseWriter, r *http.Request, path string) {
	route, sub := path, ""
	if rest, ok := strings.CutPrefix(path, "/customers/"); ok && rest != "store" {
		route, sub = "/customers/{id}", rest
	}
	h, ok := routes[r.Method+" "+route]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	now := s.now()
	s.mu.Lock()
	known := s.tokens[tok]
	f := s.faults
	limited, broken, drop := s.roll(f.RateLimitRate), s.roll(f.FailRate5xx), s.roll(f.DropAfterRecord)
	if now.After(s.windowEnd) {
		clear(s.window)
		s.windowEnd = now.Add(time.Minute)
	}
	used := 0
	if known {
		s.window[tok]++
		used = s.window[tok]
	}
	reset := s.windowEnd
	s.mu.Unlock()
	// bin-check is "noauth" in the collection (§ header notes); the
	// adapter sends the token anyway, and the simulator does not insist.
	if !known && path != "/bin-check" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Unauthenticated."})
		return
	}
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(RateLimit))
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(max(0, RateLimit-used)))
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch {
	case f.Hang:
		<-r.Context().Done()
		return
	case limited || used > RateLimit:
		w.Header().Set("Retry-After", strconv.Itoa(s.opts.RetryAfter))
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "Too Many Attempts."})
		return
	case f.Unavailable:
		w.Header().Set("Retry-After", strconv.Itoa(s.opts.RetryAfter))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "Service Unavailable"})
		return
	case broken:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "Server Error"})
		return
	}
	status, out, record := h(s, w, r, body, sub)
	if record != nil {
		// Handlers return their state change instead of applying it, so
		// that it happens once, under the lock, before a dropped answer.
		s.mu.Lock()
		record()
		s.mu.Unlock()
	}
	if drop && record != nil {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close() // done, never answered
				return
			}
		}
	}
	if status == 0 {
		return // the handler wrote the answer itself
	}
	writeJSON(w, status, out)
}

var routes = map[string]handler{
	"POST /bin-check":        (*Server).binCheck,
	"POST /installments":     (*Server).installments,
	"POST /payment":          (*Server).payment,
	"POST /transaction":      (*Server).transaction,
	"GET /transaction/find":  (*Server).find,
	"GET /transactions-list": (*Server).list,
	"GET /customers":         (*Server).customersList,
	"POST /customers/store":  (*Server).customerStore,
	"GET /customers/{id}":    (*Server).customerDetail,
	"PUT /customers/{id}":    (*Server).customerUpdate,
	"DELETE /customers/{id}": (*Server).customerDelete,
}

func invalid(msg string, field string) (int, any, func()) {
	return http.StatusUnprocessableEntity, map[string]any{"message": msg, "errors": map[string][]string{field: {msg}}}, nil
}

func (s *Server) binCheck(_ http.ResponseWriter, _ *http.Request, body []byte, _ string) (int, any, func()) {
	var in struct {
		CCNumber     vomsis.FlexString `json:"cc_number"`
		FecName      string            `json:"fec_name"`
		PaymentPrice vomsis.FlexString `json:"payment_price"`
		PID          int               `json:"pid"`
	}
	if err := json.Unmarshal(body, &in); err != nil || len(in.CCNumber) < 6 {
		return invalid("The cc number field is required.", "cc_number")
	}
	if in.FecName == "" || in.PaymentPrice == "" {
		return invalid("The fec name and payment price fields are required.", "fec_name")
	}
	var out vomsis.BinCheckResponse
	out.Data.CardInfo = vomsis.CardInfo{BinCheckCompany: 1, BankName: "Garanti Bankası", CardType: "CREDIT_CARD", CardAssociation: "master_card", CardFamilyName: "Bonus"}
	if strings.HasPrefix(string(in.CCNumber), "4") {
		out.Data.CardInfo = vomsis.CardInfo{BinCheckCompany: 1, BankName: "Akbank", CardType: "CREDIT_CARD", CardAssociation: "visa", CardFamilyName: "Axess"}
	}
	for i, rate := range []string{"1.0000", "1.4000", "3.5000", "5.0000", "10.0000", "12.0000"} {
		pos := 10
		if i >= 4 {
			pos = 17
		}
		if in.PID != 0 && in.PID != pos {
			continue
		}
		title := "Tek Çekim"
		if i > 0 {
			title = strconv.Itoa(i+1) + " Taksit"
		}
		out.Data.Installments = append(out.Data.Installments, vomsis.Installment{PosID: vomsis.FlexInt(pos), BlockRate: vomsis.FlexString(rate), Currency: "TRY", Installment: vomsis.FlexInt(i + 1), Title: vomsis.FlexString(title)})
	}
	return http.StatusOK, out, nil
}

func (s *Server) installments(_ http.ResponseWriter, _ *http.Request, _ []byte, _ string) (int, any, func()) {
	data := map[string]map[string]vomsis.Installment{}
	for fi, fam := range []string{"Axess", "Bonus", "Maximum", "World"} {
		data[fam] = map[string]vomsis.Installment{}
		for n := 1; n <= 6; n++ {
			data[fam][strconv.Itoa(n)] = vomsis.Installment{PosID: vomsis.FlexInt(fi + 1), Currency: "TRY", Installment: vomsis.FlexInt(n), BlockRate: vomsis.FlexString(fmt.Sprintf("%d.0000", n*2-2))}
		}
	}
	return http.StatusOK, map[string]any{"data": data}, nil
}

// payment is §4: it checks the request, records a pending transaction
// and answers with a self-submitting form to the fake bank page. The
// form carries the card like the real one (pan, cv2), which is why
// tezgah keeps the page in memory only.
func (s *Server) payment(_ http.ResponseWriter, r *http.Request, body []byte, _ string) (int, any, func()) {
	var in vomsis.PaymentRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return invalid("The given data was invalid.", "body")
	}
	switch {
	case len(in.ReferanceNo) != 15:
		return invalid("The referance no must be 15 characters.", "referanceNo")
	case in.CreditCardHolderName == "" || len(in.CreditCardPan) < 12 || len(in.CreditCardExpiryMonth) != 2 || len(in.CreditCardExpiryYear) != 4 || len(in.CreditCardCvc) < 3:
		return invalid("The credit card fields are required.", "creditCardPan")
	case in.Installment < 1 || in.Installment > 12:
		return invalid("The installment field is required.", "installment")
	case in.ClientIP == "":
		return invalid("The client ip field is required.", "clientIp")
	case in.ReturnURL == "" || len(in.ReturnURL) > 70:
		return invalid("The return url may not be greater than 70 characters.", "returnUrl")
	}
	amt, err := money.Positive(in.Amount, in.Currency)
	if err != nil {
		return invalid("The amount must be a number.", "amount")
	}
	oid := randToken(12)
	t := &txn{ref: in.ReferanceNo, oid: oid, currency: in.Currency, returnURL: in.ReturnURL, clientIP: in.ClientIP,
		holder: in.CreditCardHolderName, masked: in.CreditCardPan[:6] + "******" + in.CreditCardPan[len(in.CreditCardPan)-4:],
		amount: amt.Minor, installment: in.Installment, note: in.PaymentNote, at: s.now()}
	s.mu.Lock()
	_, dup := s.byRef[in.ReferanceNo]
	s.mu.Unlock()
	if dup {
		return http.StatusUnprocessableEntity, vomsis.PaymentResponse{Status: false, Message: "Bu referans numarası ile daha önce işlem yapılmış."}, nil
	}
	acs := "http://" + r.Host + AdminPrefix + "/3ds"
	fields := [][2]string{{"clientid", "102295620"}, {"storetype", "3d"}, {"pan", in.CreditCardPan},
		{"Ecom_Payment_Card_ExpDate_Month", in.CreditCardExpiryMonth}, {"Ecom_Payment_Card_ExpDate_Year", in.CreditCardExpiryYear[2:]},
		{"cv2", in.CreditCardCvc}, {"amount", in.Amount}, {"oid", oid}}
	doc := autoForm(acs, fields)
	return http.StatusOK, vomsis.PaymentResponse{Status: true, PosType: "akbank", Data: doc}, func() {
		s.byRef[t.ref], s.byOID[oid] = t, t
	}
}

// autoForm is a self-submitting POST form, the shape of §4's data.
func autoForm(action string, fields [][2]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<html><body><form id="f" method="post" action="%s">`, html.EscapeString(action))
	for _, f := range fields {
		fmt.Fprintf(&b, `<input type="hidden" name="%s" value="%s">`, html.EscapeString(f[0]), html.EscapeString(f[1]))
	}
	b.WriteString(`<noscript><button type="submit">Devam / Continue</button></noscript></form><script>document.getElementById('f').submit();</script></body></html>`)
	return b.String()
}

// acs is the fake bank's 3-D page: the payer approves or refuses.
func (s *Server) acs(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	oid := r.PostForm.Get("oid")
	s.mu.Lock()
	t := s.byOID[oid]
	s.mu.Unlock()
	if t == nil || r.Method != http.MethodPost {
		http.Error(w, "unknown 3-D session", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	action := html.EscapeString("http://" + r.Host + AdminPrefix + "/3ds/complete")
	fmt.Fprintf(w, `<html><body><h1>3-D Secure (simülatör)</h1><p>%s %s</p>`, html.EscapeString(money.Amount{Minor: t.amount, Currency: t.currency}.String()), t.currency)
	for _, res := range []string{"ok", "fail"} {
		fmt.Fprintf(w, `<form method="post" action="%s"><input type="hidden" name="oid" value="%s"><input type="hidden" name="result" value="%s"><button>%s</button></form>`,
			action, html.EscapeString(oid), res, res)
	}
	fmt.Fprint(w, `</body></html>`)
}

// complete ends the 3-D step and sends the browser to returnUrl with the
// §4 post-back fields.
func (s *Server) complete(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	oid, result := r.PostForm.Get("oid"), r.PostForm.Get("result")
	s.mu.Lock()
	t := s.byOID[oid]
	if t == nil || t.status != "" {
		s.mu.Unlock()
		http.Error(w, "unknown or finished 3-D session", http.StatusNotFound)
		return
	}
	s.seq++
	t.transID = fmt.Sprintf("%06d", 730000+s.seq)
	switch {
	case result != "ok":
		t.status, t.errCode, t.errMsg = vomsis.StatusFailed, "3D", "3-D doğrulama başarısız"
	case t.amount%100 == 51:
		t.status, t.errCode, t.errMsg = vomsis.StatusFailed, "51", "Yetersiz bakiye"
	default:
		t.status, t.errCode = vomsis.StatusSuccessful, "00"
		s.ledger = append(s.ledger, Entry{Op: "sale", Reference: t.ref, Amount: t.amount, Currency: t.currency, At: s.now()})
	}
	code := "00"
	if t.status != vomsis.StatusSuccessful {
		code = t.errCode
	}
	fields := [][2]string{{"trans_id", t.transID}, {"order_id", "2136_" + t.ref}, {"referans_kodu", t.ref},
		{"status_code", code}, {"error_code", t.errCode}, {"hata_mesaji", t.errMsg}}
	ret := t.returnURL
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, autoForm(ret, fields))
}

func (s *Server) transaction(_ http.ResponseWriter, _ *http.Request, body []byte, _ string) (int, any, func()) {
	var in struct {
		TransactionType string            `json:"transactionType"`
		ReferanceNo     string            `json:"referanceNo"`
		Amount          vomsis.FlexString `json:"amount"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return invalid("The given data was invalid.", "body")
	}
	if in.TransactionType != "cancel" && in.TransactionType != "refund" {
		return invalid("The transaction type must be cancel or refund.", "transactionType")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.byRef[in.ReferanceNo]
	if t == nil || t.status == "" {
		return http.StatusNotFound, map[string]string{"message": "İşlem bulunamadı"}, nil
	}
	s.seq++
	out := vomsis.TransactionResponse{IslemID: vomsis.FlexString(strconv.Itoa(500 + s.seq)), TransID: vomsis.FlexString(t.transID)}
	decline := func(msg string) (int, any, func()) {
		out.Response, out.ProcReturnCode, out.ErrorCode, out.ErrorMessage, out.Status, out.StatusDetail = "Declined", "99", "99", vomsis.FlexString(msg), "declined", "declined"
		return http.StatusOK, out, nil
	}
	ok := func(typ string, refunded vomsis.FlexString) {
		out.Type, out.Response, out.ProcReturnCode, out.IadeTutar, out.ErrorCode, out.Status, out.StatusDetail = vomsis.FlexString(typ), "Approved", "00", refunded, "00", "approved", "approved"
	}
	if slices.Contains(s.faults.Decline, in.TransactionType) {
		return decline("Banka işlemi reddetti (simülatör)")
	}
	if in.TransactionType == "cancel" {
		if t.status != vomsis.StatusSuccessful || t.refunded > 0 {
			return decline("İptal edilemez: işlem başarılı değil veya iade edilmiş")
		}
		ok("iptal", "")
		return http.StatusOK, out, func() {
			t.status = vomsis.StatusCancelled
			s.ledger = append(s.ledger, Entry{Op: "cancel", Reference: t.ref, Amount: t.amount, Currency: t.currency, At: s.now()})
		}
	}
	amt, err := money.Positive(string(in.Amount), t.currency)
	if err != nil {
		return invalid("The amount field is required for a refund.", "amount")
	}
	if (t.status != vomsis.StatusSuccessful && t.status != vomsis.StatusRefunded) || amt.Minor > t.amount-t.refunded {
		return decline("İade tutarı kalan tutarı aşıyor veya işlem iade edilemez")
	}
	ok("iade", vomsis.FlexString(amt.String()))
	return http.StatusOK, out, func() {
		t.refunded += amt.Minor
		t.status = vomsis.StatusRefunded
		s.ledger = append(s.ledger, Entry{Op: "refund", Reference: t.ref, Amount: amt.Minor, Currency: t.currency, At: s.now()})
	}
}

func (s *Server) findData(t *txn) *vomsis.FindData {
	paid := money.Amount{Minor: t.amount + t.amount/100, Currency: t.currency}
	return &vomsis.FindData{
		ReferanceNo: vomsis.FlexString(t.ref), TransactionDate: vomsis.FlexString(t.at.Format("2006-01-02 15:04:05")),
		PosName: "AKBANK", ErrorCode: vomsis.FlexString(t.errCode), ErrorMessage: vomsis.FlexString(t.errMsg),
		MaskedPan: vomsis.FlexString(t.masked), CreditCardBank: "Akbank", ClientIP: vomsis.FlexString(t.clientIP),
		Amount: vomsis.FlexString(money.Amount{Minor: t.amount, Currency: t.currency}.String()), PaidAmount: vomsis.FlexString(paid.String()),
		Installment: vomsis.FlexInt(t.installment), InstallmentRatio: "1.0000", Description: vomsis.FlexString(t.note), Status: vomsis.FlexString(t.status),
	}
}

// find is §6; a body on a GET.
func (s *Server) find(_ http.ResponseWriter, _ *http.Request, body []byte, _ string) (int, any, func()) {
	var in vomsis.FindRequest
	if err := json.Unmarshal(body, &in); err != nil || in.ReferanceNo == "" {
		return invalid("The referance no field is required.", "referanceNo")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.byRef[in.ReferanceNo]
	if t == nil || t.status == "" {
		return http.StatusNotFound, vomsis.FindResponse{Success: false, Message: "İşlem bulunamadı"}, nil
	}
	return http.StatusOK, vomsis.FindResponse{Success: true, Data: s.findData(t)}, nil
}

var listStatus = map[string]struct {
	durum int
	word  string
}{
	vomsis.StatusSuccessful: {1, "successful"}, vomsis.StatusFailed: {0, "failed"},
	vomsis.StatusCancelled: {2, "cancel"}, vomsis.StatusRefunded: {3, "refund"},
}

// list is §7, rows in the example's Turkish shape.
func (s *Server) list(_ http.ResponseWriter, r *http.Request, _ []byte, _ string) (int, any, func()) {
	want := r.URL.Query().Get("status")
	s.mu.Lock()
	defer s.mu.Unlock()
	refs := make([]string, 0, len(s.byRef))
	for ref := range s.byRef {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	rows := []map[string]any{}
	for i, ref := range refs {
		t := s.byRef[ref]
		st, ok := listStatus[t.status]
		if !ok || (want != "" && want != st.word) {
			continue
		}
		var iade any
		if t.refunded > 0 {
			iade = money.Amount{Minor: t.refunded, Currency: t.currency}.String()
		}
		rows = append(rows, map[string]any{
			"id": i + 1, "pos_id": 22, "musteri_id": nil, "referans_kodu": t.ref, "aciklama": t.note,
			"islem_tarihi": t.at.Format("2006-01-02 15:04:05"), "tutar": money.Amount{Minor: t.amount, Currency: t.currency}.String(),
			"para_birimi": t.currency, "taksit": t.installment, "taksit_oran": "1.0000", "kredi_kart_no": t.masked,
			"kredi_kart_banka": "Akbank", "ip_adresi": t.clientIP, "hata_kodu": t.errCode, "hata_mesaji": t.errMsg,
			"durum": st.durum, "tur": "islem", "order_id": "2136_" + t.ref, "trans_id": t.transID, "pos_name": "AKBANK",
			"iade_tutar": iade, "status_detail": map[string]string{"title": t.status, "status": st.word},
		})
	}
	return http.StatusOK, map[string]any{"success": true, "data": rows}, nil
}

func (s *Server) customersList(_ http.ResponseWriter, _ *http.Request, _ []byte, _ string) (int, any, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]int, 0, len(s.customers))
	for id := range s.customers {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	list := make([]customer, 0, len(ids))
	for _, id := range ids {
		list = append(list, *s.customers[id])
	}
	return http.StatusOK, map[string]any{"success": true, "data": list}, nil
}

func (s *Server) customer(sub string) (*customer, int) {
	id, err := strconv.Atoi(sub)
	if err != nil {
		return nil, 0
	}
	return s.customers[id], id
}

func (s *Server) customerDetail(_ http.ResponseWriter, _ *http.Request, _ []byte, sub string) (int, any, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, _ := s.customer(sub)
	if c == nil {
		return http.StatusNotFound, map[string]any{"success": false, "message": "Müşteri bulunamadı"}, nil
	}
	return http.StatusOK, map[string]any{"success": true, "data": *c}, nil
}

func (s *Server) customerStore(_ http.ResponseWriter, _ *http.Request, body []byte, _ string) (int, any, func()) {
	var in vomsis.CustomerStoreRequest
	if err := json.Unmarshal(body, &in); err != nil || !strings.Contains(in.Email, "@") {
		return invalid("The email field is required.", "email")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.customers {
		if strings.EqualFold(c.Email, in.Email) {
			return invalid("The email has already been taken.", "email")
		}
	}
	s.nextCust++
	c := &customer{ID: s.nextCust, Email: in.Email, CompanyTitle: in.CompanyTitle, GSM: in.GSM, CreatedAt: s.now().Format("2006-01-02 15:04:05")}
	s.customers[c.ID] = c
	return http.StatusOK, map[string]any{"success": true, "data": *c}, nil
}

func (s *Server) customerUpdate(_ http.ResponseWriter, _ *http.Request, body []byte, sub string) (int, any, func()) {
	var in vomsis.CustomerUpdateRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return invalid("The given data was invalid.", "body")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, _ := s.customer(sub)
	if c == nil {
		return http.StatusNotFound, map[string]any{"success": false, "message": "Müşteri bulunamadı"}, nil
	}
	if in.Email != "" {
		c.Email = in.Email
	}
	if in.CompanyTitle != "" {
		c.CompanyTitle = in.CompanyTitle
	}
	if in.Phone != "" {
		c.Phone = in.Phone
	}
	return http.StatusOK, map[string]any{"success": true, "data": *c}, nil
}

func (s *Server) customerDelete(_ http.ResponseWriter, _ *http.Request, _ []byte, sub string) (int, any, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, id := s.customer(sub)
	if c == nil {
		return http.StatusNotFound, map[string]any{"success": false, "message": "Müşteri bulunamadı"}, nil
	}
	delete(s.customers, id)
	return http.StatusOK, map[string]any{"success": true, "message": "Müşteri silindi"}, nil
}

// FormPost is a form a page asks the browser to post.
type FormPost struct {
	Action string
	Fields url.Values
}

// ParseForms finds the POST forms of an HTML page, as a headless browser
// would submit them. Only the simple markup the simulator (and tezgah's
// own pages) write is understood.
func ParseForms(doc []byte) []FormPost {
	var out []FormPost
	rest := string(doc)
	for {
		i := strings.Index(rest, "<form")
		if i < 0 {
			return out
		}
		rest = rest[i:]
		end := strings.Index(rest, "</form>")
		if end < 0 {
			end = len(rest)
		}
		form := rest[:end]
		rest = rest[end:]
		f := FormPost{Action: html.UnescapeString(attr(form, "action")), Fields: url.Values{}}
		for _, in := range strings.Split(form, "<input")[1:] {
			f.Fields.Add(html.UnescapeString(attr(in, "name")), html.UnescapeString(attr(in, "value")))
		}
		out = append(out, f)
	}
}

func attr(tag, name string) string {
	_, v, ok := strings.Cut(tag, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, `"`)
	return v
}

// Browse plays the payer's browser through a sale's 3-D Secure flow: it
// opens pageURL (tezgah's local page), follows the self-submitting form
// to the fake bank, approves or refuses, and follows the form that posts
// the result to returnUrl. It returns the last page's status.
func Browse(hc *http.Client, pageURL string, approve bool) (int, error) {
	p, err := Open(hc, pageURL)
	if err != nil {
		return 0, err
	}
	if err := p.Decide(approve); err != nil {
		return 0, err
	}
	return p.PostBack()
}

// Payer is a payer's browser on the 3-D Secure flow, step by step, so a
// test decides when each part happens: Open loads tezgah's page and
// follows its form to the bank; Decide approves or refuses at the bank
// (the money moves then); PostBack lets the browser post the bank's
// answer to returnUrl. Browse is all three at once.
type Payer struct {
	hc  *http.Client
	doc []byte
}

// Open loads pageURL and follows its self-submitting form to the bank's
// 3-D page.
func Open(hc *http.Client, pageURL string) (*Payer, error) {
	resp, err := hc.Get(pageURL)
	if err != nil {
		return nil, err
	}
	doc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("vomsissim: page %s: HTTP %d", pageURL, resp.StatusCode)
	}
	p := &Payer{hc: hc, doc: doc}
	if _, err := p.post(""); err != nil {
		return nil, err
	}
	return p, nil
}

// post submits the current page's form (the one whose result field is
// choice, when there are several) and keeps the answer.
func (p *Payer) post(choice string) (int, error) {
	forms := ParseForms(p.doc)
	if len(forms) == 0 {
		return 0, errors.New("vomsissim: no form on the page")
	}
	f := forms[0]
	for _, c := range forms {
		if choice != "" && c.Fields.Get("result") == choice {
			f = c
		}
	}
	resp, err := p.hc.Post(f.Action, "application/x-www-form-urlencoded", bytes.NewBufferString(f.Fields.Encode()))
	if err != nil {
		return 0, err
	}
	p.doc, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Decide approves or refuses at the bank. The payment is final at
// Vomsis from now on; the browser has not posted back yet.
func (p *Payer) Decide(approve bool) error {
	choice := "ok"
	if !approve {
		choice = "fail"
	}
	status, err := p.post(choice)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("vomsissim: bank: HTTP %d", status)
	}
	return err
}

// PostBack posts the bank's answer to returnUrl and returns its status.
func (p *Payer) PostBack() (int, error) { return p.post("") }
