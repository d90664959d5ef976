package dispatch

import (
	"context"
	"encoding/json"

	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/internal/testwait"
	"github.com/tezgah/tezgah/outbox"
)

// script is a provider whose answers a test lays out call by call. The
// state machine's branches need exact sequences (a timeout, then a lost
// query, then "not found"); the real simulator is used in the agent's
// end-to-end tests.
type script struct {
	mu    sync.Mutex
	send  []func(bridge.Request) (bridge.Result, error)
	query []func(bridge.Request) (bridge.Result, error)
	calls []string // "send R1", "query R1"
	block chan struct{}
}

func approved(bridge.Request) (bridge.Result, error) {
	return bridge.Result{Status: bridge.Approved, Payment: &bridge.Payment{Provider: "test", PaymentID: "P1", PaymentDate: "20261124"}}, nil
}
func notFound(bridge.Request) (bridge.Result, error) { return bridge.Result{}, bridge.ErrNotFound }
func fail(k bridge.Kind, code string) func(bridge.Request) (bridge.Result, error) {
	return func(bridge.Request) (bridge.Result, error) {
		return bridge.Result{}, &bridge.Error{Kind: k, Code: code}
	}
}

func (s *script) next(list *[]func(bridge.Request) (bridge.Result, error), what string, r bridge.Request) (bridge.Result, error) {
	s.mu.Lock()
	s.calls = append(s.calls, what+" "+r.ID)
	if len(*list) == 0 {
		s.mu.Unlock()
		return bridge.Result{}, fmt.Errorf("test: unexpected %s of %s", what, r.ID)
	}
	f := (*list)[0]
	*list = (*list)[1:]
	block := s.block
	s.mu.Unlock()
	if block != nil && what == "send" {
		<-block
	}
	return f(r)
}

func (s *script) Send(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	return s.next(&s.send, "send", r)
}
func (s *script) Query(ctx context.Context, r bridge.Request) (bridge.Result, error) {
	return s.next(&s.query, "query", r)
}
func (s *script) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

type rig struct {
	store *outbox.Store
	disp  *Dispatcher
	path  string
}

func start(t *testing.T, path string, providers map[string]bridge.Provider, terms ...string) *rig {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "outbox.db")
	}
	store, err := outbox.Open(path, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var list []bridge.Terminal
	for _, n := range terms {
		list = append(list, bridge.Terminal{Name: n, Provider: "test"})
	}
	d, err := New(store, providers, list, Options{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; store.Close() })
	return &rig{store: store, disp: d, path: path}
}

func (g *rig) accept(t *testing.T, cmd string, deadline time.Time) string {
	t.Helper()
	c, perr := protocol.Decode([]byte(cmd))
	if perr != nil {
		t.Fatal(perr)
	}
	if _, _, err := g.store.Accept(context.Background(), outbox.NewRequest{
		ID: c.ID, Terminal: c.Terminal, Op: c.Type, Body: c.Canonical(), OriginalID: c.OriginalID, Deadline: deadline,
	}); err != nil {
		t.Fatal(err)
	}
	g.disp.Wake(c.Terminal)
	return c.ID
}

// waitFinal waits for id's result event, on the store's change signal.
func (g *rig) waitFinal(t *testing.T, id string) outbox.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		ch := g.store.Changed()
		if _, ev, err := g.store.Get(context.Background(), "", id); err == nil && ev.Type == outbox.EventResult {
			return ev
		}
		select {
		case <-ch:
		case <-deadline:
			r, ev, _ := g.store.Get(context.Background(), "", id)
			t.Fatalf("%s not final after 10s: %+v %+v", id, r, ev)
		}
	}
}

func history(t *testing.T, s *outbox.Store, id string) []string {
	t.Helper()
	evs, err := s.Events(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		if e.ID == id {
			out = append(out, string(e.State))
		}
	}
	return out
}

func eq(a, b []string) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

const sale1 = `{"type":"sale","id":"R1","terminal":"k1","amount":"10.00"}`

func TestStateMachine(t *testing.T) {
	tests := []struct {
		name      string
		send      []func(bridge.Request) (bridge.Result, error)
		query     []func(bridge.Request) (bridge.Result, error)
		wantState outbox.State
		wantCalls []string
		wantHist  []string
	}{
		{"approved first time",
			[]func(bridge.Request) (bridge.Result, error){approved}, nil,
			outbox.Approved, []string{"send R1"}, []string{"queued", "sending", "approved"}},
		{"declined is final",
			[]func(bridge.Request) (bridge.Result, error){func(bridge.Request) (bridge.Result, error) {
				return bridge.Result{Status: bridge.Declined, Code: "card_declined"}, nil
			}}, nil,
			outbox.Declined, []string{"send R1"}, []string{"queued", "sending", "declined"}},
		{"not sent: send again",
			[]func(bridge.Request) (bridge.Result, error){fail(bridge.NotSent, "connect_failed"), approved}, nil,
			outbox.Approved, []string{"send R1", "send R1"},
			[]string{"queued", "sending", "queued", "sending", "approved"}},
		{"unknown, not found, then not sent: no query needed after",
			[]func(bridge.Request) (bridge.Result, error){fail(bridge.Unknown, "timeout"), fail(bridge.NotSent, "connect_failed"), approved},
			[]func(bridge.Request) (bridge.Result, error){notFound},
			outbox.Approved, []string{"send R1", "query R1", "send R1", "send R1"},
			[]string{"queued", "sending", "unknown", "sending", "queued", "sending", "approved"}},
		{"unknown outcome reconciled without resending",
			[]func(bridge.Request) (bridge.Result, error){fail(bridge.Unknown, "timeout")},
			[]func(bridge.Request) (bridge.Result, error){fail(bridge.NotSent, "connect_failed"), fail(bridge.Unknown, "timeout"), approved},
			outbox.Approved, []string{"send R1", "query R1", "query R1", "query R1"},
			[]string{"queued", "sending", "unknown", "approved"}},
		{"unknown, provider never saw it: resend",
			[]func(bridge.Request) (bridge.Result, error){fail(bridge.Unknown, "connection_lost"), approved},
			[]func(bridge.Request) (bridge.Result, error){notFound},
			outbox.Approved, []string{"send R1", "query R1", "send R1"},
			[]string{"queued", "sending", "unknown", "sending", "approved"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &script{send: tc.send, query: tc.query}
			g := start(t, "", map[string]bridge.Provider{"test": p}, "k1")
			id := g.accept(t, sale1, time.Now().Add(time.Minute))
			ev := g.waitFinal(t, id)
			if ev.State != tc.wantState {
				t.Fatalf("final state %s, want %s", ev.State, tc.wantState)
			}
			if got := p.Calls(); !eq(got, tc.wantCalls) {
				t.Fatalf("calls %v, want %v", got, tc.wantCalls)
			}
			if got := history(t, g.store, id); !eq(got, tc.wantHist) {
				t.Fatalf("history %v, want %v", got, tc.wantHist)
			}
		})
	}
}

func TestExpiredSaleNeverSent(t *testing.T) {
	p := &script{}
	g := start(t, "", map[string]bridge.Provider{"test": p}, "k1")
	id := g.accept(t, sale1, time.Now().Add(-time.Millisecond))
	if ev := g.waitFinal(t, id); ev.State != outbox.Expired || ev.Reason != "deadline_passed" {
		t.Fatalf("state %s (%s), want expired (deadline_passed)", ev.State, ev.Reason)
	}
	if calls := p.Calls(); len(calls) != 0 {
		t.Fatalf("provider called for an expired sale: %v", calls)
	}
}

// A sale whose deadline passes while a head that can go now is ahead of
// it is expired when it comes up, never sent.
func TestExpiredSaleBehindAHeadNeverSent(t *testing.T) {
	release := make(chan struct{})
	p := &script{send: []func(bridge.Request) (bridge.Result, error){approved, approved}, block: release}
	g := start(t, "", map[string]bridge.Provider{"test": p}, "k1")
	first := g.accept(t, sale1, time.Now().Add(time.Minute))
	// R1's call does not return before R2 is queued behind it.
	late := g.accept(t, `{"type":"sale","id":"R2","terminal":"k1","amount":"10.00"}`, time.Now().Add(-time.Millisecond))
	close(release)
	if ev := g.waitFinal(t, first); ev.State != outbox.Approved {
		t.Fatalf("first: %s", ev.State)
	}
	if ev := g.waitFinal(t, late); ev.State != outbox.Expired || ev.Reason != "deadline_passed" {
		t.Fatalf("late: %s (%s), want expired (deadline_passed)", ev.State, ev.Reason)
	}
	if calls := p.Calls(); !eq(calls, []string{"send R1"}) {
		t.Fatalf("calls %v", calls)
	}
}

// A sale that may have been sent is never expired blindly: the customer
// may have paid. Only the provider's "never saw it" lets it expire.
func TestMaybeSentSalePastDeadlineIsQueried(t *testing.T) {
	var mu sync.Mutex
	deadlinePassed := false
	// The deadline leaves a loaded machine time to send; the provider
	// then takes until past it to time out, so only a query can follow.
	deadline := time.Now().Add(2 * time.Second)
	p := &script{
		send: []func(bridge.Request) (bridge.Result, error){func(r bridge.Request) (bridge.Result, error) {
			time.Sleep(time.Until(deadline)) // a provider slower than the sale's deadline, not synchronisation
			return fail(bridge.Unknown, "timeout")(r)
		}},
		query: []func(bridge.Request) (bridge.Result, error){func(bridge.Request) (bridge.Result, error) {
			return bridge.Result{}, &bridge.Error{Kind: bridge.NotSent, Code: "rate_limited", RetryAfter: 300 * time.Millisecond}
		}, func(bridge.Request) (bridge.Result, error) {
			mu.Lock()
			deadlinePassed = true
			mu.Unlock()
			return bridge.Result{}, bridge.ErrNotFound
		}},
	}
	g := start(t, "", map[string]bridge.Provider{"test": p}, "k1")
	id := g.accept(t, sale1, deadline)
	ev := g.waitFinal(t, id)
	if ev.State != outbox.Expired || !deadlinePassed {
		t.Fatalf("state %s (queried=%v), want expired after a query", ev.State, deadlinePassed)
	}
	if calls := p.Calls(); !eq(calls, []string{"send R1", "query R1", "query R1"}) {
		t.Fatalf("calls %v", calls)
	}
}

func TestRecoveredSendingIsReconciled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, _ := outbox.Open(path, outbox.Options{})
	c, _ := protocol.Decode([]byte(sale1))
	s.Accept(context.Background(), outbox.NewRequest{ID: "R1", Terminal: "k1", Op: "sale", Body: c.Canonical()})
	r, _ := s.Head(context.Background(), "k1")
	s.Begin(context.Background(), r) // then the process "dies"
	s.Close()

	p := &script{query: []func(bridge.Request) (bridge.Result, error){approved}}
	g := start(t, path, map[string]bridge.Provider{"test": p}, "k1")
	if ev := g.waitFinal(t, "R1"); ev.State != outbox.Approved {
		t.Fatalf("state %s", ev.State)
	}
	if calls := p.Calls(); !eq(calls, []string{"query R1"}) {
		t.Fatalf("calls %v, want only a query: a crash mid-call must never resend", calls)
	}
}

func TestRefundUsesOriginalPayment(t *testing.T) {
	var got bridge.Request
	p := &script{send: []func(bridge.Request) (bridge.Result, error){approved, func(r bridge.Request) (bridge.Result, error) {
		got = r
		return approved(r)
	}}}
	g := start(t, "", map[string]bridge.Provider{"test": p}, "k1")
	g.accept(t, sale1, time.Time{})
	g.accept(t, `{"type":"refund","id":"R2","terminal":"k1","original_id":"R1","amount":"4.00"}`, time.Time{})
	if ev := g.waitFinal(t, "R2"); ev.State != outbox.Approved {
		t.Fatalf("refund %s", ev.State)
	}
	if got.Original == nil || got.Original.Payment.PaymentID != "P1" || got.Amount.Minor != 400 || got.Original.Amount.Minor != 1000 {
		t.Fatalf("refund request %+v", got)
	}
	orig, _, _ := g.store.Get(context.Background(), "", "R1")
	if got.Original.Reference != orig.Reference || got.Reference == orig.Reference {
		t.Fatalf("references: refund %q original %q (stored %q)", got.Reference, got.Original.Reference, orig.Reference)
	}
}

func TestRefundOfDeclinedSaleFails(t *testing.T) {
	p := &script{send: []func(bridge.Request) (bridge.Result, error){func(bridge.Request) (bridge.Result, error) {
		return bridge.Result{Status: bridge.Declined}, nil
	}}}
	g := start(t, "", map[string]bridge.Provider{"test": p}, "k1")
	g.accept(t, sale1, time.Time{})
	g.accept(t, `{"type":"void","id":"R2","terminal":"k1","original_id":"R1"}`, time.Time{})
	ev := g.waitFinal(t, "R2")
	var res bridge.Result
	json.Unmarshal(ev.Result, &res)
	if ev.State != outbox.Failed || res.Code != protocol.CodeInvalidOriginal {
		t.Fatalf("void of declined sale: %s %+v", ev.State, res)
	}
	if calls := p.Calls(); !eq(calls, []string{"send R1"}) {
		t.Fatalf("calls %v", calls)
	}
}

// One terminal stuck in a long call does not hold up another.
func TestTerminalsIndependent(t *testing.T) {
	block := make(chan struct{})
	slow := &script{send: []func(bridge.Request) (bridge.Result, error){approved}, block: block}
	fast := &script{send: []func(bridge.Request) (bridge.Result, error){approved}}
	store, _ := outbox.Open(filepath.Join(t.TempDir(), "o.db"), outbox.Options{})
	d, err := New(store, map[string]bridge.Provider{"slow": slow, "fast": fast},
		[]bridge.Terminal{{Name: "k1", Provider: "slow"}, {Name: "k2", Provider: "fast"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { close(block); cancel(); <-done; store.Close() })
	g := &rig{store: store, disp: d}
	g.accept(t, sale1, time.Time{})
	// k1 is stuck in its call before k2 gets work.
	testwait.For(t, "k1 to call its provider", 10*time.Second,
		func() bool { return eq(slow.Calls(), []string{"send R1"}) }, nil)
	g.accept(t, `{"type":"sale","id":"R2","terminal":"k2","amount":"1.00"}`, time.Time{})
	if ev := g.waitFinal(t, "R2"); ev.State != outbox.Approved {
		t.Fatalf("R2 %s", ev.State)
	}
	if r, _, _ := store.Get(ctx, "", "R1"); r.State != outbox.Sending {
		t.Fatalf("R1 %s, want still sending", r.State)
	}
}

// storeWatcher hears of workers' database failures.
type storeWatcher struct {
	nopObserver
	failed chan string
}

func (w storeWatcher) StoreError(provider, terminal string, err error) {
	select {
	case w.failed <- provider + "/" + terminal + ": " + err.Error():
	default:
	}
}

// A worker whose step fails on the database tells an observer that
// listens (for /metrics' tezgah_database_errors_total), then retries.
func TestWorkerReportsStoreErrors(t *testing.T) {
	store, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := storeWatcher{failed: make(chan string, 1)}
	d, err := New(store, map[string]bridge.Provider{"test": &script{}}, []bridge.Terminal{{Name: "k1", Provider: "test"}},
		Options{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, Observer: w})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	testwait.For(t, "the worker to start", 10*time.Second, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.running != nil
	}, nil)
	store.Close() // every read and write fails from now on
	d.Wake("k1")
	select {
	case got := <-w.failed:
		t.Logf("reported: %s", got)
		if got[:8] != "test/k1:" {
			t.Errorf("reported %q, want test/k1's failure", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no store error reported")
	}
}
