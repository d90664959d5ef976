package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// This file holds the read-only views the status page and the metrics
// need, and the one support write (Nudge). None of them changes what a
// register sees: Nudge only moves a pending request's next try earlier.

// Recent returns up to limit requests, the most recently changed first.
func (s *Store) Recent(ctx context.Context, limit int) ([]Record, error) {
	return s.list(ctx, "recent", `SELECT `+recordCols+` FROM requests ORDER BY updated_at DESC, n DESC LIMIT ?`, limit)
}

// Pending returns up to limit requests that are not final, oldest first.
func (s *Store) Pending(ctx context.Context, limit int) ([]Record, error) {
	return s.list(ctx, "pending", `SELECT `+recordCols+` FROM requests WHERE final_at IS NULL ORDER BY n LIMIT ?`, limit)
}

func (s *Store) list(ctx context.Context, what, query string, args ...any) ([]Record, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("outbox: %s: %w", what, err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("outbox: %s: %w", what, err)
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox: %s: %w", what, err)
	}
	return out, nil
}

// Terminals maps each of ids that is still known to its terminal, in one
// query, so a reader of the event log can label events without a lookup
// per event.
func (s *Store) Terminals(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	for len(ids) > 0 {
		// SQLite's default limit on bound parameters is far above this,
		// but a bounded page keeps the statement small.
		page := ids[:min(len(ids), 256)]
		ids = ids[len(page):]
		args := make([]any, len(page))
		for i, id := range page {
			args[i] = id
		}
		q := `SELECT id, terminal FROM requests WHERE id IN (?` + strings.Repeat(",?", len(page)-1) + `)`
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("outbox: terminals: %w", err)
		}
		for rows.Next() {
			var id, t string
			if err := rows.Scan(&id, &t); err != nil {
				rows.Close()
				return nil, fmt.Errorf("outbox: terminals: %w", err)
			}
			out[id] = t
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("outbox: terminals: %w", err)
		}
	}
	return out, nil
}

// Nudge makes register's pending request id, if it is waiting for its
// next try (queued after a failure, or unknown and being reconciled), due
// now. It returns the request so the caller can wake its terminal's
// worker; the worker then queries or sends exactly as it would have
// later, so the money-safety rules are untouched. ErrStale: the request
// is final or a call is in flight.
func (s *Store) Nudge(ctx context.Context, register, id string) (*Record, error) {
	register = orLocal(register)
	_, err := s.do(ctx, func(w *wtx) error {
		var state State
		var final bool
		var n int64
		err := w.queryRow(`SELECT state, final_at IS NOT NULL, n FROM requests WHERE register = ? AND id = ?`,
			register, id).Scan(&state, &final, &n)
		if err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return fmt.Errorf("outbox: nudge %s/%s: %w", register, id, err)
		}
		if final || (state != Queued && state != Unknown) {
			return ErrStale
		}
		_, err = w.exec(`UPDATE requests SET next_at = 0, updated_at = ? WHERE n = ?`, w.now.UnixMilli(), n)
		if err != nil {
			return fmt.Errorf("outbox: nudge %s/%s: %w", register, id, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r, _, err := s.Get(ctx, register, id)
	return r, err
}

// Ping proves the database is writable: the writer goroutine takes
// SQLite's write lock and commits. It writes no row, so unlike a command
// it need not wait for its op once ctx ends: a probe must answer within
// its own limit, even while another process holds the write lock and
// the writer sits in SQLite's busy_timeout.
func (s *Store) Ping(ctx context.Context) error {
	o, err := s.submit(ctx, func(w *wtx) error {
		_, err := w.exec(`UPDATE requests SET n = n WHERE 0`)
		return err
	})
	if err != nil {
		return fmt.Errorf("outbox: ping: %w", err)
	}
	select {
	case <-o.done:
		if o.err != nil {
			return fmt.Errorf("outbox: ping: %w", o.err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("outbox: ping: no write within the probe's time (another process may hold the database's write lock): %w", ctx.Err())
	}
}

// LastResult returns terminal's most recently finished request, or nil.
func (s *Store) LastResult(ctx context.Context, terminal string) (*Record, error) {
	r, err := scanRecord(s.queryRow(ctx, `SELECT `+recordCols+` FROM requests
		WHERE final_at IS NOT NULL AND terminal = ? ORDER BY final_at DESC LIMIT 1`, terminal))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("outbox: last result of %s: %w", terminal, err)
	}
	return r, nil
}

// Related returns the requests that name originalID as their original
// of the same register (ids and original_ids are per register: the
// refunds and voids of a sale, the parts of a partial payment),
// oldest first. A refund is checked against them at accept time. There
// is no index on original_id: a sale has few of them, refunds are rare,
// and the scan is one query per refund accepted.
func (s *Store) Related(ctx context.Context, register, originalID string) ([]Record, error) {
	return s.list(ctx, "related", `SELECT `+recordCols+` FROM requests WHERE register = ? AND original_id = ? ORDER BY n`, orLocal(register), originalID)
}
