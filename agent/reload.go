package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/bridge"
)

// Reloaded says what a Reload applied and what waits for a restart.
type Reloaded struct {
	Added, Removed, Changed []string // terminal names
	// NeedsRestart lists changed keys that only a restart applies (the
	// listening socket, the database location, the WebSocket server's
	// settings); their old values stay in force until then.
	NeedsRestart []string
}

// ErrDemoReload is returned by Reload in demo mode, which has no file.
var ErrDemoReload = errors.New("agent: demo mode has no configuration file to reload")

// Reload applies a new configuration to the running agent, for SIGHUP and
// the service manager's reload: terminals added, removed or changed and
// providers' credentials take effect without dropping a WebSocket
// connection or any queued work. It fails, changing nothing, when the
// providers cannot be built, or when a terminal with pending requests
// would move to another provider (its requests carry the old provider's
// references, and only the old provider can tell what became of them).
func (a *Agent) Reload(ctx context.Context, cfg *config.Config) (Reloaded, error) {
	var rep Reloaded
	if a.opts.Demo {
		return rep, ErrDemoReload
	}
	if a.disp == nil {
		return rep, errors.New("agent: reload before the agent runs")
	}
	// Build outside the lock, with the one provider builder: a throwaway
	// agent around the new file.
	if cfg.Vomsis != nil && a.pages == nil {
		return rep, errors.New("agent: reload: a [vomsis] table added while running needs a restart (its 3-D Secure pages are mounted at start)")
	}
	providers, err := (&Agent{cfg: cfg, opts: a.opts, log: a.log, store: a.store, cards: a.cards, pages: a.pages}).providers()
	if err != nil {
		return rep, fmt.Errorf("agent: reload: %w", err)
	}
	terms := map[string]bridge.Terminal{}
	list := make([]bridge.Terminal, 0, len(cfg.Terminals))
	for _, t := range cfg.Terminals {
		bt := bridge.Terminal{Name: t.Name, Provider: t.Provider, DeviceID: t.DeviceID, Model: t.Model}
		terms[t.Name] = bt
		list = append(list, bt)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.cfg
	for name, t := range terms {
		o, ok := a.terminals[name]
		switch {
		case !ok:
			rep.Added = append(rep.Added, name)
		case o != t:
			rep.Changed = append(rep.Changed, name)
		}
	}
	for name := range a.terminals {
		if _, ok := terms[name]; !ok {
			rep.Removed = append(rep.Removed, name)
		}
	}
	stats, err := a.store.Stats(ctx)
	if err != nil {
		return Reloaded{}, fmt.Errorf("agent: reload: %w", err)
	}
	for _, name := range rep.Changed {
		if o, t := a.terminals[name], terms[name]; o.Provider != t.Provider && stats[name].Pending > 0 {
			return Reloaded{}, fmt.Errorf("agent: reload: terminal %s has %d pending requests on %s; let them finish before moving it to %s, or give the new terminal another name",
				name, stats[name].Pending, o.Provider, t.Provider)
		}
	}
	if err := a.disp.Update(providers, list); err != nil {
		return Reloaded{}, fmt.Errorf("agent: reload: %w", err)
	}
	a.provs = providers

	next := *cfg
	next.Agent = old.Agent
	next.Agent.ID = cfg.Agent.ID
	next.Agent.SaleTimeout = cfg.Agent.SaleTimeout
	next.Agent.Retention = cfg.Agent.Retention
	// The busy bounds apply from the next command.
	next.Agent.MaxAcceptWait = cfg.Agent.MaxAcceptWait
	next.Agent.MaxQueuedPerTerminal = cfg.Agent.MaxQueuedPerTerminal
	next.Agent.MaxOutageAmount = cfg.Agent.MaxOutageAmount
	n, o := cfg.Agent, old.Agent
	for key, same := range map[string]bool{
		"agent.listen":          n.Listen == o.Listen,
		"agent.data_dir":        n.DataDir == o.DataDir,
		"agent.allowed_origins": slices.Equal(n.AllowedOrigins, o.AllowedOrigins),
		"agent.allowed_hosts":   slices.Equal(n.AllowedHosts, o.AllowedHosts),
		"agent.pairing_token":   n.PairingToken == o.PairingToken,
		"agent.log_level":       n.LogLevel == o.LogLevel,
		"agent.max_frame_bytes": n.MaxFrameBytes == o.MaxFrameBytes,
	} {
		if !same {
			rep.NeedsRestart = append(rep.NeedsRestart, key)
		}
	}
	a.cfg, a.terminals = &next, terms
	for _, s := range [][]string{rep.Added, rep.Removed, rep.Changed, rep.NeedsRestart} {
		slices.Sort(s)
	}
	for _, name := range rep.Removed {
		if p := stats[name].Pending; p > 0 {
			a.log.Warn("terminal removed with pending requests; they stay queued until it comes back", "terminal", name, "pending", p)
		}
	}
	a.log.Info("configuration reloaded", "added", rep.Added, "removed", rep.Removed, "changed", rep.Changed, "needs_restart", rep.NeedsRestart)
	return rep, nil
}

// Providers builds the provider adapters cfg describes, with the agent's
// one builder, for tools that talk to providers outside a running agent
// (`tezgah doctor`).
func Providers(cfg *config.Config, opts Options) (map[string]bridge.Provider, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return (&Agent{cfg: cfg, opts: opts, log: opts.Log}).providers()
}
