// Package web is the agent's window for people and monitoring: the
// status page (what support looks at when a shop calls), its live feed,
// the support actions, and /healthz, /readyz and /metrics.
//
// The page is static HTML, CSS and JavaScript embedded in the binary; it
// loads nothing from the internet and builds its DOM from a JSON
// snapshot that the server pushes over server-sent events whenever the
// outbox changes. The same snapshot is at /api/status for scripts.
//
// Who may do what:
//
//   - every endpoint checks the Host header (DNS rebinding), as the
//     WebSocket does;
//   - /healthz, /readyz and /metrics are open, for probes and scrapers;
//   - the page and its feed are for this machine, or for a client that
//     presents the pairing token (the page shows payment amounts);
//   - the support actions — reconcile now, cancel a queued request —
//     are for this machine only, judged by the connection's address,
//     never by a header; they must be POSTed with a JSON body and, when
//     the browser sends an Origin, from this same origin (CSRF). Each is
//     logged.
package web

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tezgah/tezgah/agent/hostcheck"
	"github.com/tezgah/tezgah/agent/wsapi"
	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/outbox"
)

//go:embed static
var staticFS embed.FS

var indexHTML, _ = fs.ReadFile(staticFS, "static/index.html")

// Store is what the page reads from the outbox (*outbox.Store).
type Store interface {
	Stats(ctx context.Context) (map[string]outbox.TerminalStats, error)
	Recent(ctx context.Context, limit int) ([]outbox.Record, error)
	Pending(ctx context.Context, limit int) ([]outbox.Record, error)
	Terminals(ctx context.Context, ids []string) (map[string]string, error)
	LastResult(ctx context.Context, terminal string) (*outbox.Record, error)
	Events(ctx context.Context, since int64, limit int) ([]outbox.Event, error)
	Changed() <-chan struct{}
	LastSeq() int64
}

// Agent is what the support actions and /readyz need from the agent.
type Agent interface {
	// CancelRequest cancels a request that certainly never reached the
	// provider (outbox.ErrNotCancellable otherwise) and wakes its worker.
	// id, here and in Reconcile, is the page's: protocol.QualifiedID.
	CancelRequest(ctx context.Context, id string) (outbox.Event, error)
	// Reconcile makes a waiting request's next try due now and wakes its
	// worker (outbox.ErrStale if it is final or a call is in flight).
	Reconcile(ctx context.Context, id string) error
	// Ready returns why the agent cannot take requests now, or nil.
	Ready(ctx context.Context) error
}

// Options configure a Server.
type Options struct {
	Version   string
	AgentID   string
	Terminals []bridge.Terminal
	// Started is when the agent started, for the uptime.
	Started time.Time
	Now     func() time.Time
	Log     *slog.Logger
	// AllowedHosts and PairingToken mean what they mean for the
	// WebSocket (agent.allowed_hosts, agent.pairing_token).
	AllowedHosts []string
	PairingToken string
	// Metrics is the registry and observer the workers and the
	// WebSocket server report to; nil: a new one.
	Metrics *Metrics
	// MinInterval is the shortest time between two snapshots pushed to
	// the page, so a burst of events costs one rebuild. Default 100ms.
	MinInterval time.Duration
	// Refresh is how often the page is refreshed with nothing new (ages
	// and uptime move on). Default 5s.
	Refresh time.Duration
	// Registers reports the cash registers connected and refused (the
	// front door's); nil: none shown.
	Registers func() wsapi.RegistersView
}

// Server serves the status page, its feed, the actions, health and
// metrics.
type Server struct {
	store   Store
	agent   Agent
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	metrics *Metrics
	mux     *http.ServeMux
	hosts   hostcheck.Guard

	providerOf map[string]string // terminal -> provider
	terminals  map[string]bridge.Terminal

	done      chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex // guards clients, latest
	clients map[chan []byte]struct{}
	latest  []byte // the last snapshot pushed
	kick    chan struct{}
}

// New returns a Server over store and agent.
func New(store Store, agent Agent, opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(opts.Version, opts.Now)
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = 100 * time.Millisecond
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 5 * time.Second
	}
	s := &Server{
		store: store, agent: agent, opts: opts, log: opts.Log, now: opts.Now, metrics: opts.Metrics,
		providerOf: map[string]string{}, terminals: map[string]bridge.Terminal{},
		done: make(chan struct{}), clients: map[chan []byte]struct{}{}, kick: make(chan struct{}, 1),
		hosts: hostcheck.New(opts.AllowedHosts),
	}
	var names []string
	for _, t := range opts.Terminals {
		s.providerOf[t.Name] = t.Provider
		s.terminals[t.Name] = t
		names = append(names, t.Name)
	}
	s.metrics.reg.MustRegister(newOutboxCollector(store, names, opts.Now))

	static, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(static)
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.page)
	m.Handle("GET /static/", s.pageOnly(http.StripPrefix("/static/", files)))
	m.Handle("GET /favicon.ico", http.RedirectHandler("/static/favicon.svg", http.StatusMovedPermanently))
	m.Handle("GET /events", s.pageOnly(http.HandlerFunc(s.events)))
	m.Handle("GET /api/status", s.pageOnly(http.HandlerFunc(s.status)))
	m.Handle("POST /api/reconcile", s.supportOnly(s.reconcile))
	m.Handle("POST /api/cancel", s.supportOnly(s.cancel))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	m.HandleFunc("GET /readyz", s.ready)
	m.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorLog: slogErrorLog{s.log}}))
	s.mux = m
	return s
}

// Metrics returns the observer to hand to the dispatcher and the
// WebSocket server.
func (s *Server) Metrics() *Metrics { return s.metrics }

// ServeHTTP checks the Host header, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hosts.Allow(r) {
		s.log.Warn("refused HTTP request: Host not allowed", "host", r.Host, "remote", r.RemoteAddr, "path", r.URL.Path)
		http.Error(w, "tezgah: Host "+r.Host+" is not allowed; add it to agent.allowed_hosts", http.StatusForbidden)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	s.mux.ServeHTTP(w, r)
}

// Close ends the live feeds, so an HTTP server's Shutdown does not wait
// for them; the agent calls it when shutdown begins.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

// Run follows the outbox's event log until ctx is done: it counts
// acceptances and results for /metrics and pushes a fresh snapshot to
// the open pages, at most every MinInterval.
func (s *Server) Run(ctx context.Context) error {
	defer s.Close()
	cursor := s.store.LastSeq()
	refresh := time.NewTicker(s.opts.Refresh)
	defer refresh.Stop()
	var lastPush time.Time
	for {
		changed := s.store.Changed()
		for cursor < s.store.LastSeq() {
			evs, err := s.store.Events(ctx, cursor, 256)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.log.Error("status page: reading events failed", "err", err)
				break
			}
			if len(evs) == 0 {
				cursor = s.store.LastSeq()
				break
			}
			cursor = evs[len(evs)-1].Seq
			if err := s.metrics.countEvents(ctx, s.store, evs, s.providerOf); err != nil && ctx.Err() == nil {
				s.log.Error("status page: counting events failed", "err", err)
			}
		}
		// Throttling is about real time, whatever clock the agent runs on.
		if wait := s.opts.MinInterval - time.Since(lastPush); wait > 0 && !lastPush.IsZero() {
			// Coalesce a burst: wait out the interval, then push once.
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			if cursor < s.store.LastSeq() {
				continue
			}
		}
		if s.hasClients() {
			s.push(ctx)
			lastPush = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-refresh.C:
		case <-s.kick:
		}
	}
}

func (s *Server) hasClients() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients) > 0
}

// push builds one snapshot and offers it to every open page; a page that
// has not taken the previous one gets the newer instead.
func (s *Server) push(ctx context.Context) {
	snap, err := s.Snapshot(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("status page: snapshot failed", "err", err)
		}
		return
	}
	b, err := json.Marshal(snap)
	if err != nil {
		s.log.Error("status page: snapshot failed", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest = b
	for ch := range s.clients {
		select {
		case <-ch:
		default:
		}
		ch <- b
	}
}

func (s *Server) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// events is the live feed: a "hello" event saying what this client may
// do, then a "snapshot" event on every change.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	ch := make(chan []byte, 1)
	s.mu.Lock()
	s.clients[ch] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.clients, ch)
		s.mu.Unlock()
	}()
	// The first snapshot is built for this client at once rather than
	// waiting for the next push.
	snap, err := s.Snapshot(r.Context())
	if err != nil {
		http.Error(w, "tezgah: status unavailable", http.StatusServiceUnavailable)
		return
	}
	first, _ := json.Marshal(snap)
	hello, _ := json.Marshal(map[string]bool{"actions": isLoopback(r.RemoteAddr)})
	write := func(event string, data []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if _, err := io.WriteString(w, "retry: 2000\n\n"); err != nil {
		return
	}
	if !write("hello", hello) || !write("snapshot", first) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case b := <-ch:
			if !write("snapshot", b) {
				return
			}
		}
	}
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	snap, err := s.Snapshot(r.Context())
	if err != nil {
		s.log.Error("status failed", "err", err)
		http.Error(w, "tezgah: status unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(snap)
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	w.Header().Set("Cache-Control", "no-store")
	if err := s.agent.Ready(ctx); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// page serves index.html for / to those allowed to see the page.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	if !s.mayView(r) {
		s.refuseView(w, r)
		return
	}
	// Everything the page needs comes from this origin; inline scripts
	// and styles are refused, so text that slipped into the DOM as
	// markup could still not run.
	h := w.Header()
	h.Set("Content-Security-Policy",
		"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.Write(indexHTML)
}

func (s *Server) pageOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.mayView(r) {
			s.refuseView(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// mayView: this machine, or a client with the pairing token.
func (s *Server) mayView(r *http.Request) bool {
	if isLoopback(r.RemoteAddr) {
		return true
	}
	if s.opts.PairingToken == "" {
		return false
	}
	tok := r.URL.Query().Get("token")
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		tok = v
	}
	return subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.PairingToken)) == 1
}

func (s *Server) refuseView(w http.ResponseWriter, r *http.Request) {
	s.log.Warn("refused status page: not loopback and no valid pairing token", "remote", r.RemoteAddr)
	http.Error(w, "tezgah: the status page is for this machine; from elsewhere add ?token=<agent.pairing_token>", http.StatusUnauthorized)
}

// actionRequest is the body of a support action.
type actionRequest struct {
	ID string `json:"id"`
}

// maxActionID bounds the id of a support action; register ids are far
// shorter.
const maxActionID = 128

// decodeAction reads {"id":"..."} and nothing else.
func decodeAction(body io.Reader) (string, error) {
	var req actionRequest
	dec := json.NewDecoder(io.LimitReader(body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return "", errors.New(`send {"id":"..."} naming the request`)
	}
	if dec.More() {
		return "", errors.New(`send one {"id":"..."} object`)
	}
	if req.ID == "" || len(req.ID) > maxActionID || !utf8.ValidString(req.ID) {
		return "", fmt.Errorf(`"id" must name a request (1 to %d characters)`, maxActionID)
	}
	return req.ID, nil
}

// actionResult is the answer to a support action; Error is a stable code.
type actionResult struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

// supportOnly guards a support action: loopback by address, JSON body,
// same origin. The checks are the CSRF defence: a page on another site
// can make the browser POST here, but not with a JSON content type
// without a CORS preflight we never answer, and never without its own
// Origin.
func (s *Server) supportOnly(fn func(ctx context.Context, id string) (int, actionResult)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reply := func(code int, res actionResult) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(res)
		}
		if !isLoopback(r.RemoteAddr) {
			s.log.Warn("refused support action: not from this machine", "path", r.URL.Path, "remote", r.RemoteAddr)
			reply(http.StatusForbidden, actionResult{Error: "loopback_only", Message: "support actions are only allowed on the agent's own machine"})
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !strings.EqualFold(origin, "http://"+r.Host) && !strings.EqualFold(origin, "https://"+r.Host) {
			s.log.Warn("refused support action: cross-origin", "path", r.URL.Path, "origin", origin, "remote", r.RemoteAddr)
			reply(http.StatusForbidden, actionResult{Error: "cross_origin", Message: "support actions must come from the status page itself"})
			return
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			s.log.Warn("refused support action: cross-site", "path", r.URL.Path, "sec_fetch_site", site, "remote", r.RemoteAddr)
			reply(http.StatusForbidden, actionResult{Error: "cross_origin", Message: "support actions must come from the status page itself"})
			return
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
			reply(http.StatusUnsupportedMediaType, actionResult{Error: "json_required", Message: `send {"id":"..."} with Content-Type: application/json`})
			return
		}
		id, err := decodeAction(r.Body)
		if err != nil {
			reply(http.StatusBadRequest, actionResult{Error: "invalid_request", Message: err.Error()})
			return
		}
		code, res := fn(r.Context(), id)
		s.log.Info("support action", "action", strings.TrimPrefix(r.URL.Path, "/api/"), "id", id,
			"remote", r.RemoteAddr, "ok", res.OK, "error", res.Error)
		if res.OK {
			s.wake()
		}
		reply(code, res)
	})
}

func (s *Server) reconcile(ctx context.Context, id string) (int, actionResult) {
	err := s.agent.Reconcile(ctx, id)
	switch {
	case err == nil:
		return http.StatusOK, actionResult{OK: true}
	case errors.Is(err, outbox.ErrNotFound):
		return http.StatusNotFound, actionResult{Error: "not_found", Message: "no request with id " + id}
	case errors.Is(err, outbox.ErrStale):
		return http.StatusConflict, actionResult{Error: "not_waiting", Message: id + " is final or being sent right now; nothing to hurry"}
	}
	s.log.Error("reconcile failed", "id", id, "err", err)
	return http.StatusServiceUnavailable, actionResult{Error: "unavailable", Message: "the agent could not do it now; try again"}
}

func (s *Server) cancel(ctx context.Context, id string) (int, actionResult) {
	_, err := s.agent.CancelRequest(ctx, id)
	switch {
	case err == nil:
		return http.StatusOK, actionResult{OK: true}
	case errors.Is(err, outbox.ErrNotFound):
		return http.StatusNotFound, actionResult{Error: "not_found", Message: "no request with id " + id}
	case errors.Is(err, outbox.ErrNotCancellable):
		return http.StatusConflict, actionResult{Error: "not_cancellable", Message: id + " may already have reached the provider; it will finish with its real result"}
	}
	s.log.Error("cancel failed", "id", id, "err", err)
	return http.StatusServiceUnavailable, actionResult{Error: "unavailable", Message: "the agent could not do it now; try again"}
}

func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// slogErrorLog lets promhttp report scrape errors through slog.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Error("metrics: " + fmt.Sprint(v...)) }
