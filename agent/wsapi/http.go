package wsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/outbox"
)

// The HTTP door (issue 16) is for registers that cannot speak WebSocket
// (VB6, Delphi 7, old .NET over WinINet/WinHTTP): one command per POST,
// answered with the event a WebSocket would send first, and a long poll
// for a request's result. It shares the WebSocket's admission (Host,
// Origin, token), rate limit, connection limit, frame limit and command
// handling (command.go); only the framing differs.

// HeaderRegister names the register on the HTTP door.
const HeaderRegister = "Tezgah-Register"

// MaxWait bounds a long poll's wait, in seconds.
const MaxWait = 60

// Drain makes long polls answer now; the HTTP server's shutdown calls it
// so that it need not wait a minute for them.
func (s *Server) Drain() {
	s.quitOnce.Do(func() { close(s.quit) })
}

// httpRegister admits an HTTP door request and names its register; on
// refusal it has answered.
func (s *Server) httpRegister(w http.ResponseWriter, r *http.Request) (string, bool) {
	name, no := s.admit(r)
	if no != nil {
		s.refused(r, r.Header.Get(HeaderRegister), no.code)
		s.log.Warn("refused HTTP command", "code", no.code, "remote", r.RemoteAddr, "host", r.Host, "origin", r.Header.Get("Origin"))
		no.write(w)
		return "", false
	}
	asked := r.Header.Get(HeaderRegister)
	switch {
	case asked != "" && !protocol.ValidRegister(asked):
		writeAnswer(w, errAnswer("", protocol.Errorf(protocol.CodeInvalidField, "register",
			"%s must be 1-64 characters of A-Z a-z 0-9 . _ -", HeaderRegister)))
		return "", false
	case asked != "" && name != "" && asked != name:
		s.refused(r, asked, protocol.CodeRegisterMismatch)
		writeAnswer(w, errAnswer("", protocol.Errorf(protocol.CodeRegisterMismatch, "register",
			"the pairing token is register %q's; %s says %q", name, HeaderRegister, asked)))
		return "", false
	case name != "":
		return name, true
	case asked != "":
		return asked, true
	}
	return outbox.Local, true
}

// httpSlot takes one of the client's connection slots for the request's
// duration (a long poll holds one as a WebSocket does) and one command
// from its rate limit. On refusal it has answered.
func (s *Server) httpSlot(w http.ResponseWriter, r *http.Request, register string) (release func(), ok bool) {
	ip := remoteIP(r).String()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeAnswer(w, errAnswer("", protocol.Errorf(protocol.CodeShuttingDown, "", "the agent is shutting down; nothing was stored, send it again in a moment")))
		return nil, false
	}
	cl, full := s.takeSlot(ip)
	s.mu.Unlock()
	release = func() { s.release(ip, cl) }
	if full {
		release()
		s.refused(r, register, CodeTooManyConnections)
		writeAnswer(w, errAnswer("", protocol.Errorf(CodeTooManyConnections, "",
			"over %d connections and requests at once from %s; wait for one to finish", s.opts.MaxConnsPerClient, ip)))
		return nil, false
	}
	if !s.allow(cl.bucket) {
		release()
		writeAnswer(w, errAnswer("", protocol.Errorf(protocol.CodeRateLimited, "",
			"more than %.0f commands per second; nothing was stored, send it again", s.opts.Rate)))
		return nil, false
	}
	return release, true
}

// methodAllowed answers 405 with how (the error's message) unless r's
// method is one of allowed; the first is the one Allow names.
func methodAllowed(w http.ResponseWriter, r *http.Request, how string, allowed ...string) bool {
	if slices.Contains(allowed, r.Method) {
		return true
	}
	w.Header().Set("Allow", allowed[0])
	writeAnswer(w, answer{ev: protocol.ErrorEvent("", protocol.Errorf(protocol.CodeInvalidField, "method", "%s", how))},
		http.StatusMethodNotAllowed)
	return false
}

// ServeCommands serves POST /v1/commands: one command as the JSON body,
// answered with the first event.
func (s *Server) ServeCommands(w http.ResponseWriter, r *http.Request) {
	if !methodAllowed(w, r, "send commands with POST", http.MethodPost) {
		return
	}
	register, ok := s.httpRegister(w, r)
	if !ok {
		return
	}
	release, ok := s.httpSlot(w, r, register)
	if !ok {
		return
	}
	defer release()
	var buf bytes.Buffer
	// The body may carry a card (Vomsis): wiped once handled.
	defer func() { clear(buf.Bytes()) }()
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, s.opts.MaxFrameBytes+1)); err != nil {
		writeAnswer(w, errAnswer("", protocol.Errorf(protocol.CodeInvalidJSON, "", "the body could not be read: %v", err)))
		return
	}
	data := buf.Bytes()
	if int64(len(data)) > s.opts.MaxFrameBytes {
		writeAnswer(w, errAnswer("", protocol.Errorf(protocol.CodeFrameTooLarge, "",
			"body is larger than %d bytes; nothing was stored", s.opts.MaxFrameBytes)))
		return
	}
	cmd, perr := protocol.Decode(data)
	if perr != nil {
		writeAnswer(w, errAnswer(peekID(data), perr))
		return
	}
	if cmd.Type == protocol.TypeHello || cmd.Type == protocol.TypeResume {
		writeAnswer(w, errAnswer("", protocol.Errorf(protocol.CodeInvalidField, "type",
			"%s is for WebSocket connections; over HTTP name the register with the %s header, and follow a request with GET /v1/requests/{id}", cmd.Type, HeaderRegister)))
		return
	}
	cmd.Register = register
	s.noteHTTP(register, remoteIP(r).String(), &CommandSeen{Type: cmd.Type, ID: cmd.ID, At: s.opts.Now()})
	if cmd.Type == protocol.TypeCall {
		ev, err := s.b.Call(r.Context(), cmd)
		if err != nil {
			var pe *protocol.Error
			if !errors.As(err, &pe) {
				pe = s.internal(err)
			}
			writeAnswer(w, errAnswer(cmd.ID, pe))
			return
		}
		writeAnswer(w, answer{ev: ev, status: http.StatusOK})
		return
	}
	// The command runs to its end even if the client goes away: like a
	// WebSocket's, an accepted command must be durable, and the client
	// learns its state by sending it again.
	writeAnswer(w, s.command(context.WithoutCancel(r.Context()), nil, cmd))
}

// ServeRequests serves GET /v1/requests/{id}?wait=SECONDS: the request's
// latest event, waiting up to SECONDS for its result.
func (s *Server) ServeRequests(w http.ResponseWriter, r *http.Request) {
	if !methodAllowed(w, r, "read a request with GET", http.MethodGet, http.MethodHead) {
		return
	}
	register, ok := s.httpRegister(w, r)
	if !ok {
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/v1/requests/")
	// The id is checked as a query's would be.
	q, _ := json.Marshal(map[string]string{"type": protocol.TypeQuery, "id": id})
	cmd, perr := protocol.Decode(q)
	if perr != nil {
		writeAnswer(w, errAnswer("", perr))
		return
	}
	wait := 0
	if v := r.URL.Query().Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxWait {
			writeAnswer(w, errAnswer(id, protocol.Errorf(protocol.CodeInvalidField, "wait",
				"wait must be whole seconds from 0 to %d", MaxWait)))
			return
		}
		wait = n
	}
	release, ok := s.httpSlot(w, r, register)
	if !ok {
		return
	}
	defer release()
	s.noteHTTP(register, remoteIP(r).String(), &CommandSeen{Type: protocol.TypeQuery, ID: cmd.ID, At: s.opts.Now()})
	writeAnswer(w, s.poll(r.Context(), register, cmd.ID, time.Duration(wait)*time.Second))
}

// poll answers register's request id's latest event, waiting up to wait
// for its result.
func (s *Server) poll(ctx context.Context, register, id string, wait time.Duration) answer {
	b := s.b
	// Taken before the lookup, so a result committed in between is
	// found in the log.
	cursor := b.LastSeq()
	ev, err := b.Lookup(ctx, register, id)
	if err != nil {
		return errAnswer(id, s.lookupError(id, err))
	}
	if ev.Type == outbox.EventResult || wait <= 0 {
		return replay(ev)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		changed := b.Changed()
		var found *outbox.Event
		cursor, _ = readPages(b, s.log, cursor, func(evs []outbox.Event) bool {
			for i := range evs {
				if e := &evs[i]; e.Type == outbox.EventResult && e.ID == id && e.Register == register {
					found = e
					return false
				}
			}
			return true
		})
		if found != nil {
			return replay(*found)
		}
		select {
		case <-changed:
			continue
		case <-timer.C:
		case <-ctx.Done():
		case <-s.quit:
		}
		break
	}
	if ev, err = b.Lookup(context.WithoutCancel(ctx), register, id); err != nil {
		return errAnswer(id, s.lookupError(id, err))
	}
	return replay(ev)
}

// writeAnswer writes a's event as the response, with a's status unless
// one is given.
func writeAnswer(w http.ResponseWriter, a answer, status ...int) {
	code := a.status
	if len(status) > 0 {
		code = status[0]
	}
	if code == 0 {
		code = http.StatusOK
		if a.ev.Error != nil {
			code = httpStatus(a.ev.Error.Code)
		}
	}
	if e := a.ev.Error; e != nil {
		switch {
		case e.RetryAfterMS > 0:
			w.Header().Set("Retry-After", strconv.Itoa((e.RetryAfterMS+999)/1000))
		case e.Code == protocol.CodeRateLimited:
			w.Header().Set("Retry-After", "1")
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(a.ev)
}
