// Package outbox is the agent's durable queue: every request a register
// sends is committed here (SQLite, WAL, synchronous=FULL) before the
// register is told "accepted", and every change of its state is appended to
// an event log with a global, increasing sequence number that registers
// resume from after a reconnect.
//
// The outbox knows requests, states and events; it knows nothing of
// WebSocket frames or providers' wire formats. Results are stored as opaque
// JSON that the agent gives it.
//
// All writes go through one goroutine that commits them in groups: an
// operation waits for its own transaction to be fsync'ed, but operations
// that arrive while a commit is in progress share the next one. That keeps
// the durability promise (nothing is acknowledged before it is on disk)
// while the disk's fsync rate stops bounding throughput, and it publishes
// events in exactly the order of their sequence numbers.
package outbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go, no cgo)
)

// Errors callers branch on.
var (
	ErrIDConflict     = errors.New("outbox: id already used with a different body")
	ErrNotFound       = errors.New("outbox: no such request")
	ErrStale          = errors.New("outbox: request is no longer in the expected state")
	ErrNotCancellable = errors.New("outbox: request can no longer be cancelled")
	ErrClosed         = errors.New("outbox: closed")
)

// Options tune a Store. The zero value is usable.
type Options struct {
	// Now and Rand are injected so tests can be deterministic.
	Now  func() time.Time
	Rand io.Reader
	Log  *slog.Logger
	// RingSize is how many recent events are kept in memory for
	// connections to read without touching the database.
	RingSize int
	// MaxBatch bounds how many operations share one transaction.
	MaxBatch int
}

// Store is an open outbox.
type Store struct {
	db   *sql.DB // readers
	wdb  *sql.DB // the one writer connection
	now  func() time.Time
	rand io.Reader
	log  *slog.Logger

	ops      chan *op
	maxBatch int
	// stmts are the writer connection's prepared statements, by query;
	// toPrepare are queries met inside a transaction, prepared once the
	// connection is free again. Writer goroutine only. SQLite's parser
	// was an eighth of the accept path's CPU before statements were kept.
	stmts     map[string]*sql.Stmt
	toPrepare map[string]bool
	// bound are stmts bound to the current transaction (database/sql
	// closes them with it).
	bound struct {
		tx    *sql.Tx
		stmts map[string]*sql.Stmt
	}
	stop chan struct{}
	done chan struct{}

	// rstmts are the readers' prepared statements for the hot queries
	// (a worker's Head and NextDeadline on every step): parsing them
	// anew was a tenth of the agent's CPU with busy workers.
	rmu    sync.Mutex // guards rstmts
	rstmts map[string]*sql.Stmt

	// inflight counts operations submitted and not yet committed;
	// waited and commitTook are the recent wait of an operation and time
	// of a commit, in ns (load.go).
	inflight   atomic.Int64
	waited     atomic.Int64
	commitTook atomic.Int64

	mu      sync.Mutex // guards lastSeq, ring, ringLen, changed, closed, pending
	lastSeq int64
	// pending counts each terminal's requests that are not final.
	pending map[string]int
	// ring is a circular buffer of the most recent events: the ringLen
	// events up to lastSeq, the one with seq q at ring[q%len(ring)].
	// Seqs are gapless, so no search is needed. (Shifting a slice down
	// instead copied the whole ring under the lock at every commit.)
	ring    []Event
	ringLen int
	changed chan struct{} // closed and replaced on every publish
	closed  bool
	// submitting counts callers between the closed check and handing
	// their op to the writer; Close waits for them before stopping it,
	// so no op is ever left in the queue with nobody to run it.
	submitting sync.WaitGroup
}

// Open opens (creating if needed) the outbox database at path and brings
// its schema up to date.
func Open(path string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.RingSize <= 0 {
		opts.RingSize = 4096
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	// synchronous=FULL fsyncs the WAL on every commit: an "accepted" sent
	// to a register must survive a power cut. busy_timeout covers the
	// moments a reader holds a lock the writer needs (checkpoints).
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_txlock=immediate"
	wdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxLifetime(0)
	if err := migrate(wdb); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	// Readers get their own pool so status pages and resumes never wait
	// behind a commit; query_only keeps them honest.
	db, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	s := &Store{
		db: db, wdb: wdb,
		now: opts.Now, rand: opts.Rand, log: opts.Log,
		ops:       make(chan *op, 1024),
		stmts:     map[string]*sql.Stmt{},
		rstmts:    map[string]*sql.Stmt{},
		toPrepare: map[string]bool{},
		maxBatch:  opts.MaxBatch,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		ring:      make([]Event, opts.RingSize),
		changed:   make(chan struct{}),
		pending:   map[string]int{},
	}
	// The log's high-water mark, not just its newest row: when pruning
	// has emptied the log, seqs must still go on from where registers
	// last saw them, or a register resuming from its last seq would
	// miss everything new until the count caught up.
	if err := wdb.QueryRow(`SELECT MAX(
		COALESCE((SELECT MAX(seq) FROM events), 0),
		COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0))`).Scan(&s.lastSeq); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("outbox: open %s: last seq: %w", path, err)
	}
	if err := s.countPending(); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	s.bound.stmts = map[string]*sql.Stmt{}
	go s.writer()
	return s, nil
}

// Close stops the writer after the operations already submitted and
// closes the database. Requests stay in the file for the next Open.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.submitting.Wait()
	close(s.stop)
	<-s.done
	return s.closeDBs()
}

func (s *Store) closeDBs() error {
	for _, st := range s.stmts {
		st.Close()
	}
	s.rmu.Lock()
	for _, st := range s.rstmts {
		st.Close()
	}
	s.rmu.Unlock()
	return errors.Join(s.db.Close(), s.wdb.Close())
}

// queryRow runs q on the readers through its prepared statement,
// prepared at first use.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	s.rmu.Lock()
	st, ok := s.rstmts[q]
	if !ok {
		var err error
		if st, err = s.db.PrepareContext(ctx, q); err != nil {
			s.rmu.Unlock()
			return s.db.QueryRowContext(ctx, q, args...) // carries the error, or works unprepared
		}
		s.rstmts[q] = st
	}
	s.rmu.Unlock()
	return st.QueryRowContext(ctx, args...)
}

// An op is one unit of work for the writer: it runs in the group's
// transaction and may append events. Its fn may run twice (see commit),
// so it must keep no state across runs.
type op struct {
	at     time.Time // submitted
	fn     func(w *wtx) error
	err    error
	events []Event
	done   chan struct{}
}

// wtx is what an op sees: the transaction and a way to log events.
type wtx struct {
	tx     *sql.Tx
	s      *Store
	now    time.Time
	events []Event
}

// exec runs q in the op's transaction, through the prepared statement
// when there is one.
func (w *wtx) exec(q string, args ...any) (sql.Result, error) {
	return w.s.execTx(w.tx, q, args...)
}

func (w *wtx) queryRow(q string, args ...any) *sql.Row {
	if st := w.s.txStmt(w.tx, q); st != nil {
		return st.QueryRow(args...)
	}
	return w.tx.QueryRow(q, args...)
}

func (s *Store) execTx(tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := s.txStmt(tx, q); st != nil {
		return st.Exec(args...)
	}
	return tx.Exec(q, args...)
}

// txStmt returns q's prepared statement bound to tx, binding it once per
// transaction rather than once per use; nil (and q noted for preparing)
// when q has none yet.
func (s *Store) txStmt(tx *sql.Tx, q string) *sql.Stmt {
	if s.bound.tx != tx {
		s.bound.tx = tx
		clear(s.bound.stmts)
	}
	if st, ok := s.bound.stmts[q]; ok {
		return st
	}
	st, ok := s.stmts[q]
	if !ok {
		s.toPrepare[q] = true
		return nil
	}
	st = tx.Stmt(st)
	s.bound.stmts[q] = st
	return st
}

// prepare prepares the queries met since the last call. It runs between
// transactions: the writer has one connection, and a transaction holds it.
func (s *Store) prepare() {
	for q := range s.toPrepare {
		delete(s.toPrepare, q)
		st, err := s.wdb.Prepare(q)
		if err != nil {
			continue // it runs unprepared, as before
		}
		s.stmts[q] = st
	}
}

// do runs fn in the writer and waits until its transaction is durable.
func (s *Store) do(ctx context.Context, fn func(w *wtx) error) ([]Event, error) {
	o, err := s.submit(ctx, fn)
	if err != nil {
		return nil, err
	}
	// Once submitted, the op is waited for regardless of ctx: returning
	// early would leave the caller not knowing whether it committed.
	<-o.done
	return o.events, o.err
}

// submit hands fn to the writer; o.done closes once it has run.
func (s *Store) submit(ctx context.Context, fn func(w *wtx) error) (*op, error) {
	o := &op{at: time.Now(), fn: fn, done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	s.submitting.Add(1)
	s.mu.Unlock()
	// Counted until the writer finishes it, not until its caller stops
	// waiting: Ping may stop waiting first.
	s.inflight.Add(1)
	select {
	case s.ops <- o:
		s.submitting.Done()
	case <-ctx.Done():
		s.submitting.Done()
		s.inflight.Add(-1)
		return nil, ctx.Err()
	}
	return o, nil
}

func (s *Store) writer() {
	defer close(s.done)
	for {
		var first *op
		select {
		case first = <-s.ops:
		case <-s.stop:
			// Drain what was submitted before Close so no caller hangs.
			for {
				select {
				case o := <-s.ops:
					s.commit([]*op{o})
				default:
					return
				}
			}
		}
		batch := []*op{first}
	fill:
		for len(batch) < s.maxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		t0 := time.Now()
		s.commit(batch)
		s.noteCommit(t0, time.Now(), batch)
		if len(s.toPrepare) > 0 {
			s.prepare()
		}
	}
}

// commit runs a group of ops in one transaction. The ops run back to
// back; if one fails, the transaction is rolled back and the group run
// again with each op in its own savepoint, so that a failure undoes only
// its own writes. A savepoint around every op made SQLite copy each page
// an op touched into its statement journal, and the ops of a group touch
// mostly the same pages: that copying, and two statements more per op,
// were a third of the writer's time, while failing ops are rare.
func (s *Store) commit(batch []*op) {
	if s.run(batch, false) {
		return
	}
	for _, o := range batch {
		o.err, o.events = nil, nil
	}
	s.run(batch, true)
}

// run runs batch in one transaction and finishes its ops. Without
// savepoints it gives up at the first failing op, rolls back, finishes
// nothing and returns false.
func (s *Store) run(batch []*op, savepoints bool) bool {
	finish := func(err error) {
		for _, o := range batch {
			if o.err == nil && err != nil {
				o.err = err
				o.events = nil
			}
			s.inflight.Add(-1)
			close(o.done)
		}
	}
	tx, err := s.wdb.Begin()
	if err != nil {
		finish(fmt.Errorf("outbox: begin: %w", err))
		return true
	}
	s.mu.Lock()
	seq := s.lastSeq
	s.mu.Unlock()
	now := s.now()
	var all []Event
	for _, o := range batch {
		if savepoints {
			if _, err := s.execTx(tx, `SAVEPOINT op`); err != nil {
				o.err = fmt.Errorf("outbox: savepoint: %w", err)
				continue
			}
		}
		w := &wtx{tx: tx, s: s, now: now}
		before := seq
		err := o.fn(w)
		if err == nil {
			err = w.flushEvents(&seq)
		}
		if err != nil {
			if !savepoints {
				tx.Rollback()
				return false
			}
			// Seqs stay gapless: the ring and resume count on it.
			seq = before
			o.err = err
			if rerr := s.rollbackTo(tx); rerr != nil {
				tx.Rollback()
				finish(rerr)
				return true
			}
			continue
		}
		if savepoints {
			if _, err := s.execTx(tx, `RELEASE op`); err != nil {
				tx.Rollback()
				finish(fmt.Errorf("outbox: release savepoint: %w", err))
				return true
			}
		}
		o.events = w.events
		all = append(all, w.events...)
	}
	if err := tx.Commit(); err != nil {
		finish(fmt.Errorf("outbox: commit: %w", err))
		return true
	}
	s.publish(all)
	finish(nil)
	return true
}

func (s *Store) rollbackTo(tx *sql.Tx) error {
	if _, err := s.execTx(tx, `ROLLBACK TO op`); err != nil {
		return fmt.Errorf("outbox: rollback to savepoint: %w", err)
	}
	if _, err := s.execTx(tx, `RELEASE op`); err != nil {
		return fmt.Errorf("outbox: release savepoint: %w", err)
	}
	return nil
}

// publish makes committed events visible to readers, in seq order.
func (s *Store) publish(evs []Event) {
	if len(evs) == 0 {
		return
	}
	s.mu.Lock()
	if evs[0].Seq != s.lastSeq+1 {
		s.ringLen = 0 // cannot happen while seqs are gapless; readers fall back to the database
	}
	for _, e := range evs {
		s.ring[e.Seq%int64(len(s.ring))] = e
		s.countEvent(e)
	}
	s.ringLen = min(s.ringLen+len(evs), len(s.ring))
	s.lastSeq = evs[len(evs)-1].Seq
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}
