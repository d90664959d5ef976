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

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/dispatch"
	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/agent/web"
	"github.com/tezgah/tezgah/agent/wsapi"
	"github.com/tezgah/tezgah/bridge"
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
	Now   func() time.Time
}

// Agent is one running agent.
type Agent struct {
	cfg     *config.Config
	opts    Options
	log     *slog.Logger
	started time.Time

	store     *outbox.Store
	disp      *dispatch.Dispatcher
	ws        *wsapi.Server
	terminals map[string]bridge.Terminal

	web       *web.Server
	workersUp atomic.Bool // the dispatcher's workers are running (for /readyz)
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
	terms := make([]bridge.Terminal, 0, len(a.terminals))
	for _, t := range a.terminals {
		terms = append(terms, t)
	}
	a.web = a.newWeb(terms)
	a.disp, err = dispatch.New(store, providers, terms, dispatch.Options{Now: a.opts.Now, Log: a.log, Observer: a.web.Metrics()})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.ws = wsapi.New(a, wsapi.Options{
		AllowedOrigins: a.cfg.Agent.AllowedOrigins,
		AllowedHosts:   a.cfg.Agent.AllowedHosts,
		PairingToken:   a.cfg.Agent.PairingToken,
		MaxFrameBytes:  a.cfg.Agent.MaxFrameBytes,
		Log:            a.log,
		Observer:       a.web.Metrics(),
	})

	ln, err := net.Listen("tcp", a.cfg.Agent.Listen)
	if err != nil {
		return fmt.Errorf("agent: listen on %s: %w (is another tezgah running? change agent.listen or --listen)", a.cfg.Agent.Listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/ws", a.ws)
	mux.Handle("/", a.web) // status page, /healthz, /readyz, /metrics
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(a.web.Close) // live feeds never go idle by themselves

	dispDone := make(chan error, 1)
	dctx, stopDisp := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDisp()
	a.workersUp.Store(true)
	go func() { err := a.disp.Run(dctx); a.workersUp.Store(false); dispDone <- err }()

	bg.Add(2)
	go func() { defer bg.Done(); a.prune(bgCtx) }()
	go func() { defer bg.Done(); a.web.Run(bgCtx) }()

	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	url := "ws://" + ln.Addr().String() + "/v1/ws"
	a.log.Info("tezgah listening", "url", url, "data_dir", dir, "terminals", len(a.terminals), "demo", a.opts.Demo)
	if a.opts.Ready != nil {
		a.opts.Ready(url)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-srvErr:
		runErr = fmt.Errorf("agent: http: %w", err)
	case err := <-dispDone:
		runErr = fmt.Errorf("agent: workers stopped: %v", err)
	}
	a.log.Info("shutting down")
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
	a.log.Info("stopped")
	return runErr
}

// prune deletes final requests past the retention period, hourly.
func (a *Agent) prune(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := a.store.Prune(ctx, a.opts.Now().Add(-a.cfg.Agent.Retention.Duration))
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
	if _, ok := a.terminals[c.Terminal]; !ok {
		return outbox.Event{}, false, protocol.Errorf(protocol.CodeUnknownTerminal, "terminal",
			"no terminal %q; this agent has %s", c.Terminal, a.terminalNames())
	}
	if c.OriginalID != "" {
		if err := a.checkOriginal(ctx, c); err != nil {
			return outbox.Event{}, false, err
		}
	}
	req := outbox.NewRequest{ID: c.ID, Terminal: c.Terminal, Op: c.Type, Body: c.Canonical(), OriginalID: c.OriginalID}
	if c.Type == protocol.TypeSale {
		d := a.cfg.Agent.SaleTimeout.Duration
		if c.ExpiresIn > 0 {
			d = time.Duration(c.ExpiresIn) * time.Second
		}
		req.Deadline = a.opts.Now().Add(d)
	}
	ev, existing, err := a.store.Accept(ctx, req)
	if errors.Is(err, outbox.ErrIDConflict) {
		return outbox.Event{}, false, protocol.Errorf(protocol.CodeIDConflict, "id",
			"id %q was already used for a different request; use a new id for a new request", c.ID)
	}
	if err != nil {
		return outbox.Event{}, false, err
	}
	if !existing {
		a.log.Info("accepted", "id", c.ID, "terminal", c.Terminal, "op", c.Type)
		a.disp.Wake(c.Terminal)
	}
	return ev, existing, nil
}

func (a *Agent) checkOriginal(ctx context.Context, c protocol.Command) error {
	orig, _, err := a.store.Get(ctx, c.OriginalID)
	if errors.Is(err, outbox.ErrNotFound) {
		return protocol.Errorf(protocol.CodeUnknownOriginal, "original_id",
			"no sale with id %q (unknown, or older than the retention period)", c.OriginalID)
	}
	if err != nil {
		return err
	}
	if orig.Op != protocol.TypeSale {
		return protocol.Errorf(protocol.CodeInvalidOriginal, "original_id", "%q is a %s, not a sale", c.OriginalID, orig.Op)
	}
	if orig.State.Final() && orig.State != outbox.Approved {
		return protocol.Errorf(protocol.CodeInvalidOriginal, "original_id", "sale %q is %s, not approved: there is nothing to %s", c.OriginalID, orig.State, c.Type)
	}
	if c.Type == protocol.TypeRefund {
		oc, perr := protocol.Decode(orig.Body)
		if perr != nil {
			return fmt.Errorf("agent: stored sale %s: %v", orig.ID, perr)
		}
		if oc.Amount.Currency != c.Amount.Currency {
			return protocol.Errorf(protocol.CodeInvalidField, "currency", "the sale was in %s; refund in the same currency", oc.Amount.Currency)
		}
		if c.Amount.Minor > oc.Amount.Minor {
			return protocol.Errorf(protocol.CodeAmountExceeds, "amount", "refund %s is more than the sale's %s", c.Amount, oc.Amount)
		}
	}
	return nil
}

func (a *Agent) terminalNames() string {
	names := make([]string, 0, len(a.terminals))
	for n := range a.terminals {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}

// Lookup implements wsapi.Backend.
func (a *Agent) Lookup(ctx context.Context, id string) (outbox.Event, error) {
	_, ev, err := a.store.Get(ctx, id)
	return ev, err
}

// Cancel implements wsapi.Backend.
func (a *Agent) Cancel(ctx context.Context, id string) (outbox.Event, error) {
	ev, err := a.store.Cancel(ctx, id)
	if err == nil {
		r, _, gerr := a.store.Get(ctx, id)
		if gerr == nil {
			a.log.Info("cancelled before it was sent", "id", id, "terminal", r.Terminal)
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
	return ev, nil
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
