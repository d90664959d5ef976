package outbox

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Load figures for the agent's overload signal (issue 16: a register
// waiting on a customer needs "busy, try again in N ms" at once, not an
// "accepted" seconds late). They are kept in memory and cost the accept
// path nothing but an atomic add.

// ExpectedWait estimates how long an operation submitted now would wait
// for its commit: what the operations of recent commits waited, from
// submit to durable (all of a group commit's operations share one
// fsync, so the queue's length says little by itself), or, when more is
// queued than a few groups can take, that many commits' time. Zero while
// the writer has nothing queued: an idle writer answers at once, and the
// estimate cannot stay high once the load that raised it is gone.
func (s *Store) ExpectedWait() time.Duration {
	n := s.inflight.Load()
	if n <= 0 {
		return 0
	}
	groups := (n + int64(s.maxBatch) - 1) / int64(s.maxBatch)
	return time.Duration(max(s.waited.Load(), groups*s.commitTook.Load()))
}

// PendingCount is the number of terminal's requests that are not final,
// as of the last commit.
func (s *Store) PendingCount(terminal string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending[terminal]
}

// noteCommit folds a group commit into the running averages (weight
// 1/4: a few slow fsyncs move them, one does not): how long it took, and
// the longest any of its operations waited from submit to durable.
func (s *Store) noteCommit(start, end time.Time, batch []*op) {
	var waited time.Duration
	for _, o := range batch {
		waited = max(waited, end.Sub(o.at))
	}
	ewma(&s.waited, int64(waited))
	ewma(&s.commitTook, int64(end.Sub(start)))
}

func ewma(v *atomic.Int64, x int64) {
	old := v.Load()
	if old == 0 {
		v.Store(x)
		return
	}
	v.Store(old + (x-old)/4)
}

// countPending reads every terminal's pending count; Open calls it once,
// then publish keeps the counts from the events it publishes.
func (s *Store) countPending() error {
	rows, err := s.wdb.Query(`SELECT terminal, COUNT(*) FROM requests WHERE final_at IS NULL GROUP BY terminal`)
	if err != nil {
		return fmt.Errorf("pending counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t string
		var n int
		if err := rows.Scan(&t, &n); err != nil {
			return fmt.Errorf("pending counts: %w", err)
		}
		s.pending[t] = n
	}
	return rows.Err()
}

// countEvent updates the pending counts for one published event. s.mu held.
func (s *Store) countEvent(e Event) {
	switch e.Type {
	case EventAccepted:
		s.pending[e.Terminal]++
	case EventResult:
		if s.pending[e.Terminal]--; s.pending[e.Terminal] <= 0 {
			delete(s.pending, e.Terminal)
		}
	}
}
