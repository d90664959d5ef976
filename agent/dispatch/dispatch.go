// Package dispatch runs the agent's workers: one goroutine per terminal
// takes that terminal's requests from the outbox in arrival order and
// carries each to a final state through its provider, applying the
// money-safety rules of DESIGN.md:
//
//   - a request is marked "sending" durably before any call, so a crash
//     mid-call is found as "unknown" on restart and reconciled;
//   - anything that may have reached the provider is queried by its stored
//     reference before it is ever sent again, and sent again only when the
//     provider says it never saw it;
//   - a sale not sent by its deadline is expired and never sent;
//   - failures back off exponentially with jitter, honouring Retry-After
//     for every terminal of that provider.
//
// Workers sleep on a channel until woken by new work or a timer for a
// retry or a deadline; an idle agent does no work at all.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/outbox"
)

// Options tune a Dispatcher. Zero values take the defaults.
type Options struct {
	Now func() time.Time
	Log *slog.Logger
	// BaseDelay and MaxDelay bound the exponential backoff.
	BaseDelay time.Duration // default 500ms
	MaxDelay  time.Duration // default 30s
	// Grace is how long a provider call in flight at shutdown may go on
	// before it is cut. Cutting it is safe (the request stays "sending"
	// and is reconciled on the next start) but a finished call saves a
	// query, and a customer standing at the terminal.
	Grace time.Duration // default 10s
	// Observer is told of provider calls, retries, reconciliations and
	// pauses, for metrics and the status page. Nil: nobody listens.
	Observer Observer
}

// Observer watches the workers. Its methods are called from worker
// goroutines in the middle of a request's life, so they must be quick
// and must not block.
type Observer interface {
	// Call reports one provider call ("send" or "query") and how long it
	// took; err is nil when the provider gave an answer.
	Call(provider, terminal, call string, took time.Duration, err error)
	// Retry reports a request put back to wait until next, with the
	// reason code the outbox stores.
	Retry(provider, terminal, reason string, next time.Time)
	// Reconciled reports what a query said about a request that may have
	// reached the provider: the final status, or "not_found".
	Reconciled(provider, terminal, outcome string)
	// Paused reports that the provider asked for no calls until until
	// (Retry-After); every terminal of the provider waits.
	Paused(provider string, until time.Time)
}

// StoreObserver is what an Observer may also implement to hear of a
// worker's step failing on the outbox (the database), which the worker
// logs and retries.
type StoreObserver interface {
	StoreError(provider, terminal string, err error)
}

type nopObserver struct{}

func (nopObserver) Call(string, string, string, time.Duration, error) {}
func (nopObserver) Retry(string, string, string, time.Time)           {}
func (nopObserver) Reconciled(string, string, string)                 {}
func (nopObserver) Paused(string, time.Time)                          {}

// Dispatcher owns the workers.
type Dispatcher struct {
	store     *outbox.Store
	providers map[string]bridge.Provider
	now       func() time.Time
	log       *slog.Logger
	base, max time.Duration
	grace     time.Duration
	obs       Observer

	mu        sync.Mutex // guards providers, terminals, wake, gates, workers, running, calls
	terminals map[string]bridge.Terminal
	wake      map[string]chan struct{}
	gates     map[string]time.Time // provider -> not before (Retry-After)
	// workers, running and calls exist while Run runs, so Update can
	// start and stop workers then (see update.go).
	workers map[string]*workerRun
	running context.Context
	calls   context.Context
	wg      sync.WaitGroup
}

// New returns a dispatcher for terminals, whose Provider names must be
// keys of providers.
func New(store *outbox.Store, providers map[string]bridge.Provider, terminals []bridge.Terminal, opts Options) (*Dispatcher, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = 500 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 30 * time.Second
	}
	if opts.Grace <= 0 {
		opts.Grace = 10 * time.Second
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	d := &Dispatcher{
		store: store, providers: providers,
		now: opts.Now, log: opts.Log,
		base: opts.BaseDelay, max: opts.MaxDelay, grace: opts.Grace, obs: opts.Observer,
		terminals: map[string]bridge.Terminal{},
		wake:      map[string]chan struct{}{},
		gates:     map[string]time.Time{},
		workers:   map[string]*workerRun{},
	}
	for _, t := range terminals {
		if _, ok := providers[t.Provider]; !ok {
			return nil, fmt.Errorf("dispatch: terminal %s: no provider %q", t.Name, t.Provider)
		}
		d.terminals[t.Name] = t
		d.wake[t.Name] = make(chan struct{}, 1)
	}
	return d, nil
}

// Wake tells terminal's worker that there is new work.
func (d *Dispatcher) Wake(terminal string) {
	d.mu.Lock()
	ch := d.wake[terminal]
	d.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run recovers requests interrupted by a crash, then runs one worker per
// terminal until ctx is done and every worker has stopped.
func (d *Dispatcher) Run(ctx context.Context) error {
	n, err := d.store.Recover(ctx)
	if err != nil {
		return fmt.Errorf("dispatch: %w", err)
	}
	if n > 0 {
		d.log.Warn("requests interrupted mid-call; reconciling them with the provider", "count", n)
	}
	// Provider calls run on a context that outlives ctx by the grace
	// period, so a sale already on the terminal can finish.
	calls, cut := context.WithCancel(context.WithoutCancel(ctx))
	defer cut()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(d.grace, cut) })
	defer stop()

	d.mu.Lock()
	d.running, d.calls = ctx, calls
	for name := range d.terminals {
		d.startLocked(name, nil)
	}
	d.mu.Unlock()
	<-ctx.Done()
	d.mu.Lock()
	d.running, d.calls = nil, nil // Update starts no worker from now on
	d.mu.Unlock()
	d.wg.Wait()
	return nil
}

func (d *Dispatcher) gate(provider string) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gates[provider]
}

func (d *Dispatcher) setGate(provider string, until time.Time) {
	d.mu.Lock()
	if until.After(d.gates[provider]) {
		d.gates[provider] = until
	}
	d.mu.Unlock()
}

// backoff returns the pause before try n (1-based): exponential, capped,
// with "equal jitter" so terminals that failed together do not retry
// together.
func (d *Dispatcher) backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	b := d.base
	for i := 1; i < n && b < d.max; i++ {
		b *= 2
	}
	b = min(b, d.max)
	return b/2 + rand.N(b/2+1)
}

type worker struct {
	d     *Dispatcher
	term  bridge.Terminal
	wake  chan struct{}
	calls context.Context
	// tries counts failed tries of the current head (sends and queries),
	// for the backoff; it is reset when the head changes.
	head  int64 // the head's arrival number: ids repeat across registers
	tries int
	// drained is set when a result committed with nothing else pending
	// for the terminal (outbox.FinishNext).
	drained bool
}

func (w *worker) run(ctx context.Context) {
	log := w.d.log.With("terminal", w.term.Name)
	for ctx.Err() == nil {
		wait, err := w.step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Error("worker step failed; retrying", "err", err)
			if so, ok := w.d.obs.(StoreObserver); ok {
				so.StoreError(w.term.Provider, w.term.Name, err)
			}
			wait = w.d.backoff(3)
		}
		if wait == 0 {
			continue
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// step does one unit of work. It returns how long to wait before the next
// step: 0 for at once, < 0 for until woken.
//
// Deadlines are looked at only when the worker is about to wait: a head
// that can go now is sent (or, past its own deadline, expired) at once,
// and sales behind it are expired when they come up, before anything is
// sent for them. Asking for the earliest deadline at every step was a
// tenth of the agent's CPU with busy workers (docs/performance.md).
func (w *worker) step(ctx context.Context) (time.Duration, error) {
	d := w.d
	now := d.now()
	r, err := d.store.Head(ctx, w.term.Name)
	if err != nil {
		return 0, err
	}
	if r == nil {
		return -1, nil // nothing pending, so no deadline either
	}
	if r.N != w.head {
		w.head, w.tries = r.N, 0
	}
	notBefore := r.NextAt
	if g := d.gate(w.term.Provider); g.After(notBefore) {
		notBefore = g
	}
	if !notBefore.After(now) {
		w.drained = false
		err := w.process(ctx, r)
		if w.drained {
			return -1, err // until the next accept's wake-up
		}
		return 0, err
	}
	// The head waits for its retry time: sales behind it must still
	// expire on time.
	deadline, err := d.store.NextDeadline(ctx, w.term.Name)
	if err != nil {
		return 0, err
	}
	if !deadline.IsZero() && !deadline.After(now) {
		_, err := w.expire(ctx, now)
		return 0, err
	}
	wait := notBefore.Sub(now)
	if !deadline.IsZero() {
		wait = min(wait, deadline.Sub(now))
	}
	return wait, nil
}

// expire expires the terminal's never-sent sales whose deadline has
// passed.
func (w *worker) expire(ctx context.Context, now time.Time) ([]outbox.Event, error) {
	evs, err := w.d.store.ExpireDue(ctx, w.term.Name, now)
	for _, e := range evs {
		w.d.log.Info("expired: its deadline passed before it could be sent; it never will be", "id", e.ID, "terminal", w.term.Name)
	}
	return evs, err
}

// saleLog logs about one request, with its id, terminal, op and
// reference. It formats those attributes (slog's With) on its first
// enabled line rather than for every sale: at log_level warn a sale that
// goes well logs nothing, and formatting them anyway was a hundredth of
// the agent's CPU at a few thousand sales a second.
type saleLog struct {
	base *slog.Logger
	r    *outbox.Record
	term string
	l    *slog.Logger
}

func (w *worker) saleLog(r *outbox.Record) *saleLog {
	return &saleLog{base: w.d.log, r: r, term: w.term.Name}
}

func (s *saleLog) Debug(msg string, args ...any) { s.log(slog.LevelDebug, msg, args) }
func (s *saleLog) Info(msg string, args ...any)  { s.log(slog.LevelInfo, msg, args) }
func (s *saleLog) Warn(msg string, args ...any)  { s.log(slog.LevelWarn, msg, args) }

func (s *saleLog) log(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	if !s.base.Enabled(ctx, level) {
		return
	}
	if s.l == nil {
		s.l = s.base.With("id", s.r.ID, "terminal", s.term, "op", s.r.Op, "reference", s.r.Reference)
	}
	s.l.Log(ctx, level, msg, args...)
}

// process moves r one step towards its final state.
func (w *worker) process(ctx context.Context, r *outbox.Record) error {
	d := w.d
	// Writes after a call must land even if shutdown began during it.
	sctx := context.WithoutCancel(ctx)
	log := w.saleLog(r)
	req, final, err := w.request(ctx, r)
	if err != nil {
		return err
	}
	if final != nil {
		return w.finish(sctx, r, *final, log)
	}
	if req == nil { // waiting for the original sale to finish elsewhere
		_, err := d.store.Defer(sctx, r, r.State, d.now().Add(d.backoff(w.tries+1)), "waiting_for_original")
		w.tries++
		return err
	}
	prov := d.provider(w.term.Provider)
	if prov == nil { // the terminal was removed by a reload; its worker is stopping
		return fmt.Errorf("dispatch: terminal %s: no provider %q", w.term.Name, w.term.Provider)
	}

	if r.MaybeSent {
		start := time.Now()
		res, err := prov.Query(w.calls, *req)
		callErr := err
		if errors.Is(err, bridge.ErrNotFound) {
			callErr = nil // the provider answered: it never saw it
		}
		d.obs.Call(w.term.Provider, w.term.Name, "query", time.Since(start), callErr)
		switch {
		case err == nil:
			log.Info("reconciled by query", "status", res.Status)
			d.obs.Reconciled(w.term.Provider, w.term.Name, string(res.Status))
			return w.finish(sctx, r, res, log)
		case errors.Is(err, bridge.ErrNotFound):
			d.obs.Reconciled(w.term.Provider, w.term.Name, "not_found")
			if protocol.Expires(r.Op) && !r.Deadline.IsZero() && !d.now().Before(r.Deadline) {
				log.Info("provider never received the sale and its deadline passed: expired")
				_, err := d.store.Finish(sctx, r, outbox.Expired, nil)
				return err
			}
			log.Info("provider never received the request: sending again")
			r.MaybeSent = false
		default:
			w.tries++
			wait := max(d.backoff(w.tries), bridge.RetryAfterOf(err))
			log.Warn("query failed; will try again", "err", err, "in", wait)
			w.gateOn(err)
			d.obs.Retry(w.term.Provider, w.term.Name, "query_"+bridge.CodeOf(err), d.now().Add(wait))
			_, err := d.store.Defer(sctx, r, r.State, d.now().Add(wait), "query_"+bridge.CodeOf(err))
			return err
		}
	} else if protocol.Expires(r.Op) && !r.Deadline.IsZero() && !d.now().Before(r.Deadline) {
		evs, err := w.expire(sctx, d.now())
		if err != nil || slices.ContainsFunc(evs, func(e outbox.Event) bool { return e.ID == r.ID && e.Register == r.Register }) {
			return err
		}
		// A head ExpireDue did not take (only queued, never-sent sales
		// are its): ended here all the same, or the worker would come
		// back to it at once, for ever.
		_, err = d.store.Finish(sctx, r, outbox.Expired, nil)
		return err
	}

	if _, err := d.store.Begin(sctx, r); err != nil {
		if errors.Is(err, outbox.ErrStale) { // cancelled meanwhile
			return nil
		}
		return err
	}
	return w.send(ctx, prov, r, req, log)
}

// send makes the call r was begun for. While calls succeed it goes on
// with the terminal's next request, begun in the commit that finishes
// the one before (outbox.FinishNext), without a step in between.
func (w *worker) send(ctx context.Context, prov bridge.Provider, r *outbox.Record, req *bridge.Request, log *saleLog) error {
	d := w.d
	sctx := context.WithoutCancel(ctx)
	for {
		start := time.Now()
		log.Debug("sending", "attempt", r.Attempts)
		res, err := prov.Send(w.calls, *req)
		d.obs.Call(w.term.Provider, w.term.Name, "send", time.Since(start), err)
		if err != nil {
			return w.sendFailed(sctx, r, err, log)
		}
		next, drained, err := w.finishNext(sctx, r, res, log, func() bool {
			// Asked inside the commit: a begun request is called at
			// once, so none is begun while stopping or paused, or
			// after a reload took the provider away (the next one is
			// then the reloaded provider's, as after a step).
			if ctx.Err() != nil || w.calls.Err() != nil || d.gate(w.term.Provider).After(d.now()) {
				return false
			}
			prov = d.provider(w.term.Provider)
			return prov != nil
		})
		if err != nil || next == nil {
			w.drained = drained
			return err
		}
		r = next
		w.head, w.tries = r.N, 0
		log = w.saleLog(r)
		var final *bridge.Result
		req, final, err = w.request(ctx, r)
		switch {
		case err != nil:
			return err // r stays sending: the next step asks the provider before anything
		case final != nil:
			return w.finish(sctx, r, *final, log)
		case req == nil:
			return nil // cannot happen (FinishNext begins no refund); the next step queries
		}
	}
}

// sendFailed records a send that did not finish: r waits for its next
// try, queued if the call never left, unknown (to be queried) if it may
// have reached the provider.
func (w *worker) sendFailed(ctx context.Context, r *outbox.Record, err error, log *saleLog) error {
	d := w.d
	w.tries++
	kind := bridge.KindOf(err)
	state := outbox.Unknown
	wait := max(d.backoff(w.tries), bridge.RetryAfterOf(err))
	if kind == bridge.NotSent {
		// This attempt never reached the provider, and every earlier one
		// was ruled out by the provider's "not found" before it was made.
		state, r.MaybeSent = outbox.Queued, false
		w.gateOn(err)
	} else {
		// Ask soon: the answer is usually there already.
		wait = min(wait, d.base)
	}
	log.Warn("send did not finish", "attempt", r.Attempts, "kind", kind, "err", err, "retry_in", wait)
	d.obs.Retry(w.term.Provider, w.term.Name, bridge.CodeOf(err), d.now().Add(wait))
	_, err = d.store.Defer(ctx, r, state, d.now().Add(wait), bridge.CodeOf(err))
	return err
}

func (w *worker) gateOn(err error) {
	if ra := bridge.RetryAfterOf(err); ra > 0 {
		until := w.d.now().Add(ra)
		w.d.setGate(w.term.Provider, until)
		w.d.obs.Paused(w.term.Provider, until)
	}
}

func (w *worker) finish(ctx context.Context, r *outbox.Record, res bridge.Result, log *saleLog) error {
	_, _, err := w.finishNext(ctx, r, res, log, nil)
	return err
}

// finishNext records r's result; with begin, it also begins the
// terminal's next request when it can be sent at once, and returns it.
func (w *worker) finishNext(ctx context.Context, r *outbox.Record, res bridge.Result, log *saleLog, begin func() bool) (next *outbox.Record, drained bool, err error) {
	state := outbox.Failed
	switch res.Status {
	case bridge.Approved:
		state = outbox.Approved
	case bridge.Declined:
		state = outbox.Declined
	case bridge.Expired:
		state = outbox.Expired
	case bridge.Cancelled:
		state = outbox.Cancelled
	}
	body, err := json.Marshal(res)
	if err != nil {
		return nil, false, fmt.Errorf("dispatch: result of %s: %w", r.ID, err)
	}
	if begin == nil {
		_, err = w.d.store.Finish(ctx, r, state, body)
	} else {
		_, next, drained, err = w.d.store.FinishNext(ctx, r, state, body, w.d.now(), begin)
	}
	if err != nil {
		if errors.Is(err, outbox.ErrStale) {
			return nil, false, nil
		}
		return nil, false, err
	}
	log.Info("finished", "status", state, "code", res.Code)
	return next, drained, nil
}

// request builds the provider request for r. It returns a final result
// instead when r cannot be done (its original sale was not approved), and
// neither when r must wait for its original to finish.
func (w *worker) request(ctx context.Context, r *outbox.Record) (*bridge.Request, *bridge.Result, error) {
	cmd, perr := protocol.Decode(r.Body)
	if perr != nil {
		// The agent wrote this body itself; failing it is the only safe
		// move, and nothing was sent.
		return nil, &bridge.Result{Status: bridge.Failed, Code: "internal_error", Message: "stored request is unreadable: " + perr.Message}, nil
	}
	req := &bridge.Request{
		// The register's id, made unique across registers: adapters key
		// what they hold in memory by it (Vomsis's card and 3-D Secure
		// page), and Paywall shows it on the device.
		ID: protocol.QualifiedID(r.Register, r.ID), Op: bridge.Op(r.Op), Terminal: w.term, Amount: cmd.Amount, Reference: r.Reference,
		Items: cmd.Items, Customer: cmd.Customer, ProviderRef: r.ProviderRef, Summary: cmd.Summary,
		// Writes must land even if shutdown began during the call.
		Remember: func(ctx context.Context, ref string) error {
			return w.d.store.SetProviderRef(context.WithoutCancel(ctx), r, ref)
		},
	}
	if protocol.Expires(r.Op) {
		req.Deadline = r.Deadline
	}
	if r.OriginalID == "" {
		return req, nil, nil
	}
	orig, _, err := w.d.store.Get(ctx, r.Register, r.OriginalID)
	if errors.Is(err, outbox.ErrNotFound) {
		return nil, &bridge.Result{Status: bridge.Failed, Code: protocol.CodeUnknownOriginal, Message: "original sale " + r.OriginalID + " is no longer known"}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if !orig.State.Final() {
		return nil, nil, nil
	}
	if orig.State != outbox.Approved {
		return nil, &bridge.Result{Status: bridge.Failed, Code: protocol.CodeInvalidOriginal,
			Message: fmt.Sprintf("original sale %s is %s, not approved: there is nothing to %s", orig.ID, orig.State, r.Op)}, nil
	}
	var res bridge.Result
	if err := json.Unmarshal(orig.Result, &res); err != nil || res.Payment == nil {
		return nil, &bridge.Result{Status: bridge.Failed, Code: "internal_error", Message: "original sale's payment details are unreadable"}, nil
	}
	ocmd, _ := protocol.Decode(orig.Body)
	req.Original = &bridge.Original{ID: orig.ID, Reference: orig.Reference, Amount: ocmd.Amount, Payment: *res.Payment, Items: ocmd.Items}
	return req, nil, nil
}
