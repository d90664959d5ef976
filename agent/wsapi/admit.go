package wsapi

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tezgah/tezgah/agent/protocol"
)

// Codes of refused handshakes (in the JSON body of the HTTP answer) and of
// close frames (as the start of the close reason, "code: message"). They
// are stable: registers may branch on them.
const (
	CodeHostNotAllowed     = "host_not_allowed"
	CodeOriginNotAllowed   = "origin_not_allowed"
	CodeTokenRequired      = "token_required"
	CodeTokenInvalid       = "token_invalid"
	CodeTooManyBadTokens   = "too_many_bad_tokens"
	CodeTooManyConnections = "too_many_connections"
	CodeIdleTimeout        = "idle_timeout"
	CodePairingUnavailable = "pairing_unavailable"
	// CodeRateLimited and CodeFrameTooLarge close a connection that keeps
	// going past the limits; below that, the same codes come as error
	// events and the connection stays open.
	CodeRateLimited   = protocol.CodeRateLimited
	CodeFrameTooLarge = protocol.CodeFrameTooLarge
)

// TokenChecker tells which paired register a token belongs to
// (agent/pairing.Store). It is asked on every connection attempt that
// carries a token, so a token paired or revoked while the agent runs
// counts at once.
type TokenChecker interface {
	Check(token string) (name string, ok bool, err error)
}

// Slow-down of wrong tokens, per remote address: the first badTokenGrace
// are answered at once (a typo), then each further one shuts the address
// out for twice as long as the last, up to maxBadTokenWait. 32 random
// bytes cannot be guessed anyway; this keeps a stranger's script from
// filling the log and the CPU.
const (
	badTokenGrace   = 3
	maxBadTokenWait = time.Minute
	badTokenForget  = 10 * time.Minute
	maxPenalties    = 4096
)

// penalty is what the server remembers of one address's wrong tokens.
type penalty struct {
	fails int
	last  time.Time // last wrong token
	until time.Time // refused without looking until then
}

// refusal is a handshake the server answers with an HTTP error.
type refusal struct {
	status     int
	code, msg  string
	retryAfter time.Duration
}

func (e *refusal) write(w http.ResponseWriter) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(protocol.ErrorEvent("", protocol.Errorf(e.code, "", "%s", e.msg)))
}

func remoteIP(r *http.Request) net.IP {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return nil
	}
	return net.ParseIP(host)
}

// admit runs every check of a handshake before the upgrade, cheapest and
// least revealing first: Host, then Origin, then the token. It returns
// the paired register's name ("" for a trusted loopback client).
func (s *Server) admit(r *http.Request) (string, *refusal) {
	if !s.hosts.Allow(r) {
		return "", &refusal{http.StatusForbidden, CodeHostNotAllowed,
			"Host " + r.Host + " is not this machine's address or name; add it to agent.allowed_hosts", 0}
	}
	if !s.originAllowed(r) {
		return "", &refusal{http.StatusForbidden, CodeOriginNotAllowed,
			"Origin " + r.Header.Get("Origin") + " is not allowed; add it to agent.allowed_origins", 0}
	}
	return s.authorize(r)
}

// TokenRequired reports whether a client on a remote (non-loopback)
// address, or on loopback, must present a token.
func (s *Server) TokenRequired(loopback bool) bool {
	return !loopback || s.opts.RequireTokenOnLoopback
}

func (s *Server) authorize(r *http.Request) (string, *refusal) {
	ip := remoteIP(r)
	if ip == nil {
		return "", &refusal{http.StatusForbidden, CodeTokenRequired, "unknown remote address", 0}
	}
	if !s.TokenRequired(ip.IsLoopback()) {
		return "", nil
	}
	key := ip.String()
	now := s.opts.Now()
	s.mu.Lock()
	p := s.penalties[key]
	if p != nil && now.Before(p.until) {
		wait := p.until.Sub(now)
		s.mu.Unlock()
		return "", &refusal{http.StatusTooManyRequests, CodeTooManyBadTokens,
			fmt.Sprintf("too many wrong pairing tokens from %s; try again in %ds", key, int(wait.Seconds()+0.999)), wait}
	}
	s.mu.Unlock()

	tok := r.URL.Query().Get("token") // old register runtimes cannot set headers on a WebSocket
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		tok = strings.TrimSpace(v)
	}
	if tok == "" {
		return "", &refusal{http.StatusUnauthorized, CodeTokenRequired,
			"clients on other machines need a pairing token: run `tezgah pair --name <register>` on the agent's PC and send it as Authorization: Bearer <token> or ?token=<token>", 0}
	}
	name, ok, err := s.checkToken(tok)
	if err != nil {
		s.log.Error("cannot read pairing tokens", "err", err)
		return "", &refusal{http.StatusServiceUnavailable, CodePairingUnavailable,
			"the agent cannot read its pairing tokens now; tell support (the agent's log says why)", 0}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		delete(s.penalties, key)
		return name, nil
	}
	p = s.penalties[key] // again: another attempt may have changed it meanwhile
	if p == nil || now.Sub(p.last) > badTokenForget {
		s.prunePenalties(now)
		p = &penalty{}
		s.penalties[key] = p
	}
	p.fails++
	p.last = now
	if n := p.fails - badTokenGrace; n > 0 {
		p.until = now.Add(min(time.Second<<min(n-1, 16), maxBadTokenWait))
	}
	return "", &refusal{http.StatusUnauthorized, CodeTokenInvalid,
		"the pairing token is not valid (mistyped, or revoked with `tezgah pair revoke`)", 0}
}

func (s *Server) checkToken(tok string) (string, bool, error) {
	if s.opts.PairingToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.PairingToken)) == 1 {
		return "agent.pairing_token", true, nil
	}
	if s.opts.Tokens == nil {
		return "", false, nil
	}
	return s.opts.Tokens.Check(tok)
}

// prunePenalties forgets addresses that have been quiet for a while, so a
// scan from many addresses cannot grow the map without bound. s.mu held.
func (s *Server) prunePenalties(now time.Time) {
	if len(s.penalties) < maxPenalties {
		return
	}
	for k, p := range s.penalties {
		if now.Sub(p.last) > badTokenForget && !now.Before(p.until) {
			delete(s.penalties, k)
		}
	}
	if len(s.penalties) >= maxPenalties { // a real flood: forget the oldest half at random
		n := 0
		for k := range s.penalties {
			if n++; n%2 == 0 {
				delete(s.penalties, k)
			}
		}
	}
}

// closeReason formats a close frame's reason: "code: message", cut to
// the 123 bytes a close frame may carry.
func closeReason(code, format string, args ...any) string {
	s := code + ": " + fmt.Sprintf(format, args...)
	if len(s) > 123 {
		s = s[:123]
	}
	return s
}
