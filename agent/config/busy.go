package config

import (
	"sort"
	"time"

	"github.com/tezgah/tezgah/money"
)

// The busy bounds (issue 16): when accepting a command would make the
// register wait beyond one of them, the agent refuses it at once with
// "busy" and retry_after_ms, storing nothing, instead of answering
// "accepted" seconds late. docs/configuration.md describes each.

// Defaults of the busy bounds.
const (
	DefaultMaxAcceptWait        = time.Second
	DefaultMaxQueuedPerTerminal = 50
)

// DefaultMaxOutageAmount caps, per currency, the amount of sales waiting
// for an unreachable provider. Card schemes let a terminal approve
// offline only up to a floor limit for the same reason: what is queued
// while the provider is away is money the shop may never see.
func DefaultMaxOutageAmount() map[string]string {
	return map[string]string{"TRY": "100000.00"}
}

func (c *Config) busyDefaults() {
	a := &c.Agent
	if a.MaxAcceptWait.Duration == 0 {
		a.MaxAcceptWait.Duration = DefaultMaxAcceptWait
	}
	if a.MaxQueuedPerTerminal == 0 {
		a.MaxQueuedPerTerminal = DefaultMaxQueuedPerTerminal
	}
	if a.MaxOutageAmount == nil {
		a.MaxOutageAmount = DefaultMaxOutageAmount()
	}
}

func (c *Config) validateBusy(bad func(key, format string, args ...any)) {
	a := &c.Agent
	if a.MaxAcceptWait.Duration < 10*time.Millisecond || a.MaxAcceptWait.Duration > time.Minute {
		bad("agent.max_accept_wait", "%v is outside 10ms..1m", a.MaxAcceptWait.Duration)
	}
	if a.MaxQueuedPerTerminal < 1 {
		bad("agent.max_queued_per_terminal", "%d is under 1", a.MaxQueuedPerTerminal)
	}
	curs := make([]string, 0, len(a.MaxOutageAmount))
	for cur := range a.MaxOutageAmount {
		curs = append(curs, cur)
	}
	sort.Strings(curs)
	for _, cur := range curs {
		if _, err := money.Positive(a.MaxOutageAmount[cur], cur); err != nil {
			bad("agent.max_outage_amount."+cur, "%q: %v (a decimal amount in a supported currency: TRY, USD, EUR, GBP)", a.MaxOutageAmount[cur], err)
		}
	}
}

// OutageCaps returns agent.max_outage_amount parsed, by currency.
func (a Agent) OutageCaps() map[string]money.Amount {
	out := make(map[string]money.Amount, len(a.MaxOutageAmount))
	for cur, v := range a.MaxOutageAmount {
		if m, err := money.Positive(v, cur); err == nil {
			out[cur] = m
		}
	}
	return out
}
