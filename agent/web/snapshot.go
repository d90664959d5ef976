package web

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/tezgah/tezgah/agent/logging"
	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/agent/wsapi"
	"github.com/tezgah/tezgah/outbox"
)

// Snapshot is everything the status page shows, as of At. It carries no
// card data: requests are described by id, terminal, operation, amount,
// state and the result's codes — never the stored body.
type Snapshot struct {
	At        string         `json:"at"` // RFC 3339
	Version   string         `json:"version"`
	AgentID   string         `json:"agent_id,omitempty"`
	Started   string         `json:"started"`
	UptimeS   int64          `json:"uptime_s"`
	Terminals []TerminalView `json:"terminals"`
	Providers []ProviderView `json:"providers"`
	Outbox    OutboxView     `json:"outbox"`
	// Unknown are requests being reconciled; Queued are waiting to be
	// sent; Recent are the latest changes, final or not.
	Unknown []RequestView `json:"unknown"`
	Queued  []RequestView `json:"queued"`
	Recent  []RequestView `json:"recent"`
	// Registers are the cash registers connected now and the attempts
	// refused in the last hour.
	Registers wsapi.RegistersView `json:"registers"`
}

// TerminalView is one terminal's line on the page.
type TerminalView struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
	Model    string `json:"model,omitempty"`
	// State: idle, queued, sending, retrying (waiting for the next try),
	// reconciling (an unknown outcome is being queried) or paused (the
	// provider asked us to wait).
	State      string       `json:"state"`
	Queue      int          `json:"queue"`
	Unknown    int          `json:"unknown"`
	LastResult *RequestView `json:"last_result,omitempty"`
}

// OutboxView is the backlog.
type OutboxView struct {
	Pending    int     `json:"pending"`
	Unknown    int     `json:"unknown"`
	OldestAgeS float64 `json:"oldest_age_s"`
}

// RequestView is one request on the page.
type RequestView struct {
	// ID is the register's id, with "@register" after it for registers
	// other than local (protocol.QualifiedID): what the actions take.
	ID       string `json:"id"`
	Register string `json:"register,omitempty"`
	Terminal string `json:"terminal"`
	Op       string `json:"op"`
	Amount   string `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	Reason   string `json:"reason,omitempty"`
	NextAt   string `json:"next_at,omitempty"`
	Code     string `json:"code,omitempty"`
	Message  string `json:"message,omitempty"`
	// Cancellable: certainly never reached the provider, so support may
	// cancel it.
	Cancellable bool   `json:"cancellable,omitempty"`
	Created     string `json:"created"`
	Updated     string `json:"updated"`
}

const (
	recentLimit  = 25
	pendingLimit = 200
)

// Snapshot reads the current state.
func (s *Server) Snapshot(ctx context.Context) (*Snapshot, error) {
	now := s.now()
	stats, err := s.store.Stats(ctx)
	if err != nil {
		return nil, err
	}
	pending, err := s.store.Pending(ctx, pendingLimit)
	if err != nil {
		return nil, err
	}
	recent, err := s.store.Recent(ctx, recentLimit)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{
		At: stamp(now), Version: s.opts.Version, AgentID: s.opts.AgentID,
		Started: stamp(s.opts.Started), UptimeS: int64(now.Sub(s.opts.Started).Seconds()),
		Unknown: []RequestView{}, Queued: []RequestView{}, Recent: []RequestView{},
		Registers: wsapi.RegistersView{Connected: []wsapi.RegisterConn{}, Refused: []wsapi.Refusal{}},
	}
	if s.opts.Registers != nil {
		if v := s.opts.Registers(); v.Connected != nil && v.Refused != nil {
			snap.Registers = v
		}
	}
	if s.opts.Started.IsZero() {
		snap.UptimeS = 0
	}
	providers := map[string]bool{}
	for _, t := range s.opts.Terminals {
		providers[t.Provider] = true
	}
	for _, p := range sortedSet(providers) {
		snap.Providers = append(snap.Providers, s.metrics.providerView(p))
	}
	paused := map[string]bool{}
	for _, p := range snap.Providers {
		paused[p.Name] = p.State == "paused"
	}

	head := map[string]*outbox.Record{}
	for i := range pending {
		r := &pending[i]
		if head[r.Terminal] == nil {
			head[r.Terminal] = r
		}
		v := view(r)
		if r.State == outbox.Unknown {
			snap.Unknown = append(snap.Unknown, v)
		} else {
			snap.Queued = append(snap.Queued, v)
		}
	}
	lastResult := map[string]*RequestView{}
	for i := range recent {
		v := view(&recent[i])
		snap.Recent = append(snap.Recent, v)
		if recent[i].State.Final() && lastResult[v.Terminal] == nil {
			lastResult[v.Terminal] = &v
		}
	}
	var oldest time.Time
	for _, name := range sortedKeys(s.terminals) {
		t := s.terminals[name]
		st := stats[name]
		tv := TerminalView{Name: name, Provider: t.Provider, Model: t.Model, Queue: st.Pending, Unknown: st.Unknown,
			State: terminalState(head[name], paused[t.Provider], now), LastResult: lastResult[name]}
		if tv.LastResult == nil {
			// Not among the latest changes overall: the page still wants
			// this terminal's own last result.
			tv.LastResult = s.lastResultOf(ctx, name)
		}
		snap.Terminals = append(snap.Terminals, tv)
		snap.Outbox.Pending += st.Pending
		snap.Outbox.Unknown += st.Unknown
		if !st.Oldest.IsZero() && (oldest.IsZero() || st.Oldest.Before(oldest)) {
			oldest = st.Oldest
		}
	}
	if !oldest.IsZero() {
		snap.Outbox.OldestAgeS = max(0, now.Sub(oldest).Seconds())
	}
	return snap, nil
}

// lastResultOf is the fallback for a terminal quiet for a while; failing
// to read it leaves the cell empty rather than failing the snapshot.
func (s *Server) lastResultOf(ctx context.Context, terminal string) *RequestView {
	r, err := s.store.LastResult(ctx, terminal)
	if err != nil || r == nil {
		return nil
	}
	v := view(r)
	return &v
}

func terminalState(head *outbox.Record, paused bool, now time.Time) string {
	switch {
	case head == nil:
		return "idle"
	case head.State == outbox.Sending:
		return "sending"
	case paused:
		return "paused"
	case head.State == outbox.Unknown:
		return "reconciling"
	case head.NextAt.After(now):
		return "retrying"
	}
	return "queued"
}

// view describes r without its body: only the amount is read from it.
func view(r *outbox.Record) RequestView {
	v := RequestView{
		ID: protocol.QualifiedID(r.Register, r.ID), Register: r.Register, Terminal: r.Terminal, Op: r.Op, State: string(r.State), Attempts: r.Attempts,
		Reason: r.Reason, NextAt: stamp(r.NextAt), Created: stamp(r.CreatedAt), Updated: stamp(r.UpdatedAt),
		Cancellable: r.State == outbox.Queued && !r.MaybeSent,
	}
	if c, perr := protocol.Decode(r.Body); perr == nil && !c.Amount.IsZero() {
		v.Amount, v.Currency = c.Amount.String(), c.Amount.Currency
	}
	if len(r.Result) > 0 {
		var res struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(r.Result, &res) == nil {
			v.Code, v.Message = res.Code, logging.MaskPANs(res.Message)
		}
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedSet(m map[string]bool) []string { return sortedKeys(m) }
