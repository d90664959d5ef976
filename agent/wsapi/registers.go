package wsapi

import (
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/tezgah/tezgah/agent/protocol"
)

// What the status page shows of the registers (issue 16): who is
// connected now and what they last sent, and who was refused in the last
// hour and why, so support sees at once when a register is not reaching
// the agent.

// CommandSeen is the last command a register sent.
type CommandSeen struct {
	Type string    `json:"type"`
	ID   string    `json:"id,omitempty"`
	At   time.Time `json:"at"`
}

// RegisterConn is a register connected now: one WebSocket connection, or
// an address that used the HTTP door within httpSeenFor.
type RegisterConn struct {
	Register    string       `json:"register"`
	Remote      string       `json:"remote"`
	Transport   string       `json:"transport"` // "websocket" or "http"
	Since       time.Time    `json:"since"`
	LastCommand *CommandSeen `json:"last_command,omitempty"`
}

// Refusal is a connection attempt or command refused at the door.
type Refusal struct {
	At       time.Time `json:"at"`
	Remote   string    `json:"remote"`
	Register string    `json:"register,omitempty"`
	Code     string    `json:"code"` // host_not_allowed, token_invalid, register_mismatch, …
}

// RegistersView is the status page's registers panel.
type RegistersView struct {
	Connected []RegisterConn `json:"connected"`
	Refused   []Refusal      `json:"refused"` // the last hour's, newest first
}

const (
	refusalsKept = time.Hour
	maxRefusals  = 256 // a scan must not grow the list without bound
	httpSeenFor  = 5 * time.Minute
	maxHTTPSeen  = 1024
)

// httpSeen is a register using the HTTP door from one address.
type httpSeen struct {
	register, remote string
	since, seen      time.Time
	last             *CommandSeen
}

// refused records a refused connection attempt (and counts it for the
// metrics).
func (s *Server) refused(r *http.Request, register, code string) {
	s.observe("refused_" + code)
	s.record(Refusal{At: s.opts.Now(), Remote: hostOf(r.RemoteAddr), Register: register, Code: code})
}

// refusedCommand records a command refused for who sent it (a hello
// naming another register).
func (s *Server) refusedCommand(c *conn, register, code string) {
	s.record(Refusal{At: s.opts.Now(), Remote: c.ip, Register: register, Code: code})
}

func (s *Server) record(f Refusal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals = append(s.refusals, f)
	s.pruneRefusals(f.At)
	if n := len(s.refusals) - maxRefusals; n > 0 {
		s.refusals = append(s.refusals[:0], s.refusals[n:]...)
	}
}

// pruneRefusals drops those older than an hour. s.mu held.
func (s *Server) pruneRefusals(now time.Time) {
	i := sort.Search(len(s.refusals), func(i int) bool { return now.Sub(s.refusals[i].At) <= refusalsKept })
	if i > 0 {
		s.refusals = append(s.refusals[:0], s.refusals[i:]...)
	}
}

// noteHello shows c's register on the page.
func (s *Server) noteHello(c *conn) {
	s.mu.Lock()
	c.shown = c.register
	s.mu.Unlock()
}

// noteCommand remembers c's latest command for the page.
func (s *Server) noteCommand(c *conn, cmd protocol.Command) {
	// An atomic store, not s.mu: every command of every connection
	// passes here.
	c.last.Store(&CommandSeen{Type: cmd.Type, ID: cmd.ID, At: s.opts.Now()})
}

// noteHTTP remembers a command that came over the HTTP door.
func (s *Server) noteHTTP(register, remote string, cmd *CommandSeen) {
	now := s.opts.Now()
	k := reqKey(register, remote)
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.seen[k]
	if h == nil {
		if len(s.seen) >= maxHTTPSeen {
			s.pruneSeen(now)
		}
		h = &httpSeen{register: register, remote: remote, since: now}
		s.seen[k] = h
	}
	h.seen = now
	if cmd != nil {
		h.last = cmd
	}
}

// pruneSeen forgets HTTP registers silent for httpSeenFor. s.mu held.
func (s *Server) pruneSeen(now time.Time) {
	for k, h := range s.seen {
		if now.Sub(h.seen) > httpSeenFor {
			delete(s.seen, k)
		}
	}
}

// Registers returns the registers panel as of now.
func (s *Server) Registers() RegistersView {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := RegistersView{Connected: []RegisterConn{}, Refused: []Refusal{}}
	for c := range s.conns {
		v.Connected = append(v.Connected, RegisterConn{Register: c.shown, Remote: c.ip, Transport: "websocket", Since: c.since, LastCommand: c.last.Load()})
	}
	s.pruneSeen(now)
	for _, h := range s.seen {
		v.Connected = append(v.Connected, RegisterConn{Register: h.register, Remote: h.remote, Transport: "http", Since: h.since, LastCommand: h.last})
	}
	sort.Slice(v.Connected, func(i, j int) bool {
		a, b := v.Connected[i], v.Connected[j]
		if a.Register != b.Register {
			return a.Register < b.Register
		}
		return a.Since.Before(b.Since)
	})
	s.pruneRefusals(now)
	for i := len(s.refusals) - 1; i >= 0; i-- {
		v.Refused = append(v.Refused, s.refusals[i])
	}
	return v
}

func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
