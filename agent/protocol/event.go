package protocol

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/tezgah/tezgah/outbox"
)

// Event is the JSON of every frame the agent sends.
type Event struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	// Register is who sent the request an event is about (every stored
	// event: accepted, state, result), and the name a hello answer
	// confirms.
	Register string `json:"register,omitempty"`
	Seq      int64  `json:"seq,omitempty"`
	// Replay marks a copy of an event already sent once: the answer to a
	// query or to a repeated command with the same id and body.
	Replay bool `json:"replay,omitempty"`

	State   string `json:"state,omitempty"`
	Attempt int    `json:"attempt,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// NextAttemptAt is when the agent tries again (RFC 3339, UTC).
	NextAttemptAt string `json:"next_attempt_at,omitempty"`
	// ActionURL, on a "waiting" state, is the page where the payer must
	// act (the 3-D Secure page of a Vomsis sale).
	ActionURL string `json:"action_url,omitempty"`

	Status  string          `json:"status,omitempty"`
	Payment json.RawMessage `json:"payment,omitempty"`
	Error   *Error          `json:"error,omitempty"`

	// call reply: the provider operation and its answer
	Op   string          `json:"op,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`

	// resume reply
	Since   *int64 `json:"since,omitempty"`
	LastSeq *int64 `json:"last_seq,omitempty"`
	Scope   string `json:"scope,omitempty"`

	// hello reply: the agent's id (AgentID is the "agent" field of a
	// hello, which status uses for AgentInfo; see MarshalJSON).
	AgentID string `json:"-"`

	// status reply
	Agent     *AgentInfo     `json:"agent,omitempty"`
	Terminals []TerminalInfo `json:"terminals,omitempty"`
}

// AgentInfo is the agent part of a status reply.
type AgentInfo struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Uptime  int64  `json:"uptime_s"`
}

// TerminalInfo is one terminal in a status reply.
type TerminalInfo struct {
	Name          string `json:"name"`
	Provider      string `json:"provider"`
	Model         string `json:"model,omitempty"`
	Pending       int    `json:"pending"`
	Unknown       int    `json:"unknown"`
	OldestPending string `json:"oldest_pending_at,omitempty"`
	// Connected is the provider's word on whether the physical terminal
	// is reachable now, for providers that can tell (Paywall); absent
	// for the others. ConnectivityError says why it could not be asked.
	Connected         *bool  `json:"connected,omitempty"`
	ConnectivityError string `json:"connectivity_error,omitempty"`
}

// ProtocolVersion is the protocol a hello answer names.
const ProtocolVersion = 1

// Hello is the answer to a hello.
func Hello(register, agentID string, lastSeq int64) Event {
	return Event{Type: TypeHello, Register: register, AgentID: agentID, LastSeq: &lastSeq}
}

// MarshalJSON writes a hello answer in its own shape ("agent" is the
// agent's id there, an object in status); every other event as is.
func (e Event) MarshalJSON() ([]byte, error) {
	if e.Type == TypeHello {
		var last int64
		if e.LastSeq != nil {
			last = *e.LastSeq
		}
		return json.Marshal(struct {
			Type     string `json:"type"`
			Register string `json:"register"`
			Agent    string `json:"agent"`
			Protocol int    `json:"protocol"`
			LastSeq  int64  `json:"last_seq"`
		}{e.Type, e.Register, e.AgentID, ProtocolVersion, last})
	}
	type plain Event
	return json.Marshal(plain(e))
}

// ErrorEvent is the event for a bad command.
func ErrorEvent(id string, e *Error) Event {
	return Event{Type: "error", ID: id, Error: e}
}

// stored is the result JSON the agent keeps in the outbox (a
// bridge.Result); only the parts the wire shows are read here.
type stored struct {
	Payment      json.RawMessage `json:"payment"`
	Code         string          `json:"code"`
	Message      string          `json:"message"`
	ProviderCode string          `json:"provider_code"`
}

// FromOutbox turns a logged outbox event into its wire form.
func FromOutbox(e outbox.Event) Event {
	out := Event{Type: e.Type, ID: e.ID, Register: e.Register, Seq: e.Seq, Attempt: e.Attempt, Reason: e.Reason, ActionURL: e.ActionURL}
	if e.NextAt != 0 {
		out.NextAttemptAt = time.UnixMilli(e.NextAt).UTC().Format(time.RFC3339Nano)
	}
	if e.Type != outbox.EventResult {
		out.State = string(e.State)
		return out
	}
	out.Status = string(e.State)
	var r stored
	if len(e.Result) > 0 {
		_ = json.Unmarshal(e.Result, &r) // written by the agent itself; a bad one shows as no detail
	}
	if len(r.Payment) > 0 && string(r.Payment) != "null" {
		out.Payment = r.Payment
	}
	switch e.State {
	case outbox.Approved:
	case outbox.Expired:
		out.Error = &Error{Code: "expired", Message: "the sale was not sent before its deadline and never will be; the customer was not charged"}
	case outbox.Cancelled:
		out.Error = &Error{Code: "cancelled", Message: "cancelled before it was sent; nothing was charged"}
	default:
		code := r.Code
		if code == "" {
			code = string(e.State)
		}
		out.Error = &Error{Code: code, Message: r.Message}
		if r.ProviderCode != "" {
			out.Error.Message = r.Message + " (provider code " + r.ProviderCode + ")"
		}
	}
	return out
}

// QualifiedID names register's request id uniquely across registers, for
// what is keyed by one string outside the outbox (the card vault, the
// 3-D Secure pages, the status page's actions): the id itself for
// "local" (as before registers had names), else "id@register". Neither
// an id nor a register name can hold '@', so it splits back unambiguously.
func QualifiedID(register, id string) string {
	if register == "" || register == outbox.Local {
		return id
	}
	return id + "@" + register
}

// SplitQualifiedID undoes QualifiedID.
func SplitQualifiedID(q string) (register, id string) {
	if i := strings.IndexByte(q, '@'); i >= 0 {
		return q[i+1:], q[:i]
	}
	return outbox.Local, q
}
