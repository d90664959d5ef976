// Package agent is the running tezgah process: it opens the outbox, builds
// the provider adapters and the per-terminal workers, serves protocol v1
// over WebSocket, and shuts all of it down in order. In demo mode it also
// runs the provider simulators in-process, so the whole product works on a
// laptop with no account at any provider.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/dispatch"
	"github.com/tezgah/tezgah/agent/filedrop"
	"github.com/tezgah/tezgah/agent/pairing"
	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/agent/web"
	"github.com/tezgah/tezgah/agent/wsapi"
	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/bridge/cardvault"
	"github.com/tezgah/tezgah/bridge/vomsis"
	"github.com/tezgah/tezgah/outbox"
)

// Options are the parts of a run that do not come from the config file.
type Options struct {
	Version string
	Log     *slog.Logger
	// Demo runs the provider simulators in-process and points the
	// providers at them.
	Demo bool
	// Ready is called once the agent listens, with the WebSocket URL.
	Ready func(wsURL string)
	// TLSReady is called before Ready when TLS is on, with the
	// certificate's SHA-256 fingerprint (hex), for registers to pin.
	TLSReady func(fingerprint string)
	// Stopped, if set, is called once the workers have stopped, with
	// where the data is and what is still to do there: those requests go
	// on when the agent starts again.
	Stopped func(dataDir string, pending, unknown int)
	Now     func() time.Time
	// tuneWS lets benchmarks lift the per-client limits, which a
	// real register never reaches but a load generator does at once.
	tuneWS func(*wsapi.Options)
}

// Agent is one running agent.
type Agent struct {
	opts    Options
	log     *slog.Logger
	started time.Time

	// mu guards cfg and terminals, which Reload replaces whole. Submit
	// holds it shared until the request is stored, so a reload never
	// removes a terminal between the check and the commit.
	mu  sync.RWMutex
	cfg *config.Config

	store     *outbox.Store
	disp      *dispatch.Dispatcher
	ws        *wsapi.Server
	terminals map[string]bridge.Terminal // guarded by mu
	provs     map[string]bridge.Provider // guarded by mu
	// cards and pages serve card-not-present (Vomsis) sales; nil without
	// a [vomsis] table. See vomsis.go.
	cards *cardvault.Vault
	pages *vomsis.Pages

	web       *web.Server
	outage    *outageWatch // which providers are unreachable now (registers.go)
	queued    queuedSums   // the sales waiting on each provider during an outage (registers.go)
	workersUp atomic.Bool  // the dispatcher's workers are running (for /readyz)
}

// DBFile is the outbox's file name inside the data directory.
const DBFile = "tezgah.db"

// New checks cfg and prepares an agent; Run starts it.
func New(cfg *config.Config, opts Options) (*Agent, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &Agent{cfg: cfg, opts: opts, log: opts.Log, terminals: map[string]bridge.Terminal{}}
	for _, t := range cfg.Terminals {
		a.terminals[t.Name] = bridge.Terminal{Name: t.Name, Provider: t.Provider, DeviceID: t.DeviceID, Model: t.Model}
	}
	return a, nil
}

// Run runs the agent until ctx is done, then shuts down gracefully: new
// connections stop, open ones are told "going away", calls in flight get a
// grace period, and everything still pending stays in the outbox for the
// next start.
func (a *Agent) Run(ctx context.Context) error {
	a.started = a.opts.Now()
	dir := a.cfg.Agent.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: data dir: %w", err)
	}
	store, err := outbox.Open(filepath.Join(dir, DBFile), outbox.Options{Now: a.opts.Now, Log: a.log})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.store = store
	defer store.Close()

	var bg sync.WaitGroup
	bgCtx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { stopBG(); bg.Wait() }()

	if a.opts.Demo {
		if err := a.startSimulators(bgCtx, &bg); err != nil {
			return err
		}
	}
	providers, err := a.providers()
	if err != nil {
		return err
	}
	defer a.closeCards()
	a.provs = providers
	terms := make([]bridge.Terminal, 0, len(a.terminals))
	for _, t := range a.terminals {
		terms = append(terms, t)
	}
	a.web = a.newWeb(terms)
	a.outage = newOutageWatch(a.web.Metrics())
	a.disp, err = dispatch.New(store, providers, terms, dispatch.Options{Now: a.opts.Now, Log: a.log, Observer: a.outage})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	wsOpts := wsapi.Options{
		AgentID:        a.cfg.Agent.ID,
		AllowedOrigins: a.cfg.Agent.AllowedOrigins,
		AllowedHosts:   a.cfg.Agent.AllowedHosts,
		PairingToken:   a.cfg.Agent.PairingToken,
		MaxFrameBytes:  a.cfg.Agent.MaxFrameBytes,
		Log:            a.log,
		// Read on every connection attempt: `tezgah pair` works while
		// the agent runs.
		Observer:               a.web.Metrics(),
		Tokens:                 pairing.Open(dir),
		RequireTokenOnLoopback: a.cfg.LAN.RequireTokenOnLoopback,
		MaxConnsPerClient:      a.cfg.LAN.MaxConnectionsPerClient,
	}
	if a.opts.tuneWS != nil {
		a.opts.tuneWS(&wsOpts)
	}
	a.ws = wsapi.New(a, wsOpts)

	ln, err := net.Listen("tcp", a.cfg.Agent.Listen)
	if err != nil {
		return fmt.Errorf("agent: listen on %s: %w (is another tezgah running? change agent.listen or --listen)", a.cfg.Agent.Listen, err)
	}
	ln, scheme, fingerprint, err := a.secure(ln)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/ws", a.ws)
	// The HTTP door, for registers without WebSocket (wsapi/http.go).
	mux.HandleFunc("/v1/commands", a.ws.ServeCommands)
	mux.HandleFunc("/v1/requests/", a.ws.ServeRequests)
	mux.Handle("/", a.web) // status page, /healthz, /readyz, /metrics
	if err := a.servePages(mux, ln.Addr()); err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		// TLS handshake failures (scanners, registers with a wrong pin)
		// belong in the structured log, not on bare stderr.
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	srv.RegisterOnShutdown(a.web.Close) // live feeds never go idle by themselves
	srv.RegisterOnShutdown(a.ws.Drain)  // nor do long polls

	dispDone := make(chan error, 1)
	dctx, stopDisp := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDisp()
	a.workersUp.Store(true)
	go func() { err := a.disp.Run(dctx); a.workersUp.Store(false); dispDone <- err }()

	bg.Add(2)
	go func() { defer bg.Done(); a.prune(bgCtx) }()
	go func() { defer bg.Done(); a.web.Run(bgCtx) }()

	// Stopped before bg is waited for, whichever way Run returns.
	fdCtx, stopFD := context.WithCancel(ctx)
	defer stopFD()
	if err := a.startFiledrop(fdCtx, &bg); err != nil {
		stopDisp()
		<-dispDone
		return err
	}

	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	url := scheme + "://" + ln.Addr().String() + "/v1/ws"
	a.log.Info("tezgah listening", "url", url, "data_dir", dir, "terminals", len(a.terminals), "demo", a.opts.Demo)
	if a.opts.Ready != nil {
		a.opts.Ready(url)
	}
	adCtx, stopAd := context.WithCancel(bgCtx)
	adDone := make(chan struct{})
	go func() { defer close(adDone); a.advertise(adCtx, ln.Addr(), fingerprint) }()
	defer func() { stopAd(); <-adDone }()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-srvErr:
		runErr = fmt.Errorf("agent: http: %w", err)
	case err := <-dispDone:
		runErr = fmt.Errorf("agent: workers stopped: %v", err)
	}
	a.log.Info("shutting down")
	stopAd() // goodbye first, so no register starts connecting to a closing agent
	<-adDone
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	srv.Shutdown(sctx) // stops new connections; upgraded ones are ours to close
	a.ws.Shutdown(sctx)
	stopDisp()
	select {
	case <-dispDone:
	case <-sctx.Done():
		a.log.Warn("workers did not stop in time")
	}
	var pending, unknown int
	if stats, err := a.store.Stats(sctx); err == nil {
		for _, st := range stats {
			pending += st.Pending
			unknown += st.Unknown
		}
	}
	a.log.Info("stopped", "data_dir", dir, "pending", pending, "unknown", unknown)
	if a.opts.Stopped != nil {
		a.opts.Stopped(dir, pending, unknown)
	}
	return runErr
}

// startFiledrop runs the drop folder for the agent's lifetime; it stops
// with ctx, before the store closes.
func (a *Agent) startFiledrop(ctx context.Context, bg *sync.WaitGroup) error {
	fd := a.cfg.Filedrop
	if !fd.Enabled {
		return nil
	}
	// Files that ran nothing, or not whole, show on /metrics: a program
	// that never reads failed/ is noticed there.
	files := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tezgah_filedrop_files_total",
		Help: "Things put into the drop folder's inbox, by how they ended: done, changed_while_processing, failed, not_a_file, put_back.",
	}, []string{"outcome"})
	if err := a.web.Metrics().Registry().Register(files); err != nil {
		return fmt.Errorf("agent: file drop metrics: %w", err)
	}
	for _, o := range []string{filedrop.OutcomeDone, filedrop.OutcomeChanged, filedrop.OutcomeFailed, filedrop.OutcomeNotAFile, filedrop.OutcomePutBack} {
		files.WithLabelValues(o) // at 0 from the first scrape, so increase() sees the first
	}
	f, err := filedrop.New(filedropBackend{a.as(FiledropRegister), a.web.Metrics()}, filedrop.Options{
		Dir: FiledropDir(a.cfg), StableFor: fd.StableFor.Duration, Rescan: fd.Rescan.Duration,
		Poll: fd.Poll, Policy: fd.Policy, ResultFormats: fd.ResultFormats,
		Log: a.log, Now: a.opts.Now,
		Outcome: func(o string) { files.WithLabelValues(o).Inc() },
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	bg.Add(1)
	go func() { defer bg.Done(); f.Run(ctx) }()
	return nil
}

// filedropBackend is the agent as the drop folder sees it: its own
// register, and a result the folder looks up goes into a result file, so
// for /metrics it has been delivered.
//
// A file the version before registers half ran is resumed with that
// version's ids (filedrop.IsLegacyID), stored — and migrated — under
// register local: those ids are looked up, submitted and followed there,
// so nothing of such a file runs twice.
type filedropBackend struct {
	registerBackend
	metrics *web.Metrics
}

func (b filedropBackend) route(id string) registerBackend {
	if filedrop.IsLegacyID(id) {
		return b.a.as(outbox.Local)
	}
	return b.registerBackend
}

func (b filedropBackend) Submit(ctx context.Context, c protocol.Command) (outbox.Event, bool, error) {
	return b.route(c.ID).Submit(ctx, c)
}

func (b filedropBackend) Check(ctx context.Context, c protocol.Command) error {
	return b.route(c.ID).Check(ctx, c)
}

func (b filedropBackend) Lookup(ctx context.Context, id string) (outbox.Event, error) {
	ev, err := b.route(id).Lookup(ctx, id)
	if err == nil && ev.Type == outbox.EventResult {
		b.metrics.Delivered(ev.Register, id, ev.Seq)
	}
	return ev, err
}

// Events is registerBackend's, with the legacy ids' events of local kept.
func (b filedropBackend) Events(ctx context.Context, since int64, limit int) ([]outbox.Event, error) {
	return b.a.eventsOf(ctx, since, limit, func(ev outbox.Event) bool {
		return ev.Register == b.register || (ev.Register == outbox.Local && filedrop.IsLegacyID(ev.ID))
	})
}

// FiledropDir is the drop folder cfg configures: [filedrop] dir, else
// <data_dir>/filedrop.
func FiledropDir(cfg *config.Config) string {
	if cfg.Filedrop.Dir != "" {
		return cfg.Filedrop.Dir
	}
	return filepath.Join(cfg.Agent.DataDir, "filedrop")
}

// prune deletes final requests past the retention period, hourly.
func (a *Agent) prune(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		a.mu.RLock()
		retention := a.cfg.Agent.Retention.Duration
		a.mu.RUnlock()
		n, err := a.store.Prune(ctx, a.opts.Now().Add(-retention))
		if err != nil && ctx.Err() == nil {
			a.log.Error("prune failed", "err", err)
		} else if n > 0 {
			a.log.Info("pruned requests past retention", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Submit implements wsapi.Backend: it validates c against what the agent
// knows (terminals, original sales) and stores it durably.
func (a *Agent) Submit(ctx context.Context, c protocol.Command) (outbox.Event, bool, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if c.Register == "" {
		c.Register = outbox.Local
	}
	if err := a.admit(ctx, c); err != nil {
		return outbox.Event{}, false, err
	}
	if err := a.checkBusy(ctx, c); err != nil {
		return outbox.Event{}, false, err
	}
	req := outbox.NewRequest{Register: c.Register, ID: c.ID, Terminal: c.Terminal, Op: c.Type, Body: c.Canonical(), OriginalID: c.OriginalID}
	if protocol.Expires(c.Type) {
		d := a.cfg.Agent.SaleTimeout.Duration
		if c.ExpiresIn > 0 {
			d = time.Duration(c.ExpiresIn) * time.Second
		}
		req.Deadline = a.opts.Now().Add(d)
	}
	stored := a.holdCard(c, req.Deadline.Sub(a.opts.Now()))
	ev, existing, err := a.store.Accept(ctx, req)
	stored(err == nil && !existing)
	if errors.Is(err, outbox.ErrIDConflict) {
		return outbox.Event{}, false, protocol.Errorf(protocol.CodeIDConflict, "id",
			"id %q was already used for a different request; use a new id for a new request", c.ID)
	}
	if err != nil {
		if !errors.Is(err, outbox.ErrClosed) && ctx.Err() == nil {
			a.web.Metrics().DatabaseError(web.DBAccept)
		}
		return outbox.Event{}, false, err
	}
	if !existing {
		if c.Type == protocol.TypeSale || c.Type == protocol.TypePartialAdd {
			a.queued.add(a.terminals[c.Terminal].Provider, c.Amount)
		}
		a.log.Info("accepted", "id", c.ID, "register", c.Register, "terminal", c.Terminal, "op", c.Type)
		a.disp.Wake(c.Terminal)
	}
	return ev, existing, nil
}

// Check makes every check Submit makes before storing, storing nothing,
// so the file drop judges a whole file first (filedrop.Backend, through
// registerBackend).
func (a *Agent) Check(ctx context.Context, c protocol.Command) error {
	if c.Register == "" {
		c.Register = outbox.Local
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.admit(ctx, c)
}

// admit is the one gate of a request before it is stored, for both front
// doors: the terminal, the original it names, what the terminal's
// provider accepts, and card data only where it belongs. a.mu is held.
func (a *Agent) admit(ctx context.Context, c protocol.Command) error {
	if _, ok := a.terminals[c.Terminal]; !ok {
		return protocol.Errorf(protocol.CodeUnknownTerminal, "terminal",
			"no terminal %q; this agent has %s", c.Terminal, a.terminalNames())
	}
	var orig *outbox.Record
	if c.OriginalID != "" {
		var err error
		if orig, err = a.checkOriginal(ctx, c); err != nil {
			return err
		}
	}
	if err := a.validate(ctx, c, orig); err != nil {
		return err
	}
	return a.checkCard(c)
}

// validate lets the terminal's adapter refuse what its provider cannot
// do (an operation it lacks, a field it needs), before anything is stored.
// A refund comes with its sale (orig, found by checkOriginal) and the
// sale's other refunds that are approved or still pending, so the adapter
// can check its lines against what is left to refund.
func (a *Agent) validate(ctx context.Context, c protocol.Command, orig *outbox.Record) error {
	t := a.terminals[c.Terminal]
	v, ok := a.provs[t.Provider].(bridge.Validator)
	if !ok {
		return nil
	}
	r := bridge.Request{ID: c.ID, Op: bridge.Op(c.Type), Terminal: t, Amount: c.Amount, Items: c.Items, Customer: c.Customer}
	if orig != nil && c.Type == protocol.TypeRefund {
		o, err := a.refundOriginal(ctx, c, orig)
		if err != nil {
			return err
		}
		r.Original = o
	}
	return providerError(v.Validate(r))
}

// refundOriginal is a refund's sale with its lines and the sale's other
// refunds that are approved or still pending.
func (a *Agent) refundOriginal(ctx context.Context, c protocol.Command, orig *outbox.Record) (*bridge.Original, error) {
	oc, perr := protocol.Decode(orig.Body)
	if perr != nil {
		return nil, fmt.Errorf("agent: stored sale %s: %v", orig.ID, perr)
	}
	o := &bridge.Original{ID: orig.ID, Reference: orig.Reference, Amount: oc.Amount, Items: oc.Items}
	related, err := a.store.Related(ctx, orig.Register, orig.ID)
	if err != nil {
		return nil, fmt.Errorf("agent: refunds of %s: %w", orig.ID, err)
	}
	for _, r := range related {
		if r.Op != protocol.TypeRefund || r.ID == c.ID || (r.State.Final() && r.State != outbox.Approved) {
			continue
		}
		rc, perr := protocol.Decode(r.Body)
		if perr != nil {
			return nil, fmt.Errorf("agent: stored refund %s: %v", r.ID, perr)
		}
		o.Refunds = append(o.Refunds, bridge.Refund{ID: r.ID, Amount: rc.Amount, Items: rc.Items})
	}
	return o, nil
}

// providerError turns an adapter's verdict on the register's input into
// the protocol's error; other errors pass unchanged.
func providerError(err error) error {
	var ie *bridge.InputError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		code := ie.Code
		if code == "" {
			code = protocol.CodeInvalidField
		}
		return protocol.Errorf(code, ie.Field, "%s", ie.Message)
	case errors.Is(err, bridge.ErrUnsupported):
		return protocol.Errorf(protocol.CodeUnsupportedOp, "type", "%v", err)
	}
	return err
}

// Call implements wsapi.Backend: it asks the terminal's provider
// something that moves no money and answers at once; nothing is stored.
func (a *Agent) Call(ctx context.Context, c protocol.Command) (protocol.Event, error) {
	a.mu.RLock()
	t, ok := a.terminals[c.Terminal]
	prov := a.provs[t.Provider]
	names := a.terminalNames()
	a.mu.RUnlock()
	if !ok {
		return protocol.Event{}, protocol.Errorf(protocol.CodeUnknownTerminal, "terminal",
			"no terminal %q; this agent has %s", c.Terminal, names)
	}
	caller, ok := prov.(bridge.Caller)
	if !ok {
		return protocol.Event{}, protocol.Errorf(protocol.CodeUnsupportedOp, "op", "%s terminals offer no calls", t.Provider)
	}
	call := bridge.Call{ID: c.ID, Op: c.Op, Terminal: t, Params: c.Params}
	if err := a.callOriginal(ctx, c.Register, &call); err != nil {
		return protocol.Event{}, err
	}
	data, err := caller.Call(ctx, call)
	if err != nil {
		var be *bridge.Error
		if errors.As(err, &be) {
			a.log.Warn("call failed", "id", c.ID, "terminal", t.Name, "op", c.Op, "err", err)
			return protocol.Event{}, protocol.Errorf(protocol.CodeProviderUnavailable, "",
				"%s did not answer (%s); nothing changed, ask again later", t.Provider, be.Code)
		}
		if errors.Is(err, bridge.ErrUnsupported) {
			return protocol.Event{}, protocol.Errorf(protocol.CodeUnsupportedOp, "op", "%v", err)
		}
		return protocol.Event{}, providerError(err)
	}
	return protocol.Event{Type: "reply", ID: c.ID, Op: c.Op, Data: data}, nil
}

// checkOriginal checks original_id and returns the original it names.
func (a *Agent) checkOriginal(ctx context.Context, c protocol.Command) (*outbox.Record, error) {
	orig, _, err := a.store.Get(ctx, c.Register, c.OriginalID)
	if errors.Is(err, outbox.ErrNotFound) {
		return nil, protocol.Errorf(protocol.CodeUnknownOriginal, "original_id",
			"no sale with id %q (unknown, or older than the retention period)", c.OriginalID)
	}
	if err != nil {
		return nil, err
	}
	if want := protocol.OriginalType(c.Type); orig.Op != want {
		return nil, protocol.Errorf(protocol.CodeInvalidOriginal, "original_id", "%q is a %s, not a %s", c.OriginalID, orig.Op, want)
	}
	if orig.State.Final() && orig.State != outbox.Approved {
		return nil, protocol.Errorf(protocol.CodeInvalidOriginal, "original_id", "sale %q is %s, not approved: there is nothing to %s", c.OriginalID, orig.State, c.Type)
	}
	if c.Type == protocol.TypeRefund || c.Type == protocol.TypePartialAdd {
		oc, perr := protocol.Decode(orig.Body)
		if perr != nil {
			return nil, fmt.Errorf("agent: stored sale %s: %v", orig.ID, perr)
		}
		if oc.Amount.Currency != c.Amount.Currency {
			return nil, protocol.Errorf(protocol.CodeInvalidField, "currency", "the sale was in %s; %s in the same currency", oc.Amount.Currency, c.Type)
		}
		if c.Amount.Minor > oc.Amount.Minor {
			return nil, protocol.Errorf(protocol.CodeAmountExceeds, "amount", "%s %s is more than the sale's %s", c.Type, c.Amount, oc.Amount)
		}
	}
	return orig, nil
}

func (a *Agent) terminalNames() string {
	names := make([]string, 0, len(a.terminals))
	for n := range a.terminals {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}

// Lookup implements wsapi.Backend: register's request id.
func (a *Agent) Lookup(ctx context.Context, register, id string) (outbox.Event, error) {
	_, ev, err := a.store.Get(ctx, register, id)
	return ev, err
}

// Cancel implements wsapi.Backend.
func (a *Agent) Cancel(ctx context.Context, register, id string) (outbox.Event, error) {
	ev, err := a.store.Cancel(ctx, register, id)
	if errors.Is(err, outbox.ErrNotCancellable) {
		return a.withdraw(ctx, register, id, err)
	}
	if err == nil {
		r, _, gerr := a.store.Get(ctx, register, id)
		if gerr == nil {
			a.log.Info("cancelled before it was sent", "id", id, "register", register, "terminal", r.Terminal)
			a.disp.Wake(r.Terminal)
		}
	}
	return ev, err
}

// Status implements wsapi.Backend.
func (a *Agent) Status(ctx context.Context) (protocol.Event, error) {
	stats, err := a.store.Stats(ctx)
	if err != nil {
		return protocol.Event{}, err
	}
	last := a.store.LastSeq()
	a.mu.RLock()
	ev := protocol.Event{
		Type:    "status",
		LastSeq: &last,
		Agent:   &protocol.AgentInfo{ID: a.cfg.Agent.ID, Version: a.opts.Version, Uptime: int64(a.opts.Now().Sub(a.started).Seconds())},
	}
	for _, name := range sortedKeys(a.terminals) {
		t := a.terminals[name]
		st := stats[name]
		ti := protocol.TerminalInfo{Name: name, Provider: t.Provider, Model: t.Model, Pending: st.Pending, Unknown: st.Unknown}
		if !st.Oldest.IsZero() {
			ti.OldestPending = st.Oldest.UTC().Format(time.RFC3339)
		}
		ev.Terminals = append(ev.Terminals, ti)
	}
	probes := map[int]bridge.Prober{}
	terms := map[int]bridge.Terminal{}
	for i, ti := range ev.Terminals {
		t := a.terminals[ti.Name]
		if p, ok := a.provs[t.Provider].(bridge.Prober); ok {
			probes[i], terms[i] = p, t
		}
	}
	a.mu.RUnlock()
	a.probe(ctx, ev.Terminals, probes, terms)
	return ev, nil
}

// probeTimeout bounds how long status waits for a provider to say whether
// its terminals are reachable: the register is waiting for the answer.
const probeTimeout = 3 * time.Second

// probe asks, all at once, the providers that can tell whether their
// terminals are reachable now.
func (a *Agent) probe(ctx context.Context, out []protocol.TerminalInfo, probes map[int]bridge.Prober, terms map[int]bridge.Terminal) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := p.Connected(ctx, terms[i])
			if err != nil {
				out[i].ConnectivityError = bridge.CodeOf(err)
				return
			}
			out[i].Connected = &ok
		}()
	}
	wg.Wait()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Events implements wsapi.Backend.
func (a *Agent) Events(ctx context.Context, since int64, limit int) ([]outbox.Event, error) {
	return a.store.Events(ctx, since, limit)
}

// Changed implements wsapi.Backend.
func (a *Agent) Changed() <-chan struct{} { return a.store.Changed() }

// LastSeq implements wsapi.Backend.
func (a *Agent) LastSeq() int64 { return a.store.LastSeq() }
