package wsapi

import (
	"context"
	"log/slog"

	"github.com/tezgah/tezgah/outbox"
)

// Routing. A connection that has not resumed sees only the events of the
// requests it sent. One goroutine per server follows the outbox and hands
// each event to the connections watching its id, so a commit wakes the
// connections it concerns and no others: with every connection scanning
// the log itself, each group commit woke all of them at once, and with
// 64 registers that crowd of runnable goroutines was most of the accept
// latency (BenchmarkAcceptLatency, docs/performance.md).
//
// A connection that has resumed follows the log itself from its resume
// point (conn.writer), since it wants everything anyway.

// startRouting starts the router at cursor the first time a connection
// is admitted. The caller holds s.mu and has checked s.closed; cursor is
// taken before the connection's goroutines start, so the router cannot
// begin after the "accepted" of its first command.
func (s *Server) startRouting(cursor int64) {
	if s.routing {
		return
	}
	s.routing = true
	s.wg.Add(1)
	go s.route(cursor)
}

func (s *Server) route(cursor int64) {
	defer s.wg.Done()
	b := s.b
	for {
		changed := b.Changed()
		cursor, _ = readPages(b, s.log, cursor, func(evs []outbox.Event) bool {
			s.rmu.Lock()
			defer s.rmu.Unlock()
			for _, e := range evs {
				k := reqKey(e.Register, e.ID)
				for _, c := range s.watchers[k] {
					c.deliver(e)
				}
				if e.Type == outbox.EventResult {
					// A result is the last event of a request.
					for _, c := range s.watchers[k] {
						delete(c.interest, k)
					}
					delete(s.watchers, k)
				}
			}
			return true
		})
		select {
		case <-s.stopRouting:
			return
		case <-changed:
		}
	}
}

// readPages hands fn the committed events after cursor, a page at a
// time, and returns the seq it got to; false when fn returned false. A
// failed read is logged and ends the pass: the next commit wakes the
// caller to try again.
func readPages(b Backend, log *slog.Logger, cursor int64, fn func([]outbox.Event) bool) (int64, bool) {
	for cursor < b.LastSeq() {
		evs, err := b.Events(context.Background(), cursor, 256)
		if err != nil {
			log.Error("reading events failed", "err", err)
			break
		}
		if len(evs) == 0 { // the rest was pruned
			return b.LastSeq(), true
		}
		if !fn(evs) {
			return cursor, false
		}
		cursor = evs[len(evs)-1].Seq
	}
	return cursor, true
}

// reqKey names a request across registers: ids are scoped per register.
func reqKey(register, id string) string {
	if register == "" {
		register = outbox.Local
	}
	return register + "\x00" + id
}

// follow routes the events of request key to c from now on. It reports
// whether c did not follow it already: only what follow added may be
// undone (unfollow), so that no command ever stops a connection from
// receiving a request it already followed.
func (c *conn) follow(key string) bool {
	s := c.s
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if c.interest[key] {
		return false
	}
	c.interest[key] = true
	s.watchers[key] = append(s.watchers[key], c)
	return true
}

// unfollow stops routing the events of request key to c; only for a
// follow that reported true.
func (c *conn) unfollow(key string) {
	c.s.rmu.Lock()
	defer c.s.rmu.Unlock()
	c.forget(key)
}

// unwatchAll stops routing anything to c; the connection is closing.
func (c *conn) unwatchAll() {
	c.s.rmu.Lock()
	defer c.s.rmu.Unlock()
	for id := range c.interest {
		c.forget(id)
	}
}

// forget removes c from the watchers of id. The caller holds s.rmu.
func (c *conn) forget(id string) {
	s := c.s
	delete(c.interest, id)
	ws := s.watchers[id]
	for i, w := range ws {
		if w == c {
			ws = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(s.watchers, id)
	} else {
		s.watchers[id] = ws
	}
}

// deliver queues e for c's writer. It never blocks: the router serves
// every connection and must not wait on a slow one.
func (c *conn) deliver(e outbox.Event) {
	c.qmu.Lock()
	c.queue = append(c.queue, e)
	c.qmu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// take returns and clears c's queued events, oldest first.
func (c *conn) take() []outbox.Event {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	q := c.queue
	c.queue = nil
	return q
}
