package agent

import (
	"context"
	"errors"

	"github.com/tezgah/tezgah/agent/web"
	"github.com/tezgah/tezgah/bridge"
)

// newWeb builds the status page, health and metrics endpoints over the
// open outbox.
func (a *Agent) newWeb(terms []bridge.Terminal) *web.Server {
	return web.New(a.store, a, web.Options{
		Version:      a.opts.Version,
		AgentID:      a.cfg.Agent.ID,
		Shop:         a.cfg.Agent.Shop,
		DataDir:      a.cfg.Agent.DataDir,
		SaleTimeout:  a.cfg.Agent.SaleTimeout.Duration,
		Terminals:    terms,
		Started:      a.started,
		Now:          a.opts.Now,
		Log:          a.log,
		AllowedHosts: a.cfg.Agent.AllowedHosts,
		PairingToken: a.cfg.Agent.PairingToken,
	})
}

// Reconcile implements web.Agent: support's "reconcile now" makes a
// waiting request due at once. The worker then does exactly what it would
// have done at the next try — query first if the request may have
// reached the provider — so hurrying it cannot double-charge.
func (a *Agent) Reconcile(ctx context.Context, id string) error {
	r, err := a.store.Nudge(ctx, id)
	if err != nil {
		return err
	}
	a.disp.Wake(r.Terminal)
	return nil
}

// Ready implements web.Agent: the database takes a write and the
// workers run.
func (a *Agent) Ready(ctx context.Context) error {
	if !a.workersUp.Load() {
		return errors.New("workers are not running")
	}
	if err := a.store.Ping(ctx); err != nil {
		return err
	}
	return nil
}
