package outbox

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// State is where a request is in its life.
type State string

// The states of DESIGN.md's life cycle. queued, sending and unknown are
// pending; the rest are final and never change again.
const (
	Queued  State = "queued"  // committed, not yet (or not now) being sent
	Sending State = "sending" // a call to the provider is in flight
	Unknown State = "unknown" // may have reached the provider: being reconciled by query
	// Waiting is logged while the provider waits for someone else (the
	// payer on a 3-D Secure page). It is an event only: the row stays
	// "sending", so a crash meanwhile is reconciled like any other call.
	Waiting   State = "waiting"
	Approved  State = "approved"  // the provider did it
	Declined  State = "declined"  // the card or bank said no
	Failed    State = "failed"    // the provider (or the agent) refused it; nothing moved
	Expired   State = "expired"   // a sale not sent before its deadline; never sent later
	Cancelled State = "cancelled" // cancelled by the register before it was sent
)

// Final reports whether s is an end state.
func (s State) Final() bool {
	switch s {
	case Approved, Declined, Failed, Expired, Cancelled:
		return true
	}
	return false
}

// Local is the register of a connection that never names itself, and of
// every request stored before registers had names.
const Local = "local"

// NewRequest is what the agent hands Accept.
type NewRequest struct {
	// Register and ID are the idempotency key: ids are scoped per
	// register. An empty Register is Local.
	Register   string
	ID         string
	Terminal   string
	Op         string
	Body       []byte // canonical JSON of the command; compared for idempotency
	OriginalID string
	Deadline   time.Time // zero: none
}

// Record is a stored request.
type Record struct {
	N         int64
	Register  string
	ID        string
	Terminal  string
	Op        string
	Body      []byte
	Reference string
	// ProviderRef is the provider's own id for the request, once known.
	ProviderRef string
	OriginalID  string
	State       State
	Attempts    int
	MaybeSent   bool // a call may have reached the provider: query before any resend
	Deadline    time.Time
	NextAt      time.Time
	Reason      string
	Result      []byte
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Event is one entry of the event log.
type Event struct {
	Seq int64  `json:"-"`
	ID  string `json:"id"`
	// Register is who sent the request; Local in events written before
	// schema 5.
	Register string `json:"register,omitempty"`
	// Terminal is the request's terminal, so readers of the log can
	// label an event without a lookup; empty in events written before
	// schema 4.
	Terminal string `json:"terminal,omitempty"`
	Type     string `json:"type"` // accepted | state | result
	State    State  `json:"state"`
	Attempt  int    `json:"attempt,omitempty"`
	Reason   string `json:"reason,omitempty"`
	NextAt   int64  `json:"next_at,omitempty"` // unix ms of the next try
	// ActionURL is where someone must act for a "waiting" request to go
	// on (the local 3-D Secure page).
	ActionURL string          `json:"action_url,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	At        int64           `json:"at"` // unix ms

	n int64 // the request's arrival number when the writer knows it
}

// Event types.
const (
	EventAccepted = "accepted"
	EventState    = "state"
	EventResult   = "result"
)

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

// Hash is the idempotency fingerprint of a command body.
func Hash(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

// referenceAlphabet avoids I and O so a reference read aloud over the
// phone to support is unambiguous.
const referenceAlphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// ReferenceLen is the length of provider references: Vomsis requires
// exactly 15 characters for referanceNo, and one format for every
// provider keeps support simple.
const ReferenceLen = 15

// refTimeLen is how many leading characters of a reference carry the
// time (milliseconds in base 34: nine digits last until the year 3893).
// Time-ordered references are appended at the end of the reference
// index, where random ones wrote a different page of it for every
// accept; six random characters keep references unique within a
// millisecond (and a collision only means another draw).
const refTimeLen = 9

func (s *Store) newReference(now time.Time) (string, error) {
	var b [ReferenceLen]byte
	if _, err := io.ReadFull(s.rand, b[refTimeLen:]); err != nil {
		return "", fmt.Errorf("reference: %w", err)
	}
	for i := refTimeLen; i < len(b); i++ {
		b[i] = referenceAlphabet[int(b[i])%len(referenceAlphabet)]
	}
	t := uint64(max(now.UnixMilli(), 0))
	for i := refTimeLen - 1; i >= 0; i-- {
		b[i] = referenceAlphabet[t%uint64(len(referenceAlphabet))]
		t /= uint64(len(referenceAlphabet))
	}
	return string(b[:]), nil
}

// event appends an event to the op's transaction.
func (w *wtx) event(e Event) {
	e.At = w.now.UnixMilli()
	w.events = append(w.events, e)
}

// flushEvents inserts the op's events, assigning consecutive seqs.
func (w *wtx) flushEvents(seq *int64) error {
	for i := range w.events {
		body, err := json.Marshal(w.events[i])
		if err != nil {
			return fmt.Errorf("outbox: event: %w", err)
		}
		next := *seq + 1
		e := &w.events[i]
		if e.n != 0 {
			_, err = w.exec(`INSERT INTO events(seq, request_id, request_n, at, body) VALUES (?, ?, ?, ?, ?)`,
				next, e.ID, e.n, e.At, body)
		} else {
			reg := e.Register
			if reg == "" {
				reg = Local
			}
			_, err = w.exec(`INSERT INTO events(seq, request_id, request_n, at, body)
				VALUES (?, ?, (SELECT n FROM requests WHERE register = ? AND id = ?), ?, ?)`, next, e.ID, reg, e.ID, e.At, body)
		}
		if err != nil {
			return fmt.Errorf("outbox: event: %w", err)
		}
		*seq = next
		w.events[i].Seq = next
	}
	return nil
}

// Accept stores a new request durably and logs its "accepted" event. If
// the id is already known with the same body it returns that request's
// latest event and existing=true, doing nothing; with another body it
// returns ErrIDConflict.
func (s *Store) Accept(ctx context.Context, r NewRequest) (ev Event, existing bool, err error) {
	if r.Register == "" {
		r.Register = Local
	}
	hash := Hash(r.Body)
	evs, err := s.do(ctx, func(w *wtx) error {
		existing = false
		now := w.now.UnixMilli()
		var n int64
		// New ids are the common case, so the insert itself is the
		// idempotency check: only when it adds nothing is the id looked
		// up, to tell a known id from a reference drawn twice.
		for try := 0; ; try++ {
			ref, err := s.newReference(w.now)
			if err != nil {
				return fmt.Errorf("outbox: accept %s: %w", r.ID, err)
			}
			res, err := w.exec(`INSERT INTO requests
				(register, id, terminal, op, body, body_hash, reference, original_id, state, deadline, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT DO NOTHING`,
				r.Register, r.ID, r.Terminal, r.Op, r.Body, hash, ref, r.OriginalID, Queued, ms(r.Deadline), now, now)
			if err != nil {
				return fmt.Errorf("outbox: accept %s: %w", r.ID, err)
			}
			if added, _ := res.RowsAffected(); added == 1 {
				n, _ = res.LastInsertId()
				break
			}
			var have string
			var known int64
			err = w.queryRow(`SELECT body_hash, n FROM requests WHERE register = ? AND id = ?`, r.Register, r.ID).Scan(&have, &known)
			switch {
			case err == nil:
				if have != hash {
					return ErrIDConflict
				}
				existing = true
				ev, err = latestEvent(w.tx, known)
				return err
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("outbox: accept %s: %w", r.ID, err)
			}
			if try == 5 {
				return fmt.Errorf("outbox: accept %s: no free reference", r.ID)
			}
		}
		w.event(Event{ID: r.ID, Register: r.Register, Terminal: r.Terminal, Type: EventAccepted, State: Queued, n: n})
		return nil
	})
	if err != nil {
		return Event{}, false, err
	}
	if existing {
		return ev, true, nil
	}
	return evs[0], false, nil
}

const latestEventQuery = `SELECT seq, body FROM events WHERE request_n = ? ORDER BY seq DESC LIMIT 1`

func latestEvent(q interface {
	QueryRow(query string, args ...any) *sql.Row
}, n int64) (Event, error) {
	var seq int64
	var body []byte
	if err := q.QueryRow(latestEventQuery, n).Scan(&seq, &body); err != nil {
		return Event{}, fmt.Errorf("outbox: latest event of request %d: %w", n, err)
	}
	return decodeEvent(seq, body)
}

func decodeEvent(seq int64, body []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		return Event{}, fmt.Errorf("outbox: event %d: %w", seq, err)
	}
	e.Seq = seq
	if e.Register == "" {
		e.Register = Local // written before schema 5
	}
	return e, nil
}

const recordCols = `n, register, id, terminal, op, body, reference, provider_ref, original_id, state, attempts, maybe_sent,
	deadline, next_at, reason, result, created_at, updated_at`

func scanRecord(row interface{ Scan(...any) error }) (*Record, error) {
	var r Record
	var deadline, nextAt, created, updated int64
	if err := row.Scan(&r.N, &r.Register, &r.ID, &r.Terminal, &r.Op, &r.Body, &r.Reference, &r.ProviderRef, &r.OriginalID, &r.State,
		&r.Attempts, &r.MaybeSent, &deadline, &nextAt, &r.Reason, &r.Result, &created, &updated); err != nil {
		return nil, err
	}
	r.Deadline, r.NextAt = fromMS(deadline), fromMS(nextAt)
	r.CreatedAt, r.UpdatedAt = fromMS(created), fromMS(updated)
	return &r, nil
}

// Get returns register's request id and its latest event.
func (s *Store) Get(ctx context.Context, register, id string) (*Record, Event, error) {
	register = orLocal(register)
	r, err := scanRecord(s.queryRow(ctx, `SELECT `+recordCols+` FROM requests WHERE register = ? AND id = ?`, register, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Event{}, ErrNotFound
	}
	if err != nil {
		return nil, Event{}, fmt.Errorf("outbox: get %s/%s: %w", register, id, err)
	}
	var seq int64
	var body []byte
	if err := s.queryRow(ctx, latestEventQuery, r.N).Scan(&seq, &body); err != nil {
		return nil, Event{}, fmt.Errorf("outbox: get %s/%s: latest event: %w", register, id, err)
	}
	ev, err := decodeEvent(seq, body)
	return r, ev, err
}

const headQuery = `SELECT ` + recordCols + ` FROM requests
	WHERE terminal = ? AND final_at IS NULL ORDER BY n LIMIT 1`

// Head returns the oldest pending request of terminal, or nil if there is
// none. Requests of one terminal are handled strictly in arrival order:
// a physical terminal does one thing at a time, and a refund must not
// overtake the sale it refunds.
func (s *Store) Head(ctx context.Context, terminal string) (*Record, error) {
	r, err := scanRecord(s.queryRow(ctx, headQuery, terminal))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("outbox: head %s: %w", terminal, err)
	}
	return r, nil
}

// NextDeadline returns the earliest deadline among terminal's sales that
// were never sent, or zero if there is none. The worker wakes then to
// expire them on time even while the head of its queue is backing off.
func (s *Store) NextDeadline(ctx context.Context, terminal string) (time.Time, error) {
	var d sql.NullInt64
	err := s.queryRow(ctx, `SELECT MIN(deadline) FROM requests
		WHERE terminal = ? AND final_at IS NULL AND state = ? AND maybe_sent = 0 AND deadline > 0`,
		terminal, Queued).Scan(&d)
	if err != nil {
		return time.Time{}, fmt.Errorf("outbox: next deadline %s: %w", terminal, err)
	}
	return fromMS(d.Int64), nil
}

// Begin marks r as being sent: attempt n+1, and from now on the request
// may have reached the provider. It must be durable before the call is
// made, so that a crash mid-call is recovered by query, never by resend.
func (s *Store) Begin(ctx context.Context, r *Record) (Event, error) {
	evs, err := s.do(ctx, func(w *wtx) error {
		res, err := w.exec(`UPDATE requests SET state = ?, attempts = attempts + 1, maybe_sent = 1, updated_at = ?
			WHERE n = ? AND final_at IS NULL AND state IN (?, ?) AND attempts = ?`,
			Sending, w.now.UnixMilli(), r.N, Queued, Unknown, r.Attempts)
		if err != nil {
			return fmt.Errorf("outbox: begin %s: %w", r.ID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrStale
		}
		w.event(Event{ID: r.ID, Register: r.Register, Terminal: r.Terminal, Type: EventState, State: Sending, Attempt: r.Attempts + 1, n: r.N})
		return nil
	})
	if err != nil {
		return Event{}, err
	}
	r.State, r.Attempts, r.MaybeSent = Sending, r.Attempts+1, true
	return evs[0], nil
}

// Defer puts a pending request back to wait until next: state Queued (the
// provider certainly did not act, or said it never saw the reference) or
// Unknown (it may have). It also stores r.MaybeSent, so a caller that knows
// the last attempt never left the machine can say so; a request no
// attempt of which may have reached the provider can be cancelled or
// expired without asking it. An event is logged only when the state
// changes, so a long outage does not flood the log with identical retries.
func (s *Store) Defer(ctx context.Context, r *Record, state State, next time.Time, reason string) (*Event, error) {
	if state != Queued && state != Unknown {
		return nil, fmt.Errorf("outbox: defer %s: bad state %q", r.ID, state)
	}
	evs, err := s.do(ctx, func(w *wtx) error {
		res, err := w.exec(`UPDATE requests SET state = ?, next_at = ?, reason = ?, maybe_sent = ?, updated_at = ?
			WHERE n = ? AND final_at IS NULL`, state, ms(next), reason, r.MaybeSent, w.now.UnixMilli(), r.N)
		if err != nil {
			return fmt.Errorf("outbox: defer %s: %w", r.ID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrStale
		}
		if state != r.State {
			w.event(Event{ID: r.ID, Register: r.Register, Terminal: r.Terminal, Type: EventState, State: state, Attempt: r.Attempts, Reason: reason, NextAt: ms(next), n: r.N})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.State, r.NextAt, r.Reason = state, next, reason
	if len(evs) == 0 {
		return nil, nil
	}
	return &evs[0], nil
}

// SetProviderRef durably stores the provider's own id for a pending
// request. It is called mid-call, the moment the provider hands the id
// back, so it does not log an event.
func (s *Store) SetProviderRef(ctx context.Context, r *Record, ref string) error {
	_, err := s.do(ctx, func(w *wtx) error {
		res, err := w.exec(`UPDATE requests SET provider_ref = ?, updated_at = ? WHERE n = ? AND final_at IS NULL`,
			ref, w.now.UnixMilli(), r.N)
		if err != nil {
			return fmt.Errorf("outbox: provider ref %s: %w", r.ID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrStale
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.ProviderRef = ref
	return nil
}

// Wait logs a "waiting" state event for register's pending request id,
// naming where someone must act. The row is not changed (see Waiting).
func (s *Store) Wait(ctx context.Context, register, id, actionURL string) (Event, error) {
	register = orLocal(register)
	evs, err := s.do(ctx, func(w *wtx) error {
		var attempts int
		var terminal string
		var n int64
		err := w.queryRow(`SELECT attempts, terminal, n FROM requests WHERE register = ? AND id = ? AND final_at IS NULL`,
			register, id).Scan(&attempts, &terminal, &n)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrStale
		}
		if err != nil {
			return fmt.Errorf("outbox: wait %s: %w", id, err)
		}
		w.event(Event{ID: id, Register: register, Terminal: terminal, Type: EventState, State: Waiting, Attempt: attempts, ActionURL: actionURL, n: n})
		return nil
	})
	if err != nil {
		return Event{}, err
	}
	return evs[0], nil
}

// Finish records r's final state and result and logs the "result" event.
func (s *Store) Finish(ctx context.Context, r *Record, state State, result []byte) (Event, error) {
	if !state.Final() {
		return Event{}, fmt.Errorf("outbox: finish %s: %q is not final", r.ID, state)
	}
	evs, err := s.do(ctx, func(w *wtx) error {
		return w.finish(r.N, r.Register, r.ID, r.Terminal, r.Attempts, state, result, "")
	})
	if err != nil {
		return Event{}, err
	}
	r.State, r.Result = state, result
	return evs[0], nil
}

// FinishNext is Finish, and in the same transaction begins the
// terminal's next request when it can be sent at once without asking
// the provider anything first: queued, never possibly sent, not waiting
// for a retry time (at now) or for an original sale, and not past its
// deadline; and only if begin, asked inside the transaction, still
// says so (the worker is not stopping, its provider is not paused). It
// returns that request, begun as Begin would have (attempt n+1, maybe
// sent, durable before the call), or nil. The worker then waits for one
// commit per sale instead of two, and reads nothing between them.
// drained reports that the terminal had nothing else pending when the
// transaction committed: the worker can wait for the next accept's
// wake-up without asking again.
func (s *Store) FinishNext(ctx context.Context, r *Record, state State, result []byte, now time.Time, begin func() bool) (ev Event, next *Record, drained bool, err error) {
	if !state.Final() {
		return Event{}, nil, false, fmt.Errorf("outbox: finish %s: %q is not final", r.ID, state)
	}
	evs, err := s.do(ctx, func(w *wtx) error {
		next, drained = nil, false // the op may run twice (commit)
		if err := w.finish(r.N, r.Register, r.ID, r.Terminal, r.Attempts, state, result, ""); err != nil {
			return err
		}
		if !begin() {
			return nil
		}
		n, err := scanRecord(w.queryRow(headQuery, r.Terminal))
		if errors.Is(err, sql.ErrNoRows) {
			drained = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("outbox: finish %s: next: %w", r.ID, err)
		}
		if n.State != Queued || n.MaybeSent || n.OriginalID != "" || n.NextAt.After(now) ||
			(!n.Deadline.IsZero() && !now.Before(n.Deadline)) {
			return nil // the worker's own step decides
		}
		if _, err := w.exec(`UPDATE requests SET state = ?, attempts = attempts + 1, maybe_sent = 1, updated_at = ? WHERE n = ?`,
			Sending, w.now.UnixMilli(), n.N); err != nil {
			return fmt.Errorf("outbox: begin %s: %w", n.ID, err)
		}
		w.event(Event{ID: n.ID, Register: n.Register, Terminal: n.Terminal, Type: EventState, State: Sending, Attempt: n.Attempts + 1, n: n.N})
		n.State, n.Attempts, n.MaybeSent = Sending, n.Attempts+1, true
		next = n
		return nil
	})
	if err != nil {
		return Event{}, nil, false, err
	}
	r.State, r.Result = state, result
	return evs[0], next, drained, nil
}

// finish ends request n (register's id).
func (w *wtx) finish(n int64, register, id, terminal string, attempts int, state State, result []byte, reason string) error {
	now := w.now.UnixMilli()
	res, err := w.exec(`UPDATE requests SET state = ?, result = ?, reason = ?, updated_at = ?, final_at = ?
		WHERE n = ? AND final_at IS NULL`, state, result, reason, now, now, n)
	if err != nil {
		return fmt.Errorf("outbox: finish %s: %w", id, err)
	}
	if k, _ := res.RowsAffected(); k != 1 {
		return ErrStale
	}
	w.event(Event{ID: id, Register: register, Terminal: terminal, Type: EventResult, State: state, Attempt: attempts, Reason: reason, Result: result, n: n})
	return nil
}

// ExpireDue expires terminal's sales that were never sent and whose
// deadline has passed: the customer has gone, so they are never sent.
func (s *Store) ExpireDue(ctx context.Context, terminal string, now time.Time) ([]Event, error) {
	return s.do(ctx, func(w *wtx) error {
		rows, err := w.tx.Query(`SELECT n, register, id, attempts FROM requests WHERE terminal = ? AND final_at IS NULL
			AND state = ? AND maybe_sent = 0 AND deadline > 0 AND deadline <= ?`, terminal, Queued, now.UnixMilli())
		if err != nil {
			return fmt.Errorf("outbox: expire %s: %w", terminal, err)
		}
		type due struct {
			n            int64
			register, id string
			attempts     int
		}
		var list []due
		for rows.Next() {
			var d due
			if err := rows.Scan(&d.n, &d.register, &d.id, &d.attempts); err != nil {
				rows.Close()
				return fmt.Errorf("outbox: expire %s: %w", terminal, err)
			}
			list = append(list, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("outbox: expire %s: %w", terminal, err)
		}
		for _, d := range list {
			if err := w.finish(d.n, d.register, d.id, terminal, d.attempts, Expired, nil, "deadline_passed"); err != nil {
				return err
			}
		}
		return nil
	})
}

// Cancel cancels register's request id if it has certainly not reached
// the provider. Anything that may have been sent runs to its real
// outcome instead: ErrNotCancellable.
func (s *Store) Cancel(ctx context.Context, register, id string) (Event, error) {
	register = orLocal(register)
	evs, err := s.do(ctx, func(w *wtx) error {
		var state State
		var maybeSent bool
		var attempts int
		var terminal string
		var n int64
		err := w.queryRow(`SELECT state, maybe_sent, attempts, terminal, n FROM requests WHERE register = ? AND id = ?`,
			register, id).Scan(&state, &maybeSent, &attempts, &terminal, &n)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("outbox: cancel %s: %w", id, err)
		}
		if state != Queued || maybeSent {
			return ErrNotCancellable
		}
		return w.finish(n, register, id, terminal, attempts, Cancelled, nil, "cancelled_by_register")
	})
	if err != nil {
		return Event{}, err
	}
	return evs[0], nil
}

// Recover is called once at start-up, before any worker runs: a request
// left in "sending" by a crash may have reached the provider, so it
// becomes "unknown" and will be reconciled by query.
func (s *Store) Recover(ctx context.Context) (int, error) {
	evs, err := s.do(ctx, func(w *wtx) error {
		rows, err := w.tx.Query(`SELECT n, register, id, terminal, attempts FROM requests WHERE final_at IS NULL AND state = ?`, Sending)
		if err != nil {
			return fmt.Errorf("outbox: recover: %w", err)
		}
		var left []Event
		for rows.Next() {
			e := Event{Type: EventState, State: Unknown, Reason: "agent_restarted"}
			if err := rows.Scan(&e.n, &e.Register, &e.ID, &e.Terminal, &e.Attempt); err != nil {
				rows.Close()
				return fmt.Errorf("outbox: recover: %w", err)
			}
			left = append(left, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("outbox: recover: %w", err)
		}
		for _, e := range left {
			if _, err := w.exec(`UPDATE requests SET state = ?, reason = ?, next_at = 0, updated_at = ? WHERE n = ?`,
				Unknown, "agent_restarted", w.now.UnixMilli(), e.n); err != nil {
				return fmt.Errorf("outbox: recover %s: %w", e.ID, err)
			}
			w.event(e)
		}
		return nil
	})
	return len(evs), err
}

// Prune deletes final requests older than before, with their events. The
// idempotency key goes with them: DESIGN.md keeps keys for the retention
// period only.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	_, err := s.do(ctx, func(w *wtx) error {
		cut := before.UnixMilli()
		if _, err := w.exec(`DELETE FROM events WHERE request_n IN
			(SELECT n FROM requests WHERE final_at IS NOT NULL AND final_at < ?)`, cut); err != nil {
			return fmt.Errorf("outbox: prune events: %w", err)
		}
		res, err := w.exec(`DELETE FROM requests WHERE final_at IS NOT NULL AND final_at < ?`, cut)
		if err != nil {
			return fmt.Errorf("outbox: prune requests: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// TerminalStats is a terminal's queue as the status command shows it.
type TerminalStats struct {
	Pending int
	Unknown int
	Oldest  time.Time // arrival of the oldest pending request
}

// Stats returns per-terminal queue figures for terminals with pending work.
func (s *Store) Stats(ctx context.Context) (map[string]TerminalStats, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT terminal, COUNT(*), SUM(state = ?), MIN(created_at)
		FROM requests WHERE final_at IS NULL GROUP BY terminal`, Unknown)
	if err != nil {
		return nil, fmt.Errorf("outbox: stats: %w", err)
	}
	defer rows.Close()
	out := map[string]TerminalStats{}
	for rows.Next() {
		var t string
		var st TerminalStats
		var oldest int64
		if err := rows.Scan(&t, &st.Pending, &st.Unknown, &oldest); err != nil {
			return nil, fmt.Errorf("outbox: stats: %w", err)
		}
		st.Oldest = fromMS(oldest)
		out[t] = st
	}
	return out, rows.Err()
}

// orLocal is register, or Local for the callers that name none.
func orLocal(register string) string {
	if register == "" {
		return Local
	}
	return register
}
