package agent

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tezgah/tezgah/agent/dispatch"
	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/money"
	"github.com/tezgah/tezgah/outbox"
)

// FiledropRegister is the file drop's register: its requests live in
// their own id namespace. The '@' cannot appear in a hello's name, so
// no register can ever send ids into it.
const FiledropRegister = "@filedrop"

// registerBackend is the agent as one register sees it: what it submits
// is that register's, what it looks up is among that register's ids.
// It serves the file drop, whose Backend predates registers.
type registerBackend struct {
	a        *Agent
	register string
}

func (a *Agent) as(register string) registerBackend { return registerBackend{a, register} }

func (b registerBackend) Submit(ctx context.Context, c protocol.Command) (outbox.Event, bool, error) {
	c.Register = b.register
	return b.a.Submit(ctx, c)
}

func (b registerBackend) Check(ctx context.Context, c protocol.Command) error {
	c.Register = b.register
	return b.a.Check(ctx, c)
}

func (b registerBackend) Lookup(ctx context.Context, id string) (outbox.Event, error) {
	return b.a.Lookup(ctx, b.register, id)
}

// Events hands back other registers' events with their id and state
// blanked rather than leaving them out: the caller pages by seq, and an
// id of another register may equal one of its own.
func (b registerBackend) Events(ctx context.Context, since int64, limit int) ([]outbox.Event, error) {
	return b.a.eventsOf(ctx, since, limit, func(ev outbox.Event) bool { return ev.Register == b.register })
}

// eventsOf pages through the event log, blanking the events not mine.
func (a *Agent) eventsOf(ctx context.Context, since int64, limit int, mine func(outbox.Event) bool) ([]outbox.Event, error) {
	evs, err := a.store.Events(ctx, since, limit)
	for i, ev := range evs {
		if !mine(ev) {
			evs[i] = outbox.Event{Seq: ev.Seq}
		}
	}
	return evs, err
}

func (b registerBackend) Changed() <-chan struct{} { return b.a.store.Changed() }
func (b registerBackend) LastSeq() int64           { return b.a.store.LastSeq() }

// How long a register is told to wait, per bound. A terminal frees a
// place in its queue in about the time of one card payment; an outage
// lasts longer, and meanwhile the register had better offer another
// way to pay.
const (
	minRetryAfter      = 50 * time.Millisecond
	maxRetryAfter      = 5 * time.Second
	terminalRetryAfter = time.Second
	outageRetryAfter   = 5 * time.Second
)

func busy(after time.Duration, format string, args ...any) *protocol.Error {
	e := protocol.Errorf(protocol.CodeBusy, "", format, args...)
	e.RetryAfterMS = int(max(after, time.Millisecond) / time.Millisecond)
	return e
}

// checkBusy refuses, at once and storing nothing, a command that would
// make its register wait beyond a bound (docs/configuration.md,
// max_accept_wait, max_queued_per_terminal, max_outage_amount). A
// command already stored is never refused: it is answered with its
// stored state, as any resend is. The file drop is a batch with no
// customer waiting, and is not bounded. a.mu is held (shared).
func (a *Agent) checkBusy(ctx context.Context, c protocol.Command) error {
	if c.Register == FiledropRegister {
		return nil
	}
	perr := a.overBound(ctx, c)
	if perr == nil {
		return nil
	}
	if _, _, err := a.store.Get(ctx, c.Register, c.ID); err == nil {
		return nil
	} else if !errors.Is(err, outbox.ErrNotFound) {
		return err
	}
	a.log.Info("busy: refused", "id", c.ID, "register", c.Register, "terminal", c.Terminal, "why", perr.Message, "retry_after_ms", perr.RetryAfterMS)
	return perr
}

func (a *Agent) overBound(ctx context.Context, c protocol.Command) *protocol.Error {
	cfg := &a.cfg.Agent
	if w := a.store.ExpectedWait(); w > cfg.MaxAcceptWait.Duration {
		return busy(min(max(w, minRetryAfter), maxRetryAfter),
			"the agent cannot store more commands within %v now (agent.max_accept_wait); nothing was stored, send the same command again after retry_after_ms", cfg.MaxAcceptWait.Duration)
	}
	if n := a.store.PendingCount(c.Terminal); n >= cfg.MaxQueuedPerTerminal {
		return busy(terminalRetryAfter,
			"terminal %s already has %d requests waiting (agent.max_queued_per_terminal); nothing was stored, send the same command again after retry_after_ms", c.Terminal, n)
	}
	if c.Type != protocol.TypeSale && c.Type != protocol.TypePartialAdd {
		return nil
	}
	prov := a.terminals[c.Terminal].Provider
	if !a.outage.down(prov) {
		return nil
	}
	capAmt, ok := cfg.OutageCaps()[c.Amount.Currency]
	if !ok {
		return nil
	}
	queued, err := a.queuedAmount(ctx, prov, c.Amount.Currency)
	if err != nil {
		a.log.Error("busy: cannot add up queued sales", "err", err)
		return nil // the other bounds still hold; an unreadable sum must not stop sales
	}
	if queued+c.Amount.Minor > capAmt.Minor {
		return busy(outageRetryAfter,
			"%s is unreachable and %s of sales already wait for it (agent.max_outage_amount %s); nothing was stored: take another way to pay, or send the same command again after retry_after_ms",
			prov, money.Amount{Minor: queued, Currency: c.Amount.Currency}, capAmt)
	}
	return nil
}

// queuedAmount adds up the pending sales on provider's terminals in cur.
// The sum reads every pending request, so it is kept for queuedFor and
// the sales accepted meanwhile are added to it (queuedSums.add): summed
// for every sale, accepting 10,000 sales queued during an outage took
// minutes (bench/busy -outage). Sales finished meanwhile are not taken
// off, so for that moment the cap errs on the side of busy.
func (a *Agent) queuedAmount(ctx context.Context, provider, cur string) (int64, error) {
	q := &a.queued
	q.mu.Lock()
	defer q.mu.Unlock()
	now := a.opts.Now()
	if q.sums == nil || now.Sub(q.at) >= queuedFor || now.Before(q.at) {
		pend, err := a.store.Pending(ctx, 1<<20)
		if err != nil {
			return 0, err
		}
		sums := map[string]int64{}
		for _, r := range pend {
			if r.Op != protocol.TypeSale && r.Op != protocol.TypePartialAdd {
				continue
			}
			c, perr := protocol.Decode(r.Body)
			if perr != nil {
				continue
			}
			sums[a.terminals[r.Terminal].Provider+"/"+c.Amount.Currency] += c.Amount.Minor
		}
		q.sums, q.at = sums, now
	}
	return q.sums[provider+"/"+cur], nil
}

// queuedFor is how long a sum of queued sales is used before it is read
// again.
const queuedFor = 250 * time.Millisecond

// queuedSums is queuedAmount's last sum, by provider + "/" + currency.
type queuedSums struct {
	mu   sync.Mutex // guards at, sums
	at   time.Time
	sums map[string]int64
}

// add counts a sale just accepted into the sum, if there is one.
func (q *queuedSums) add(provider string, amt money.Amount) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.sums != nil {
		q.sums[provider+"/"+amt.Currency] += amt.Minor
	}
}

// outageWatch tells, per provider, whether its last call from any of its
// terminals got no answer (network, 5xx): the provider is then
// unreachable, and max_outage_amount applies. It passes every
// observation on to the metrics.
type outageWatch struct {
	dispatch.Observer

	mu     sync.Mutex                 // guards failed
	failed map[string]map[string]bool // provider → terminals whose last call failed
}

func newOutageWatch(next dispatch.Observer) *outageWatch {
	return &outageWatch{Observer: next, failed: map[string]map[string]bool{}}
}

// Call implements dispatch.Observer.
func (o *outageWatch) Call(provider, terminal, call string, took time.Duration, err error) {
	// Noted before the metrics hear of it: whoever sees the status page
	// say "failing" finds the cap in force already.
	o.mu.Lock()
	if err == nil {
		delete(o.failed[provider], terminal)
	} else {
		if o.failed[provider] == nil {
			o.failed[provider] = map[string]bool{}
		}
		o.failed[provider][terminal] = true
	}
	o.mu.Unlock()
	o.Observer.Call(provider, terminal, call, took, err)
}

func (o *outageWatch) down(provider string) bool {
	if o == nil {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.failed[provider]) > 0
}
