package outbox

import (
	"context"
	"fmt"
)

// LastSeq is the seq of the newest committed event.
func (s *Store) LastSeq() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeq
}

// Changed returns a channel that is closed when events after the current
// LastSeq are committed. Take it before reading, so nothing committed in
// between is missed.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Events returns up to limit committed events with seq > since, oldest
// first: from memory when they are recent, else from the database.
func (s *Store) Events(ctx context.Context, since int64, limit int) ([]Event, error) {
	s.mu.Lock()
	if since >= s.lastSeq || limit <= 0 {
		s.mu.Unlock()
		return nil, nil
	}
	if since+1 > s.lastSeq-int64(s.ringLen) {
		n := min(s.lastSeq-since, int64(limit))
		out := make([]Event, n)
		size := int64(len(s.ring))
		for k := range out {
			out[k] = s.ring[(since+1+int64(k))%size]
		}
		s.mu.Unlock()
		return out, nil
	}
	s.mu.Unlock()
	rows, err := s.db.QueryContext(ctx, `SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?`, since, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: events since %d: %w", since, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var seq int64
		var body []byte
		if err := rows.Scan(&seq, &body); err != nil {
			return nil, fmt.Errorf("outbox: events since %d: %w", since, err)
		}
		e, err := decodeEvent(seq, body)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
