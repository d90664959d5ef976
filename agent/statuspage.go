package agent

import (
	"context"
	"errors"

	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/agent/web"
	"github.com/tezgah/tezgah/agent/wsapi"
	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/outbox"
)

// newWeb builds the status page, health and metrics endpoints over the
// open outbox.
func (a *Agent) newWeb(terms []bridge.Terminal) *web.Server {
	return web.New(a.store, a, web.Options{
		Version:      a.opts.Version,
		AgentID:      a.cfg.Agent.ID,
		Terminals:    terms,
		Started:      a.started,
		Now:          a.opts.Now,
		Log:          a.log,
		AllowedHosts: a.cfg.Agent.AllowedHosts,
		PairingToken: a.cfg.Agent.PairingToken,
		// The front door starts after the page is built.
		Registers: func() wsapi.RegistersView {
			if a.ws == nil {
				return wsapi.RegistersView{}
			}
			return a.ws.Registers()
		},
	})
}

// Reconcile implements web.Agent: support's "reconcile now" makes a
// waiting request due at once. The worker then does exactly what it would
// have done at the next try — query first if the request may have
// reached the provider — so hurrying it cannot double-charge.
//
// id is protocol.QualifiedID: the status page lists every register's
// requests.
func (a *Agent) Reconcile(ctx context.Context, id string) error {
	register, id := protocol.SplitQualifiedID(id)
	r, err := a.store.Nudge(ctx, register, id)
	if err != nil {
		return err
	}
	a.disp.Wake(r.Terminal)
	return nil
}

// CancelRequest implements web.Agent: support's "cancel" of a request
// listed on the page (id is protocol.QualifiedID).
func (a *Agent) CancelRequest(ctx context.Context, id string) (outbox.Event, error) {
	register, id := protocol.SplitQualifiedID(id)
	return a.Cancel(ctx, register, id)
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
