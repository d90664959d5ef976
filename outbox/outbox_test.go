package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a manual clock for deterministic deadlines.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openTest(t *testing.T, path string, c *clock) *Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "outbox.db")
	}
	opts := Options{}
	if c != nil {
		opts.Now = c.Now
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sale(id, terminal string) NewRequest {
	return NewRequest{ID: id, Terminal: terminal, Op: "sale", Body: []byte(`{"id":"` + id + `","amount":"1.00"}`)}
}

func TestAcceptIdempotent(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)
	ev, existing, err := s.Accept(ctx, sale("R1", "kasa-1"))
	if err != nil || existing || ev.Type != EventAccepted || ev.Seq != 1 {
		t.Fatalf("first accept = %+v, %v, %v", ev, existing, err)
	}
	again, existing, err := s.Accept(ctx, sale("R1", "kasa-1"))
	if err != nil || !existing || again.Seq != ev.Seq {
		t.Fatalf("same body accept = %+v, %v, %v; want the stored event", again, existing, err)
	}
	other := sale("R1", "kasa-1")
	other.Body = []byte(`{"id":"R1","amount":"2.00"}`)
	if _, _, err := s.Accept(ctx, other); !errors.Is(err, ErrIDConflict) {
		t.Fatalf("different body accept error = %v, want ErrIDConflict", err)
	}
	if got := s.LastSeq(); got != 1 {
		t.Fatalf("LastSeq = %d after duplicates, want 1 (nothing new stored)", got)
	}
}

// repeatReader yields zero bytes for its first reps reads and different
// bytes after, so references collide on demand.
type repeatReader struct{ reps, n int }

func (r *repeatReader) Read(p []byte) (int, error) {
	r.n++
	for i := range p {
		p[i] = 0
		if r.n > r.reps {
			p[i] = byte(r.n + i)
		}
	}
	return len(p), nil
}

// TestReferenceDrawnTwice: a new id whose reference is already taken is
// stored under a fresh one, not mistaken for a known id; after six
// draws it fails rather than loop.
func TestReferenceDrawnTwice(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}
	for _, tc := range []struct {
		reps int
		ok   bool
	}{{reps: 3, ok: true}, {reps: 100, ok: false}} {
		s, err := Open(filepath.Join(t.TempDir(), "outbox.db"), Options{Now: c.Now, Rand: &repeatReader{reps: tc.reps}})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Accept(ctx, sale("R1", "kasa-1")); err != nil {
			t.Fatal(err)
		}
		_, existing, err := s.Accept(ctx, sale("R2", "kasa-1"))
		if tc.ok && (err != nil || existing) {
			t.Errorf("reps=%d: second accept = existing %v, %v; want stored", tc.reps, existing, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "no free reference")) {
			t.Errorf("reps=%d: second accept error = %v, want no free reference", tc.reps, err)
		}
		r1, _, _ := s.Get(ctx, "", "R1")
		if r2, _, err := s.Get(ctx, "", "R2"); tc.ok && (err != nil || r2.Reference == r1.Reference) {
			t.Errorf("reps=%d: R2 = %+v, %v; want its own reference", tc.reps, r2, err)
		}
		s.Close()
	}
}

func TestAcceptSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Accept(ctx, sale("R1", "kasa-1")); err != nil {
		t.Fatal(err)
	}
	r1, _, _ := s.Get(ctx, "", "R1")
	s.Close()
	s = openTest(t, path, nil)
	r, ev, err := s.Get(ctx, "", "R1")
	if err != nil || r.State != Queued || ev.Type != EventAccepted {
		t.Fatalf("after reopen: %+v %+v %v", r, ev, err)
	}
	if r.Reference != r1.Reference || len(r.Reference) != ReferenceLen {
		t.Fatalf("reference changed or malformed: %q vs %q", r.Reference, r1.Reference)
	}
	if s.LastSeq() != 1 {
		t.Fatalf("LastSeq after reopen = %d", s.LastSeq())
	}
}

func TestLifeCycle(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)
	s.Accept(ctx, sale("R1", "kasa-1"))
	s.Accept(ctx, sale("R2", "kasa-1"))
	r, err := s.Head(ctx, "kasa-1")
	if err != nil || r == nil || r.ID != "R1" {
		t.Fatalf("Head = %+v, %v; want R1 (arrival order)", r, err)
	}
	ev, err := s.Begin(ctx, r)
	if err != nil || ev.State != Sending || ev.Attempt != 1 || !r.MaybeSent {
		t.Fatalf("Begin = %+v, %v", ev, err)
	}
	// A stale copy (e.g. a second worker) cannot begin it again.
	stale := *r
	stale.Attempts = 0
	if _, err := s.Begin(ctx, &stale); !errors.Is(err, ErrStale) {
		t.Fatalf("stale Begin error = %v, want ErrStale", err)
	}
	evp, err := s.Defer(ctx, r, Unknown, time.Now().Add(time.Second), "timeout")
	if err != nil || evp == nil || evp.State != Unknown {
		t.Fatalf("Defer = %+v, %v", evp, err)
	}
	if evp, err := s.Defer(ctx, r, Unknown, time.Now(), "timeout"); err != nil || evp != nil {
		t.Fatalf("Defer without state change logged %+v, %v", evp, err)
	}
	fin, err := s.Finish(ctx, r, Approved, []byte(`{"status":"approved"}`))
	if err != nil || fin.Type != EventResult || string(fin.Result) != `{"status":"approved"}` {
		t.Fatalf("Finish = %+v, %v", fin, err)
	}
	if _, err := s.Finish(ctx, r, Declined, nil); !errors.Is(err, ErrStale) {
		t.Fatalf("second Finish error = %v, want ErrStale: a final state never changes", err)
	}
	if h, _ := s.Head(ctx, "kasa-1"); h == nil || h.ID != "R2" {
		t.Fatalf("Head after R1 final = %+v, want R2", h)
	}
	got, last, _ := s.Get(ctx, "", "R1")
	if got.State != Approved || last.Seq != fin.Seq {
		t.Fatalf("Get = %+v / %+v", got, last)
	}
}

func TestCancel(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)
	s.Accept(ctx, sale("R1", "kasa-1"))
	s.Accept(ctx, sale("R2", "kasa-1"))
	if ev, err := s.Cancel(ctx, "", "R2"); err != nil || ev.State != Cancelled {
		t.Fatalf("Cancel queued = %+v, %v", ev, err)
	}
	r, _ := s.Head(ctx, "kasa-1")
	s.Begin(ctx, r)
	if _, err := s.Cancel(ctx, "", "R1"); !errors.Is(err, ErrNotCancellable) {
		t.Fatalf("Cancel after send error = %v, want ErrNotCancellable", err)
	}
	// Sent once and back in the queue: still may have reached the provider.
	s.Defer(ctx, r, Queued, time.Time{}, "connect_failed")
	if _, err := s.Cancel(ctx, "", "R1"); !errors.Is(err, ErrNotCancellable) {
		t.Fatalf("Cancel after a send attempt error = %v, want ErrNotCancellable", err)
	}
	if _, err := s.Cancel(ctx, "", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Cancel unknown error = %v", err)
	}
}

func TestExpireDue(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	s := openTest(t, "", c)
	for i, d := range []time.Duration{time.Minute, 2 * time.Minute, 0} {
		r := sale(fmt.Sprint("R", i), "kasa-1")
		if d > 0 {
			r.Deadline = c.Now().Add(d)
		}
		s.Accept(ctx, r)
	}
	// A sale that was sent once is never expired blindly: it may be charged.
	sent := sale("S", "kasa-1")
	sent.Deadline = c.Now().Add(time.Second)
	s.Accept(ctx, sent)
	rs, _, _ := s.Get(ctx, "", "S")
	s.Begin(ctx, rs)
	s.Defer(ctx, rs, Queued, time.Time{}, "connect_failed")

	if d, _ := s.NextDeadline(ctx, "kasa-1"); !d.Equal(c.Now().Add(time.Minute)) {
		t.Fatalf("NextDeadline = %v", d)
	}
	c.Add(90 * time.Second)
	evs, err := s.ExpireDue(ctx, "kasa-1", c.Now())
	if err != nil || len(evs) != 1 || evs[0].ID != "R0" || evs[0].State != Expired {
		t.Fatalf("ExpireDue = %+v, %v; want only R0", evs, err)
	}
	c.Add(time.Hour)
	evs, _ = s.ExpireDue(ctx, "kasa-1", c.Now())
	if len(evs) != 1 || evs[0].ID != "R1" {
		t.Fatalf("ExpireDue later = %+v; want R1 only (R2 has no deadline, S was sent)", evs)
	}
}

func TestRecover(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, _ := Open(path, Options{})
	s.Accept(ctx, sale("R1", "kasa-1"))
	r, _ := s.Head(ctx, "kasa-1")
	s.Begin(ctx, r)
	s.Close() // as if the process died mid-call

	s = openTest(t, path, nil)
	n, err := s.Recover(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	r, ev, _ := s.Get(ctx, "", "R1")
	if r.State != Unknown || !r.MaybeSent || ev.Reason != "agent_restarted" {
		t.Fatalf("after recover: %+v %+v", r, ev)
	}
}

func TestEventsFromRingAndDisk(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := Open(path, Options{RingSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := range 10 {
		s.Accept(ctx, sale(fmt.Sprint("R", i), "kasa-1"))
	}
	for _, since := range []int64{0, 3, 6, 9, 10} {
		evs, err := s.Events(ctx, since, 100)
		if err != nil {
			t.Fatal(err)
		}
		if want := 10 - int(since); len(evs) != want {
			t.Fatalf("Events(%d) = %d events, want %d", since, len(evs), want)
		}
		for i, e := range evs {
			if e.Seq != since+int64(i)+1 || e.ID != fmt.Sprint("R", e.Seq-1) {
				t.Fatalf("Events(%d)[%d] = %+v", since, i, e)
			}
		}
	}
	if evs, _ := s.Events(ctx, 2, 3); len(evs) != 3 || evs[2].Seq != 5 {
		t.Fatalf("limit not honoured: %+v", evs)
	}
}

// TestConcurrentAcceptsOrdered checks that group commit hands out seqs in
// publish order and loses nothing under concurrency.
func TestConcurrentAcceptsOrdered(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)
	ch := s.Changed()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if _, _, err := s.Accept(ctx, sale(fmt.Sprintf("G%d-%d", g, i), fmt.Sprint("t", g%4))); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-ch:
	default:
		t.Fatal("Changed not signalled")
	}
	evs, _ := s.Events(ctx, 0, 1000)
	if len(evs) != 400 {
		t.Fatalf("%d events, want 400", len(evs))
	}
	seen := map[string]bool{}
	for i, e := range evs {
		if e.Seq != int64(i+1) || seen[e.ID] {
			t.Fatalf("event %d = %+v (dup=%v)", i, e, seen[e.ID])
		}
		seen[e.ID] = true
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}
	s := openTest(t, "", c)
	s.Accept(ctx, sale("OLD", "kasa-1"))
	r, _ := s.Head(ctx, "kasa-1")
	s.Finish(ctx, r, Approved, []byte(`{}`))
	s.Accept(ctx, sale("PENDING", "kasa-1"))
	c.Add(31 * 24 * time.Hour)
	s.Accept(ctx, sale("NEW", "kasa-2"))
	n, err := s.Prune(ctx, c.Now().Add(-30*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	if _, _, err := s.Get(ctx, "", "OLD"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OLD still there: %v", err)
	}
	if _, _, err := s.Get(ctx, "", "PENDING"); err != nil {
		t.Fatalf("pending request pruned: %v", err)
	}
	var old, kept int
	s.db.QueryRow(`SELECT COUNT(*) FROM events WHERE request_id = 'OLD'`).Scan(&old)
	s.db.QueryRow(`SELECT COUNT(*) FROM events WHERE request_id IN ('PENDING', 'NEW')`).Scan(&kept)
	if old != 0 || kept != 2 {
		t.Fatalf("events left: %d of OLD (want 0), %d of PENDING and NEW (want 2)", old, kept)
	}
}

// After pruning has emptied the log, a reopened store must go on from the
// last seq registers saw, not start again at 1.
func TestSeqContinuesAfterPruneEmptiesLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	c := &clock{t: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}
	s, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	s.Accept(ctx, sale("R1", "kasa-1"))
	r, _ := s.Head(ctx, "kasa-1")
	s.Finish(ctx, r, Approved, []byte(`{}`))
	last := s.LastSeq()
	c.Add(31 * 24 * time.Hour)
	if n, err := s.Prune(ctx, c.Now().Add(-30*24*time.Hour)); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	s.Close()
	s = openTest(t, path, c)
	if got := s.LastSeq(); got != last {
		t.Fatalf("LastSeq after reopen = %d, want %d", got, last)
	}
	ev, _, err := s.Accept(ctx, sale("R2", "kasa-1"))
	if err != nil || ev.Seq != last+1 {
		t.Fatalf("next accept = seq %d, %v; want %d", ev.Seq, err, last+1)
	}
}

// A database written by schema 3 (events found by request id) opens,
// and its requests' events are found and pruned by the new index.
func TestMigrationFromSchema3(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range migrations[:3] {
		if _, err := db.Exec(m); err != nil {
			t.Fatalf("migration %d: %v", i+1, err)
		}
	}
	for _, q := range []string{
		`PRAGMA user_version = 3`,
		`INSERT INTO requests (id, terminal, op, body, body_hash, reference, state, created_at, updated_at, final_at)
			VALUES ('A', 'kasa-1', 'sale', '{}', 'h', 'REFA', 'approved', 1, 1, 1)`,
		`INSERT INTO requests (id, terminal, op, body, body_hash, reference, state, created_at, updated_at)
			VALUES ('B', 'kasa-1', 'sale', '{}', 'h', 'REFB', 'queued', 2, 2)`,
		`INSERT INTO events (seq, request_id, at, body) VALUES
			(1, 'A', 1, '{"id":"A","type":"accepted","state":"queued","at":1}'),
			(2, 'B', 2, '{"id":"B","type":"accepted","state":"queued","at":2}'),
			(3, 'A', 3, '{"id":"A","type":"result","state":"approved","at":3}')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s := openTest(t, path, nil)
	if s.LastSeq() != 3 {
		t.Fatalf("LastSeq = %d, want 3", s.LastSeq())
	}
	if _, ev, err := s.Get(ctx, "", "A"); err != nil || ev.Seq != 3 || ev.Type != EventResult {
		t.Fatalf("latest event of A = %+v, %v; want the result, seq 3", ev, err)
	}
	if n, err := s.Prune(ctx, time.UnixMilli(2)); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	var left int
	s.db.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&left)
	if _, ev, err := s.Get(ctx, "", "B"); err != nil || ev.Seq != 2 || left != 1 {
		t.Fatalf("after prune: B's latest = %+v, %v; %d events left, want B's one", ev, err, left)
	}
}

// References begin with the time, so they sort by creation (and land
// at the end of their index); they stay unique within a millisecond.
func TestReferencesAreTimeOrdered(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}
	s := openTest(t, "", c)
	seen := map[string]bool{}
	prev := ""
	for i := range 200 {
		if i%50 == 0 {
			c.Add(time.Millisecond)
		}
		id := fmt.Sprint("R", i)
		if _, _, err := s.Accept(ctx, sale(id, "kasa-1")); err != nil {
			t.Fatal(err)
		}
		r, _, _ := s.Get(ctx, "", id)
		ref := r.Reference
		if len(ref) != ReferenceLen || seen[ref] || ref[:refTimeLen] < prev {
			t.Fatalf("reference %d = %q (previous prefix %q, seen %v)", i, ref, prev, seen[ref])
		}
		for _, ch := range ref {
			if !strings.ContainsRune(referenceAlphabet, ch) {
				t.Fatalf("reference %q has %q, not in the alphabet", ref, ch)
			}
		}
		seen[ref], prev = true, ref[:refTimeLen]
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, _ := Open(path, Options{})
	s.wdb.Exec(`PRAGMA user_version = 99`)
	s.Close()
	if _, err := Open(path, Options{}); err == nil {
		t.Fatal("Open of a newer schema succeeded")
	}
}

func TestProviderRefSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Accept(ctx, sale("R1", "kasa-1"))
	r, _ := s.Head(ctx, "kasa-1")
	if _, err := s.Begin(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.SetProviderRef(ctx, r, "PRQ-77"); err != nil {
		t.Fatal(err)
	}
	s.Close() // as if the process died right after the provider answered

	s = openTest(t, path, nil)
	got, _, err := s.Get(ctx, "", "R1")
	if err != nil || got.ProviderRef != "PRQ-77" {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	if _, err := s.Finish(ctx, got, Approved, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetProviderRef(ctx, got, "other"); !errors.Is(err, ErrStale) {
		t.Fatalf("SetProviderRef on a final request = %v, want ErrStale", err)
	}
}

func TestWaitLogsActionURLWithoutChangingTheRow(t *testing.T) {
	s := openTest(t, "", nil)
	ctx := context.Background()
	if _, _, err := s.Accept(ctx, sale("W1", "vpos-1")); err != nil {
		t.Fatal(err)
	}
	r, _, _ := s.Get(ctx, "", "W1")
	if _, err := s.Begin(ctx, r); err != nil {
		t.Fatal(err)
	}
	ev, err := s.Wait(ctx, "", "W1", "http://127.0.0.1:8417/v1/3ds/x")
	if err != nil {
		t.Fatal(err)
	}
	if ev.State != Waiting || ev.ActionURL == "" || ev.Attempt != 1 {
		t.Fatalf("event %+v", ev)
	}
	r, last, _ := s.Get(ctx, "", "W1")
	if r.State != Sending || last.Seq != ev.Seq || last.ActionURL != ev.ActionURL {
		t.Fatalf("row %s, latest event %+v", r.State, last)
	}
	if _, err := s.Finish(ctx, r, Approved, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Wait(ctx, "", "W1", "u"); !errors.Is(err, ErrStale) {
		t.Fatalf("wait on a final request: %v", err)
	}
}

// An operation that arrives after Close must fail, not wait forever for
// a writer that has stopped.
func TestOpAfterCloseFails(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "outbox.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.Accept(ctx, sale(fmt.Sprint("C", i), "kasa-1"))
			if err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("Accept racing Close: %v", err)
			}
		}()
	}
	s.Close()
	wg.Wait() // hangs here if an op was queued after the writer stopped
	if _, _, err := s.Accept(ctx, sale("LATE", "kasa-1")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept after Close = %v, want ErrClosed", err)
	}
}

// A group runs without savepoints; when one op fails after writing, the
// group runs again with savepoints, so the others commit and the failing
// op leaves nothing behind.
func TestFailingOpUndoesOnlyItsOwnWrites(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)
	accept := func(id string) *op {
		return &op{done: make(chan struct{}), fn: func(w *wtx) error {
			_, err := w.exec(`INSERT INTO requests (id, terminal, op, body, body_hash, reference, state, created_at, updated_at)
				VALUES (?, 'kasa-1', 'sale', '{}', 'h', ?, 'queued', 1, 1)`, id, "REF"+id)
			w.event(Event{ID: id, Type: EventAccepted, State: Queued})
			return err
		}}
	}
	boom := errors.New("boom")
	failing := &op{done: make(chan struct{}), fn: func(w *wtx) error {
		if _, err := w.exec(`INSERT INTO requests (id, terminal, op, body, body_hash, reference, state, created_at, updated_at)
			VALUES ('BAD', 'kasa-1', 'sale', '{}', 'h', 'REFBAD', 'queued', 1, 1)`); err != nil {
			return err
		}
		w.event(Event{ID: "BAD", Type: EventAccepted, State: Queued})
		return boom
	}}
	batch := []*op{accept("A"), failing, accept("B")}
	// The writer goroutine is idle; commit is what it would run.
	s.commit(batch)
	for _, o := range batch {
		<-o.done
	}
	if batch[0].err != nil || batch[2].err != nil || !errors.Is(batch[1].err, boom) {
		t.Fatalf("errors = %v, %v, %v; want nil, boom, nil", batch[0].err, batch[1].err, batch[2].err)
	}
	if _, _, err := s.Get(ctx, "", "BAD"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the failing op's row is there: %v", err)
	}
	evs, err := s.Events(ctx, 0, 10)
	if err != nil || len(evs) != 2 || evs[0].ID != "A" || evs[0].Seq != 1 || evs[1].ID != "B" || evs[1].Seq != 2 {
		t.Fatalf("events = %+v, %v; want A at 1, B at 2", evs, err)
	}
	for _, id := range []string{"A", "B"} {
		if _, ev, err := s.Get(ctx, "", id); err != nil || ev.ID != id {
			t.Fatalf("%s = %+v, %v", id, ev, err)
		}
	}
}

// An op whose second event fails to insert gives its seqs back: the next
// op's event follows the last committed one with no gap (the in-memory
// ring and resume count on gapless seqs).
func TestFailedEventLeavesNoSeqGap(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)
	// The writer goroutine stays idle: commit is called directly, as the
	// writer would, so the ops share one group.
	create := &op{done: make(chan struct{}), fn: func(w *wtx) error {
		_, err := w.exec(`INSERT INTO requests (id, terminal, op, body, body_hash, reference, state, created_at, updated_at)
			VALUES ('A', 'kasa-1', 'sale', '{}', 'h', 'REFA', 'queued', 1, 1)`)
		w.event(Event{ID: "A", Type: EventAccepted, State: Queued})
		return err
	}}
	half := &op{done: make(chan struct{}), fn: func(w *wtx) error {
		w.event(Event{ID: "A", Type: EventState, State: Queued})
		w.event(Event{ID: "GHOST", Type: EventState, State: Queued}) // no such request: its insert fails
		return nil
	}}
	b := &op{done: make(chan struct{}), fn: func(w *wtx) error {
		w.event(Event{ID: "A", Type: EventState, State: Unknown})
		return nil
	}}
	s.commit([]*op{create, half, b})
	<-create.done
	<-half.done
	<-b.done
	if create.err != nil || half.err == nil || b.err != nil {
		t.Fatalf("errors = %v, %v, %v; want nil, the ghost event's, nil", create.err, half.err, b.err)
	}
	evs, err := s.Events(ctx, 0, 10)
	if err != nil || len(evs) != 2 || evs[1].Seq != 2 || evs[1].State != Unknown {
		t.Fatalf("events = %+v, %v; want accepted at 1, the second op's event at 2", evs, err)
	}
}

// FinishNext begins the terminal's next request in the commit that
// finishes the one before, but only one that can be sent at once
// without asking the provider first; anything else is left to the
// worker's step, unchanged.
func TestFinishNextBeginsOnlyWhatCanBeSentAtOnce(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.UnixMilli(1_000_000)}
	yes := func() bool { return true }
	tests := []struct {
		name  string
		setup func(t *testing.T, s *Store, next *Record) // the next request, before the first finishes
		begin func() bool
		want  bool
	}{
		{"queued, never sent", func(*testing.T, *Store, *Record) {}, yes, true},
		{"the worker says no", func(*testing.T, *Store, *Record) {}, func() bool { return false }, false},
		{"may have been sent: query first", func(t *testing.T, s *Store, r *Record) {
			r.MaybeSent = true
			if _, err := s.Defer(ctx, r, Unknown, time.Time{}, "timeout"); err != nil {
				t.Fatal(err)
			}
		}, yes, false},
		{"retry time not reached", func(t *testing.T, s *Store, r *Record) {
			if _, err := s.Defer(ctx, r, Queued, c.Now().Add(time.Minute), "unavailable"); err != nil {
				t.Fatal(err)
			}
		}, yes, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, "", c)
			for _, id := range []string{"A", "B"} {
				if _, _, err := s.Accept(ctx, sale(id, "k")); err != nil {
					t.Fatal(err)
				}
			}
			a, _ := s.Head(ctx, "k")
			if _, err := s.Begin(ctx, a); err != nil {
				t.Fatal(err)
			}
			rb, _, err := s.Get(ctx, Local, "B")
			if err != nil {
				t.Fatal(err)
			}
			tc.setup(t, s, rb)
			before, _, _ := s.Get(ctx, Local, "B")
			ev, next, drained, err := s.FinishNext(ctx, a, Approved, []byte(`{}`), c.Now(), tc.begin)
			if drained {
				t.Fatal("FinishNext says the terminal is drained; B is pending")
			}
			if err != nil || ev.Type != EventResult || ev.ID != "A" {
				t.Fatalf("FinishNext = %+v, %v", ev, err)
			}
			after, last, _ := s.Get(ctx, Local, "B")
			if !tc.want {
				if next != nil || after.State != before.State || after.Attempts != before.Attempts {
					t.Fatalf("next %+v; B went from %s/%d to %s/%d", next, before.State, before.Attempts, after.State, after.Attempts)
				}
				return
			}
			// Begun exactly as Begin would: durable "sending", attempt 1,
			// maybe sent, its event right after A's result.
			if next == nil || next.ID != "B" || next.State != Sending || next.Attempts != 1 || !next.MaybeSent {
				t.Fatalf("next = %+v", next)
			}
			if after.State != Sending || after.Attempts != 1 || !after.MaybeSent || last.State != Sending || last.Seq != ev.Seq+1 {
				t.Fatalf("stored B = %+v, last event %+v (result seq %d)", after, last, ev.Seq)
			}
		})
	}
}

// TestFinishNextSaysDrained: finishing a terminal's last pending request
// says so, so its worker waits for the next wake-up without asking the
// database again; while the worker may not begin, it is not said.
func TestFinishNextSaysDrained(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.UnixMilli(1_000_000)}
	for _, tc := range []struct {
		name  string
		begin bool
		want  bool
	}{{"last one", true, true}, {"the worker says no", false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, "", c)
			if _, _, err := s.Accept(ctx, sale("A", "k")); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Accept(ctx, sale("B", "other")); err != nil {
				t.Fatal(err)
			}
			a, _ := s.Head(ctx, "k")
			if _, err := s.Begin(ctx, a); err != nil {
				t.Fatal(err)
			}
			_, next, drained, err := s.FinishNext(ctx, a, Approved, []byte(`{}`), c.Now(), func() bool { return tc.begin })
			if err != nil || next != nil || drained != tc.want {
				t.Fatalf("FinishNext: next %+v, drained %v, err %v; want drained %v", next, drained, err, tc.want)
			}
		})
	}
}
