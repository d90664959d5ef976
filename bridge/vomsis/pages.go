package vomsis

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// PagePrefix is where the agent mounts Pages on its HTTP listener.
const PagePrefix = "/v1/3ds/"

// maxReturnURL is returnUrl's length limit, string(70) in §4.
const maxReturnURL = 70

// Pages serves the 3-D Secure HTML that Vomsis returns for a sale on a
// local page, and receives the payer's browser's post-back to returnUrl.
//
// Both live in memory only: the HTML carries the card number and CVC (the
// bank form of §4 posts pan and cv2), so it is never written anywhere and
// is dropped when the sale ends. Each page is addressed by a random
// 128-bit token, not by the request id or reference, so that knowing a
// request does not open its page.
type Pages struct {
	onOpen func(ctx context.Context, id, url string) error
	log    *slog.Logger

	mu    sync.Mutex // guards base, pages
	base  string
	pages map[string]*Page
}

// Page is one sale's 3-D Secure page.
type Page struct {
	p         *Pages
	id, ref   string
	token     string
	returnURL string
	hints     chan PostBack
	// cancelled is closed when the register cancels the sale (Withdraw).
	cancelled chan struct{}
	cancel    sync.Once

	mu      sync.Mutex // guards html, opened, stopped
	html    []byte
	opened  bool // a browser was given the bank form: the payer may be at the bank
	stopped bool // cancelled or timed out: the bank form is no longer served
}

// NewPages returns a page server. onOpen is called when a page is ready,
// with its URL, so the agent can tell the register where the payer must
// go (the "waiting" state event); it must be durable before it returns.
func NewPages(onOpen func(ctx context.Context, id, url string) error, log *slog.Logger) *Pages {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pages{onOpen: onOpen, log: log, pages: map[string]*Page{}}
}

// SetBaseURL sets the URL the payer's browser reaches the agent at, e.g.
// "http://127.0.0.1:8417". Pages and returnUrl are built on it; it is set
// once the listener's address is known.
func (p *Pages) SetBaseURL(base string) error {
	base = strings.TrimRight(base, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("vomsis: page base URL %q is not an http(s) URL", base)
	}
	// returnUrl must fit Vomsis's 70 characters (§4).
	if n := len(base) + len(PagePrefix) + 22 + len("/return"); n > maxReturnURL {
		return fmt.Errorf("vomsis: page base URL %q is too long: returnUrl would be %d characters, Vomsis takes %d", base, n, maxReturnURL)
	}
	p.mu.Lock()
	p.base = base
	p.mu.Unlock()
	return nil
}

// prepare reserves a page for a sale before the payment call, since
// returnUrl is part of that call.
func (p *Pages) prepare(id, ref string) (*Page, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("vomsis: page token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.base == "" {
		return nil, errors.New("vomsis: no page base URL: the agent's listener is not up")
	}
	pg := &Page{p: p, id: id, ref: ref, token: tok, returnURL: p.base + PagePrefix + tok + "/return", hints: make(chan PostBack, 4),
		cancelled: make(chan struct{})}
	p.pages[tok] = pg
	return pg, nil
}

// URL is where the payer's browser opens the page.
func (pg *Page) URL() string {
	pg.p.mu.Lock()
	defer pg.p.mu.Unlock()
	return pg.p.base + PagePrefix + pg.token
}

// show puts the HTML on the page and tells the register. A page
// cancelled before its HTML arrived never shows it.
func (pg *Page) show(ctx context.Context, doc string) error {
	pg.mu.Lock()
	if !pg.stopped {
		pg.html = []byte(doc)
	}
	pg.mu.Unlock()
	if pg.p.onOpen == nil {
		return nil
	}
	return pg.p.onOpen(ctx, pg.id, pg.URL())
}

// stop ends the page for the payer: the bank form is dropped and no
// longer served, but post-backs still arrive, for a payer already at the
// bank. It reports whether a browser was ever given the form.
func (pg *Page) stop() (opened bool) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	pg.stopped = true
	clear(pg.html)
	pg.html = nil
	return pg.opened
}

// withdraw is the register's cancel: the sale's wait ends (await).
func (pg *Page) withdraw() {
	pg.cancel.Do(func() { close(pg.cancelled) })
}

// byReference is the open page of the sale with reference ref.
func (p *Pages) byReference(ref string) *Page {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pg := range p.pages {
		if pg.ref == ref {
			return pg
		}
	}
	return nil
}

// close drops the page and its HTML; later visits and post-backs get a
// "this payment has ended" answer.
func (pg *Page) close() {
	pg.p.mu.Lock()
	delete(pg.p.pages, pg.token)
	pg.p.mu.Unlock()
	pg.mu.Lock()
	clear(pg.html)
	pg.html = nil
	pg.mu.Unlock()
}

// Open reports how many pages are open, for tests and status.
func (p *Pages) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pages)
}

// ServeHTTP serves GET {prefix}{token} (the 3-D page) and POST
// {prefix}{token}/return (the post-back). The agent mounts it behind its
// Host check.
func (p *Pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, PagePrefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	tok, action, _ := strings.Cut(rest, "/")
	p.mu.Lock()
	pg := p.pages[tok]
	p.mu.Unlock()
	// The page holds card data: never cached, never referred onwards.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	switch {
	case action == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		if pg == nil {
			ended(w, http.StatusNotFound, "Bu ödeme sayfası artık yok. / This payment page no longer exists.")
			return
		}
		pg.mu.Lock()
		doc := append([]byte(nil), pg.html...)
		stopped := pg.stopped
		if len(doc) > 0 && r.Method == http.MethodGet {
			pg.opened = true
		}
		pg.mu.Unlock()
		if stopped {
			ended(w, http.StatusGone, "Bu ödeme kasadan iptal edildi veya süresi doldu; kartınızdan çekim yapılmadı. / This payment was cancelled at the register or timed out; your card was not charged.")
			return
		}
		if len(doc) == 0 {
			ended(w, http.StatusNotFound, "Bu ödeme sayfası henüz hazır değil. / This payment page is not ready.")
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(doc)
	case action == "return" && r.Method == http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		pb, err := ParsePostBack(r.Header.Get("Content-Type"), body)
		if err != nil {
			p.log.Warn("3-D Secure post-back unreadable; ignored", "err", err)
			ended(w, http.StatusBadRequest, "Ödeme sonucu okunamadı. / The payment result could not be read.")
			return
		}
		if pg == nil {
			p.log.Warn("3-D Secure post-back for a page that is not open; ignored", "referans_kodu", pb.ReferansKodu, "status_code", pb.StatusCode)
			ended(w, http.StatusNotFound, "Bu ödeme artık beklenmiyor. / This payment is no longer waiting.")
			return
		}
		if pb.ReferansKodu != pg.ref {
			p.log.Warn("3-D Secure post-back for another reference; ignored", "id", pg.id, "referans_kodu", pb.ReferansKodu)
			ended(w, http.StatusBadRequest, "Ödeme sonucu bu ödemeye ait değil. / The result does not belong to this payment.")
			return
		}
		select {
		case pg.hints <- pb:
		default: // a burst of post-backs: one pending hint is enough
		}
		ended(w, http.StatusOK, "Ödeme sonucu alındı, kasaya dönebilirsiniz. / The result was received; you can return to the register.")
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func ended(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>tezgah</title><p>%s</p>\n", html.EscapeString(msg))
}

// ParsePostBack reads a returnUrl post-back. Its encoding is not
// documented (§4); a browser form post (urlencoded or multipart) is what
// arrives through a browser, and JSON is accepted too.
func ParsePostBack(contentType string, body []byte) (PostBack, error) {
	mt, params, _ := mime.ParseMediaType(contentType)
	var pb PostBack
	switch mt {
	case "application/json":
		var raw map[string]FlexString
		if err := json.Unmarshal(body, &raw); err != nil {
			return PostBack{}, fmt.Errorf("vomsis: post-back: %w", err)
		}
		get := func(k string) string { return strings.TrimSpace(string(raw[k])) }
		pb = PostBack{TransID: get("trans_id"), OrderID: get("order_id"), ReferansKodu: get("referans_kodu"),
			StatusCode: get("status_code"), ErrorCode: get("error_code"), HataMesaji: get("hata_mesaji")}
	case "multipart/form-data":
		r := &http.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {contentType}}, Body: io.NopCloser(strings.NewReader(string(body)))}
		if params["boundary"] == "" {
			return PostBack{}, errors.New("vomsis: post-back: multipart without boundary")
		}
		if err := r.ParseMultipartForm(64 << 10); err != nil {
			return PostBack{}, fmt.Errorf("vomsis: post-back: %w", err)
		}
		pb = fromForm(r.MultipartForm.Value)
	default: // application/x-www-form-urlencoded and browsers that omit it
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return PostBack{}, fmt.Errorf("vomsis: post-back: %w", err)
		}
		pb = fromForm(v)
	}
	if pb.ReferansKodu == "" {
		return PostBack{}, errors.New("vomsis: post-back without referans_kodu")
	}
	return pb, nil
}

func fromForm(v url.Values) PostBack {
	get := func(k string) string {
		if len(v[k]) == 0 {
			return ""
		}
		return strings.TrimSpace(v[k][0])
	}
	return PostBack{TransID: get("trans_id"), OrderID: get("order_id"), ReferansKodu: get("referans_kodu"),
		StatusCode: get("status_code"), ErrorCode: get("error_code"), HataMesaji: get("hata_mesaji")}
}
