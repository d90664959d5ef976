package outbox

import (
	"fmt"
	"time"
)

// Load figures for the agent's overload signal (issue 16: a register
// waiting on a customer needs "busy, try again in N ms" at once, not an
// "accepted" seconds late). They are kept in memory and cost the accept
// path nothing but an atomic add.

// ExpectedWait estimates how long an operation submitted now would wait
// for its commit: the operations ahead of it times the recent time per
// operation. Zero while the writer has nothing queued.
func (s *Store) ExpectedWait() time.Duration {
	n := s.inflight.Load()
	if n <= 0 {
		return 0
	}
	return time.Duration(n * s.perOp.Load())
}

// PendingCount is the number of terminal's requests that are not final,
// as of the last commit.
func (s *Store) PendingCount(terminal string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending[terminal]
}

// notePerOp folds a group commit's time per operation into the running
// average (weight 1/8: a few slow fsyncs move it, one does not).
func (s *Store) notePerOp(took time.Duration, ops int) {
	if ops <= 0 {
		return
	}
	per := int64(took) / int64(ops)
	old := s.perOp.Load()
	if old == 0 {
		s.perOp.Store(per)
		return
	}
	s.perOp.Store(old + (per-old)/8)
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
