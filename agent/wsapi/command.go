package wsapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/outbox"
)

// answer is the first answer to a command, the same on both doors.
type answer struct {
	ev protocol.Event
	// streamed: ev is a committed event (a new "accepted", a cancel's
	// "cancelled" result) that reaches a WebSocket through its stream,
	// in seq order, rather than as a direct answer. The HTTP door
	// answers with it.
	streamed bool
	// status is the HTTP status of the answer (http.go).
	status int
}

func errAnswer(id string, e *protocol.Error) answer {
	return answer{ev: protocol.ErrorEvent(id, e), status: httpStatus(e.Code)}
}

func replay(ev outbox.Event) answer {
	w := protocol.FromOutbox(ev)
	w.Replay = true
	return answer{ev: w, status: http.StatusOK}
}

// command runs every command but hello, resume and call for the register
// cmd.Register. c is the WebSocket connection it came on, nil for the
// HTTP door: a connection follows each request it sends, queries,
// cancels or sends again until its result, and no command ever stops it
// following one (issue 16: a refused cancel used to cut the sender off
// its own sale's result).
func (s *Server) command(ctx context.Context, c *conn, cmd protocol.Command) answer {
	b := s.b
	follow := func(key string) bool {
		if c == nil {
			return false
		}
		return c.follow(key)
	}
	unfollow := func(key string, added bool) {
		if added {
			c.unfollow(key)
		}
	}
	key := reqKey(cmd.Register, cmd.ID)
	switch cmd.Type {
	case protocol.TypePing:
		return answer{ev: protocol.Event{Type: "pong"}, status: http.StatusOK}
	case protocol.TypeStatus:
		ev, err := b.Status(ctx)
		if err != nil {
			return errAnswer("", s.internal(err))
		}
		return answer{ev: ev, status: http.StatusOK}
	case protocol.TypeQuery:
		// Followed before the lookup, so no event can fall between what
		// the lookup saw and what the stream brings.
		added := follow(key)
		ev, err := b.Lookup(ctx, cmd.Register, cmd.ID)
		if err != nil {
			unfollow(key, added)
			return errAnswer(cmd.ID, s.lookupError(cmd.ID, err))
		}
		if ev.Type == outbox.EventResult {
			unfollow(key, added) // nothing follows a result
		}
		return replay(ev)
	case protocol.TypeCancel:
		added := follow(key)
		ev, err := b.Cancel(ctx, cmd.Register, cmd.ID)
		if err != nil {
			if errors.Is(err, outbox.ErrNotCancellable) {
				// Still followed: the request runs to its real result,
				// and whoever asked to cancel it must learn it.
				cur, _ := b.Lookup(ctx, cmd.Register, cmd.ID)
				return errAnswer(cmd.ID, protocol.Errorf(protocol.CodeNotCancellable, "id",
					"%s may already have reached the provider (state %s); it will finish with its real result", cmd.ID, cur.State))
			}
			unfollow(key, added)
			return errAnswer(cmd.ID, s.lookupError(cmd.ID, err))
		}
		if ev.Type == outbox.EventResult && ev.State == outbox.Cancelled {
			return answer{ev: protocol.FromOutbox(ev), streamed: true, status: http.StatusOK}
		}
		// Withdrawn from the terminal (Paywall): its result follows.
		a := replay(ev)
		a.streamed = true
		return a
	}
	added := follow(key)
	ev, existing, err := b.Submit(ctx, cmd)
	if err != nil {
		unfollow(key, added)
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return errAnswer(cmd.ID, pe)
		}
		return errAnswer(cmd.ID, s.internal(err, "id", cmd.ID, "register", cmd.Register, "terminal", cmd.Terminal))
	}
	if existing {
		if ev.Type == outbox.EventResult {
			unfollow(key, added)
		}
		return replay(ev)
	}
	return answer{ev: protocol.FromOutbox(ev), streamed: true, status: http.StatusAccepted}
}

func (s *Server) lookupError(id string, err error) *protocol.Error {
	if errors.Is(err, outbox.ErrNotFound) {
		return protocol.Errorf(protocol.CodeNotFound, "id", "no request with id %q from this register (unknown, or older than the retention period)", id)
	}
	return s.internal(err)
}

// internal answers a failure of the agent itself; attrs name the request
// for the log, when there is one.
func (s *Server) internal(err error, attrs ...any) *protocol.Error {
	if errors.Is(err, outbox.ErrClosed) {
		return protocol.Errorf(protocol.CodeShuttingDown, "", "the agent is shutting down; nothing was stored, send it again after reconnecting")
	}
	if errors.Is(err, context.Canceled) {
		// The register hung up (or closed the HTTP request) before the
		// command was handed to the outbox: nothing was stored, and
		// nobody is left to read the answer. Not the agent's failure.
		s.log.Info("register left before its command was stored", append(attrs, "err", err)...)
	} else {
		s.log.Error("command failed", append(attrs, "err", err)...)
	}
	return protocol.Errorf(protocol.CodeUnavailable, "", "the agent could not store the command; nothing was stored, send it again")
}

// httpStatus is the HTTP door's status for an error code
// (CONTRACT-16; docs/protocol.md's HTTP section).
func httpStatus(code string) int {
	switch code {
	case CodeTokenRequired, CodeTokenInvalid:
		return http.StatusUnauthorized
	case CodeHostNotAllowed, CodeOriginNotAllowed, protocol.CodeRegisterMismatch:
		return http.StatusForbidden
	case protocol.CodeNotFound, protocol.CodeUnknownOriginal:
		return http.StatusNotFound
	case protocol.CodeIDConflict, protocol.CodeNotCancellable:
		return http.StatusConflict
	case protocol.CodeFrameTooLarge:
		return http.StatusRequestEntityTooLarge
	case protocol.CodeRateLimited, CodeTooManyBadTokens, CodeTooManyConnections:
		return http.StatusTooManyRequests
	case protocol.CodeProviderUnavailable:
		return http.StatusBadGateway
	case protocol.CodeBusy, protocol.CodeUnavailable, protocol.CodeShuttingDown, CodePairingUnavailable:
		return http.StatusServiceUnavailable
	case protocol.CodeInternal:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest // the input's fault: invalid_*, missing_field, unknown_*, amount_exceeds_original, …
}
